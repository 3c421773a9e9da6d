#include "signaling/client_api.hpp"

#include "base/clock.hpp"
#include "base/encoding.hpp"
#include "base/log.hpp"
#include "core/client_token.hpp"
#include "core/session_id.hpp"

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <unistd.h>

namespace sb::signaling {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

std::vector<std::string_view> split(std::string_view target) {
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  std::vector<std::string_view> parts;
  while (!target.empty()) {
    auto slash = target.find('/');
    auto seg = target.substr(0, slash);
    if (!seg.empty()) parts.push_back(seg);
    if (slash == std::string_view::npos) break;
    target = target.substr(slash + 1);
  }
  return parts;
}

// The page calls from its own origin (XHR), so every answer allows that origin; the preflight
// allows the headers the client sends (OPENTOK-CLIENT.md §1.2 row 2).
void add_cors(Response& res, const Request& req) {
  const std::string_view origin = req[bhttp::field::origin];
  res.set(bhttp::field::access_control_allow_origin, origin.empty() ? std::string_view("*") : origin);
  if (!origin.empty()) res.set(bhttp::field::vary, "Origin");
  res.set(bhttp::field::access_control_allow_credentials, "true");
}

Response cors_preflight(const Request& req) {
  Response res = http::make_response(204, "");
  add_cors(res, req);
  res.set(bhttp::field::access_control_allow_methods, "GET, POST, OPTIONS");
  const std::string_view asked = req[bhttp::field::access_control_request_headers];
  res.set(bhttp::field::access_control_allow_headers,
          asked.empty() ? std::string_view("X-OPENTOK-AUTH, X-TB-TOKEN-AUTH, X-TB-VERSION, X-TB-CLIENT-VERSION, "
                                           "X-TB-CONNECTIONID, Content-Type, Accept")
                        : asked);
  res.set(bhttp::field::access_control_max_age, "600");
  return res;
}

// anvil refuses with HTTP 200 and an `error` element (§2): a non-2xx status would be retried as
// a network error.
Response anvil_error(const Request& req, unsigned code, std::string_view message) {
  json::array a{json::object{{"error", json::object{{"code", code}, {"errorMessage", json::object{{"message", message}}}}}}};
  Response res = http::make_response(200, json::serialize(a));
  add_cors(res, req);
  return res;
}

struct SessionFacts {
  bool found = false;
  bool relayed = false;
};

asio::awaitable<SessionFacts> session_facts_on(http::ShardServices* s, std::string key, std::string sid) {
  auto* ses = s->sessions.find(sid);
  if (!ses || ses->api_key() != key) co_return SessionFacts{};
  co_return SessionFacts{true, ses->media_mode() == core::MediaMode::relayed};
}

}  // namespace

ClientApi::ClientApi(runtime::Runtime& rt, std::vector<http::ShardServices*> shards, ClientApiOptions opts)
    : rt_(rt), shards_(std::move(shards)), opts_(std::move(opts)) {
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    hubs_.push_back(std::make_unique<ClientHub>());
    if (!opts_.routed_media) continue;
    const auto port = opts_.media_port_base ? static_cast<std::uint16_t>(opts_.media_port_base + i) : std::uint16_t(0);
    routers_.push_back(std::make_unique<webrtc::Router>(shards_[i]->shard.executor(),
                                                        asio::ip::make_address(opts_.media_address), port));
    hubs_.back()->router = routers_.back().get();
    audio_.push_back(std::make_unique<SessionAudio>(
        *routers_.back(), std::static_pointer_cast<media::ConferenceTable>(shards_[i]->conferences)));
    hubs_.back()->audio = audio_.back().get();
  }
}

ClientApi::~ClientApi() = default;

void ClientApi::start() {
  for (auto& r : routers_) r->start();
}

std::uint16_t ClientApi::media_port(unsigned shard) const {
  return shard < routers_.size() ? routers_[shard]->port() : 0;
}

http::ShardServices& ClientApi::owner(std::string_view session_id) {
  return *shards_[runtime::Runtime::shard_index(session_id, static_cast<unsigned>(shards_.size()))];
}

asio::awaitable<std::optional<Response>> ClientApi::handle(const Request& req) {
  const auto parts = split(req.target());
  const auto method = req.method();
  auto& here = *hubs_[runtime::Runtime::current() ? runtime::Runtime::current()->id() : 0];

  if (method == bhttp::verb::options) co_return cors_preflight(req);
  const std::size_t n = parts.size();
  // The REST API's own paths are never the client's.
  if (n >= 1 && parts[0] == "v2") co_return std::nullopt;

  // GET …/project/{apiKey}/config.json
  if (method == bhttp::verb::get && n >= 3 && parts[n - 1] == "config.json" && parts[n - 3] == "project") {
    Response res = http::make_response(200, "{}");
    add_cors(res, req);
    co_return res;
  }
  // POST …/logging/ClientEvent|ClientQos: the client's telemetry, counted and dropped.
  if (method == bhttp::verb::post && n >= 2 && parts[n - 2] == "logging" &&
      (parts[n - 1] == "ClientEvent" || parts[n - 1] == "ClientQos")) {
    ++here.stats.logging_posts;
    Response res = http::make_response(200, "", "text/plain");
    add_cors(res, req);
    co_return res;
  }
  // GET …/session/{sessionId} — anvil (not POST /session/create, which is REST).
  if (method == bhttp::verb::get && n >= 2 && parts[n - 2] == "session" && parts[n - 1] != "create") {
    // A named local, not a conditional, inside co_await: GCC 12 miscompiles temporaries of
    // conditional expressions in a co_await full-expression (double free).
    std::string sid(parts[n - 1]);
    if (auto decoded = percent_decode(parts[n - 1], false)) sid = std::move(*decoded);
    co_return co_await anvil(req, std::move(sid));
  }
  co_return std::nullopt;
}

asio::awaitable<Response> ClientApi::anvil(const Request& req, std::string sid) {
  auto info = core::parse_session_id(sid);
  if (!info) co_return anvil_error(req, 404, "Invalid session ID");
  auto& home = *shards_[runtime::Runtime::current() ? runtime::Runtime::current()->id() : 0];
  const auto* project = home.projects.find(info->api_key);
  if (!project) co_return anvil_error(req, 404, "Unknown project");
  auto token = core::validate_client_token(std::string_view(req["X-OPENTOK-AUTH"]), info->api_key, project->api_secret, sid,
                                           unix_ms() / 1000);
  if (!token) co_return anvil_error(req, 403, "Invalid token: " + token.error().message());
  auto& o = owner(sid);
  auto facts = co_await runtime::on_shard(o.shard, session_facts_on(&o, info->api_key, sid));
  if (!facts.found) co_return anvil_error(req, 404, "Session not found");

  // messaging_url points back here: the client routes it through the proxy itself (§1.1).
  std::string scheme = "ws";
  std::string host{std::string_view(req[bhttp::field::host])};
  if (!opts_.public_url.empty()) {
    std::string_view u = opts_.public_url;
    if (u.starts_with("https://")) scheme = "wss", u.remove_prefix(8);
    else if (u.starts_with("http://")) u.remove_prefix(7);
    host = std::string(u.substr(0, u.find('/')));
  }
  if (host.empty()) host = "localhost";
  json::value ice;
  boost::system::error_code ec;
  ice = json::parse(opts_.ice_servers_json, ec);
  if (ec || !ice.is_array()) ice = json::array{};
  json::object props{{"p2p", json::object{{"preference", json::object{{"value", facts.relayed ? "enabled" : "disabled"}}}}},
                     {"reconnection", false},
                     {"renegotiation", false},
                     {"simulcast", false},
                     {"e2ee", false}};
  json::array a{json::object{{"session_id", sid},
                             {"partner_id", info->api_key},
                             {"project_id", info->api_key},
                             {"messaging_url", scheme + "://" + host + "/" + sid + "/rumorwebsocketsv2"},
                             {"symphony_address", opts_.client.symphony_address},
                             {"messaging_server_url", host},
                             {"media_server_hostname", host},
                             {"ice_servers", std::move(ice)},
                             {"properties", std::move(props)}}};
  Response res = http::make_response(200, json::serialize(a));
  add_cors(res, req);
  co_return res;
}

namespace {
asio::awaitable<void> reject_upgrade(asio::ip::tcp::socket sock, unsigned status, std::string why) {
  Response res = http::error_response(status, why);
  res.keep_alive(false);
  co_await bhttp::async_write(sock, res, asio::as_tuple(asio::use_awaitable));  // best effort
  boost::system::error_code ignored;
  sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  sock.close(ignored);
}

// On the owning shard: wraps the moved descriptor in a socket of this io_context and serves it.
asio::awaitable<void> adopt_and_serve(http::ShardServices* svc, ClientHub* hub, asio::ip::tcp protocol, int fd,
                                      Request req, std::string sid, ClientOptions copts, SocketOptions sopts) {
  asio::ip::tcp::socket sock(co_await asio::this_coro::executor);
  boost::system::error_code ec;
  sock.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    co_return;
  }
  co_await serve_client(svc, hub, std::move(sock), std::move(req), std::move(sid), std::move(copts), sopts);
}

void log_end(std::exception_ptr e) {
  if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) {
      log::warn("signal", "client socket ended with exception: {}", x.what());
    }
}
}  // namespace

asio::awaitable<void> ClientApi::upgrade(Request req, asio::ip::tcp::socket sock) {
  const auto parts = split(req.target());
  const std::size_t n = parts.size();
  if (n < 2 || parts[n - 1] != "rumorwebsocketsv2") co_return co_await reject_upgrade(std::move(sock), 404, "No such WebSocket");
  auto sid = percent_decode(parts[n - 2], false);
  if (!sid || !core::parse_session_id(*sid)) co_return co_await reject_upgrade(std::move(sock), 404, "Invalid session ID");
  auto& o = owner(*sid);
  const unsigned shard = o.shard.id();
  auto* hub = hubs_[shard].get();
  if (o.shard.is_current()) {
    co_await serve_client(&o, hub, std::move(sock), std::move(req), std::move(*sid), opts_.client, opts_.socket);
    co_return;
  }
  // Shared-nothing: the client's socket moves to the shard that owns its session, so the client,
  // its session and its peers are touched by one thread only.
  boost::system::error_code ec;
  const auto protocol = sock.local_endpoint(ec).protocol();
  const int fd = ec ? -1 : sock.release(ec);
  if (ec || fd < 0) co_return;
  asio::co_spawn(o.shard.executor(),
                 adopt_and_serve(&o, hub, protocol, fd, std::move(req), std::move(*sid), opts_.client, opts_.socket),
                 log_end);
}

void ClientApi::close_clients_here() {
  if (auto* cur = runtime::Runtime::current()) hubs_[cur->id()]->close_all();
}

namespace {
asio::awaitable<ClientStats> hub_stats_on(ClientHub* h) { co_return h->stats; }
asio::awaitable<std::size_t> hub_size_on(ClientHub* h) { co_return h->size(); }
asio::awaitable<webrtc::RouterStats> router_stats_on(webrtc::Router* r) { co_return r->stats(); }
}  // namespace

asio::awaitable<ClientStats> ClientApi::stats() {
  ClientStats t;
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    auto s = co_await runtime::on_shard(shards_[i]->shard, hub_stats_on(hubs_[i].get()));
    t.connects += s.connects, t.connect_failures += s.connect_failures, t.frames_in += s.frames_in;
    t.frames_out += s.frames_out, t.malformed += s.malformed, t.requests += s.requests;
    t.request_errors += s.request_errors, t.rate_limited += s.rate_limited, t.jsep_relayed += s.jsep_relayed;
    t.logging_posts += s.logging_posts, t.slow_consumers += s.slow_consumers;
  }
  co_return t;
}

asio::awaitable<webrtc::RouterStats> ClientApi::router_stats() {
  webrtc::RouterStats t;
  for (std::size_t i = 0; i < routers_.size(); ++i) {
    auto s = co_await runtime::on_shard(shards_[i]->shard, router_stats_on(routers_[i].get()));
    t.datagrams_in += s.datagrams_in, t.datagrams_out += s.datagrams_out, t.unknown_source += s.unknown_source;
    t.send_errors += s.send_errors, t.forwarded_rtp += s.forwarded_rtp, t.forwarded_rtcp += s.forwarded_rtcp;
    t.keyframe_requests += s.keyframe_requests, t.publications += s.publications, t.subscriptions += s.subscriptions;
    t.local_publications += s.local_publications, t.local_rtp += s.local_rtp, t.audio_tapped += s.audio_tapped;
    t.foreign_ssrc += s.foreign_ssrc, t.remb += s.remb, t.consent_expired += s.consent_expired;
    t.ice_rejected += s.ice_rejected, t.foreign_source += s.foreign_source, t.before_keys += s.before_keys;
    t.srtp_auth += s.srtp_auth;
  }
  co_return t;
}

asio::awaitable<std::size_t> ClientApi::client_count() {
  std::size_t n = 0;
  for (std::size_t i = 0; i < shards_.size(); ++i)
    n += co_await runtime::on_shard(shards_[i]->shard, hub_size_on(hubs_[i].get()));
  co_return n;
}

}  // namespace sb::signaling
