#include "app/app.hpp"

#include "base/log.hpp"
#include "http/rest_api.hpp"
#include "http/server.hpp"
#include "http/shard_services.hpp"
#include "runtime/runtime.hpp"

#include <boost/asio.hpp>

#include <future>

namespace sb::app {
namespace asio = boost::asio;

App::App(Config cfg) : cfg_(std::move(cfg)) {
  log::Level l = log::Level::info;
  log::parse_level(cfg_.log_level, l);
  log::set_level(l);
  rt_ = std::make_unique<runtime::Runtime>(cfg_.threads);

  core::ProjectTable projects;
  for (const auto& p : cfg_.projects) projects.add(core::Project{p.api_key, p.api_secret, p.callback_url, {}});
  http::WebhookOptions wopts;
  wopts.queue_limit = cfg_.webhooks.queue_limit;
  wopts.max_attempts = cfg_.webhooks.max_attempts;
  wopts.request_timeout = cfg_.webhooks.request_timeout;
  wopts.backoff_initial = cfg_.webhooks.backoff_initial;
  wopts.backoff_max = cfg_.webhooks.backoff_max;
  wopts.verify_tls = cfg_.webhooks.verify_tls;
  wopts.ca_file = cfg_.webhooks.ca_file;

  std::vector<http::ShardServices*> raw;
  for (unsigned i = 0; i < rt_->size(); ++i) {
    services_.push_back(std::make_unique<http::ShardServices>(rt_->shard(i), projects,
                                                              cfg_.limits.sessions_per_shard, wopts));
    raw.push_back(services_.back().get());
  }
  http::RestOptions ropts;
  ropts.jwt_skew_s = cfg_.limits.jwt_skew_s;
  ropts.dial_body_limit = cfg_.limits.dial_body_bytes;
  api_ = std::make_unique<http::RestApi>(*rt_, std::move(raw), ropts);
}

App::~App() {
  if (started_ && !stopped_) drain(std::chrono::milliseconds(0));
  // Destruction order: listeners and services own I/O objects bound to the shards' io_contexts,
  // so they go before the runtime.
  servers_.clear();
  services_.clear();
  rt_.reset();
}

void App::start() {
  auto addr = asio::ip::make_address(cfg_.http_address);
  std::uint16_t port = cfg_.http_port;
  for (unsigned i = 0; i < rt_->size(); ++i) {
    http::ServerOptions so;
    so.endpoint = asio::ip::tcp::endpoint(addr, port);
    so.header_limit = cfg_.limits.http_header_bytes;
    so.body_limit = cfg_.limits.http_body_bytes;
    so.read_timeout = cfg_.limits.http_read_timeout;
    so.idle_timeout = cfg_.limits.http_idle_timeout;
    so.max_connections = cfg_.limits.http_connections_per_shard;
    auto* api = api_.get();
    servers_.push_back(std::make_unique<http::Server>(rt_->shard(i).executor(), so,
                                                      [api](http::Request r) { return api->handle(std::move(r)); }));
    // Port 0: the first shard picks a free port; the others join it with SO_REUSEPORT.
    port = servers_.back()->listen();
  }
  http_port_ = port;
  rt_->start();
  started_ = true;
  log::info("app", "listening on http://{}:{} with {} shard(s)", cfg_.http_address, http_port_, rt_->size());
}

namespace {
// Runs on each shard: stop taking work, then flush that shard's webhooks until the deadline.
asio::awaitable<void> drain_shard(http::Server* server, http::ShardServices* s,
                                  std::chrono::steady_clock::time_point deadline) {
  server->stop_accepting();
  s->draining = true;
  // Calls are hung up here once SIP lands (issue 3); their callDestroyed goes out before the flush.
  co_await s->webhooks.drain(deadline);
}
}  // namespace

bool App::drain(std::chrono::milliseconds timeout) {
  if (!started_ || stopped_) return true;
  stopped_ = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  log::info("app", "draining (deadline {} ms)", timeout.count());
  std::vector<std::future<void>> done;
  for (unsigned i = 0; i < rt_->size(); ++i)
    done.push_back(asio::co_spawn(rt_->shard(i).executor(),
                                  drain_shard(servers_[i].get(), services_[i].get(), deadline), asio::use_future));
  bool clean = true;
  for (auto& f : done) {
    // A little slack past the deadline for the drain coroutines to observe it.
    if (f.wait_until(deadline + std::chrono::milliseconds(500)) != std::future_status::ready) clean = false;
  }
  for (unsigned i = 0; i < rt_->size(); ++i) services_[i]->webhooks.stop();
  rt_->stop();
  rt_->join();
  log::info("app", "drained {}", clean ? "cleanly" : "at the deadline");
  return clean;
}

}  // namespace sb::app
