#include "http/dial_request.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace sb::http;

namespace {

// A body around a given `sip` object text.
std::string with_sip(std::string_view sip) {
  return R"({"sessionId":"1_MX4xMjM0NTZ-","token":"T1==abc","sip":)" + std::string(sip) + "}";
}

std::string with_uri(std::string_view uri) {
  return with_sip(R"({"uri":")" + std::string(uri) + R"("})");
}

// Error code and detail of a body expected to fail.
struct Failure {
  boost::system::error_code ec;
  std::string detail;
};

Failure fail(std::string_view body) {
  std::string detail;
  const auto r = parse_dial_request(body, &detail);
  if (r.has_value()) return {};
  return {r.error(), detail};
}

} // namespace

TEST_CASE("NODE dial body with every field parses") {
  const std::string body = R"({"sessionId":"1_MX4xMjM0NTZ-","token":"T1==abc","sip":{
      "uri":"sip:user@sip.example.com;transport=tls","from":"14155550101@example.com",
      "headers":{"X-Foo":"bar","P-Asserted-Identity":"<sip:+14155550101@example.com>"},
      "auth":{"username":"u","password":"p@ss"},"secure":true,"video":false,
      "observeForceMute":true,"streams":["s1","s2"]}})";
  std::string detail;
  const auto r = parse_dial_request(body, &detail);
  REQUIRE(r.has_value());
  CHECK(detail.empty());
  CHECK(r->session_id == "1_MX4xMjM0NTZ-");
  CHECK(r->token == "T1==abc");
  CHECK(r->sip.uri == "sip:user@sip.example.com;transport=tls");
  CHECK(r->sip.from == "14155550101@example.com");
  REQUIRE(r->sip.headers.size() == 2);
  CHECK(r->sip.headers[0] == std::pair<std::string, std::string>{"X-Foo", "bar"});
  CHECK(r->sip.headers[1].first == "P-Asserted-Identity");
  REQUIRE(r->sip.auth);
  CHECK(r->sip.auth->first == "u");
  CHECK(r->sip.auth->second == "p@ss");
  CHECK(r->sip.secure);
  CHECK_FALSE(r->sip.video);
  CHECK(r->sip.observe_force_mute);
  CHECK(r->sip.streams == std::vector<std::string>{"s1", "s2"});
}

TEST_CASE("NET minimal body without optional fields gets the defaults") {
  const auto r = parse_dial_request(with_uri("sip:alice@10.0.0.1"), nullptr);
  REQUIRE(r.has_value());
  CHECK(r->sip.from.empty());
  CHECK(r->sip.headers.empty());
  CHECK_FALSE(r->sip.auth);
  CHECK_FALSE(r->sip.secure);
  CHECK_FALSE(r->sip.video);
  CHECK_FALSE(r->sip.observe_force_mute);
  CHECK(r->sip.streams.empty());
}

TEST_CASE("RUBY booleans sent as strings are accepted") {
  const auto r = parse_dial_request(
      with_sip(R"({"uri":"sip:a@b.com","secure":"true","video":"false","observeForceMute":"true"})"),
      nullptr);
  REQUIRE(r.has_value());
  CHECK(r->sip.secure);
  CHECK_FALSE(r->sip.video);
  CHECK(r->sip.observe_force_mute);
}

TEST_CASE("JAVA body with all booleans false and no auth parses") {
  const auto r = parse_dial_request(
      with_sip(R"({"uri":"sips:a@b.com","from":"from@example.com","headers":{},)"
               R"("secure":false,"video":false,"observeForceMute":false})"),
      nullptr);
  REQUIRE(r.has_value());
  CHECK_FALSE(r->sip.auth);
  CHECK(r->sip.headers.empty());
}

TEST_CASE("null values count as absent and unknown keys are ignored") {
  const auto r = parse_dial_request(
      R"({"sessionId":"s","token":"t","extra":{"deep":[1,2,{"x":null}]},"sip":{"uri":"sip:h",)"
      R"("from":null,"headers":null,"auth":null,"secure":null,"video":null,)"
      R"("observeForceMute":null,"streams":null,"unknownKey":42}})",
      nullptr);
  REQUIRE(r.has_value());
  CHECK(r->sip.uri == "sip:h");
  CHECK_FALSE(r->sip.auth);
}

TEST_CASE("SIP URIs with any scheme case, IPv6, ports, params and headers are accepted") {
  for (const char* uri :
       {"sip:host", "SIP:host", "Sips:user@host", "sip:+14155550101@gw.example.com;user=phone",
        "sip:alice@10.0.0.1:5060;transport=udp", "sips:[2001:db8::1]:5061",
        "sip:[::1]", "sip:bob@example.com?X-Header=a@b", "sip:a%40b@host",
        "sip:u;x=y@host", "sip:conf-1@sip_srv.example.org"}) {
    CAPTURE(uri);
    CHECK(parse_dial_request(with_uri(uri), nullptr).has_value());
  }
}

TEST_CASE("URIs without a sip or sips scheme, without a host or with spaces are bad_uri") {
  for (const char* uri :
       {"user@host", "tel:+14155550101", "http://example.com", "sip:", "sips:", "sip:@host",
        "sip:user@", "sip:user@;transport=tls", "sip:host with space", "sip: host",
        "sip:host\\r\\nVia: evil", "sip:host\\t", "sip:host:0", "sip:host:70000", "sip:host:",
        "sip:host:5o60", "sip:[::1", "sip:[]", "sip:[::1]x", "sip:ho$t", "sip:user@ho/st",
        "sip:host\\u0000"}) {
    CAPTURE(uri);
    const auto f = fail(with_uri(uri));
    CHECK(f.ec == dial_request_error::bad_uri);
    CHECK(f.detail.find("sip.uri") != std::string::npos);
  }
  CHECK(fail(with_uri("sip:" + std::string(1021, 'a'))).ec == dial_request_error::bad_uri);
  CHECK(parse_dial_request(with_uri("sip:" + std::string(1020, 'a')), nullptr).has_value());
}

TEST_CASE("sip.from refuses angle brackets, control characters and overlong values") {
  CHECK(fail(with_sip(R"({"uri":"sip:h","from":"<sip:x@y>"})")).ec == dial_request_error::bad_value);
  CHECK(fail(with_sip(R"({"uri":"sip:h","from":"a\r\nVia: x"})")).ec ==
        dial_request_error::bad_value);
  CHECK(fail(with_sip(R"({"uri":"sip:h","from":")" + std::string(257, 'a') + "\"}")).ec ==
        dial_request_error::bad_value);
  CHECK(fail(with_sip(R"({"uri":"sip:h","from":5})")).ec == dial_request_error::bad_type);
  CHECK(parse_dial_request(with_sip(R"({"uri":"sip:h","from":")" + std::string(256, 'a') + "\"}"),
                           nullptr)
            .has_value());
}

TEST_CASE("custom headers need RFC 3261 token names and any name prefix is allowed") {
  CHECK(parse_dial_request(with_sip(R"({"uri":"sip:h","headers":{"Alert-Info":"<x>",)"
                                    R"("x.y!%*_+`'~":"v","headerKey":"..."}})"),
                           nullptr)
            .has_value());
  for (const char* name : {"X Foo", "X:Foo", "X-Foo\\r\\n", "", "X(Foo)", "X@Foo", "Ünï"}) {
    CAPTURE(name);
    const auto f = fail(with_sip(R"({"uri":"sip:h","headers":{")" + std::string(name) +
                                 R"(":"v"}})"));
    CHECK(f.ec == dial_request_error::bad_header);
  }
  CHECK(fail(with_sip(R"({"uri":"sip:h","headers":{")" + std::string(129, 'X') + R"(":"v"}})")).ec ==
        dial_request_error::bad_header);
}

TEST_CASE("core SIP headers and their compact forms cannot be overridden, in any case") {
  for (const char* name :
       {"Via", "via", "FROM", "To", "Call-ID", "call-id", "CSeq", "Contact", "Max-Forwards",
        "Content-Type", "content-length", "Content-Disposition", "Route", "Record-Route", "X-OpenTok-SessionId", "proxy-authorization", "v", "f",
        "t", "i", "m", "c", "l", "e", "I", "M"}) {
    CAPTURE(name);
    const auto f = fail(with_sip(R"({"uri":"sip:h","headers":{")" + std::string(name) +
                                 R"(":"x"}})"));
    CHECK(f.ec == dial_request_error::bad_header);
    CHECK(f.detail.find(name) != std::string::npos);
  }
}

TEST_CASE("headers the INVITE builder writes itself are refused at validation, never sent twice") {
  // Call::build_invite writes these (RFC 3261 §20.5 Allow, RFC 4028 §7.1 session timer offer,
  // User-Agent); a second copy from sip.headers would contradict ours.
  for (const char* name : {"Supported", "supported", "k", "K", "Session-Expires", "x", "Min-SE", "min-se",
                           "Allow", "ALLOW", "User-Agent", "user-agent", "Authorization", "MIME-Version",
                           "Content-Language", "Content-X-Anything"}) {
    CAPTURE(name);
    const auto f = fail(with_sip(R"({"uri":"sip:h","headers":{")" + std::string(name) + R"(":"x"}})"));
    CHECK(f.ec == dial_request_error::bad_header);
    CHECK(f.detail == "sip.headers: " + std::string(name) + " is set by the gateway and cannot be overridden");
  }
  // Headers the gateway does not write stay the caller's (SPEC §2.1: any token name).
  for (const char* name : {"Require", "Subject", "s", "Accept", "Server", "Priority", "X-Session-Expires"}) {
    CAPTURE(name);
    CHECK(parse_dial_request(with_sip(R"({"uri":"sip:h","headers":{")" + std::string(name) + R"(":"x"}})"), nullptr)
              .has_value());
  }
}

TEST_CASE("custom header values refuse CR, LF, NUL and overlong text") {
  for (const char* value : {"a\\r\\nVia: x", "a\\nb", "a\\rb", "a\\u0000b", "a\\u0007b"}) {
    CAPTURE(value);
    CHECK(fail(with_sip(R"({"uri":"sip:h","headers":{"X-A":")" + std::string(value) + R"("}})")).ec ==
          dial_request_error::bad_header);
  }
  CHECK(parse_dial_request(with_sip(R"({"uri":"sip:h","headers":{"X-A":"a\tb","X-B":""}})"),
                           nullptr)
            .has_value());
  CHECK(fail(with_sip(R"({"uri":"sip:h","headers":{"X-A":")" + std::string(1025, 'v') + R"("}})")).ec ==
        dial_request_error::bad_header);
  CHECK(fail(with_sip(R"({"uri":"sip:h","headers":{"X-A":1}})")).ec == dial_request_error::bad_type);
  CHECK(fail(with_sip(R"({"uri":"sip:h","headers":["X-A"]})")).ec == dial_request_error::bad_type);
}

TEST_CASE("at most 32 custom headers are accepted") {
  const auto headers = [](int n) {
    std::string h = "{";
    for (int i = 0; i < n; ++i) h += (i ? ",\"X-H" : "\"X-H") + std::to_string(i) + "\":\"v\"";
    return h + "}";
  };
  CHECK(parse_dial_request(with_sip(R"({"uri":"sip:h","headers":)" + headers(32) + "}"), nullptr)
            .has_value());
  CHECK(fail(with_sip(R"({"uri":"sip:h","headers":)" + headers(33) + "}")).ec ==
        dial_request_error::bad_header);
}

TEST_CASE("sip.auth needs both string parts and never echoes the password") {
  CHECK(fail(with_sip(R"({"uri":"sip:h","auth":{"username":"u"}})")).ec ==
        dial_request_error::missing_field);
  CHECK(fail(with_sip(R"({"uri":"sip:h","auth":{"password":"p"}})")).ec ==
        dial_request_error::missing_field);
  CHECK(fail(with_sip(R"({"uri":"sip:h","auth":{"username":"u","password":null}})")).ec ==
        dial_request_error::missing_field);
  const auto f = fail(with_sip(R"({"uri":"sip:h","auth":{"username":1,"password":"hunter2"}})"));
  CHECK(f.ec == dial_request_error::bad_type);
  CHECK(f.detail.find("hunter2") == std::string::npos);
  CHECK(fail(with_sip(R"({"uri":"sip:h","auth":"u:p"})")).ec == dial_request_error::bad_type);
  CHECK(fail(with_sip(R"({"uri":"sip:h","auth":{"username":"","password":"p"}})")).ec ==
        dial_request_error::bad_value);
  CHECK(fail(with_sip(R"({"uri":"sip:h","auth":{"username":"a\nb","password":"p"}})")).ec ==
        dial_request_error::bad_value);
  const auto ok =
      parse_dial_request(with_sip(R"({"uri":"sip:h","auth":{"username":"u","password":""}})"),
                         nullptr);
  REQUIRE(ok.has_value());
  CHECK(ok->sip.auth->second.empty());
}

TEST_CASE("booleans other than true, false, \"true\" and \"false\" are refused") {
  CHECK(fail(with_sip(R"({"uri":"sip:h","secure":"yes"})")).ec == dial_request_error::bad_value);
  CHECK(fail(with_sip(R"({"uri":"sip:h","video":"TRUE"})")).ec == dial_request_error::bad_value);
  CHECK(fail(with_sip(R"({"uri":"sip:h","observeForceMute":1})")).ec ==
        dial_request_error::bad_type);
  const auto f = fail(with_sip(R"({"uri":"sip:h","video":[]})"));
  CHECK(f.ec == dial_request_error::bad_type);
  CHECK(f.detail == "sip.video must be a boolean");
}

TEST_CASE("sip.video true is refused: video over SIP is not supported; false or absent is fine") {
  for (const char* v : {"true", "\"true\""}) {
    CAPTURE(v);
    const auto f = fail(with_sip(R"({"uri":"sip:h","video":)" + std::string(v) + "}"));
    CHECK(f.ec == dial_request_error::bad_value);
    CHECK(f.detail.find("video over SIP is not supported") != std::string::npos);
  }
  for (const char* v : {"false", "\"false\"", "null"}) {
    CAPTURE(v);
    const auto r = parse_dial_request(with_sip(R"({"uri":"sip:h","video":)" + std::string(v) + "}"), nullptr);
    REQUIRE(r.has_value());
    CHECK_FALSE(r->sip.video);
  }
}

TEST_CASE("sip.streams must be an array of non-empty strings") {
  CHECK(fail(with_sip(R"({"uri":"sip:h","streams":"s1"})")).ec == dial_request_error::bad_type);
  CHECK(fail(with_sip(R"({"uri":"sip:h","streams":[1]})")).ec == dial_request_error::bad_type);
  CHECK(fail(with_sip(R"({"uri":"sip:h","streams":[""]})")).ec == dial_request_error::bad_value);
  const auto r = parse_dial_request(with_sip(R"({"uri":"sip:h","streams":[]})"), nullptr);
  REQUIRE(r.has_value());
  CHECK(r->sip.streams.empty());
}

TEST_CASE("required fields missing, empty or mistyped are reported by name") {
  auto f = fail(R"({"token":"t","sip":{"uri":"sip:h"}})");
  CHECK(f.ec == dial_request_error::missing_field);
  CHECK(f.detail == "sessionId is required");
  CHECK(fail(R"({"sessionId":"","token":"t","sip":{"uri":"sip:h"}})").ec ==
        dial_request_error::missing_field);
  CHECK(fail(R"({"sessionId":null,"token":"t","sip":{"uri":"sip:h"}})").ec ==
        dial_request_error::missing_field);
  CHECK(fail(R"({"sessionId":5,"token":"t","sip":{"uri":"sip:h"}})").ec ==
        dial_request_error::bad_type);
  f = fail(R"({"sessionId":"s","sip":{"uri":"sip:h"}})");
  CHECK(f.ec == dial_request_error::missing_field);
  CHECK(f.detail == "token is required");
  CHECK(fail(R"({"sessionId":"s","token":"t"})").ec == dial_request_error::missing_field);
  CHECK(fail(R"({"sessionId":"s","token":"t","sip":"sip:h"})").ec == dial_request_error::bad_type);
  f = fail(R"({"sessionId":"s","token":"t","sip":{}})");
  CHECK(f.ec == dial_request_error::missing_field);
  CHECK(f.detail == "sip.uri is required");
  CHECK(fail(with_uri("")).ec == dial_request_error::missing_field);
  CHECK(fail(with_sip(R"({"uri":7})")).ec == dial_request_error::bad_type);
  CHECK(fail(R"({"sessionId":")" + std::string(256, 's') + R"(","token":"t","sip":{"uri":"sip:h"}})")
            .ec == dial_request_error::bad_value);
}

TEST_CASE("bodies that are not JSON objects are refused") {
  CHECK(fail("").ec == dial_request_error::bad_json);
  CHECK(fail("{").ec == dial_request_error::bad_json);
  CHECK(fail(R"({"sessionId":"s"} trailing)").ec == dial_request_error::bad_json);
  CHECK(fail("{\"sessionId\":\"\xff\"}").ec == dial_request_error::bad_json);
  CHECK(fail("[]").ec == dial_request_error::not_object);
  CHECK(fail("null").ec == dial_request_error::not_object);
  CHECK(fail("\"str\"").ec == dial_request_error::not_object);
  std::string deep = R"({"sessionId":"s","x":)";
  for (int i = 0; i < 64; ++i) deep += "[";
  CHECK(fail(deep).ec == dial_request_error::bad_json);
}

TEST_CASE("bodies over 64 KiB are refused before parsing") {
  std::string big = with_sip(R"({"uri":"sip:h"})");
  big.insert(1, R"("pad":")" + std::string(dial_max_body_size, 'x') + R"(",)");
  const auto f = fail(big);
  CHECK(f.ec == dial_request_error::too_large);
  std::string fits = with_sip(R"({"uri":"sip:h"})");
  fits.insert(1, R"("pad":")" + std::string(dial_max_body_size - fits.size() - 9, 'x') + R"(",)");
  CHECK(fits.size() == dial_max_body_size);
  CHECK(parse_dial_request(fits, nullptr).has_value());
}

TEST_CASE("dial request errors carry their own category") {
  const boost::system::error_code ec = dial_request_error::bad_header;
  CHECK(std::string(ec.category().name()) == "sb.dial_request");
  CHECK_FALSE(ec.message().empty());
}
