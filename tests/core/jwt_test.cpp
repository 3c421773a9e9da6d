#include "core/jwt.hpp"

#include "base/encoding.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <string>

using namespace sb;
using namespace sb::core;
namespace json = boost::json;

namespace {

constexpr std::string_view secret = "1234567890abcdef1234567890abcdef1234567890";

std::string b64url(std::string_view s) { return base64_encode(s, true, false); }

// Token with arbitrary header/payload text and a signature over them (or a given signature).
std::string forge(std::string_view header, std::string_view payload, std::string_view sig_b64) {
  return b64url(header) + "." + b64url(payload) + "." + std::string(sig_b64);
}

} // namespace

TEST_CASE("HS256 verifies the RFC 7515 appendix A.1 example") {
  const auto key = base64_decode(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  REQUIRE(key);
  const std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const auto jwt = jwt_decode_hs256(token, *key);
  REQUIRE(jwt.has_value());
  CHECK(jwt->payload.at("iss") == "joe");
  CHECK(jwt_int_claim(jwt->payload, "exp") == 1300819380);
  CHECK(jwt->payload.at("http://example.com/is_root") == true);
  CHECK(jwt->header.at("typ") == "JWT");
}

TEST_CASE("HS256 verifies the jwt.io example token") {
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  const auto jwt = jwt_decode_hs256(token, "your-256-bit-secret");
  REQUIRE(jwt.has_value());
  CHECK(jwt->payload.at("name") == "John Doe");
  CHECK(jwt_decode_hs256(token, "not-the-secret").error() == jwt_error::bad_signature);
}

TEST_CASE("encoded tokens carry alg HS256 and typ JWT and decode to the same payload") {
  json::object payload{{"iss", "123456"}, {"iat", 1700000000}, {"n", nullptr}};
  const std::string token = jwt_encode_hs256(payload, secret);
  CHECK(token.find('=') == std::string::npos);
  const auto jwt = jwt_decode_hs256(token, secret);
  REQUIRE(jwt.has_value());
  CHECK(jwt->payload == payload);
  CHECK(jwt->header.at("alg") == "HS256");
  CHECK(jwt->header.at("typ") == "JWT");
  CHECK(jwt->header.size() == 2);
}

TEST_CASE("extra header members are added, may replace typ, and cannot change alg") {
  const json::object extra{{"X-TB-VERSION", 1}, {"typ", "at+jwt"}, {"alg", "none"}};
  const auto jwt = jwt_decode_hs256(jwt_encode_hs256({{"a", 1}}, secret, extra), secret);
  REQUIRE(jwt.has_value());
  CHECK(jwt->header.at("X-TB-VERSION") == 1);
  CHECK(jwt->header.at("typ") == "at+jwt");
  CHECK(jwt->header.at("alg") == "HS256");
}

TEST_CASE("raw signing keeps the given JSON bytes, such as a header without typ") {
  const std::string token = jwt_sign_hs256_raw(R"({"ist":"project","alg":"HS256"})",
                                               R"({"iss":"123456"})", secret);
  CHECK(token.substr(0, token.find('.')) == b64url(R"({"ist":"project","alg":"HS256"})"));
  const auto jwt = jwt_decode_hs256(token, secret);
  REQUIRE(jwt.has_value());
  CHECK(jwt->header.at("ist") == "project");
  CHECK_FALSE(jwt->header.contains("typ"));
}

TEST_CASE("typ is optional and not checked") {
  CHECK(jwt_decode_hs256(jwt_sign_hs256_raw(R"({"alg":"HS256"})", "{}", secret), secret)
            .has_value());
  CHECK(jwt_decode_hs256(jwt_sign_hs256_raw(R"({"alg":"HS256","typ":"jwt"})", "{}", secret), secret)
            .has_value());
}

TEST_CASE("algorithms other than exactly HS256 are refused, none included") {
  const std::string payload = R"({"iss":"123456"})";
  CHECK(jwt_decode_hs256(forge(R"({"alg":"none"})", payload, ""), secret).error() ==
        jwt_error::unsupported_alg);
  CHECK(jwt_decode_hs256(forge(R"({"alg":"none","typ":"JWT"})", payload, "AAAA"), secret).error() ==
        jwt_error::unsupported_alg);
  // Correctly HMAC-signed but claiming another algorithm: still refused.
  for (const char* h : {R"({"alg":"RS256"})", R"({"alg":"hs256"})", R"({"alg":"HS512"})",
                        R"({"typ":"JWT"})", R"({"alg":null})", R"({"alg":["HS256"]})"}) {
    CHECK(jwt_decode_hs256(jwt_sign_hs256_raw(h, payload, secret), secret).error() ==
          jwt_error::unsupported_alg);
  }
}

TEST_CASE("a crit header is refused because no extension is understood") {
  const auto t = jwt_sign_hs256_raw(R"({"alg":"HS256","crit":["exp"],"exp":1})", "{}", secret);
  CHECK(jwt_decode_hs256(t, secret).error() == jwt_error::unsupported_alg);
}

TEST_CASE("tokens that are not three base64url parts are malformed") {
  const std::string good = jwt_encode_hs256({{"a", 1}}, secret);
  const auto d1 = good.find('.');
  const auto d2 = good.find('.', d1 + 1);
  const std::string h = good.substr(0, d1);
  const std::string p = good.substr(d1 + 1, d2 - d1 - 1);
  const std::string s = good.substr(d2 + 1);
  CHECK(jwt_decode_hs256("", secret).error() == jwt_error::malformed);
  CHECK(jwt_decode_hs256(h + "." + p, secret).error() == jwt_error::malformed);
  CHECK(jwt_decode_hs256(good + ".", secret).error() == jwt_error::malformed);
  CHECK(jwt_decode_hs256(good + "." + s, secret).error() == jwt_error::malformed);
  CHECK(jwt_decode_hs256("." + p + "." + s, secret).error() == jwt_error::malformed);
  CHECK(jwt_decode_hs256(h + ".." + s, secret).error() == jwt_error::malformed);
  CHECK(jwt_decode_hs256(h + "=." + p + "." + s, secret).error() == jwt_error::malformed);
  CHECK(jwt_decode_hs256(h + "." + p + "." + s + "=", secret).error() == jwt_error::malformed);
  CHECK(jwt_decode_hs256(h + " ." + p + "." + s, secret).error() == jwt_error::malformed);
  // Standard-alphabet characters are not base64url.
  CHECK(jwt_decode_hs256(h + "." + p + "+." + s, secret).error() == jwt_error::malformed);
  // A part whose length leaves one sextet over cannot be base64.
  std::string odd = h;
  while (odd.size() % 4 != 1) odd += 'A';
  CHECK(jwt_decode_hs256(odd + "." + p + "." + s, secret).error() == jwt_error::malformed);
}

TEST_CASE("a header or payload that is not a JSON object is bad_json") {
  CHECK(jwt_decode_hs256(forge("not json", "{}", "x"), secret).error() == jwt_error::bad_json);
  CHECK(jwt_decode_hs256(forge(R"(["alg","HS256"])", "{}", "x"), secret).error() ==
        jwt_error::bad_json);
  CHECK(jwt_decode_hs256(jwt_sign_hs256_raw(R"({"alg":"HS256"})", "[1]", secret), secret).error() ==
        jwt_error::bad_json);
  CHECK(jwt_decode_hs256(jwt_sign_hs256_raw(R"({"alg":"HS256"})", R"({"a":1} x)", secret), secret)
            .error() == jwt_error::bad_json);
  CHECK(jwt_decode_hs256(jwt_sign_hs256_raw(R"({"alg":"HS256"})", "{\"a\":\"\xff\"}", secret),
                         secret)
            .error() == jwt_error::bad_json);
  std::string deep = "{\"a\":";
  for (int i = 0; i < 100; ++i) deep += "[";
  CHECK(jwt_decode_hs256(jwt_sign_hs256_raw(R"({"alg":"HS256"})", deep, secret), secret).error() ==
        jwt_error::bad_json);
}

TEST_CASE("the payload is not parsed before the signature verifies") {
  // Garbage payload, wrong signature: the signature error wins.
  const std::string t = b64url(R"({"alg":"HS256"})") + "." + b64url("garbage") + "." + b64url("x");
  CHECK(jwt_decode_hs256(t, secret).error() == jwt_error::bad_signature);
}

TEST_CASE("tampering with any part breaks the signature") {
  const std::string good = jwt_encode_hs256({{"role", "subscriber"}}, secret);
  REQUIRE(jwt_decode_hs256(good, secret).has_value());
  CHECK(jwt_decode_hs256(good, "other secret").error() == jwt_error::bad_signature);
  const auto d1 = good.find('.');
  const auto d2 = good.find('.', d1 + 1);
  const std::string forged_payload =
      good.substr(0, d1) + "." + b64url(R"({"role":"moderator"})") + good.substr(d2);
  CHECK(jwt_decode_hs256(forged_payload, secret).error() == jwt_error::bad_signature);
  std::string flipped = good;
  flipped[d2 + 1] = flipped[d2 + 1] == 'A' ? 'B' : 'A';
  CHECK(jwt_decode_hs256(flipped, secret).error() == jwt_error::bad_signature);
  CHECK(jwt_decode_hs256(good.substr(0, d2 + 1), secret).error() == jwt_error::bad_signature);
  CHECK(jwt_decode_hs256(good.substr(0, d2 + 1) + b64url("short"), secret).error() ==
        jwt_error::bad_signature);
}

TEST_CASE("tokens over the size cap are refused before any parsing") {
  json::object p{{"pad", std::string(jwt_max_token_size, 'x')}};
  CHECK(jwt_decode_hs256(jwt_encode_hs256(p, secret), secret).error() == jwt_error::too_large);
  CHECK(jwt_decode_unverified(std::string(jwt_max_token_size + 1, 'A')).error() ==
        jwt_error::too_large);
  json::object fits{{"pad", std::string(jwt_max_token_size / 2, 'x')}};
  CHECK(jwt_decode_hs256(jwt_encode_hs256(fits, secret), secret).has_value());
}

TEST_CASE("duplicate JSON members keep the lexically last value (RFC 7515 section 4)") {
  const auto t = jwt_sign_hs256_raw(R"({"alg":"HS256"})", R"({"iss":"a","iss":"b"})", secret);
  const auto jwt = jwt_decode_hs256(t, secret);
  REQUIRE(jwt.has_value());
  CHECK(jwt->payload.at("iss") == "b");
}

TEST_CASE("unverified decoding reads claims without any secret") {
  const auto t = jwt_encode_hs256({{"iss", "123456"}}, secret);
  const auto jwt = jwt_decode_unverified(t);
  REQUIRE(jwt.has_value());
  CHECK(jwt->payload.at("iss") == "123456");
  CHECK(jwt_decode_unverified("a.b").error() == jwt_error::malformed);
  CHECK(jwt_decode_unverified(forge("{}", "[]", "")).error() == jwt_error::bad_json);
}

TEST_CASE("integer claims accept int64, fitting uint64 and integral doubles only") {
  const auto v = json::parse(R"({"i":1700000000,"neg":-5,"u":9223372036854775807,
      "big":18446744073709551615,"d":1.7e9,"frac":1.5,"s":"1700000000","n":null,"b":true,
      "huge":1e300,"ninf":-9.3e18,"arr":[1]})");
  const json::object& o = v.as_object();
  CHECK(jwt_int_claim(o, "i") == 1700000000);
  CHECK(jwt_int_claim(o, "neg") == -5);
  CHECK(jwt_int_claim(o, "u") == INT64_MAX);
  CHECK(jwt_int_claim(o, "d") == 1700000000);
  CHECK_FALSE(jwt_int_claim(o, "big"));
  CHECK_FALSE(jwt_int_claim(o, "frac"));
  CHECK_FALSE(jwt_int_claim(o, "s"));
  CHECK_FALSE(jwt_int_claim(o, "n"));
  CHECK_FALSE(jwt_int_claim(o, "b"));
  CHECK_FALSE(jwt_int_claim(o, "huge"));
  CHECK_FALSE(jwt_int_claim(o, "ninf"));
  CHECK_FALSE(jwt_int_claim(o, "arr"));
  CHECK_FALSE(jwt_int_claim(o, "absent"));
}

TEST_CASE("JWT error messages describe the problem without echoing the token") {
  for (auto e : {jwt_error::malformed, jwt_error::bad_json, jwt_error::unsupported_alg,
                 jwt_error::bad_signature, jwt_error::too_large}) {
    const boost::system::error_code ec = e;
    CHECK(ec.category().name() == std::string("sb.jwt"));
    CHECK_FALSE(ec.message().empty());
    CHECK(ec.message().find("unknown") == std::string::npos);
  }
}
