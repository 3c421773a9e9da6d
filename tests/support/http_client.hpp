// A small blocking HTTP/1.1 client for tests: real sockets to the server under test, one
// connection per request, every operation bounded by a socket timeout.
#pragma once
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <map>
#include <string>

namespace sb::test {

struct HttpReply {
  int status = 0;  // 0: no answer (connection closed or timed out)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

inline void set_socket_timeout(boost::asio::ip::tcp::socket& s, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline HttpReply http_request(std::uint16_t port, boost::beast::http::verb method, std::string target,
                              std::string body = {}, std::map<std::string, std::string> headers = {},
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  asio::io_context io;
  asio::ip::tcp::socket sock(io);
  boost::system::error_code ec;
  sock.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  HttpReply out;
  if (ec) return out;
  set_socket_timeout(sock, timeout);
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = std::move(body);
  if (!req.body().empty() || method == http::verb::post) req.prepare_payload();
  http::write(sock, req, ec);
  if (ec) return out;
  boost::beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(16 * 1024 * 1024);
  http::read(sock, buf, p, ec);
  if (ec) return out;
  auto res = p.release();
  out.status = res.result_int();
  out.body = res.body();
  for (auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  return out;
}

// Sends raw bytes and returns whatever the server answers before closing (or the timeout).
inline std::string raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout,
                                std::chrono::milliseconds pause_after_send = std::chrono::milliseconds(0)) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::socket sock(io);
  boost::system::error_code ec;
  sock.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return {};
  set_socket_timeout(sock, timeout);
  asio::write(sock, asio::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = sock.read_some(asio::buffer(buf), ec);
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

}  // namespace sb::test
