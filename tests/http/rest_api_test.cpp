// Every REST status path of SPEC §1–§4 against the real server on a loopback port.
#include "core/client_token.hpp"
#include "core/session_id.hpp"
#include "support/test_server.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <thread>
#include <unistd.h>

using namespace sb;
using namespace sb::test;
using verb = boost::beast::http::verb;
namespace json = boost::json;

namespace {
std::string dial_path(std::string_view key = kKey) { return fmt::format("/v2/project/{}/dial", key); }

std::string t1(const std::string& sid, std::string_view data = "") {
  auto now = unix_s();
  return core::make_t1_token(kKey, kSecret, sid, core::Role::publisher, now, now + 3600, data, "424242");
}

std::string dial_body(const std::string& sid, const std::string& token, std::string sip_extra = "") {
  return fmt::format(R"({{"sessionId":"{}","token":"{}","sip":{{"uri":"sip:alice@127.0.0.1:5060"{}}}}})", sid, token,
                     sip_extra);
}

json::object error_of(const HttpReply& r) {
  auto v = json::parse(r.body);
  return v.as_object();
}
}  // namespace

TEST_CASE("session create answers a JSON array when the client accepts JSON, XML otherwise") {
  TestServer s;
  auto j = s.call(verb::post, "/session/create", "p2p.preference=disabled",
                  {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}});
  REQUIRE(j.status == 200);
  CHECK(j.headers["content-type"] == "application/json");
  auto arr = json::parse(j.body).as_array();
  REQUIRE(arr.size() == 1);
  auto sid = std::string(arr[0].as_object().at("session_id").as_string());
  CHECK(arr[0].as_object().at("project_id").as_string() == kKey);
  CHECK(arr[0].as_object().at("partner_id").as_string() == kKey);
  CHECK(arr[0].as_object().contains("create_dt"));
  auto info = core::parse_session_id(sid);
  REQUIRE(info.has_value());
  CHECK(info->api_key == kKey);

  auto x = s.call(verb::post, "/session/create", "", {{"Accept", "*/*"}});
  REQUIRE(x.status == 200);
  CHECK(x.headers["content-type"] == "text/xml");
  CHECK(x.body.find("<sessions><Session><session_id>1_") != std::string::npos);
  CHECK(x.body.find(std::string("<partner_id>") + kKey + "</partner_id>") != std::string::npos);
}

TEST_CASE("session create refuses bad options with 400") {
  TestServer s;
  std::map<std::string, std::string> form{{"Content-Type", "application/x-www-form-urlencoded"}};
  CHECK(s.call(verb::post, "/session/create", "p2p.preference=maybe", form).status == 400);
  CHECK(s.call(verb::post, "/session/create", "p2p.preference=enabled&archiveMode=always", form).status == 400);
  CHECK(s.call(verb::post, "/session/create", "archiveMode=sometimes", form).status == 400);
  CHECK(s.call(verb::post, "/session/create", "location=not-an-ip", form).status == 400);
  CHECK(s.call(verb::post, "/session/create", "p2p.preference=disabled&location=10.1.2.3&e2ee=false", form).status == 200);
  CHECK(s.call(verb::post, "/session/create", "p2p.preference=disabled&archiveMode=always", form).status == 200);
}

TEST_CASE("REST auth refuses missing, forged, expired and mismatched JWTs with the JSON 403 body") {
  TestServer s;
  auto sid = s.create_session(true);
  REQUIRE(!sid.empty());
  auto body = dial_body(sid, t1(sid));
  auto check403 = [&](HttpReply r) {
    CHECK(r.status == 403);
    CHECK(r.headers["content-type"] == "application/json");
    auto e = error_of(r);
    CHECK(e.at("code").as_int64() == 403);
    CHECK(e.contains("message"));
  };
  check403(s.call(verb::post, dial_path(), body, {}, ""));                                 // missing
  check403(s.call(verb::post, dial_path(), body, {}, rest_jwt(kKey, "wrong-secret-0000000000")));  // forged
  check403(s.call(verb::post, dial_path(), body, {}, rest_jwt(kKey, kSecret, unix_s() - 4000)));    // expired
  check403(s.call(verb::post, dial_path(), body, {}, rest_jwt(kKey, kSecret, 0, 3600)));   // lifetime > 5 min
  check403(s.call(verb::post, dial_path("654321"), body, {}, rest_jwt()));                  // iss != path key
  check403(s.call(verb::post, dial_path("999999"), body, {}, rest_jwt("999999", kSecret))); // unknown project
  check403(s.call(verb::post, "/session/create", "", {}, "not.a.jwt"));
}

TEST_CASE("a flood of bad JWTs is refused and counted, but logged at most once a second per shard") {
  // docs/robustness.md "Hostile REST": refusing a forged JWT costs what serving a request does;
  // it must not also cost a log line each (a flood would become a flood of log writes).
  auto cfg = test_config();
  cfg.log_level = "info";  // the line is an info line: at warn the test could not fail
  TestServer s(cfg);
  const int kBad = 300;
  std::fflush(stderr);
  const int saved = ::dup(2);
  std::FILE* capture = std::tmpfile();
  REQUIRE(capture);
  ::dup2(::fileno(capture), 2);
  int refused = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kBad; ++i)
    refused += s.call(verb::get, "/v2/project/123456/session/x/stream", {}, {}, rest_jwt(kKey, "wrong-secret-0000000000")).status == 403;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(capture);
  int lines = 0;
  std::array<char, 4096> buf;
  while (std::fgets(buf.data(), buf.size(), capture))
    if (std::string_view(buf.data()).find("auth rejected") != std::string_view::npos) ++lines;
  std::fclose(capture);
  CHECK(refused == kBad);
  // Two shards, one line a second each at most (+1 each for the second boundaries crossed).
  CHECK(lines >= 1);
  CHECK(lines <= 2 * (static_cast<int>(secs) + 2));
  auto m = s.call(verb::get, "/metrics", {}, {}, "");
  CHECK(m.body.find(fmt::format("switchboard_rest_auth_failures_total {}", kBad)) != std::string::npos);
}

TEST_CASE("dial validates its body with 400 and never pretends a call was placed") {
  TestServer s;
  auto routed = s.create_session(true);
  auto relayed = s.create_session(false);
  REQUIRE(!routed.empty());
  REQUIRE(!relayed.empty());
  auto tok = t1(routed, "phone=+14155550101");

  CHECK(s.call(verb::post, dial_path(), "{not json").status == 400);
  CHECK(s.call(verb::post, dial_path(), "[1,2]").status == 400);
  CHECK(s.call(verb::post, dial_path(), R"({"token":"x","sip":{"uri":"sip:a@b"}})").status == 400);
  CHECK(s.call(verb::post, dial_path(), fmt::format(R"({{"sessionId":"{}","token":"{}"}})", routed, tok)).status == 400);
  auto bad_uri = s.call(verb::post, dial_path(),
                        fmt::format(R"({{"sessionId":"{}","token":"{}","sip":{{"uri":"tel:+1555"}}}})", routed, tok));
  CHECK(bad_uri.status == 400);
  CHECK(error_of(bad_uri).at("code").as_int64() == 400);
  CHECK(s.call(verb::post, dial_path(), dial_body(routed, tok, R"(,"headers":{"Via":"x"})")).status == 400);
  CHECK(s.call(verb::post, dial_path(), dial_body(routed, tok, R"(,"headers":{"Bad Name":"x"})")).status == 400);
  CHECK(s.call(verb::post, dial_path(), dial_body(routed, tok, R"(,"secure":"perhaps")")).status == 400);
  // Video over SIP is not supported: refused, never dialled as an audio call that claims video.
  auto video = s.call(verb::post, dial_path(), dial_body(routed, tok, R"(,"video":true)"));
  CHECK(video.status == 400);
  CHECK(std::string(error_of(video).at("description").as_string()).find("video over SIP is not supported") !=
        std::string::npos);
  // invalid UTF-8 and absurd numbers are malformed bodies, not crashes
  CHECK(s.call(verb::post, dial_path(), std::string("{\"sessionId\":\"\xff\xfe\"}")).status == 400);
  CHECK(s.call(verb::post, dial_path(), R"({"sessionId":1e99999,"token":"x","sip":{"uri":"sip:a@b"}})").status == 400);
  // session ID: undecodable → 400, another project's → 400, well-formed but unknown → 404
  CHECK(s.call(verb::post, dial_path(), dial_body("garbage", tok)).status == 400);
  auto other = core::make_session_id("654321", "", unix_ms());
  CHECK(s.call(verb::post, dial_path(), dial_body(other, tok)).status == 400);
  auto unknown = core::make_session_id(kKey, "", unix_ms());
  CHECK(s.call(verb::post, dial_path(), dial_body(unknown, t1(unknown))).status == 404);
  // relayed → 409
  auto r409 = s.call(verb::post, dial_path(), dial_body(relayed, t1(relayed)));
  CHECK(r409.status == 409);
  // a token for another session, or forged, is refused
  CHECK(s.call(verb::post, dial_path(), dial_body(routed, t1(relayed))).status == 400);
  CHECK(s.call(verb::post, dial_path(), dial_body(routed, "T1==garbage")).status == 400);
  // A valid request (string booleans accepted, as RUBY sends them) places the call: 200 with the
  // seven fields of SPEC §2.2 at once (the far end here never answers; drain abandons it).
  auto ok = s.call(verb::post, dial_path(), dial_body(routed, tok, R"(,"secure":"true","video":false,"from":"14155550101@example.com","headers":{"X-Foo":"bar","P-Asserted-Identity":"<sip:a@b>"})"));
  REQUIRE_MESSAGE(ok.status == 200, ok.body);
  CHECK(ok.headers["content-type"] == "application/json");
  auto call = json::parse(ok.body).as_object();
  for (const char* f : {"id", "projectId", "sessionId", "connectionId", "streamId", "createdAt", "updatedAt"})
    CHECK_MESSAGE(call.contains(f), f);
  CHECK(call.at("sessionId").as_string() == routed);
  CHECK(call.at("projectId").as_string() == kKey);
  // The SIP connection's stream is in the session at once (SPEC §2.2).
  auto streams = s.call(verb::get, fmt::format("/v2/project/{}/session/{}/stream", kKey, routed));
  CHECK(json::parse(streams.body).as_object().at("count").as_int64() == 1);
  auto call_alias = s.call(verb::post, fmt::format("/v2/project/{}/call", kKey), dial_body(routed, tok));
  CHECK(call_alias.status == 200);
  auto partner_alias = s.call(verb::post, fmt::format("/v2/partner/{}/dial", kKey), dial_body(routed, tok));
  CHECK(partner_alias.status == 200);
}

TEST_CASE("force disconnect, streams, signal and play-dtmf answer their documented statuses") {
  TestServer s;
  auto sid = s.create_session(true);
  REQUIRE(!sid.empty());
  const std::string base = fmt::format("/v2/project/{}/session/{}", kKey, sid);
  auto unknown_sid = core::make_session_id(kKey, "", unix_ms());
  const std::string unknown_base = fmt::format("/v2/project/{}/session/{}", kKey, unknown_sid);

  CHECK(s.call(verb::delete_, base + "/connection/00000000-0000-4000-8000-000000000000").status == 404);
  CHECK(s.call(verb::delete_, unknown_base + "/connection/abc").status == 404);
  CHECK(s.call(verb::delete_, fmt::format("/v2/project/{}/session/bogus/connection/abc", kKey)).status == 400);

  auto list = s.call(verb::get, base + "/stream");
  REQUIRE(list.status == 200);
  CHECK(json::parse(list.body).as_object().at("count").as_int64() == 0);
  CHECK(s.call(verb::get, base + "/stream/nope").status == 404);
  CHECK(s.call(verb::get, unknown_base + "/stream").status == 404);

  CHECK(s.call(verb::post, base + "/signal", R"({"type":"chat","data":"hello"})").status == 204);
  CHECK(s.call(verb::post, base + "/signal", fmt::format(R"({{"type":"chat","data":"{}"}})", std::string(9000, 'a'))).status == 413);
  CHECK(s.call(verb::post, base + "/signal", fmt::format(R"({{"type":"{}","data":"x"}})", std::string(129, 't'))).status == 413);
  CHECK(s.call(verb::post, base + "/signal", R"({"type":"chat"})").status == 400);
  CHECK(s.call(verb::post, base + "/signal", "nope").status == 400);
  CHECK(s.call(verb::post, base + "/connection/abc/signal", R"({"type":"chat","data":"x"})").status == 404);
  CHECK(s.call(verb::post, unknown_base + "/signal", R"({"type":"chat","data":"x"})").status == 404);

  // No SIP call in the session: 404, never a 200 for digits nobody will hear (and never 501).
  CHECK(s.call(verb::post, base + "/play-dtmf", R"({"digits":"12#*p9"})").status == 404);
  CHECK(s.call(verb::post, base + "/play-dtmf", R"({"digits":"12a"})").status == 400);
  CHECK(s.call(verb::post, base + "/play-dtmf", R"({"digits":""})").status == 400);
  CHECK(s.call(verb::post, base + "/play-dtmf", fmt::format(R"({{"digits":"{}"}})", std::string(257, '1'))).status == 400);
  CHECK(s.call(verb::post, base + "/connection/abc/play-dtmf", R"({"digits":"1"})").status == 404);
  CHECK(s.call(verb::post, unknown_base + "/play-dtmf", R"({"digits":"1"})").status == 404);
}

TEST_CASE("callbacks can be registered, listed on every shard and deleted") {
  TestServer s;
  const std::string path = fmt::format("/v2/project/{}/callback", kKey);
  auto r = s.call(verb::post, path, R"({"group":"sip","event":"all","url":"http://127.0.0.1:9/hook"})");
  REQUIRE(r.status == 200);
  auto cb = json::parse(r.body).as_object();
  auto id = std::string(cb.at("id").as_string());
  CHECK(cb.at("url").as_string() == "http://127.0.0.1:9/hook");
  // Lists agree whichever shard answers (the table is broadcast to all shards).
  for (int i = 0; i < 6; ++i) {
    auto l = s.call(verb::get, path);
    REQUIRE(l.status == 200);
    CHECK(json::parse(l.body).as_array().size() == 1);
  }
  CHECK(s.call(verb::post, path, R"({"group":"sip","url":"ftp://x"})").status == 400);
  // What the webhook sender would later drop as invalid is refused now (userinfo, a bad port).
  CHECK(s.call(verb::post, path, R"({"group":"sip","event":"all","url":"http://user@x/hook"})").status == 400);
  CHECK(s.call(verb::post, path, R"({"group":"sip","event":"all","url":"http://x:99999/hook"})").status == 400);
  CHECK(s.call(verb::post, path, R"({"group":"nope","event":"x","url":"http://x"})").status == 400);
  CHECK(s.call(verb::delete_, path + "/" + id).status == 204);
  CHECK(s.call(verb::delete_, path + "/" + id).status == 404);
  CHECK(json::parse(s.call(verb::get, path).body).as_array().empty());
}

TEST_CASE("unknown routes are 404 and wrong methods 405, both with a JSON body") {
  TestServer s;
  auto r = s.call(verb::get, "/nope");
  CHECK(r.status == 404);
  CHECK(r.headers["content-type"] == "application/json");
  CHECK(s.call(verb::get, dial_path()).status == 405);
  CHECK(s.call(verb::get, "/session/create").status == 405);
}

TEST_CASE("oversized headers and bodies get 431 and 413; garbage gets 400") {
  auto cfg = test_config();
  cfg.limits.http_header_bytes = 2048;
  cfg.limits.http_body_bytes = 4096;
  TestServer s(cfg);
  auto big_header = s.call(verb::get, "/health", "", {{"X-Big", std::string(4000, 'a')}});
  CHECK(big_header.status == 431);
  auto big_body = s.call(verb::post, "/session/create", std::string(8000, 'a'));
  CHECK(big_body.status == 413);
  auto garbage = raw_exchange(s.port(), "\x16\x03\x01 not http at all\r\n\r\n", std::chrono::milliseconds(2000));
  CHECK(garbage.rfind("HTTP/1.1 400", 0) == 0);
  // The server is still fine afterwards.
  CHECK(s.call(verb::get, "/health").status == 200);
}

TEST_CASE("a slowloris client is answered 408 and closed at the read deadline") {
  auto cfg = test_config();
  cfg.limits.http_read_timeout = std::chrono::milliseconds(300);
  TestServer s(cfg);
  auto t0 = std::chrono::steady_clock::now();
  auto out = raw_exchange(s.port(), "POST /session/create HTTP/1.1\r\nHost: x\r\nX-Slow: ", std::chrono::milliseconds(3000));
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(out.rfind("HTTP/1.1 408", 0) == 0);
  CHECK(took < std::chrono::milliseconds(2500));
  CHECK(s.call(verb::get, "/health").status == 200);
}

TEST_CASE("health and metrics expose the server state") {
  TestServer s;
  CHECK(s.call(verb::get, "/health", "", {}, "").status == 200);
  s.create_session(true);
  auto m = s.call(verb::get, "/metrics", "", {}, "");
  REQUIRE(m.status == 200);
  CHECK(m.body.find("switchboard_sessions_created_total 1") != std::string::npos);
  CHECK(m.body.find("switchboard_shards 2") != std::string::npos);
}

TEST_CASE("drain refuses new work") {
  TestServer s;
  auto port = s.port();
  CHECK(s.app.drain(std::chrono::milliseconds(1000)));
  CHECK(http_request(port, verb::get, "/health", "", {}, std::chrono::milliseconds(500)).status == 0);
}
