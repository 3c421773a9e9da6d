// The INVITE session of one dial-out call (RFC 3261 §13–§15, RFC 3264 offer/answer through the
// media seam, RFC 4028 session timers): one coroutine per call on its shard drives the INVITE
// client transaction, digest retries, redirects and target failover, then the dialog — far-end
// BYE, re-INVITE/UPDATE (hold), OPTIONS/INFO, our BYE or CANCEL on hangup, the 6-hour cap.
#pragma once
#include "sip/auth.hpp"
#include "sip/dialog.hpp"
#include "sip/message.hpp"
#include "sip/timer.hpp"
#include "sip/transaction.hpp"
#include "sip/transport.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

namespace sb::sip {

class UserAgent;

// One DTMF digit received from the far end, however it came.
enum class DtmfMethod { rfc4733, info };
std::string_view to_string(DtmfMethod);  // "rfc4733", "info"
struct DtmfIn {
  char digit = 0;                 // '0'..'9', '*', '#', 'A'..'D'
  std::uint32_t duration_ms = 0;  // as the far end reported it; 0 when unknown
  DtmfMethod method = DtmfMethod::rfc4733;
};

// What queueing digits to send came to (CallMedia::play_dtmf).
enum class DtmfQueued {
  queued,       // appended after whatever is queued; played in order
  full,         // the leg's bounded queue has no room for the whole request: nothing queued
  unavailable,  // no media to play them on (not negotiated, or the leg has stopped)
};

// The seam to the media layer: the call asks it for the SDP offer (its real ports and keys) and
// hands it every answer and re-offer. Implemented by rtp::AudioLeg (src/rtp/).
class CallMedia {
 public:
  virtual ~CallMedia() = default;
  // The initial offer (RFC 3264 §5). Called once, before the first INVITE.
  virtual std::string offer() = 0;
  // The far end's answer to our offer (§6 from their side). An error fails the call (we never
  // carry media the call asked not to, e.g. clear audio when secure media was requested).
  [[nodiscard]] virtual std::error_code apply_answer(std::string_view sdp) = 0;
  // A far-end offer inside the dialog (re-INVITE/UPDATE): our answer, or nullopt to refuse it
  // (488). `on_hold` says whether the far end put the call on hold (sendonly/inactive/port 0).
  [[nodiscard]] virtual std::optional<std::string> answer_offer(std::string_view sdp, bool& on_hold) = 0;
  // Our current SDP as a new offer (re-INVITE without SDP, session refresh).
  virtual std::string current_offer() = 0;
  // Milliseconds since the last media packet arrived (nullopt: never). For the inactivity rule.
  virtual std::optional<std::chrono::milliseconds> since_last_packet() const = 0;
  virtual void stop() = 0;
  // The far end refused our offer (488/606): switch to another one (the other SRTP keying) and
  // return true to re-send the INVITE with offer(); false when there is no alternative.
  virtual bool next_offer() { return false; }
  // The far end *accepted* our secure offer (2xx) with an answer we cannot key from — in the
  // clear, another profile, the stream rejected, unusable crypto or fingerprint — which is how a
  // far end that speaks only the other SRTP keying may answer. Switch to the other keying and
  // return true: the call re-offers it by re-INVITE in the same dialog, before any media flows
  // (the phone has answered; a new INVITE would ring it again). False: nothing else to offer.
  virtual bool reoffer_after(std::error_code answer_error) { return false; }
  // Set once media can no longer flow (DTLS handshake failed, a socket that can no longer receive): the call
  // ends (BYE; 704 Media Timeout if no media ever arrived, else 703 Unexpected Clearing).
  virtual std::optional<std::string> failure() const { return std::nullopt; }
  // The call's wake-up: the media calls it (on the call's executor) when failure() becomes set,
  // so the call ends at once rather than at its next inactivity check. It only wakes the call.
  virtual void on_failure(std::function<void()> wake) {}
  // Media statistics as a JSON object (codec, packets, loss, jitter, RTT, buffer), for the
  // call stats endpoint (docs/rest.md).
  virtual std::string stats_json() const { return "{}"; }
  // DTMF out: queues `digits` (0-9 * # A-D, 'p' = 500 ms pause; validated upstream) to play on
  // the RTP stream, as RFC 4733 telephone-events when negotiated, else in-band tones.
  virtual DtmfQueued play_dtmf(std::string_view digits) { return DtmfQueued::unavailable; }
  // How many more digits (pauses included) the queue takes now.
  virtual std::size_t dtmf_room() const { return 0; }
  // DTMF in: the media reports each digit it decodes (RFC 4733) and each one take_info_dtmf
  // recognised, on the call's executor, after the packet path has finished (posted: the
  // receiver never runs the call's code inside its own).
  virtual void on_dtmf(std::function<void(const DtmfIn&)> report) {}
  // An INFO body inside the dialog (RFC 6086 legacy INFO, no Info-Package): true when it was a
  // DTMF digit (application/dtmf-relay or application/dtmf), which is then reported.
  virtual bool take_info_dtmf(std::string_view content_type, std::string_view body) { return false; }
};

enum class CallState { dialing, ringing, active, on_hold, hangup };
std::string_view to_string(CallState);

// How the call ended, as callDestroyed reports it (SPEC §6): a SIP status for setup failures or
// 700 Normal Clearing, 703 Unexpected Clearing, 704 Media Timeout, 705 Max Duration, 706 Max Inactive.
struct CallEnd {
  int code = 700;
  std::string reason = "Normal Clearing";
};

struct CallParams {
  std::string id;          // conference id (uuid)
  std::string session_id;  // sent as X-OpenTok-SessionId (SPEC §7)
  std::string uri;         // Request-URI: sip: or sips:
  std::string from;        // sip.from: "user@host" or a full URI; empty = default
  std::vector<std::pair<std::string, std::string>> headers;  // sip.headers (validated upstream)
  std::optional<Credentials> auth;
  bool secure = false;     // SRTP required (the media seam enforces it)

  std::chrono::seconds max_duration{6 * 3600};  // SPEC §7: 6 hours
  std::chrono::seconds ring_timeout{180};       // no final answer → CANCEL, end 408
  std::chrono::seconds max_inactive{300};       // SPEC §7: 5 minutes without media
  std::uint32_t session_expires = 1800;         // RFC 4028 §4 recommended default
  std::uint32_t min_se = 90;                    // RFC 4028 §5 minimum
  int max_redirects = 3;                        // 3xx followed at most this many times
};

struct CallObserver {
  std::function<void(CallState)> on_state;     // DIALING, RINGING, ACTIVE, ON_HOLD, HANGUP
  std::function<void(const CallEnd&)> on_end;  // exactly once, after every on_state
  std::function<void(const DtmfIn&)> on_dtmf;  // each digit from the far end, in arrival order
};

// A message delivered to the call, owned (the transport's buffer is gone by then).
struct Inbound {
  std::string raw;
  Message msg;  // views into raw
  Source from;  // where it came from: responses to requests go back there (§18.2.2)
};

class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(UserAgent& ua, CallParams params, std::unique_ptr<CallMedia> media, CallObserver observer);
  ~Call();

  const CallParams& params() const { return params_; }
  const std::string& call_id() const { return call_id_; }
  const std::string& local_tag() const { return local_tag_; }
  bool ended() const { return ended_; }
  std::optional<CallState> state() const { return state_; }
  const CallMedia& media() const { return *media_; }

  void start();
  // Queues digits on the call's media (REST play-dtmf). `unavailable` unless the call is
  // answered and not over (ACTIVE or ON_HOLD: held digits wait for the resume).
  DtmfQueued play_dtmf(std::string_view digits);
  std::size_t dtmf_room() const;
  // REST force-disconnect or drain: CANCEL before an answer, BYE after (SPEC §7a). A CANCEL may
  // only follow a provisional response (§9.1), so before one the call waits for it — unless
  // `abandon_unanswered` (drain): then a call nobody has answered yet is given up at once.
  void hangup(bool abandon_unanswered = false);
  // From the UserAgent: a response to one of our transactions or a request in our dialog.
  void deliver(std::shared_ptr<Inbound> in);

  // Bounded inbox: beyond this, new messages are dropped (counted by the UA).
  static constexpr std::size_t kInboxLimit = 64;

 private:
  struct Pending;  // an in-flight client transaction of ours
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<std::optional<CallEnd>> invite_phase();
  boost::asio::awaitable<CallEnd> dialog_phase();
  boost::asio::awaitable<Pending> new_in_dialog(Method m);     // branch and next hop, no bytes yet
  boost::asio::awaitable<Pending> start_reinvite(SipTime now);  // sent; its transaction started
  boost::asio::awaitable<void> wait_input(SipTime deadline);
  boost::asio::awaitable<void> until_hangup();
  boost::asio::awaitable<std::error_code> send_request(Pending& p);
  // Sends a response to `in` and returns its bytes.
  boost::asio::awaitable<std::string> answer_request(const Inbound& in, unsigned code, std::string_view reason,
                                                     std::vector<std::pair<std::string, std::string>> extra = {},
                                                     std::string_view sdp = {});
  void arm_2xx(std::string wire, Source from, std::uint32_t cseq, bool offer_in_2xx);
  boost::asio::awaitable<void> send_bye();
  boost::asio::awaitable<bool> handle_in_dialog_request(std::shared_ptr<Inbound> in, CallEnd& end);

  std::string build_invite(const std::string& branch, std::string_view transport, bool with_sdp);
  std::string build_in_dialog(Method m, const std::string& branch, std::string_view transport,
                              std::string_view sdp, std::vector<std::pair<std::string, std::string>> extra = {});
  std::string via(std::string_view transport, const std::string& branch) const;
  std::string from_header() const;
  std::string contact(std::string_view transport) const;
  void set_state(CallState s);

  UserAgent& ua_;
  CallParams params_;
  std::unique_ptr<CallMedia> media_;
  CallObserver observer_;
  SipTimer wake_;
  std::deque<std::shared_ptr<Inbound>> inbox_;
  bool hangup_requested_ = false;
  bool abandon_ = false;
  bool kick_ = false;  // wake the coroutine once (hangup, media failure), consumed by wait_input
  bool ended_ = false;

  // Identity of the INVITE (§8.1.1): stays across digest retries and redirects.
  std::string call_id_, local_tag_, from_uri_, from_display_, to_uri_, request_uri_;
  std::uint32_t cseq_ = 0;
  std::string offer_sdp_;
  DigestSession digest_;
  std::optional<Dialog> dialog_;
  std::optional<CallState> state_;
  // Where the answered INVITE went: in-dialog requests without a route set reuse its transport.
  std::optional<Target> invite_target_;
  std::optional<Target> ack_target_;  // where the 2xx ACK went: the route set's first hop
  std::vector<CredentialsHeader> invite_creds_;  // of the last INVITE sent, for its 2xx ACK
  std::string invite_branch_;
  // Session timer (RFC 4028) as negotiated by the 2xx: interval and who refreshes.
  std::uint32_t session_interval_ = 0;
  bool we_refresh_ = false;
  bool keying_reoffer_ = false;  // the 2xx's answer could not be keyed: re-offering the other keying
  bool refresh_timer_reset_ = false;  // a far-end refresh arrived: restart the session timer
  std::string inv_ack_;                // the ACK of the answered INVITE, re-sent on 2xx retransmits
  // Our 2xx to a far-end re-INVITE, kept until its ACK (RFC 3261 §13.3.1.4).
  struct Pending2xx {
    std::string wire;
    Source from;
    std::uint32_t cseq = 0;
    bool offer_in_2xx = false;  // the re-INVITE had no SDP: our offer is in the 2xx, the answer comes in the ACK
    milliseconds interval{500};
    SipTime next, give_up;
  };
  std::optional<Pending2xx> pending_2xx_;
};

}  // namespace sb::sip
