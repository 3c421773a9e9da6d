// Outgoing webhook delivery: the SIP call-monitoring callbacks of SPEC §6, delivered as SPEC §9
// promises (at-least-once, bounded retries with backoff, in order per call, signed). The wire
// contract receivers rely on (headers, signature, retry policy) is docs/webhooks.md.
//
// One WebhookSender per shard. Events for one destination URL go through one FIFO queue served by
// one worker coroutine, so a call's events (which all go to its project's callback URL) arrive in
// the order they were enqueued; different URLs never wait for each other. A worker exists only
// while its queue is non-empty.
//
// @par Thread Safety
// None. Every member, the destructor included, must run on the executor given to the constructor
// (the shard's io_context thread), and the sender must be destroyed before that io_context.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sb::http {

struct WebhookOptions {
  std::size_t queue_limit = 10000;  // events accepted and not yet finished, all destinations of the shard
  int max_attempts = 6;             // first try + retries (values below 1 mean 1)...
  // ...and, whatever max_attempts says, an event failing with retryable errors is retried until
  // this long after its first attempt: a receiver down for minutes loses nothing (its events wait,
  // in order, within queue_limit). 0: max_attempts alone.
  std::chrono::milliseconds retry_window{600000};
  std::chrono::milliseconds request_timeout{5000};  // one deadline for connect+TLS+write+read of an attempt
  std::chrono::milliseconds backoff_initial{250};   // delay before the first retry, doubled per retry...
  std::chrono::milliseconds backoff_max{8000};      // ...up to this cap; jitter picks from [d/2, d]
  bool verify_tls = true;  // false only when configured: accepts any certificate and any host name
  std::string ca_file;     // PEM trust anchors for https; empty = the system store
};

struct WebhookEvent {
  std::string url;           // http:// or https:// (SPEC §6 callback URL); the ordering unit
  std::string secret;        // HMAC key (the project's API secret); never logged
  std::string body;          // JSON, sent as is; never logged
  std::string ordering_key;  // e.g. the call id; logged with drops so operators can find the call
};

// Counters for /metrics. Accepted events satisfy, at any moment:
//   enqueued = delivered + dropped_exhausted + dropped_rejected + dropped_shutdown(accepted) + backlog
// Refusals by enqueue() count in dropped_overflow, dropped_invalid or (after stop) dropped_shutdown.
// Room set aside by reserve() counts in `reserved`; backlog + reserved never exceeds queue_limit.
struct WebhookStats {
  std::uint64_t enqueued = 0;           // accepted by enqueue()
  std::uint64_t delivered = 0;          // answered 2xx
  std::uint64_t retried = 0;            // attempts after an event's first
  std::uint64_t dropped_overflow = 0;   // refused: queue_limit reached
  std::uint64_t dropped_invalid = 0;    // refused: not an http(s) URL with a host
  std::uint64_t dropped_exhausted = 0;  // max_attempts and retry_window used up on retryable failures
  std::uint64_t dropped_rejected = 0;   // final answer: 4xx other than 408/429, 1xx/3xx, or TLS verification failed
  std::uint64_t dropped_shutdown = 0;   // queued or in flight at stop(), or offered after it
  std::uint64_t task_failures = 0;      // a worker coroutine ended with an exception (a bug; logged)
  std::size_t backlog = 0;              // accepted, not yet finished (queued + in flight)
  std::size_t reserved = 0;             // room reserved for events that will not be refused (reserve())
};

// A destination URL split for the client. Exposed so callback registration can refuse a URL the
// sender would refuse.
struct WebhookTarget {
  bool tls = false;          // https
  std::string host;          // resolver / SNI / certificate name: lowercase, IPv6 without brackets
  bool host_is_ip = false;   // IP literal: no SNI (RFC 6066 §3), certificate checked against iPAddress
  std::uint16_t port = 0;    // from the URL, else 80 / 443
  std::string host_header;   // Host field value (RFC 9110 §7.2): as written, port only if given
  std::string target;        // origin-form (RFC 9112 §3.2.1): path, at least "/", then "?query"
};

// RFC 3986 parse with boost::urls. nullopt unless the scheme is http or https, the host is a
// non-empty name or IPv4/IPv6 literal, the port (if any) is 1..65535 and there is no userinfo
// (credentials in a URL would silently not be sent). The fragment is dropped.
std::optional<WebhookTarget> parse_webhook_url(std::string_view url);

// The `X-Switchboard-Signature` value: "v1=" + lowercase hex HMAC-SHA256(secret, timestamp "." body).
std::string webhook_signature(std::string_view secret, std::string_view timestamp, std::string_view body);

// Delay before retry `retry` (1 = the first retry): d = min(backoff_max, backoff_initial * 2^(retry-1)),
// then d/2 + unit * d/2 with unit in [0, 1) ("equal jitter": never under half, never over the cap).
std::chrono::milliseconds webhook_backoff(const WebhookOptions& opts, int retry, double unit);

class WebhookSender {
 public:
  // Builds the TLS client context: throws boost::system::system_error if ca_file cannot be loaded.
  WebhookSender(boost::asio::any_io_executor ex, WebhookOptions opts);
  ~WebhookSender();  // stop()
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Queues the event behind earlier events to the same URL. false, counted and logged when the URL
  // is invalid, the backlog plus the reserved room is at queue_limit (back-pressure: the new event
  // is refused, queued ones are kept; logged once per burst) or after stop(). Never blocks, never
  // throws on input.
  bool enqueue(WebhookEvent ev);

  // Room for events that must not be refused later: a SIP call reserves its callCreated and
  // callDestroyed (one each per destination) before it is placed, so a full queue can never drop
  // the event that says how a call ended (README "Webhooks"). false, and nothing reserved, when
  // the backlog plus the room already reserved leaves less than `n`, or after stop(); the caller
  // then refuses the work that would need it (back-pressure). The room is taken back by
  // enqueue_reserved() or release().
  [[nodiscard]] bool reserve(std::size_t n);
  // Gives back reserved room that will not be used.
  void release(std::size_t n);
  // enqueue() into room reserve() set aside: never refused for overflow. It uses up one unit of
  // the reservation whatever happens (an invalid URL or a stopped sender still refuse the event).
  bool enqueue_reserved(WebhookEvent ev);

  // For SIGTERM, after the last events were enqueued: completes when every queue is empty or at
  // `deadline`, whichever is first, then stop(). It does not wait for cancelled workers to unwind.
  boost::asio::awaitable<void> drain(std::chrono::steady_clock::time_point deadline);

  // Cancels all I/O and backoff waits now; queued and in-flight events count as dropped_shutdown
  // and later enqueue() calls are refused. Workers then end on their own: they share ownership of
  // the sender's state, so destroying the WebhookSender right after is safe. Idempotent.
  void stop();

  const WebhookStats& stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sb::http
