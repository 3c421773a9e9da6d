// One browser peer connection as the SFU sees it: ICE-lite (ice_lite.hpp) on the shard's WebRTC
// UDP port, DTLS-SRTP keying (rtp/dtls.hpp) and SRTP both ways (rtp/srtp.hpp), BUNDLE and rtcp-mux
// on one 5-tuple. Sans-I/O toward the socket: datagrams come in through `receive`, leave through
// the Send function; time is a parameter, so tests step it.
//
// DTLS roles are fixed by OpenTok.js (OPENTOK-CLIENT.md §6.1): on a publisher leg our answer says
// a=setup:active, so we are the DTLS client and start once ICE has nominated a pair; on a
// subscriber leg the client rewrites our actpass to passive, so we are the DTLS server.
#pragma once
#include "rtp/dtls.hpp"
#include "rtp/srtp.hpp"
#include "webrtc/ice_lite.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sb::webrtc {

struct PeerStats {
  std::uint64_t rtp_in = 0, rtcp_in = 0, rtp_out = 0, rtcp_out = 0, bytes_in = 0, bytes_out = 0;
  std::uint64_t srtp_failures = 0, dropped_before_keys = 0, foreign = 0;
  std::uint64_t consent_expiries = 0;   ///< times consent lapsed (RFC 7675: 30 s without a check)
  std::uint64_t held_no_consent = 0;    ///< packets not sent while consent had lapsed
};

// What became of one datagram handed to Peer::receive: the router counts the drops on /metrics
// (switchboard_sfu_dropped_total), so a flood on the SFU port is visible by kind.
enum class PeerInput : std::uint8_t {
  accepted,     ///< an ICE check answered, a DTLS record taken, SRTP/SRTCP authenticated
  ice_rejected, ///< STUN the ICE agent dropped unanswered (IceStats::dropped says why)
  foreign,      ///< DTLS or media from other than the nominated address, or not WebRTC at all
  before_keys,  ///< SRTP/SRTCP before DTLS produced keys, or DTLS past the few records kept
                ///< until the association starts
  srtp_auth,    ///< SRTP/SRTCP that failed authentication or the replay check (RFC 3711 §3.3.2)
  closed,       ///< the peer connection is closed
};

class Peer {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Role { publisher, subscriber };
  enum class State { new_, connecting, connected, failed, closed };
  using Send = std::function<void(const StunAddress& to, std::span<const std::uint8_t> bytes)>;
  struct Callbacks {
    std::function<void()> on_connected;                     // DTLS done, SRTP keyed
    std::function<void(std::string_view why)> on_failed;    // DTLS failed or timed out
    std::function<void(std::span<std::uint8_t> rtp)> on_rtp;    // decrypted, in place
    std::function<void(std::span<std::uint8_t> rtcp)> on_rtcp;   // decrypted, in place
  };

  // `identity`: the DTLS certificate whose fingerprint our SDP for this leg carries — the same
  // object for the handshake, whatever rotation happens in between (rtp/dtls.hpp).
  Peer(Role role, IceCredentials local, std::shared_ptr<const rtp::DtlsIdentity> identity, Send send, Callbacks cb);
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  Role role() const { return role_; }
  State state() const { return state_; }
  const IceCredentials& local() const { return local_; }
  const PeerStats& stats() const { return stats_; }
  const std::optional<StunAddress>& remote_address() const { return agent_.selected(); }

  // The browser's ICE ufrag and DTLS fingerprint, from its offer (publisher) or answer
  // (subscriber). DTLS starts once both this and an ICE nomination are in.
  void set_remote(std::string_view ice_ufrag, std::string fingerprint_alg, std::string fingerprint, Clock::time_point now);

  // One datagram from `from` (the port routes it here by ICE ufrag or by address).
  PeerInput receive(std::span<std::uint8_t> datagram, const StunAddress& from, Clock::time_point now);
  // Protects and sends to the nominated address; `buf` must have room for the SRTP tag
  // (kSendSlack bytes past `len`). Dropped (false) before keys.
  bool send_rtp(std::span<std::uint8_t> buf, std::size_t len);
  bool send_rtcp(std::span<std::uint8_t> buf, std::size_t len);
  static constexpr std::size_t kSendSlack = 32;

  std::optional<Clock::time_point> next_timer() const;
  void on_timer(Clock::time_point now);
  // RFC 7675 §5.1: once no check has refreshed consent on the nominated pair for 30 s, nothing
  // more is sent to it (the browser is gone or no longer wants our media; sending on would make
  // us a traffic source toward an address that never asked). A later check from the pair
  // refreshes consent and sending resumes. Returns true when consent lapsed at this call; the
  // router calls it from its timer.
  bool check_consent(Clock::time_point now);
  bool consent_lapsed() const { return consent_lapsed_; }
  void close();

 private:
  void maybe_start_dtls(Clock::time_point now);
  void flush_dtls();
  void on_dtls_state();

  Role role_;
  IceCredentials local_;
  std::shared_ptr<const rtp::DtlsIdentity> identity_;
  IceLiteAgent agent_;
  Send send_;
  Callbacks cb_;
  State state_ = State::new_;
  bool consent_lapsed_ = false;
  std::string fp_alg_, fp_;
  bool have_remote_ = false;
  std::unique_ptr<rtp::DtlsSrtp> dtls_;
  std::vector<std::vector<std::uint8_t>> early_dtls_;  // records that came before set_remote (≤ 4)
  std::unique_ptr<rtp::SrtpContext> srtp_in_, srtp_out_;
  PeerStats stats_;
};

}  // namespace sb::webrtc
