// Configuration: a JSON file (docs/config.md) overridden by command-line flags. With neither, the
// embedded development project on loopback ports is used and printed at start-up.
#pragma once
#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sb::app {

struct ProjectConfig {
  std::string api_key;
  std::string api_secret;
  std::string callback_url;  // SIP-monitoring URL (SPEC §6); empty = none
};

struct Config {
  unsigned threads = 0;                    // 0 = one shard per core
  bool pin_threads = false;                // shard i's thread pinned to CPU i (of those allowed)
  std::string http_address = "127.0.0.1";  // REST + (later) WebSocket signaling
  std::uint16_t http_port = 8080;          // 0 = any free port (see ready_file)
  std::vector<ProjectConfig> projects;     // empty = the embedded development project
  bool dev_project = false;                // set when the embedded project is in use

  struct Limits {
    std::size_t http_header_bytes = 8 * 1024;
    std::size_t http_body_bytes = 1024 * 1024;
    std::size_t dial_body_bytes = 64 * 1024;
    std::chrono::milliseconds http_read_timeout{10000};
    std::chrono::milliseconds http_idle_timeout{30000};
    std::size_t http_connections_per_shard = 4096;
    std::size_t sessions_per_shard = 100000;
    std::size_t sessions_per_project = 0;  // per shard; 0: no cap of its own
    // New dials are refused (503) while their shard's thread used this share of a core over the
    // last second (overload protection; 0 = off). 90, measured: at 95 a shard offered 150 % of its
    // capacity ran at 98 % and its calls went late (docs/robustness.md "Overload").
    std::uint64_t shard_busy_percent = 90;
    std::int64_t jwt_skew_s = 60;
  } limits;

  struct Webhooks {
    std::size_t queue_limit = 10000;
    int max_attempts = 6;
    std::chrono::milliseconds retry_window{600000};
    std::chrono::milliseconds request_timeout{5000};
    std::chrono::milliseconds backoff_initial{250};
    std::chrono::milliseconds backoff_max{8000};
    bool verify_tls = true;
    std::string ca_file;
  } webhooks;

  // SIP (issue 3). Each shard has its own ports so the far end's in-dialog requests, sent to our
  // Contact, reach the shard that owns the dialog: shard k listens on UDP+TCP port_base + 2k and
  // TLS port_base + 2k + 1 (port_base 0: ephemeral ports, for tests).
  struct Sip {
    std::string listen_address = "127.0.0.1";
    std::string advertised_host;  // Via/Contact host; empty = listen address
    std::uint16_t port_base = 5060;
    bool tcp = true;
    std::string tls_cert, tls_key;  // TLS listener + client certificate (mutual TLS); empty = no listener
    std::string tls_ca;             // verify far ends against this bundle; empty = system store
    bool tls_verify = true;
    std::vector<std::string> dns_servers;  // "ip:port"; empty = /etc/resolv.conf
    std::chrono::milliseconds t1{500}, t2{4000}, t4{5000};  // RFC 3261 timers
    std::size_t max_calls_per_shard = 10000;
    std::chrono::seconds max_call_duration{6 * 3600};  // SPEC §7: 6 hours → BYE, 705
    std::chrono::seconds max_inactive{300};            // SPEC §7: 5 min without media → BYE, 706/704
    std::chrono::seconds ring_timeout{180};            // no answer → CANCEL, 408
  } sip;

  // RTP (the media layer, issue 4): every shard takes an equal slice of the port range.
  struct Media {
    std::string address;  // RTP bind/advertise address; empty = the SIP listen address
    std::uint16_t rtp_port_min = 20000, rtp_port_max = 29999;
    std::string keying = "sdes";  // SRTP keying offered first when sip.secure: "sdes" | "dtls"
    bool keying_fallback = true;  // 488/606 to a secure offer → one re-INVITE with the other keying
    int opus_complexity = 5;      // 0..10 (PERF.md: 5 costs half of 9)
    int opus_bitrate = 32000;     // bits/s
  } media;

  // Browser clients (OpenTok.js): see README "Browser clients".
  struct Clients {
    std::string public_url;               // e.g. "https://rtc.example.org"; empty = the request's Host
    std::string ice_servers_json = "[]";  // anvil ice_servers: [{urls, username, credential}]
    // The demo page at `/` (src/app/demo.hpp): on with the embedded development project, or
    // when set; it uses the first configured project.
    bool demo = false;
    // Routed browser media (the SFU): shard k's WebRTC UDP port is mediaPortBase + k (0: any free
    // port), bound on mediaAddress, which is also the ICE candidate clients are told to use.
    bool routed_media = true;
    std::string media_address;  // empty = the HTTP listen address
    std::uint16_t media_port_base = 0;
    std::string client_script = ".deps/opentok-client/node_modules/@opentok/client/dist/js/opentok.js";
  } clients;

  std::string log_level = "info";
  std::chrono::milliseconds drain_timeout{10000};  // SIGTERM: time to finish calls and webhooks
  std::string ready_file;                          // written with {"httpPort":N} once listening
};

// The embedded development project (loopback only; printed at start-up).
inline constexpr const char* kDevApiKey = "46000001";
inline constexpr const char* kDevApiSecret = "5b0a7f9c3e1d4a2b8c6e0f1a2b3c4d5e6f708192";

// Parses a config file's text; errors carry a message naming the bad field.
boost::system::result<Config> parse_config(std::string_view json_text, std::string* why);
// Applies argv over `cfg` (argv[0] skipped). Returns false with `why` on a bad flag; sets
// `exit_now` for --help/--version after printing.
bool apply_flags(Config& cfg, int argc, char** argv, std::string* why, bool* exit_now);
// Fills in the dev project when none is configured and validates cross-field rules.
bool finalize(Config& cfg, std::string* why);
std::string usage();

}  // namespace sb::app
