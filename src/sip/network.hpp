// What a UserAgent needs of the network: a SIP transport (send, reply, receive) and RFC 3263
// name resolution. In production that is sockets and DNS (make_socket_network: SipTransport +
// Resolver); tests and fuzzers hand the UserAgent a MemoryNetwork (memory_network.hpp) instead,
// so a whole INVITE session runs in-process with no port and no wall clock.
#pragma once
#include "sip/resolver.hpp"
#include "sip/transport.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace sb::sip {

class Network {
 public:
  virtual ~Network() = default;
  /// Starts receiving; every message goes to `r` (SipTransport::Receiver's contract). Throws on
  /// a setup error (a port that cannot be bound).
  virtual void start(SipTransport::Receiver r) = 0;
  /// Stops sending, receiving and resolving; pending operations complete with errors.
  virtual void stop() = 0;
  /// Our port for a transport (0: no listener of that kind).
  virtual std::uint16_t port(Transport t) const = 0;
  /// Host for Via sent-by and Contact.
  virtual std::string_view advertised_host() const = 0;
  virtual boost::asio::awaitable<std::error_code> send(Target target, std::string wire) = 0;
  virtual boost::asio::awaitable<std::error_code> reply(Source from, std::string wire) = 0;
  /// Resolver::resolve's contract (RFC 3263 §4.1–4.2).
  virtual boost::asio::awaitable<Resolver::Result> resolve(std::string host, std::optional<std::uint16_t> port,
                                                           std::optional<Transport> transport, bool sips) = 0;
  virtual const TransportStats& transport_stats() const = 0;
};

/// Sockets (SipTransport: UDP, TCP, TLS) and DNS (Resolver) on `ex`.
std::unique_ptr<Network> make_socket_network(boost::asio::any_io_executor ex, const TransportOptions& transport,
                                             const ResolverOptions& resolver);

}  // namespace sb::sip
