// RFC 3263 end to end: the gateway's own resolver against a real DNS server (dnsmasq on a free
// port, set as Config::Sip::dns_servers), sipp UASes behind the records. Each test checks the
// call (webhooks, sipp's exit status) and the lookups dnsmasq logged, in order.
#include "support/dnsmasq.hpp"
#include "support/sip_fixture.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
using verb = boost::beast::http::verb;
namespace json = boost::json;

namespace {

auto with_dns(std::string server) {
  return [server = std::move(server)](app::Config& c) { c.sip.dns_servers = {server}; };
}

// A dial whose REST answer is timed: resolution happens after it, on the call's coroutine.
struct TimedDial {
  HttpReply reply;
  std::chrono::milliseconds took{};
};
TimedDial timed_dial(Fixture& f, const std::string& uri) {
  auto t0 = std::chrono::steady_clock::now();
  TimedDial d{f.dial(uri)};
  d.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return d;
}

// The question of a DNS query datagram: QTYPE of its first question (0 if malformed).
unsigned query_type(const char* p, std::size_t n) {
  std::size_t i = 12;
  while (i < n && p[i] != 0) i += 1 + static_cast<unsigned char>(p[i]);
  if (i + 2 >= n) return 0;
  return (static_cast<unsigned char>(p[i + 1]) << 8) | static_cast<unsigned char>(p[i + 2]);
}

// A DNS forwarder that holds each query for `delay` before passing it on to a real server and
// relaying the answer back: a slow resolver path. One query at a time, on its own thread.
class SlowDns {
 public:
  SlowDns(std::uint16_t upstream, std::chrono::milliseconds delay) : upstream_(upstream), delay_(delay) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a = loopback(0);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    set_timeout(fd_, 50ms);  // so the loop sees stop_
    thread_ = std::thread([this] { run(); });
  }
  ~SlowDns() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string server() const { return fmt::format("127.0.0.1:{}", port_); }

 private:
  static sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
  }
  static void set_timeout(int fd, std::chrono::milliseconds t) {
    timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>((t.count() % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void run() {
    std::array<char, 4096> q, ans;
    while (!stop_) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      auto n = ::recvfrom(fd_, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) continue;
      std::this_thread::sleep_for(delay_);
      int up = ::socket(AF_INET, SOCK_DGRAM, 0);
      set_timeout(up, 1000ms);
      auto to = loopback(upstream_);
      ::sendto(up, q.data(), static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      auto m = ::recv(up, ans.data(), ans.size(), 0);
      ::close(up);
      if (m > 0) ::sendto(fd_, ans.data(), static_cast<std::size_t>(m), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }
  std::uint16_t upstream_;
  std::chrono::milliseconds delay_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("interop: interop_dns: NAPTR (SIP+D2U) then SRV then A lead the INVITE to the sipp UAS") {
  Sipp uas("uas_answer_bye.xml");
  Dnsmasq dns({"--naptr-record=example.test,10,10,S,SIP+D2U,,_sip._udp.example.test",
               fmt::format("--srv-host=_sip._udp.example.test,uas.example.test,{},0,0", uas.port),
               "--address=/uas.example.test/127.0.0.1"});
  Fixture f(500ms, with_dns(dns.server()));
  auto d = timed_dial(f, "sip:uas@example.test");
  REQUIRE_MESSAGE(d.reply.status == 200, d.reply.body);
  REQUIRE(f.wait_destroyed(15s));
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callUpdated:RINGING",
                                                    "callUpdated:ACTIVE", "callUpdated:HANGUP", "callDestroyed:700"});
  CHECK(uas.messages().find("INVITE sip:uas@example.test SIP/2.0") != std::string::npos);
  // RFC 3263 §4.1: NAPTR first; its SIP+D2U replacement's SRV; the SRV target's address.
  INFO("dnsmasq queries:\n" << dns.query_lines());
  auto naptr = dns.index_of("NAPTR example.test");
  auto srv = dns.index_of("SRV _sip._udp.example.test");
  auto a = dns.index_of("A uas.example.test");
  CHECK(naptr == 0);
  CHECK(srv > naptr);
  CHECK(a > srv);
  // A usable NAPTR ends the search: no SRV for the other transports, no A for the domain itself.
  CHECK(dns.index_of("SRV _sip._tcp.example.test") == -1);
  CHECK(dns.index_of("A example.test") == -1);
}

TEST_CASE("interop: interop_dns: SRV failover: the preferred target answers 503, the next one takes the call") {
  Sipp down("srv_503.xml");
  Sipp up("uas_answer_bye.xml");
  // No NAPTR: the gateway falls back to SRV for each transport (RFC 3263 §4.1); priority 10 is
  // tried before 20 (RFC 2782).
  Dnsmasq dns({fmt::format("--srv-host=_sip._udp.failover.test,primary.failover.test,{},10,0", down.port),
               fmt::format("--srv-host=_sip._udp.failover.test,backup.failover.test,{},20,0", up.port),
               "--address=/primary.failover.test/127.0.0.1", "--address=/backup.failover.test/127.0.0.1"});
  Fixture f(500ms, with_dns(dns.server()));
  REQUIRE(f.dial("sip:uas@failover.test").status == 200);
  REQUIRE(f.wait_destroyed(15s));
  CHECK_MESSAGE(down.finish() == 0, down.errors());  // INVITE answered 503, ACK received
  CHECK_MESSAGE(up.finish() == 0, up.errors());
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callUpdated:RINGING",
                                                    "callUpdated:ACTIVE", "callUpdated:HANGUP", "callDestroyed:700"});
  INFO("dnsmasq queries:\n" << dns.query_lines());
  CHECK(dns.index_of("NAPTR failover.test") == 0);
  CHECK(dns.index_of("SRV _sip._udp.failover.test") > 0);
  CHECK(dns.index_of("A primary.failover.test") > dns.index_of("SRV _sip._udp.failover.test"));
  CHECK(dns.index_of("A backup.failover.test") > dns.index_of("SRV _sip._udp.failover.test"));
  // The retry is a new INVITE transaction of the same call (same Call-ID, next CSeq).
  auto call_id = [](const std::string& log) {
    auto p = log.find("Call-ID:");
    return p == std::string::npos ? std::string() : log.substr(p, log.find('\n', p) - p);
  };
  CHECK(!call_id(down.messages()).empty());
  CHECK(call_id(down.messages()) == call_id(up.messages()));
}

TEST_CASE("interop: interop_dns: a domain that does not exist fails the call asynchronously with 503") {
  Dnsmasq dns({});
  Fixture f(500ms, with_dns(dns.server()));
  auto d = timed_dial(f, "sip:uas@nowhere.test");
  REQUIRE_MESSAGE(d.reply.status == 200, d.reply.body);
  CHECK(d.took < 100ms);
  REQUIRE(f.wait_destroyed(5s));
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:503"});
  CHECK(f.hooks.events().back().at("reason_message").as_string() == "Service Unavailable");
  // NXDOMAIN for the NAPTR says nothing exists at or below the name (RFC 8020): no SRV, no A.
  INFO("dnsmasq queries:\n" << dns.query_lines());
  CHECK(dns.queries() == std::vector<std::string>{"NAPTR nowhere.test"});
  // The session lost the SIP connection again.
  auto list = f.server->call(verb::get, fmt::format("/v2/project/{}/session/{}/stream", kKey, f.sid));
  CHECK(json::parse(list.body).as_object().at("count").as_int64() == 0);
}

TEST_CASE("interop: interop_dns: a DNS server that never answers: the dial answers at once, the call ends 503 later") {
  // A bound UDP socket that reads nothing stands in for a dead server; it keeps what arrives.
  boost::asio::io_context io;
  boost::asio::ip::udp::socket silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  Fixture f(500ms, with_dns(fmt::format("127.0.0.1:{}", silent.local_endpoint().port())));
  auto d = timed_dial(f, "sip:uas@slow.test");
  REQUIRE_MESSAGE(d.reply.status == 200, d.reply.body);
  CHECK(d.took < 100ms);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(f.wait_destroyed(8s));
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:503"});
  // The resolver's budget for one query: 2 attempts × 1 server × 1 s; a timeout ends the resolve.
  CHECK(waited >= 1500ms);
  CHECK(waited < 5s);
  silent.non_blocking(true);
  std::array<char, 4096> buf;
  boost::system::error_code ec;
  std::vector<unsigned> types;
  for (std::size_t n; (n = silent.receive(boost::asio::buffer(buf), 0, ec)) > 0 && !ec;)
    types.push_back(query_type(buf.data(), n));
  CHECK(types == std::vector<unsigned>{35, 35});  // NAPTR, asked twice
}

TEST_CASE("interop: interop_dns: a DNS port with nobody on it (ICMP unreachable) fails the call quickly") {
  // Bound, then closed: the port is free, so the kernel answers port-unreachable.
  auto dead = free_port(SOCK_DGRAM);
  Fixture f(500ms, with_dns(fmt::format("127.0.0.1:{}", dead)));
  auto d = timed_dial(f, "sip:uas@unreachable.test");
  REQUIRE_MESSAGE(d.reply.status == 200, d.reply.body);
  CHECK(d.took < 100ms);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(f.wait_destroyed(8s));
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:503"});
}

TEST_CASE("interop: interop_dns: a force disconnect while DNS is still resolving ends the call at once, no INVITE sent") {
  boost::asio::io_context io;
  boost::asio::ip::udp::socket far_end(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  Dnsmasq dns({"--naptr-record=late.test,10,10,S,SIP+D2U,,_sip._udp.late.test",
               fmt::format("--srv-host=_sip._udp.late.test,far.late.test,{},0,0", far_end.local_endpoint().port()),
               "--address=/far.late.test/127.0.0.1"});
  SlowDns slow(dns.port, 250ms);  // NAPTR, SRV, A, AAAA: about 1 s in all
  Fixture f(50ms, with_dns(slow.server()));
  auto r = f.dial("sip:uas@late.test");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  auto del = f.server->call(verb::delete_, fmt::format("/v2/project/{}/session/{}/connection/{}", kKey, f.sid,
                                                       std::string(call.at("connectionId").as_string())));
  CHECK(del.status == 204);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(f.wait_destroyed(8s));
  CHECK(std::chrono::steady_clock::now() - t0 < 300ms);
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:487"});
  std::this_thread::sleep_for(1500ms);  // past the end of the slow lookups
  far_end.non_blocking(true);
  std::array<char, 4096> buf;
  boost::system::error_code ec;
  CHECK(far_end.receive(boost::asio::buffer(buf), 0, ec) == 0);  // no INVITE ever left
}
