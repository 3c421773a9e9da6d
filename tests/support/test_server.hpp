// An in-process Switchboard (the same App main() runs) on a free loopback port, plus helpers
// to sign REST requests the way the official SDKs do.
#pragma once
#include "app/app.hpp"
#include "base/clock.hpp"
#include "core/jwt.hpp"
#include "support/http_client.hpp"

#include <boost/json.hpp>

namespace sb::test {

inline constexpr const char* kKey = "123456";
inline constexpr const char* kSecret = "1234567890abcdef1234567890abcdef1234567890";

inline app::Config test_config(unsigned threads = 2) {
  app::Config c;
  c.threads = threads;
  c.http_port = 0;
  c.log_level = std::getenv("SB_TEST_LOG") ? std::getenv("SB_TEST_LOG") : "warn";
  c.sip.port_base = 0;  // ephemeral SIP ports per shard
  c.drain_timeout = std::chrono::milliseconds(3000);
  c.projects.push_back({kKey, kSecret, ""});
  c.projects.push_back({"654321", "abcdefabcdefabcdefabcdefabcdefab", ""});
  std::string why;
  app::finalize(c, &why);
  return c;
}

// The Node SDK's REST JWT: iss, ist, iat, exp = iat + 300, no jti (SPEC §1).
inline std::string rest_jwt(std::string_view key = kKey, std::string_view secret = kSecret, std::int64_t iat = 0,
                            std::int64_t lifetime = 300) {
  if (iat == 0) iat = unix_s();
  boost::json::object p{{"iss", key}, {"ist", "project"}, {"iat", iat}, {"exp", iat + lifetime}};
  return core::jwt_encode_hs256(p, secret);
}

struct TestServer {
  app::App app;
  explicit TestServer(app::Config c = test_config()) : app(std::move(c)) { app.start(); }
  ~TestServer() { app.drain(std::chrono::milliseconds(2000)); }
  std::uint16_t port() const { return app.http_port(); }

  HttpReply call(boost::beast::http::verb m, std::string target, std::string body = {},
                 std::map<std::string, std::string> extra = {}, std::string auth = rest_jwt()) {
    if (!auth.empty()) extra["X-OPENTOK-AUTH"] = auth;
    if (!body.empty() && !extra.count("Content-Type")) extra["Content-Type"] = "application/json";
    return http_request(port(), m, std::move(target), std::move(body), std::move(extra));
  }
  // Creates a session as the Node SDK does; returns its ID ("" on failure).
  std::string create_session(bool routed, std::string_view key = kKey, std::string_view secret = kSecret) {
    auto r = call(boost::beast::http::verb::post, "/session/create",
                  routed ? "p2p.preference=disabled&archiveMode=manual" : "p2p.preference=enabled",
                  {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}},
                  rest_jwt(key, secret));
    if (r.status != 200) return {};
    auto v = boost::json::parse(r.body);
    return std::string(v.as_array().at(0).as_object().at("session_id").as_string());
  }
};

}  // namespace sb::test
