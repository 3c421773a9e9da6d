// The server side of WebRTC connectivity checks: an ICE-lite agent (RFC 8445 §2.5) for one leg.
// Sans-I/O: the UDP receiver hands it each STUN datagram with its source address and the time;
// it answers into a caller buffer and remembers which address the browser nominated.
//
// A lite agent gathers only host candidates, never sends checks and is always controlled
// (RFC 8445 §6.1.1): it answers the browser's Binding requests (§7.3) and takes the pair the
// browser nominates with USE-CANDIDATE (§7.3.1.5, §8.2). Consent freshness (RFC 7675) is the
// browser re-checking every ~5 s; the agent records when, and the media path stops sending to a
// pair whose consent lapsed (consent_expired).
//
// Policy for what is answered (RFC 8445 §7.3 leaves discard-or-401 to the agent):
//   - only authenticated requests get any answer: the USERNAME is "local-ufrag:remote-ufrag" and
//     MESSAGE-INTEGRITY verifies with the local ice-pwd. Anything else is dropped and counted,
//     including a bad integrity: a 401 could not carry MESSAGE-INTEGRITY, so the browser could
//     not trust it, and answering unauthenticated datagrams would make the port a reflector.
//     A dropped check is retransmitted by the browser, so a transient failure recovers.
//   - an authentic request with an unknown comprehension-required attribute → 420 (RFC 8489
//     §6.3.1.1); with a malformed known attribute or no PRIORITY (§7.1.1) → 400.
//   - an authentic request with ICE-CONTROLLED is a role conflict (§7.3.1.1). A lite agent may
//     never become controlling, so it always answers 487, as if its tie-breaker were the largest
//     possible; the browser then switches to controlling and checks again.
//   - ICE restart (new remote ufrag) is not handled here: the leg makes a new agent with new
//     local credentials (RFC 8445 §9) and set_remote once more.
#pragma once
#include "webrtc/stun.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sb::webrtc {

using IceClock = std::chrono::steady_clock;
using IceTime = IceClock::time_point;

/// RFC 7675 §5.1: consent expires 30 s after the last authenticated check on the pair.
inline constexpr std::chrono::seconds k_consent_timeout{30};
/// RFC 8839 §5.4: ice-ufrag is 4..256 ice-chars, ice-pwd 22..256 (we use alnum, a subset).
inline constexpr std::size_t k_ufrag_length = 8;
inline constexpr std::size_t k_pwd_length = 24;
/// Valid pairs remembered per leg (host candidates of one browser: a handful); the oldest goes.
inline constexpr std::size_t k_max_valid_pairs = 8;

struct IceCredentials {
  std::string ufrag;
  std::string pwd;
};

/// Why a datagram got no answer; each has a counter in IceStats.
enum class IceDrop : std::uint8_t {
  malformed,           ///< not a well-framed STUN message (parse_stun failed)
  not_binding_request, ///< a response, an indication (keepalive, RFC 8445 §11), another method
  bad_fingerprint,     ///< FINGERPRINT present but wrong (RFC 8489 §7.3: not STUN after all)
  unknown_username,    ///< no USERNAME, or not "local:remote" for this agent
  no_integrity,        ///< no (well-formed) MESSAGE-INTEGRITY: cannot be authenticated
  bad_integrity,       ///< MESSAGE-INTEGRITY does not verify with the local ice-pwd
  no_room,             ///< `out` too small for the answer (a caller bug; k_max_reply_size)
};
inline constexpr std::size_t k_ice_drop_kinds = 7;

struct IceStats {
  std::uint64_t successes = 0;         ///< success responses sent
  std::uint64_t bad_requests = 0;      ///< 400 sent
  std::uint64_t unknown_attributes = 0;///< 420 sent
  std::uint64_t role_conflicts = 0;    ///< 487 sent
  std::uint64_t nominations = 0;       ///< times selected() changed
  std::array<std::uint64_t, k_ice_drop_kinds> dropped{};
  std::uint64_t drops(IceDrop d) const noexcept { return dropped[static_cast<std::size_t>(d)]; }
};

/// What handle_request did. Send the first reply_size bytes of `out` back to the source when
/// reply_size > 0.
struct IceOutcome {
  std::size_t reply_size = 0;
  std::uint16_t error_code = 0;   ///< 0 for a success response or a drop
  std::optional<IceDrop> dropped; ///< set when nothing is to be sent
  bool selected_changed = false;  ///< this request nominated a new pair
};

class IceLiteAgent {
 public:
  /// Local credentials, as put in our SDP answer (a=ice-ufrag / a=ice-pwd).
  IceLiteAgent(std::string local_ufrag, std::string local_pwd);

  /// Fresh random local credentials for a new leg (RFC 8445 §5.3: at least 24 bits of
  /// randomness in the ufrag and 128 in the pwd; 8 and 24 alnum chars give ~47 and ~142).
  static IceCredentials generate_credentials();

  /// The browser's a=ice-ufrag. Until it is known, a check with any remote part is answered
  /// (the answer may reach the browser before our SDP exchange finishes) but nothing about the
  /// remote is learnt from it. Setting it again replaces it.
  void set_remote(std::string_view remote_ufrag);

  /// Handles one datagram the demultiplexer classed as STUN, from `from`, at `now`.
  /// Never throws; `out` should hold k_max_reply_size bytes.
  IceOutcome handle_request(std::span<const std::uint8_t> datagram, const StunAddress& from,
                            IceTime now, std::span<std::uint8_t> out) noexcept;

  /// The nominated pair's remote address: where media goes. A later nomination from another
  /// address (the browser roamed or switched pairs) replaces it.
  const std::optional<StunAddress>& selected() const noexcept { return selected_; }
  /// Time of the last authenticated check from the selected address (RFC 7675 consent).
  std::optional<IceTime> last_check() const noexcept { return last_check_; }
  /// RFC 7675 §5.1: true once a pair is selected and no check refreshed it for 30 s.
  bool consent_expired(IceTime now) const noexcept;
  /// Remote addresses whose checks succeeded (RFC 8445 §7.3.1.4 valid pairs), oldest first.
  std::span<const StunAddress> valid_pairs() const noexcept {
    return {valid_.data(), valid_count_};
  }

  const IceStats& stats() const noexcept { return stats_; }
  std::string_view local_ufrag() const noexcept { return local_ufrag_; }
  std::string_view local_pwd() const noexcept { return local_pwd_; }

 private:
  IceOutcome drop(IceDrop why) noexcept;
  IceOutcome error(std::span<std::uint8_t> out, const StunMessage& m, std::uint16_t code) noexcept;
  bool username_matches(std::string_view username) const noexcept;
  void remember_valid(const StunAddress& from) noexcept;

  std::string local_ufrag_;
  std::string local_pwd_;
  std::string remote_ufrag_;                  ///< empty until set_remote
  std::optional<StunAddress> selected_;
  std::optional<IceTime> last_check_;
  std::array<StunAddress, k_max_valid_pairs> valid_{};
  std::size_t valid_count_ = 0;
  IceStats stats_;
};

} // namespace sb::webrtc
