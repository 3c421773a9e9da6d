// STUN codec: parse, verify, build. See stun.hpp.
#include "webrtc/stun.hpp"

#include "base/bytes.hpp"
#include "base/crypto.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace sb::webrtc {

namespace {

constexpr std::size_t k_attr_header = 4;           // type + length (§14)
constexpr std::size_t k_integrity_size = 20;       // HMAC-SHA1 (§14.5)
constexpr std::size_t k_fingerprint_size = 4;      // CRC-32 (§14.7)
constexpr std::uint32_t k_fingerprint_xor = 0x5354554E; // "STUN" (§14.7)
constexpr std::size_t k_max_reason = 763;          // §14.8: under 128 characters, 763 bytes
constexpr std::uint16_t k_comprehension_optional = 0x8000; // §14: 0x8000-0xFFFF may be ignored
constexpr std::uint8_t k_family_v4 = 0x01;         // §14.1
constexpr std::uint8_t k_family_v6 = 0x02;

constexpr std::size_t padded(std::size_t n) noexcept { return (n + 3) & ~std::size_t{3}; }

class StunCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "webrtc.stun"; }
  std::string message(int ev) const override {
    switch (static_cast<stun_error>(ev)) {
    case stun_error::too_short: return "shorter than the STUN header";
    case stun_error::not_stun: return "top bits of the message type are not zero";
    case stun_error::bad_cookie: return "no STUN magic cookie";
    case stun_error::bad_length: return "STUN length does not match the datagram";
    case stun_error::too_large: return "STUN message too large";
    case stun_error::bad_attribute: return "STUN attribute runs past the message";
    case stun_error::bad_fingerprint: return "FINGERPRINT malformed or not last";
    }
    return "unknown STUN error";
  }
};

Result<StunMessage> fail(stun_error e) noexcept { return {std::nullopt, make_error_code(e)}; }

// §14.2: X-Port is the port XOR the cookie's top 16 bits; an IPv4 X-Address is XOR the cookie,
// an IPv6 one XOR the cookie followed by the transaction ID. The mask is its own inverse.
std::array<std::uint8_t, 16> xor_mask(const TransactionId& tid) noexcept {
  std::array<std::uint8_t, 16> mask{};
  put32(mask.data(), k_magic_cookie);
  std::copy(tid.begin(), tid.end(), mask.begin() + 4);
  return mask;
}

std::optional<StunAddress> decode_xor_address(std::span<const std::uint8_t> v,
                                              const TransactionId& tid) noexcept {
  // §14.1: the first byte is reserved (ignored on receipt), then family, port, address.
  if (v.size() < 4) return std::nullopt;
  StunAddress a;
  a.v6 = v[1] == k_family_v6;
  if ((v[1] != k_family_v4 && !a.v6) || v.size() != (a.v6 ? 20u : 8u)) return std::nullopt;
  a.port = static_cast<std::uint16_t>(get16(v.data() + 2) ^ (k_magic_cookie >> 16));
  const auto mask = xor_mask(tid);
  for (std::size_t i = 0; i + 4 < v.size(); ++i) a.ip[i] = v[4 + i] ^ mask[i];
  return a;
}

// Decodes one attribute before MESSAGE-INTEGRITY into `m`. Known attributes with a bad value
// are noted in m.bad_attribute; unknown comprehension-required ones in m.unknown.
void decode_attribute(StunMessage& m, std::uint16_t type, std::span<const std::uint8_t> v,
                      std::size_t at) noexcept {
  const auto bad = [&] {
    if (m.bad_attribute == 0) m.bad_attribute = type;
  };
  const auto text = [&](std::span<const std::uint8_t> s) {
    return std::string_view(reinterpret_cast<const char*>(s.data()), s.size());
  };
  switch (type) {
  case attr::username:
    if (m.username) return; // §14: only the first occurrence counts
    if (v.size() > k_max_username) return bad();
    m.username = text(v);
    return;
  case attr::message_integrity:
    if (v.size() != k_integrity_size) return bad();
    m.integrity_at = at;
    return;
  case attr::priority:
    if (m.priority) return;
    if (v.size() != 4) return bad();
    m.priority = get32(v.data());
    return;
  case attr::use_candidate:
    if (!v.empty()) return bad(); // RFC 8445 §16.1: no content
    m.use_candidate = true;
    return;
  case attr::ice_controlling:
  case attr::ice_controlled: {
    auto& field = type == attr::ice_controlling ? m.ice_controlling : m.ice_controlled;
    if (field) return;
    if (v.size() != 8) return bad();
    field = (std::uint64_t{get32(v.data())} << 32) | get32(v.data() + 4);
    return;
  }
  case attr::xor_mapped_address:
    if (m.xor_mapped_address) return;
    if (auto a = decode_xor_address(v, m.transaction_id)) m.xor_mapped_address = a;
    else bad();
    return;
  case attr::error_code: {
    if (m.error_code) return;
    // §14.8: 21 reserved bits, Class (3 bits, 3..6), Number (8 bits, 0..99), reason phrase.
    if (v.size() < 4 || v.size() - 4 > k_max_reason) return bad();
    const unsigned cls = v[2] & 0x07, number = v[3];
    if (cls < 3 || cls > 6 || number > 99) return bad();
    m.error_code = static_cast<std::uint16_t>(cls * 100 + number);
    m.error_reason = text(v.subspan(4));
    return;
  }
  case attr::unknown_attributes: return; // understood; only meaningful in a 420 we never send for
  default:
    if (type >= k_comprehension_optional) return;
    if (m.unknown_count < m.unknown.size()) m.unknown[m.unknown_count] = type;
    ++m.unknown_count;
    return;
  }
}

constexpr std::array<std::uint32_t, 256> make_crc_table() noexcept {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[n] = c;
  }
  return t;
}
constexpr auto k_crc_table = make_crc_table();

// Appends attributes to a message in `out`, keeping the header length current so that
// MESSAGE-INTEGRITY and FINGERPRINT see the length §14.5 / §14.7 ask for. Any overflow latches
// `ok_` off and finish() returns 0.
class Writer {
 public:
  Writer(std::span<std::uint8_t> out, std::uint16_t type, const TransactionId& tid) noexcept
      : out_(out.first(std::min(out.size(), k_max_stun_size))) {
    if (out_.size() < k_stun_header_size) {
      ok_ = false;
      return;
    }
    put16(out_.data(), type);
    put16(out_.data() + 2, 0);
    put32(out_.data() + 4, k_magic_cookie);
    std::copy(tid.begin(), tid.end(), out_.begin() + 8);
    pos_ = k_stun_header_size;
  }

  /// Reserves a `len`-byte attribute (padding zeroed); returns its value bytes or nullptr.
  std::uint8_t* attribute(std::uint16_t type, std::size_t len) noexcept {
    if (!ok_ || len > 0xFFFF || k_attr_header + padded(len) > out_.size() - pos_) {
      ok_ = false;
      return nullptr;
    }
    std::uint8_t* p = out_.data() + pos_;
    put16(p, type);
    put16(p + 2, static_cast<std::uint16_t>(len));
    std::fill(p + k_attr_header + len, p + k_attr_header + padded(len), std::uint8_t{0});
    pos_ += k_attr_header + padded(len);
    put16(out_.data() + 2, static_cast<std::uint16_t>(pos_ - k_stun_header_size));
    return p + k_attr_header;
  }
  void bytes(std::uint16_t type, std::string_view v) noexcept {
    if (auto* p = attribute(type, v.size())) std::memcpy(p, v.data(), v.size());
  }
  void u32(std::uint16_t type, std::uint32_t v) noexcept {
    if (auto* p = attribute(type, 4)) put32(p, v);
  }
  void u64(std::uint16_t type, std::uint64_t v) noexcept {
    if (auto* p = attribute(type, 8)) {
      put32(p, static_cast<std::uint32_t>(v >> 32));
      put32(p + 4, static_cast<std::uint32_t>(v));
    }
  }
  void xor_address(const StunAddress& a, const TransactionId& tid) noexcept {
    const std::size_t ip_len = a.v6 ? 16 : 4;
    auto* p = attribute(attr::xor_mapped_address, 4 + ip_len);
    if (!p) return;
    p[0] = 0;
    p[1] = a.v6 ? k_family_v6 : k_family_v4;
    put16(p + 2, static_cast<std::uint16_t>(a.port ^ (k_magic_cookie >> 16)));
    const auto mask = xor_mask(tid);
    for (std::size_t i = 0; i < ip_len; ++i) p[4 + i] = a.ip[i] ^ mask[i];
  }
  /// §14.5: the header length already counts M-I itself when the HMAC is taken.
  void integrity(std::string_view password) {
    auto* p = attribute(attr::message_integrity, k_integrity_size);
    if (!p) return;
    const std::size_t covered = pos_ - k_attr_header - k_integrity_size;
    const auto mac = hmac_sha1(password, {reinterpret_cast<const char*>(out_.data()), covered});
    std::memcpy(p, mac.data(), k_integrity_size);
  }
  /// §14.7: last attribute; the CRC covers everything before it, length already counting it.
  void fingerprint() noexcept {
    auto* p = attribute(attr::fingerprint, k_fingerprint_size);
    if (!p) return;
    put32(p, crc32(out_.first(pos_ - k_attr_header - k_fingerprint_size)) ^ k_fingerprint_xor);
  }
  std::size_t finish() const noexcept { return ok_ ? pos_ : 0; }

 private:
  std::span<std::uint8_t> out_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

std::string_view reason_phrase(std::uint16_t code) noexcept {
  switch (code) { // §14.8 and RFC 8445 §16.2
  case 400: return "Bad Request";
  case 401: return "Unauthenticated";
  case 420: return "Unknown Attribute";
  case 487: return "Role Conflict";
  case 500: return "Server Error";
  }
  return {};
}

} // namespace

const std::error_category& stun_category() noexcept {
  static const StunCategory category;
  return category;
}

std::error_code make_error_code(stun_error e) noexcept {
  return {static_cast<int>(e), stun_category()};
}

std::uint32_t crc32(std::span<const std::uint8_t> bytes) noexcept {
  std::uint32_t c = 0xFFFFFFFFu;
  for (const std::uint8_t b : bytes) c = k_crc_table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool looks_like_stun(std::span<const std::uint8_t> d) noexcept {
  // RFC 7983 §7: a first byte of 0..3 is STUN; RFC 8489 §5: cookie, 4-byte-aligned length.
  if (d.size() < k_stun_header_size || d.size() > k_max_stun_size || d[0] > 3) return false;
  const std::size_t len = get16(d.data() + 2);
  return get32(d.data() + 4) == k_magic_cookie && len % 4 == 0 &&
         len + k_stun_header_size == d.size();
}

Result<StunMessage> parse_stun(std::span<const std::uint8_t> d) noexcept {
  // §5:
  //  0                   1                   2                   3
  //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
  // +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
  // |0 0|     STUN Message Type     |         Message Length        |
  // |                         Magic Cookie                          |
  // |                     Transaction ID (96 bits)                  |
  if (d.size() < k_stun_header_size) return fail(stun_error::too_short);
  if (d.size() > k_max_stun_size) return fail(stun_error::too_large);
  if (d[0] & 0xC0) return fail(stun_error::not_stun);
  if (get32(d.data() + 4) != k_magic_cookie) return fail(stun_error::bad_cookie);
  const std::size_t len = get16(d.data() + 2);
  if (len % 4 != 0 || len + k_stun_header_size != d.size()) return fail(stun_error::bad_length);

  StunMessage m;
  m.type = get16(d.data());
  m.method = static_cast<std::uint16_t>((m.type & 0x000F) | ((m.type >> 1) & 0x0070) |
                                        ((m.type >> 2) & 0x0F80));
  m.cls = static_cast<StunClass>(((m.type >> 4) & 1) | ((m.type >> 7) & 2));
  std::copy(d.begin() + 8, d.begin() + k_stun_header_size, m.transaction_id.begin());
  m.size = d.size();

  // §14: Type, Length (of the value, before padding), value padded to a 4-byte boundary.
  std::size_t pos = k_stun_header_size;
  bool after_integrity = false;
  while (pos < d.size()) {
    // §14.7: FINGERPRINT, when present, is the last attribute.
    if (m.fingerprint_at) return fail(stun_error::bad_fingerprint);
    if (d.size() - pos < k_attr_header) return fail(stun_error::bad_attribute);
    const std::uint16_t type = get16(d.data() + pos);
    const std::size_t alen = get16(d.data() + pos + 2);
    const std::size_t body = pos + k_attr_header;
    if (padded(alen) > d.size() - body) return fail(stun_error::bad_attribute);
    const auto value = d.subspan(body, alen);
    if (type == attr::fingerprint) {
      if (alen != k_fingerprint_size) return fail(stun_error::bad_fingerprint);
      m.fingerprint_at = pos;
    } else if (!after_integrity) {
      // §14.5: attributes after MESSAGE-INTEGRITY (but FINGERPRINT) are ignored.
      decode_attribute(m, type, value, pos);
      after_integrity = type == attr::message_integrity;
    }
    pos = body + padded(alen);
  }
  return {std::move(m), {}};
}

bool verify_integrity(const StunMessage& m, std::span<const std::uint8_t> d,
                      std::string_view password) noexcept {
  if (!m.integrity_at || m.size != d.size() || d.size() > k_max_stun_size) return false;
  const std::size_t at = *m.integrity_at;
  if (at < k_stun_header_size || at + k_attr_header + k_integrity_size > d.size()) return false;
  // §14.5: HMAC over the message before M-I, with the header length as if M-I were the last
  // attribute (it is not when FINGERPRINT follows). A stack copy with the length patched.
  std::array<std::uint8_t, k_max_stun_size> copy;
  std::copy(d.begin(), d.begin() + at, copy.begin());
  put16(copy.data() + 2, static_cast<std::uint16_t>(at + k_attr_header + k_integrity_size -
                                                    k_stun_header_size));
  try {
    const auto mac = hmac_sha1(password, {reinterpret_cast<const char*>(copy.data()), at});
    return constant_time_equal(
        mac, {reinterpret_cast<const char*>(d.data() + at + k_attr_header), k_integrity_size});
  } catch (...) { // only std::bad_alloc from the returned string: treat as unverified
    return false;
  }
}

bool verify_fingerprint(const StunMessage& m, std::span<const std::uint8_t> d) noexcept {
  if (!m.fingerprint_at || m.size != d.size()) return false;
  const std::size_t at = *m.fingerprint_at;
  if (at < k_stun_header_size || at + k_attr_header + k_fingerprint_size != d.size()) return false;
  return (crc32(d.first(at)) ^ k_fingerprint_xor) == get32(d.data() + at + k_attr_header);
}

std::optional<std::string_view> stun_username_local_part(
    std::span<const std::uint8_t> d) noexcept {
  if (!looks_like_stun(d)) return std::nullopt;
  const auto m = parse_stun(d);
  if (!m || !m->username) return std::nullopt;
  const auto colon = m->username->find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return m->username->substr(0, colon);
}

std::size_t build_binding_success(std::span<std::uint8_t> out, const TransactionId& tid,
                                  const StunAddress& mapped, std::string_view password) noexcept {
  try {
    Writer w(out, stun_type(k_method_binding, StunClass::success), tid);
    w.xor_address(mapped, tid);
    w.integrity(password);
    w.fingerprint();
    return w.finish();
  } catch (...) { // bad_alloc in hmac_sha1: nothing to send
    return 0;
  }
}

std::size_t build_binding_error(std::span<std::uint8_t> out, const TransactionId& tid,
                                std::uint16_t code, std::string_view password,
                                std::span<const std::uint16_t> unknown) noexcept {
  if (code < 300 || code > 699) return 0; // §14.8
  try {
    Writer w(out, stun_type(k_method_binding, StunClass::error), tid);
    const auto reason = reason_phrase(code);
    if (auto* p = w.attribute(attr::error_code, 4 + reason.size())) {
      p[0] = p[1] = 0;
      p[2] = static_cast<std::uint8_t>(code / 100);
      p[3] = static_cast<std::uint8_t>(code % 100);
      std::memcpy(p + 4, reason.data(), reason.size());
    }
    if (!unknown.empty()) {
      if (auto* p = w.attribute(attr::unknown_attributes, 2 * unknown.size()))
        for (std::size_t i = 0; i < unknown.size(); ++i) put16(p + 2 * i, unknown[i]);
    }
    if (!password.empty()) w.integrity(password);
    w.fingerprint();
    return w.finish();
  } catch (...) {
    return 0;
  }
}

std::size_t build_binding_request(std::span<std::uint8_t> out, const TransactionId& tid,
                                  const BindingRequestParams& p) noexcept {
  if (p.username.size() > k_max_username) return 0;
  try {
    Writer w(out, stun_type(k_method_binding, StunClass::request), tid);
    w.bytes(attr::username, p.username);
    w.u32(attr::priority, p.priority);
    w.u64(p.controlling ? attr::ice_controlling : attr::ice_controlled, p.tie_breaker);
    if (p.use_candidate) w.attribute(attr::use_candidate, 0);
    w.integrity(p.password);
    w.fingerprint();
    return w.finish();
  } catch (...) {
    return 0;
  }
}

} // namespace sb::webrtc
