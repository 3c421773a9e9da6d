// An in-process Network for tests and fuzzers: what the UserAgent sends is recorded, what the
// "far end" sends is parsed as a datagram (the same sans-I/O parser and limits as UDP) and handed
// to the UserAgent at once, and every name resolves to one configured target. No socket, no DNS,
// no wall clock (pair it with SipClock::freeze()).
#pragma once
#include "sip/network.hpp"

#include <deque>
#include <string>
#include <vector>

namespace sb::sip {

class MemoryNetwork final : public Network {
 public:
  struct Sent {
    bool is_reply = false;  // reply() (a response to a far-end request) rather than send()
    Target to;              // send(): where it went
    Source reply_to;        // reply(): the request's source
    std::string wire;
  };

  /// `far_end`: what every resolve() answers (default 192.0.2.2:5060 over UDP, RFC 5737).
  explicit MemoryNetwork(Target far_end = default_far_end(), std::string host = "192.0.2.1");

  /// The far end sends `wire` (from its target's address and port). Parsed as a datagram: false
  /// (and counted as malformed) when it does not parse; else handed to the receiver.
  bool deliver(std::string_view wire);
  bool deliver(std::string_view wire, const Source& from);

  /// Everything sent, in order; tests pop what they have looked at.
  std::deque<Sent> sent;
  /// When set, send() and reply() fail with it (a transport error) after recording.
  std::error_code fail_sends;
  std::size_t max_recorded = 4096;  // oldest dropped beyond this (a fuzzer never reads them all)

  static Target default_far_end();
  const Target& far_end() const { return far_end_; }

  void start(SipTransport::Receiver r) override;
  void stop() override;
  std::uint16_t port(Transport t) const override;
  std::string_view advertised_host() const override { return host_; }
  boost::asio::awaitable<std::error_code> send(Target target, std::string wire) override;
  boost::asio::awaitable<std::error_code> reply(Source from, std::string wire) override;
  boost::asio::awaitable<Resolver::Result> resolve(std::string host, std::optional<std::uint16_t> port,
                                                   std::optional<Transport> transport, bool sips) override;
  const TransportStats& transport_stats() const override { return stats_; }

 private:
  std::error_code record(Sent s);  // and counts it: sent, or a send error when fail_sends
  Target far_end_;
  std::string host_;
  SipTransport::Receiver receiver_;
  bool stopped_ = false;
  TransportStats stats_;
};

}  // namespace sb::sip
