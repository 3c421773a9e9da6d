// kamailio 5.6 as a real authenticating proxy for the SIP interop tests: auth_db over a fresh
// sqlite database (subscribers with plain passwords, calculate_ha1), 407 challenges with
// qop=auth, Record-Route, loose routing of in-dialog requests, and every initial INVITE that
// passes authentication relayed to one next hop (a sipp UAS) through $du.
//
// The proxy runs in the foreground (-DD -E) on a free port (UDP and TCP), logs to a file in its
// own temp dir, and is killed by PID (its process group: the main process and its children).
// Every request it receives is logged by the script as one line
//   SB-REQ <method> ruri=<R-URI> src=<proto>:<ip>:<port> dst=<port it arrived at> totag=[<tag>] route=[<first Route>] pauth=[<Proxy-Authorization>]
// followed by SB-CHALLENGE / SB-AUTHORIZED / SB-LOOSE lines, so tests can count and inspect
// what reached the proxy.
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

inline constexpr const char* kKamailioModules = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

struct Kamailio {
  struct Subscriber {
    std::string username, domain, password;
  };
  struct Options {
    std::uint16_t next_hop_port = 0;  // initial INVITEs go to udp 127.0.0.1:next_hop_port
    std::vector<Subscriber> subscribers;
    std::string challenge_flags = "1";  // proxy_challenge flags: 1 = qop=auth
    // When set, the proxy also listens on udp 127.0.0.1:second_port (a free port) and
    // Record-Routes that address instead of the one the INVITE came to, as a cluster node does
    // behind the address clients dial.
    bool record_second = false;
  };

  std::string dir;
  std::uint16_t port = 0;         // UDP and TCP
  std::uint16_t second_port = 0;  // UDP, with Options::record_second
  std::unique_ptr<Process> proc;

  explicit Kamailio(Options o) {
    static int seq = 0;
    dir = std::filesystem::temp_directory_path() /
          fmt::format("sb-kamailio-{}-{}", ::getpid(), ++seq);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    port = free_udp_tcp_port();
    if (o.record_second) {
      do second_port = free_port(SOCK_DGRAM);
      while (second_port == port);
    }
    REQUIRE_MESSAGE(port != 0, "no port free for both UDP and TCP");
    make_db(o.subscribers);
    write_config(o);
    proc = std::make_unique<Process>(
        std::vector<std::string>{"kamailio", "-f", dir + "/kamailio.cfg", "-DD", "-E", "-m", "32", "-M", "4",
                                 "-Y", dir, "-w", dir},
        dir + "/kamailio.log", dir);
    REQUIRE(proc->started());
    // Up once both listeners are bound and the workers are forked (the config is fixed up
    // before they are: a bad config or database exits before that); give up early if it exits.
    bool up = false;
    for (auto until = std::chrono::steady_clock::now() + 10s; !up && std::chrono::steady_clock::now() < until;) {
      if (!proc->running()) break;
      up = log().find("SB-READY") != std::string::npos && bound(port, SOCK_DGRAM) && bound(port, SOCK_STREAM) &&
           (!second_port || bound(second_port, SOCK_DGRAM));
      if (!up) std::this_thread::sleep_for(20ms);
    }
    REQUIRE_MESSAGE(up, "kamailio did not start:\n" << log());
  }
  ~Kamailio() {
    proc.reset();  // SIGTERM to the process group, SIGKILL after 1.5 s
    if (!std::getenv("SB_KEEP_SIPP")) std::filesystem::remove_all(dir);
  }
  Kamailio(const Kamailio&) = delete;
  Kamailio& operator=(const Kamailio&) = delete;

  std::string log() const { return slurp(dir + "/kamailio.log"); }
  // The script's SB-REQ lines (text after "SB-REQ "), in the order the workers logged them.
  std::vector<std::string> requests() const { return lines_after("SB-REQ "); }
  std::vector<std::string> lines_after(std::string_view marker) const {
    std::vector<std::string> out;
    std::istringstream in(log());
    for (std::string line; std::getline(in, line);)
      if (auto p = line.find(marker); p != std::string::npos) out.push_back(line.substr(p + marker.size()));
    return out;
  }
  // The SB-REQ lines as one text, for failure messages.
  std::string request_lines() const {
    std::string out;
    for (auto& r : requests()) out += r + "\n";
    return out;
  }
  // How many SB-REQ lines name `method` as the request method and match `with` (if given).
  int count(std::string_view method, std::string_view with = {}) const {
    int n = 0;
    for (auto& r : requests())
      if (r.rfind(std::string(method) + " ", 0) == 0 && (with.empty() || r.find(with) != std::string::npos)) ++n;
    return n;
  }
  std::string uri(std::string_view user = "uas", std::string_view transport = {}) const {
    auto u = fmt::format("sip:{}@127.0.0.1:{}", user, port);
    if (!transport.empty()) u += fmt::format(";transport={}", transport);
    return u;
  }

 private:
  static std::string slurp(const std::string& f) {
    std::ifstream in(f);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static std::string sql_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  }
  static bool bound(std::uint16_t port, int type) { return port_bound(port, type); }
  // A port free for both UDP and TCP on 127.0.0.1 (kamailio listens on both).
  static std::uint16_t free_udp_tcp_port() {
    for (int i = 0; i < 50; ++i) {
      auto p = free_port(SOCK_DGRAM);
      if (!bound(p, SOCK_STREAM)) return p;
    }
    return 0;
  }
  // The tables auth_db reads, as kamailio-sqlite-modules' auth_db-create.sql has them (schema
  // version 7, checked by auth_db at start-up), with plain passwords (calculate_ha1 = yes).
  void make_db(const std::vector<Subscriber>& subs) {
    std::string sql =
        "CREATE TABLE version (id INTEGER PRIMARY KEY NOT NULL, table_name VARCHAR(32) NOT NULL, "
        "table_version INTEGER DEFAULT 0 NOT NULL, CONSTRAINT version_table_name_idx UNIQUE (table_name));"
        "INSERT INTO version (table_name, table_version) VALUES ('subscriber', 7);"
        "CREATE TABLE subscriber (id INTEGER PRIMARY KEY NOT NULL, username VARCHAR(64) DEFAULT '' NOT NULL, "
        "domain VARCHAR(64) DEFAULT '' NOT NULL, password VARCHAR(64) DEFAULT '' NOT NULL, "
        "ha1 VARCHAR(128) DEFAULT '' NOT NULL, ha1b VARCHAR(128) DEFAULT '' NOT NULL, "
        "CONSTRAINT subscriber_account_idx UNIQUE (username, domain));";
    for (auto& s : subs)
      sql += fmt::format("INSERT INTO subscriber (username, domain, password) VALUES ({}, {}, {});",
                         sql_quote(s.username), sql_quote(s.domain), sql_quote(s.password));
    Process sqlite({"sqlite3", dir + "/subscriber.sqlite", sql}, dir + "/sqlite.log");
    REQUIRE(sqlite.started());
    REQUIRE_MESSAGE(sqlite.wait(10s) == 0, "sqlite3 failed: " << slurp(dir + "/sqlite.log"));
  }
  void write_config(const Options& o) {
    std::ofstream cfg(dir + "/kamailio.cfg");
    cfg << fmt::format(R"(#!KAMAILIO
# Written by tests/support/kamailio.hpp for one test.
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
dns=no
rev_dns=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
{second_listen}

mpath="{mpath}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "db_sqlite.so"
loadmodule "auth.so"
loadmodule "auth_db.so"

modparam("auth_db", "db_url", "sqlite:///{dir}/subscriber.sqlite")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("auth", "secret", "switchboard-interop")

# Printed once a worker is ready to read requests (the helper waits for it).
event_route[core:worker-one-init] {{
  xlog("L_NOTICE", "SB-READY\n");
}}

request_route {{
  xlog("L_NOTICE", "SB-REQ $rm ruri=$ru src=$proto:$si:$sp dst=$Rp totag=[$tt] route=[$hdr(Route)] pauth=[$hdr(Proxy-Authorization)]\n");
  if (!mf_process_maxfwd_header("10")) {{
    sl_send_reply("483", "Too Many Hops");
    exit;
  }}
  if (!sanity_check("17895", "7")) {{
    xlog("L_NOTICE", "SB-MALFORMED $rm\n");
    exit;
  }}
  # In-dialog: follow the Route set we Record-Route'd (RFC 3261 16.4).
  if (has_totag()) {{
    if (loose_route()) {{
      xlog("L_NOTICE", "SB-LOOSE $rm to $ru\n");
      t_relay();
      exit;
    }}
    if (is_method("ACK")) {{
      if (t_check_trans()) t_relay();
      exit;
    }}
    sl_send_reply("404", "Not here");
    exit;
  }}
  if (is_method("CANCEL")) {{
    if (t_check_trans()) t_relay();
    exit;
  }}
  if (!is_method("ACK")) t_check_trans();  # absorbs retransmissions
  if (is_method("INVITE")) {{
    if (!proxy_authorize("$fd", "subscriber")) {{
      xlog("L_NOTICE", "SB-CHALLENGE $rm\n");
      proxy_challenge("$fd", "{flags}");
      exit;
    }}
    xlog("L_NOTICE", "SB-AUTHORIZED $rm user=$au\n");
    consume_credentials();
  }}
  {record_route}
  $du = "sip:127.0.0.1:{next}";
  if (!t_relay()) sl_reply_error();
  exit;
}}
)",
                       fmt::arg("port", port), fmt::arg("mpath", kKamailioModules), fmt::arg("dir", dir),
                       fmt::arg("flags", o.challenge_flags), fmt::arg("next", o.next_hop_port),
                       fmt::arg("second_listen", second_port ? fmt::format("listen=udp:127.0.0.1:{}", second_port) : ""),
                       fmt::arg("record_route", second_port ? fmt::format("record_route_preset(\"127.0.0.1:{}\");", second_port)
                                                            : std::string("record_route();")));
  }
};

}  // namespace sb::test
