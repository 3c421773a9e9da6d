// The HTTP/1.1 server of one shard (Beast). Every shard binds the same port with SO_REUSEPORT, so
// the kernel spreads connections over shards; a request is then handed to the shard that owns its
// session by the handler (see rest_api.cpp). Each read has a deadline and each message a size
// bound: a slow or oversized client gets a clear status (408/413/431/400) and is closed.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace sb::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Handler = std::function<boost::asio::awaitable<Response>(Request)>;
// Takes over a connection whose request asks for a WebSocket upgrade (RFC 6455 §4.1): the
// request and the socket are handed over as they are; the server forgets the connection.
using UpgradeHandler = std::function<boost::asio::awaitable<void>(Request, boost::asio::ip::tcp::socket)>;

struct ServerOptions {
  boost::asio::ip::tcp::endpoint endpoint;
  std::size_t header_limit = 8 * 1024;             // request line + headers
  std::size_t body_limit = 1024 * 1024;             // any REST body; dial's own cap is lower
  std::chrono::milliseconds read_timeout{10000};    // whole request, headers and body (slowloris)
  std::chrono::milliseconds idle_timeout{30000};    // keep-alive between requests
  std::chrono::milliseconds write_timeout{10000};
  std::size_t max_connections = 4096;               // per shard; beyond: accept and close
};

struct ServerStats {
  std::uint64_t accepted = 0, rejected_connections = 0, requests = 0, bad_requests = 0, timeouts = 0,
                too_large = 0;
  std::size_t open_connections = 0;
};

class Server {
 public:
  Server(boost::asio::any_io_executor ex, ServerOptions opts, Handler handler, UpgradeHandler upgrade = {});
  ~Server();
  // Binds (SO_REUSEPORT) and starts accepting. Returns the bound port (useful with port 0).
  std::uint16_t listen();
  // Stops accepting and closes idle keep-alive connections; requests in progress finish.
  void stop_accepting();
  const ServerStats& stats() const { return *stats_; }

  struct State;  // shared with the connection coroutines, which may outlive a stop

 private:
  boost::asio::awaitable<void> accept_loop();
  std::shared_ptr<State> state_;
  std::shared_ptr<ServerStats> stats_;
};

// Builds a response with the exact Content-Type the SDKs compare against (SPEC §1).
Response make_response(unsigned status, std::string body, std::string_view content_type = "application/json");
// The SPEC §1 JSON error body {"code","message","description"}.
Response error_response(unsigned status, std::string_view message, std::string_view description = {});

}  // namespace sb::http
