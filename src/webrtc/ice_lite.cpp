// ICE-lite responder. See ice_lite.hpp for the policy.
#include "webrtc/ice_lite.hpp"

#include "base/crypto.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace sb::webrtc {

namespace {

constexpr std::size_t k_min_ufrag = 4; // RFC 8839 §5.4
constexpr std::size_t k_min_pwd = 22;
constexpr std::size_t k_max_ice_string = 256;

// RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/".
bool ice_chars(std::string_view s, std::size_t min) noexcept {
  if (s.size() < min || s.size() > k_max_ice_string) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
  });
}

} // namespace

IceLiteAgent::IceLiteAgent(std::string local_ufrag, std::string local_pwd)
    : local_ufrag_(std::move(local_ufrag)), local_pwd_(std::move(local_pwd)) {
  // Setup, not the packet path: bad credentials are a programmer error.
  if (!ice_chars(local_ufrag_, k_min_ufrag) || !ice_chars(local_pwd_, k_min_pwd))
    throw std::invalid_argument("ICE credentials must be ice-chars, ufrag >= 4, pwd >= 22");
}

IceCredentials IceLiteAgent::generate_credentials() {
  return {random_alnum(k_ufrag_length), random_alnum(k_pwd_length)};
}

void IceLiteAgent::set_remote(std::string_view remote_ufrag) { remote_ufrag_ = remote_ufrag; }

bool IceLiteAgent::consent_expired(IceTime now) const noexcept {
  return selected_ && last_check_ && now - *last_check_ > k_consent_timeout;
}

// RFC 8445 §7.3: the USERNAME of a check we receive is "our-ufrag:their-ufrag".
bool IceLiteAgent::username_matches(std::string_view u) const noexcept {
  const std::size_t n = local_ufrag_.size();
  if (u.size() <= n + 1 || u.substr(0, n) != local_ufrag_ || u[n] != ':') return false;
  return remote_ufrag_.empty() || u.substr(n + 1) == remote_ufrag_;
}

void IceLiteAgent::remember_valid(const StunAddress& from) noexcept {
  const auto known = valid_pairs();
  if (std::find(known.begin(), known.end(), from) != known.end()) return;
  if (valid_count_ == valid_.size()) { // drop the oldest
    std::move(valid_.begin() + 1, valid_.end(), valid_.begin());
    --valid_count_;
  }
  valid_[valid_count_++] = from;
}

IceOutcome IceLiteAgent::drop(IceDrop why) noexcept {
  ++stats_.dropped[static_cast<std::size_t>(why)];
  IceOutcome o;
  o.dropped = why;
  return o;
}

// An error response to an authenticated request carries MESSAGE-INTEGRITY (RFC 8489 §9.1.4).
IceOutcome IceLiteAgent::error(std::span<std::uint8_t> out, const StunMessage& m,
                               std::uint16_t code) noexcept {
  std::span<const std::uint16_t> unknown;
  if (code == 420) // the first few; a 420 need not list every unknown type
    unknown = std::span(m.unknown).first(std::min(m.unknown_count, m.unknown.size()));
  const std::size_t n = build_binding_error(out, m.transaction_id, code, local_pwd_, unknown);
  if (n == 0) return drop(IceDrop::no_room);
  auto& counter = code == 420 ? stats_.unknown_attributes
                  : code == 487 ? stats_.role_conflicts
                                : stats_.bad_requests;
  ++counter;
  IceOutcome o;
  o.reply_size = n;
  o.error_code = code;
  return o;
}

IceOutcome IceLiteAgent::handle_request(std::span<const std::uint8_t> datagram,
                                        const StunAddress& from, IceTime now,
                                        std::span<std::uint8_t> out) noexcept {
  const auto parsed = parse_stun(datagram);
  if (!parsed) return drop(IceDrop::malformed);
  const StunMessage& m = *parsed;
  // A lite agent only answers (§2.5); Binding indications are keepalives and need nothing.
  if (m.method != k_method_binding || m.cls != StunClass::request)
    return drop(IceDrop::not_binding_request);
  // RFC 8489 §7.3: a FINGERPRINT that does not verify means the datagram is not STUN at all.
  if (m.fingerprint_at && !verify_fingerprint(m, datagram)) return drop(IceDrop::bad_fingerprint);
  // RFC 8445 §7.3 / RFC 8489 §9.1.3: authenticate before anything else is acted on.
  if (!m.username || !username_matches(*m.username)) return drop(IceDrop::unknown_username);
  if (!m.integrity_at) return drop(IceDrop::no_integrity);
  if (!verify_integrity(m, datagram, local_pwd_)) return drop(IceDrop::bad_integrity);

  // Authentic from here on; errors are answered, with MESSAGE-INTEGRITY.
  if (m.unknown_count > 0) return error(out, m, 420);                // RFC 8489 §6.3.1.1
  if (m.bad_attribute != 0 || !m.priority) return error(out, m, 400); // §7.1.1: PRIORITY required
  // §7.3.1.1: we are controlled; a controlled peer is a conflict we resolve by never yielding.
  if (m.ice_controlled) return error(out, m, 487);

  // §7.3.1.4: the success response reflects the source address in XOR-MAPPED-ADDRESS.
  const std::size_t n = build_binding_success(out, m.transaction_id, from, local_pwd_);
  if (n == 0) return drop(IceDrop::no_room);
  ++stats_.successes;
  remember_valid(from);
  IceOutcome o;
  o.reply_size = n;
  // §7.3.1.5 / §8.2: the controlling browser nominates with USE-CANDIDATE; the newest
  // nomination wins, so a browser that roams or renominates moves the selected pair.
  if (m.use_candidate && selected_ != from) {
    selected_ = from;
    ++stats_.nominations;
    o.selected_changed = true;
  }
  // RFC 7675 §5.1: consent is refreshed by checks on the selected pair only.
  if (selected_ == from) last_check_ = now;
  return o;
}

} // namespace sb::webrtc
