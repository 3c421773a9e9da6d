// SIP transport of one shard (RFC 3261 §18, RFC 3581, RFC 5626 §3.5.1, RFC 5922). See the header
// for the behaviour; this file is organised as: errors, helpers (rate limiter, certificate
// identity), the shared State and Connection, the child coroutines (UDP loop, accept loops,
// connection run/read/write/watchdog), send paths, and the SipTransport facade.
#include "sip/transport.hpp"

#include "base/log.hpp"
#include "base/text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace sb::sip {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;
using boost_error = boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// RFC 3261 §18.3: the largest UDP payload is below 64 KiB, so one buffer of that size holds any
/// datagram whole.
constexpr std::size_t kDatagramBuffer = 64 * 1024;
/// A stream buffer starts small and doubles up to max_message + kStreamSlack; the slack holds the
/// first bytes of a pipelined message next to a maximal one.
constexpr std::size_t kInitialStreamBuffer = 4096;
constexpr std::size_t kStreamSlack = 4096;
/// Pause after a failed accept (EMFILE…) or a persistent UDP receive error, so the loop never spins.
constexpr std::chrono::milliseconds kErrorBackoff{100};

// ---------------------------------------------------------------------------------------------
// Errors

class TransportCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sip.transport"; }
  std::string message(int v) const override {
    switch (static_cast<transport_error>(v)) {
      case transport_error::stopped: return "SIP transport stopped";
      case transport_error::not_connected: return "connection of the request is closed";
      case transport_error::queue_full: return "connection send queue full";
      case transport_error::too_many_connections: return "too many SIP connections";
      case transport_error::message_too_large: return "SIP message too large";
      case transport_error::unsupported_transport: return "unsupported SIP transport";
      case transport_error::forbidden_address: return "forbidden destination address";
      case transport_error::connection_closed: return "connection closed before the message was written";
    }
    return "unknown SIP transport error";
  }
};

} // namespace

const std::error_category& transport_category() noexcept {
  static const TransportCategory category;
  return category;
}

std::error_code make_error_code(transport_error e) noexcept {
  return {static_cast<int>(e), transport_category()};
}

namespace {

std::error_code aborted() { return boost_error(asio::error::operation_aborted); }

std::string_view strip_brackets(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

/// RFC 4475 bcast: never send to the unspecified, the broadcast or a multicast address.
bool forbidden_destination(const asio::ip::address& a) {
  if (a.is_unspecified() || a.is_multicast()) return true;
  return a.is_v4() && a.to_v4() == asio::ip::address_v4::broadcast();
}

// ---------------------------------------------------------------------------------------------
// Malformed-traffic limiter

/// A token bucket per source IP, charged one token per malformed message and refilled at `rate`
/// tokens per second (burst: one second's worth). While a source's bucket is empty its traffic is
/// dropped before parsing, so a garbage flood costs a hash lookup per datagram. Only sources that
/// sent garbage have a bucket; the table is bounded by kMaxSources.
class SourceLimiter {
 public:
  explicit SourceLimiter(std::size_t per_second) : rate_(static_cast<double>(per_second)) {}

  bool limited(const asio::ip::address& a, Clock::time_point now) {
    if (rate_ <= 0) return false;
    auto it = buckets_.find(a);
    if (it == buckets_.end()) return false;
    refill(it->second, now);
    return it->second.tokens < 1.0;
  }

  void charge(const asio::ip::address& a, Clock::time_point now) {
    if (rate_ <= 0) return;
    if (buckets_.size() >= kMaxSources && !buckets_.contains(a)) prune(now);
    auto [it, fresh] = buckets_.try_emplace(a, Bucket{rate_, now});
    if (!fresh) refill(it->second, now);
    it->second.tokens = std::max(0.0, it->second.tokens - 1.0);
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  static constexpr std::size_t kMaxSources = 4096;

  void refill(Bucket& b, Clock::time_point now) const {
    const double dt = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(rate_, b.tokens + dt * rate_);
    b.last = now;
  }
  void prune(Clock::time_point now) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second, now);
      it = it->second.tokens >= rate_ ? buckets_.erase(it) : std::next(it);
    }
    if (buckets_.size() >= kMaxSources) buckets_.clear(); // a spread-out flood: start over
  }

  double rate_;
  std::unordered_map<asio::ip::address, Bucket> buckets_;
};

// ---------------------------------------------------------------------------------------------
// RFC 5922 §7: the SIP domain identity of a server certificate

std::string_view asn1_view(const ASN1_STRING* s) {
  const auto* d = reinterpret_cast<const char*>(ASN1_STRING_get0_data(s));
  const auto n = static_cast<std::size_t>(ASN1_STRING_length(s));
  // An embedded NUL is a classic certificate-spoofing trick: such a name matches nothing.
  if (d == nullptr || std::memchr(d, '\0', n) != nullptr) return {};
  return {d, n};
}

/// RFC 5922 §7.1: the identities are the subjectAltName URIs of scheme sip if there are any,
/// else the dNSName entries, and only when there is no subjectAltName at all the (most specific)
/// Common Name. §7.2: an identity matches when it equals the domain in its entirety, case-
/// insensitively — no wildcards.
bool certificate_names_domain(X509* cert, std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty()) return false;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    bool any_uri = false, uri_match = false, any_dns = false, dns_match = false;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type == GEN_URI) {
        const std::string_view v = asn1_view(n->d.uniformResourceIdentifier);
        if (v.size() > 4 && ascii_iequals(v.substr(0, 4), "sip:")) {
          any_uri = true;
          uri_match = uri_match || ascii_iequals(v.substr(4), domain);
        }
      } else if (n->type == GEN_DNS) {
        any_dns = true;
        dns_match = dns_match || ascii_iequals(asn1_view(n->d.dNSName), domain);
      }
    }
    GENERAL_NAMES_free(names);
    if (any_uri) return uri_match;
    if (any_dns) return dns_match;
    return false; // a subjectAltName without SIP or DNS identities: the CN is not consulted
  }
  X509_NAME* subject = X509_get_subject_name(cert);
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i))
    last = i;
  if (last < 0) return false;
  return ascii_iequals(asn1_view(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last))), domain);
}

/// Verify callback of one outgoing TLS connection: the chain as OpenSSL checked it, then the
/// leaf's identity against the target (a domain by RFC 5922, or an IP literal).
struct SipIdentityVerifier {
  std::string expected; ///< domain, or IP literal without brackets
  bool is_address = false;

  bool operator()(bool preverified, ssl::verify_context& ctx) const {
    if (!preverified) return false;
    X509_STORE_CTX* store = ctx.native_handle();
    if (X509_STORE_CTX_get_error_depth(store) > 0) return true;
    X509* cert = X509_STORE_CTX_get_current_cert(store);
    const bool ok = is_address ? X509_check_ip_asc(cert, expected.c_str(), 0) == 1
                               : certificate_names_domain(cert, expected);
    if (!ok) X509_STORE_CTX_set_error(store, is_address ? X509_V_ERR_IP_ADDRESS_MISMATCH : X509_V_ERR_HOSTNAME_MISMATCH);
    return ok;
  }
};

// ---------------------------------------------------------------------------------------------
// Connections

/// Lifecycle of one TCP/TLS connection. Changes only forwards.
enum class ConnState : std::uint8_t {
  connecting, ///< outgoing: TCP connect, then the TLS handshake, under connect_timeout
  accepting,  ///< incoming TLS: the server handshake, under connect_timeout
  open,       ///< reader and writer running; in the peer table
  closed,     ///< socket closed, out of every table; its coroutines are unwinding
};

/// One message queued on a connection, and the send() that waits for it.
struct Pending {
  Pending(asio::any_io_executor ex, std::string w, bool ka) : wire(std::move(w)), keepalive(ka), signal(ex) {}
  std::string wire;
  bool keepalive;        ///< our CRLF pong: nobody waits, not counted as sent
  bool done = false;     ///< result is final (written, failed, or the waiter gave up)
  std::error_code result;
  asio::steady_timer signal; ///< the waiter sleeps on it; cancelled when `done` becomes true
};

struct PeerKey {
  Transport kind;
  asio::ip::address address;
  std::uint16_t port;
  friend bool operator<(const PeerKey& a, const PeerKey& b) {
    return std::tie(a.kind, a.address, a.port) < std::tie(b.kind, b.address, b.port);
  }
};

struct Connection {
  Connection(asio::any_io_executor ex, std::uint64_t i, Transport k, bool out, tcp::socket s)
      : id(i), kind(k), outgoing(out), socket(std::move(s)), wake(ex), watchdog(ex) {}

  const std::uint64_t id;
  const Transport kind;        ///< tcp or tls
  const bool outgoing;         ///< we connected (true) or accepted (false)
  tcp::endpoint remote;
  std::string host;            ///< outgoing TLS: the identity the certificate was checked for
  tcp::socket socket;          ///< owned; `tls` layers on it
  std::optional<ssl::stream<tcp::socket&>> tls;

  ConnState state = ConnState::connecting;
  std::error_code close_reason; ///< what queued sends complete with once closed

  std::deque<std::shared_ptr<Pending>> queue; ///< bounded by kMaxQueuedSends (in flight included)
  bool writing = false;                        ///< the writer has a message in flight
  asio::steady_timer wake;                     ///< the writer waits on it for the queue

  // Deadlines, enforced by the watchdog coroutine.
  asio::steady_timer watchdog;
  Clock::time_point phase_deadline;  ///< connecting/accepting: connect_timeout
  Clock::time_point last_activity;   ///< bytes in either direction; + idle_timeout
  Clock::time_point message_started; ///< the current message's first byte; + read_timeout
  Clock::time_point write_started;   ///< the write in flight; + read_timeout
  bool mid_message = false;          ///< part of a message is buffered
  std::uint64_t delivered = 0;       ///< whole messages received (make_room spares proven ones)
  Clock::time_point opened;          ///< accepted: its first whole message is due by + read_timeout

  PeerKey key() const { return {kind, remote.address(), remote.port()}; }
};

/// Awaits one read on either stream kind; both branches have the same awaitable type.
asio::awaitable<std::tuple<boost_error, std::size_t>> read_some(Connection& c, asio::mutable_buffer b) {
  return c.tls ? c.tls->async_read_some(b, use_tuple) : c.socket.async_read_some(b, use_tuple);
}
asio::awaitable<std::tuple<boost_error, std::size_t>> write_all(Connection& c, asio::const_buffer b) {
  return c.tls ? asio::async_write(*c.tls, b, use_tuple) : asio::async_write(c.socket, b, use_tuple);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Shared state

/// Everything the transport owns. Held by SipTransport and by every child coroutine (each takes
/// a shared_ptr by value), so it lives until the last child has ended, however early the
/// SipTransport object itself is destroyed after stop(). Touched only on the shard's thread.
struct SipTransport::State {
  State(asio::any_io_executor e, TransportOptions o)
      : ex(std::move(e)), opts(std::move(o)), udp_socket(ex), tcp_acceptor(ex), tls_acceptor(ex),
        udp_backoff(ex), tcp_backoff(ex), tls_backoff(ex),
        limiter(opts.malformed_per_second_per_source) {
    limits.max_message = opts.max_message;
    if (!opts.advertised_host.empty())
      advertised = opts.advertised_host;
    else if (opts.bind_address.is_v6()) {
      // Appended piecewise: `"[" + s + "]"` trips GCC 12's -Wrestrict false positive at -O3.
      advertised = '[';
      advertised += opts.bind_address.to_string();
      advertised += ']';
    } else
      advertised = opts.bind_address.to_string();
  }

  asio::any_io_executor ex;
  const TransportOptions opts;
  Limits limits;
  std::string advertised;

  udp::socket udp_socket;
  tcp::acceptor tcp_acceptor, tls_acceptor;
  std::uint16_t udp_port = 0, tcp_port = 0, tls_port = 0;
  asio::steady_timer udp_backoff, tcp_backoff, tls_backoff;
  std::optional<ssl::context> tls_server; ///< only with a certificate and enable_tls
  std::optional<ssl::context> tls_client;

  Receiver receiver;
  std::optional<Receiver> next_receiver; ///< set_receiver() called from inside the receiver
  int delivering = 0;                    ///< receiver calls on the stack

  TransportStats stats;
  SourceLimiter limiter;

  std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> conns; ///< every live connection
  std::map<PeerKey, std::uint64_t> by_peer; ///< newest connection per (transport, address, port)
  std::uint64_t next_id = 1;

  bool started = false;
  bool stopping = false;
  std::size_t tasks = 0; ///< child coroutines running
  std::vector<std::shared_ptr<asio::steady_timer>> join_waiters;

  void stop();
};

namespace {

using State = SipTransport::State;

// ---------------------------------------------------------------------------------------------
// Bookkeeping shared by the coroutines (plain functions: they never suspend)

void complete(State& st, Pending& p, std::error_code ec) {
  if (p.done) return;
  p.done = true;
  p.result = ec;
  if (!p.keepalive) ++(ec ? st.stats.send_errors : st.stats.sent);
  p.signal.cancel();
}

void close_connection(State& st, const std::shared_ptr<Connection>& c, std::error_code why) {
  if (c->state == ConnState::closed) return;
  c->state = ConnState::closed;
  c->close_reason = why;
  boost_error ignored;
  // Aborts the reader, writer and any connect or handshake. No TLS close_notify: SIP frames by
  // Content-Length (RFC 3261 §18.3), so a truncated stream loses nothing a close_notify would save.
  c->socket.close(ignored);
  c->wake.cancel();
  c->watchdog.cancel();
  auto queue = std::move(c->queue);
  c->queue.clear();
  for (auto& p : queue) complete(st, *p, why);
  st.conns.erase(c->id);
  if (auto it = st.by_peer.find(c->key()); it != st.by_peer.end() && it->second == c->id) st.by_peer.erase(it);
  ++st.stats.connections_closed;
}

/// A later deadline only needs the watchdog to look again when it wakes; an earlier one must
/// wake it now.
void tighten(Connection& c, Clock::time_point deadline) {
  if (deadline < c.watchdog.expiry()) c.watchdog.cancel();
}

Clock::time_point deadline_of(const State& st, const Connection& c) {
  switch (c.state) {
    case ConnState::connecting:
    case ConnState::accepting: return c.phase_deadline;
    case ConnState::open: {
      auto d = c.last_activity + st.opts.idle_timeout;
      // A far end opens a connection to us only to send a request at once (one of our dialogs'):
      // one that has delivered nothing by read_timeout is a scanner's or a slowloris's.
      if (!c.outgoing && c.delivered == 0) d = std::min(d, c.opened + st.opts.read_timeout);
      if (c.mid_message) d = std::min(d, c.message_started + st.opts.read_timeout);
      if (c.writing) d = std::min(d, c.write_started + st.opts.read_timeout);
      return d;
    }
    case ConnState::closed: break;
  }
  return Clock::time_point::max();
}

void register_connection(State& st, const std::shared_ptr<Connection>& c) {
  st.conns.emplace(c->id, c);
  st.by_peer[c->key()] = c->id;
  ++st.stats.connections_opened;
}

/// Makes room for one more connection (`outgoing`: ours, else one a far end opened to us).
/// Accepted connections may hold at most three quarters of max_connections, so strangers can
/// never take the room our own calls' connections need. When one must go, the victim is an
/// accepted connection that has not delivered one whole message yet (a scanner's or a slowloris's:
/// even mid-message or mid-handshake, it has given us nothing), the oldest first; else the
/// connection idle the longest (nothing queued, nothing half-read) — an accepted one when it is
/// the accepted share that is full. False when every candidate is busy.
bool make_room(State& st, bool outgoing) {
  std::size_t inbound = 0;
  for (const auto& [id, c] : st.conns) inbound += !c->outgoing;
  const std::size_t inbound_cap = std::max<std::size_t>(1, st.opts.max_connections - st.opts.max_connections / 4);
  const bool full = st.conns.size() >= st.opts.max_connections;
  const bool inbound_full = !outgoing && inbound >= inbound_cap;
  if (!full && !inbound_full) return true;
  std::shared_ptr<Connection> victim;
  for (const auto& [id, c] : st.conns)
    if (!c->outgoing && c->delivered == 0 && c->state != ConnState::closed && (!victim || c->id < victim->id))
      victim = c;
  if (!victim)
    for (const auto& [id, c] : st.conns)
      if (c->state == ConnState::open && c->queue.empty() && !c->writing && !c->mid_message &&
          (!inbound_full || !c->outgoing) && (!victim || c->last_activity < victim->last_activity))
        victim = c;
  if (!victim) return false;
  ++st.stats.connections_evicted;
  log::info("sip", "closing {} {} connection {} to {} (max_connections {}{})", victim->delivered ? "idle" : "silent",
            to_string(victim->kind), victim->id, victim->remote.address().to_string(), st.opts.max_connections,
            inbound_full ? ", accepted share full" : "");
  close_connection(st, victim, make_error_code(transport_error::too_many_connections));
  return true;
}

/// Host comparison for sent-by: IP literals by address (so "::1" equals "[0:0::1]"), names
/// case-insensitively.
bool same_host(std::string_view a, std::string_view b) {
  a = strip_brackets(a);
  b = strip_brackets(b);
  boost_error ea, eb;
  const auto x = asio::ip::make_address(a, ea);
  const auto y = asio::ip::make_address(b, eb);
  if (!ea && !eb) return x == y;
  return ascii_iequals(a, b);
}

/// RFC 3261 §18.1.2: a response whose top Via sent-by is not the host we put there was not meant
/// for us and is discarded.
bool via_is_ours(const State& st, const Message& m) {
  const Header* h = m.find(HeaderId::via);
  if (h == nullptr) return false;
  ListCursor list(h->value);
  const auto first = list.next();
  if (!first) return false;
  const auto via = parse_via(*first);
  return via && same_host(via->host, st.advertised);
}

void deliver(State& st, const Message& m, const Source& from) {
  if (st.stopping || !st.receiver) return;
  if (m.is_response() && !via_is_ours(st, m)) {
    ++st.stats.misrouted;
    log::debug("sip", "{} response from {}:{} with a foreign top Via dropped (RFC 3261 18.1.2)",
               to_string(from.transport), from.address.to_string(), from.port);
    return;
  }
  ++st.stats.received;
  ++st.delivering;
  try {
    st.receiver(m, m.raw, from);
  } catch (const std::exception& e) {
    log::error("sip", "receiver threw: {}", e.what());
  } catch (...) {
    log::error("sip", "receiver threw a non-standard exception");
  }
  if (--st.delivering == 0) {
    if (st.next_receiver) {
      st.receiver = std::move(*st.next_receiver);
      st.next_receiver.reset();
    }
    if (st.stopping) st.receiver = nullptr;
  }
}

void task_ended(const std::shared_ptr<State>& st, std::string_view what, const std::shared_ptr<Connection>& c,
                std::exception_ptr e) {
  --st->tasks;
  if (e) {
    ++st->stats.task_failures;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log::error("sip", "{} ended with an exception: {}", what, x.what());
    } catch (...) {
      log::error("sip", "{} ended with a non-standard exception", what);
    }
    if (c) close_connection(*st, c, make_error_code(transport_error::connection_closed));
  }
  if (st->tasks == 0)
    for (auto& w : st->join_waiters) w->cancel();
}

/// Every child coroutine starts here: counted for join(), and whatever it ends with is logged
/// and counted (never a bare `detached`). A connection task that throws closes its connection.
void spawn(const std::shared_ptr<State>& st, asio::awaitable<void> task, std::string_view what,
           std::shared_ptr<Connection> c = nullptr) {
  ++st->tasks;
  asio::co_spawn(st->ex, std::move(task),
                 [st, what, c = std::move(c)](std::exception_ptr e) { task_ended(st, what, c, std::move(e)); });
}

// ---------------------------------------------------------------------------------------------
// UDP (RFC 3261 §18.3 datagrams)

bool only_crlf(std::string_view d) noexcept {
  return std::all_of(d.begin(), d.end(), [](char ch) { return ch == '\r' || ch == '\n'; });
}

void on_datagram(State& st, std::string_view d, const udp::endpoint& from, Message& msg) {
  // RFC 5626 §3.5.1 / RFC 3261 §7.5: a datagram of CR/LF only is a keep-alive, not a message.
  if (only_crlf(d)) {
    ++st.stats.keepalives;
    return;
  }
  const auto now = Clock::now();
  const auto addr = from.address();
  if (st.limiter.limited(addr, now)) {
    ++st.stats.rate_limited;
    return;
  }
  const ParseResult r = parse_message(d, msg, st.limits, false);
  if (r.status == parse_status::ok) {
    deliver(st, msg, Source{Transport::udp, addr, from.port(), 0});
    return;
  }
  ++(r.status == parse_status::too_large ? st.stats.too_large : st.stats.malformed);
  st.limiter.charge(addr, now);
  log::debug("sip", "udp: dropped datagram from {}:{} ({} bytes): {}", addr.to_string(), from.port(), d.size(),
             r.reason);
}

asio::awaitable<void> udp_loop(std::shared_ptr<State> st) {
  std::vector<char> buf(kDatagramBuffer);
  Message msg;
  udp::endpoint from;
  while (!st->stopping) {
    auto [ec, n] = co_await st->udp_socket.async_receive_from(asio::buffer(buf), from, use_tuple);
    if (st->stopping || ec == asio::error::operation_aborted) break;
    if (ec) {
      // ICMP reports (refused, unreachable) concern one earlier datagram: keep reading.
      if (ec == asio::error::connection_refused || ec == asio::error::connection_reset ||
          ec == asio::error::host_unreachable || ec == asio::error::network_unreachable)
        continue;
      log::warn("sip", "udp receive failed: {}", ec.message());
      st->udp_backoff.expires_after(kErrorBackoff);
      co_await st->udp_backoff.async_wait(use_tuple);
      continue;
    }
    on_datagram(*st, std::string_view(buf.data(), n), from, msg);
  }
}

asio::awaitable<std::error_code> send_datagram(std::shared_ptr<State> st, udp::endpoint to, std::string wire) {
  auto [ec, n] = co_await st->udp_socket.async_send_to(asio::buffer(wire), to, use_tuple);
  if (!ec && n != wire.size()) ec = asio::error::message_size;
  if (ec) {
    ++st->stats.send_errors;
    log::debug("sip", "udp send to {}:{} failed: {}", to.address().to_string(), to.port(), ec.message());
    co_return std::error_code(ec);
  }
  ++st->stats.sent;
  co_return std::error_code{};
}

// ---------------------------------------------------------------------------------------------
// TCP/TLS connections

void queue_pong(State& st, const std::shared_ptr<Connection>& c) {
  // A pong that does not fit is dropped: the peer's flow-timer will tell it (RFC 5626 §4.4.1).
  if (c->queue.size() + (c->writing ? 1 : 0) >= SipTransport::kMaxQueuedSends) return;
  c->queue.push_back(std::make_shared<Pending>(st.ex, "\r\n", true));
  c->wake.cancel();
}

/// Frames and delivers every complete message in buf[0, len); keeps the rest at the front.
/// False when the connection was closed (bad input, or the receiver stopped the transport).
bool consume_input(State& st, const std::shared_ptr<Connection>& c, std::string& buf, std::size_t& len,
                   StreamParser& parser, Message& msg, const Source& src) {
  std::size_t pos = 0;
  while (c->state == ConnState::open) {
    std::string_view data(buf.data() + pos, len - pos);
    if (!c->mid_message) {
      // RFC 5626 §3.5.1: between messages, CRLFCRLF is a ping; answer each with a CRLF pong.
      while (data.starts_with("\r\n\r\n")) {
        pos += 4;
        data.remove_prefix(4);
        ++st.stats.keepalives;
        queue_pong(st, c);
      }
      std::size_t k = 0;
      while (k < data.size() && (data[k] == '\r' || data[k] == '\n')) ++k;
      if (k == data.size()) break; // nothing, or part of a ping: wait for more
      // RFC 3261 §7.5: other CRLFs before a start line (a pong, for one) are ignored.
      pos += k;
      data.remove_prefix(k);
      c->mid_message = true;
      c->message_started = Clock::now();
      tighten(*c, c->message_started + st.opts.read_timeout);
    }
    const ParseResult r = parser.parse(data, msg);
    if (r.status == parse_status::need_more) break;
    if (r.status == parse_status::ok) {
      c->mid_message = false;
      ++c->delivered;
      deliver(st, msg, src);
      pos += r.consumed;
      continue;
    }
    // RFC 3261 §18.3: after a malformed or oversized message the framing of the stream is lost.
    const bool large = r.status == parse_status::too_large;
    ++(large ? st.stats.too_large : st.stats.malformed);
    st.limiter.charge(src.address, Clock::now());
    log::info("sip", "{} connection {} from {}:{}: closing on a {} message: {}", to_string(c->kind), c->id,
              src.address.to_string(), src.port, large ? "too large" : "malformed", r.reason);
    close_connection(st, c, make_error_code(large ? transport_error::message_too_large : transport_error::connection_closed));
    return false;
  }
  if (pos != 0) {
    std::memmove(buf.data(), buf.data() + pos, len - pos);
    len -= pos;
  }
  return c->state == ConnState::open;
}

asio::awaitable<void> read_loop(std::shared_ptr<State> st, std::shared_ptr<Connection> c) {
  const std::size_t cap = st->opts.max_message + kStreamSlack;
  std::string buf(std::min(cap, kInitialStreamBuffer), '\0');
  std::size_t len = 0;
  StreamParser parser(st->limits);
  Message msg;
  const Source src{c->kind, c->remote.address(), c->remote.port(), c->id};
  while (c->state == ConnState::open) {
    if (len == buf.size()) {
      // Full: the parser reports an oversized message before this, so only CR/LF bytes that never
      // form a ping or a message (a flood of bare LFs) get here.
      if (buf.size() >= cap) {
        ++st->stats.too_large;
        close_connection(*st, c, make_error_code(transport_error::message_too_large));
        co_return;
      }
      buf.resize(std::min(cap, buf.size() * 2));
    }
    auto [ec, n] = co_await read_some(*c, asio::buffer(buf.data() + len, buf.size() - len));
    if (c->state == ConnState::closed) co_return;
    if (ec) {
      log::debug("sip", "{} connection {} with {}: {}", to_string(c->kind), c->id, src.address.to_string(),
                 ec.message());
      const bool eof = ec == asio::error::eof || ec == ssl::error::stream_truncated;
      close_connection(*st, c, eof ? make_error_code(transport_error::connection_closed) : std::error_code(ec));
      co_return;
    }
    len += n;
    c->last_activity = Clock::now();
    if (!consume_input(*st, c, buf, len, parser, msg, src)) co_return;
  }
}

/// The one writer of a connection: drains the queue in order, one write in flight (Beast #2048).
asio::awaitable<void> write_loop(std::shared_ptr<State> st, std::shared_ptr<Connection> c) {
  while (c->state == ConnState::open) {
    if (c->queue.empty()) {
      c->wake.expires_at(Clock::time_point::max());
      co_await c->wake.async_wait(use_tuple);
      continue;
    }
    std::shared_ptr<Pending> p = std::move(c->queue.front());
    c->queue.pop_front();
    if (p->done) continue; // its sender gave up before the write started
    c->writing = true;
    c->write_started = Clock::now();
    tighten(*c, c->write_started + st->opts.read_timeout);
    auto [ec, n] = co_await write_all(*c, asio::buffer(p->wire));
    c->writing = false;
    if (c->state == ConnState::closed) {
      complete(*st, *p, ec ? c->close_reason : std::error_code{});
      co_return;
    }
    if (ec) {
      complete(*st, *p, ec);
      log::info("sip", "{} write to {} failed: {}", to_string(c->kind), c->remote.address().to_string(), ec.message());
      close_connection(*st, c, ec);
      co_return;
    }
    c->last_activity = Clock::now();
    complete(*st, *p, {});
  }
}

/// Closes the connection at its deadline: connect/handshake, idle, a message or a write that
/// takes too long. One sleeping timer per connection; it looks again when it wakes.
asio::awaitable<void> watchdog(std::shared_ptr<State> st, std::shared_ptr<Connection> c) {
  while (c->state != ConnState::closed) {
    const auto deadline = deadline_of(*st, *c);
    if (Clock::now() >= deadline) {
      log::info("sip", "{} connection {} with {}:{}: timed out ({})", to_string(c->kind), c->id,
                c->remote.address().to_string(), c->remote.port(),
                c->state == ConnState::open ? "idle, slow message or write" : "connect or handshake");
      close_connection(*st, c, std::make_error_code(std::errc::timed_out));
      co_return;
    }
    c->watchdog.expires_at(deadline);
    co_await c->watchdog.async_wait(use_tuple);
  }
}

std::string tls_failure(Connection& c, const boost_error& ec) {
  if (!c.tls) return ec.message();
  const long verify = SSL_get_verify_result(c.tls->native_handle());
  if (verify == X509_V_OK) return ec.message();
  return ec.message() + " (" + X509_verify_cert_error_string(verify) + ")";
}

/// The life of one connection: connect or handshake, then the writer is spawned and this
/// coroutine becomes the reader.
asio::awaitable<void> run_connection(std::shared_ptr<State> st, std::shared_ptr<Connection> c) {
  boost_error ec;
  if (c->outgoing) {
    std::tie(ec) = co_await c->socket.async_connect(c->remote, use_tuple);
    if (!ec) c->socket.set_option(tcp::no_delay(true), ec);
    if (!ec && c->tls) std::tie(ec) = co_await c->tls->async_handshake(ssl::stream_base::client, use_tuple);
  } else if (c->tls) {
    std::tie(ec) = co_await c->tls->async_handshake(ssl::stream_base::server, use_tuple);
  }
  if (c->state == ConnState::closed) co_return; // stop(), eviction or the watchdog came first
  if (ec) {
    const std::string why = tls_failure(*c, ec);
    if (c->outgoing)
      log::warn("sip", "{} connection to {}:{}{}{} failed: {}", to_string(c->kind), c->remote.address().to_string(),
                c->remote.port(), c->host.empty() ? "" : " for ", c->host, why);
    else
      log::info("sip", "TLS handshake with {}:{} failed: {}", c->remote.address().to_string(), c->remote.port(), why);
    close_connection(*st, c, ec);
    co_return;
  }
  c->state = ConnState::open;
  c->last_activity = Clock::now();
  c->watchdog.cancel(); // the open-state deadline replaces the connect deadline
  spawn(st, write_loop(st, c), "sip connection writer", c);
  co_await read_loop(st, c);
}

/// A connection object, not yet registered: the caller configures TLS, then registers and starts
/// it. Outgoing ones begin by connecting, incoming TLS ones by the server handshake.
std::shared_ptr<Connection> new_connection(const std::shared_ptr<State>& st, Transport kind, bool outgoing,
                                           tcp::socket sock, tcp::endpoint remote) {
  auto c = std::make_shared<Connection>(st->ex, st->next_id++, kind, outgoing, std::move(sock));
  c->remote = remote;
  if (kind == Transport::tls) c->tls.emplace(c->socket, outgoing ? *st->tls_client : *st->tls_server);
  c->state = outgoing ? ConnState::connecting : (c->tls ? ConnState::accepting : ConnState::open);
  c->phase_deadline = Clock::now() + st->opts.connect_timeout;
  c->last_activity = c->opened = Clock::now();
  return c;
}

void start_connection(const std::shared_ptr<State>& st, const std::shared_ptr<Connection>& c) {
  register_connection(*st, c);
  spawn(st, watchdog(st, c), "sip connection watchdog", c);
  spawn(st, run_connection(st, c), "sip connection", c);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> st, Transport kind) {
  tcp::acceptor& acceptor = kind == Transport::tls ? st->tls_acceptor : st->tcp_acceptor;
  asio::steady_timer& backoff = kind == Transport::tls ? st->tls_backoff : st->tcp_backoff;
  while (!st->stopping) {
    auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
    if (st->stopping || ec == asio::error::operation_aborted) break;
    if (ec) {
      // EMFILE and the like: wait instead of spinning (Asio throttling_proxy, libuv #690).
      log::warn("sip", "{} accept failed: {}", to_string(kind), ec.message());
      backoff.expires_after(kErrorBackoff);
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    boost_error rec;
    const tcp::endpoint remote = sock.remote_endpoint(rec);
    if (rec) continue; // already gone; the socket closes here
    if (st->limiter.limited(remote.address(), Clock::now())) {
      ++st->stats.rate_limited;
      continue;
    }
    if (!make_room(*st, false)) {
      ++st->stats.connections_refused;
      log::warn("sip", "{} connection from {} refused: {} connections busy", to_string(kind),
                remote.address().to_string(), st->conns.size());
      continue;
    }
    sock.set_option(tcp::no_delay(true), rec);
    start_connection(st, new_connection(st, kind, false, std::move(sock), remote));
  }
}

/// Per-connection TLS client settings (RFC 5922 §7, RFC 6066 §3).
std::error_code configure_client_tls(const State& st, Connection& c, const Target& t) {
  SSL* native = c.tls->native_handle();
  const std::string_view host = strip_brackets(t.host);
  boost_error not_ip;
  (void)asio::ip::make_address(host, not_ip);
  const bool host_is_name = !host.empty() && not_ip;
  // RFC 6066 §3: SNI carries a host name, never an address literal.
  if (host_is_name && SSL_set_tlsext_host_name(native, std::string(host).c_str()) != 1)
    return std::make_error_code(std::errc::invalid_argument);
  if (!st.opts.tls_verify) {
    c.tls->set_verify_mode(ssl::verify_none);
    return {};
  }
  c.tls->set_verify_mode(ssl::verify_peer);
  SipIdentityVerifier v;
  v.is_address = !host_is_name;
  v.expected = host_is_name ? std::string(host) : (host.empty() ? t.address.to_string() : std::string(host));
  c.host = v.expected;
  c.tls->set_verify_callback(std::move(v));
  return {};
}

std::shared_ptr<Connection> find_connection(State& st, const Target& t) {
  auto it = st.by_peer.find(PeerKey{t.transport, t.address, t.port});
  if (it == st.by_peer.end()) return nullptr;
  auto ct = st.conns.find(it->second);
  if (ct == st.conns.end() || ct->second->state == ConnState::closed) return nullptr;
  const auto& c = ct->second;
  // RFC 5922 §7: a TLS connection we opened was verified for one domain; another one needs its own.
  if (c->kind == Transport::tls && c->outgoing && st.opts.tls_verify && !ascii_iequals(c->host, strip_brackets(t.host)) &&
      !(t.host.empty() && c->host == t.address.to_string()))
    return nullptr;
  return c;
}

/// Queues `wire` on the connection and waits until it is written or fails.
asio::awaitable<std::error_code> enqueue_and_wait(std::shared_ptr<State> st, std::shared_ptr<Connection> c,
                                                  std::string wire) {
  if (c->queue.size() + (c->writing ? 1 : 0) >= SipTransport::kMaxQueuedSends) {
    ++st->stats.send_errors;
    co_return make_error_code(transport_error::queue_full);
  }
  auto p = std::make_shared<Pending>(st->ex, std::move(wire), false);
  c->queue.push_back(p);
  c->wake.cancel();
  while (!p->done) {
    p->signal.expires_at(Clock::time_point::max());
    co_await p->signal.async_wait(use_tuple);
    if (p->done) break;
    const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) {
      // Our caller gave up: the writer skips the message if it has not started it yet.
      complete(*st, *p, aborted());
      break;
    }
  }
  co_return p->result;
}

asio::awaitable<std::error_code> send_to_target(std::shared_ptr<State> st, Target t, std::string wire) {
  auto fail = [&](std::error_code ec) {
    ++st->stats.send_errors;
    return ec;
  };
  if (!st->started || st->stopping) co_return fail(make_error_code(transport_error::stopped));
  if (wire.size() > st->opts.max_message) co_return fail(make_error_code(transport_error::message_too_large));
  if (forbidden_destination(t.address)) co_return fail(make_error_code(transport_error::forbidden_address));
  if (t.transport == Transport::udp)
    co_return co_await send_datagram(st, udp::endpoint(t.address, t.port), std::move(wire));
  if (t.transport != Transport::tcp && t.transport != Transport::tls)
    co_return fail(make_error_code(transport_error::unsupported_transport));

  std::shared_ptr<Connection> c = find_connection(*st, t);
  if (!c) {
    if (!make_room(*st, true)) {
      ++st->stats.connections_refused;
      co_return fail(make_error_code(transport_error::too_many_connections));
    }
    c = new_connection(st, t.transport, true, tcp::socket(st->ex), tcp::endpoint(t.address, t.port));
    c->host = std::string(strip_brackets(t.host)); // logs; TLS replaces it with the verified identity
    if (c->tls)
      if (auto ec = configure_client_tls(*st, *c, t)) co_return fail(ec);
    start_connection(st, c);
  }
  co_return co_await enqueue_and_wait(st, std::move(c), std::move(wire));
}

asio::awaitable<std::error_code> reply_to_source(std::shared_ptr<State> st, Source from, std::string wire) {
  if (!st->started || st->stopping) {
    ++st->stats.send_errors;
    co_return make_error_code(transport_error::stopped);
  }
  if (wire.size() > st->opts.max_message) {
    ++st->stats.send_errors;
    co_return make_error_code(transport_error::message_too_large);
  }
  // RFC 3261 §18.2.2 / RFC 3581 §4: a UDP response goes to the source address and port.
  if (from.transport == Transport::udp)
    co_return co_await send_datagram(st, udp::endpoint(from.address, from.port), std::move(wire));
  // §18.2.2: over a reliable transport, the connection the request came on.
  auto it = st->conns.find(from.connection_id);
  if (it == st->conns.end() || it->second->state == ConnState::closed) {
    ++st->stats.send_errors;
    co_return make_error_code(transport_error::not_connected);
  }
  co_return co_await enqueue_and_wait(st, it->second, std::move(wire));
}

asio::awaitable<void> join_tasks(std::shared_ptr<State> st) {
  auto waiter = std::make_shared<asio::steady_timer>(st->ex, Clock::time_point::max());
  st->join_waiters.push_back(waiter);
  while (st->tasks != 0) {
    co_await waiter->async_wait(use_tuple); // cancelled when the last child ends
    const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) break;
  }
  std::erase(st->join_waiters, waiter);
}

void setup_tls(State& st) {
  const auto& o = st.opts;
  const std::string& key = o.tls_key_file.empty() ? o.tls_cert_file : o.tls_key_file;
  st.tls_client.emplace(ssl::context::tls_client);
  auto& client = *st.tls_client;
  SSL_CTX_set_min_proto_version(client.native_handle(), TLS1_2_VERSION);
  if (o.tls_verify) {
    if (o.tls_ca_file.empty())
      client.set_default_verify_paths();
    else
      client.load_verify_file(o.tls_ca_file);
    client.set_verify_mode(ssl::verify_peer);
  } else {
    client.set_verify_mode(ssl::verify_none);
    log::warn("sip", "TLS certificate verification is OFF (tls_verify=false)");
  }
  if (!o.tls_cert_file.empty()) { // our client certificate, for mutual TLS
    client.use_certificate_chain_file(o.tls_cert_file);
    client.use_private_key_file(key, ssl::context::pem);
  }
  if (!o.enable_tls || o.tls_cert_file.empty()) return;
  st.tls_server.emplace(ssl::context::tls_server);
  auto& server = *st.tls_server;
  SSL_CTX_set_min_proto_version(server.native_handle(), TLS1_2_VERSION);
  server.use_certificate_chain_file(o.tls_cert_file);
  server.use_private_key_file(key, ssl::context::pem);
  if (o.tls_verify && !o.tls_ca_file.empty()) {
    // Mutual TLS is optional: a client certificate is requested and, if one comes, it must chain
    // to tls_ca_file; a client without one is accepted.
    server.load_verify_file(o.tls_ca_file);
    server.set_verify_mode(ssl::verify_peer);
  } else {
    server.set_verify_mode(ssl::verify_none);
  }
}

std::uint16_t listen_on(tcp::acceptor& a, const tcp::endpoint& ep) {
  a.open(ep.protocol());
  a.set_option(asio::socket_base::reuse_address(true)); // rebind over TIME_WAIT after a restart
  a.bind(ep);
  a.listen(asio::socket_base::max_listen_connections);
  return a.local_endpoint().port();
}

} // namespace

void SipTransport::State::stop() {
  if (stopping) return;
  stopping = true;
  boost_error ignored;
  udp_socket.close(ignored);
  tcp_acceptor.close(ignored);
  tls_acceptor.close(ignored);
  udp_backoff.cancel();
  tcp_backoff.cancel();
  tls_backoff.cancel();
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(conns.size());
  for (auto& [id, c] : conns) all.push_back(c);
  for (auto& c : all) close_connection(*this, c, aborted());
  by_peer.clear();
  next_receiver.reset();
  if (delivering == 0) receiver = nullptr; // else deliver() releases it when the call returns
  if (tasks == 0)
    for (auto& w : join_waiters) w->cancel();
}

// ---------------------------------------------------------------------------------------------
// SipTransport

SipTransport::SipTransport(asio::any_io_executor ex, TransportOptions opts)
    : st_(std::make_shared<State>(std::move(ex), std::move(opts))) {}

SipTransport::~SipTransport() { st_->stop(); }

void SipTransport::start() {
  State& st = *st_;
  if (st.started || st.stopping) throw std::logic_error("SipTransport::start: already started or stopped");
  const auto& o = st.opts;
  try {
    setup_tls(st);
    const udp::endpoint uep(o.bind_address, o.udp_port);
    st.udp_socket.open(uep.protocol());
    st.udp_socket.bind(uep);
    st.udp_port = st.udp_socket.local_endpoint().port();
    if (o.enable_tcp) st.tcp_port = listen_on(st.tcp_acceptor, tcp::endpoint(o.bind_address, o.tcp_port));
    if (st.tls_server) st.tls_port = listen_on(st.tls_acceptor, tcp::endpoint(o.bind_address, o.tls_port));
  } catch (...) {
    boost_error ignored;
    st.udp_socket.close(ignored);
    st.tcp_acceptor.close(ignored);
    st.tls_acceptor.close(ignored);
    st.udp_port = st.tcp_port = st.tls_port = 0;
    throw;
  }
  st.started = true;
  spawn(st_, udp_loop(st_), "sip udp loop");
  if (st.tcp_acceptor.is_open()) spawn(st_, accept_loop(st_, Transport::tcp), "sip tcp accept loop");
  if (st.tls_acceptor.is_open()) spawn(st_, accept_loop(st_, Transport::tls), "sip tls accept loop");
  log::info("sip", "transport on {}: udp {} tcp {} tls {}", o.bind_address.to_string(), st.udp_port, st.tcp_port,
            st.tls_port);
}

void SipTransport::set_receiver(Receiver r) {
  if (st_->stopping) return;
  if (st_->delivering > 0)
    st_->next_receiver = std::move(r); // never replace the function that is running
  else
    st_->receiver = std::move(r);
}

std::uint16_t SipTransport::port(Transport t) const {
  switch (t) {
    case Transport::udp: return st_->udp_port;
    case Transport::tcp: return st_->tcp_port;
    case Transport::tls: return st_->tls_port;
    default: return 0;
  }
}

std::string_view SipTransport::advertised_host() const { return st_->advertised; }

// Not coroutines themselves: they hand the shared State to one, so nothing suspended refers to
// this object.
asio::awaitable<std::error_code> SipTransport::send(Target target, std::string wire) {
  return send_to_target(st_, std::move(target), std::move(wire));
}

asio::awaitable<std::error_code> SipTransport::reply(Source from, std::string wire) {
  return reply_to_source(st_, std::move(from), std::move(wire));
}

void SipTransport::stop() { st_->stop(); }

asio::awaitable<void> SipTransport::join() { return join_tasks(st_); }

std::size_t SipTransport::active_tasks() const { return st_->tasks; }

std::size_t SipTransport::open_connections() const { return st_->conns.size(); }

const TransportStats& SipTransport::stats() const { return st_->stats; }

// ---------------------------------------------------------------------------------------------
// Via stamping (RFC 3261 §18.2.1, RFC 3581 §4)

std::optional<std::string> stamp_via(std::string_view element, const Source& from) {
  const auto via = parse_via(element);
  if (!via) return std::nullopt;
  bool need_received = via->has_rport; // RFC 3581 §4: always with rport
  if (!need_received) {
    if (via->host_kind == HostKind::hostname) {
      need_received = true; // §18.2.1: a domain name in sent-by
    } else {
      boost_error ec;
      const auto sent_by = asio::ip::make_address(strip_brackets(via->host), ec);
      need_received = ec || sent_by != from.address;
    }
  }
  if (!need_received) return std::string(element);

  std::string out;
  std::string_view head = element;
  if (!via->params.empty()) {
    head = element.substr(0, static_cast<std::size_t>(via->params.data() - element.data()));
  }
  while (!head.empty() && (head.back() == ' ' || head.back() == '\t' || head.back() == '\r' || head.back() == '\n'))
    head.remove_suffix(1);
  out.append(head);
  ParamCursor params(via->params);
  while (auto p = params.next()) {
    if (ascii_iequals(p->name, "received")) continue; // replaced below
    out += ';';
    out.append(p->name);
    if (ascii_iequals(p->name, "rport")) {
      out += '=';
      out += std::to_string(from.port); // RFC 3581 §4: the source port of the request
      continue;
    }
    if (!p->has_value) continue;
    out += '=';
    if (p->quoted) out += '"';
    out.append(p->value);
    if (p->quoted) out += '"';
  }
  if (params.malformed()) return std::nullopt;
  // RFC 3261 §25.1: received = IPv4address / IPv6address (no brackets).
  out += ";received=";
  out += from.address.to_string();
  return out;
}

} // namespace sb::sip
