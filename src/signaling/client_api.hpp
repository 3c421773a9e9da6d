// The browser clients' front door over HTTP (../shared/OPENTOK-CLIENT.md §1-§2): everything the
// unmodified OpenTok.js requests of "its" servers, served from this one origin.
//
// With `OT.setProxyUrl(url)` every request arrives as `/<original host>/<path>`, and with
// `OTProperties.apiURL` as `/<path>`: routes therefore match on the end of the path, whatever
// precedes it.
//   GET  …/project/{apiKey}/config.json        → {} (the config service; only apiUrl/loggingUrl count)
//   GET  …/session/{sessionId}[?extended=true] → anvil session info (token in X-OPENTOK-AUTH)
//   POST …/logging/ClientEvent|ClientQos       → 200, counted and dropped
//   GET  …/{sessionId}/rumorwebsocketsv2       → the Rumor WebSocket (moved to the session's shard)
//   OPTIONS anything                           → CORS preflight
#pragma once
#include "http/server.hpp"
#include "http/shard_services.hpp"
#include "runtime/runtime.hpp"
#include "signaling/client.hpp"
#include "signaling/session_audio.hpp"
#include "signaling/websocket.hpp"
#include "webrtc/router.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sb::signaling {

struct ClientApiOptions {
  // Where clients reach this server ("https://rtc.example.org"); empty = the request's Host
  // header over plain HTTP. It decides messaging_url's scheme (ws/wss) and host.
  std::string public_url;
  // anvil's ice_servers, as JSON text of an array of {urls, username, credential}; "[]" = none.
  std::string ice_servers_json = "[]";
  ClientOptions client;
  SocketOptions socket;
  // Routed media (the SFU): each shard's WebRTC UDP port is media_port_base + shard (0: any free
  // port), on media_address, which is also the ICE candidate's address.
  bool routed_media = true;
  std::string media_address = "127.0.0.1";
  std::uint16_t media_port_base = 0;
};

class ClientApi {
 public:
  ClientApi(runtime::Runtime& rt, std::vector<http::ShardServices*> shards, ClientApiOptions opts);
  ~ClientApi();
  // Binds each shard's WebRTC port (throws on failure); before the shards run.
  void start();
  std::uint16_t media_port(unsigned shard) const;

  // The response when `req` is one of the client's requests; nullopt otherwise (REST's turn).
  boost::asio::awaitable<std::optional<http::Response>> handle(const http::Request& req);
  // Takes over a WebSocket upgrade (http::Server's UpgradeHandler).
  boost::asio::awaitable<void> upgrade(http::Request req, boost::asio::ip::tcp::socket sock);

  // Per shard, only from that shard's thread.
  ClientHub& hub(unsigned shard) { return *hubs_[shard]; }
  // Drain: closes every client of the current shard.
  void close_clients_here();
  // Totals for /metrics (gathered from every shard).
  boost::asio::awaitable<ClientStats> stats();
  boost::asio::awaitable<std::size_t> client_count();
  boost::asio::awaitable<webrtc::RouterStats> router_stats();

 private:
  http::ShardServices& owner(std::string_view session_id);
  boost::asio::awaitable<http::Response> anvil(const http::Request& req, std::string session_id);

  runtime::Runtime& rt_;
  std::vector<http::ShardServices*> shards_;
  ClientApiOptions opts_;
  std::vector<std::unique_ptr<ClientHub>> hubs_;
  std::vector<std::unique_ptr<webrtc::Router>> routers_;
  std::vector<std::unique_ptr<SessionAudio>> audio_;  // per shard, beside its router
};

}  // namespace sb::signaling
