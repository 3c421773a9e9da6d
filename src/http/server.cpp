#include "http/server.hpp"

#include "base/log.hpp"

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>

namespace sb::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

Response make_response(unsigned status, std::string body, std::string_view content_type) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::server, "Switchboard/0.1");
  if (!body.empty() || status != 204) res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  if (status == 204) res.body().clear();
  res.prepare_payload();
  return res;
}

Response error_response(unsigned status, std::string_view message, std::string_view description) {
  boost::json::object o;
  o["code"] = status;
  o["message"] = message;
  o["description"] = description.empty() ? message : description;
  return make_response(status, boost::json::serialize(o));
}

struct Server::State {
  asio::any_io_executor ex;
  ServerOptions opts;
  Handler handler;
  UpgradeHandler upgrade;
  tcp::acceptor acceptor;
  bool accepting = true;
  // Idle keep-alive sockets are closed on stop; each connection registers its stream here.
  std::vector<std::weak_ptr<beast::tcp_stream>> streams;
  State(asio::any_io_executor e, ServerOptions o, Handler h, UpgradeHandler u)
      : ex(e), opts(std::move(o)), handler(std::move(h)), upgrade(std::move(u)), acceptor(e) {}
};

namespace {

// One client connection: read a request under a deadline, hand it to the handler, write the
// answer, repeat while keep-alive. Parameters by value: this coroutine outlives its caller.
asio::awaitable<void> serve_connection(std::shared_ptr<Server::State> st, std::shared_ptr<ServerStats> stats,
                                       std::shared_ptr<beast::tcp_stream> stream) {
  beast::flat_buffer buffer;
  bool first = true;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(st->opts.header_limit));
    parser.body_limit(st->opts.body_limit);
    // The first request gets the read deadline; later ones the keep-alive idle time. Our own
    // timer cancels (not closes) the socket at the deadline, so a slow client still gets a 408:
    // Beast's expires_after would close the socket before we could answer.
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer deadline(stream->get_executor());
    deadline.expires_after(first ? st->opts.read_timeout : st->opts.idle_timeout);
    deadline.async_wait([stream, timed_out](boost::system::error_code e) {
      if (e) return;  // cancelled: the read finished first
      *timed_out = true;
      boost::system::error_code ignored;
      stream->socket().cancel(ignored);
    });
    first = false;
    auto [ec, n] = co_await bhttp::async_read(*stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    deadline.cancel();
    if (*timed_out && ec) ec = beast::error::timeout;
    if (ec) {
      std::optional<Response> reply;
      if (ec == bhttp::error::header_limit) {
        ++stats->too_large;
        reply = error_response(431, "Request header fields too large");
      } else if (ec == bhttp::error::body_limit) {
        ++stats->too_large;
        reply = error_response(413, "Request body too large");
      } else if (ec == beast::error::timeout) {
        ++stats->timeouts;
        // Only tell a client that sent part of a request; an idle keep-alive just closes.
        if (buffer.size() > 0 || parser.got_some()) reply = error_response(408, "Request timeout");
      } else if (ec != bhttp::error::end_of_stream && ec != asio::error::eof &&
                 ec != asio::error::connection_reset && ec != asio::error::operation_aborted) {
        ++stats->bad_requests;
        reply = error_response(400, "Malformed HTTP request");
      }
      if (reply) {
        reply->keep_alive(false);
        stream->expires_after(st->opts.write_timeout);
        co_await bhttp::async_write(*stream, *reply, asio::as_tuple(asio::use_awaitable));
      }
      break;
    }
    ++stats->requests;
    Request req = parser.release();
    if (st->upgrade && boost::beast::websocket::is_upgrade(req) && st->accepting) {
      // The signaling layer owns the connection from here (it may move it to another shard).
      co_await st->upgrade(std::move(req), stream->release_socket());
      co_return;
    }
    bool keep = req.keep_alive() && st->accepting;
    Response res = error_response(500, "Internal server error");
    try {
      res = co_await st->handler(std::move(req));
    } catch (const std::exception& e) {
      log::error("http", "handler failed: {}", e.what());
    }
    res.keep_alive(keep);
    stream->expires_after(st->opts.write_timeout);
    auto [wec, wn] = co_await bhttp::async_write(*stream, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !keep) break;
  }
  beast::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream->close();
}

}  // namespace

Server::Server(asio::any_io_executor ex, ServerOptions opts, Handler handler, UpgradeHandler upgrade)
    : state_(std::make_shared<State>(ex, std::move(opts), std::move(handler), std::move(upgrade))),
      stats_(std::make_shared<ServerStats>()) {}

Server::~Server() { stop_accepting(); }

std::uint16_t Server::listen() {
  auto& a = state_->acceptor;
  a.open(state_->opts.endpoint.protocol());
  a.set_option(asio::socket_base::reuse_address(true));
  int one = 1;
  // SO_REUSEPORT: every shard binds the same port and the kernel balances accepts across them.
  ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  a.bind(state_->opts.endpoint);
  a.listen(asio::socket_base::max_listen_connections);
  auto port = a.local_endpoint().port();
  asio::co_spawn(state_->ex, accept_loop(), [](std::exception_ptr e) {
    if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) {
        log::error("http", "accept loop ended: {}", x.what());
      }
  });
  return port;
}

void Server::stop_accepting() {
  if (!state_->accepting) return;
  state_->accepting = false;
  beast::error_code ec;
  state_->acceptor.close(ec);
  for (auto& w : state_->streams)
    if (auto s = w.lock()) s->socket().cancel(ec);
  state_->streams.clear();
}

asio::awaitable<void> Server::accept_loop() {
  auto st = state_;
  auto stats = stats_;
  while (st->accepting) {
    auto [ec, sock] = co_await st->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !st->accepting) break;
      log::warn("http", "accept failed: {}", ec.message());
      continue;
    }
    if (stats->open_connections >= st->opts.max_connections) {
      ++stats->rejected_connections;  // bounded: shed load rather than queue it
      beast::error_code ignored;
      sock.close(ignored);
      continue;
    }
    ++stats->accepted;
    ++stats->open_connections;
    auto stream = std::make_shared<beast::tcp_stream>(std::move(sock));
    std::erase_if(st->streams, [](const auto& w) { return w.expired(); });
    st->streams.push_back(stream);
    asio::co_spawn(st->ex, serve_connection(st, stats, stream), [stats](std::exception_ptr e) {
      --stats->open_connections;
      if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) {
          log::warn("http", "connection ended with exception: {}", x.what());
        }
    });
  }
}

}  // namespace sb::http
