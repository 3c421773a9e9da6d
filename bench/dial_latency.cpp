// Dial latency: how long `POST /dial` takes to answer while the calls it places are really set
// up. Starts Switchboard in-process (N shards) and a sipp UAS (`sipp -sn uas`, answers every
// INVITE) on loopback, then sends D dials from C keep-alive connections and prints latency
// percentiles of the REST answer, plus how many calls reached ACTIVE. The dial must not wait for
// DNS or the far end (issue 3: "well under 10 ms").
// Usage: bench_dial_latency [shards=1] [connections=8] [dials=2000]
#include "app/app.hpp"
#include "base/clock.hpp"
#include "core/client_token.hpp"
#include "core/jwt.hpp"
#include "bench_support.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>

extern char** environ;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using namespace std::chrono;

using namespace sb::bench;
namespace {

std::uint16_t free_udp_port() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

http::response<http::string_body> request(std::uint16_t port, http::verb m, std::string target, std::string body,
                                          std::string ctype, std::string accept = {}) {
  asio::io_context io;
  beast::tcp_stream s(io);
  s.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{m, target, 11};
  req.set(http::field::host, "x");
  req.set("X-OPENTOK-AUTH", auth());
  if (!ctype.empty()) req.set(http::field::content_type, ctype);
  if (!accept.empty()) req.set(http::field::accept, accept);
  req.body() = std::move(body);
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer b;
  http::response<http::string_body> res;
  http::read(s, b, res);
  return res;
}

asio::awaitable<void> dialer(std::uint16_t port, std::string body, int count, std::vector<double>* lat, int* errors) {
  auto ex = co_await asio::this_coro::executor;
  beast::tcp_stream s(ex);
  co_await s.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
  beast::flat_buffer buf;
  const std::string token = auth();
  for (int i = 0; i < count; ++i) {
    http::request<http::string_body> req{http::verb::post, fmt::format("/v2/project/{}/dial", kKey), 11};
    req.set(http::field::host, "127.0.0.1");
    req.set("X-OPENTOK-AUTH", token);
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    auto t0 = steady_clock::now();
    co_await http::async_write(s, req, asio::use_awaitable);
    http::response<http::string_body> res;
    co_await http::async_read(s, buf, res, asio::use_awaitable);
    lat->push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
    if (res.result_int() != 200) ++*errors;
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned shards = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 1;
  int conns = argc > 2 ? std::atoi(argv[2]) : 8;
  int dials = argc > 3 ? std::atoi(argv[3]) : 2000;

  // The far end: sipp's built-in UAS answers every INVITE and waits for our BYE.
  const auto sipp_port = free_udp_port();
  std::vector<std::string> args{"sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", std::to_string(sipp_port),
                                "-nostdin", "-max_socket", "4096", "-timeout", "120s"};
  std::vector<char*> argvp;
  for (auto& a : args) argvp.push_back(a.data());
  argvp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t sipp = -1;
  if (posix_spawnp(&sipp, "sipp", &fa, nullptr, argvp.data(), environ) != 0) {
    std::fprintf(stderr, "cannot start sipp\n");
    return 1;
  }
  std::this_thread::sleep_for(milliseconds(500));

  sb::app::Config cfg;
  cfg.threads = shards;
  cfg.http_port = 0;
  cfg.sip.port_base = 0;
  cfg.log_level = "error";
  cfg.projects.push_back({kKey, kSecret, ""});
  std::string why;
  sb::app::finalize(cfg, &why);
  sb::app::App app(cfg);
  app.start();
  const auto port = app.http_port();

  auto res = request(port, http::verb::post, "/session/create", "p2p.preference=disabled",
                     "application/x-www-form-urlencoded", "application/json");
  auto sid = std::string(boost::json::parse(res.body()).as_array()[0].as_object()["session_id"].as_string());
  auto now = sb::unix_s();
  auto tok = sb::core::make_t1_token(kKey, kSecret, sid, sb::core::Role::publisher, now, now + 3600, "", "1");
  auto body = fmt::format(R"({{"sessionId":"{}","token":"{}","sip":{{"uri":"sip:uas@127.0.0.1:{}"}}}})", sid, tok, sipp_port);

  asio::io_context io(1);
  std::vector<std::vector<double>> lats(static_cast<std::size_t>(conns));
  std::vector<int> errs(static_cast<std::size_t>(conns), 0);
  for (int i = 0; i < conns; ++i)
    asio::co_spawn(io, dialer(port, body, dials / conns, &lats[static_cast<std::size_t>(i)], &errs[static_cast<std::size_t>(i)]),
                   [](std::exception_ptr e) {
                     if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) {
                         std::fprintf(stderr, "dialer: %s\n", x.what());
                       }
                   });
  auto t0 = steady_clock::now();
  io.run();
  double el = duration<double>(steady_clock::now() - t0).count();
  std::vector<double> all;
  int e = 0;
  for (auto& l : lats) all.insert(all.end(), l.begin(), l.end());
  for (auto x : errs) e += x;
  // Let the calls finish their setup, then count them from the metrics.
  std::this_thread::sleep_for(milliseconds(1500));
  auto m = request(port, http::verb::get, "/metrics", "", "").body();
  auto metric = [&](std::string_view name) {
    auto p = m.find(std::string("\n") + std::string(name) + " ");
    return p == std::string::npos ? std::string("?") : m.substr(p + name.size() + 2, m.find('\n', p + 1) - p - name.size() - 2);
  };
  std::printf("| shards | conns | dials | dials/s | p50 µs | p95 µs | p99 µs | max µs | non-200 | calls active after 1.5 s |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  std::printf("| %u | %d | %zu | %.0f | %.0f | %.0f | %.0f | %.0f | %d | %s |\n", shards, conns, all.size(),
              static_cast<double>(all.size()) / el, pct(all, 0.5), pct(all, 0.95), pct(all, 0.99), pct(all, 1.0), e,
              metric("switchboard_calls_active").c_str());
  app.drain(milliseconds(10000));  // hangs every call up with BYE
  ::kill(sipp, SIGTERM);
  int st = 0;
  ::waitpid(sipp, &st, 0);
  return 0;
}
