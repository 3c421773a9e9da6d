#include "core/client_token.hpp"

#include "base/crypto.hpp"
#include "base/encoding.hpp"
#include "core/jwt.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <cctype>
#include <string>

using namespace sb;
using namespace sb::core;

namespace {

constexpr std::string_view key = "123456";
constexpr std::string_view secret = "1234567890abcdef1234567890abcdef1234567890";
constexpr std::string_view sid =
    "1_MX4xMjM0NTZ-flNhdCBNYXIgMTUgMTQ6NDI6MjMgUERUIDIwMTR-MC40OTAxMzAyNX4";
constexpr std::int64_t t0 = 1700000000;
constexpr std::int64_t now = t0 + 100;

struct T1Options {
  bool url = false;
  bool pad = true;
  std::string_view partner = key;
  std::string_view sign_secret = secret;
  bool meta_sig_first = false;
};

// A T1 token around an exact data string, signed the way every SDK signs it.
std::string t1(std::string_view data, T1Options o = {}) {
  const std::string sig = to_hex(hmac_sha1(o.sign_secret, data));
  std::string meta = o.meta_sig_first ? "sig=" + sig + "&partner_id=" + std::string(o.partner)
                                      : "partner_id=" + std::string(o.partner) + "&sig=" + sig;
  return "T1==" + base64_encode(meta + ":" + std::string(data), o.url, o.pad);
}

std::string sid_field() { return "session_id=" + std::string(sid); }

boost::system::result<ClientToken> check(std::string_view token, std::int64_t at = now) {
  return validate_client_token(token, key, secret, sid, at);
}

boost::system::error_code error_of(std::string_view token, std::int64_t at = now) {
  const auto r = check(token, at);
  return r.has_value() ? boost::system::error_code{} : r.error();
}

std::string jwt(std::string_view payload_json,
                std::string_view header_json = R"({"alg":"HS256","typ":"JWT"})",
                std::string_view sign_secret = secret) {
  return jwt_sign_hs256_raw(header_json, payload_json, sign_secret);
}

std::string s(std::int64_t v) { return std::to_string(v); }

} // namespace

// ---- T1 ---------------------------------------------------------------------------------------

TEST_CASE("T1 reproduces the SPEC 5.2 test vector") {
  const std::string data = sid_field() +
                           "&create_time=1700000000&expire_time=1700086400&role=publisher"
                           "&nonce=424242&initial_layout_class_list=";
  CHECK(to_hex(hmac_sha1(secret, data)) == "5b5e4ece69b2ddc58d4e416c308def5fd1516b4a");

  const std::string token =
      make_t1_token(key, secret, sid, Role::publisher, 1700000000, 1700086400, "", "424242");
  REQUIRE(token.starts_with("T1=="));
  CHECK(base64_decode(std::string_view(token).substr(4)) ==
        "partner_id=123456&sig=5b5e4ece69b2ddc58d4e416c308def5fd1516b4a:" + data);

  const auto ct = check(token);
  REQUIRE(ct.has_value());
  CHECK(ct->legacy_t1);
  CHECK(ct->role == Role::publisher);
  CHECK(ct->create_time == 1700000000);
  CHECK(ct->expire_time == 1700086400);
  CHECK(ct->connection_data.empty());
  CHECK(ct->layout_classes.empty());
}

TEST_CASE("T1 from NODE: whole data string form-encoded, scope present") {
  // querystring.stringify: %20 for spaces, every reserved byte escaped.
  const std::string data = sid_field() + "&create_time=" + s(t0) + "&expire_time=" + s(t0 + 3600) +
                           "&role=moderator&nonce=0.8371846281&scope=session.connect"
                           "&connection_data=name%3DAnn%20Lee%26role%3Dsubscriber%3Ax"
                           "&initial_layout_class_list=focus%20full";
  const auto ct = check(t1(data));
  REQUIRE(ct.has_value());
  CHECK(ct->role == Role::moderator);
  // An encoded '&role=' inside connection_data stays data.
  CHECK(ct->connection_data == "name=Ann Lee&role=subscriber:x");
  CHECK(ct->expire_time == t0 + 3600);
  CHECK(ct->layout_classes == std::vector<std::string>{"focus", "full"});
}

TEST_CASE("T1 from JAVA: URL-safe base64, only connection_data encoded, raw spaces in layout") {
  // ASCII text only encodes to sextets 62/63 from a '~', '>' or '?' that ends a 3-byte group, so
  // vary the (opaque) nonce until one does and the URL-safe characters really appear.
  std::string token;
  for (int n = 0; n < 30; ++n) {
    const std::string nonce = std::string(static_cast<std::size_t>(n % 3), 'x') + "?~" + s(n);
    const std::string data = sid_field() + "&create_time=" + s(t0) + "&nonce=" + nonce +
                             "&role=subscriber&expire_time=" + s(t0 + 7200) +
                             "&connection_data=user%3Djos%C3%A9+%C3%BC%7E" +
                             "&initial_layout_class_list=focus full";
    token = t1(data, {.url = true, .pad = true});
    if (token.find_first_of("-_", 4) != std::string::npos) break;
  }
  REQUIRE(token.find_first_of("-_", 4) != std::string::npos);
  const auto ct = check(token);
  REQUIRE(ct.has_value());
  CHECK(ct->role == Role::subscriber);
  CHECK(ct->connection_data == "user=jos\xC3\xA9 \xC3\xBC~");
  CHECK(ct->layout_classes == std::vector<std::string>{"focus", "full"});
  CHECK(ct->expire_time == t0 + 7200);
}

TEST_CASE("T1 decodes with either alphabet, padded or not") {
  const std::string data = sid_field() + "&create_time=" + s(t0) + "&role=publisher&nonce=1";
  for (const bool url : {false, true}) {
    for (const bool pad : {false, true}) {
      CHECK(check(t1(data, {.url = url, .pad = pad})).has_value());
    }
  }
}

TEST_CASE("T1 from PHP without expire_time gets create_time plus 24 hours") {
  // PHP: fields in this order, microtime.rand nonce, urlencode()d data and layout list.
  const std::string data = sid_field() + "&create_time=" + s(t0) +
                           "&role=publisheronly&nonce=1700000000.1234561234567890" +
                           "&connection_data=%7B%22name%22%3A%22Bob+O%27Neil%22%7D" +
                           "&initial_layout_class_list=focus+inactive";
  const auto ct = check(t1(data));
  REQUIRE(ct.has_value());
  CHECK(ct->role == Role::publisheronly);
  CHECK(ct->expire_time == t0 + 86400);
  CHECK(ct->connection_data == R"({"name":"Bob O'Neil"})");
  CHECK(ct->layout_classes == std::vector<std::string>{"focus", "inactive"});
  CHECK(error_of(t1(data), t0 + 86399) == boost::system::error_code{});
  CHECK(error_of(t1(data), t0 + 86400) == client_token_error::expired);
}

TEST_CASE("T1 from RUBY without expire_time or layout list") {
  const std::string data = sid_field() + "&create_time=" + s(t0) + "&role=publisher&nonce=" +
                           "0.5184163416349613" + "&connection_data=user_id%3D42";
  const auto ct = check(t1(data));
  REQUIRE(ct.has_value());
  CHECK(ct->expire_time == t0 + 86400);
  CHECK(ct->connection_data == "user_id=42");
  CHECK(ct->layout_classes.empty());
}

TEST_CASE("T1 from the old RUBY SDK: extra sdk_version in the meta part is ignored") {
  const std::string data = sid_field() + "&create_time=" + s(t0) + "&role=subscriber&nonce=0.1";
  const std::string meta = "partner_id=123456&sdk_version=tokbox-v2.2.0&sig=" +
                           to_hex(hmac_sha1(secret, data));
  const auto ct = check("T1==" + base64_encode(meta + ":" + data));
  REQUIRE(ct.has_value());
  CHECK(ct->role == Role::subscriber);
}

TEST_CASE("T1 from NET: negative integer nonce and encoded connection data") {
  const std::string data = "session_id=" + std::string(sid) + "&create_time=" + s(t0) +
                           "&nonce=-1248163264&role=publisher&connection_data=a%2Bb%3Dc";
  const auto ct = check(t1(data));
  REQUIRE(ct.has_value());
  CHECK(ct->connection_data == "a+b=c");
}

TEST_CASE("T1 fields may come in any order and the meta part in either order") {
  const std::string data = "role=subscriber&nonce=7&expire_time=" + s(t0 + 600) +
                           "&initial_layout_class_list=&create_time=" + s(t0) + "&" + sid_field() +
                           "&unknown_future_field=x";
  const auto ct = check(t1(data, {.meta_sig_first = true}));
  REQUIRE(ct.has_value());
  CHECK(ct->role == Role::subscriber);
  CHECK(ct->expire_time == t0 + 600);
}

TEST_CASE("T1 signature covers the bytes after the first colon only") {
  // A raw ':' inside the data must not move the split point.
  const std::string data =
      sid_field() + "&create_time=" + s(t0) + "&role=publisher&nonce=1&connection_data=a:b:c";
  const auto ct = check(t1(data));
  REQUIRE(ct.has_value());
  CHECK(ct->connection_data == "a:b:c");
}

TEST_CASE("T1 accepts an uppercase hex signature") {
  const std::string data = sid_field() + "&create_time=" + s(t0) + "&role=publisher&nonce=1";
  std::string sig = to_hex(hmac_sha1(secret, data));
  for (char& c : sig) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(check("T1==" + base64_encode("partner_id=123456&sig=" + sig + ":" + data)).has_value());
}

TEST_CASE("T1 rejects a signature that does not match") {
  const std::string data = sid_field() + "&create_time=" + s(t0) + "&role=publisher&nonce=1";
  CHECK(error_of(t1(data, {.sign_secret = "wrong secret"})) == client_token_error::bad_signature);
  std::string sig = to_hex(hmac_sha1(secret, data));
  sig[5] = sig[5] == '0' ? '1' : '0';
  CHECK(error_of("T1==" + base64_encode("partner_id=123456&sig=" + sig + ":" + data)) ==
        client_token_error::bad_signature);
  // Escalating the role after signing.
  const std::string token = t1(data);
  const std::string plain = *base64_decode(std::string_view(token).substr(4));
  std::string forged = plain;
  forged.replace(forged.find("role=publisher"), 14, "role=moderator");
  CHECK(error_of("T1==" + base64_encode(forged)) == client_token_error::bad_signature);
  CHECK(error_of("T1==" + base64_encode(plain + "&role=moderator")) ==
        client_token_error::bad_signature);
}

TEST_CASE("T1 rejects another project, another session, expiry and bad roles") {
  const std::string base = "&create_time=" + s(t0) + "&nonce=1";
  CHECK(error_of(t1(sid_field() + base + "&role=publisher", {.partner = "654321"})) ==
        client_token_error::wrong_project);
  CHECK(error_of(t1("session_id=1_other" + base + "&role=publisher")) ==
        client_token_error::wrong_session);
  CHECK(error_of(t1(sid_field() + base + "&role=admin")) == client_token_error::invalid_role);
  CHECK(error_of(t1(sid_field() + base + "&role=Publisher")) == client_token_error::invalid_role);
  CHECK(error_of(t1(sid_field() + base + "&scope=session.admin")) == client_token_error::bad_scope);
  const std::string timed = sid_field() + base + "&expire_time=" + s(t0 + 500);
  CHECK(check(t1(timed), t0 + 499).has_value());
  CHECK(error_of(t1(timed), t0 + 500) == client_token_error::expired);
}

TEST_CASE("T1 lifetime may reach 30 days and no further") {
  const std::string base = sid_field() + "&create_time=" + s(t0) + "&role=publisher&nonce=1";
  CHECK(check(t1(base + "&expire_time=" + s(t0 + 30 * 86400))).has_value());
  CHECK(error_of(t1(base + "&expire_time=" + s(t0 + 30 * 86400 + 1))) ==
        client_token_error::malformed);
}

TEST_CASE("T1 connection data is limited to 1024 characters") {
  const std::string base = sid_field() + "&create_time=" + s(t0) + "&role=publisher&nonce=1";
  CHECK(check(t1(base + "&connection_data=" + std::string(1024, 'x'))).has_value());
  CHECK(error_of(t1(base + "&connection_data=" + std::string(1025, 'x'))) ==
        client_token_error::data_too_large);
  // Characters, not bytes: 1024 two-byte characters fit (NODE and PY count characters).
  std::string wide;
  for (int i = 0; i < 1024; ++i) wide += "%C3%A9";
  CHECK(check(t1(base + "&connection_data=" + wide)).has_value());
  CHECK(error_of(t1(base + "&connection_data=" + wide + "%C3%A9")) ==
        client_token_error::data_too_large);
}

TEST_CASE("T1 tokens that cannot be decoded or parsed are malformed") {
  const std::string ok = sid_field() + "&create_time=" + s(t0) + "&role=publisher&nonce=1";
  CHECK(error_of("T1==") == client_token_error::malformed);
  CHECK(error_of("T1==!!!!") == client_token_error::malformed);
  CHECK(error_of("T1==" + base64_encode("partner_id=123456&sig=abc")) ==
        client_token_error::malformed); // no ':'
  CHECK(error_of("T1==" + base64_encode("partner_id=123456:" + ok)) ==
        client_token_error::malformed); // no sig
  CHECK(error_of("T1==" + base64_encode("sig=00:" + ok)) == client_token_error::malformed);
  CHECK(error_of("T1==" + base64_encode("partner_id=123456&partner_id=123456&sig=00:" + ok)) ==
        client_token_error::malformed);
  CHECK(error_of(t1(ok + "&connection_data=%zz")) == client_token_error::malformed);
  CHECK(error_of(t1(ok + "&role=moderator")) == client_token_error::malformed); // duplicate
  CHECK(error_of(t1("create_time=" + s(t0) + "&role=publisher")) == client_token_error::malformed);
  CHECK(error_of(t1(sid_field() + "&role=publisher")) == client_token_error::malformed);
  CHECK(error_of(t1(sid_field() + "&create_time=soon")) == client_token_error::malformed);
  CHECK(error_of(t1(sid_field() + "&create_time=-5")) == client_token_error::malformed);
  CHECK(error_of(t1(ok + "&expire_time=1e9")) == client_token_error::malformed);
  CHECK(error_of("T1==" + std::string(30 * 1024, 'A')) == client_token_error::malformed);
}

TEST_CASE("T1 takes a fractional create_time and an empty expire_time leniently") {
  const auto ct = check(t1(sid_field() + "&create_time=" + s(t0) + ".25&expire_time=&nonce=1"));
  REQUIRE(ct.has_value());
  CHECK(ct->create_time == t0);
  CHECK(ct->expire_time == t0 + 86400);
  CHECK(ct->role == Role::publisher);
}

// ---- JWT --------------------------------------------------------------------------------------

TEST_CASE("JWT from NODE (make_jwt_token claim set) validates") {
  const std::string token = make_jwt_token(key, secret, sid, Role::moderator, t0, t0 + 3600,
                                           "name=Ann", "0.123", {"focus", "full"});
  const auto decoded = jwt_decode_hs256(token, secret);
  REQUIRE(decoded.has_value());
  const auto& p = decoded->payload;
  for (const char* claim : {"iss", "ist", "iat", "exp", "session_id", "create_time", "expire_time",
                            "nonce", "role", "initial_layout_class_list", "scope",
                            "connection_data"}) {
    CHECK(p.contains(claim));
  }
  CHECK(p.at("nonce").is_double());
  const auto ct = check(token);
  REQUIRE(ct.has_value());
  CHECK_FALSE(ct->legacy_t1);
  CHECK(ct->role == Role::moderator);
  CHECK(ct->connection_data == "name=Ann");
  CHECK(ct->create_time == t0);
  CHECK(ct->expire_time == t0 + 3600);
  CHECK(ct->layout_classes == std::vector<std::string>{"focus", "full"});
}

TEST_CASE("JWT from NODE as its library writes it, with empty layout list") {
  const std::string p = R"({"iss":"123456","ist":"project","iat":)" + s(t0) + R"(,"exp":)" +
                        s(t0 + 86400) + R"(,"session_id":")" + std::string(sid) +
                        R"(","create_time":)" + s(t0) + R"(,"expire_time":)" + s(t0 + 86400) +
                        R"(,"nonce":0.7135,"role":"publisher","initial_layout_class_list":"",)" +
                        R"("scope":"session.connect"})";
  const auto ct = check(jwt(p));
  REQUIRE(ct.has_value());
  CHECK(ct->layout_classes.empty());
  CHECK(ct->connection_data.empty());
}

TEST_CASE("JWT from PY with subscriber role and a string layout list") {
  const std::string p = R"({"session_id":")" + std::string(sid) + R"(","role":"subscriber","iat":)" +
                        s(t0) + R"(,"exp":)" + s(t0 + 600) +
                        R"(,"scope":"session.connect","iss":"123456","ist":"project",)" +
                        R"("nonce":684735,"initial_layout_class_list":"focus","connection_data":"py"})";
  const auto ct = check(jwt(p));
  REQUIRE(ct.has_value());
  CHECK(ct->role == Role::subscriber);
  CHECK(ct->expire_time == t0 + 600);
  CHECK(ct->layout_classes == std::vector<std::string>{"focus"});
  CHECK(ct->connection_data == "py");
}

TEST_CASE("JWT from JAVA with jti, a header without typ and an array layout list") {
  const std::string p = R"({"session_id":")" + std::string(sid) +
                        R"(","nonce":"8e0f1c","role":"publisher","scope":"session.connect",)" +
                        R"("initial_layout_class_list":["focus","full"],"connection_data":"j",)" +
                        R"("ist":"project","iss":"123456","jti":"5f1d7a2e-0b7c-4b8e-9f8a-1c2d3e4f5a6b",)" +
                        R"("exp":)" + s(t0 + 900) + R"(,"iat":)" + s(t0) + "}";
  const auto ct = check(jwt(p, R"({"alg":"HS256"})"));
  REQUIRE(ct.has_value());
  CHECK(ct->layout_classes == std::vector<std::string>{"focus", "full"});
  CHECK(ct->expire_time == t0 + 900);
}

TEST_CASE("JWT from RUBY without exp expires 24 hours after iat") {
  const std::string p = R"({"iss":"123456","ist":"project","iat":)" + s(t0) +
                        R"(,"nonce":0.55,"role":"moderator","scope":"session.connect",)" +
                        R"("session_id":")" + std::string(sid) + R"("})";
  const auto ct = check(jwt(p, R"({"ist":"project","alg":"HS256"})"));
  REQUIRE(ct.has_value());
  CHECK(ct->create_time == t0);
  CHECK(ct->expire_time == t0 + 86400);
  CHECK(error_of(jwt(p), t0 + 86400) == client_token_error::expired);
}

TEST_CASE("JWT from PHP: integer iss, null stray fields, URL-encoded layout list, no exp") {
  const std::string p = R"({"iss":123456,"iat":)" + s(t0) + R"(,"session_id":")" +
                        std::string(sid) +
                        R"(","role":"publisher","ist":"project","nonce":"1700000000.1234567",)" +
                        R"("scope":"session.connect","data":null,"expireTime":null,)" +
                        R"("connection_data":null,"initial_layout_class_list":"focus+full%20big"})";
  const auto ct = check(jwt(p));
  REQUIRE(ct.has_value());
  CHECK(ct->expire_time == t0 + 86400);
  CHECK(ct->connection_data.empty());
  CHECK(ct->layout_classes == std::vector<std::string>{"focus", "full", "big"});
}

TEST_CASE("JWT without role is a publisher and without scope is accepted") {
  const std::string p = R"({"iss":"123456","iat":)" + s(t0) + R"(,"session_id":")" +
                        std::string(sid) + R"("})";
  const auto ct = check(jwt(p));
  REQUIRE(ct.has_value());
  CHECK(ct->role == Role::publisher);
}

TEST_CASE("JWT rejections map to client token errors") {
  const auto body = [](std::string_view extra) {
    return R"({"iss":"123456","iat":)" + s(t0) + R"(,"session_id":")" + std::string(sid) + "\"" +
           std::string(extra) + "}";
  };
  CHECK(error_of(jwt(body(""), R"({"alg":"HS256"})", "wrong")) == client_token_error::bad_signature);
  CHECK(error_of(jwt(body(""), R"({"alg":"none"})")) == client_token_error::malformed);
  CHECK(error_of("not-a-token") == client_token_error::malformed);
  CHECK(error_of("") == client_token_error::malformed);
  CHECK(error_of(jwt(R"({"iss":"654321","iat":1,"session_id":"x"})")) ==
        client_token_error::wrong_project);
  CHECK(error_of(jwt(R"({"iss":654321,"iat":1,"session_id":"x"})")) ==
        client_token_error::wrong_project);
  CHECK(error_of(jwt(R"({"iat":1,"session_id":"x"})")) == client_token_error::malformed);
  CHECK(error_of(jwt(R"({"iss":["123456"],"iat":1})")) == client_token_error::malformed);
  CHECK(error_of(jwt(R"({"iss":"123456","iat":)" + s(t0) + R"(,"session_id":"1_other"})")) ==
        client_token_error::wrong_session);
  CHECK(error_of(jwt(R"({"iss":"123456","iat":)" + s(t0) + "}")) == client_token_error::malformed);
  CHECK(error_of(jwt(body(R"(,"scope":"session.admin")"))) == client_token_error::bad_scope);
  CHECK(error_of(jwt(body(R"(,"scope":1)"))) == client_token_error::bad_scope);
  CHECK(error_of(jwt(body(R"(,"role":"owner")"))) == client_token_error::invalid_role);
  CHECK(error_of(jwt(body(R"(,"role":1)"))) == client_token_error::invalid_role);
  CHECK(error_of(jwt(body(R"(,"exp":)" + s(t0 + 50))), t0 + 50) == client_token_error::expired);
  CHECK(error_of(jwt(body(R"(,"exp":)" + s(t0 + 30 * 86400 + 1)))) ==
        client_token_error::malformed);
  CHECK(check(jwt(body(R"(,"exp":)" + s(t0 + 30 * 86400)))).has_value());
  CHECK(error_of(jwt(body(R"(,"exp":1700000000.5)"))) == client_token_error::malformed);
  CHECK(error_of(jwt(body(R"(,"exp":"1700003600")"))) == client_token_error::malformed);
  CHECK(error_of(jwt(body(R"(,"connection_data":{"a":1})"))) == client_token_error::malformed);
  CHECK(error_of(jwt(body(R"(,"connection_data":")" + std::string(1025, 'x') + "\""))) ==
        client_token_error::data_too_large);
  CHECK(error_of(jwt(body(R"(,"initial_layout_class_list":[1])"))) ==
        client_token_error::malformed);
  CHECK(error_of(jwt(R"({"iss":"123456","session_id":")" + std::string(sid) + R"("})")) ==
        client_token_error::malformed); // no iat nor create_time
  CHECK(error_of(jwt(R"({"iss":"123456","iat":9223372036854775807,"session_id":")" +
                     std::string(sid) + R"("})")) == client_token_error::malformed);
}

TEST_CASE("JWT iat in the far past with exp set still obeys the 30-day lifetime rule") {
  const std::string p = R"({"iss":"123456","iat":-9223372036854775807,"exp":)" + s(t0 + 10) +
                        R"(,"session_id":")" + std::string(sid) + R"("})";
  CHECK(error_of(jwt(p)) == client_token_error::malformed);
}

// ---- shared -----------------------------------------------------------------------------------

TEST_CASE("roles convert to and from their SDK names") {
  for (const Role r : {Role::publisher, Role::subscriber, Role::moderator, Role::publisheronly}) {
    CHECK(role_from_string(to_string(r)) == r);
  }
  CHECK_FALSE(role_from_string(""));
  CHECK_FALSE(role_from_string("PUBLISHER"));
  CHECK(to_string(Role::publisheronly) == "publisheronly");
}

TEST_CASE("generated T1 and JWT tokens round-trip through the validator") {
  for (const Role r : {Role::publisher, Role::subscriber, Role::moderator, Role::publisheronly}) {
    for (const bool legacy : {true, false}) {
      const std::string data = "{\"name\":\"Zoë & Co\",\"n\":1}";
      const std::string token =
          legacy ? make_t1_token(key, secret, sid, r, t0, t0 + 600, data, "-42", {"a", "b"})
                 : make_jwt_token(key, secret, sid, r, t0, t0 + 600, data, "nonce-x", {"a", "b"});
      const auto ct = check(token);
      REQUIRE(ct.has_value());
      CHECK(ct->legacy_t1 == legacy);
      CHECK(ct->role == r);
      CHECK(ct->connection_data == data);
      CHECK(ct->layout_classes == std::vector<std::string>{"a", "b"});
      CHECK(ct->expire_time == t0 + 600);
      CHECK(validate_client_token(token, key, "other secret", sid, now).error() ==
            client_token_error::bad_signature);
    }
  }
}

TEST_CASE("client token error messages never echo token contents") {
  const std::string data = sid_field() + "&create_time=" + s(t0) + "&role=admin&nonce=SECRETNONCE";
  const auto r = check(t1(data));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("SECRETNONCE") == std::string::npos);
  CHECK(r.error().message().find("admin") == std::string::npos);
  CHECK(std::string(r.error().category().name()) == "sb.client_token");
}
