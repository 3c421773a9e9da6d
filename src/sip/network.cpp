#include "sip/network.hpp"

namespace sb::sip {
namespace {

class SocketNetwork final : public Network {
 public:
  SocketNetwork(boost::asio::any_io_executor ex, const TransportOptions& t, const ResolverOptions& r)
      : transport_(ex, t), resolver_(ex, r) {}
  void start(SipTransport::Receiver r) override {
    transport_.set_receiver(std::move(r));
    transport_.start();
  }
  void stop() override {
    transport_.stop();
    resolver_.stop();
  }
  std::uint16_t port(Transport t) const override { return transport_.port(t); }
  std::string_view advertised_host() const override { return transport_.advertised_host(); }
  boost::asio::awaitable<std::error_code> send(Target target, std::string wire) override {
    co_return co_await transport_.send(std::move(target), std::move(wire));
  }
  boost::asio::awaitable<std::error_code> reply(Source from, std::string wire) override {
    co_return co_await transport_.reply(std::move(from), std::move(wire));
  }
  boost::asio::awaitable<Resolver::Result> resolve(std::string host, std::optional<std::uint16_t> port,
                                                   std::optional<Transport> transport, bool sips) override {
    co_return co_await resolver_.resolve(std::move(host), port, transport, sips);
  }
  const TransportStats& transport_stats() const override { return transport_.stats(); }

 private:
  SipTransport transport_;
  Resolver resolver_;
};

}  // namespace

std::unique_ptr<Network> make_socket_network(boost::asio::any_io_executor ex, const TransportOptions& transport,
                                             const ResolverOptions& resolver) {
  return std::make_unique<SocketNetwork>(ex, transport, resolver);
}

}  // namespace sb::sip
