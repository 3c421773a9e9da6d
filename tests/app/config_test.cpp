#include "app/config.hpp"

#include <doctest/doctest.h>

using namespace sb::app;

TEST_CASE("a config file lists projects, listen address, limits and webhook policy") {
  std::string why;
  auto c = parse_config(R"({"threads":3,"http":{"listen":"0.0.0.0:9000"},
    "projects":[{"apiKey":"111","apiSecret":"0123456789abcdef0123","callbackUrl":"https://hooks.example/sip"}],
    "limits":{"httpBodyBytes":2048,"httpReadTimeoutMs":1500},
    "webhooks":{"maxAttempts":3,"verifyTls":false},"log":{"level":"debug"},"drainTimeoutMs":2500})", &why);
  REQUIRE_MESSAGE(c.has_value(), why);
  CHECK(c->threads == 3);
  CHECK(c->http_address == "0.0.0.0");
  CHECK(c->http_port == 9000);
  REQUIRE(c->projects.size() == 1);
  CHECK(c->projects[0].callback_url == "https://hooks.example/sip");
  CHECK(c->limits.http_body_bytes == 2048);
  CHECK(c->limits.http_read_timeout == std::chrono::milliseconds(1500));
  CHECK(c->webhooks.max_attempts == 3);
  CHECK_FALSE(c->webhooks.verify_tls);
  CHECK(c->drain_timeout == std::chrono::milliseconds(2500));
  CHECK_FALSE(c->pin_threads);
  auto pinned = parse_config(R"({"pinThreads":true})", &why);
  REQUIRE_MESSAGE(pinned.has_value(), why);
  CHECK(pinned->pin_threads);
  CHECK_FALSE(parse_config(R"({"pinThreads":"yes"})", &why).has_value());
  CHECK(why.find("pinThreads") != std::string::npos);
  CHECK(c->limits.shard_busy_percent == 90);  // overload protection on by default
  auto busy = parse_config(R"({"limits":{"shardBusyPercent":0}})", &why);
  REQUIRE_MESSAGE(busy.has_value(), why);
  CHECK(busy->limits.shard_busy_percent == 0);
  CHECK_FALSE(parse_config(R"({"limits":{"shardBusyPercent":101}})", &why).has_value());
  CHECK(why.find("shardBusyPercent") != std::string::npos);
}

TEST_CASE("bad config files are refused with a message naming the field") {
  std::string why;
  CHECK_FALSE(parse_config("{", &why).has_value());
  CHECK_FALSE(parse_config(R"({"threads":-1})", &why).has_value());
  CHECK(why.find("threads") != std::string::npos);
  CHECK_FALSE(parse_config(R"({"projects":[{"apiKey":"a b","apiSecret":"0123456789abcdef"}]})", &why).has_value());
  CHECK_FALSE(parse_config(R"({"projects":[{"apiKey":"1","apiSecret":"short"}]})", &why).has_value());
  CHECK_FALSE(parse_config(R"({"projects":[{"apiKey":"1","apiSecret":"0123456789abcdef","callbackUrl":"ftp://x"}]})", &why).has_value());
  CHECK_FALSE(parse_config(R"({"http":{"listen":"nope"}})", &why).has_value());
  CHECK_FALSE(parse_config(R"({"limits":{"httpBodyBytes":1e30}})", &why).has_value());
  // ICE servers go to every browser as given: strings (or lists of them) only.
  CHECK(parse_config(R"({"clients":{"iceServers":[{"urls":["stun:a.example","turn:b.example"],"username":"u","credential":"c"},{"urls":"stun:c.example"}]}})", &why).has_value());
  CHECK_FALSE(parse_config(R"({"clients":{"iceServers":[{"urls":"stun:a.example","credential":1e400}]}})", &why).has_value());
  CHECK(why.find("iceServers") != std::string::npos);
  CHECK_FALSE(parse_config(R"({"clients":{"iceServers":[{"urls":[]}]}})", &why).has_value());
  CHECK_FALSE(parse_config(R"({"clients":{"iceServers":[{"urls":["stun:a.example",3]}]}})", &why).has_value());
  CHECK_FALSE(parse_config(R"({"clients":{"iceServers":[{"urls":"turn:a.example","username":["u"]}]}})", &why).has_value());
}

TEST_CASE("with no projects the embedded development project is used") {
  Config c;
  std::string why;
  REQUIRE(finalize(c, &why));
  REQUIRE(c.projects.size() == 1);
  CHECK(c.dev_project);
  CHECK(c.projects[0].api_key == kDevApiKey);
  CHECK(c.threads >= 1);
}

TEST_CASE("flags override the file") {
  Config c;
  std::string why;
  bool exit_now = false;
  const char* argv[] = {"switchboard", "--threads", "4", "--http-listen", "127.0.0.1:0", "--log-level", "warn",
                        "--pin-threads"};
  REQUIRE(apply_flags(c, 8, const_cast<char**>(argv), &why, &exit_now));
  CHECK(c.threads == 4);
  CHECK(c.pin_threads);
  CHECK(c.http_port == 0);
  CHECK(c.log_level == "warn");
  const char* bad[] = {"switchboard", "--bogus"};
  CHECK_FALSE(apply_flags(c, 2, const_cast<char**>(bad), &why, &exit_now));
}
