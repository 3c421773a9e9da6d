// libFuzzer target for src/app/config.{hpp,cpp}: parse_config on arbitrary text (the --config
// file, docs/config.md), then finalize().
//
// A refusal must say why. An accepted Config must hold the rules parse_config enforces (projects
// valid and unique, media ports ordered, keying known, TLS cert and key together, the SIP limits
// positive) and must round-trip: written back as a config file (write_config below, every field,
// IPv6-safe `[host]:port`) it parses to the same Config, which writes back to the same text
// (clients.iceServers, kept as JSON text, compared as JSON with json_support.hpp's tolerance).
//
// Known and reported: an iceServers number beyond double range (1e400, or 0e400, which Boost.JSON
// 1.81 reads as NaN) is accepted and stored as `Infinity` / `NaN`, which are not JSON;
// client_api.cpp then quietly hands browsers no ICE servers. Such an input ends the checks early
// instead of counting as a crash.
#include "fuzz_support.hpp"
#include "json_support.hpp"

#include "app/config.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using sb::app::Config;
using sb::fuzz::require;
namespace json = boost::json;

namespace {

std::string write_config(const Config& c, const json::value& ice) {
  json::array projects;
  for (const auto& p : c.projects)
    projects.push_back(
        json::object{{"apiKey", p.api_key}, {"apiSecret", p.api_secret}, {"callbackUrl", p.callback_url}});
  json::array dns;
  for (const auto& d : c.sip.dns_servers) dns.emplace_back(d);
  const auto& L = c.limits;
  const auto& W = c.webhooks;
  const auto& S = c.sip;
  const auto& M = c.media;
  const auto& C = c.clients;
  json::object o{
      {"threads", c.threads},
      {"pinThreads", c.pin_threads},
      {"http", {{"listen", "[" + c.http_address + "]:" + std::to_string(c.http_port)}}},
      {"projects", std::move(projects)},
      {"limits",
       {{"httpHeaderBytes", L.http_header_bytes}, {"httpBodyBytes", L.http_body_bytes},
        {"dialBodyBytes", L.dial_body_bytes}, {"httpReadTimeoutMs", L.http_read_timeout.count()},
        {"httpIdleTimeoutMs", L.http_idle_timeout.count()}, {"httpConnectionsPerShard", L.http_connections_per_shard},
        {"sessionsPerShard", L.sessions_per_shard}, {"sessionsPerProject", L.sessions_per_project},
        {"shardBusyPercent", L.shard_busy_percent},
        {"jwtSkewSeconds", L.jwt_skew_s}}},
      {"webhooks",
       {{"queueLimit", W.queue_limit}, {"maxAttempts", W.max_attempts}, {"retryWindowMs", W.retry_window.count()},
        {"requestTimeoutMs", W.request_timeout.count()},
        {"backoffInitialMs", W.backoff_initial.count()}, {"backoffMaxMs", W.backoff_max.count()},
        {"verifyTls", W.verify_tls}, {"caFile", W.ca_file}}},
      {"sip",
       {{"listen", S.listen_address}, {"advertisedHost", S.advertised_host}, {"portBase", S.port_base},
        {"tcp", S.tcp}, {"tlsCert", S.tls_cert}, {"tlsKey", S.tls_key}, {"tlsCa", S.tls_ca},
        {"tlsVerify", S.tls_verify}, {"dnsServers", std::move(dns)}, {"t1Ms", S.t1.count()},
        {"t2Ms", S.t2.count()}, {"t4Ms", S.t4.count()}, {"maxCallsPerShard", S.max_calls_per_shard},
        {"maxCallSeconds", S.max_call_duration.count()}, {"maxInactiveSeconds", S.max_inactive.count()},
        {"ringTimeoutSeconds", S.ring_timeout.count()}}},
      {"media",
       {{"address", M.address}, {"rtpPortMin", M.rtp_port_min}, {"rtpPortMax", M.rtp_port_max},
        {"keying", M.keying}, {"keyingFallback", M.keying_fallback}, {"opusComplexity", M.opus_complexity},
        {"opusBitrate", M.opus_bitrate}}},
      {"clients",
       {{"publicUrl", C.public_url}, {"iceServers", ice},
        {"routedMedia", C.routed_media}, {"mediaAddress", C.media_address}, {"mediaPortBase", C.media_port_base},
        {"demo", C.demo}, {"clientScript", C.client_script}}},
      {"log", {{"level", c.log_level}}},
      {"drainTimeoutMs", c.drain_timeout.count()}};
  return json::serialize(o);
}

void check_rules(const Config& c) {
  for (std::size_t i = 0; i < c.projects.size(); ++i) {
    const auto& p = c.projects[i];
    require(!p.api_key.empty() && p.api_key.size() <= 64 && p.api_secret.size() >= 16, "project key/secret");
    require(p.callback_url.empty() || p.callback_url.starts_with("http://") || p.callback_url.starts_with("https://"),
            "callback URL scheme");
    for (std::size_t j = 0; j < i; ++j) require(c.projects[j].api_key != p.api_key, "project keys unique");
  }
  require(c.threads <= 256 && c.limits.shard_busy_percent <= 100, "bounded counts");
  require(c.media.rtp_port_min < c.media.rtp_port_max, "RTP range ordered");
  require(c.media.keying == "sdes" || c.media.keying == "dtls", "keying known");
  require(c.media.opus_complexity >= 0 && c.media.opus_complexity <= 10 && c.media.opus_bitrate >= 6000 &&
              c.media.opus_bitrate <= 510000,
          "Opus settings in range");
  require(c.sip.tls_cert.empty() == c.sip.tls_key.empty(), "TLS cert and key together");
  require(c.sip.max_call_duration.count() > 0 && c.sip.max_inactive.count() > 0 && c.sip.ring_timeout.count() > 0,
          "SIP limits positive");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto c = sb::app::parse_config(text, &why);
  if (!c) {
    require(!why.empty(), "a refusal names its reason");
    return 0;
  }
  check_rules(*c);
  boost::system::error_code ec;
  const json::value ice = json::parse(c->clients.ice_servers_json, ec);
  if (ec) {
    require(c->clients.ice_servers_json.find("Infinity") != std::string::npos ||
                c->clients.ice_servers_json.find("NaN") != std::string::npos,
            "iceServers text is JSON");
    return 0;
  }
  require(ice.is_array(), "iceServers is an array");
  const std::string written = write_config(*c, ice);
  std::string why2;
  auto again = sb::app::parse_config(written, &why2);
  if (!again) std::fprintf(stderr, "rewritten config refused: %s\n%s\n", why2.c_str(), written.c_str());
  require(again.has_value(), "the rewritten config parses");
  const json::value ice2 = json::parse(again->clients.ice_servers_json, ec);
  require(!ec && sb::fuzz::json_near(ice, ice2), "iceServers round trip");
  require(write_config(*again, nullptr) == write_config(*c, nullptr), "config round trip");
  std::string why3;
  if (!sb::app::finalize(*c, &why3)) require(!why3.empty(), "finalize refusal names its reason");
  else require(c->threads >= 1 && !c->projects.empty(), "finalize fills threads and projects");
  return 0;
}
