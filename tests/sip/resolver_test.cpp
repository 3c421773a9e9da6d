// RFC 3263 server location against a real dnsmasq: tests for src/sip/resolver.{hpp,cpp}.
//
// Each test case starts its own dnsmasq on 127.0.0.1 and a free port, serving local NAPTR, SRV,
// A, AAAA and CNAME records, logs its queries to a temporary file (so the order of lookups and the
// cache can be checked from the server's side), and kills it by PID when the case ends, failed or
// not. If dnsmasq cannot start, the case fails with dnsmasq's own words: it never skips.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sip/dns.hpp"
#include "sip/resolver.hpp"

extern char** environ;

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using sb::sip::resolve_error;
using sb::sip::Resolver;
using sb::sip::ResolverOptions;
using sb::sip::Target;
using sb::sip::Transport;
using Clock = std::chrono::steady_clock;

constexpr const char* dnsmasq_path = "/usr/sbin/dnsmasq";

// A loopback UDP port that was free a moment ago: bind port 0, read it, close.
std::uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

// One dnsmasq child. The destructor (RAII) kills it by PID whatever happened in the test.
class Dnsmasq {
 public:
  explicit Dnsmasq(const std::vector<std::string>& records) {
    char path[] = "/tmp/sb_dnsmasq_XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    log_path_ = path;
    // A port taken between free_udp_port() and dnsmasq's bind (UDP or TCP) is retried twice; any
    // other start failure (permissions, a missing binary) fails the test at once.
    for (int attempt = 0; attempt < 3 && pid_ < 0; ++attempt) start(records);
    if (pid_ < 0) FAIL("dnsmasq did not start: " << read_file(log_path_));
  }
  ~Dnsmasq() {
    stop();
    ::unlink(log_path_.c_str());
  }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  std::uint16_t port() const { return port_; }
  asio::ip::udp::endpoint endpoint() const { return {asio::ip::make_address_v4("127.0.0.1"), port_}; }
  std::string log() const { return read_file(log_path_); }
  /// Times dnsmasq logged a query of `type` for `name` ("query[SRV] _sip._udp.x.test from").
  std::size_t queries(const std::string& type, const std::string& name) const {
    return count_of(log(), "query[" + type + "] " + name + " from");
  }
  /// The "query[TYPE] name" lines, in order.
  std::vector<std::string> query_lines() const {
    std::vector<std::string> out;
    std::istringstream in(log());
    std::string line;
    while (std::getline(in, line)) {
      const auto q = line.find("query[");
      if (q == std::string::npos) continue;
      const auto from = line.find(" from ", q);
      out.push_back(line.substr(q, from == std::string::npos ? std::string::npos : from - q));
    }
    return out;
  }
  /// Waits (bounded) until the log shows a query for `name`, so that every earlier query is in it.
  void wait_logged(const std::string& type, const std::string& name) const {
    const auto deadline = Clock::now() + 3s;
    while (queries(type, name) == 0) {
      REQUIRE_MESSAGE(Clock::now() < deadline, "dnsmasq never logged " << type << " " << name << ":\n"
                                                                       << log());
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  void start(const std::vector<std::string>& records) {
    port_ = free_udp_port();
    std::vector<std::string> args = {dnsmasq_path, "--no-daemon", "--port=" + std::to_string(port_),
                                     "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                                     "--no-hosts", "--conf-file=/dev/null", "--pid-file=", "--log-queries",
                                     "--log-facility=-",
                                     // Answer NXDOMAIN/NODATA for unknown names under test. (with no
                                     // upstream, dnsmasq would otherwise REFUSE them)
                                     "--local=/test/",
                                     // Local records default to TTL 0, which nobody may cache.
                                     "--local-ttl=300"};
    args.insert(args.end(), records.begin(), records.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&files, 2, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, dnsmasq_path, &files, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    REQUIRE_MESSAGE(rc == 0, "posix_spawn(" << dnsmasq_path << ") failed: " << rc);
    pid_ = pid;
    if (!wait_ready()) {
      const std::string why = log();
      stop();
      // Only a lost race for the port is worth another try.
      if (why.find("Address already in use") == std::string::npos) FAIL("dnsmasq did not start: " << why);
    }
  }

  // Bounded readiness poll: a DNS query every 50 ms for up to 5 s, until an answer comes back.
  bool wait_ready() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    timeval tv{0, 50'000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    const auto q = sb::sip::dns::build_query(0x5151, "ready.test", sb::sip::dns::RType::a);
    REQUIRE(q.has_value());
    bool ready = false;
    const auto deadline = Clock::now() + 5s;
    while (!ready && Clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1; // exited: reaped here
        break;
      }
      ::sendto(fd, q->data(), q->size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
      char buf[512];
      ready = ::recv(fd, buf, sizeof buf, 0) > 0;
    }
    ::close(fd);
    return ready;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + 2s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
  }

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::string log_path_;
};

// The zone every case serves (names under .test, RFC 2606).
std::vector<std::string> zone() {
  return {
      // example.test: NAPTR → SRV → A. The lowest-order records are unusable (SCTP, a "u" record)
      // and must be skipped; TLS comes first, then TCP and UDP by preference.
      "--naptr-record=example.test,1,10,u,E2U+sip,!^.*$!sip:info@example.test!",
      "--naptr-record=example.test,5,10,s,SIP+D2S,,_sip._sctp.example.test",
      "--naptr-record=example.test,10,50,s,SIPS+D2T,,_sips._tcp.example.test",
      "--naptr-record=example.test,20,20,s,SIP+D2U,,_sip._udp.example.test",
      "--naptr-record=example.test,20,10,s,SIP+D2T,,_sip._tcp.example.test",
      "--srv-host=_sips._tcp.example.test,tls1.example.test,5061,10,0",
      "--srv-host=_sip._tcp.example.test,tcp2.example.test,5062,20,0",
      "--srv-host=_sip._tcp.example.test,tcp1.example.test,5060,10,0",
      "--srv-host=_sip._udp.example.test,udp1.example.test,5070,10,0",
      "--srv-host=_sip._sctp.example.test,sctp.example.test,5060,10,0",
      "--host-record=tls1.example.test,127.0.1.1",
      "--host-record=tcp1.example.test,127.0.1.2",
      "--host-record=tcp2.example.test,127.0.1.3",
      "--host-record=udp1.example.test,127.0.1.4,::4",
      "--host-record=sctp.example.test,127.0.1.5",
      // srvonly.test: SRV without NAPTR; no _sips._tcp and no address of its own.
      "--srv-host=_sip._udp.srvonly.test,s2.srvonly.test,5081,20,0",
      "--srv-host=_sip._udp.srvonly.test,s1.srvonly.test,5080,10,0",
      "--srv-host=_sip._tcp.srvonly.test,s3.srvonly.test,5082,10,0",
      "--host-record=s1.srvonly.test,127.0.2.1",
      "--host-record=s2.srvonly.test,127.0.2.2",
      "--host-record=s3.srvonly.test,127.0.2.3",
      // Plain addresses.
      "--host-record=aonly.test,127.0.3.1",
      "--host-record=portonly.test,127.0.3.2",
      "--host-record=tlsonly.test,127.0.3.3",
      "--host-record=v6.test,::1",
      "--host-record=dual.test,127.0.4.1,::41",
      "--host-record=zero.test,127.0.5.1,0",
      "--host-record=coalesce.test,127.0.6.1",
      "--cname=alias.test,aonly.test",
      // weighted.test: one priority, two weights (RFC 2782 selection through the injected random).
      "--srv-host=_sip._udp.weighted.test,w1.weighted.test,5001,1,10",
      "--srv-host=_sip._udp.weighted.test,w2.weighted.test,5002,1,90",
      "--host-record=w1.weighted.test,127.0.7.1",
      "--host-record=w2.weighted.test,127.0.7.2",
  };
}

// big.test: more SRV records than fit in 512 octets, so dnsmasq sets TC and the resolver must
// repeat the query over TCP.
std::vector<std::string> big_zone() {
  std::vector<std::string> z;
  for (int i = 1; i <= 25; ++i) {
    const std::string target = "target-number-" + std::to_string(i) + ".big.test";
    z.push_back("--srv-host=_sip._udp.big.test," + target + "," + std::to_string(6000 + i) + "," +
                std::to_string(i) + ",0");
    z.push_back("--host-record=" + target + ",127.0.8." + std::to_string(i));
  }
  return z;
}

ResolverOptions options_for(const Dnsmasq& dns) {
  ResolverOptions o;
  o.servers = {dns.endpoint()};
  o.timeout = 1000ms;
  o.attempts = 2;
  return o;
}

// Runs one resolve to completion on `io`, bounded. The completion handler records the outcome (no
// bare `detached`: an exception would be reported, not lost).
Resolver::Result run_resolve(asio::io_context& io, Resolver& r, std::string host,
                             std::optional<std::uint16_t> port = std::nullopt,
                             std::optional<Transport> transport = std::nullopt, bool sips = false) {
  std::optional<Resolver::Result> out;
  std::exception_ptr failed;
  asio::co_spawn(io, r.resolve(std::move(host), port, transport, sips),
                 [&](std::exception_ptr e, Resolver::Result res) {
                   failed = e;
                   out = std::move(res);
                 });
  io.restart();
  io.run_for(10s);
  REQUIRE_MESSAGE(out.has_value(), "resolve did not finish within 10 s");
  REQUIRE_FALSE(failed);
  return *out;
}

Target target(const char* address, std::uint16_t port, Transport t, const char* host) {
  return Target{asio::ip::make_address(address), port, t, host};
}

std::string show(const Resolver::Result& r) {
  if (!r) return "error: " + r.error().message();
  std::string s;
  for (const auto& t : *r)
    s += t.address.to_string() + ":" + std::to_string(t.port) + "/" + std::string(to_string(t.transport)) +
         " (" + t.host + ") ";
  return s;
}

// A UDP socket that never answers: a DNS server that is down without telling anyone.
struct Blackhole {
  asio::ip::udp::socket sock;
  explicit Blackhole(asio::io_context& io)
      : sock(io, asio::ip::udp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0)) {}
  asio::ip::udp::endpoint endpoint() const { return sock.local_endpoint(); }
};

} // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("RFC 3263: NAPTR then SRV then A, usable services only, ordered by order and preference") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));

  const auto res = run_resolve(io, r, "example.test");
  INFO(show(res));
  REQUIRE(res.has_value());
  const std::vector<Target> expected = {
      target("127.0.1.1", 5061, Transport::tls, "example.test"), // SIPS+D2T, order 10
      target("127.0.1.2", 5060, Transport::tcp, "example.test"), // SIP+D2T, order 20 pref 10, SRV prio 10
      target("127.0.1.3", 5062, Transport::tcp, "example.test"), //   SRV prio 20
      target("127.0.1.4", 5070, Transport::udp, "example.test"), // SIP+D2U, order 20 pref 20: A first
      target("::4", 5070, Transport::udp, "example.test"),       //   then AAAA
  };
  CHECK(*res == expected);

  // The server saw NAPTR, then one SRV per usable NAPTR, and no A/AAAA query at all: the targets'
  // addresses came in the SRV answers' additional sections (RFC 2782).
  dns.wait_logged("SRV", "_sip._udp.example.test");
  const std::vector<std::string> lookups = {
      "query[NAPTR] example.test",
      "query[SRV] _sips._tcp.example.test",
      "query[SRV] _sip._tcp.example.test",
      "query[SRV] _sip._udp.example.test",
  };
  auto seen = dns.query_lines();
  seen.erase(std::remove_if(seen.begin(), seen.end(),
                            [](const std::string& l) { return l.find("ready.test") != std::string::npos; }),
             seen.end());
  CHECK(seen == lookups);
  CHECK(dns.queries("SRV", "_sip._sctp.example.test") == 0);
}

TEST_CASE("RFC 3263: a sips URI uses only SIPS+D2T NAPTR records") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));
  const auto res = run_resolve(io, r, "example.test", std::nullopt, std::nullopt, true);
  INFO(show(res));
  REQUIRE(res.has_value());
  CHECK(*res == std::vector<Target>{target("127.0.1.1", 5061, Transport::tls, "example.test")});
  dns.wait_logged("SRV", "_sips._tcp.example.test");
  CHECK(dns.queries("SRV", "_sip._tcp.example.test") == 0);
  CHECK(dns.queries("SRV", "_sip._udp.example.test") == 0);
}

TEST_CASE("RFC 3263: without NAPTR, SRV for UDP, TCP and TLS in turn, by SRV priority") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));
  const auto res = run_resolve(io, r, "srvonly.test");
  INFO(show(res));
  REQUIRE(res.has_value());
  const std::vector<Target> expected = {
      target("127.0.2.1", 5080, Transport::udp, "srvonly.test"),
      target("127.0.2.2", 5081, Transport::udp, "srvonly.test"),
      target("127.0.2.3", 5082, Transport::tcp, "srvonly.test"),
  };
  CHECK(*res == expected);
  dns.wait_logged("SRV", "_sips._tcp.srvonly.test");
  const std::vector<std::string> lookups = {
      "query[NAPTR] srvonly.test",
      "query[SRV] _sip._udp.srvonly.test",
      "query[SRV] _sip._tcp.srvonly.test",
      "query[SRV] _sips._tcp.srvonly.test",
  };
  auto seen = dns.query_lines();
  seen.erase(seen.begin(), std::find(seen.begin(), seen.end(), "query[NAPTR] srvonly.test"));
  CHECK(seen == lookups);

  SUBCASE("a sips URI asks only for _sips._tcp, then the host's own addresses") {
    const auto sips = run_resolve(io, r, "srvonly.test", std::nullopt, std::nullopt, true);
    REQUIRE_FALSE(sips.has_value());
    CHECK(sips.error() == resolve_error::not_found);
  }
  SUBCASE("an explicit transport asks for that SRV only") {
    Resolver fresh(io.get_executor(), options_for(dns));
    const auto tcp = run_resolve(io, fresh, "srvonly.test", std::nullopt, Transport::tcp);
    INFO(show(tcp));
    REQUIRE(tcp.has_value());
    CHECK(*tcp == std::vector<Target>{target("127.0.2.3", 5082, Transport::tcp, "srvonly.test")});
    CHECK(fresh.stats().queries == 1); // the SRV; the A came in its additional section
  }
}

TEST_CASE("RFC 3263: without NAPTR or SRV, the A record on 5060/UDP, or 5061/TLS for sips") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));
  const auto sip = run_resolve(io, r, "aonly.test");
  INFO(show(sip));
  REQUIRE(sip.has_value());
  CHECK(*sip == std::vector<Target>{target("127.0.3.1", 5060, Transport::udp, "aonly.test")});

  const auto sips = run_resolve(io, r, "aonly.test", std::nullopt, std::nullopt, true);
  INFO(show(sips));
  REQUIRE(sips.has_value());
  CHECK(*sips == std::vector<Target>{target("127.0.3.1", 5061, Transport::tls, "aonly.test")});

  // NAPTR + 3 SRV + A + AAAA for sip:, and nothing new for sips: (all cached, _sips._tcp included).
  CHECK(r.stats().queries == 6);
}

TEST_CASE("RFC 3263: an explicit port means A/AAAA only, no NAPTR and no SRV") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));
  const auto res = run_resolve(io, r, "portonly.test", std::uint16_t{5099});
  INFO(show(res));
  REQUIRE(res.has_value());
  CHECK(*res == std::vector<Target>{target("127.0.3.2", 5099, Transport::udp, "portonly.test")});
  const auto tcp = run_resolve(io, r, "portonly.test", std::uint16_t{5098}, Transport::tcp);
  REQUIRE(tcp.has_value());
  CHECK(*tcp == std::vector<Target>{target("127.0.3.2", 5098, Transport::tcp, "portonly.test")});
  dns.wait_logged("AAAA", "portonly.test");
  dns.wait_logged("A", "portonly.test");
  CHECK(dns.queries("A", "portonly.test") == 1); // the second resolve came from the cache
  CHECK(dns.queries("AAAA", "portonly.test") == 1);
  CHECK(dns.queries("NAPTR", "portonly.test") == 0);
  CHECK(count_of(dns.log(), "query[SRV]") == 0);
}

TEST_CASE("RFC 3263: an explicit transport without SRV falls back to A with its default port") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));
  const auto res = run_resolve(io, r, "tlsonly.test", std::nullopt, Transport::tls);
  INFO(show(res));
  REQUIRE(res.has_value());
  CHECK(*res == std::vector<Target>{target("127.0.3.3", 5061, Transport::tls, "tlsonly.test")});
  dns.wait_logged("A", "tlsonly.test");
  CHECK(dns.queries("SRV", "_sips._tcp.tlsonly.test") == 1);
  CHECK(dns.queries("NAPTR", "tlsonly.test") == 0);
}

TEST_CASE("IPv6: AAAA-only hosts, and dual-stack hosts with either family first") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));
  const auto v6 = run_resolve(io, r, "v6.test");
  INFO(show(v6));
  REQUIRE(v6.has_value());
  CHECK(*v6 == std::vector<Target>{target("::1", 5060, Transport::udp, "v6.test")});

  const auto dual = run_resolve(io, r, "dual.test", std::uint16_t{5060});
  REQUIRE(dual.has_value());
  CHECK(*dual == std::vector<Target>{target("127.0.4.1", 5060, Transport::udp, "dual.test"),
                                     target("::41", 5060, Transport::udp, "dual.test")});
  auto o = options_for(dns);
  o.prefer_ipv6 = true;
  Resolver six(io.get_executor(), o);
  const auto first6 = run_resolve(io, six, "dual.test", std::uint16_t{5060});
  REQUIRE(first6.has_value());
  CHECK(*first6 == std::vector<Target>{target("::41", 5060, Transport::udp, "dual.test"),
                                       target("127.0.4.1", 5060, Transport::udp, "dual.test")});
}

TEST_CASE("a CNAME is followed to the canonical name's addresses") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));
  const auto res = run_resolve(io, r, "alias.test", std::uint16_t{5070});
  INFO(show(res));
  REQUIRE(res.has_value());
  CHECK(*res == std::vector<Target>{target("127.0.3.1", 5070, Transport::udp, "alias.test")});
}

TEST_CASE("a domain that does not exist is an NXDOMAIN error, cached for the negative TTL") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Clock::duration skew{};
  auto o = options_for(dns);
  o.now = [&skew] { return Clock::now() + skew; };
  Resolver r(io.get_executor(), o);

  const auto res = run_resolve(io, r, "nope.test");
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error() == resolve_error::nxdomain);
  CHECK(r.stats().queries == 1); // NXDOMAIN for the NAPTR ends it (RFC 8020)

  const auto again = run_resolve(io, r, "nope.test");
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error() == resolve_error::nxdomain);
  CHECK(r.stats().queries == 1);

  skew = 31s; // past the 30 s negative TTL
  const auto later = run_resolve(io, r, "nope.test");
  CHECK(later.error() == resolve_error::nxdomain);
  CHECK(r.stats().queries == 2);

  const auto port = run_resolve(io, r, "nope.test", std::uint16_t{5060});
  REQUIRE_FALSE(port.has_value());
  CHECK(port.error() == resolve_error::nxdomain);
  dns.wait_logged("AAAA", "nope.test");
  CHECK(dns.queries("NAPTR", "nope.test") == 2);
}

TEST_CASE("the cache answers a repeated lookup without a query until the TTL runs out") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Clock::duration skew{};
  auto o = options_for(dns);
  o.now = [&skew] { return Clock::now() + skew; };
  Resolver r(io.get_executor(), o);

  const auto first = run_resolve(io, r, "example.test");
  REQUIRE(first.has_value());
  const auto sent = r.stats().queries;
  CHECK(sent == 4);
  const auto second = run_resolve(io, r, "example.test");
  REQUIRE(second.has_value());
  CHECK(*second == *first);
  CHECK(r.stats().queries == sent);
  CHECK(r.stats().cache_hits >= 4);

  // Server side: after a later query shows up in the log, still one NAPTR query for example.test.
  (void)run_resolve(io, r, "sentinel-1.test", std::uint16_t{5060});
  dns.wait_logged("A", "sentinel-1.test");
  CHECK(dns.queries("NAPTR", "example.test") == 1);
  CHECK(dns.queries("SRV", "_sip._udp.example.test") == 1);

  skew = 301s; // --local-ttl=300
  const auto third = run_resolve(io, r, "example.test");
  REQUIRE(third.has_value());
  CHECK(r.stats().queries == sent + 2 + 4);
  dns.wait_logged("SRV", "_sip._udp.example.test");
  (void)run_resolve(io, r, "sentinel-2.test", std::uint16_t{5060});
  dns.wait_logged("A", "sentinel-2.test");
  CHECK(dns.queries("NAPTR", "example.test") == 2);

  SUBCASE("TTL 0 is never cached") {
    (void)run_resolve(io, r, "zero.test", std::uint16_t{5060});
    (void)run_resolve(io, r, "zero.test", std::uint16_t{5060});
    (void)run_resolve(io, r, "sentinel-3.test", std::uint16_t{5060});
    dns.wait_logged("A", "sentinel-3.test");
    CHECK(dns.queries("A", "zero.test") == 2);
  }
  SUBCASE("the cache is bounded and evicts the oldest entries") {
    auto small = options_for(dns);
    small.cache_limit = 2;
    Resolver tiny(io.get_executor(), small);
    (void)run_resolve(io, tiny, "aonly.test", std::uint16_t{5060}); // A + AAAA
    (void)run_resolve(io, tiny, "dual.test", std::uint16_t{5060});  // evicts both
    CHECK(tiny.cache_size() == 2);
    CHECK(tiny.stats().evictions == 2);
    (void)run_resolve(io, tiny, "aonly.test", std::uint16_t{5060});
    CHECK(tiny.stats().queries == 6);
  }
}

TEST_CASE("an answer too large for UDP (TC) is fetched again over TCP") {
  Dnsmasq dns(big_zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));
  const auto res = run_resolve(io, r, "big.test", std::nullopt, Transport::udp);
  INFO(show(res));
  REQUIRE(res.has_value());
  REQUIRE(res->size() == 25);
  for (int i = 0; i < 25; ++i) {
    CHECK((*res)[i].port == 6001 + i); // priorities 1..25
    CHECK((*res)[i].address.to_string() == "127.0.8." + std::to_string(i + 1));
  }
  CHECK(r.stats().tcp_queries >= 1);
}

TEST_CASE("a server that never answers times out within attempts × servers × timeout") {
  asio::io_context io;
  Blackhole hole(io);
  ResolverOptions o;
  o.servers = {hole.endpoint()};
  o.timeout = 200ms;
  o.attempts = 2;
  Resolver r(io.get_executor(), o);

  const auto started = Clock::now();
  const auto res = run_resolve(io, r, "aonly.test");
  const auto took = Clock::now() - started;
  REQUIRE_FALSE(res.has_value());
  CHECK(res.error() == resolve_error::timeout);
  CHECK(took >= 390ms);
  CHECK(took < 700ms); // 2 × 200 ms, and the resolve stops at the first query that timed out
  CHECK(r.stats().udp_sent == 2);
  CHECK(r.stats().timeouts == 2);

  // A and AAAA run in parallel: still one query's bound.
  const auto started2 = Clock::now();
  const auto both = run_resolve(io, r, "aonly.test", std::uint16_t{5060});
  CHECK(both.error() == resolve_error::timeout);
  CHECK(Clock::now() - started2 < 700ms);
}

TEST_CASE("a dead first server costs one timeout, then the next server answers") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Blackhole hole(io);
  ResolverOptions o;
  o.servers = {hole.endpoint(), dns.endpoint()};
  o.timeout = 200ms;
  o.attempts = 1;
  Resolver r(io.get_executor(), o);
  const auto started = Clock::now();
  const auto res = run_resolve(io, r, "aonly.test", std::uint16_t{5060});
  const auto took = Clock::now() - started;
  INFO(show(res));
  REQUIRE(res.has_value());
  CHECK(*res == std::vector<Target>{target("127.0.3.1", 5060, Transport::udp, "aonly.test")});
  CHECK(took >= 190ms);
  CHECK(took < 600ms);
}

namespace {

// A scripted server: for each query it first sends an answer with the wrong ID, then one for
// another question, then the real one (A 10.9.8.7, or NODATA for other types).
asio::awaitable<void> spoofing_server(asio::ip::udp::socket sock, int queries,
                                      std::vector<std::uint16_t>* ports) {
  std::vector<std::uint8_t> buf(512);
  for (int i = 0; i < queries; ++i) {
    asio::ip::udp::endpoint from;
    const auto [ec, n] =
        co_await sock.async_receive_from(asio::buffer(buf), from, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    ports->push_back(from.port());
    std::vector<std::uint8_t> q(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    const auto question = sb::sip::dns::parse_question(q);
    if (!question) co_return;
    std::vector<std::uint8_t> answer = q;
    answer[2] = 0x81; // QR, RD
    answer[3] = 0x80; // RA
    if (question->type == static_cast<std::uint16_t>(sb::sip::dns::RType::a)) {
      answer[7] = 1; // ANCOUNT
      for (const std::uint8_t b :
           {0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3C, 0x00, 0x04, 10, 9, 8, 7})
        answer.push_back(b);
    }
    auto wrong_id = answer;
    wrong_id[1] ^= 0x01;
    auto wrong_question = answer;
    wrong_question[14] = 'X'; // "spoof" becomes "sXoof"
    for (const auto* msg : {&wrong_id, &wrong_question, &answer})
      co_await sock.async_send_to(asio::buffer(*msg), from, asio::as_tuple(asio::use_awaitable));
  }
}

} // namespace

TEST_CASE("datagrams with a wrong ID or question are ignored, the real answer is taken") {
  asio::io_context io;
  asio::ip::udp::socket server(io, asio::ip::udp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
  const auto ep = server.local_endpoint();
  bool server_done = false;
  std::vector<std::uint16_t> ports;
  asio::co_spawn(io, spoofing_server(std::move(server), 2, &ports), [&](std::exception_ptr e) {
    CHECK_FALSE(e);
    server_done = true;
  });
  ResolverOptions o;
  o.servers = {ep};
  o.timeout = 2000ms;
  o.attempts = 1;
  Resolver r(io.get_executor(), o);
  const auto res = run_resolve(io, r, "spoof.test", std::uint16_t{5060});
  INFO(show(res));
  REQUIRE(res.has_value());
  CHECK(*res == std::vector<Target>{target("10.9.8.7", 5060, Transport::udp, "spoof.test")});
  CHECK(r.stats().ignored_responses == 4); // two per query, A and AAAA
  CHECK(r.stats().timeouts == 0);
  io.restart();
  io.run_for(1s);
  CHECK(server_done);
  // One socket per query: A and AAAA left from different (kernel-randomised) source ports.
  REQUIRE(ports.size() == 2);
  CHECK(ports[0] != ports[1]);
}

TEST_CASE("stop() ends pending resolves at once with 'stopped'") {
  asio::io_context io;
  Blackhole hole(io);
  ResolverOptions o;
  o.servers = {hole.endpoint()};
  o.timeout = 5000ms;
  Resolver r(io.get_executor(), o);

  std::optional<Resolver::Result> a, b;
  asio::co_spawn(io, r.resolve("aonly.test", std::nullopt, std::nullopt, false),
                 [&](std::exception_ptr, Resolver::Result res) { a = std::move(res); });
  asio::co_spawn(io, r.resolve("aonly.test", std::uint16_t{5060}, std::nullopt, false),
                 [&](std::exception_ptr, Resolver::Result res) { b = std::move(res); });
  asio::steady_timer t(io, 100ms);
  t.async_wait([&](boost::system::error_code) {
    CHECK(r.pending() == 2);
    r.stop();
  });
  const auto started = Clock::now();
  io.run_for(3s);
  CHECK(Clock::now() - started < 1s);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->error() == resolve_error::stopped);
  CHECK(b->error() == resolve_error::stopped);
  CHECK(r.pending() == 0);
  const auto after = run_resolve(io, r, "aonly.test");
  CHECK(after.error() == resolve_error::stopped);
}

namespace {

// The SIP layer may bound a resolve itself; Asio then cancels the resolve from outside.
asio::awaitable<bool> resolve_or_give_up(Resolver* r, std::string host, std::chrono::milliseconds limit) {
  asio::steady_timer timer(co_await asio::this_coro::executor, limit);
  using namespace asio::experimental::awaitable_operators;
  const auto first = co_await (r->resolve(std::move(host), std::uint16_t{5060}, std::nullopt, false) ||
                               timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  co_return first.index() == 0;
}

} // namespace

TEST_CASE("a resolve cancelled by its caller leaves no stuck lookup behind") {
  asio::io_context io;
  Blackhole hole(io);
  ResolverOptions o;
  o.servers = {hole.endpoint()};
  o.timeout = 300ms;
  o.attempts = 1;
  Resolver r(io.get_executor(), o);
  std::optional<bool> resolved;
  std::exception_ptr failed;
  asio::co_spawn(io, resolve_or_give_up(&r, "aonly.test", 50ms), [&](std::exception_ptr e, bool done) {
    failed = e;
    resolved = done;
  });
  io.run_for(3s);
  REQUIRE(resolved);
  CHECK_FALSE(failed);
  CHECK_FALSE(*resolved);
  CHECK(r.pending() == 0);
  // The same lookups again: they must go to the wire (and time out) rather than wait forever for
  // the abandoned ones.
  const auto started = Clock::now();
  const auto again = run_resolve(io, r, "aonly.test", std::uint16_t{5060});
  CHECK(again.error() == resolve_error::timeout);
  CHECK(Clock::now() - started < 1s);
}

TEST_CASE("concurrent identical lookups share one query") {
  Dnsmasq dns(zone());
  asio::io_context io;
  Resolver r(io.get_executor(), options_for(dns));
  std::vector<Resolver::Result> results;
  for (int i = 0; i < 3; ++i)
    asio::co_spawn(io, r.resolve("coalesce.test", std::uint16_t{5060}, std::nullopt, false),
                   [&](std::exception_ptr e, Resolver::Result res) {
                     CHECK_FALSE(e);
                     results.push_back(std::move(res));
                   });
  io.run_for(5s);
  REQUIRE(results.size() == 3);
  for (const auto& res : results) {
    REQUIRE(res.has_value());
    CHECK(*res == std::vector<Target>{target("127.0.6.1", 5060, Transport::udp, "coalesce.test")});
  }
  CHECK(r.stats().queries == 2); // A and AAAA once each
  CHECK(r.stats().coalesced == 4);
  (void)run_resolve(io, r, "sentinel.test", std::uint16_t{5060});
  dns.wait_logged("A", "sentinel.test");
  CHECK(dns.queries("A", "coalesce.test") == 1);
}

TEST_CASE("RFC 2782 weighted selection uses the injected random source") {
  Dnsmasq dns(zone());
  asio::io_context io;
  // One resolver, so both resolves order the same cached SRV answer (servers may rotate records).
  bool pick_last = false;
  std::vector<std::uint32_t> uppers;
  auto o = options_for(dns);
  o.srv_random = [&](std::uint32_t upper) {
    uppers.push_back(upper);
    return pick_last ? upper : 0u; // 0 selects the first record of a draw, `upper` the last
  };
  Resolver r(io.get_executor(), o);
  const auto first = run_resolve(io, r, "weighted.test", std::nullopt, Transport::udp);
  pick_last = true;
  const auto last = run_resolve(io, r, "weighted.test", std::nullopt, Transport::udp);
  INFO(show(first), " vs ", show(last));
  REQUIRE(first.has_value());
  REQUIRE(last.has_value());
  REQUIRE(first->size() == 2);
  REQUIRE(last->size() == 2);
  CHECK((*first)[0] == (*last)[1]);
  CHECK((*first)[1] == (*last)[0]);
  // Draws over the weight sums: 10 + 90, then the one left; likewise for the second resolve.
  REQUIRE(uppers.size() == 4);
  CHECK(uppers[0] == 100);
  CHECK(uppers[2] == 100);
  CHECK(uppers[1] + uppers[3] == 100);
}

TEST_CASE("numeric hosts need no DNS; bad hosts and transports are refused") {
  asio::io_context io;
  Blackhole hole(io);
  ResolverOptions o;
  o.servers = {hole.endpoint()};
  o.timeout = 100ms;
  Resolver r(io.get_executor(), o);

  auto v4 = run_resolve(io, r, "192.0.2.10");
  REQUIRE(v4.has_value());
  CHECK(*v4 == std::vector<Target>{target("192.0.2.10", 5060, Transport::udp, "192.0.2.10")});
  auto v6 = run_resolve(io, r, "[2001:db8::1]", std::nullopt, std::nullopt, true);
  REQUIRE(v6.has_value());
  CHECK(*v6 == std::vector<Target>{target("2001:db8::1", 5061, Transport::tls, "2001:db8::1")});
  auto tcp = run_resolve(io, r, "192.0.2.10", std::uint16_t{5080}, Transport::tcp);
  REQUIRE(tcp.has_value());
  CHECK(*tcp == std::vector<Target>{target("192.0.2.10", 5080, Transport::tcp, "192.0.2.10")});
  auto sips_tcp = run_resolve(io, r, "192.0.2.10", std::nullopt, Transport::tcp, true); // sips + tcp = TLS
  REQUIRE(sips_tcp.has_value());
  CHECK(*sips_tcp == std::vector<Target>{target("192.0.2.10", 5061, Transport::tls, "192.0.2.10")});
  CHECK(r.stats().queries == 0);

  CHECK(run_resolve(io, r, "").error() == resolve_error::invalid_host);
  CHECK(run_resolve(io, r, "a..b").error() == resolve_error::invalid_host);
  CHECK(run_resolve(io, r, "bad host").error() == resolve_error::invalid_host);
  CHECK(run_resolve(io, r, "x.test", std::nullopt, Transport::udp, true).error() ==
        resolve_error::unsupported_transport);
  CHECK(run_resolve(io, r, "x.test", std::nullopt, Transport::sctp).error() ==
        resolve_error::unsupported_transport);
  CHECK(r.stats().queries == 0);
}

TEST_CASE("resolv.conf nameserver lines become servers on port 53") {
  const auto servers = sb::sip::parse_resolv_conf(
      "# comment\n"
      "search example.test\n"
      "nameserver 192.0.2.53\n"
      "nameserver   2001:db8::53  \n"
      "nameserver not-an-address\n"
      "options ndots:2\n"
      "nameserver 192.0.2.54\n"
      "nameserver 192.0.2.55\n");
  REQUIRE(servers.size() == 3);
  CHECK(servers[0] == asio::ip::udp::endpoint(asio::ip::make_address("192.0.2.53"), 53));
  CHECK(servers[1] == asio::ip::udp::endpoint(asio::ip::make_address("2001:db8::53"), 53));
  CHECK(servers[2] == asio::ip::udp::endpoint(asio::ip::make_address("192.0.2.54"), 53));

  asio::io_context io;
  Resolver r(io.get_executor(), ResolverOptions{});
  CHECK_FALSE(r.options().servers.empty()); // from /etc/resolv.conf, else 127.0.0.1:53
}
