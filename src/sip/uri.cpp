// SIP and SIPS URIs, RFC 3261 §19.1 / §25.1. See uri.hpp.
#include "sip/uri.hpp"

#include <charconv>

namespace sb::sip {

using detail::cc_alpha;
using detail::cc_digit;
using detail::cc_hex;
using detail::is;

namespace {

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// True when every character of `s` is in `cls` or is a well-formed "%" HEX HEX escape.
bool all_escaped_in(std::string_view s, std::uint16_t cls) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !is(s[i + 1], cc_hex) || !is(s[i + 2], cc_hex)) return false;
      i += 2;
    } else if (!is(s[i], cls)) {
      return false;
    }
  }
  return true;
}

// RFC 3261 §25.1:
//   hostname    = *( domainlabel "." ) toplabel [ "." ]
//   domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
//   toplabel    = ALPHA / ALPHA *( alphanum / "-" ) alphanum
bool is_hostname(std::string_view s) noexcept {
  if (s.empty()) return false;
  if (s.back() == '.') s.remove_suffix(1);
  if (s.empty()) return false;
  std::string_view label;
  while (!s.empty()) {
    const auto dot = s.find('.');
    label = s.substr(0, dot);
    if (label.empty()) return false;
    if (!is(label.front(), cc_alpha | cc_digit) || !is(label.back(), cc_alpha | cc_digit))
      return false;
    for (char c : label)
      if (!is(c, cc_alpha | cc_digit) && c != '-') return false;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return is(label.front(), cc_alpha); // the last label is the toplabel
}

} // namespace

std::string_view to_string(Transport t) noexcept {
  switch (t) {
    case Transport::udp: return "UDP";
    case Transport::tcp: return "TCP";
    case Transport::tls: return "TLS";
    case Transport::sctp: return "SCTP";
    case Transport::tls_sctp: return "TLS-SCTP";
    case Transport::ws: return "WS";
    case Transport::wss: return "WSS";
    case Transport::other: break;
  }
  return "";
}

bool is_ipv4_address(std::string_view s) noexcept {
  // IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT, each 0–255.
  int octets = 0;
  while (true) {
    std::size_t digits = 0;
    unsigned value = 0;
    while (digits < s.size() && is(s[digits], cc_digit)) {
      value = value * 10 + static_cast<unsigned>(s[digits] - '0');
      if (++digits > 3) return false;
    }
    if (digits == 0 || value > 255) return false;
    s.remove_prefix(digits);
    if (++octets == 4) return s.empty();
    if (s.empty() || s.front() != '.') return false;
    s.remove_prefix(1);
  }
}

bool is_ipv6_address(std::string_view s) noexcept {
  // IPv6address = hexpart [ ":" IPv4address ]; hexpart = hexseq / hexseq "::" [ hexseq ] /
  // "::" [ hexseq ]; hexseq = hex4 *( ":" hex4 ); hex4 = 1*4HEXDIG.
  if (s.size() < 2 || s.size() > 45) return false;
  int groups = 0;
  bool compressed = false;
  std::size_t i = 0;
  if (s[0] == ':') {
    if (s[1] != ':') return false;
    compressed = true;
    i = 2;
    if (i == s.size()) return true; // "::"
  }
  while (i < s.size()) {
    // One group: hex4, or a trailing IPv4address worth two groups.
    std::size_t j = i;
    while (j < s.size() && j - i < 5 && is(s[j], cc_hex)) ++j;
    if (j < s.size() && s[j] == '.') {
      if (!is_ipv4_address(s.substr(i))) return false;
      groups += 2;
      i = s.size();
      break;
    }
    if (j == i || j - i > 4) return false;
    ++groups;
    i = j;
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (compressed) return false; // at most one "::"
      compressed = true;
      ++i;
      if (i == s.size()) break;
    } else if (i == s.size()) {
      return false; // a single trailing ':'
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

std::optional<HostKind> parse_host(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    if (is_ipv6_address(host.substr(1, host.size() - 2))) return HostKind::ipv6;
    return std::nullopt;
  }
  if (is_ipv4_address(host)) return HostKind::ipv4;
  if (is_hostname(host)) return HostKind::hostname;
  return std::nullopt;
}

bool is_absolute_uri(std::string_view s) noexcept {
  const auto colon = s.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 == s.size()) return false;
  if (!is(s[0], cc_alpha)) return false;
  for (std::size_t i = 1; i < colon; ++i)
    if (!is(s[i], detail::cc_scheme)) return false;
  for (std::size_t i = colon + 1; i < s.size(); ++i)
    if (!is(s[i], detail::cc_uric)) return false;
  return true;
}

bool escaped_iequals(std::string_view escaped, std::string_view plain) noexcept {
  std::size_t j = 0;
  for (std::size_t i = 0; i < escaped.size(); ++i, ++j) {
    char c = escaped[i];
    if (c == '%' && i + 2 < escaped.size() && hex_value(escaped[i + 1]) >= 0 &&
        hex_value(escaped[i + 2]) >= 0) {
      c = static_cast<char>(hex_value(escaped[i + 1]) * 16 + hex_value(escaped[i + 2]));
      i += 2;
    }
    if (j >= plain.size() || ascii_lower(c) != ascii_lower(plain[j])) return false;
  }
  return j == plain.size();
}

std::optional<std::string_view> unescape(std::string_view escaped, std::span<char> buf) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    char c = escaped[i];
    if (c == '%') {
      if (i + 2 >= escaped.size() || hex_value(escaped[i + 1]) < 0 ||
          hex_value(escaped[i + 2]) < 0)
        return std::nullopt;
      c = static_cast<char>(hex_value(escaped[i + 1]) * 16 + hex_value(escaped[i + 2]));
      i += 2;
    }
    if (n == buf.size()) return std::nullopt;
    buf[n++] = c;
  }
  return std::string_view(buf.data(), n);
}

bool append_unescaped(std::string& out, std::string_view escaped) {
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    char c = escaped[i];
    if (c == '%') {
      if (i + 2 >= escaped.size() || hex_value(escaped[i + 1]) < 0 ||
          hex_value(escaped[i + 2]) < 0)
        return false;
      c = static_cast<char>(hex_value(escaped[i + 1]) * 16 + hex_value(escaped[i + 2]));
      i += 2;
    }
    out.push_back(c);
  }
  return true;
}

std::optional<UriParam> UriParamCursor::next() noexcept {
  if (rest_.empty()) return std::nullopt;
  const auto semi = rest_.find(';');
  const std::string_view item = rest_.substr(0, semi);
  rest_ = semi == std::string_view::npos ? std::string_view{} : rest_.substr(semi + 1);
  UriParam p;
  const auto eq = item.find('=');
  p.name = item.substr(0, eq);
  if (eq != std::string_view::npos) {
    p.value = item.substr(eq + 1);
    p.has_value = true;
  }
  return p;
}

std::optional<UriParam> find_uri_param(std::string_view params, std::string_view name) noexcept {
  UriParamCursor cursor(params);
  while (auto p = cursor.next())
    if (escaped_iequals(p->name, name)) return p;
  return std::nullopt;
}

std::optional<UriHeader> UriHeaderCursor::next() noexcept {
  if (rest_.empty()) return std::nullopt;
  const auto amp = rest_.find('&');
  const std::string_view item = rest_.substr(0, amp);
  rest_ = amp == std::string_view::npos ? std::string_view{} : rest_.substr(amp + 1);
  const auto eq = item.find('=');
  UriHeader h;
  h.name = item.substr(0, eq);
  if (eq != std::string_view::npos) h.value = item.substr(eq + 1);
  return h;
}

std::string_view Uri::host_address() const noexcept {
  if (host_kind == HostKind::ipv6 && host.size() >= 2) return host.substr(1, host.size() - 2);
  return host;
}

Transport Uri::transport() const noexcept {
  const bool s = secure();
  if (transport_param.empty()) return s ? Transport::tls : Transport::udp;
  // RFC 5630 §3.1.3: sips with transport=udp is contradictory; it is reported as UDP and the
  // resolver rejects it.
  if (escaped_iequals(transport_param, "udp")) return Transport::udp;
  if (escaped_iequals(transport_param, "tcp")) return s ? Transport::tls : Transport::tcp;
  if (escaped_iequals(transport_param, "tls")) return Transport::tls;
  if (escaped_iequals(transport_param, "sctp")) return s ? Transport::tls_sctp : Transport::sctp;
  if (escaped_iequals(transport_param, "tls-sctp")) return Transport::tls_sctp;
  if (escaped_iequals(transport_param, "ws")) return s ? Transport::wss : Transport::ws;
  if (escaped_iequals(transport_param, "wss")) return Transport::wss;
  return Transport::other;
}

std::optional<Uri> parse_uri(std::string_view text, std::string_view* reason) noexcept {
  auto fail = [reason](std::string_view why) -> std::optional<Uri> {
    if (reason) *reason = why;
    return std::nullopt;
  };
  Uri u;
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return fail("no scheme");
  const std::string_view scheme = text.substr(0, colon);
  if (ascii_iequals(scheme, "sip")) {
    u.scheme = Scheme::sip;
  } else if (ascii_iequals(scheme, "sips")) {
    u.scheme = Scheme::sips;
  } else if (ascii_iequals(scheme, "tel")) {
    return fail("tel: URIs (RFC 3966) are not SIP URIs");
  } else {
    return fail("unsupported URI scheme: only sip: and sips: are parsed");
  }
  std::string_view rest = text.substr(colon + 1);

  // userinfo = ( user / telephone-subscriber ) [ ":" password ] "@". '@' cannot appear unescaped
  // anywhere else in a SIP-URI, so the first one ends the userinfo even when the user part holds
  // ';', '?' or '/' (RFC 4475 §3.1.1.2 and §3.1.1.10).
  if (const auto at = rest.find('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const auto pw = userinfo.find(':');
    u.user = userinfo.substr(0, pw);
    if (pw != std::string_view::npos) {
      u.password = userinfo.substr(pw + 1);
      u.has_password = true;
      if (!all_escaped_in(u.password, detail::cc_password)) return fail("invalid password");
    }
    if (u.user.empty()) return fail("empty user before '@'");
    if (!all_escaped_in(u.user, detail::cc_user)) return fail("invalid character in user");
  }

  // hostport = host [ ":" port ]; host = hostname / IPv4address / IPv6reference
  std::size_t host_end = 0;
  if (!rest.empty() && rest.front() == '[') {
    host_end = rest.find(']');
    if (host_end == std::string_view::npos) return fail("unterminated IPv6 reference");
    ++host_end;
  } else {
    host_end = rest.find_first_of(":;?");
    if (host_end == std::string_view::npos) host_end = rest.size();
  }
  u.host = rest.substr(0, host_end);
  rest.remove_prefix(host_end);
  if (u.host.empty()) return fail("empty host");
  const auto kind = parse_host(u.host);
  if (!kind) return fail("invalid host");
  u.host_kind = *kind;

  if (!rest.empty() && rest.front() == ':') {
    rest.remove_prefix(1);
    std::size_t digits = 0;
    while (digits < rest.size() && is(rest[digits], cc_digit)) ++digits;
    const auto port = detail::parse_uint(rest.substr(0, digits), 65535);
    if (!port || *port == 0) return fail("port is not 1-65535");
    u.port = static_cast<std::uint16_t>(*port);
    rest.remove_prefix(digits);
  }

  if (!rest.empty() && rest.front() == ';') {
    rest.remove_prefix(1);
    const auto q = rest.find('?');
    u.params = rest.substr(0, q);
    rest = q == std::string_view::npos ? std::string_view{} : rest.substr(q);
    if (u.params.empty() || u.params.back() == ';') return fail("empty uri-parameter");
    UriParamCursor cursor(u.params);
    while (auto p = cursor.next()) {
      // other-param = pname [ "=" pvalue ]; pname = 1*paramchar; pvalue = 1*paramchar
      if (p->name.empty() || !all_escaped_in(p->name, detail::cc_param))
        return fail("invalid uri-parameter name");
      if (p->has_value && (p->value.empty() || !all_escaped_in(p->value, detail::cc_param)))
        return fail("invalid uri-parameter value");
      if (escaped_iequals(p->name, "transport")) {
        if (!p->has_value) return fail("transport= needs a value");
        if (u.transport_param.empty()) u.transport_param = p->value;
      } else if (escaped_iequals(p->name, "user")) {
        if (!p->has_value) return fail("user= needs a value");
        if (u.user_param.empty()) u.user_param = p->value;
      } else if (escaped_iequals(p->name, "method")) {
        if (!p->has_value) return fail("method= needs a value");
        if (u.method_param.empty()) u.method_param = p->value;
      } else if (escaped_iequals(p->name, "maddr")) {
        if (!p->has_value || !parse_host(p->value)) return fail("maddr= is not a host");
        if (u.maddr_param.empty()) u.maddr_param = p->value;
      } else if (escaped_iequals(p->name, "ttl")) {
        // ttl = 1*3DIGIT ; 0 to 255
        const auto ttl = p->has_value && p->value.size() <= 3 ? detail::parse_uint(p->value, 255)
                                                              : std::nullopt;
        if (!ttl) return fail("ttl= is not 0-255");
        if (!u.ttl) u.ttl = static_cast<std::uint8_t>(*ttl);
      } else if (escaped_iequals(p->name, "lr")) {
        u.lr = true; // "lr" has no value in RFC 3261; "lr=on" from RFC 2543-era peers is accepted
      }
    }
  }

  if (!rest.empty() && rest.front() == '?') {
    // headers = "?" header *( "&" header ); header = hname "=" hvalue
    u.headers = rest.substr(1);
    rest = {};
    if (u.headers.empty()) return fail("empty URI headers after '?'");
    for (std::string_view scan = u.headers; !scan.empty();) {
      const auto amp = scan.find('&');
      const std::string_view item = scan.substr(0, amp);
      scan = amp == std::string_view::npos ? std::string_view{} : scan.substr(amp + 1);
      const auto eq = item.find('=');
      const bool trailing_amp = amp != std::string_view::npos && scan.empty();
      if (eq == 0 || eq == std::string_view::npos || trailing_amp ||
          !all_escaped_in(item.substr(0, eq), detail::cc_hnv) ||
          !all_escaped_in(item.substr(eq + 1), detail::cc_hnv))
        return fail("invalid URI header");
    }
  }

  if (!rest.empty()) return fail("unexpected character after host");
  return u;
}

std::string to_string(const Uri& u) {
  std::string out;
  out.reserve(8 + u.user.size() + u.password.size() + u.host.size() + u.params.size() +
              u.headers.size() + 8);
  out += u.scheme == Scheme::sips ? "sips:" : "sip:";
  if (!u.user.empty()) {
    out += u.user;
    if (u.has_password) {
      out += ':';
      out += u.password;
    }
    out += '@';
  }
  out += u.host;
  if (u.port) {
    char buf[8];
    const auto r = std::to_chars(buf, buf + sizeof buf, *u.port);
    out += ':';
    out.append(buf, r.ptr);
  }
  if (!u.params.empty()) {
    out += ';';
    out += u.params;
  }
  if (!u.headers.empty()) {
    out += '?';
    out += u.headers;
  }
  return out;
}

} // namespace sb::sip
