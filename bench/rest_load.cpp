// REST load harness: starts Switchboard in-process (N shards) on a loopback port, then drives it
// from one client thread with C keep-alive connections for S seconds per scenario, and prints
// throughput and latency percentiles. Usage: bench_rest_load [shards=1] [connections=16] [seconds=3]
// The last scenarios are hostile (docs/robustness.md "Hostile REST"): JWTs that must be refused
// 403 (signed with another secret, malformed) at the client's full rate, then good requests on
// half the connections while the other half floods forged JWTs — what a flood costs the others.
#include "app/app.hpp"
#include "base/clock.hpp"
#include "core/client_token.hpp"
#include "core/jwt.hpp"
#include "bench_support.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using namespace std::chrono;

using namespace sb::bench;
namespace {

struct Scenario {
  const char* name;
  http::verb method;
  std::string target, body, content_type, accept;
  unsigned expect;
  std::string token;  // X-OPENTOK-AUTH; empty: a valid project JWT
};

asio::awaitable<void> client(std::uint16_t port, const Scenario* sc, steady_clock::time_point until,
                             std::vector<double>* lat, std::size_t* errors) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream s(ex);
  co_await s.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
  beast::flat_buffer buf;
  const std::string token = sc->token.empty() ? auth() : sc->token;
  while (steady_clock::now() < until) {
    http::request<http::string_body> req{sc->method, sc->target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set("X-OPENTOK-AUTH", token);
    if (!sc->content_type.empty()) req.set(http::field::content_type, sc->content_type);
    if (!sc->accept.empty()) req.set(http::field::accept, sc->accept);
    req.body() = sc->body;
    req.prepare_payload();
    auto t0 = steady_clock::now();
    co_await http::async_write(s, req, asio::use_awaitable);
    http::response<http::string_body> res;
    co_await http::async_read(s, buf, res, asio::use_awaitable);
    lat->push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
    if (res.result_int() != sc->expect) ++*errors;
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned shards = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 1;
  int conns = argc > 2 ? std::atoi(argv[2]) : 16;
  int secs = argc > 3 ? std::atoi(argv[3]) : 3;

  sb::app::Config cfg;
  cfg.threads = shards;
  cfg.http_port = 0;
  cfg.log_level = "error";
  cfg.sip.port_base = 0;
  cfg.projects.push_back({kKey, kSecret, ""});
  std::string why;
  sb::app::finalize(cfg, &why);
  sb::app::App app(cfg);
  app.start();
  const auto port = app.http_port();

  // A routed session for the per-session scenarios, and a relayed one for dial validation.
  std::string sid, relayed;
  for (int pass = 0; pass < 2; ++pass) {
    asio::io_context io;
    beast::tcp_stream s(io);
    s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req{http::verb::post, "/session/create", 11};
    req.set(http::field::host, "x");
    req.set("X-OPENTOK-AUTH", auth());
    req.set(http::field::accept, "application/json");
    req.set(http::field::content_type, "application/x-www-form-urlencoded");
    req.body() = pass == 0 ? "p2p.preference=disabled" : "p2p.preference=enabled";
    req.prepare_payload();
    http::write(s, req);
    beast::flat_buffer b;
    http::response<http::string_body> res;
    http::read(s, b, res);
    (pass == 0 ? sid : relayed) = std::string(boost::json::parse(res.body()).as_array()[0].as_object()["session_id"].as_string());
  }
  auto now = sb::unix_s();
  auto tok_relayed = sb::core::make_t1_token(kKey, kSecret, relayed, sb::core::Role::publisher, now, now + 3600, "", "1");
  std::vector<Scenario> scenarios = {
      {"session create (JSON)", http::verb::post, "/session/create", "p2p.preference=disabled",
       "application/x-www-form-urlencoded", "application/json", 200},
      {"list streams", http::verb::get, fmt::format("/v2/project/{}/session/{}/stream", kKey, sid), "", "", "", 200},
      {"signal", http::verb::post, fmt::format("/v2/project/{}/session/{}/signal", kKey, sid),
       R"({"type":"chat","data":"hello"})", "application/json", "", 204},
      // Dial validation only (the session is relayed → 409): the REST cost without placing calls.
      // bench/dial_latency.cpp measures dials that place real calls.
      {"dial validation (→409)", http::verb::post, fmt::format("/v2/project/{}/dial", kKey),
       fmt::format(R"({{"sessionId":"{}","token":"{}","sip":{{"uri":"sip:alice@127.0.0.1:5060","secure":true}}}})", relayed, tok_relayed),
       "application/json", "", 409},
  };
  // Hostile: a JWT signed with another secret (the shape an attacker guessing secrets sends) and
  // one that is not a JWT at all; both must be answered 403 and counted, at full rate.
  const auto forged = sb::core::jwt_encode_hs256(
      boost::json::object{{"iss", kKey}, {"ist", "project"}, {"iat", now}, {"exp", now + 300}},
      "not-the-secret-not-the-secret-not-the-secret");
  const Scenario forged_list{"forged JWT (→403)", http::verb::get, fmt::format("/v2/project/{}/session/{}/stream", kKey, sid),
                             "", "", "", 403, forged};
  scenarios.push_back(forged_list);
  scenarios.push_back({"malformed JWT (→403)", http::verb::get, fmt::format("/v2/project/{}/session/{}/stream", kKey, sid),
                       "", "", "", 403, "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"});
  const auto good_list = scenarios[1];

  // Runs each connection's scenario (`per_conn[i]`) for `secs` and prints one row per distinct
  // scenario, its rate and latency measured over its own connections.
  auto run = [&](const std::vector<const Scenario*>& per_conn, const char* suffix) {
    asio::io_context io(1);
    const auto n = per_conn.size();
    std::vector<std::vector<double>> lats(n);
    std::vector<std::size_t> errs(n, 0);
    auto until = steady_clock::now() + seconds(secs);
    for (std::size_t i = 0; i < n; ++i)
      asio::co_spawn(io, client(port, per_conn[i], until, &lats[i], &errs[i]), [](std::exception_ptr e) {
        if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) {
            std::fprintf(stderr, "client: %s\n", x.what());
          }
      });
    auto t0 = steady_clock::now();
    io.run();
    double el = duration<double>(steady_clock::now() - t0).count();
    std::vector<const Scenario*> seen;
    for (auto* sc : per_conn)
      if (std::find(seen.begin(), seen.end(), sc) == seen.end()) seen.push_back(sc);
    for (auto* sc : seen) {
      std::vector<double> all;
      std::size_t e = 0, c = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (per_conn[i] == sc) all.insert(all.end(), lats[i].begin(), lats[i].end()), e += errs[i], ++c;
      std::printf("| %s%s | %u | %zu | %.0f | %.0f | %.0f | %zu |\n", sc->name, suffix, shards, c,
                  static_cast<double>(all.size()) / el, pct(all, 0.5), pct(all, 0.99), e);
    }
  };
  std::printf("| scenario | shards | conns | req/s | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|---|\n");
  for (auto& sc : scenarios) run(std::vector<const Scenario*>(static_cast<std::size_t>(conns), &sc), "");
  // Half the connections good, half flooding forged JWTs, interleaved.
  std::vector<const Scenario*> mixed;
  for (int i = 0; i < std::max(2, conns); ++i) mixed.push_back(i % 2 ? &forged_list : &good_list);
  run(mixed, " [half the conns good, half forged]");
  app.drain(milliseconds(1000));
  return 0;
}
