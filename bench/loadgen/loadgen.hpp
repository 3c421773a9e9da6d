// bench/loadgen: an out-of-process load generator for a running Switchboard (issue 10).
//
// It plays both sides a backend and its phones would: sessions are created and SIP calls dialed
// through the real REST API (JWT, client token), and every INVITE the server sends is answered by
// the generator's own SIP UAS (UDP), which then sends real speech (corpus.hpp) on RTP or SDES-SRTP
// with each call's packets at its own phase of the 20 ms period, and checks what comes back:
// sequence continuity, loss, late frames, and the added latency of a probe tone sent on one leg
// and found on the other. Shared-nothing like the server: each worker thread owns an io_context,
// a SIP socket, an HTTP connection pool and its calls; the main thread (main.cpp) only posts
// commands to workers and reads their atomic counters once a second.
#pragma once

#include "corpus.hpp"

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include <netinet/in.h>
#include <sys/socket.h>
#include <vector>

namespace sb::sip {
struct Message;
}

namespace lg {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// RFC 3261 §17.1.1.1 / §17.2.1: retransmit our 2xx and our requests over UDP from T1 doubling up
// to T2, give up after 64·T1. The generator uses the RFC defaults.
inline constexpr std::chrono::milliseconds k_t1{500}, k_t2{4000};
inline constexpr std::chrono::milliseconds k_transaction_timeout = 64 * k_t1;

struct CodecChoice {
  sb::mix::CodecId id = sb::mix::CodecId::pcmu;
  int pt = 0;              ///< the payload number we answer with (the server's offer's number)
  const char* encoding = "PCMU";
  std::uint32_t clock = 8000;
};
std::optional<CodecChoice> codec_by_name(std::string_view name);

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string key = "46000001";
  std::string secret = "5b0a7f9c3e1d4a2b8c6e0f1a2b3c4d5e6f708192";
  std::string sip_ip = "127.0.0.1";  ///< where the UAS and RTP sockets bind
  int workers = 1;
  int late_ms = 60;                  ///< a frame whose transit exceeds the leg's minimum by more is late
  int opus_complexity = 5;
  bool opus_fec = true;
  bool verbose = false;
  /// Sessions as rooms (`--reuse-sessions`): a session whose call has ended goes back to a pool
  /// and a later call dials into it instead of creating one, as apps do that reuse one session per
  /// room ("create one session and reuse it", OpenTok's session guide). Sessions never expire on
  /// the server, so a churn that creates one per call also measures the session store (≈ 0.7 KiB
  /// each, bounded by limits.sessionsPerShard); with reuse it measures the calls alone.
  bool reuse_sessions = false;  ///< not with --target (the external call outlives our part of it)
  /// Media through rtpengine instead of Switchboard (the side-by-side run): its ng control
  /// address ("127.0.0.1:2223"); empty = Switchboard.
  std::string rtpengine;
};

/// What a call does: which codecs its legs answer with, SRTP or not, media or signalling only,
/// and when (if ever) the far ends hang up on their own.
struct CallPlan {
  std::vector<std::string> leg_codecs;  ///< one per leg, all in one session: "pcmu", "opus", …
  bool secure = false;                  ///< dial with sip.secure (SDES offered) and answer SDES
  bool media = true;                    ///< send speech and check what comes back
  std::chrono::milliseconds lifetime{0}; ///< 0: until told to hang up; else BYE this long after ACK
  bool hold_before_bye = false;          ///< re-INVITE a=sendonly, then BYE (the call-setup flow)
  bool presession = false;               ///< use a session made by precreate_sessions (no create timed)
  /// Dial this SIP URI (an external far end, e.g. a sipp UAS) instead of our own UAS: the
  /// generator then only drives REST, and the server's /metrics tell how the calls ended.
  std::string target;
};

/// Counters one worker updates and the main thread reads (relaxed: each is a plain tally).
struct Counters {
  std::atomic<std::uint64_t> sessions{0}, session_failures{0};
  std::atomic<std::uint64_t> dials{0}, dial_failures{0};
  std::atomic<std::uint64_t> dials_refused{0};  ///< 503 from an overloaded server (shed, not failed)
  std::atomic<std::uint64_t> dial_errors_logged{0};  ///< refused/failed dials whose answer went to stderr
  std::atomic<std::uint64_t> invites{0}, unknown_invites{0}, acked{0}, legs_failed{0};
  std::atomic<std::uint64_t> server_byes{0}, unexpected_byes{0}, byes_sent{0}, byes_ok{0};
  std::atomic<std::uint64_t> byes_rejected{0};         ///< our BYE answered ≥ 300 (first 20 to stderr)
  std::atomic<std::uint64_t> transaction_timeouts{0};  ///< a request of ours never answered (64·T1)
  std::atomic<std::uint64_t> holds_ok{0}, calls_done{0};
  std::atomic<std::uint64_t> retransmissions{0}, sip_malformed{0};
  std::atomic<std::uint64_t> rtp_sent{0}, rtp_received{0}, rtp_expected{0}, rtp_late{0};
  std::atomic<std::uint64_t> rtp_reordered{0}, rtp_bad{0}, rtcp_received{0}, rtp_other{0};
  std::atomic<std::uint64_t> rtp_stray{0}, rtp_send_errors{0};
  std::atomic<std::uint64_t> probes_sent{0}, probes_found{0};
  std::atomic<std::uint64_t> send_late{0};     ///< our own 20 ms slots served > 2 ms late
  std::atomic<std::uint64_t> send_late_max_us{0};
  std::atomic<std::uint64_t> legs_active{0};   ///< ACKed and not yet ended
  // Per leg, when it ends after media flowed: did it hear the other side (≥ 1 s of packets),
  // and did at least one of its peer's probes reach it?
  std::atomic<std::uint64_t> legs_heard{0}, legs_deaf{0}, legs_probed{0};
};

struct Leg;
struct SessionRun;

/// One shared-nothing worker: io_context + thread, SIP UAS socket, REST pool, its calls.
class Worker {
 public:
  Worker(int index, const Options& opt, const std::map<sb::mix::CodecId, EncodedCorpus>& corpora);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void join();

  /// Posts: create one session and dial its legs per `plan`. `intended` is the open-loop send
  /// time of its first dial (latency is measured from it, not from when the request left).
  void launch(CallPlan plan, Clock::time_point intended);
  /// Posts: create `n` sessions up front (REST), kept for launch_presession (dial-rate scenario).
  void precreate_sessions(int n);
  std::size_t presession_count();
  /// Posts: every far end hangs up its live calls (BYE); `done` runs on the worker when all ended.
  void hang_up_all(std::function<void()> done);
  /// Posts: ends the worker's loops once its calls are gone.
  void stop();

  /// Runs `f` on the worker's thread and waits for it.
  template <class F>
  auto on_worker(F f) -> decltype(f()) {
    // The task is shared with the posted handler: the handler may still be unwinding out of it
    // when the result is already ready here.
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto fut = task->get_future();
    asio::post(io_, [task] { (*task)(); });
    return fut.get();
  }

  Counters& counters() noexcept { return c_; }
  std::vector<double> take_latencies_us();   ///< probe latencies since the last call
  std::vector<double> take_dial_us();        ///< REST dial latencies since the last call
  std::vector<std::string> call_ids();       ///< REST call ids of live legs (for /stats checks)
  std::uint16_t sip_port() const noexcept { return sip_port_; }


  // ---- used by the REST side (rest.cpp) and the scenario driver
  struct HttpResult {
    int status = 0;  ///< 0: no response (connect/read failure or timeout)
    std::string body;
  };
  asio::awaitable<HttpResult> http(int verb, std::string target, std::string body, std::string content_type);
  /// A REST request from another thread (the driver's /stats reads).
  HttpResult http_sync(int verb, std::string target);

 private:
  friend struct Leg;
  struct Conn;

  asio::awaitable<void> sip_loop();
  asio::awaitable<void> media_clock();
  asio::awaitable<void> sweeper();
  asio::awaitable<void> run_session(CallPlan plan, Clock::time_point intended);
  asio::awaitable<std::shared_ptr<SessionRun>> create_session();
  asio::awaitable<void> media_rx();
  // rtpengine (rtpengine.cpp): the same two far ends, their call set up by ng offer/answer.
  asio::awaitable<void> run_session_ng(CallPlan plan);
  asio::awaitable<std::string> ng_request(std::string dict_body);
  asio::awaitable<void> ng_loop();
  void ng_delete(const std::string& call_id, const std::string& from_tag);
  void flush_tx();
  static std::uint64_t endpoint_key(const asio::ip::udp::endpoint& ep);

  void on_sip(std::string_view datagram, const asio::ip::udp::endpoint& from);
  void on_invite_new(const sb::sip::Message& m, const asio::ip::udp::endpoint& from);
  void send_sip(const std::string& text, const asio::ip::udp::endpoint& to);
  void start_media(const std::shared_ptr<Leg>& leg);
  void stop_media(Leg& leg);
  void end_leg(const std::shared_ptr<Leg>& leg, bool failed);
  void send_bye(const std::shared_ptr<Leg>& leg);
  void send_hold(const std::shared_ptr<Leg>& leg);
  void send_frame(Leg& leg, Clock::time_point now);
  void on_rtp(Leg& leg, std::uint8_t* data, std::size_t len, Clock::time_point at);
  std::string auth_token();

  int index_;
  const Options& opt_;
  const std::map<sb::mix::CodecId, EncodedCorpus>& corpora_;
  asio::io_context io_{1};
  asio::ip::udp::socket sip_;
  std::uint16_t sip_port_ = 0;
  // Every call's far end on one media socket (as one SBC would be): sends batched per 1 ms slot
  // with sendmmsg, receives drained with recvmmsg; a packet's source port finds its leg.
  static constexpr std::size_t k_batch = 64;
  asio::ip::udp::socket media_;
  std::uint16_t media_port_ = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<Leg>> by_media_src_;
  mmsghdr tx_msgs_[k_batch];
  iovec tx_iov_[k_batch];
  sockaddr_in tx_addr_[k_batch];
  std::uint8_t tx_buf_[k_batch][1600];
  std::size_t tx_n_ = 0;
  // rtpengine's ng control socket and the requests awaiting their reply (by cookie).
  asio::ip::udp::socket ng_;
  asio::ip::udp::endpoint ng_server_;
  struct NgWait;
  std::map<std::string, NgWait*> ng_waiting_;
  std::uint64_t ng_cookie_ = 0;
  std::string ng_cookie_prefix_;
  std::thread thread_;
  Counters c_;
  bool stopping_ = false;

  std::uint64_t next_leg_ = 0;
  std::map<std::string, std::shared_ptr<Leg>> by_user_;     ///< Request-URI user → leg
  std::map<std::string, std::shared_ptr<Leg>> by_call_id_;  ///< SIP Call-ID → leg (after INVITE)
  std::vector<std::shared_ptr<Leg>> slots_[20];             ///< media legs by send phase (ms)
  std::vector<std::shared_ptr<SessionRun>> presessions_;
  /// --reuse-sessions: sessions whose call ended cleanly, with when, oldest first.
  std::deque<std::pair<std::string, Clock::time_point>> free_sessions_;
  std::vector<std::function<void()>> all_ended_waiters_;

  std::vector<std::unique_ptr<Conn>> idle_;
  std::string token_;
  std::int64_t token_iat_ = 0;

  std::vector<double> latencies_us_, dial_us_;  ///< handed to the main thread by on_worker
};

}  // namespace lg
