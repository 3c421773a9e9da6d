#pragma once
// ASCII text helpers the protocol layers share: case-insensitive comparison (SIP header names and
// tokens, RFC 3261 §7.3.1; SDP and hash names, RFC 8866 / RFC 8122; DNS names, RFC 4343) and the
// token grammars of RFC 3261 and RFC 4566. One definition each: the layers call these rather than
// keep private copies. Bytes ≥ 0x80 are never letters here, so UTF-8 text compares byte for byte.

#include <cstddef>
#include <string_view>

namespace sb {

/// 'A'–'Z' to 'a'–'z'; every other byte unchanged.
[[nodiscard]] constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

/// ASCII case-insensitive equality.
[[nodiscard]] constexpr bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

/// Whether `s` begins with `prefix`, ASCII case-insensitively.
[[nodiscard]] constexpr bool ascii_istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && ascii_iequals(s.substr(0, prefix.size()), prefix);
}

/// RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
[[nodiscard]] constexpr bool is_sip_token_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '!' || c == '%' || c == '*' || c == '_' || c == '+' || c == '`' || c == '\'' || c == '~';
}
[[nodiscard]] constexpr bool is_sip_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (const char c : s)
    if (!is_sip_token_char(c)) return false;
  return true;
}

/// RFC 4566 §9 token-char = %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E: a
/// wider set than SIP's (it admits # $ & ^ { | }), so the two grammars stay apart.
[[nodiscard]] constexpr bool is_sdp_token_char(char ch) noexcept {
  const auto c = static_cast<unsigned char>(ch);
  return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2A || c == 0x2B || c == 0x2D || c == 0x2E ||
         (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x5E && c <= 0x7E);
}
[[nodiscard]] constexpr bool is_sdp_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (const char c : s)
    if (!is_sdp_token_char(c)) return false;
  return true;
}

}  // namespace sb
