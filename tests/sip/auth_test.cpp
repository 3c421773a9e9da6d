// SIP Digest authentication: tests for src/sip/auth.{hpp,cpp}.
//
// Known answers come from the RFCs' own examples (RFC 2617 §3.5, RFC 7616 §3.9.1, RFC 2069 §2.4
// as corrected by its errata). The SIP-shaped cases are checked against HA1/HA2/response values
// that each test builds by hand from the RFC formulas with sb::md5 / sb::sha256, so they do not
// share a code path with the implementation.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <ostream> // doctest prints std::error_code
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.hpp"
#include "base/encoding.hpp"
#include "sip/auth.hpp"
#include "sip/message.hpp"

using namespace sb::sip;
using namespace std::literals;

namespace {

std::string md5_hex(std::string_view s) { return sb::to_hex(sb::md5(s)); }
std::string sha256_hex(std::string_view s) { return sb::to_hex(sb::sha256(s)); }

DigestChallenge must_parse(std::string_view value, bool proxy = false) {
  DigestChallenge c;
  const auto ec = parse_challenge(value, proxy, c);
  REQUIRE_MESSAGE(!ec, ec.message());
  return c;
}

std::error_code parse_error(std::string_view value) {
  DigestChallenge c;
  return parse_challenge(value, false, c);
}

/// The auth-params of a credentials value we produced, unquoted, read with message.hpp's parser
/// (not ours), so the tests see what a server would see.
std::map<std::string, std::string> params_of(std::string_view value) {
  std::map<std::string, std::string> out;
  const auto a = parse_auth(value);
  REQUIRE(a.has_value());
  CHECK(a->scheme == "Digest");
  AuthParamCursor cur(a->params);
  while (const auto p = cur.next()) {
    std::string v;
    if (p->quoted) {
      REQUIRE(append_unquoted(v, p->value));
    } else {
      v.assign(p->value);
    }
    CHECK_MESSAGE(out.count(std::string(p->name)) == 0, "parameter sent twice: ", p->name);
    out[std::string(p->name)] = v;
  }
  CHECK_FALSE(cur.malformed());
  return out;
}

/// A parsed response that owns its bytes (views into it survive moves).
struct Parsed : Message {
  std::unique_ptr<const std::string> wire;
};

Parsed parse_response(std::string_view status_line, std::initializer_list<std::string_view> extra) {
  std::string s(status_line);
  s += "\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n"
       "From: <sip:alice@atlanta.com>;tag=1928301774\r\n"
       "To: <sip:bob@biloxi.com>;tag=a6c85cf\r\n"
       "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
       "CSeq: 314159 INVITE\r\n";
  for (auto h : extra) s.append(h).append("\r\n");
  s += "Content-Length: 0\r\n\r\n";
  Parsed p;
  p.wire = std::make_unique<const std::string>(std::move(s));
  const auto r = parse_message(*p.wire, p, {}, false);
  REQUIRE_MESSAGE(r.status == parse_status::ok, r.reason);
  return p;
}

// RFC 7616 §3.9.1 inputs (errata 4495: the password really is "Circle of Life", lowercase "of").
constexpr std::string_view k_7616_nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
constexpr std::string_view k_7616_opaque = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
constexpr std::string_view k_7616_cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

std::string rfc7616_challenge(std::string_view algorithm) {
  return "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=" +
         std::string(algorithm) + ", nonce=\"" + std::string(k_7616_nonce) + "\", opaque=\"" +
         std::string(k_7616_opaque) + "\"";
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Known answers from the RFCs

TEST_CASE("RFC 2617 §3.5 example: Mufasa's MD5 answer with qop=auth, byte for byte") {
  const auto ch = must_parse(
      "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  const auto v = authorization_value(ch, {"Mufasa", "Circle Of Life"}, "GET", "/dir/index.html",
                                     "", 1, "0a4f113b");
  CHECK(v == "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
             "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
             "response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", "
             "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001");
}

TEST_CASE("RFC 7616 §3.9.1 example: SHA-256 answer") {
  const auto ch = must_parse(rfc7616_challenge("SHA-256"));
  CHECK(ch.algorithm == Algorithm::sha256);
  const auto p = params_of(authorization_value(ch, {"Mufasa", "Circle of Life"}, "GET",
                                               "/dir/index.html", "", 1, k_7616_cnonce));
  CHECK(p.at("response") == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
  CHECK(p.at("algorithm") == "SHA-256");
  CHECK(p.at("qop") == "auth");
  CHECK(p.at("nc") == "00000001");
  CHECK(p.at("cnonce") == k_7616_cnonce);
  CHECK(p.at("opaque") == k_7616_opaque);
  CHECK(p.at("uri") == "/dir/index.html");
}

TEST_CASE("RFC 7616 §3.9.1 example: MD5 answer") {
  const auto ch = must_parse(rfc7616_challenge("MD5"));
  const auto p = params_of(authorization_value(ch, {"Mufasa", "Circle of Life"}, "GET",
                                               "/dir/index.html", "", 1, k_7616_cnonce));
  CHECK(p.at("response") == "8ca523f5e9506fed4657c9700eebdbec");
  CHECK(p.at("algorithm") == "MD5");
}

TEST_CASE("RFC 2069 §2.4 example (errata value): no qop gives the compatibility form") {
  // The RFC prints e966c932…; its errata corrects the value to 1949323746fe6a43ef61f9606e7febea.
  const auto ch = must_parse(
      "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  CHECK_FALSE(ch.qop_auth);
  CHECK_FALSE(ch.qop_auth_int);
  const auto v = authorization_value(ch, {"Mufasa", "CircleOfLife"}, "GET", "/dir/index.html", "",
                                     1, "ignored-cnonce");
  CHECK(v == "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
             "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
             "response=\"1949323746fe6a43ef61f9606e7febea\", algorithm=MD5, "
             "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  CHECK(v.find("cnonce") == std::string::npos);
  CHECK(v.find("nc=") == std::string::npos);
  CHECK(v.find("qop") == std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// SIP-shaped computations against values built by hand from the formulas

TEST_CASE("SIP INVITE answer equals KD(H(A1), nonce:nc:cnonce:qop:H(A2)) built by hand") {
  // RFC 3261 §22.4 / RFC 2617 §3.2.2.1: A1 = user:realm:password, A2 = Method:Request-URI.
  const auto ch = must_parse(
      "Digest realm=\"biloxi.com\", qop=\"auth,auth-int\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
      true);
  CHECK(ch.proxy);
  const std::string ha1 = md5_hex("bob:biloxi.com:zanzibar");
  const std::string ha2 = md5_hex("INVITE:sip:bob@biloxi.com");
  const std::string expected =
      md5_hex(ha1 + ":dcd98b7102dd2f0e8b11d0f600bfb0c093:0000002a:0a4f113b:auth:" + ha2);
  const auto p = params_of(authorization_value(ch, {"bob", "zanzibar"}, "INVITE",
                                               "sip:bob@biloxi.com", "v=0\r\n", 42, "0a4f113b"));
  CHECK(p.at("response") == expected);
  CHECK(p.at("nc") == "0000002a"); // 8LHEX: lowercase hex
  CHECK(p.at("username") == "bob");
  CHECK(p.at("realm") == "biloxi.com");
  CHECK(p.at("uri") == "sip:bob@biloxi.com");
}

TEST_CASE("SHA-256 SIP answer equals the hand-built value") {
  const auto ch = must_parse(
      "Digest realm=\"sip.example.net\", algorithm=SHA-256, qop=\"auth\", nonce=\"n0nce\"");
  const std::string ha1 = sha256_hex("alice:sip.example.net:s3cr3t");
  const std::string ha2 = sha256_hex("REGISTER:sip:sip.example.net");
  const std::string expected = sha256_hex(ha1 + ":n0nce:00000001:c1:auth:" + ha2);
  const auto p = params_of(authorization_value(ch, {"alice", "s3cr3t"}, "REGISTER",
                                               "sip:sip.example.net", "", 1, "c1"));
  CHECK(p.at("response") == expected);
  CHECK(p.count("opaque") == 0); // none offered, none sent
}

TEST_CASE("MD5-sess: HA1 = H(H(user:realm:password):nonce:cnonce)") {
  const auto ch = must_parse(
      "Digest realm=\"biloxi.com\", algorithm=MD5-sess, qop=\"auth\", nonce=\"abc123\"");
  CHECK(ch.algorithm == Algorithm::md5_sess);
  const std::string ha1 = md5_hex(md5_hex("bob:biloxi.com:zanzibar") + ":abc123:cn0");
  const std::string ha2 = md5_hex("BYE:sip:bob@192.0.2.4");
  const std::string expected = md5_hex(ha1 + ":abc123:00000003:cn0:auth:" + ha2);
  const auto p = params_of(authorization_value(ch, {"bob", "zanzibar"}, "BYE",
                                               "sip:bob@192.0.2.4", "", 3, "cn0"));
  CHECK(p.at("response") == expected);
  CHECK(p.at("algorithm") == "MD5-sess");
}

TEST_CASE("SHA-256-sess: HA1 = H(H(user:realm:password):nonce:cnonce)") {
  const auto ch = must_parse(
      "Digest realm=\"biloxi.com\", algorithm=sha-256-SESS, qop=\"auth\", nonce=\"abc123\"");
  CHECK(ch.algorithm == Algorithm::sha256_sess);
  const std::string ha1 = sha256_hex(sha256_hex("bob:biloxi.com:zanzibar") + ":abc123:cn0");
  const std::string ha2 = sha256_hex("INVITE:sip:bob@biloxi.com");
  const std::string expected = sha256_hex(ha1 + ":abc123:00000001:cn0:auth:" + ha2);
  const auto p = params_of(authorization_value(ch, {"bob", "zanzibar"}, "INVITE",
                                               "sip:bob@biloxi.com", "", 1, "cn0"));
  CHECK(p.at("response") == expected);
  CHECK(p.at("algorithm") == "SHA-256-sess");
}

TEST_CASE("no qop in a SIP challenge: response = H(HA1:nonce:HA2), no cnonce/nc/qop sent") {
  const auto ch = must_parse("Digest realm=\"asterisk\", nonce=\"4f2b1a\"");
  const std::string expected =
      md5_hex(md5_hex("1001:asterisk:pw") + ":4f2b1a:" + md5_hex("INVITE:sip:600@pbx.example"));
  const auto p = params_of(authorization_value(ch, {"1001", "pw"}, "INVITE", "sip:600@pbx.example",
                                               "", 1, "unused"));
  CHECK(p.at("response") == expected);
  CHECK(p.count("cnonce") == 0);
  CHECK(p.count("nc") == 0);
  CHECK(p.count("qop") == 0);
}

TEST_CASE("auth-int covers the body: HA2 = H(Method:uri:H(body))") {
  const auto ch = must_parse("Digest realm=\"biloxi.com\", qop=\"auth-int\", nonce=\"n1\"");
  const std::string body = "v=0\r\no=bob 2890844526 2890844526 IN IP4 192.0.2.4\r\ns=-\r\n";
  const std::string ha1 = md5_hex("bob:biloxi.com:zanzibar");
  const std::string ha2 = md5_hex("INVITE:sip:bob@biloxi.com:" + md5_hex(body));
  const std::string expected = md5_hex(ha1 + ":n1:00000001:cn:auth-int:" + ha2);
  const Credentials bob{"bob", "zanzibar"};
  const auto p = params_of(
      authorization_value(ch, bob, "INVITE", "sip:bob@biloxi.com", body, 1, "cn"));
  CHECK(p.at("qop") == "auth-int");
  CHECK(p.at("response") == expected);

  SUBCASE("an empty body hashes the empty string") {
    const std::string ha2_empty = md5_hex("BYE:sip:bob@biloxi.com:" + md5_hex(""));
    const auto q =
        params_of(authorization_value(ch, bob, "BYE", "sip:bob@biloxi.com", "", 2, "cn"));
    CHECK(q.at("response") == md5_hex(ha1 + ":n1:00000002:cn:auth-int:" + ha2_empty));
  }
  SUBCASE("a different body changes the response") {
    const auto q = params_of(
        authorization_value(ch, bob, "INVITE", "sip:bob@biloxi.com", body + "x", 1, "cn"));
    CHECK(q.at("response") != expected);
  }
}

TEST_CASE("qop=auth is chosen when both are offered; auth-int only when auth is not") {
  const Credentials c{"u", "p"};
  const auto both = must_parse("Digest realm=\"r\", qop=\"auth-int, auth\", nonce=\"n\"");
  CHECK(params_of(authorization_value(both, c, "INVITE", "sip:x@y", "body", 1, "c")).at("qop") ==
        "auth");
  const auto only_int = must_parse("Digest realm=\"r\", qop=\"auth-int\", nonce=\"n\"");
  CHECK(params_of(authorization_value(only_int, c, "INVITE", "sip:x@y", "", 1, "c")).at("qop") ==
        "auth-int");
}

TEST_CASE("username and realm are quote-escaped, and hashed unescaped") {
  // realm on the wire: "say \"hi\" \\ bye" → say "hi" \ bye
  const auto ch = must_parse(R"(Digest realm="say \"hi\" \\ bye", nonce="n", qop="auth")");
  CHECK(ch.realm == R"(say "hi" \ bye)");
  const std::string user = R"(o"neil\x)";
  const auto v = authorization_value(ch, {user, "pw"}, "INVITE", "sip:a@b", "", 1, "c");
  CHECK(v.find(R"(username="o\"neil\\x")") != std::string::npos);
  CHECK(v.find(R"(realm="say \"hi\" \\ bye")") != std::string::npos);
  const auto p = params_of(v);
  CHECK(p.at("username") == user);
  CHECK(p.at("realm") == ch.realm);
  const std::string ha1 = md5_hex(user + ":" + ch.realm + ":pw");
  CHECK(p.at("response") ==
        md5_hex(ha1 + ":n:00000001:c:auth:" + md5_hex("INVITE:sip:a@b")));
}

TEST_CASE("a CR, LF or NUL in a value to be sent yields no header at all") {
  const auto ch = must_parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth\"");
  CHECK(authorization_value(ch, {"bob\r\nX-Evil: 1", "p"}, "INVITE", "sip:a@b", "", 1, "c") == "");
  CHECK(authorization_value(ch, {"bob", "p"}, "INVITE", "sip:a@b\n", "", 1, "c") == "");
  CHECK(authorization_value(ch, {"bob", "p"}, "INVITE", "sip:a@b", "", 1, "c\0"sv) == "");
  // The password is only hashed, never sent: any byte is fine there.
  CHECK(authorization_value(ch, {"bob", "p\r\n\0"s}, "INVITE", "sip:a@b", "", 1, "c") != "");
  // A hand-built challenge is checked too.
  DigestChallenge bad = ch;
  bad.opaque = "x\ry";
  bad.has_opaque = true;
  CHECK(authorization_value(bad, {"bob", "p"}, "INVITE", "sip:a@b", "", 1, "c") == "");
}

// ---------------------------------------------------------------------------------------------
// Challenge parsing

TEST_CASE("challenge fields are parsed: realm, nonce, opaque, algorithm, qop, stale, proxy") {
  const auto c = must_parse(
      "Digest realm=\"atlanta.com\", domain=\"sip:boxesbybob.com sip:ss1.carrier.com\", "
      "qop=\"auth,auth-int\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", "
      "stale=TRUE, algorithm=SHA-256",
      true);
  CHECK(c.realm == "atlanta.com");
  CHECK(c.nonce == "f84f1cec41e6cbe5aea9c8e88d359");
  CHECK(c.has_opaque);
  CHECK(c.opaque.empty());
  CHECK(c.algorithm == Algorithm::sha256);
  CHECK(c.qop_auth);
  CHECK(c.qop_auth_int);
  CHECK(c.stale);
  CHECK(c.proxy);
}

TEST_CASE("an empty opaque is echoed back; an absent one is not") {
  const Credentials u{"u", "p"};
  const auto with = must_parse("Digest realm=\"r\", nonce=\"n\", opaque=\"\"");
  CHECK(params_of(authorization_value(with, u, "INVITE", "sip:a@b", "", 1, "c")).count("opaque") ==
        1);
  const auto without = must_parse("Digest realm=\"r\", nonce=\"n\"");
  CHECK_FALSE(without.has_opaque);
  CHECK(params_of(authorization_value(without, u, "INVITE", "sip:a@b", "", 1, "c"))
            .count("opaque") == 0);
}

TEST_CASE("defaults: no algorithm means MD5, no stale means not stale, no qop means none") {
  const auto c = must_parse("Digest realm=\"r\", nonce=\"n\"");
  CHECK(c.algorithm == Algorithm::md5);
  CHECK_FALSE(c.stale);
  CHECK_FALSE(c.qop_auth);
  CHECK_FALSE(c.qop_auth_int);
  CHECK_FALSE(c.proxy);
}

TEST_CASE("commas inside quoted values do not split parameters") {
  const auto c = must_parse("Digest realm=\"IP Camera(C1234), main, x=y\", nonce=\"a,b\", "
                            "qop=\"auth-int , auth\"");
  CHECK(c.realm == "IP Camera(C1234), main, x=y");
  CHECK(c.nonce == "a,b");
  CHECK(c.qop_auth);
  CHECK(c.qop_auth_int);
}

TEST_CASE("escaped quotes and backslashes in quoted values are unescaped") {
  const auto c = must_parse(R"(Digest realm="a\"b\\c", nonce="\q\"")");
  CHECK(c.realm == R"(a"b\c)");
  CHECK(c.nonce == R"(q")");
}

TEST_CASE("scheme, parameter names and tokens are case-insensitive") {
  const auto c = must_parse(
      "DIGEST REALM=\"Biloxi.COM\", NONCE=\"AbC\", ALGORITHM=sha-256, QOP=\"AUTH\", "
      "Stale=true, OPAQUE=\"Op\"");
  CHECK(c.realm == "Biloxi.COM"); // values keep their case
  CHECK(c.nonce == "AbC");
  CHECK(c.opaque == "Op");
  CHECK(c.algorithm == Algorithm::sha256);
  CHECK(c.qop_auth);
  CHECK(c.stale);
  CHECK(must_parse("digest realm=\"r\", nonce=\"n\", algorithm=md5-SESS, qop=auth").algorithm ==
        Algorithm::md5_sess);
}

TEST_CASE("token values, quoted algorithm and odd spacing are accepted") {
  const auto c = must_parse("Digest  realm=asterisk ,nonce=4f2b1a,algorithm=\"SHA-256\","
                            "qop=auth,opaque=abc   ");
  CHECK(c.realm == "asterisk");
  CHECK(c.nonce == "4f2b1a");
  CHECK(c.algorithm == Algorithm::sha256);
  CHECK(c.qop_auth);
  CHECK_FALSE(c.qop_auth_int);
  CHECK(c.opaque == "abc");
}

TEST_CASE("stale is true only for TRUE in any case") {
  CHECK(must_parse("Digest realm=\"r\", nonce=\"n\", stale=true").stale);
  CHECK(must_parse("Digest realm=\"r\", nonce=\"n\", stale=\"TRUE\"").stale);
  CHECK_FALSE(must_parse("Digest realm=\"r\", nonce=\"n\", stale=FALSE").stale);
  CHECK_FALSE(must_parse("Digest realm=\"r\", nonce=\"n\", stale=yes").stale);
}

TEST_CASE("unknown parameters and qop values are ignored") {
  const auto c = must_parse("Digest realm=\"r\", charset=UTF-8, userhash=false, nonce=\"n\", "
                            "x-ext=\"a, \\\"b\\\"\", qop=\"auth-conf, auth, token\"");
  CHECK(c.qop_auth);
  CHECK_FALSE(c.qop_auth_int);
}

TEST_CASE("a folded challenge value parses as one line") {
  const auto c = must_parse("Digest realm=\"biloxi.com\",\r\n nonce=\"n1\",\r\n\tqop=\"auth\"");
  CHECK(c.realm == "biloxi.com");
  CHECK(c.nonce == "n1");
  CHECK(c.qop_auth);
}

TEST_CASE("missing or broken challenges are errors, each with its own code") {
  CHECK(parse_error("Digest realm=\"r\", qop=\"auth\"") == auth_error::missing_nonce);
  CHECK(parse_error("Digest nonce=\"n\"") == auth_error::missing_realm);
  CHECK(parse_error("Basic realm=\"r\"") == auth_error::not_digest);
  CHECK(parse_error("Bearer mF_9.B5f-4.1JqM") == auth_error::not_digest);
  CHECK(parse_error("NTLM") == auth_error::not_digest);
  CHECK(parse_error("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256") ==
        auth_error::unsupported_algorithm);
  CHECK(parse_error("Digest realm=\"r\", nonce=\"n\", algorithm=AKAv1-MD5") ==
        auth_error::unsupported_algorithm);
  CHECK(parse_error("Digest realm=\"r\", nonce=\"n\", qop=\"auth-conf\"") ==
        auth_error::unsupported_qop);
  CHECK(parse_error("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess") ==
        auth_error::unsupported_qop);
  CHECK(parse_error("Digest realm=\"r\", nonce=\"n\", nonce=\"m\"") == auth_error::duplicate_param);
  CHECK(parse_error("Digest realm=\"r\", REALM=\"s\", nonce=\"n\"") == auth_error::duplicate_param);
  CHECK(parse_error("Digest") == auth_error::malformed);
  CHECK(parse_error("") == auth_error::malformed);
  CHECK(parse_error("Digest realm=\"unterminated, nonce=\"n\"") == auth_error::malformed);
  CHECK(parse_error("Digest realm=\"r\" nonce=\"n\"") == auth_error::malformed);
  CHECK(parse_error("Digest realm=\"r\",, nonce=\"n\"") == auth_error::malformed);
  CHECK(parse_error("Digest realm=\"a\\\0b\", nonce=\"n\""sv) == auth_error::malformed);
  CHECK(parse_error("Digest realm=\"r\", nonce=\"" + std::string(k_max_challenge_size, 'a') +
                    "\"") == auth_error::too_large);
}

TEST_CASE("a failed parse leaves the output untouched") {
  DigestChallenge c;
  c.realm = "kept";
  CHECK(parse_challenge("Digest realm=\"x\"", false, c) == auth_error::missing_nonce);
  CHECK(c.realm == "kept");
}

TEST_CASE("auth_error codes have the sip.auth category and readable messages") {
  const std::error_code ec = auth_error::wrong_credentials;
  CHECK(ec.category().name() == "sip.auth"sv);
  CHECK(ec.category() == auth_category());
  for (int e = static_cast<int>(auth_error::malformed);
       e <= static_cast<int>(auth_error::unsafe_value); ++e)
    CHECK(make_error_code(static_cast<auth_error>(e)).message().find("unknown") ==
          std::string::npos);
  CHECK(to_string(Algorithm::sha256_sess) == "SHA-256-sess");
}

// ---------------------------------------------------------------------------------------------
// Choosing among several challenges (RFC 8760 §2.4)

TEST_CASE("several challenges: SHA-256 is chosen over MD5 wherever it is listed") {
  const std::string md5 = "Digest realm=\"r\", nonce=\"n-md5\", qop=\"auth\", algorithm=MD5";
  const std::string sha = "Digest realm=\"r\", nonce=\"n-sha\", qop=\"auth\", algorithm=SHA-256";
  for (const auto& order : {std::vector<std::string_view>{md5, sha},
                            std::vector<std::string_view>{sha, md5}}) {
    DigestChallenge c;
    REQUIRE_FALSE(choose_challenge(order, false, c));
    CHECK(c.algorithm == Algorithm::sha256);
    CHECK(c.nonce == "n-sha");
  }
}

TEST_CASE("several challenges: equal strength keeps the topmost, unsupported ones are skipped") {
  const std::vector<std::string_view> values{
      "Digest realm=\"r\", nonce=\"n512\", qop=\"auth\", algorithm=SHA-512-256",
      "Basic realm=\"r\"",
      "Digest realm=\"r\", nonce=\"first\", qop=\"auth\", algorithm=MD5",
      "Digest realm=\"r\", nonce=\"second\", qop=\"auth\", algorithm=MD5-sess",
  };
  DigestChallenge c;
  REQUIRE_FALSE(choose_challenge(values, true, c));
  CHECK(c.nonce == "first");
  CHECK(c.proxy);
}

TEST_CASE("several challenges: none usable reports why") {
  DigestChallenge c;
  CHECK(choose_challenge({}, false, c) == auth_error::no_challenge);
  const std::vector<std::string_view> basic{"Basic realm=\"r\"", "Bearer abc"};
  CHECK(choose_challenge(basic, false, c) == auth_error::not_digest);
  const std::vector<std::string_view> mixed{
      "Basic realm=\"r\"", "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256",
      "Digest realm=\"r\""};
  CHECK(choose_challenge(mixed, false, c) == auth_error::unsupported_algorithm);
}

// ---------------------------------------------------------------------------------------------
// DigestSession: caching, nc, cnonce and the retry policy

namespace {

constexpr std::string_view k_uri = "sip:bob@biloxi.com";

std::vector<CredentialsHeader> must_authorize(DigestSession& s, std::string_view method = "INVITE",
                                              std::string_view body = "") {
  std::vector<CredentialsHeader> out;
  const auto ec = s.authorize(method, k_uri, body, out);
  REQUIRE_MESSAGE(!ec, ec.message());
  return out;
}

DigestSession::Next challenge(DigestSession& s, std::string_view value, bool proxy = false) {
  const std::string_view values[] = {value};
  return s.on_challenge(values, proxy);
}

} // namespace

TEST_CASE("session: nothing is sent before the first challenge") {
  DigestSession s({"bob", "zanzibar"});
  CHECK(must_authorize(s).empty());
  CHECK(s.cached_realms() == 0);
}

TEST_CASE("session: a 401 is answered with a verifiable Authorization") {
  DigestSession s({"bob", "zanzibar"});
  REQUIRE(challenge(s, "Digest realm=\"biloxi.com\", nonce=\"n1\", qop=\"auth\", opaque=\"o\"") ==
          DigestSession::Next::retry);
  CHECK_FALSE(s.last_error());
  const auto h = must_authorize(s);
  REQUIRE(h.size() == 1);
  CHECK(h[0].id == HeaderId::authorization);
  const auto p = params_of(h[0].value);
  CHECK(p.at("nc") == "00000001");
  CHECK(p.at("cnonce").size() == 32); // 128 random bits in hex
  const std::string expected =
      md5_hex(md5_hex("bob:biloxi.com:zanzibar") + ":n1:00000001:" + p.at("cnonce") + ":auth:" +
              md5_hex("INVITE:sip:bob@biloxi.com"));
  CHECK(p.at("response") == expected);
  CHECK(p.at("opaque") == "o");
}

TEST_CASE("session: wrong password gets exactly one retry, then give_up") {
  DigestSession s({"bob", "wrong"});
  const auto ch = "Digest realm=\"biloxi.com\", nonce=\"n1\", qop=\"auth\"";
  REQUIRE(challenge(s, ch) == DigestSession::Next::retry);
  must_authorize(s);
  // The server rejects the answer with a fresh, non-stale challenge for the same realm.
  CHECK(challenge(s, "Digest realm=\"biloxi.com\", nonce=\"n2\", qop=\"auth\"") ==
        DigestSession::Next::give_up);
  CHECK(s.last_error() == auth_error::wrong_credentials);
  // And the same nonce again is a rejection just as well.
  DigestSession t({"bob", "wrong"});
  REQUIRE(challenge(t, ch) == DigestSession::Next::retry);
  must_authorize(t);
  CHECK(challenge(t, ch) == DigestSession::Next::give_up);
  CHECK(t.last_error() == auth_error::wrong_credentials);
}

TEST_CASE("session: a repeated challenge before we answered it is still a retry") {
  DigestSession s({"bob", "pw"});
  REQUIRE(challenge(s, "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\"") ==
          DigestSession::Next::retry);
  // No authorize() in between: the retry was never sent, so this is not a rejection.
  CHECK(challenge(s, "Digest realm=\"r\", nonce=\"n2\", qop=\"auth\"") ==
        DigestSession::Next::retry);
}

TEST_CASE("session: stale=true retries with the new nonce and nc restarts at 1") {
  DigestSession s({"bob", "zanzibar"});
  REQUIRE(challenge(s, "Digest realm=\"r\", nonce=\"old\", qop=\"auth\"") ==
          DigestSession::Next::retry);
  CHECK(params_of(must_authorize(s)[0].value).at("nc") == "00000001");
  REQUIRE(challenge(s, "Digest realm=\"r\", nonce=\"new\", qop=\"auth\", stale=TRUE") ==
          DigestSession::Next::retry);
  const auto p = params_of(must_authorize(s)[0].value);
  CHECK(p.at("nonce") == "new");
  CHECK(p.at("nc") == "00000001");
  // Stale was not counted as a failure: a real rejection now still gives up (once).
  CHECK(challenge(s, "Digest realm=\"r\", nonce=\"newer\", qop=\"auth\"") ==
        DigestSession::Next::give_up);
  CHECK(s.last_error() == auth_error::wrong_credentials);
}

TEST_CASE("session: a new realm is a new challenge and gets a retry") {
  DigestSession s({"bob", "zanzibar"});
  REQUIRE(challenge(s, "Digest realm=\"proxy.atlanta.com\", nonce=\"p1\", qop=\"auth\"", true) ==
          DigestSession::Next::retry);
  must_authorize(s);
  // The proxy let us through; the UAS challenges with its own realm.
  REQUIRE(challenge(s, "Digest realm=\"biloxi.com\", nonce=\"u1\", qop=\"auth\"") ==
          DigestSession::Next::retry);
  const auto h = must_authorize(s);
  REQUIRE(h.size() == 2); // both credentials ride on the retry (RFC 3261 §22.3)
  CHECK(h[0].id == HeaderId::proxy_authorization);
  CHECK(params_of(h[0].value).at("realm") == "proxy.atlanta.com");
  CHECK(params_of(h[0].value).at("nc") == "00000002");
  CHECK(h[1].id == HeaderId::authorization);
  CHECK(params_of(h[1].value).at("realm") == "biloxi.com");
  CHECK(params_of(h[1].value).at("nc") == "00000001");
  // Same realm under 401 or 407 is a different entry, too.
  REQUIRE(challenge(s, "Digest realm=\"biloxi.com\", nonce=\"x\", qop=\"auth\"", true) ==
          DigestSession::Next::retry);
  CHECK(s.cached_realms() == 3);
}

TEST_CASE("session: the round cap ends even a server that is always stale") {
  DigestSession s({"bob", "zanzibar"}, 3);
  for (int i = 1; i <= 3; ++i) {
    const std::string ch =
        "Digest realm=\"r\", nonce=\"n" + std::to_string(i) + "\", qop=\"auth\", stale=true";
    REQUIRE(challenge(s, ch) == DigestSession::Next::retry);
    must_authorize(s);
  }
  CHECK(challenge(s, "Digest realm=\"r\", nonce=\"n4\", qop=\"auth\", stale=true") ==
        DigestSession::Next::give_up);
  CHECK(s.last_error() == auth_error::too_many_rounds);
  CHECK(s.rounds() == 4);

  SUBCASE("new realms every round hit the same cap") {
    DigestSession t({"bob", "zanzibar"}, 2);
    CHECK(challenge(t, "Digest realm=\"a\", nonce=\"n\"") == DigestSession::Next::retry);
    CHECK(challenge(t, "Digest realm=\"b\", nonce=\"n\"") == DigestSession::Next::retry);
    CHECK(challenge(t, "Digest realm=\"c\", nonce=\"n\"") == DigestSession::Next::give_up);
    CHECK(t.last_error() == auth_error::too_many_rounds);
  }
  SUBCASE("start_request gives the next request its own rounds") {
    s.start_request();
    CHECK(s.rounds() == 0);
    CHECK_FALSE(s.last_error());
    CHECK(challenge(s, "Digest realm=\"r\", nonce=\"n5\", qop=\"auth\", stale=true") ==
          DigestSession::Next::retry);
  }
}

TEST_CASE("session: missing credentials give up at once") {
  DigestSession s({"", ""});
  CHECK(challenge(s, "Digest realm=\"r\", nonce=\"n\"") == DigestSession::Next::give_up);
  CHECK(s.last_error() == auth_error::no_credentials);
  CHECK(s.cached_realms() == 0);
}

TEST_CASE("session: a challenge nobody can answer gives up with the parse error") {
  DigestSession s({"bob", "pw"});
  CHECK(challenge(s, "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256") ==
        DigestSession::Next::give_up);
  CHECK(s.last_error() == auth_error::unsupported_algorithm);
  CHECK(challenge(s, "Basic realm=\"r\"") == DigestSession::Next::give_up);
  CHECK(s.last_error() == auth_error::not_digest);
  CHECK(s.on_challenge(std::span<const std::string_view>{}, false) ==
        DigestSession::Next::give_up);
  CHECK(s.last_error() == auth_error::no_challenge);
}

TEST_CASE("session: nc counts per nonce across requests; cached credentials get one retry") {
  DigestSession s({"bob", "zanzibar"});
  REQUIRE(challenge(s, "Digest realm=\"r\", nonce=\"n1\", qop=\"auth\"") ==
          DigestSession::Next::retry);
  CHECK(params_of(must_authorize(s)[0].value).at("nc") == "00000001");
  // The INVITE succeeded; the BYE reuses the cached challenge (RFC 3261 §22.3).
  s.start_request();
  const auto bye = must_authorize(s, "BYE");
  REQUIRE(bye.size() == 1);
  const auto p = params_of(bye[0].value);
  CHECK(p.at("nc") == "00000002");
  CHECK(p.at("response") == md5_hex(md5_hex("bob:r:zanzibar") + ":n1:00000002:" +
                                    p.at("cnonce") + ":auth:" + md5_hex("BYE:sip:bob@biloxi.com")));
  // The server expired the nonce without saying stale: the cached answer was not a fresh one,
  // so the request gets its retry; a second rejection then gives up.
  REQUIRE(challenge(s, "Digest realm=\"r\", nonce=\"n2\", qop=\"auth\"") ==
          DigestSession::Next::retry);
  CHECK(params_of(must_authorize(s, "BYE")[0].value).at("nc") == "00000001");
  CHECK(challenge(s, "Digest realm=\"r\", nonce=\"n3\", qop=\"auth\"") ==
        DigestSession::Next::give_up);
}

TEST_CASE("session: a fresh cnonce per request, but -sess keeps the one HA1 was built with") {
  DigestSession plain({"bob", "pw"});
  REQUIRE(challenge(plain, "Digest realm=\"r\", nonce=\"n\", qop=\"auth\"") ==
          DigestSession::Next::retry);
  const auto a = params_of(must_authorize(plain)[0].value).at("cnonce");
  const auto b = params_of(must_authorize(plain)[0].value).at("cnonce");
  CHECK(a != b);

  DigestSession sess({"bob", "pw"});
  REQUIRE(challenge(sess, "Digest realm=\"r\", nonce=\"n\", qop=\"auth\", algorithm=MD5-sess") ==
          DigestSession::Next::retry);
  const auto p1 = params_of(must_authorize(sess)[0].value);
  const auto p2 = params_of(must_authorize(sess)[0].value);
  CHECK(p1.at("cnonce") == p2.at("cnonce"));
  CHECK(p2.at("nc") == "00000002");
  const std::string ha1 = md5_hex(md5_hex("bob:r:pw") + ":n:" + p1.at("cnonce"));
  CHECK(p2.at("response") == md5_hex(ha1 + ":n:00000002:" + p2.at("cnonce") + ":auth:" +
                                     md5_hex("INVITE:sip:bob@biloxi.com")));
}

TEST_CASE("session: several algorithms for one realm in one 401 are answered once, with SHA-256") {
  DigestSession s({"bob", "zanzibar"});
  const std::vector<std::string_view> values{
      "Digest realm=\"biloxi.com\", nonce=\"m\", qop=\"auth\", algorithm=MD5",
      "Digest realm=\"biloxi.com\", nonce=\"s\", qop=\"auth\", algorithm=SHA-256"};
  REQUIRE(s.on_challenge(values, false) == DigestSession::Next::retry);
  const auto h = must_authorize(s);
  REQUIRE(h.size() == 1);
  const auto p = params_of(h[0].value);
  CHECK(p.at("algorithm") == "SHA-256");
  CHECK(p.at("nonce") == "s");
}

TEST_CASE("session: challenges are read from a parsed 401 or 407 message") {
  DigestSession s({"alice", "pw"});
  const auto r407 = parse_response(
      "SIP/2.0 407 Proxy Authentication Required",
      {"Proxy-Authenticate: Digest realm=\"atlanta.com\", qop=\"auth\",\r\n nonce=\"pn\", "
       "algorithm=MD5",
       "Proxy-Authenticate: Digest realm=\"atlanta.com\", qop=\"auth\", nonce=\"ps\", "
       "algorithm=SHA-256",
       "WWW-Authenticate: Digest realm=\"ignored-in-407\", nonce=\"x\""});
  REQUIRE(s.on_challenge(r407) == DigestSession::Next::retry);
  auto h = must_authorize(s);
  REQUIRE(h.size() == 1);
  CHECK(h[0].id == HeaderId::proxy_authorization);
  CHECK(params_of(h[0].value).at("nonce") == "ps");

  const auto r401 = parse_response("SIP/2.0 401 Unauthorized",
                                   {"WWW-Authenticate: Digest realm=\"biloxi.com\", nonce=\"u\""});
  REQUIRE(s.on_challenge(r401) == DigestSession::Next::retry);
  h = must_authorize(s);
  REQUIRE(h.size() == 2);
  CHECK(h[1].id == HeaderId::authorization);

  // The value fits a message as it is.
  std::string wire;
  CHECK_FALSE(MessageWriter{}
                  .request(Method::invite, "sip:bob@biloxi.com")
                  .header(h[0].id, h[0].value)
                  .header(h[1].id, h[1].value)
                  .finish(wire));

  const auto r403 = parse_response("SIP/2.0 403 Forbidden", {});
  CHECK(s.on_challenge(r403) == DigestSession::Next::give_up);
  CHECK(s.last_error() == auth_error::no_challenge);
  const auto r401_bare = parse_response("SIP/2.0 401 Unauthorized", {});
  CHECK(s.on_challenge(r401_bare) == DigestSession::Next::give_up);
  CHECK(s.last_error() == auth_error::no_challenge);
}

TEST_CASE("session: a username with CR/LF is refused at authorize time") {
  DigestSession s({"bob\r\nX-Evil: 1", "pw"});
  REQUIRE(challenge(s, "Digest realm=\"r\", nonce=\"n\"") == DigestSession::Next::retry);
  std::vector<CredentialsHeader> out{{HeaderId::authorization, "stale"}};
  CHECK(s.authorize("INVITE", k_uri, "", out) == auth_error::unsafe_value);
  CHECK(out.empty());
}

TEST_CASE("session: the realm cache is bounded") {
  DigestSession s({"bob", "pw"}, 100);
  for (int i = 0; i < 20; ++i) {
    s.start_request();
    REQUIRE(challenge(s, "Digest realm=\"r" + std::to_string(i) + "\", nonce=\"n\"") ==
            DigestSession::Next::retry);
  }
  CHECK(s.cached_realms() == DigestSession::k_max_realms);
  std::vector<std::string> many;
  for (int i = 0; i < 20; ++i)
    many.push_back("Digest realm=\"m" + std::to_string(i) + "\", nonce=\"n\"");
  const std::vector<std::string_view> views(many.begin(), many.end());
  REQUIRE(s.on_challenge(views, true) == DigestSession::Next::retry);
  CHECK(s.cached_realms() == DigestSession::k_max_realms);
  CHECK(must_authorize(s).size() == DigestSession::k_max_realms);
}
