// The webhook client against real loopback receivers (plain and TLS) on port 0: what is sent,
// signed and retried, what is dropped and counted, ordering, bounds, timeouts and shutdown.
// Everything runs on one io_context in this thread; every wait is bounded.
#include "http/webhook.hpp"

#include "base/clock.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <unistd.h>

// Same false positive as in src/http/webhook.cpp (Asio 1.81 frame recycling under GCC 12).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

using namespace std::chrono_literals;
using sb::http::WebhookEvent;
using sb::http::WebhookOptions;
using sb::http::WebhookSender;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kSecret = "webhook-test-secret-0123456789abcdef";

// ---------------------------------------------------------------------------------------------
// A loopback receiver

// What the receiver does with one request.
struct Reply {
  unsigned status = 200;
  bool hang = false;          // read the request and never answer
  bool close = false;         // answer with `Connection: close` and close
  std::size_t body_bytes = 0; // size of the answer body
  std::string retry_after{};  // Retry-After value, if any
  bool drop_after = false;    // answer as keep-alive, then close anyway (an idle-timeout close)
  bool interim_100 = false;   // send an unsolicited `100 Continue` first
};

struct Received {
  std::size_t connection = 0;  // 1-based accept order
  std::string method, target, body, sni;
  std::map<std::string, std::string> headers;  // lowercase names
  Clock::time_point at;
};

struct ReceiverState {
  explicit ReceiverState(asio::io_context& ioc) : acceptor(ioc) {}
  tcp::acceptor acceptor;
  std::function<Reply(std::size_t)> policy;  // by 0-based request index across connections
  asio::ssl::context* tls = nullptr;         // owned by the test; null = plain http
  std::vector<Received> requests;
  std::size_t connections = 0;
  std::size_t handshake_failures = 0;
  std::size_t task_failures = 0;
  std::vector<std::function<void()>> closers;  // one per accepted connection, for stop()
};

void spawn(const std::shared_ptr<ReceiverState>& st, asio::awaitable<void> task) {
  asio::co_spawn(st->acceptor.get_executor(), std::move(task), [st](std::exception_ptr e) {
    if (e) ++st->task_failures;
  });
}

std::map<std::string, std::string> lowercase_headers(const bhttp::fields& f) {
  std::map<std::string, std::string> out;
  for (const auto& h : f) {
    std::string name(h.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[name] = std::string(h.value());
  }
  return out;
}

template <class Stream>
asio::awaitable<void> serve(std::shared_ptr<ReceiverState> st, std::shared_ptr<Stream> s, std::size_t id,
                            std::string sni) {
  beast::flat_buffer buf;
  for (;;) {
    bhttp::request<bhttp::string_body> req;
    auto [ec, n] = co_await bhttp::async_read(*s, buf, req, use_tuple);
    if (ec) co_return;  // the client closed (or gave up on a hung request), or stop()
    const std::size_t index = st->requests.size();
    st->requests.push_back(Received{id, std::string(req.method_string()), std::string(req.target()), req.body(), sni,
                                    lowercase_headers(req), Clock::now()});
    const Reply r = st->policy(index);
    if (r.hang) continue;  // the next read ends when the client times out and closes

    if (r.interim_100) {
      auto [iec, in] = co_await asio::async_write(*s, asio::buffer(std::string_view("HTTP/1.1 100 Continue\r\n\r\n")),
                                                  use_tuple);
      if (iec) co_return;
    }
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), 11};
    if (!r.retry_after.empty()) res.set(bhttp::field::retry_after, r.retry_after);
    res.body() = std::string(r.body_bytes, 'x');
    res.keep_alive(!r.close && req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await bhttp::async_write(*s, res, use_tuple);
    if (wec || !res.keep_alive() || r.drop_after) co_return;
  }
}

asio::awaitable<void> serve_tls(std::shared_ptr<ReceiverState> st,
                                std::shared_ptr<beast::ssl_stream<beast::tcp_stream>> s, std::size_t id) {
  beast::get_lowest_layer(*s).expires_after(5s);
  auto [ec] = co_await s->async_handshake(asio::ssl::stream_base::server, use_tuple);
  if (ec) {
    ++st->handshake_failures;
    co_return;
  }
  beast::get_lowest_layer(*s).expires_never();
  // A named local, not a conditional temporary inside the co_await expression (GCC 12 destroys
  // such temporaries wrongly in coroutines).
  const char* name = SSL_get_servername(s->native_handle(), TLSEXT_NAMETYPE_host_name);
  std::string sni = name ? name : "";
  co_await serve(st, s, id, std::move(sni));
}

asio::awaitable<void> accept_loop(std::shared_ptr<ReceiverState> st) {
  for (;;) {
    auto [ec, sock] = co_await st->acceptor.async_accept(use_tuple);
    if (ec) co_return;  // stop() closed the acceptor
    const std::size_t id = ++st->connections;
    if (st->tls) {
      auto s = std::make_shared<beast::ssl_stream<beast::tcp_stream>>(std::move(sock), *st->tls);
      st->closers.push_back([w = std::weak_ptr(s)] {
        if (auto p = w.lock()) beast::get_lowest_layer(*p).close();
      });
      spawn(st, serve_tls(st, s, id));
    } else {
      auto s = std::make_shared<beast::tcp_stream>(std::move(sock));
      st->closers.push_back([w = std::weak_ptr(s)] {
        if (auto p = w.lock()) p->close();
      });
      spawn(st, serve(st, s, id, std::string()));
    }
  }
}

// Answers each request as `policy(index)` says, and records it.
class Receiver {
 public:
  Receiver(asio::io_context& ioc, std::function<Reply(std::size_t)> policy, asio::ssl::context* tls = nullptr)
      : st_(std::make_shared<ReceiverState>(ioc)) {
    st_->policy = std::move(policy);
    st_->tls = tls;
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    st_->acceptor.open(ep.protocol());
    st_->acceptor.set_option(tcp::acceptor::reuse_address(true));
    st_->acceptor.bind(ep);
    st_->acceptor.listen();
    port_ = st_->acceptor.local_endpoint().port();
    spawn(st_, accept_loop(st_));
  }
  ~Receiver() { stop(); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  std::string url(std::string_view path = "/hook", std::string_view host = "127.0.0.1") const {
    return fmt::format("{}://{}:{}{}", st_->tls ? "https" : "http", host, port_, path);
  }
  std::uint16_t port() const { return port_; }
  const std::vector<Received>& requests() const { return st_->requests; }
  std::size_t connections() const { return st_->connections; }
  std::size_t handshake_failures() const { return st_->handshake_failures; }
  std::size_t task_failures() const { return st_->task_failures; }

  void stop() {
    boost::system::error_code ec;
    st_->acceptor.close(ec);
    for (auto& c : st_->closers) c();
    st_->closers.clear();
  }

 private:
  std::shared_ptr<ReceiverState> st_;
  std::uint16_t port_ = 0;
};

Reply always(unsigned status) { return Reply{.status = status}; }

// A port nobody listens on: bound, then closed, so a connect is refused at once.
std::uint16_t closed_port(asio::io_context& ioc) {
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto p = a.local_endpoint().port();
  a.close();
  return p;
}

// ---------------------------------------------------------------------------------------------
// Driving the io_context

template <class Pred>
bool run_until(asio::io_context& ioc, Pred done, std::chrono::milliseconds limit = 5s) {
  const auto end = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= end) return false;
    ioc.restart();
    ioc.run_one_for(10ms);
  }
  return true;
}

// After stop(), every coroutine must end by itself: the io_context runs out of work.
bool settles(asio::io_context& ioc, std::chrono::milliseconds limit = 2s) {
  ioc.restart();
  ioc.run_for(limit);
  return ioc.stopped();
}

// ---------------------------------------------------------------------------------------------
// Helpers

WebhookOptions fast_options() {
  WebhookOptions o;
  o.request_timeout = 2s;
  o.backoff_initial = 10ms;
  o.backoff_max = 40ms;
  o.retry_window = 0ms;  // max_attempts alone (the window has tests of its own)
  return o;
}

WebhookEvent event(const std::string& url, int n, std::string key = "call-1") {
  return WebhookEvent{url, std::string(kSecret), fmt::format(R"({{"event":"callUpdated","n":{}}})", n),
                      std::move(key)};
}

std::string body_of(int n) { return fmt::format(R"({{"event":"callUpdated","n":{}}})", n); }

// Reference HMAC computed here with OpenSSL directly, not with the code under test.
std::string reference_signature(std::string_view secret, std::string_view ts, std::string_view body) {
  const std::string data = std::string(ts) + "." + std::string(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  std::string hex = "v1=";
  for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", mac[i]);
  return hex;
}

bool signature_verifies(const Received& r, std::string_view secret = kSecret) {
  auto ts = r.headers.find("x-switchboard-timestamp");
  auto sig = r.headers.find("x-switchboard-signature");
  if (ts == r.headers.end() || sig == r.headers.end()) return false;
  return sig->second == reference_signature(secret, ts->second, r.body);
}

bool looks_like_uuid_v4(const std::string& s) {
  if (s.size() != 36 || s[14] != '4') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i])) || std::isupper(static_cast<unsigned char>(s[i])))
      return false;
  }
  return std::string_view("89ab").find(s[19]) != std::string_view::npos;
}

std::string event_id(const Received& r) { return r.headers.at("x-switchboard-event-id"); }

// ---------------------------------------------------------------------------------------------
// TLS material made in-process

struct TestCert {
  std::string cert_pem, key_pem;
};

std::string bio_string(BIO* b) {
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  return std::string(p, static_cast<std::size_t>(n));
}

// A self-signed P-256 certificate (it is its own CA) for `cn` with subjectAltName `san`.
TestCert make_cert(const std::string& cn, const std::string& san) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key != nullptr);
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), static_cast<long>(std::hash<std::string>{}(cn) & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  const std::pair<int, std::string> exts[] = {{NID_basic_constraints, "critical,CA:TRUE"},
                                              {NID_subject_key_identifier, "hash"},
                                              {NID_subject_alt_name, san}};
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    REQUIRE(e != nullptr);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);

  TestCert out;
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  out.cert_pem = bio_string(b);
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  out.key_pem = bio_string(b);
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

asio::ssl::context server_context(const TestCert& c) {
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.use_certificate_chain(asio::buffer(c.cert_pem));
  ctx.use_private_key(asio::buffer(c.key_pem), asio::ssl::context::pem);
  return ctx;
}

// A file removed at scope exit.
struct TempFile {
  std::filesystem::path path;
  explicit TempFile(std::string_view content) {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() / fmt::format("sb-webhook-test-{}-{}.pem", ::getpid(), ++counter);
    std::ofstream(path) << content;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

}  // namespace

// =============================================================================================

TEST_CASE("webhook: a delivery is a signed JSON POST with the documented headers") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return always(200); });
  WebhookSender tx(ioc.get_executor(), fast_options());

  const auto before = sb::unix_s();
  REQUIRE(tx.enqueue(event(rx.url("/hooks/sip?project=42#frag"), 1)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 1; }));

  REQUIRE(rx.requests().size() == 1);
  const Received& r = rx.requests()[0];
  CHECK(r.method == "POST");
  CHECK(r.target == "/hooks/sip?project=42");  // query kept, fragment never sent
  CHECK(r.body == body_of(1));
  CHECK(r.headers.at("host") == fmt::format("127.0.0.1:{}", rx.port()));
  CHECK(r.headers.at("user-agent") == "Switchboard/0.1");
  CHECK(r.headers.at("content-type") == "application/json");
  CHECK(r.headers.at("content-length") == std::to_string(body_of(1).size()));
  const auto ts = std::stoll(r.headers.at("x-switchboard-timestamp"));
  CHECK(ts >= before);
  CHECK(ts <= sb::unix_s());
  CHECK(signature_verifies(r));
  CHECK_FALSE(signature_verifies(r, "another-secret"));
  CHECK(r.headers.at("x-switchboard-signature") ==
        sb::http::webhook_signature(kSecret, r.headers.at("x-switchboard-timestamp"), r.body));
  CHECK(looks_like_uuid_v4(event_id(r)));

  const auto& s = tx.stats();
  CHECK(s.enqueued == 1);
  CHECK(s.retried == 0);
  CHECK(s.backlog == 0);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
  CHECK(rx.task_failures() == 0);
  CHECK(s.task_failures == 0);
}

TEST_CASE("webhook: events for one URL arrive in enqueue order over one kept-alive connection") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return always(204); });
  WebhookSender tx(ioc.get_executor(), fast_options());

  for (int i = 0; i < 20; ++i) REQUIRE(tx.enqueue(event(rx.url(), i, fmt::format("call-{}", i % 3))));
  CHECK(tx.stats().backlog == 20);
  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 20; }));

  REQUIRE(rx.requests().size() == 20);
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    CHECK(rx.requests()[i].body == body_of(i));
    CHECK(rx.requests()[i].connection == 1);
    ids.insert(event_id(rx.requests()[i]));
  }
  CHECK(ids.size() == 20);  // one id per event
  CHECK(rx.connections() == 1);
  CHECK(tx.stats().backlog == 0);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: a receiver that closes after each answer gets a new connection per event, in order") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return Reply{.status = 200, .close = true}; });
  WebhookSender tx(ioc.get_executor(), fast_options());

  for (int i = 0; i < 5; ++i) REQUIRE(tx.enqueue(event(rx.url(), i)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 5; }));
  REQUIRE(rx.requests().size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(rx.requests()[i].body == body_of(i));
    CHECK(rx.requests()[i].connection == static_cast<std::size_t>(i + 1));
  }
  CHECK(tx.stats().retried == 0);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: one destination however its URL is spelled, and unsolicited 100 Continue is skipped") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return Reply{.status = 200, .interim_100 = true}; });
  WebhookSender tx(ioc.get_executor(), fast_options());
  REQUIRE(tx.enqueue(event(rx.url("/hook"), 1)));
  REQUIRE(tx.enqueue(event(fmt::format("HTTP://127.0.0.1:{}/hook", rx.port()), 2)));
  REQUIRE(tx.enqueue(event(fmt::format("http://127.0.0.1:{}/hook#x", rx.port()), 3)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().backlog == 0; }));
  CHECK(tx.stats().delivered == 3);
  CHECK(tx.stats().retried == 0);
  REQUIRE(rx.requests().size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(rx.requests()[i].body == body_of(i + 1));
  CHECK(rx.connections() == 1);  // one queue, one kept-alive connection
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: a kept-alive connection the receiver closed while idle is not reused") {
  asio::io_context ioc;
  // The 500 says keep-alive, then the receiver closes during the backoff wait.
  Receiver rx(ioc, [](std::size_t i) { return i == 0 ? Reply{.status = 500, .drop_after = true} : always(200); });
  WebhookSender tx(ioc.get_executor(), fast_options());
  REQUIRE(tx.enqueue(event(rx.url(), 1)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().backlog == 0; }));
  CHECK(tx.stats().delivered == 1);
  CHECK(tx.stats().retried == 1);  // only the 500: the dead connection cost no attempt
  CHECK(rx.connections() == 2);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: 5xx is retried with backoff and the same event id while later events wait behind it") {
  asio::io_context ioc;
  const unsigned script[] = {500, 503, 502};  // then 200 for everything
  Receiver rx(ioc, [&](std::size_t i) { return always(i < 3 ? script[i] : 200); });
  WebhookSender tx(ioc.get_executor(), fast_options());

  REQUIRE(tx.enqueue(event(rx.url(), 1)));
  REQUIRE(tx.enqueue(event(rx.url(), 2)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 2; }));

  const auto& rq = rx.requests();
  REQUIRE(rq.size() == 5);
  for (int i = 0; i < 4; ++i) {
    CHECK(rq[i].body == body_of(1));
    CHECK(event_id(rq[i]) == event_id(rq[0]));  // stable across retries: receivers de-duplicate on it
    CHECK(signature_verifies(rq[i]));            // re-signed per attempt
  }
  CHECK(rq[4].body == body_of(2));
  CHECK(event_id(rq[4]) != event_id(rq[0]));
  // Backoff: at least half of 10, 20, 40 ms before retries 1, 2, 3.
  CHECK(rq[1].at - rq[0].at >= 5ms);
  CHECK(rq[2].at - rq[1].at >= 10ms);
  CHECK(rq[3].at - rq[2].at >= 20ms);

  const auto& s = tx.stats();
  CHECK(s.retried == 3);
  CHECK(s.dropped_exhausted == 0);
  CHECK(s.backlog == 0);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: a receiver down past max_attempts gets every event, in order, once it is back within retry_window") {
  asio::io_context ioc;
  const auto down_until = Clock::now() + 600ms;  // 503 and refused-like failures for 0.6 s
  std::vector<unsigned> answered;  // per request, in arrival order
  Receiver rx(ioc, [&](std::size_t) {
    answered.push_back(Clock::now() < down_until ? 503 : 200);
    return always(answered.back());
  });
  auto o = fast_options();
  o.max_attempts = 2;  // alone, it would drop event 1 after ~20 ms
  o.retry_window = 5s;
  WebhookSender tx(ioc.get_executor(), o);
  for (int n = 1; n <= 5; ++n) REQUIRE(tx.enqueue(event(rx.url(), n, fmt::format("call-{}", n % 2))));
  CHECK(tx.stats().backlog == 5);  // waiting, visible (switchboard_webhook_backlog)
  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 5; }));
  std::vector<std::string> delivered;
  REQUIRE(answered.size() == rx.requests().size());
  for (std::size_t i = 0; i < answered.size(); ++i)
    if (answered[i] == 200) delivered.push_back(rx.requests()[i].body);
  REQUIRE(delivered.size() == 5);
  for (int n = 1; n <= 5; ++n) CHECK(delivered[n - 1] == body_of(n));  // in enqueue order
  const auto& s = tx.stats();
  CHECK(s.retried > 2);
  CHECK(s.dropped_exhausted == 0);
  CHECK(s.backlog == 0);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: past retry_window (and max_attempts) an event is dropped and counted, and the next one goes") {
  asio::io_context ioc;
  auto o = fast_options();
  o.max_attempts = 1;
  o.retry_window = 300ms;
  WebhookSender tx(ioc.get_executor(), o);
  const std::string url = fmt::format("http://127.0.0.1:{}/hook", closed_port(ioc));
  const auto start = Clock::now();
  REQUIRE(tx.enqueue(event(url, 1)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().dropped_exhausted == 1; }));
  CHECK(Clock::now() - start >= 300ms);
  CHECK(tx.stats().retried >= 3);  // retried through the window, though max_attempts is 1
  tx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: 408 and 429 are retried, 404 is dropped at once and the next event still goes") {
  asio::io_context ioc;
  const unsigned script[] = {408, 429, 200, 404, 200};
  Receiver rx(ioc, [&](std::size_t i) { return always(i < 5 ? script[i] : 200); });
  WebhookSender tx(ioc.get_executor(), fast_options());

  for (int i = 1; i <= 3; ++i) REQUIRE(tx.enqueue(event(rx.url(), i)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().backlog == 0; }));

  const auto& rq = rx.requests();
  REQUIRE(rq.size() == 5);
  CHECK(rq[2].body == body_of(1));
  CHECK(rq[3].body == body_of(2));  // the 404: tried once
  CHECK(rq[4].body == body_of(3));
  const auto& s = tx.stats();
  CHECK(s.delivered == 2);
  CHECK(s.retried == 2);
  CHECK(s.dropped_rejected == 1);
  CHECK(s.dropped_exhausted == 0);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: Retry-After stretches a retry up to backoff_max, never beyond") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t i) { return i == 0 ? Reply{.status = 429, .retry_after = "30"} : always(200); });
  auto o = fast_options();
  o.backoff_max = 300ms;
  WebhookSender tx(ioc.get_executor(), o);

  REQUIRE(tx.enqueue(event(rx.url(), 1)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 1; }));
  REQUIRE(rx.requests().size() == 2);
  const auto gap = rx.requests()[1].at - rx.requests()[0].at;
  CHECK(gap >= 300ms);
  CHECK(gap < 2s);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: a refused connection is retried max_attempts times, dropped, and the next event is tried") {
  asio::io_context ioc;
  auto o = fast_options();
  o.max_attempts = 3;
  WebhookSender tx(ioc.get_executor(), o);
  const std::string url = fmt::format("http://127.0.0.1:{}/hook", closed_port(ioc));

  REQUIRE(tx.enqueue(event(url, 1)));
  REQUIRE(tx.enqueue(event(url, 2)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().backlog == 0; }));
  const auto& s = tx.stats();
  CHECK(s.dropped_exhausted == 2);
  CHECK(s.retried == 4);  // 2 retries per event
  CHECK(s.delivered == 0);
  CHECK(s.dropped_rejected == 0);
  tx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: a receiver that never answers times out at request_timeout on every attempt") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return Reply{.status = 200, .hang = true}; });
  auto o = fast_options();
  o.request_timeout = 300ms;
  o.max_attempts = 2;
  WebhookSender tx(ioc.get_executor(), o);

  const auto start = Clock::now();
  REQUIRE(tx.enqueue(event(rx.url(), 1)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().dropped_exhausted == 1; }));
  const auto took = Clock::now() - start;
  CHECK(took >= 600ms);
  CHECK(took < 2s);
  REQUIRE(rx.requests().size() == 2);
  CHECK(event_id(rx.requests()[0]) == event_id(rx.requests()[1]));
  CHECK(rx.connections() == 2);  // a timed-out connection is never reused
  CHECK(tx.stats().retried == 1);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: a stuck destination does not delay another destination") {
  asio::io_context ioc;
  Receiver stuck(ioc, [](std::size_t) { return Reply{.status = 200, .hang = true}; });
  Receiver fine(ioc, [](std::size_t) { return always(200); });
  WebhookSender tx(ioc.get_executor(), fast_options());  // 2 s request timeout

  const auto start = Clock::now();
  REQUIRE(tx.enqueue(event(stuck.url(), 1)));
  REQUIRE(tx.enqueue(event(stuck.url(), 2)));
  REQUIRE(tx.enqueue(event(fine.url(), 3)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 1; }, 1s));
  CHECK(Clock::now() - start < 1s);
  REQUIRE(fine.requests().size() == 1);
  CHECK(fine.requests()[0].body == body_of(3));
  CHECK(stuck.requests().size() == 1);  // event 2 waits behind event 1 on its own URL
  CHECK(tx.stats().backlog == 2);

  tx.stop();  // structured shutdown: in-flight and queued events are counted, workers end
  CHECK(tx.stats().dropped_shutdown == 2);
  CHECK(tx.stats().backlog == 0);
  stuck.stop();
  fine.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: queue_limit refuses new events, keeps the queued ones, and accepts again once drained") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return always(200); });
  auto o = fast_options();
  o.queue_limit = 5;
  WebhookSender tx(ioc.get_executor(), o);

  int accepted = 0;
  for (int i = 0; i < 8; ++i) accepted += tx.enqueue(event(rx.url(), i)) ? 1 : 0;
  CHECK(accepted == 5);
  CHECK(tx.stats().dropped_overflow == 3);
  CHECK(tx.stats().enqueued == 5);
  CHECK(tx.stats().backlog == 5);

  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 5; }));
  for (int i = 0; i < 5; ++i) CHECK(rx.requests()[i].body == body_of(i));
  CHECK(tx.enqueue(event(rx.url(), 99)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 6; }));
  CHECK(rx.requests().back().body == body_of(99));
  CHECK(tx.stats().dropped_overflow == 3);
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: room reserved for a call's terminal event is never taken by overflow") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return always(200); });
  auto o = fast_options();
  o.queue_limit = 4;
  WebhookSender tx(ioc.get_executor(), o);

  // A call reserves its callCreated and callDestroyed before it is placed.
  REQUIRE(tx.reserve(2));
  CHECK(tx.stats().reserved == 2);
  CHECK(tx.enqueue_reserved(event(rx.url(), 0)));  // callCreated
  CHECK(tx.stats().reserved == 1);
  // A flood of other events (callUpdated, session monitoring) fills the rest and is refused
  // beyond it: the call's last event keeps its room.
  int accepted = 0;
  for (int i = 1; i <= 6; ++i) accepted += tx.enqueue(event(rx.url(), i)) ? 1 : 0;
  CHECK(accepted == 2);
  CHECK(tx.stats().dropped_overflow == 4);
  CHECK(tx.stats().backlog + tx.stats().reserved == o.queue_limit);
  // No room for another call: reserving fails and reserves nothing (the dial is refused instead).
  CHECK_FALSE(tx.reserve(2));
  CHECK_FALSE(tx.reserve(1));
  CHECK(tx.stats().reserved == 1);
  // callDestroyed goes in although the queue is full.
  CHECK(tx.enqueue_reserved(event(rx.url(), 99)));
  CHECK(tx.stats().reserved == 0);
  CHECK(tx.stats().backlog == 4);
  REQUIRE(run_until(ioc, [&] { return tx.stats().delivered == 4; }));
  CHECK(rx.requests().back().body == body_of(99));

  // Unused room is given back.
  REQUIRE(tx.reserve(3));
  tx.release(3);
  CHECK(tx.stats().reserved == 0);
  CHECK(tx.reserve(4));
  tx.release(4);
  tx.stop();
  CHECK_FALSE(tx.reserve(1));  // nothing to reserve once stopped
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: URLs are validated at enqueue and split into host, port and target") {
  using sb::http::parse_webhook_url;
  asio::io_context ioc;
  WebhookSender tx(ioc.get_executor(), fast_options());
  const char* bad[] = {"",
                       "not a url",
                       "ftp://example.com/hook",
                       "mailto:ops@example.com",
                       "http://",
                       "http:///path",
                       "https://example.com:0/",
                       "https://example.com:99999/",
                       "https://example.com:65536/",
                       "https://example.com:8x/",
                       "http://user:pw@example.com/",
                       "http://exa mple.com/",
                       "http://ex%00ample.com/",
                       "/relative/path"};
  for (const char* u : bad) {
    INFO(std::string(u));
    CHECK_FALSE(parse_webhook_url(u));
    CHECK_FALSE(tx.enqueue(event(u, 0)));
  }
  CHECK(tx.stats().dropped_invalid == std::size(bad));
  CHECK(tx.stats().enqueued == 0);

  auto a = parse_webhook_url("http://Example.COM");
  REQUIRE(a);
  CHECK_FALSE(a->tls);
  CHECK(a->host == "example.com");
  CHECK(a->port == 80);
  CHECK(a->host_header == "example.com");
  CHECK(a->target == "/");
  auto b = parse_webhook_url("HTTPS://hooks.example.com:8443/a/b%20c?x=1&y=2#top");
  REQUIRE(b);
  CHECK(b->tls);
  CHECK_FALSE(b->host_is_ip);
  CHECK(b->port == 8443);
  CHECK(b->host_header == "hooks.example.com:8443");
  CHECK(b->target == "/a/b%20c?x=1&y=2");
  auto c = parse_webhook_url("https://[::1]/h");
  REQUIRE(c);
  CHECK(c->host == "::1");
  CHECK(c->host_is_ip);
  CHECK(c->port == 443);
  CHECK(c->host_header == "[::1]");
  auto d = parse_webhook_url("http://10.0.0.7:65535?q");
  REQUIRE(d);
  CHECK(d->host_is_ip);
  CHECK(d->port == 65535);
  CHECK(d->target == "/?q");
  auto e = parse_webhook_url("http://example.com:/x");  // empty port = default (RFC 3986 §3.2.3)
  REQUIRE(e);
  CHECK(e->port == 80);
  CHECK(e->host_header == "example.com");
  // Found by fuzz_http_webhook_url: a percent-encoded host decoded to a dotted quad that was taken
  // for a DNS name (and sent as TLS SNI), or to a name that read differently once rebuilt. A DNS
  // name never needs percent-encoding: refused.
  CHECK_FALSE(parse_webhook_url("https://%3127.0.0.17:8443/h"));
  CHECK_FALSE(parse_webhook_url("https://%61pi.example.com/h"));
  CHECK_FALSE(parse_webhook_url("http://%31.0.31.0.0w//%15%1563..14"));
  auto g = parse_webhook_url("https://api.example.com/a%20b");  // in the path it is fine
  REQUIRE(g);
  CHECK(g->target == "/a%20b");
}

TEST_CASE("webhook: backoff doubles from backoff_initial, keeps at least half and never passes backoff_max") {
  using sb::http::webhook_backoff;
  WebhookOptions o;  // 250 ms .. 8 s
  CHECK(webhook_backoff(o, 1, 0.999) <= 250ms);
  CHECK(webhook_backoff(o, 1, 0.0) == 125ms);
  CHECK(webhook_backoff(o, 2, 0.0) == 250ms);
  CHECK(webhook_backoff(o, 3, 1.0) == 1000ms);
  CHECK(webhook_backoff(o, 6, 1.0) == 8000ms);
  CHECK(webhook_backoff(o, 7, 1.0) == 8000ms);   // capped
  CHECK(webhook_backoff(o, 60, 0.5) <= 8000ms);  // no overflow for large retry numbers
  CHECK(webhook_backoff(o, 60, 0.0) == 4000ms);
  for (int retry = 1; retry < 10; ++retry)
    for (double u : {0.0, 0.3, 0.7, 0.999}) {
      CHECK(webhook_backoff(o, retry, u) >= webhook_backoff(o, retry, 0.0));
      CHECK(webhook_backoff(o, retry, u) <= 8000ms);
    }
}

TEST_CASE("webhook: drain returns as soon as the queues are empty, then refuses new events") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return always(200); });
  WebhookSender tx(ioc.get_executor(), fast_options());
  for (int i = 0; i < 3; ++i) REQUIRE(tx.enqueue(event(rx.url(), i)));

  bool drained = false;
  const auto start = Clock::now();
  asio::co_spawn(ioc, tx.drain(start + 5s), [&](std::exception_ptr e) {
    CHECK_FALSE(e);
    drained = true;
  });
  REQUIRE(run_until(ioc, [&] { return drained; }));
  CHECK(Clock::now() - start < 1s);
  CHECK(tx.stats().delivered == 3);
  CHECK(tx.stats().dropped_shutdown == 0);
  CHECK_FALSE(tx.enqueue(event(rx.url(), 4)));
  CHECK(tx.stats().dropped_shutdown == 1);
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: drain gives up at its deadline and what is left counts as dropped_shutdown") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return Reply{.status = 200, .hang = true}; });
  auto o = fast_options();
  o.request_timeout = 5s;
  WebhookSender tx(ioc.get_executor(), o);
  REQUIRE(tx.enqueue(event(rx.url(), 1)));
  REQUIRE(tx.enqueue(event(rx.url(), 2)));

  bool drained = false;
  const auto start = Clock::now();
  asio::co_spawn(ioc, tx.drain(start + 200ms), [&](std::exception_ptr e) {
    CHECK_FALSE(e);
    drained = true;
  });
  REQUIRE(run_until(ioc, [&] { return drained; }, 2s));
  const auto took = Clock::now() - start;
  CHECK(took >= 200ms);
  CHECK(took < 1s);
  const auto& s = tx.stats();
  CHECK(s.delivered == 0);
  CHECK(s.dropped_shutdown == 2);
  CHECK(s.backlog == 0);
  rx.stop();
  CHECK(settles(ioc));  // the stuck worker was cancelled and ended
}

TEST_CASE("webhook: an oversized answer body is not buffered; its status still counts") {
  asio::io_context ioc;
  Receiver rx(ioc, [](std::size_t) { return Reply{.status = 200, .body_bytes = 1 << 20}; });
  WebhookSender tx(ioc.get_executor(), fast_options());
  REQUIRE(tx.enqueue(event(rx.url(), 1)));
  REQUIRE(tx.enqueue(event(rx.url(), 2)));
  REQUIRE(run_until(ioc, [&] { return tx.stats().backlog == 0; }));
  CHECK(tx.stats().delivered == 2);
  CHECK(rx.connections() == 2);  // the rest of that body is never read: the connection is dropped
  tx.stop();
  rx.stop();
  CHECK(settles(ioc));
}

TEST_CASE("webhook: https verifies the receiver's certificate and host name unless told not to") {
  const TestCert good = make_cert("localhost", "DNS:localhost,IP:127.0.0.1");
  const TestCert other = make_cert("wrong.example", "DNS:wrong.example");
  const TempFile good_ca(good.cert_pem);
  const TempFile other_ca(other.cert_pem);
  auto good_server = server_context(good);
  auto other_server = server_context(other);

  SUBCASE("an unknown CA is rejected once, without retries") {
    asio::io_context ioc;
    Receiver rx(ioc, [](std::size_t) { return always(200); }, &good_server);
    WebhookSender tx(ioc.get_executor(), fast_options());  // system trust store
    REQUIRE(tx.enqueue(event(rx.url(), 1)));
    REQUIRE(run_until(ioc, [&] { return tx.stats().backlog == 0; }));
    CHECK(tx.stats().dropped_rejected == 1);
    CHECK(tx.stats().retried == 0);
    CHECK(rx.requests().empty());
    CHECK(rx.connections() == 1);
    tx.stop();
    rx.stop();
    CHECK(settles(ioc));
  }
  SUBCASE("the receiver's certificate given as ca_file is trusted, by DNS name with SNI and by IP") {
    asio::io_context ioc;
    Receiver rx(ioc, [](std::size_t) { return always(200); }, &good_server);
    auto o = fast_options();
    o.ca_file = good_ca.path.string();
    WebhookSender tx(ioc.get_executor(), o);
    REQUIRE(tx.enqueue(event(rx.url("/by-name", "localhost"), 1)));
    REQUIRE(tx.enqueue(event(rx.url("/by-ip", "127.0.0.1"), 2)));
    REQUIRE(run_until(ioc, [&] { return tx.stats().backlog == 0; }));
    CHECK(tx.stats().delivered == 2);
    REQUIRE(rx.requests().size() == 2);
    for (const auto& r : rx.requests()) {
      CHECK(signature_verifies(r));
      if (r.target == "/by-name") {
        CHECK(r.sni == "localhost");
        CHECK(r.headers.at("host") == fmt::format("localhost:{}", rx.port()));
      } else {
        CHECK(r.sni.empty());  // RFC 6066 §3: no IP literals in SNI
      }
    }
    tx.stop();
    rx.stop();
    CHECK(settles(ioc));
  }
  SUBCASE("a trusted certificate for another host name is rejected") {
    asio::io_context ioc;
    Receiver rx(ioc, [](std::size_t) { return always(200); }, &other_server);
    auto o = fast_options();
    o.ca_file = other_ca.path.string();
    WebhookSender tx(ioc.get_executor(), o);
    REQUIRE(tx.enqueue(event(rx.url(), 1)));
    REQUIRE(run_until(ioc, [&] { return tx.stats().backlog == 0; }));
    CHECK(tx.stats().dropped_rejected == 1);
    CHECK(rx.requests().empty());
    tx.stop();
    rx.stop();
    CHECK(settles(ioc));
  }
  SUBCASE("verify_tls=false accepts any certificate") {
    asio::io_context ioc;
    Receiver rx(ioc, [](std::size_t) { return always(200); }, &other_server);
    auto o = fast_options();
    o.verify_tls = false;
    WebhookSender tx(ioc.get_executor(), o);
    REQUIRE(tx.enqueue(event(rx.url(), 1)));
    REQUIRE(run_until(ioc, [&] { return tx.stats().backlog == 0; }));
    CHECK(tx.stats().delivered == 1);
    tx.stop();
    rx.stop();
    CHECK(settles(ioc));
  }
  SUBCASE("an unreadable ca_file fails at construction") {
    asio::io_context ioc;
    auto o = fast_options();
    o.ca_file = "/nonexistent/ca.pem";
    CHECK_THROWS_AS(WebhookSender(ioc.get_executor(), o), boost::system::system_error);
  }
}
