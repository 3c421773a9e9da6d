#include "signaling/websocket.hpp"

#include "base/log.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>

namespace sb::signaling {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// The socket side of a Client: the WebSocket and its bounded outgoing queue. Shared by the read
// loop (serve_client) and the writer coroutine; the Client only sees the Sink interface.
struct Connection final : Client::Sink {
  websocket::stream<beast::tcp_stream> ws;
  std::deque<std::string> queue;
  std::size_t queued_bytes = 0;
  asio::steady_timer wake;  // the writer sleeps on it; send/close cancel it
  bool closing = false;
  bool connected = false;  // the client got past connections.create (read by the watchdog)
  std::uint16_t close_code = 1000;
  SocketOptions opts;
  ClientHub* hub;

  Connection(tcp::socket s, SocketOptions o, ClientHub* h)
      : ws(std::move(s)), wake(ws.get_executor()), opts(o), hub(h) {
    wake.expires_at(asio::steady_timer::time_point::max());
  }

  void send(std::string frame) override {
    if (closing) return;
    if (queue.size() >= opts.max_queued_frames || queued_bytes + frame.size() > opts.max_queued_bytes) {
      ++hub->stats.slow_consumers;
      log::warn("signal", "client does not read its socket; dropping it");
      // A peer that does not read would also stall a close handshake: cut the TCP connection,
      // which ends the read loop (the client leaves with networkDisconnected) and the writer.
      closing = true;
      boost::system::error_code ignored;
      beast::get_lowest_layer(ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(ws).cancel();
      wake.cancel();
      return;
    }
    queued_bytes += frame.size();
    queue.push_back(std::move(frame));
    wake.cancel();
  }
  void close(std::uint16_t code) override {
    if (closing) return;
    closing = true;
    close_code = code;
    wake.cancel();
  }
};

// Closes a socket that has not connected (connections.create) within the deadline, even if it
// keeps answering pings and sends nothing.
asio::awaitable<void> connect_watchdog(std::shared_ptr<Connection> c) {
  asio::steady_timer t(c->ws.get_executor());
  t.expires_after(c->opts.connect_deadline);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  if (c->connected || c->closing) co_return;
  c->closing = true;
  boost::system::error_code ignored;
  beast::get_lowest_layer(c->ws).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(c->ws).cancel();
  c->wake.cancel();
}

asio::awaitable<void> write_loop(std::shared_ptr<Connection> c) {
  for (;;) {
    while (!c->queue.empty()) {
      std::string frame = std::move(c->queue.front());
      c->queue.pop_front();
      c->queued_bytes -= frame.size();
      auto [ec, n] = co_await c->ws.async_write(asio::buffer(frame), asio::as_tuple(asio::use_awaitable));
      if (ec) {
        c->closing = true;
        beast::get_lowest_layer(c->ws).cancel();  // ends the read loop too
        co_return;
      }
    }
    if (c->closing) {
      if (c->ws.is_open())
        co_await c->ws.async_close(websocket::close_reason(c->close_code), asio::as_tuple(asio::use_awaitable));
      co_return;
    }
    c->wake.expires_at(asio::steady_timer::time_point::max());
    co_await c->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace

asio::awaitable<void> serve_client(http::ShardServices* svc, ClientHub* hub, tcp::socket sock, http::Request req,
                                   std::string session_id, ClientOptions copts, SocketOptions sopts) {
  auto c = std::make_shared<Connection>(std::move(sock), sopts, hub);
  websocket::stream_base::timeout to{};
  to.handshake_timeout = sopts.handshake_timeout;
  to.idle_timeout = sopts.idle_timeout;
  to.keep_alive_pings = true;
  c->ws.set_option(to);
  c->ws.read_message_max(kMaxRumorFrame);
  c->ws.binary(true);  // the client sends and expects binary frames (§3.1)
  c->ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "Switchboard/0.1"); }));
  auto [aec] = co_await c->ws.async_accept(req, asio::as_tuple(asio::use_awaitable));
  if (aec) {
    log::info("signal", "WebSocket upgrade failed: {}", aec.message());
    co_return;
  }
  Client client(*svc, *hub, *c, std::move(session_id), std::move(copts));
  asio::co_spawn(c->ws.get_executor(), write_loop(c), [](std::exception_ptr e) {
    if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) {
        log::warn("signal", "writer ended with exception: {}", x.what());
      }
  });
  asio::co_spawn(c->ws.get_executor(), connect_watchdog(c), [](std::exception_ptr e) {
    if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) {
        log::warn("signal", "connect watchdog ended with exception: {}", x.what());
      }
  });
  beast::flat_buffer buf;
  bool clean = false;
  for (;;) {
    buf.clear();
    auto [ec, n] = co_await c->ws.async_read(buf, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      // A close handshake with 1000/1001 (session.disconnect(), a page going away) is a normal
      // leave; anything else (timeout, reset, 4xxx) is a network disconnect.
      const auto code = c->ws.reason().code;
      clean = ec == websocket::error::closed && (code == websocket::close_code::normal ||
                                                 code == websocket::close_code::going_away);
      break;
    }
    auto data = buf.cdata();
    auto parsed = parse_rumor(std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(data.data()), data.size()));
    if (parsed && parsed.frame.frame_size == data.size()) client.on_frame(parsed.frame);
    else client.on_malformed();
    c->connected = client.connected();
    if (c->closing && !c->ws.is_open()) break;
  }
  client.on_closed(clean);
  c->close(1000);  // lets the writer finish (its close fails harmlessly on a closed socket)
}

}  // namespace sb::signaling
