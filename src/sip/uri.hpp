// SIP and SIPS URIs, RFC 3261 §19.1 (grammar in §25.1), sans-I/O.
//
// `parse_uri` validates a URI against the RFC 3261 grammar and returns a `Uri` whose fields are
// views into the caller's text: nothing is unescaped and nothing is allocated. Escaped octets stay
// escaped in every view; `unescape`/`append_unescaped` decode on demand, and well-known
// uri-parameters are recognised by their *unescaped* names (RFC 4475 §3.1.1.3: `%6C%72` is `lr`).
// Unescaping is never recursive (RFC 3986 §2.4): `%25%34%31` decodes to `%41`, not `A`.
//
// The character tables in `detail` are shared with message.cpp (tokens, Call-ID words).
#pragma once

#include "base/encoding.hpp"
#include "base/text.hpp"  // ascii_iequals, is_sip_token: RFC 3261 tokens compare and check here

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sb::sip {

/// URI scheme. Only SIP and SIPS are parsed; tel: (RFC 3966) and others are rejected with a reason.
enum class Scheme : std::uint8_t {
  sip,  ///< "sip:", RFC 3261 §19.1.1
  sips, ///< "sips:", TLS on every hop, RFC 3261 §19.1.1 and RFC 5630
};

/// What the host part of a URI (or a Via sent-by) is.
enum class HostKind : std::uint8_t {
  hostname, ///< RFC 3261 §25.1 hostname (domain labels)
  ipv4,     ///< dotted quad
  ipv6,     ///< IPv6reference: "[" IPv6address "]"
};

/// Transport a URI asks for (RFC 3261 §19.1.1 transport-param, RFC 7118 ws/wss).
enum class Transport : std::uint8_t {
  udp,      ///< transport=udp, or the default for sip: (RFC 3263 may still choose)
  tcp,      ///< transport=tcp on a sip: URI
  tls,      ///< transport=tls, transport=tcp on a sips: URI, or the default for sips:
  sctp,     ///< transport=sctp on a sip: URI
  tls_sctp, ///< transport=sctp on a sips: URI (RFC 4168)
  ws,       ///< transport=ws (RFC 7118)
  wss,      ///< transport=wss, or transport=ws on a sips: URI
  other,    ///< any other token; the resolver decides what to do with it
};

/// "UDP", "TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS" (the Via transport tokens), "" for other.
std::string_view to_string(Transport t) noexcept;

/// A parsed SIP/SIPS URI. Every view points into the text given to `parse_uri`, which must outlive
/// the Uri. Views keep the escaping of the wire.
struct Uri {
  Scheme scheme = Scheme::sip;
  std::string_view user;     ///< userinfo user part, escaped; empty when the URI has no userinfo
  std::string_view password; ///< escaped; meaningful only when has_password (it may be empty)
  bool has_password = false;
  std::string_view host;     ///< as on the wire: an IPv6 reference keeps its brackets
  HostKind host_kind = HostKind::hostname;
  std::optional<std::uint16_t> port; ///< explicit port, 1–65535
  std::string_view params;   ///< every uri-parameter after the first ';' (without it); raw, escaped
  std::string_view headers;  ///< everything after '?' (without it); raw, escaped

  // Well-known uri-parameters (RFC 3261 §19.1.1), first occurrence, values still escaped.
  std::string_view transport_param; ///< transport=; empty when absent
  std::string_view user_param;      ///< user= ("phone", "ip", other)
  std::string_view method_param;    ///< method=
  std::string_view maddr_param;     ///< maddr= (a host)
  std::optional<std::uint8_t> ttl;  ///< ttl= (0–255)
  bool lr = false;                  ///< lr present (loose routing, RFC 3261 §16.12)

  bool is_ipv6() const noexcept { return host_kind == HostKind::ipv6; }
  bool secure() const noexcept { return scheme == Scheme::sips; }
  /// The host without the brackets of an IPv6 reference, ready for inet_pton.
  std::string_view host_address() const noexcept;
  /// The explicit port or nullopt, so that RFC 3263 (SRV) decides; never a scheme default.
  std::optional<std::uint16_t> effective_port() const noexcept { return port; }
  /// transport= mapped onto the scheme, else the scheme default (UDP for sip:, TLS for sips:).
  /// RFC 3263 §4.1 may still pick another one through NAPTR when there is no transport=.
  Transport transport() const noexcept;
};

/// Parses a SIP or SIPS URI. On failure returns nullopt and, if `reason` is given, stores a static
/// description of the rule that failed (e.g. "tel: URIs (RFC 3966) are not SIP URIs").
std::optional<Uri> parse_uri(std::string_view text, std::string_view* reason = nullptr) noexcept;

/// Serialises a Uri: lower-case scheme, then the wire text of every part. parse_uri(to_string(u))
/// gives back the same fields.
std::string to_string(const Uri& uri);

/// One uri-parameter: `name[=value]`, both escaped.
struct UriParam {
  std::string_view name;
  std::string_view value;
  bool has_value = false;
};

/// Walks a `Uri::params` text (`a=b;c;d=e`). Assumes text that parse_uri accepted; on anything else
/// it still never reads out of bounds, it just yields what it finds.
class UriParamCursor {
 public:
  explicit UriParamCursor(std::string_view params) noexcept : rest_(params) {}
  std::optional<UriParam> next() noexcept;

 private:
  std::string_view rest_;
};

/// Finds a uri-parameter by name, comparing the unescaped name case-insensitively.
std::optional<UriParam> find_uri_param(std::string_view params, std::string_view name) noexcept;

/// One URI header (`hname=hvalue`), both escaped.
struct UriHeader {
  std::string_view name;
  std::string_view value;
};

/// Walks a `Uri::headers` text (`a=b&c=d`).
class UriHeaderCursor {
 public:
  explicit UriHeaderCursor(std::string_view headers) noexcept : rest_(headers) {}
  std::optional<UriHeader> next() noexcept;

 private:
  std::string_view rest_;
};

/// Classifies and validates a host: hostname, IPv4address or IPv6reference (with brackets).
std::optional<HostKind> parse_host(std::string_view host) noexcept;
/// RFC 3261 IPv4address: four dec-octets 0–255.
bool is_ipv4_address(std::string_view text) noexcept;
/// RFC 3261 IPv6address, without brackets: 8 groups, at most one "::", optional trailing IPv4.
bool is_ipv6_address(std::string_view text) noexcept;
/// Loose RFC 3261 absoluteURI check used for Request-URIs and name-addr URIs of any scheme:
/// scheme ":" then one or more URI characters (no whitespace, CTL, '<', '>' or '"').
bool is_absolute_uri(std::string_view text) noexcept;
/// Compares escaped text with plain text, case-insensitively, decoding %HH on the fly.
bool escaped_iequals(std::string_view escaped, std::string_view plain) noexcept;
/// Decodes %HH escapes into `buf`. Nullopt if `buf` is too small or an escape is truncated/invalid.
std::optional<std::string_view> unescape(std::string_view escaped, std::span<char> buf) noexcept;
/// Decodes %HH escapes, appending to `out`. False (with `out` partly appended) on a bad escape.
bool append_unescaped(std::string& out, std::string_view escaped);

namespace detail {

// Character classes of RFC 3261 §25.1. One table, one bit per class.
enum CharClass : std::uint16_t {
  cc_alpha = 1u << 0,
  cc_digit = 1u << 1,
  cc_hex = 1u << 2,
  cc_token = 1u << 3,      // token
  cc_unreserved = 1u << 4, // alphanum / mark
  cc_user = 1u << 5,       // unreserved / user-unreserved
  cc_password = 1u << 6,   // unreserved / "&" / "=" / "+" / "$" / ","
  cc_param = 1u << 7,      // unreserved / param-unreserved
  cc_hnv = 1u << 8,        // unreserved / hnv-unreserved
  cc_word = 1u << 9,       // Call-ID word
  cc_scheme = 1u << 10,    // ALPHA / DIGIT / "+" / "-" / "."
  cc_uric = 1u << 11,      // reserved / unreserved / "%" / "[" / "]"
  cc_token68 = 1u << 12,   // RFC 7235 token68 (without the trailing '=')
};

constexpr std::array<std::uint16_t, 256> make_char_table() noexcept {
  std::array<std::uint16_t, 256> t{};
  auto add = [&t](std::string_view chars, std::uint16_t cls) {
    for (char c : chars) t[static_cast<unsigned char>(c)] |= cls;
  };
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= cc_alpha;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= cc_alpha;
  for (int c = '0'; c <= '9'; ++c) t[c] |= cc_digit | cc_hex;
  add("abcdefABCDEF", cc_hex);
  constexpr std::uint16_t alnum_classes = cc_token | cc_unreserved | cc_user | cc_password |
                                          cc_param | cc_hnv | cc_word | cc_scheme | cc_uric |
                                          cc_token68;
  for (int c = 0; c < 256; ++c)
    if (t[c] & (cc_alpha | cc_digit)) t[c] |= alnum_classes;
  add("-.!%*_+`'~", cc_token);
  add("-_.!~*'()", cc_unreserved | cc_user | cc_password | cc_param | cc_hnv | cc_uric);
  add("&=+$,;?/", cc_user);
  add("&=+$,", cc_password);
  add("[]/:&+$", cc_param);
  add("[]/?:+$", cc_hnv);
  add("-.!%*_+`'~()<>:\\\"/[]?{}", cc_word);
  add("+-.", cc_scheme);
  add(";/?:@&=+$,%[]", cc_uric);
  add("-._~+/", cc_token68);
  return t;
}

inline constexpr std::array<std::uint16_t, 256> char_table = make_char_table();

constexpr bool is(char c, std::uint16_t cls) noexcept {
  return (char_table[static_cast<unsigned char>(c)] & cls) != 0;
}
/// Parses 1*DIGIT into a value ≤ max; nullopt on empty, non-digit or overflow.
constexpr std::optional<std::uint64_t> parse_uint(std::string_view s, std::uint64_t max) noexcept {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
    if (v > max) return std::nullopt; // checked per digit, so v*10 never overflows for max < 2^60
  }
  return v;
}

} // namespace detail
} // namespace sb::sip
