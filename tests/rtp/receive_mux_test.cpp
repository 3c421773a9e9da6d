// rtp::ReceiveMux over real loopback sockets: every datagram delivered once and in order, one
// flooded socket not starving another, and what removal, truncation and errors leave behind.
#include "rtp/receive_mux.hpp"
#include "rtp/udp_socket.hpp"

#include <doctest/doctest.h>

#include <boost/asio.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace sb;
namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

struct Recorder final : rtp::ReceiveMux::Sink {
  std::vector<std::string>* log = nullptr;  // shared between sinks: the order across sockets
  std::vector<std::string> got;
  std::vector<boost::system::error_code> errors;
  bool keep_on_error = true;
  std::function<void()> on_first;  // run inside the first delivery
  bool throw_on_receive = false;
  std::function<void(std::size_t)> on_each;  // run inside each delivery, with the count so far
  udp::endpoint last_from;
  void on_receive(std::span<std::uint8_t> buf, std::size_t n, const udp::endpoint& from, int channel) override {
    CHECK(buf.size() >= rtp::ReceiveMux::k_max_datagram + rtp::ReceiveMux::k_headroom);
    if (throw_on_receive) throw std::runtime_error("handler bug");
    got.emplace_back(reinterpret_cast<const char*>(buf.data()), n);
    if (log) log->push_back(std::to_string(channel) + ":" + got.back());
    last_from = from;
    if (got.size() == 1 && on_first) on_first();
    if (on_each) on_each(got.size());
  }
  bool on_receive_error(int, const boost::system::error_code& ec) override {
    errors.push_back(ec);
    return keep_on_error;
  }
};

struct Rig {
  asio::io_context io;
  udp::socket sender{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  rtp::ReceiveMux& mux = rtp::ReceiveMux::of(io.get_executor());

  rtp::UdpSocket bound() {
    rtp::UdpSocket s;
    boost::system::error_code ec;
    s.open_bind({asio::ip::make_address("127.0.0.1"), 0}, ec);
    REQUIRE_FALSE(ec);
    return s;
  }
  static std::uint16_t port_of(const rtp::UdpSocket& s) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(s.native_handle(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
    return ntohs(a.sin_port);
  }
  void send(const rtp::UdpSocket& to, const std::string& what) {
    sender.send_to(asio::buffer(what), udp::endpoint(asio::ip::make_address("127.0.0.1"), port_of(to)));
  }
  void settle() {
    io.restart();
    io.run_for(std::chrono::milliseconds(50));
  }
};

}  // namespace

TEST_CASE("receive mux: every datagram once, in order, including those queued before the socket was added") {
  Rig r;
  auto sock = r.bound();
  for (int i = 0; i < 3; ++i) r.send(sock, "early" + std::to_string(i));
  auto sink = std::make_shared<Recorder>();
  boost::system::error_code ec;
  const auto h = r.mux.add(sock.native_handle(), sink, 7, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(h != 0);
  r.settle();
  for (int i = 0; i < 150; ++i) r.send(sock, "p" + std::to_string(i));
  r.settle();
  REQUIRE(sink->got.size() == 153);
  CHECK(sink->got[0] == "early0");
  CHECK(sink->got[2] == "early2");
  for (int i = 0; i < 150; ++i) CHECK(sink->got[3 + i] == "p" + std::to_string(i));
  CHECK(sink->last_from == r.sender.local_endpoint());
  const auto st = r.mux.stats();
  CHECK(st.datagrams == 153);
  CHECK(st.sockets == 1);
  // recvmmsg takes a batch per call: far fewer calls than datagrams.
  CHECK(st.recv_calls < 153 / 4);
  r.mux.remove(h);
  CHECK(r.mux.stats().sockets == 0);
}

namespace {

// Two watched sockets, `a` to be flooded and `b`, both logging into one `order` ("1:…", "2:…").
struct TwoSockets {
  Rig r;
  rtp::UdpSocket a = r.bound(), b = r.bound();
  std::vector<std::string> order;
  std::shared_ptr<Recorder> sa = std::make_shared<Recorder>(), sb = std::make_shared<Recorder>();
  TwoSockets() {
    sa->log = sb->log = &order;
    boost::system::error_code ec;
    r.mux.add(a.native_handle(), sa, 1, ec);
    r.mux.add(b.native_handle(), sb, 2, ec);
    r.settle();
  }
  void flood_a(unsigned n) {
    for (unsigned i = 0; i < n; ++i) r.send(a, std::to_string(i));
  }
  std::ptrdiff_t position_of(const std::string& entry) const {
    return std::find(order.begin(), order.end(), entry) - order.begin();
  }
};

}  // namespace

TEST_CASE("receive mux: a flooded socket gives way to the others after a turn") {
  TwoSockets t;
  const unsigned flood = 2 * rtp::ReceiveMux::k_max_per_wake + 6;
  t.flood_a(flood);
  t.r.send(t.b, "b");
  t.r.settle();
  REQUIRE(t.sa->got.size() == flood);
  REQUIRE(t.sb->got.size() == 1);
  // b's datagram is served before a's second turn (it arrived last, after the whole flood).
  CHECK(t.position_of("2:b") <= static_cast<std::ptrdiff_t>(rtp::ReceiveMux::k_max_per_wake));
  CHECK(t.r.mux.stats().requeued >= 2);
  for (unsigned i = 0; i < flood; ++i) CHECK(t.sa->got[i] == std::to_string(i));
}

TEST_CASE("receive mux: a socket that turns ready while another is flooded is served within a round") {
  TwoSockets t;
  const unsigned flood = 3 * rtp::ReceiveMux::k_max_per_wake + 6;
  t.flood_a(flood);
  // b's datagram arrives in the middle of a's second turn, long after the set's wake-up.
  t.sa->on_each = [&](std::size_t n) {
    if (n == rtp::ReceiveMux::k_max_per_wake + 1) t.r.send(t.b, "b");
  };
  t.r.settle();
  REQUIRE(t.sa->got.size() == flood);
  REQUIRE(t.sb->got.size() == 1);
  // Served at the start of a's third turn, not after the whole flood.
  CHECK(t.position_of("2:b") <= static_cast<std::ptrdiff_t>(2 * rtp::ReceiveMux::k_max_per_wake));
}

TEST_CASE("receive mux: a sink that removes itself gets nothing more, and is released only then") {
  Rig r;
  auto sock = r.bound();
  auto sink = std::make_shared<Recorder>();
  boost::system::error_code ec;
  rtp::ReceiveMux::Handle h = 0;
  sink->on_first = [&] { r.mux.remove(h); };
  h = r.mux.add(sock.native_handle(), sink, 0, ec);
  std::weak_ptr<Recorder> weak = sink;
  for (int i = 0; i < 5; ++i) r.send(sock, std::to_string(i));
  auto* raw = sink.get();
  sink.reset();
  CHECK_FALSE(weak.expired());  // the mux holds it while registered
  r.settle();
  CHECK(weak.expired());  // removed on the first datagram, released after its callback
  (void)raw;
  CHECK(r.mux.stats().datagrams == 1);
  r.mux.remove(h);  // twice: nothing
  CHECK(r.mux.stats().sockets == 0);
}

TEST_CASE("receive mux: an oversized datagram is reported as message_size and the socket goes on") {
  Rig r;
  auto sock = r.bound();
  auto sink = std::make_shared<Recorder>();
  boost::system::error_code ec;
  r.mux.add(sock.native_handle(), sink, 0, ec);
  r.send(sock, std::string(rtp::ReceiveMux::k_max_datagram + 1, 'x'));
  r.send(sock, "after");
  r.settle();
  REQUIRE(sink->errors.size() == 1);
  CHECK(sink->errors[0] == asio::error::message_size);
  REQUIRE(sink->got.size() == 1);
  CHECK(sink->got[0] == "after");
}

TEST_CASE("receive mux: an error the sink does not carry on from removes the socket") {
  Rig r;
  auto sock = r.bound();
  auto sink = std::make_shared<Recorder>();
  sink->keep_on_error = false;
  boost::system::error_code ec;
  const auto h = r.mux.add(sock.native_handle(), sink, 0, ec);
  r.mux.inject_error(h, asio::error::bad_descriptor);
  r.settle();
  REQUIRE(sink->errors.size() == 1);
  CHECK(r.mux.stats().sockets == 0);
  r.send(sock, "late");
  r.settle();
  CHECK(sink->got.empty());
}

TEST_CASE("receive mux: an io_context that goes releases the sinks still registered") {
  std::weak_ptr<Recorder> weak;
  rtp::UdpSocket sock;
  {
    Rig r;
    sock = r.bound();
    auto sink = std::make_shared<Recorder>();
    weak = sink;
    boost::system::error_code ec;
    r.mux.add(sock.native_handle(), std::move(sink), 0, ec);
    r.settle();
    CHECK_FALSE(weak.expired());
  }
  CHECK(weak.expired());
}

TEST_CASE("receive mux: a sink that throws loses its socket, not the shard's receive path") {
  Rig r;
  auto a = r.bound(), b = r.bound();
  auto bad = std::make_shared<Recorder>(), good = std::make_shared<Recorder>();
  bad->throw_on_receive = true;
  boost::system::error_code ec;
  r.mux.add(a.native_handle(), bad, 0, ec);
  r.mux.add(b.native_handle(), good, 0, ec);
  r.send(a, "boom");
  r.send(a, "boom again");
  r.settle();
  REQUIRE(bad->errors.size() == 1);
  CHECK(bad->errors[0] == boost::system::errc::state_not_recoverable);
  CHECK(r.mux.stats().sockets == 1);
  r.send(b, "still here");
  r.settle();
  REQUIRE(good->got.size() == 1);
  CHECK(good->got[0] == "still here");
}
