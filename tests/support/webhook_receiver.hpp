// A real HTTP server on 127.0.0.1 that records the webhooks POSTed to it (its own thread and
// io_context), so tests can assert the exact callback sequence a call produced.
#pragma once
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sb::test {

class WebhookReceiver {
 public:
  WebhookReceiver() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    boost::asio::co_spawn(io_, accept(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~WebhookReceiver() {
    io_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/hooks"; }

  // Each answer waits this long after its request was recorded (a slow receiver: the sender's
  // queue fills behind the event in flight).
  void set_answer_delay(std::chrono::milliseconds d) { answer_delay_ = d; }

  std::vector<boost::json::object> events() {
    std::lock_guard l(m_);
    return events_;
  }
  // "callCreated", "callUpdated:RINGING", "callDestroyed:486", "connectionCreated", …
  std::vector<std::string> names() {
    std::vector<std::string> out;
    for (auto& e : events()) {
      std::string n(e.at("event").as_string());
      if (auto* s = e.if_contains("state")) n += ":" + std::string(s->as_string());
      if (auto* r = e.if_contains("reason_code")) n += ":" + std::string(r->as_string());
      out.push_back(n);
    }
    return out;
  }
  bool wait_for(const std::function<bool(const std::vector<boost::json::object>&)>& pred,
                std::chrono::milliseconds timeout) {
    std::unique_lock l(m_);
    return cv_.wait_for(l, timeout, [&] { return pred(events_); });
  }
  bool wait_for_event(std::string_view name, std::chrono::milliseconds timeout) {
    return wait_for(
        [&](const auto& ev) {
          for (auto& e : ev)
            if (e.at("event").as_string() == name) return true;
          return false;
        },
        timeout);
  }

 private:
  boost::asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, s] = co_await acceptor_.async_accept(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) co_return;
      boost::asio::co_spawn(io_, serve(std::move(s)), boost::asio::detached);
    }
  }
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket s) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buf;
    for (;;) {
      http::request<http::string_body> req;
      auto [ec, n] = co_await http::async_read(s, buf, req, boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) co_return;
      {
        std::lock_guard l(m_);
        boost::system::error_code jec;
        auto v = boost::json::parse(req.body(), jec);
        if (!jec && v.is_object()) events_.push_back(v.as_object());
      }
      cv_.notify_all();
      if (const auto delay = answer_delay_.load(); delay.count() > 0) {
        boost::asio::steady_timer t(io_, delay);
        co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(s, res, boost::asio::as_tuple(boost::asio::use_awaitable));
      if (wec || !req.keep_alive()) co_return;
    }
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<boost::json::object> events_;
  std::atomic<std::chrono::milliseconds> answer_delay_{std::chrono::milliseconds(0)};
};

}  // namespace sb::test
