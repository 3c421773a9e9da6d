// base/text.hpp: the one ASCII comparison and the two token grammars every layer uses.
#include "base/text.hpp"

#include <doctest/doctest.h>

using namespace sb;

static_assert(ascii_iequals("Call-ID", "call-id"));
static_assert(!ascii_iequals("Via", "Vib"));
static_assert(ascii_istarts_with("Content-Type", "content-"));
static_assert(is_sip_token("INVITE") && !is_sip_token(""));

TEST_CASE("ASCII case-insensitive comparison folds A-Z only") {
  CHECK(ascii_iequals("SHA-256", "sha-256"));
  CHECK(ascii_iequals("", ""));
  CHECK_FALSE(ascii_iequals("abc", "abcd"));
  CHECK_FALSE(ascii_iequals("[", "{"));  // 0x5B and 0x7B differ by 0x20 but are not letters
  CHECK_FALSE(ascii_iequals("\xC3\x89", "\xC3\xA9"));  // UTF-8 É vs é: bytes, not letters
  CHECK(ascii_lower('Q') == 'q');
  CHECK(ascii_lower('@') == '@');
  CHECK(ascii_istarts_with("sips:alice@example.com", "SIPS:"));
  CHECK_FALSE(ascii_istarts_with("si", "sip:"));
}

TEST_CASE("RFC 3261 and RFC 4566 tokens are different grammars") {
  // RFC 3261 §25.1: alphanum and - . ! % * _ + ` ' ~
  CHECK(is_sip_token("x.y!%*_+`'~-Z9"));
  for (const char* bad : {"a b", "a:b", "a#b", "a$b", "a&b", "a^b", "a{b", "a|b", "a}b", "a/b", "a\"b"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_sip_token(bad));
  }
  // RFC 4566 §9 admits # $ & ^ { | } as well, but not space, ':' or '/'.
  for (const char* ok : {"a#b", "a$b", "a&b", "a^b", "a{b", "a|b", "a}b", "x.y!%*_+`'~-Z9"}) {
    CAPTURE(ok);
    CHECK(is_sdp_token(ok));
  }
  for (const char* bad : {"", "a b", "a:b", "a/b", "a\"b", "a(b", "a,b"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_sdp_token(bad));
  }
}
