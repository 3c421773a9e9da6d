// The product demo (development only): a page served at `/` that joins a session of the
// development project with the real OpenTok.js, and a small server-side API behind it that
// creates the session, mints the token and dials or hangs up SIP calls — each through the real
// REST API (a project JWT, the same handler a backend SDK reaches), never a side door.
//
//   GET  /               web/demo/index.html (embedded at build time)
//   GET  /opentok.js     the official client, from the npm package scripts/setup.sh fetched
//   POST /demo/api/join    {"room"}                       → {apiKey, sessionId, token}
//   POST /demo/api/dial    {"sessionId","uri","secure"}   → the REST dial answer
//   POST /demo/api/hangup  {"sessionId","connectionId"}   → 204
#pragma once
#include "http/rest_api.hpp"
#include "http/server.hpp"
#include "runtime/runtime.hpp"

#include <boost/asio/awaitable.hpp>

#include <map>
#include <optional>
#include <string>

namespace sb::app {

struct DemoOptions {
  std::string api_key, api_secret;  // the project the demo uses
  std::string client_script;        // path of opentok.js
};

class Demo {
 public:
  Demo(runtime::Runtime& rt, http::RestApi& rest, DemoOptions opts);
  // nullopt when `req` is not one of the demo's.
  boost::asio::awaitable<std::optional<http::Response>> handle(const http::Request& req);

 private:
  boost::asio::awaitable<http::Response> rest_call(boost::beast::http::verb method, std::string target,
                                                   std::string body, std::string content_type);
  boost::asio::awaitable<http::Response> join(const http::Request& req);

  runtime::Runtime& rt_;
  http::RestApi& rest_;
  DemoOptions opts_;
  std::map<std::string, std::string, std::less<>> rooms_;  // room → session id; shard 0 only
};

}  // namespace sb::app
