// The SIP transport layer of one shard, RFC 3261 §18: UDP, TCP and TLS over Asio.
//
// Layer map (src/sip/README.md): uri → message → transport → transaction → dialog → invite
// session. This layer moves whole messages: it frames and parses what arrives (message.hpp) and
// hands each message up with where it came from; it writes the bytes the layers above built to a
// resolved Target, or back to the Source of a request. It knows nothing about transactions.
//
// Threading and ownership
//   One instance per shard, on that shard's single-threaded io_context: no locks. Every shard
//   binds its own UDP, TCP and TLS ports, so an in-dialog request, which the far end sends to our
//   Contact, reaches the shard that owns the dialog. All state lives in a `State` shared with the
//   coroutines (accept loops, the UDP loop, per-connection reader/writer/watchdog); none of them
//   touches the SipTransport object, which may be destroyed right after stop().
//
// Receiving (RFC 3261 §18.3)
//   UDP: one datagram is one message (parse_message, stream = false). Malformed or too large: dropped
//   and counted. A datagram of nothing but CR/LF is a keep-alive and is ignored. Each source IP has
//   a token bucket of `malformed_per_second_per_source` malformed messages per second; once it is
//   empty, that source's datagrams are dropped unparsed (rate_limited) until it refills.
//   TCP/TLS: a per-connection reader frames by Content-Length (StreamParser) in a buffer bounded
//   by max_message; a malformed message closes the connection (framing is lost), so does one that
//   is too large. A CRLFCRLF ping is answered with a CRLF pong (RFC 5626 §3.5.1).
//   Responses whose top Via sent-by host is not advertised_host() are discarded (RFC 3261 §18.1.2),
//   so the layers above must put advertised_host() in the Via they send.
//
// Sending (RFC 3261 §18.1)
//   UDP: one datagram per send. TCP/TLS: a connection is found by (transport, address, port) —
//   ours or one the far end opened to us — or opened under connect_timeout; TLS sends SNI for
//   host names (RFC 6066 §3) and, when tls_verify, checks the chain and that the certificate
//   names target.host (RFC 5922 §7.2, no wildcards). Writes on a connection are serialised through
//   a bounded queue (kMaxQueuedSends; overflow fails the send with queue_full). Choosing TCP for a
//   large request (§18.1.1) is the caller's decision, made before it picks the Target.
//
// Timeouts (every read has a deadline)
//   connect + TLS handshake: connect_timeout. A connection with no bytes in either direction for
//   idle_timeout is closed. A message that has started to arrive must be complete within
//   read_timeout (30 s: slowloris), and an accepted connection must deliver its first whole
//   message within read_timeout of being accepted (a silent stranger does not get idle_timeout);
//   a write must finish within read_timeout.
//
// Connection limit: max_connections per shard, of which accepted connections hold at most three
// quarters (the rest is for our own). At the limit an accepted connection that never delivered a
// whole message (a scanner's, a half-sent message held open, a TLS handshake that never ends) is
// closed first, then the one idle the longest.
//
// Shutdown
//   stop() closes the sockets and connections; pending sends complete with operation_aborted; the
//   receiver is not called again. join() completes once every child coroutine has ended.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "sip/message.hpp"
#include "sip/resolver.hpp" // Target, and Transport (sip/uri.hpp)

namespace sb::sip {

/// Errors of the transport layer (category "sip.transport"). Socket and TLS failures come back
/// as their own error codes (connection_refused, timed_out, the TLS verify error…).
enum class transport_error {
  stopped = 1,           ///< the transport is stopped or was never started
  not_connected,         ///< reply(): the connection the request arrived on is closed
  queue_full,            ///< the connection's send queue holds kMaxQueuedSends messages already
  too_many_connections,  ///< max_connections are open and none is idle enough to close
  message_too_large,     ///< the message is longer than TransportOptions::max_message
  unsupported_transport, ///< only UDP, TCP and TLS are implemented here
  forbidden_address,     ///< unspecified, broadcast or multicast destination (RFC 4475 bcast)
  connection_closed,     ///< the connection closed before the message was written
};

const std::error_category& transport_category() noexcept;
std::error_code make_error_code(transport_error e) noexcept;

struct TransportOptions {
  boost::asio::ip::address bind_address = boost::asio::ip::make_address("127.0.0.1");
  std::string advertised_host; ///< Via sent-by / Contact host; empty = the bind address
  /// 0 = ephemeral (tests). A listener per kind, per shard.
  std::uint16_t udp_port = 0, tcp_port = 0, tls_port = 0;
  /// The TCP and TLS listeners. Outgoing TCP/TLS works either way. The TLS listener also needs
  /// tls_cert_file and tls_key_file; without them it is not opened (port(tls) == 0).
  bool enable_tcp = true, enable_tls = true;
  /// Our certificate chain and key (PEM): the TLS server side, and the client certificate we
  /// present for mutual TLS when set.
  std::string tls_cert_file, tls_key_file;
  /// Trust anchors (PEM) for peers; empty = the system default paths. When set and tls_verify is
  /// on, a client certificate offered to our TLS listener is verified against it too (mutual TLS
  /// is optional: a client without a certificate is accepted).
  std::string tls_ca_file;
  /// Verify server certificates and that they name target.host (RFC 5922 §7). SNI is always sent
  /// for host names.
  bool tls_verify = true;
  std::size_t max_message = 65535;
  std::size_t max_connections = 1024; ///< open TCP/TLS connections per shard, in and out
  std::chrono::milliseconds connect_timeout{4000}, idle_timeout{120000}, read_timeout{30000};
  /// Malformed messages per second per source IP before its traffic is dropped unparsed.
  /// 0 disables the limit.
  std::size_t malformed_per_second_per_source = 20;
};

/// Where a message came from. `connection_id` names the TCP/TLS connection (0 for UDP); replies
/// go back over it (RFC 3261 §18.2.2).
struct Source {
  Transport transport = Transport::udp;
  boost::asio::ip::address address;
  std::uint16_t port = 0;
  std::uint64_t connection_id = 0;
};

struct TransportStats {
  std::uint64_t received = 0;     ///< messages handed to the receiver
  std::uint64_t sent = 0;         ///< messages written (keep-alive pongs not included)
  std::uint64_t malformed = 0;    ///< messages dropped as malformed (a stream is closed too)
  std::uint64_t too_large = 0;    ///< messages over max_message (a stream is closed too)
  std::uint64_t rate_limited = 0; ///< datagrams or accepted connections dropped unparsed
  std::uint64_t send_errors = 0;  ///< sends that completed with an error
  std::uint64_t connections_opened = 0; ///< TCP/TLS accepted, or opened by us (failed connects too)
  std::uint64_t connections_closed = 0;
  std::uint64_t connections_refused = 0; ///< max_connections reached: accept closed / send failed
  std::uint64_t connections_evicted = 0; ///< closed to make room for another (make_room)
  std::uint64_t keepalives = 0;          ///< CRLF keep-alives received (pings answered on streams)
  std::uint64_t misrouted = 0;           ///< responses whose top Via is not ours (RFC 3261 §18.1.2)
  std::uint64_t task_failures = 0;       ///< child coroutines that ended with an exception
};

class SipTransport {
 public:
  /// Views are valid during the call only. The receiver may call send()/reply() (they queue) or
  /// stop(); it must not destroy the SipTransport.
  using Receiver = std::function<void(const Message& msg, std::string_view raw, const Source& from)>;

  /// Messages queued on one connection (in flight included) before send() fails with queue_full.
  static constexpr std::size_t kMaxQueuedSends = 64;

  SipTransport(boost::asio::any_io_executor ex, TransportOptions opts);
  /// Calls stop(). Children may still be unwinding; they do not touch this object.
  ~SipTransport();
  SipTransport(const SipTransport&) = delete;
  SipTransport& operator=(const SipTransport&) = delete;

  /// Binds the UDP socket and the TCP and TLS listeners and starts receiving. Throws on a bind
  /// failure or unreadable TLS files (setup errors); nothing stays bound then.
  void start();
  void set_receiver(Receiver r);
  /// Bound port of each kind after start(); 0 when that listener is not open.
  std::uint16_t port(Transport t) const;
  /// Host for Via sent-by and Contact: advertised_host, else the bind address (IPv6 in brackets).
  std::string_view advertised_host() const;

  /// Sends to a resolved target (RFC 3261 §18.1.1). UDP: one datagram. TCP/TLS: over an open
  /// connection to (transport, address, port) — including one the far end opened to us — or a new
  /// one (connect and TLS handshake under connect_timeout). Completes when the bytes are written,
  /// or with the error (connection refused, timed_out, TLS verification, queue_full…).
  boost::asio::awaitable<std::error_code> send(Target target, std::string wire);
  /// Sends back where a request came from (RFC 3261 §18.2.2; RFC 3581 §4: to the source port).
  /// UDP: to from.address:from.port. TCP/TLS: over connection `from.connection_id` if it is still
  /// open, else not_connected (the caller may then send() to the Via sent-by, §18.2.2).
  boost::asio::awaitable<std::error_code> reply(Source from, std::string wire);

  /// Closes sockets and connections; pending sends complete with operation_aborted; the receiver
  /// is released and never called again. Idempotent.
  void stop();
  /// After stop(): completes when every child coroutine (loops, connection tasks) has ended.
  boost::asio::awaitable<void> join();
  /// Child coroutines still running.
  std::size_t active_tasks() const;
  /// TCP/TLS connections in the table (connecting or open).
  std::size_t open_connections() const;

  const TransportStats& stats() const;

  struct State; ///< shared with the child coroutines; defined in transport.cpp

 private:
  std::shared_ptr<State> st_;
};

/// The top Via element of a received request as a UAS echoes it in responses (RFC 3261
/// §18.2.1 `received` when the sent-by host is a name or another address; RFC 3581 §4 `rport`
/// filled with the source port, and then `received` always). Nullopt if the element does not
/// parse. Existing `received` values are replaced.
std::optional<std::string> stamp_via(std::string_view via_element, const Source& from);

} // namespace sb::sip

template <>
struct std::is_error_code_enum<sb::sip::transport_error> : std::true_type {};
