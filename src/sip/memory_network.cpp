#include "sip/memory_network.hpp"

#include "sip/message.hpp"

namespace sb::sip {

Target MemoryNetwork::default_far_end() {
  Target t;
  t.address = boost::asio::ip::make_address("192.0.2.2");
  t.port = 5060;
  t.transport = Transport::udp;
  t.host = "192.0.2.2";
  return t;
}

MemoryNetwork::MemoryNetwork(Target far_end, std::string host) : far_end_(std::move(far_end)), host_(std::move(host)) {}

void MemoryNetwork::start(SipTransport::Receiver r) {
  receiver_ = std::move(r);
  stopped_ = false;
}

void MemoryNetwork::stop() {
  stopped_ = true;
  receiver_ = nullptr;
}

std::uint16_t MemoryNetwork::port(Transport t) const { return t == Transport::udp ? 5060 : 0; }

bool MemoryNetwork::deliver(std::string_view wire) {
  return deliver(wire, Source{far_end_.transport, far_end_.address, far_end_.port, 0});
}

bool MemoryNetwork::deliver(std::string_view wire, const Source& from) {
  if (stopped_ || !receiver_) return false;
  Message msg;
  const auto r = parse_message(wire, msg, Limits{}, false);
  if (r.status != parse_status::ok) {
    ++(r.status == parse_status::too_large ? stats_.too_large : stats_.malformed);
    return false;
  }
  ++stats_.received;
  receiver_(msg, msg.raw, from);
  return true;
}

std::error_code MemoryNetwork::record(Sent s) {
  sent.push_back(std::move(s));
  while (sent.size() > max_recorded) sent.pop_front();
  ++(fail_sends ? stats_.send_errors : stats_.sent);
  return fail_sends;
}

boost::asio::awaitable<std::error_code> MemoryNetwork::send(Target target, std::string wire) {
  co_return record(Sent{false, std::move(target), {}, std::move(wire)});
}

boost::asio::awaitable<std::error_code> MemoryNetwork::reply(Source from, std::string wire) {
  co_return record(Sent{true, {}, std::move(from), std::move(wire)});
}

boost::asio::awaitable<Resolver::Result> MemoryNetwork::resolve(std::string host, std::optional<std::uint16_t> port,
                                                                std::optional<Transport> transport, bool) {
  if (stopped_) co_return boost::system::error_code(ECANCELED, boost::system::generic_category());
  Target t = far_end_;
  t.host = std::move(host);
  if (port) t.port = *port;
  if (transport) t.transport = *transport;
  co_return std::vector<Target>{t};
}

}  // namespace sb::sip
