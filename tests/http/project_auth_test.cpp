#include "http/project_auth.hpp"

#include "core/client_token.hpp"
#include "core/jwt.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace sb;
using namespace sb::http;

namespace {

constexpr std::string_view key = "123456";
constexpr std::string_view secret = "1234567890abcdef1234567890abcdef1234567890";
constexpr std::string_view other_key = "654321";
constexpr std::string_view other_secret = "fedcba0987654321fedcba0987654321fedcba09";
constexpr std::int64_t now = 1700000000;

int lookups = 0;

std::optional<std::string> lookup(std::string_view api_key) {
  ++lookups;
  if (api_key == key) return std::string(secret);
  if (api_key == other_key) return std::string(other_secret);
  return std::nullopt;
}

std::string s(std::int64_t v) { return std::to_string(v); }

std::string token(std::string_view payload,
                  std::string_view header = R"({"alg":"HS256","typ":"JWT"})",
                  std::string_view sign_secret = secret) {
  return core::jwt_sign_hs256_raw(header, payload, sign_secret);
}

// iss/ist/iat/exp with the given offsets from now.
std::string claims(std::int64_t iat_off, std::int64_t exp_off, std::string_view extra = "") {
  return R"({"iss":"123456","ist":"project","iat":)" + s(now + iat_off) + R"(,"exp":)" +
         s(now + exp_off) + std::string(extra) + "}";
}

boost::system::error_code error_of(std::string_view t,
                                   std::optional<std::string_view> path = key,
                                   std::int64_t at = now) {
  const auto r = verify_project_jwt(t, path, lookup, at);
  return r.has_value() ? boost::system::error_code{} : r.error();
}

} // namespace

TEST_CASE("NODE project token (iss, ist, iat, exp = iat + 300, no jti) is accepted") {
  const auto r = verify_project_jwt(token(claims(0, 300)), key, lookup, now);
  REQUIRE(r.has_value());
  CHECK(*r == "123456");
}

TEST_CASE("PY project token with a float jti and a 180 s lifetime is accepted") {
  const auto t = token(claims(0, 180, R"(,"jti":0.8466911372284376)"));
  CHECK(verify_project_jwt(t, key, lookup, now + 100).has_value());
}

TEST_CASE("JAVA project token (jjwt header without typ, string jti) is accepted") {
  const auto t = token(R"({"iss":"123456","ist":"project","jti":"c3a1f0e2-7d55-4a0e-9b4e",)"
                       R"("iat":)" + s(now) + R"(,"exp":)" + s(now + 180) + "}",
                       R"({"alg":"HS256"})");
  CHECK(verify_project_jwt(t, key, lookup, now).has_value());
}

TEST_CASE("PHP project token with an integer iss, uniqid jti and sub is accepted") {
  const auto t = token(R"({"ist":"project","iss":123456,"iat":)" + s(now) + R"(,"exp":)" +
                       s(now + 300) + R"(,"jti":"65f1c0a2b3d4e","sub":"1_MX4xMjM0NTZ-"})");
  const auto r = verify_project_jwt(t, key, lookup, now);
  REQUIRE(r.has_value());
  CHECK(*r == "123456");
}

TEST_CASE("NET project token with an X-TB-VERSION header is accepted") {
  const auto t = core::jwt_encode_hs256(
      {{"iss", "123456"}, {"ist", "project"}, {"iat", now}, {"exp", now + 300}}, secret,
      {{"X-TB-VERSION", 1}});
  CHECK(verify_project_jwt(t, key, lookup, now).has_value());
}

TEST_CASE("RUBY project token with ist in the JOSE header is accepted") {
  const auto t = token(R"({"iss":"123456","iat":)" + s(now) + R"(,"exp":)" + s(now + 300) + "}",
                       R"({"ist":"project","alg":"HS256"})");
  CHECK(verify_project_jwt(t, key, lookup, now).has_value());
}

TEST_CASE("a token without ist anywhere is accepted") {
  const auto t = token(R"({"iss":"123456","iat":)" + s(now) + R"(,"exp":)" + s(now + 60) + "}");
  CHECK(verify_project_jwt(t, key, lookup, now).has_value());
}

TEST_CASE("without a path key the issuer alone selects the project") {
  const auto t = token(claims(0, 300), R"({"alg":"HS256"})", other_secret);
  CHECK(error_of(t, std::nullopt) == project_auth_error::bad_signature);
  const auto t2 = core::jwt_encode_hs256(
      {{"iss", "654321"}, {"ist", "project"}, {"iat", now}, {"exp", now + 300}}, other_secret);
  const auto r = verify_project_jwt(t2, std::nullopt, lookup, now);
  REQUIRE(r.has_value());
  CHECK(*r == "654321");
}

TEST_CASE("clock skew of 60 s is allowed on both ends and not a second more") {
  const auto future = token(claims(60, 360));
  CHECK(error_of(future) == boost::system::error_code{});
  CHECK(error_of(token(claims(61, 361))) == project_auth_error::not_yet_valid);
  CHECK(error_of(token(claims(-360, -60))) == boost::system::error_code{});
  CHECK(error_of(token(claims(-361, -61))) == project_auth_error::expired);
  CHECK(verify_project_jwt(token(claims(0, 300)), key, lookup, now, 0).has_value());
  CHECK(verify_project_jwt(token(claims(0, 300)), key, lookup, now + 301, 0).error() ==
        project_auth_error::expired);
}

TEST_CASE("lifetimes above 300 s plus skew are refused") {
  CHECK(error_of(token(claims(0, 360))) == boost::system::error_code{});
  CHECK(error_of(token(claims(0, 361))) == project_auth_error::lifetime_too_long);
  CHECK(error_of(token(claims(0, 86400))) == project_auth_error::lifetime_too_long);
  CHECK(verify_project_jwt(token(claims(0, 301)), key, lookup, now, 0).error() ==
        project_auth_error::lifetime_too_long);
}

TEST_CASE("a missing header value is reported as missing") {
  CHECK(error_of("") == project_auth_error::missing);
}

TEST_CASE("tokens that are not HS256 JWTs with iss, iat and exp are malformed") {
  CHECK(error_of("garbage") == project_auth_error::malformed);
  CHECK(error_of("a.b.c") == project_auth_error::malformed);
  CHECK(error_of(token(claims(0, 300), R"({"alg":"none"})")) == project_auth_error::malformed);
  CHECK(error_of(token(claims(0, 300), R"({"alg":"RS256"})")) == project_auth_error::malformed);
  CHECK(error_of(token(R"({"ist":"project","iat":)" + s(now) + R"(,"exp":)" + s(now + 1) + "}")) ==
        project_auth_error::malformed);
  CHECK(error_of(token(R"({"iss":"","iat":1,"exp":2})")) == project_auth_error::malformed);
  CHECK(error_of(token(R"({"iss":true,"iat":1,"exp":2})")) == project_auth_error::malformed);
  CHECK(error_of(token(R"({"iss":"123456","exp":)" + s(now + 1) + "}")) ==
        project_auth_error::malformed);
  CHECK(error_of(token(R"({"iss":"123456","iat":)" + s(now) + "}")) ==
        project_auth_error::malformed);
  CHECK(error_of(token(R"({"iss":"123456","iat":")" + s(now) + R"(","exp":)" + s(now + 1) + "}")) ==
        project_auth_error::malformed);
  CHECK(error_of(token(claims(10, 0))) == project_auth_error::malformed); // exp before iat
}

TEST_CASE("the issuer must match the path key and be a known project") {
  lookups = 0;
  CHECK(error_of(token(claims(0, 300)), std::string_view("654321")) ==
        project_auth_error::issuer_mismatch);
  CHECK(lookups == 0); // refused before any secret lookup
  const auto unknown = token(R"({"iss":"999","iat":)" + s(now) + R"(,"exp":)" + s(now + 1) + "}");
  CHECK(error_of(unknown, std::nullopt) == project_auth_error::unknown_issuer);
  CHECK(error_of(unknown, std::string_view("999")) == project_auth_error::unknown_issuer);
}

TEST_CASE("a token signed with another secret fails the signature check") {
  CHECK(error_of(token(claims(0, 300), R"({"alg":"HS256"})", other_secret)) ==
        project_auth_error::bad_signature);
  const auto good = token(claims(0, 300));
  std::string flipped = good;
  const auto sig_at = good.rfind('.') + 1;
  flipped[sig_at] = good[sig_at] == 'A' ? 'B' : 'A';
  CHECK(error_of(flipped) == project_auth_error::bad_signature);
}

TEST_CASE("ist other than project, in payload or header, is the wrong token type") {
  CHECK(error_of(token(R"({"iss":"123456","ist":"app","iat":)" + s(now) + R"(,"exp":)" +
                       s(now + 1) + "}")) == project_auth_error::wrong_type);
  CHECK(error_of(token(claims(0, 1), R"({"alg":"HS256","ist":"user"})")) ==
        project_auth_error::wrong_type);
  CHECK(error_of(token(R"({"iss":"123456","ist":1,"iat":)" + s(now) + R"(,"exp":)" + s(now + 1) +
                       "}")) == project_auth_error::wrong_type);
}

TEST_CASE("a client token is never accepted as a project token") {
  const auto client = core::make_jwt_token(key, secret, "1_MX4xMjM0NTZ-", core::Role::moderator,
                                           now, now + 120, "", "0.5");
  CHECK(error_of(client) == project_auth_error::wrong_type);
  CHECK(error_of(token(claims(0, 300, R"(,"scope":"session.connect")"))) ==
        project_auth_error::wrong_type);
}

TEST_CASE("an nbf in the future is honoured with the same skew") {
  CHECK(error_of(token(claims(0, 300, R"(,"nbf":)" + s(now + 60)))) == boost::system::error_code{});
  CHECK(error_of(token(claims(0, 300, R"(,"nbf":)" + s(now + 61)))) ==
        project_auth_error::not_yet_valid);
  CHECK(error_of(token(claims(0, 300, R"(,"nbf":null)"))) == boost::system::error_code{});
}

TEST_CASE("extreme claim values neither overflow nor pass") {
  const std::string lo = "-9223372036854775808";
  const std::string hi = "9223372036854775807";
  CHECK(error_of(token(R"({"iss":"123456","iat":)" + lo + R"(,"exp":)" + hi + "}")) ==
        project_auth_error::lifetime_too_long);
  CHECK(error_of(token(R"({"iss":"123456","iat":)" + hi + R"(,"exp":)" + hi + "}")) ==
        project_auth_error::not_yet_valid);
  CHECK(error_of(token(R"({"iss":"123456","iat":)" + lo + R"(,"exp":)" + lo + "}")) ==
        project_auth_error::expired);
}

TEST_CASE("project auth error messages are distinct and never echo the token") {
  const auto t = token(R"({"iss":"SECRETISS","iat":1,"exp":2})");
  const auto r = verify_project_jwt(t, std::nullopt, lookup, now);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == project_auth_error::unknown_issuer);
  CHECK(r.error().message().find("SECRETISS") == std::string::npos);
  CHECK(std::string(r.error().category().name()) == "sb.project_auth");
}
