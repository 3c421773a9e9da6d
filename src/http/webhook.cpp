// Webhook delivery client (see webhook.hpp and docs/webhooks.md).
//
// Shape: Impl holds the per-URL queues (Destination). enqueue() appends to a queue and, when the
// queue had no worker, spawns run_destination(); the worker delivers the front event (attempts and
// backoff in deliver(), one attempt in attempt_once()), pops it, and ends when the queue is empty,
// erasing its Destination. Workers share ownership of Impl and of their Destination, so stop()
// only has to cancel: nothing a suspended coroutine uses can be destroyed under it.
#include "http/webhook.hpp"

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/encoding.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/span.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <deque>
#include <exception>
#include <random>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

// GCC 12 at -O1 and above reports -Wmismatched-new-delete on Asio 1.81's recycled awaitable frames
// (aligned_alloc paired with the frame's operator delete, which does free()): a known false
// positive (see erigontech/silkworm PR #2046), silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace sb::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

// Failures are normal flow for a webhook client: every operation reports through a tuple.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kUserAgent = "Switchboard/0.1";
// A receiver's answer body is read (so the connection can be reused) but never kept beyond this:
// a hostile or broken receiver cannot make a shard buffer more. Headers are capped by Beast's
// default header_limit (8 KiB).
constexpr std::uint64_t kMaxResponseBody = 64 * 1024;
// Unsolicited 1xx answers skipped before the final one (more than this is treated as final).
constexpr int kMaxInterimAnswers = 4;

// The lead will move this to the project logger. Never pass secrets or bodies here.
template <class... Args>
void log_line(fmt::format_string<Args...> f, Args&&... args) {
  fmt::print(stderr, "webhook: {}\n", fmt::format(f, std::forward<Args>(args)...));
}

bool is_tls_verify_failure(const error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

// RFC 9110 §4.3.4 / RFC 6125 host check (Asio's host_name_verification: X509_check_host, or
// X509_check_ip_asc for IP literals) that also records why it failed, so the drop log says
// "hostname mismatch" instead of OpenSSL's "unspecified certificate verification error".
struct VerifyHost {
  asio::ssl::host_name_verification check;
  bool operator()(bool preverified, asio::ssl::verify_context& ctx) {
    const bool ok = check(preverified, ctx);
    if (preverified && !ok) X509_STORE_CTX_set_error(ctx.native_handle(), X509_V_ERR_HOSTNAME_MISMATCH);
    return ok;
  }
};

bool retryable_status(unsigned status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

// Retry-After as delta-seconds (RFC 9110 §10.2.3); the HTTP-date form is ignored.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view v) {
  std::uint32_t s = 0;
  const auto* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, s);
  if (ec != std::errc{} || p != end || v.empty()) return std::nullopt;
  return std::chrono::seconds(std::min<std::uint32_t>(s, 86400));
}

// One attempt's result.
enum class Verdict {
  delivered,  // 2xx
  retry,      // connect/TLS/IO failure, timeout, 408, 429, 5xx
  rejected,   // other final status or TLS verification failure: retrying cannot help
};

struct AttemptResult {
  Verdict verdict = Verdict::retry;
  unsigned status = 0;                     // 0 = no response
  error_code ec;                           // set when there is no usable response
  std::string_view phase;                  // where ec happened (resolve, connect, tls, write, read)
  std::optional<std::chrono::milliseconds> retry_after;
  std::string detail;                      // extra words for the log (e.g. the X.509 verify error)
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pure helpers

std::optional<WebhookTarget> parse_webhook_url(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return std::nullopt;
  const boost::urls::url_view u = *parsed;

  WebhookTarget t;
  switch (u.scheme_id()) {
    case boost::urls::scheme::http: t.tls = false; break;
    case boost::urls::scheme::https: t.tls = true; break;
    default: return std::nullopt;
  }
  if (u.has_userinfo()) return std::nullopt;

  switch (u.host_type()) {
    case boost::urls::host_type::name: {
      // A DNS name never needs percent-encoding (RFC 3986 §3.2.2 allows it for other registries;
      // IDNs come punycoded). Refused: decoded, "%3127.0.0.1" would be an IP literal taken for a
      // name (sent as TLS SNI) and other forms would not read back the same once rebuilt.
      if (u.encoded_host().find('%') != boost::urls::string_view::npos) return std::nullopt;
      t.host = u.host_address();
      if (t.host.empty()) return std::nullopt;
      for (char& c : t.host) {
        const auto uc = static_cast<unsigned char>(c);
        // DNS names only (RFC 1123 §2.1, plus `_` seen in the wild); IDNs must come punycoded.
        if (!(std::isalnum(uc) || c == '-' || c == '.' || c == '_')) return std::nullopt;
        c = static_cast<char>(std::tolower(uc));
      }
      t.host_header = t.host;
      break;
    }
    case boost::urls::host_type::ipv4:
      t.host = u.host_address();
      t.host_is_ip = true;
      t.host_header = t.host;
      break;
    case boost::urls::host_type::ipv6:
      t.host = u.host_address();
      t.host_is_ip = true;
      t.host_header = "[" + t.host + "]";
      break;
    default: return std::nullopt;  // none, IPvFuture
  }

  t.port = t.tls ? 443 : 80;
  if (u.has_port() && !u.port().empty()) {  // "host:" with no digits means the default port
    // Parsed here: Boost 1.81's port_number() wraps values above 65535 instead of refusing them.
    const std::string_view p = u.port();
    std::uint32_t n = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), n);
    if (ec != std::errc{} || end != p.data() + p.size() || n == 0 || n > 65535) return std::nullopt;
    t.port = static_cast<std::uint16_t>(n);
    t.host_header += fmt::format(":{}", p);
  }

  t.target = u.encoded_path().empty() ? std::string("/") : std::string(u.encoded_path());
  if (t.target.front() != '/') return std::nullopt;  // rootless path after an authority cannot occur; be safe
  if (u.has_query()) {
    t.target += '?';
    t.target += u.encoded_query();
  }
  return t;
}

std::string webhook_signature(std::string_view secret, std::string_view timestamp, std::string_view body) {
  std::string signed_text;
  signed_text.reserve(timestamp.size() + 1 + body.size());
  signed_text.append(timestamp).append(1, '.').append(body);
  return "v1=" + to_hex(hmac_sha256(secret, signed_text));
}

std::chrono::milliseconds webhook_backoff(const WebhookOptions& opts, int retry, double unit) {
  using std::chrono::milliseconds;
  const milliseconds cap = std::max(opts.backoff_max, milliseconds(0));
  milliseconds d = std::clamp(opts.backoff_initial, milliseconds(0), cap);
  for (int i = 1; i < retry && d < cap; ++i) d = std::min(cap, d * 2);
  unit = std::clamp(unit, 0.0, 1.0);
  const auto half = d.count() / 2;
  return milliseconds(half + static_cast<milliseconds::rep>(unit * static_cast<double>(d.count() - half)));
}

// ---------------------------------------------------------------------------------------------
// Impl

namespace {

// An event accepted by enqueue(). The id stays the same across its retries (receivers de-duplicate).
struct Queued {
  std::string secret;
  std::string body;
  std::string ordering_key;
  std::string event_id;
};

// One open connection to a destination. Kept between consecutive events of a backlog and closed
// on any error, on `Connection: close`, or when the worker ends.
struct Connection {
  std::shared_ptr<asio::ssl::context> ctx;  // keeps the TLS context alive as long as `tls`
  std::optional<beast::tcp_stream> plain;   // http
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;  // https
  beast::flat_buffer buffer;                // read buffer; must persist across reads of one connection

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // The connection sat idle (e.g. during a backoff wait). Reuse it only if the peer has neither
  // closed it nor sent anything unsolicited: a peek that would block means "still open, quiet".
  bool still_usable() {
    auto& sock = lowest().socket();
    if (!sock.is_open() || buffer.size() != 0) return false;
    char byte = 0;
    const auto n = ::recv(sock.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

// The queue and the I/O objects of one destination URL. Owned by Impl::destinations_ and shared
// with the destination's worker (the only coroutine that touches its I/O objects).
struct Destination {
  Destination(const asio::any_io_executor& ex, std::string k, WebhookTarget t)
      : key(std::move(k)), target(std::move(t)), resolver(ex), backoff(ex) {}

  const std::string key;        // normalised URL: the ordering unit
  const WebhookTarget target;
  std::deque<Queued> queue;     // front() is in flight; only the worker pops
  tcp::resolver resolver;       // cancelled by stop()
  asio::steady_timer backoff;   // retry wait, cancelled by stop()
  std::unique_ptr<Connection> conn;
};

// "http://a.example/x" and "http://A.example:80/x" are one destination (one queue, one order).
std::string destination_key(const WebhookTarget& t) {
  const bool v6 = t.host_is_ip && t.host.find(':') != std::string::npos;
  return fmt::format("{}://{}{}{}:{}{}", t.tls ? "https" : "http", v6 ? "[" : "", t.host, v6 ? "]" : "", t.port,
                     t.target);
}

}  // namespace

struct WebhookSender::Impl : std::enable_shared_from_this<WebhookSender::Impl> {
  Impl(asio::any_io_executor ex, WebhookOptions opts);

  bool enqueue(WebhookEvent ev, bool reserved);
  bool reserve(std::size_t n);
  void release(std::size_t n);
  void stop();
  asio::awaitable<void> drain(std::shared_ptr<Impl> self, Clock::time_point deadline);

  asio::awaitable<void> run_destination(std::shared_ptr<Destination> d);
  asio::awaitable<Verdict> deliver(std::shared_ptr<Destination> d);
  asio::awaitable<AttemptResult> attempt_once(std::shared_ptr<Destination> d);
  asio::awaitable<AttemptResult> connect(std::shared_ptr<Destination> d, Clock::time_point deadline);
  void spawn_worker(const std::shared_ptr<Destination>& d);
  void worker_ended(const std::shared_ptr<Destination>& d, std::exception_ptr e);
  void retire(const std::shared_ptr<Destination>& d);
  const std::shared_ptr<asio::ssl::context>& tls_context();

  asio::any_io_executor ex_;
  const WebhookOptions opts_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;  // built once by tls_context(); shared with every TLS Connection
  WebhookStats stats_;
  bool stopping_ = false;
  std::uint64_t overflow_burst_ = 0;  // refusals since the last accepted event (log once per burst)
  std::minstd_rand rng_;              // backoff jitter only; not security-relevant
  std::unordered_map<std::string, std::shared_ptr<Destination>> destinations_;  // key → queue with a live worker
  std::vector<std::shared_ptr<asio::steady_timer>> drain_waiters_;  // woken when destinations_ empties
};

WebhookSender::Impl::Impl(asio::any_io_executor ex, WebhookOptions opts)
    : ex_(std::move(ex)), opts_(std::move(opts)), rng_(std::random_device{}()) {
  // A configured CA file is loaded now so a bad path fails at start-up; the system store (whose
  // parsing costs tens of milliseconds) waits for the first https destination.
  if (!opts_.verify_tls || !opts_.ca_file.empty()) tls_context();
}

const std::shared_ptr<asio::ssl::context>& WebhookSender::Impl::tls_context() {
  if (tls_ctx_) return tls_ctx_;
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  if (opts_.verify_tls) {
    if (opts_.ca_file.empty())
      ctx->set_default_verify_paths();
    else
      ctx->load_verify_file(opts_.ca_file);
    ctx->set_verify_mode(asio::ssl::verify_peer);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
    log_line("TLS certificate verification is OFF (verify_tls=false)");
  }
  tls_ctx_ = std::move(ctx);
  return tls_ctx_;
}

bool WebhookSender::Impl::reserve(std::size_t n) {
  if (stopping_) return false;
  if (stats_.backlog + stats_.reserved + n > opts_.queue_limit) return false;
  stats_.reserved += n;
  return true;
}

void WebhookSender::Impl::release(std::size_t n) { stats_.reserved -= std::min(n, stats_.reserved); }

bool WebhookSender::Impl::enqueue(WebhookEvent ev, bool reserved) {
  // A reserved event turns its room into backlog: the sum never passes queue_limit.
  if (reserved) release(1);
  if (stopping_) {
    ++stats_.dropped_shutdown;
    return false;
  }
  auto target = parse_webhook_url(ev.url);
  if (!target) {
    ++stats_.dropped_invalid;
    log_line("refusing event (key {}): callback URL is not http(s)://host[:port][/path]", ev.ordering_key);
    return false;
  }
  if (!reserved && stats_.backlog + stats_.reserved >= opts_.queue_limit) {
    ++stats_.dropped_overflow;
    if (overflow_burst_++ == 0)
      log_line("queue full ({} events): refusing new events until the backlog shrinks", opts_.queue_limit);
    return false;
  }
  if (!reserved && overflow_burst_ != 0) {
    log_line("queue accepting again; {} events were refused while full", overflow_burst_);
    overflow_burst_ = 0;
  }

  std::string key = destination_key(*target);
  auto& slot = destinations_[key];
  const bool new_worker = !slot;
  if (new_worker) slot = std::make_shared<Destination>(ex_, std::move(key), std::move(*target));
  slot->queue.push_back(Queued{std::move(ev.secret), std::move(ev.body), std::move(ev.ordering_key), uuid_v4()});
  ++stats_.enqueued;
  ++stats_.backlog;
  // Spawned last: co_spawn may start the worker inline when called on the executor's thread.
  if (new_worker) spawn_worker(slot);
  return true;
}

void WebhookSender::Impl::spawn_worker(const std::shared_ptr<Destination>& d) {
  asio::co_spawn(
      ex_,
      [self = shared_from_this(), d] { return self->run_destination(d); },
      [self = shared_from_this(), d](std::exception_ptr e) { self->worker_ended(d, e); });
}

void WebhookSender::Impl::worker_ended(const std::shared_ptr<Destination>& d, std::exception_ptr e) {
  if (!e) return;  // a normal end already retired the destination
  ++stats_.task_failures;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log_line("worker for {} failed: {}", d->target.host, ex.what());
  } catch (...) {
    log_line("worker for {} failed with a non-standard exception", d->target.host);
  }
  if (!stopping_) {  // stop() already accounted the queue
    stats_.dropped_exhausted += d->queue.size();
    stats_.backlog -= d->queue.size();
    if (!d->queue.empty()) log_line("dropping {} queued events for {}", d->queue.size(), d->target.host);
  }
  d->queue.clear();
  retire(d);
}

void WebhookSender::Impl::retire(const std::shared_ptr<Destination>& d) {
  d->conn.reset();
  auto it = destinations_.find(d->key);
  if (it != destinations_.end() && it->second == d) destinations_.erase(it);
  if (destinations_.empty())
    for (auto& t : drain_waiters_) t->cancel();
}

void WebhookSender::Impl::stop() {
  if (stopping_) return;
  stopping_ = true;
  std::size_t dropped = 0;
  for (auto& [key, d] : destinations_) {
    dropped += d->queue.size();
    // Object-level cancellation reaches whatever the worker awaits (resolve, connect, TLS, write,
    // read, backoff); it resumes with an error, sees stopping_ and ends.
    d->resolver.cancel();
    d->backoff.cancel();
    if (d->conn) d->conn->lowest().close();
  }
  stats_.dropped_shutdown += dropped;
  stats_.backlog -= dropped;
  if (dropped != 0) log_line("stopped with {} undelivered events", dropped);
  for (auto& t : drain_waiters_) t->cancel();
}

asio::awaitable<void> WebhookSender::Impl::drain(std::shared_ptr<Impl> self, Clock::time_point deadline) {
  (void)self;  // only keeps this Impl alive while suspended
  auto timer = std::make_shared<asio::steady_timer>(ex_);
  drain_waiters_.push_back(timer);
  while (!destinations_.empty() && !stopping_ && Clock::now() < deadline) {
    timer->expires_at(deadline);
    co_await timer->async_wait(use_tuple);  // cancelled when the last worker retires, or by stop()
  }
  std::erase(drain_waiters_, timer);
  if (!destinations_.empty() && !stopping_)
    log_line("drain deadline reached with {} events in {} queues", stats_.backlog, destinations_.size());
  stop();
}

asio::awaitable<void> WebhookSender::Impl::run_destination(std::shared_ptr<Destination> d) {
  while (!stopping_ && !d->queue.empty()) {
    const Verdict v = co_await deliver(d);
    if (stopping_) break;  // stop() counted the in-flight event as dropped_shutdown
    switch (v) {
      case Verdict::delivered: ++stats_.delivered; break;
      case Verdict::rejected: ++stats_.dropped_rejected; break;
      case Verdict::retry: ++stats_.dropped_exhausted; break;  // still failing: attempts and window used up
    }
    --stats_.backlog;
    d->queue.pop_front();
  }
  retire(d);
}

asio::awaitable<Verdict> WebhookSender::Impl::deliver(std::shared_ptr<Destination> d) {
  const Queued& ev = d->queue.front();
  const int max_attempts = std::max(1, opts_.max_attempts);
  const auto first_attempt = Clock::now();
  for (int attempt = 1;; ++attempt) {
    if (attempt > 1) ++stats_.retried;
    AttemptResult r = co_await attempt_once(d);
    if (stopping_) co_return Verdict::retry;  // ignored by the caller
    if (r.verdict == Verdict::delivered) co_return Verdict::delivered;

    const std::string why = r.status != 0 ? fmt::format("HTTP {}", r.status)
                                          : fmt::format("{} failed: {}{}", r.phase, r.ec.message(), r.detail);
    if (r.verdict == Verdict::rejected) {
      log_line("dropping event {} (key {}) for {}: {} (not retried)", ev.event_id, ev.ordering_key,
               d->target.host, why);
      co_return Verdict::rejected;
    }
    if (attempt >= max_attempts && Clock::now() - first_attempt >= opts_.retry_window) {
      log_line("dropping event {} (key {}) for {} after {} attempts in {} s: {}", ev.event_id, ev.ordering_key,
               d->target.host, attempt,
               std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - first_attempt).count(), why);
      co_return Verdict::retry;
    }

    auto delay = webhook_backoff(opts_, attempt, std::uniform_real_distribution<double>(0.0, 1.0)(rng_));
    if (r.retry_after) delay = std::max(delay, std::min(*r.retry_after, opts_.backoff_max));
    d->backoff.expires_after(delay);
    co_await d->backoff.async_wait(use_tuple);
    if (stopping_) co_return Verdict::retry;
  }
}

asio::awaitable<AttemptResult> WebhookSender::Impl::connect(std::shared_ptr<Destination> d,
                                                            Clock::time_point deadline) {
  const WebhookTarget& t = d->target;
  AttemptResult r;

  // getaddrinfo cannot be interrupted, so the deadline is enforced after it returns (connect then
  // fails at once); stop() still cancels a resolve that has not started.
  auto [rec, endpoints] =
      co_await d->resolver.async_resolve(t.host, std::to_string(t.port), tcp::resolver::numeric_service, use_tuple);
  if (rec) {
    r.ec = rec;
    r.phase = "resolve";
    co_return r;
  }
  if (stopping_) co_return r;

  auto conn = std::make_unique<Connection>();
  if (t.tls) {
    conn->ctx = tls_context();
    conn->tls.emplace(ex_, *conn->ctx);
    if (opts_.verify_tls) conn->tls->set_verify_callback(VerifyHost{asio::ssl::host_name_verification(t.host)});
    // SNI carries DNS names only (RFC 6066 §3).
    if (!t.host_is_ip) SSL_set_tlsext_host_name(conn->tls->native_handle(), t.host.c_str());
  } else {
    conn->plain.emplace(ex_);
  }
  d->conn = std::move(conn);  // visible to stop() while connecting

  d->conn->lowest().expires_at(deadline);
  auto [cec, ep] = co_await d->conn->lowest().async_connect(endpoints, use_tuple);
  if (cec) {
    r.ec = cec;
    r.phase = "connect";
    co_return r;
  }
  if (t.tls && !stopping_) {
    d->conn->lowest().expires_at(deadline);
    auto [hec] = co_await d->conn->tls->async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (hec) {
      r.ec = hec;
      r.phase = "tls";
      if (is_tls_verify_failure(hec)) {
        r.verdict = Verdict::rejected;
        const long v = SSL_get_verify_result(d->conn->tls->native_handle());
        r.detail = fmt::format(" ({})", X509_verify_cert_error_string(v));
      }
    }
  }
  co_return r;
}

asio::awaitable<AttemptResult> WebhookSender::Impl::attempt_once(std::shared_ptr<Destination> d) {
  const auto deadline = Clock::now() + opts_.request_timeout;
  const Queued& ev = d->queue.front();

  if (d->conn && !d->conn->still_usable()) d->conn.reset();
  if (!d->conn) {
    AttemptResult c = co_await connect(d, deadline);
    if (c.ec || stopping_) {
      d->conn.reset();
      co_return c;
    }
  }

  // The body is a view of the queued event: nothing is copied per attempt. The timestamp and the
  // signature are fresh per attempt so receivers can bound replay age; the event id is not.
  bhttp::request<bhttp::span_body<const char>> req{bhttp::verb::post, d->target.target, 11};
  const std::string ts = std::to_string(unix_s());
  req.set(bhttp::field::host, d->target.host_header);
  req.set(bhttp::field::user_agent, kUserAgent);
  req.set(bhttp::field::content_type, "application/json");
  req.set("X-Switchboard-Event-Id", ev.event_id);
  req.set("X-Switchboard-Timestamp", ts);
  req.set("X-Switchboard-Signature", webhook_signature(ev.secret, ts, ev.body));
  req.body() = beast::span<const char>(ev.body.data(), ev.body.size());
  req.keep_alive(true);
  req.prepare_payload();

  Connection& c = *d->conn;  // owned by d, which this frame keeps alive; only stop() closes it
  AttemptResult r;
  c.lowest().expires_at(deadline);
  // if/else rather than `?:` around co_await: GCC 12 miscompiles temporaries in conditional
  // expressions inside coroutines.
  std::tuple<error_code, std::size_t> io;
  if (c.tls)
    io = co_await bhttp::async_write(*c.tls, req, use_tuple);
  else
    io = co_await bhttp::async_write(*c.plain, req, use_tuple);
  if (const auto wec = std::get<0>(io)) {
    r.ec = wec;
    r.phase = "write";
    d->conn.reset();
    co_return r;
  }

  // RFC 9110 §15.2: a client must accept 1xx interim answers it did not ask for; skip a few,
  // each with a fresh parser, and judge the final answer.
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  for (int interim = 0;; ++interim) {
    parser.emplace();
    parser->body_limit(kMaxResponseBody);
    c.lowest().expires_at(deadline);
    if (c.tls)
      io = co_await bhttp::async_read(*c.tls, c.buffer, *parser, use_tuple);
    else
      io = co_await bhttp::async_read(*c.plain, c.buffer, *parser, use_tuple);
    const unsigned status = parser->is_header_done() ? parser->get().result_int() : 0;
    if (std::get<0>(io) || status < 100 || status > 199 || status == 101 || interim == kMaxInterimAnswers) break;
  }
  const error_code rec = std::get<0>(io);
  const bool oversized = rec == bhttp::error::body_limit && parser->is_header_done();
  if (rec && !oversized) {
    r.ec = rec;
    r.phase = "read";
    d->conn.reset();
    co_return r;
  }

  const auto& res = parser->get();
  r.status = res.result_int();
  if (oversized || !parser->is_done() || !res.keep_alive()) d->conn.reset();
  if (r.status >= 200 && r.status <= 299) {
    r.verdict = Verdict::delivered;
  } else if (retryable_status(r.status)) {
    r.verdict = Verdict::retry;
    if (auto it = res.find(bhttp::field::retry_after); it != res.end()) r.retry_after = parse_retry_after(it->value());
  } else {
    r.verdict = Verdict::rejected;  // 101, too many 1xx, 3xx (redirects are not followed), other 4xx
  }
  co_return r;
}

// ---------------------------------------------------------------------------------------------
// WebhookSender

WebhookSender::WebhookSender(asio::any_io_executor ex, WebhookOptions opts)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(opts))) {}

WebhookSender::~WebhookSender() { impl_->stop(); }

bool WebhookSender::enqueue(WebhookEvent ev) { return impl_->enqueue(std::move(ev), false); }

bool WebhookSender::reserve(std::size_t n) { return impl_->reserve(n); }

void WebhookSender::release(std::size_t n) { impl_->release(n); }

bool WebhookSender::enqueue_reserved(WebhookEvent ev) { return impl_->enqueue(std::move(ev), true); }

// Not a coroutine itself: the returned coroutine owns a reference to Impl, so it stays valid even if
// the WebhookSender is destroyed while it is suspended.
asio::awaitable<void> WebhookSender::drain(Clock::time_point deadline) { return impl_->drain(impl_, deadline); }

void WebhookSender::stop() { impl_->stop(); }

const WebhookStats& WebhookSender::stats() const { return impl_->stats_; }

}  // namespace sb::http
