// dnsmasq as the DNS server of the RFC 3263 interop tests: NAPTR, SRV and A records given on the
// command line (--naptr-record, --srv-host, --address/--host-record), served on a free port of
// 127.0.0.1 with no upstream, no /etc/hosts and no config file, every query logged
// (--log-queries) to a file so a test can assert the order of lookups. Killed by PID.
//
// Two dnsmasq habits the records must allow for:
// - Names under .test that are not configured answer NXDOMAIN (the --local=/test/ it always
//   gets); without it they would answer REFUSED ("no upstream").
// - An SRV answer carries the target's A record in its additional section when the target was
//   given with --host-record (a resolver then need not ask for it). Give targets with
//   --address=/name/ip instead to see the A query in the log.
#pragma once
#include "support/sip_fixture.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace sb::test {

struct Dnsmasq {
  std::string dir;
  std::uint16_t port = 0;  // UDP (dnsmasq binds TCP on it as well)
  std::unique_ptr<Process> proc;

  // `records`: dnsmasq options, e.g. "--srv-host=_sip._udp.example.test,uas.example.test,5070,0,0".
  explicit Dnsmasq(const std::vector<std::string>& records) {
    static int seq = 0;
    dir = std::filesystem::temp_directory_path() / fmt::format("sb-dnsmasq-{}-{}", ::getpid(), ++seq);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    port = free_udp_tcp_port();
    REQUIRE_MESSAGE(port != 0, "no port free for both UDP and TCP");
    std::vector<std::string> argv{"dnsmasq", "--no-daemon", fmt::format("--port={}", port),
                                  "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                                  "--conf-file=/dev/null", "--pid-file=", "--log-queries", "--log-facility=-",
                                  "--local=/test/", "--user=root"};
    argv.insert(argv.end(), records.begin(), records.end());
    proc = std::make_unique<Process>(argv, dir + "/dnsmasq.log", dir);
    REQUIRE(proc->started());
    REQUIRE_MESSAGE(wait_bound(port, SOCK_DGRAM, 5s), "dnsmasq did not start:\n" << log());
  }
  ~Dnsmasq() {
    proc.reset();
    if (!std::getenv("SB_KEEP_SIPP")) std::filesystem::remove_all(dir);
  }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  // For Config::Sip::dns_servers.
  std::string server() const { return fmt::format("127.0.0.1:{}", port); }
  std::string log() const {
    std::ifstream in(dir + "/dnsmasq.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The queries in the order dnsmasq received them: "NAPTR example.test", "SRV _sip._udp.x", …
  // (from its "query[TYPE] name from ip" lines).
  std::vector<std::string> queries() const {
    std::vector<std::string> out;
    std::istringstream in(log());
    for (std::string line; std::getline(in, line);) {
      auto q = line.find("query[");
      if (q == std::string::npos) continue;
      auto close = line.find(']', q);
      auto from = line.find(" from ", close);
      if (close == std::string::npos || from == std::string::npos) continue;
      out.push_back(line.substr(q + 6, close - q - 6) + " " + line.substr(close + 2, from - close - 2));
    }
    return out;
  }
  // The position of `query` in queries(), or -1.
  int index_of(std::string_view query) const {
    auto q = queries();
    for (std::size_t i = 0; i < q.size(); ++i)
      if (q[i] == query) return static_cast<int>(i);
    return -1;
  }
  std::string query_lines() const {
    std::string out;
    for (auto& q : queries()) out += q + "\n";
    return out;
  }

 private:
  static std::uint16_t free_udp_tcp_port() {
    for (int i = 0; i < 50; ++i) {
      auto p = free_port(SOCK_DGRAM);
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(p);
      bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (ok) return p;
    }
    return 0;
  }
};

}  // namespace sb::test
