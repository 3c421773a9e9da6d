// The OpenTok-compatible REST surface (SPEC §1–§4, §9). Handlers are thin: authenticate the
// project JWT and validate the body on the shard the request arrived on, then hand the work to
// the shard that owns the session (runtime::on_shard) and translate its outcome to a status.
#pragma once
#include "http/server.hpp"
#include "http/shard_services.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sb::http {

struct RestOptions {
  std::int64_t jwt_skew_s = 60;           // clock skew tolerated on REST JWT iat/exp (SPEC §1)
  std::size_t dial_body_limit = 64 * 1024; // the dial body is small; refuse anything larger
};

class RestApi {
 public:
  RestApi(runtime::Runtime& rt, std::vector<ShardServices*> shards, RestOptions opts);
  // Entry point for Server: runs on the shard that accepted the connection.
  boost::asio::awaitable<Response> handle(Request req);
  // Prometheus text of every shard's counters (gathers from each shard as posted work).
  boost::asio::awaitable<std::string> metrics_text();
  // Another layer's Prometheus lines appended to /metrics (the signaling layer's counters).
  using MetricsSource = std::function<boost::asio::awaitable<std::string>()>;
  void add_metrics_source(MetricsSource m) { extra_metrics_.push_back(std::move(m)); }

 private:
  struct Ctx;
  struct Route;
  static const std::vector<Route>& routes();
  std::optional<Response> check_ids(const Ctx& c);
  // One member per resource (rest_api.cpp's route table says which serves what).
  boost::asio::awaitable<Response> get_health(Ctx c);
  boost::asio::awaitable<Response> get_metrics(Ctx c);
  boost::asio::awaitable<Response> post_session(Ctx c);
  boost::asio::awaitable<Response> post_dial(Ctx c);
  boost::asio::awaitable<Response> get_call_stats(Ctx c);
  boost::asio::awaitable<Response> post_callback(Ctx c);
  boost::asio::awaitable<Response> get_callbacks(Ctx c);
  boost::asio::awaitable<Response> delete_callback(Ctx c);
  boost::asio::awaitable<Response> delete_connection(Ctx c);
  boost::asio::awaitable<Response> post_signal(Ctx c);
  boost::asio::awaitable<Response> post_dtmf(Ctx c);
  boost::asio::awaitable<Response> get_streams(Ctx c);
  boost::asio::awaitable<Response> post_mute(Ctx c);

  ShardServices& local();
  ShardServices& owner(std::string_view session_id);

  runtime::Runtime& rt_;
  std::vector<ShardServices*> shards_;
  RestOptions opts_;
  std::vector<MetricsSource> extra_metrics_;
};

// Formats a time the way OpenTok's create_dt looks ("Fri Nov 18 15:50:36 UTC 2016").
std::string format_create_dt(std::int64_t unix_ms);

}  // namespace sb::http
