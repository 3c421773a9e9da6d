#include "app/config.hpp"

#include "base/log.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

namespace sb::app {
namespace json = boost::json;

namespace {

bool bad(std::string* why, std::string msg) {
  if (why) *why = std::move(msg);
  return false;
}

template <class T>
bool read_uint(const json::object& o, const char* key, T& out, std::string* why, std::uint64_t max) {
  auto* v = o.if_contains(key);
  if (!v) return true;
  std::uint64_t x;
  if (v->is_uint64()) x = v->as_uint64();
  else if (v->is_int64() && v->as_int64() >= 0) x = static_cast<std::uint64_t>(v->as_int64());
  else return bad(why, fmt::format("'{}' must be a non-negative integer", key));
  if (x > max) return bad(why, fmt::format("'{}' is too large (max {})", key, max));
  out = static_cast<T>(x);
  return true;
}

bool read_ms(const json::object& o, const char* key, std::chrono::milliseconds& out, std::string* why) {
  std::uint64_t ms = static_cast<std::uint64_t>(out.count());
  if (!read_uint(o, key, ms, why, 24ull * 3600 * 1000)) return false;
  out = std::chrono::milliseconds(ms);
  return true;
}

bool read_string(const json::object& o, const char* key, std::string& out, std::string* why) {
  auto* v = o.if_contains(key);
  if (!v) return true;
  if (!v->is_string()) return bad(why, fmt::format("'{}' must be a string", key));
  out = std::string(v->as_string());
  return true;
}

bool read_bool(const json::object& o, const char* key, bool& out, std::string* why) {
  auto* v = o.if_contains(key);
  if (!v) return true;
  if (!v->is_bool()) return bad(why, fmt::format("'{}' must be true or false", key));
  out = v->as_bool();
  return true;
}

bool split_host_port(std::string_view s, std::string& host, std::uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view h = s.substr(0, colon), p = s.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || ptr != p.data() + p.size() || v > 65535 || h.empty()) return false;
  host = std::string(h);
  port = static_cast<std::uint16_t>(v);
  return true;
}

bool valid_api_key(std::string_view k) {
  if (k.empty() || k.size() > 64) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  return true;
}

}  // namespace

boost::system::result<Config> parse_config(std::string_view text, std::string* why) {
  auto fail = [&](std::string msg) -> boost::system::result<Config> {
    if (why) *why = std::move(msg);
    return boost::system::error_code(EINVAL, boost::system::generic_category());
  };
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return fail("config is not valid JSON: " + ec.message());
  if (!v.is_object()) return fail("config must be a JSON object");
  const auto& o = v.as_object();
  Config c;
  std::string err;
  if (!read_uint(o, "threads", c.threads, &err, 256)) return fail(err);
  if (auto* pin = o.if_contains("pinThreads")) {
    if (!pin->is_bool()) return fail("'pinThreads' must be a boolean");
    c.pin_threads = pin->as_bool();
  }
  if (auto* h = o.if_contains("http")) {
    if (!h->is_object()) return fail("'http' must be an object");
    std::string listen;
    if (!read_string(h->as_object(), "listen", listen, &err)) return fail(err);
    if (!listen.empty() && !split_host_port(listen, c.http_address, c.http_port))
      return fail("'http.listen' must be host:port");
  }
  if (auto* p = o.if_contains("projects")) {
    if (!p->is_array()) return fail("'projects' must be an array");
    for (const auto& e : p->as_array()) {
      if (!e.is_object()) return fail("each project must be an object");
      ProjectConfig pc;
      if (!read_string(e.as_object(), "apiKey", pc.api_key, &err) ||
          !read_string(e.as_object(), "apiSecret", pc.api_secret, &err) ||
          !read_string(e.as_object(), "callbackUrl", pc.callback_url, &err))
        return fail(err);
      if (!valid_api_key(pc.api_key)) return fail("project apiKey must be 1-64 letters, digits, '-' or '_'");
      if (pc.api_secret.size() < 16) return fail(fmt::format("project {}: apiSecret must be at least 16 characters", pc.api_key));
      if (!pc.callback_url.empty() && !pc.callback_url.starts_with("http://") && !pc.callback_url.starts_with("https://"))
        return fail(fmt::format("project {}: callbackUrl must be http:// or https://", pc.api_key));
      for (const auto& other : c.projects)
        if (other.api_key == pc.api_key) return fail(fmt::format("project {} is listed twice", pc.api_key));
      c.projects.push_back(std::move(pc));
    }
  }
  if (auto* l = o.if_contains("limits")) {
    if (!l->is_object()) return fail("'limits' must be an object");
    const auto& lo = l->as_object();
    auto& L = c.limits;
    if (!read_uint(lo, "httpHeaderBytes", L.http_header_bytes, &err, 1 << 20) ||
        !read_uint(lo, "httpBodyBytes", L.http_body_bytes, &err, 64 << 20) ||
        !read_uint(lo, "dialBodyBytes", L.dial_body_bytes, &err, 1 << 20) ||
        !read_ms(lo, "httpReadTimeoutMs", L.http_read_timeout, &err) ||
        !read_ms(lo, "httpIdleTimeoutMs", L.http_idle_timeout, &err) ||
        !read_uint(lo, "httpConnectionsPerShard", L.http_connections_per_shard, &err, 1 << 20) ||
        !read_uint(lo, "sessionsPerShard", L.sessions_per_shard, &err, 10'000'000) ||
        !read_uint(lo, "sessionsPerProject", L.sessions_per_project, &err, 10'000'000) ||
        !read_uint(lo, "shardBusyPercent", L.shard_busy_percent, &err, 100) ||
        !read_uint(lo, "jwtSkewSeconds", L.jwt_skew_s, &err, 3600))
      return fail(err);
  }
  if (auto* w = o.if_contains("webhooks")) {
    if (!w->is_object()) return fail("'webhooks' must be an object");
    const auto& wo = w->as_object();
    auto& W = c.webhooks;
    if (!read_uint(wo, "queueLimit", W.queue_limit, &err, 10'000'000) ||
        !read_uint(wo, "maxAttempts", W.max_attempts, &err, 100) ||
        !read_ms(wo, "retryWindowMs", W.retry_window, &err) ||
        !read_ms(wo, "requestTimeoutMs", W.request_timeout, &err) ||
        !read_ms(wo, "backoffInitialMs", W.backoff_initial, &err) ||
        !read_ms(wo, "backoffMaxMs", W.backoff_max, &err) || !read_bool(wo, "verifyTls", W.verify_tls, &err) ||
        !read_string(wo, "caFile", W.ca_file, &err))
      return fail(err);
  }
  if (auto* sp = o.if_contains("sip")) {
    if (!sp->is_object()) return fail("'sip' must be an object");
    const auto& so = sp->as_object();
    auto& S = c.sip;
    if (!read_string(so, "listen", S.listen_address, &err) || !read_string(so, "advertisedHost", S.advertised_host, &err) ||
        !read_uint(so, "portBase", S.port_base, &err, 65000) || !read_bool(so, "tcp", S.tcp, &err) ||
        !read_string(so, "tlsCert", S.tls_cert, &err) || !read_string(so, "tlsKey", S.tls_key, &err) ||
        !read_string(so, "tlsCa", S.tls_ca, &err) || !read_bool(so, "tlsVerify", S.tls_verify, &err) ||
        !read_ms(so, "t1Ms", S.t1, &err) || !read_ms(so, "t2Ms", S.t2, &err) || !read_ms(so, "t4Ms", S.t4, &err) ||
        !read_uint(so, "maxCallsPerShard", S.max_calls_per_shard, &err, 1'000'000))
      return fail(err);
    std::uint64_t secs = static_cast<std::uint64_t>(S.max_call_duration.count());
    if (!read_uint(so, "maxCallSeconds", secs, &err, 7 * 24 * 3600)) return fail(err);
    S.max_call_duration = std::chrono::seconds(secs);
    secs = static_cast<std::uint64_t>(S.max_inactive.count());
    if (!read_uint(so, "maxInactiveSeconds", secs, &err, 24 * 3600)) return fail(err);
    S.max_inactive = std::chrono::seconds(secs);
    secs = static_cast<std::uint64_t>(S.ring_timeout.count());
    if (!read_uint(so, "ringTimeoutSeconds", secs, &err, 3600)) return fail(err);
    S.ring_timeout = std::chrono::seconds(secs);
    if (S.max_call_duration.count() == 0 || S.max_inactive.count() == 0 || S.ring_timeout.count() == 0)
      return fail("'sip.maxCallSeconds', 'sip.maxInactiveSeconds' and 'sip.ringTimeoutSeconds' must be positive");
    if (auto* d = so.if_contains("dnsServers")) {
      if (!d->is_array()) return fail("'sip.dnsServers' must be an array of \"ip:port\" strings");
      for (const auto& e : d->as_array()) {
        if (!e.is_string()) return fail("'sip.dnsServers' must be an array of \"ip:port\" strings");
        S.dns_servers.emplace_back(e.as_string());
      }
    }
    if (S.tls_cert.empty() != S.tls_key.empty()) return fail("'sip.tlsCert' and 'sip.tlsKey' go together");
  }
  if (auto* m = o.if_contains("media")) {
    if (!m->is_object()) return fail("'media' must be an object");
    const auto& mo = m->as_object();
    if (!read_string(mo, "address", c.media.address, &err) ||
        !read_uint(mo, "rtpPortMin", c.media.rtp_port_min, &err, 65534) ||
        !read_uint(mo, "rtpPortMax", c.media.rtp_port_max, &err, 65535) ||
        !read_string(mo, "keying", c.media.keying, &err))
      return fail(err);
    if (c.media.keying != "sdes" && c.media.keying != "dtls") return fail("'media.keying' must be \"sdes\" or \"dtls\"");
    if (auto* f = mo.if_contains("keyingFallback")) {
      if (!f->is_bool()) return fail("'media.keyingFallback' must be a boolean");
      c.media.keying_fallback = f->as_bool();
    }
    unsigned cx = static_cast<unsigned>(c.media.opus_complexity), br = static_cast<unsigned>(c.media.opus_bitrate);
    if (!read_uint(mo, "opusComplexity", cx, &err, 10) || !read_uint(mo, "opusBitrate", br, &err, 510000)) return fail(err);
    if (br < 6000) return fail("'media.opusBitrate' must be at least 6000");
    c.media.opus_complexity = static_cast<int>(cx);
    c.media.opus_bitrate = static_cast<int>(br);
    if (c.media.rtp_port_min >= c.media.rtp_port_max) return fail("'media.rtpPortMin' must be below 'media.rtpPortMax'");
  }
  if (auto* cl = o.if_contains("clients")) {
    if (!cl->is_object()) return fail("'clients' must be an object");
    const auto& co = cl->as_object();
    if (!read_string(co, "publicUrl", c.clients.public_url, &err) ||
        !read_string(co, "clientScript", c.clients.client_script, &err) ||
        !read_string(co, "mediaAddress", c.clients.media_address, &err) ||
        !read_uint(co, "mediaPortBase", c.clients.media_port_base, &err, 65000))
      return fail(err);
    if (auto* r = co.if_contains("routedMedia")) {
      if (!r->is_bool()) return fail("'clients.routedMedia' must be a boolean");
      c.clients.routed_media = r->as_bool();
    }
    if (auto* d = co.if_contains("demo")) {
      if (!d->is_bool()) return fail("'clients.demo' must be a boolean");
      c.clients.demo = d->as_bool();
    }
    if (!c.clients.public_url.empty() && !c.clients.public_url.starts_with("http://") &&
        !c.clients.public_url.starts_with("https://"))
      return fail("'clients.publicUrl' must start with http:// or https://");
    if (auto* ice = co.if_contains("iceServers")) {
      if (!ice->is_array()) return fail("'clients.iceServers' must be an array of {urls, username, credential}");
      // RTCIceServer (W3C WebRTC §4.2.4): urls is a string or a list of them; username,
      // credential and the rest are strings. Anything else (a number: Boost.JSON reads 1e400 as
      // infinity) would reach every browser's RTCPeerConnection as given, so it is refused here.
      auto urls_ok = [](const boost::json::value& v) {
        if (v.is_string()) return true;
        if (!v.is_array() || v.as_array().empty()) return false;
        for (const auto& u : v.as_array())
          if (!u.is_string()) return false;
        return true;
      };
      for (const auto& e : ice->as_array()) {
        if (!e.is_object() || !(e.as_object().contains("urls") || e.as_object().contains("url")))
          return fail("each of 'clients.iceServers' must be an object with urls");
        for (const auto& m : e.as_object()) {
          const bool is_urls = m.key() == "urls" || m.key() == "url";
          if (is_urls ? !urls_ok(m.value()) : !m.value().is_string())
            return fail("'clients.iceServers': urls must be a string or a list of strings, and username, "
                        "credential and the rest strings");
        }
      }
      c.clients.ice_servers_json = boost::json::serialize(*ice);
    }
  }
  if (auto* lg = o.if_contains("log")) {
    if (!lg->is_object()) return fail("'log' must be an object");
    if (!read_string(lg->as_object(), "level", c.log_level, &err)) return fail(err);
  }
  if (!read_ms(o, "drainTimeoutMs", c.drain_timeout, &err)) return fail(err);
  return c;
}

std::string usage() {
  return "usage: switchboard [--config FILE] [--threads N] [--pin-threads] [--http-listen HOST:PORT] [--log-level LEVEL]\n"
         "                   [--sip-port-base N] [--drain-timeout-ms N] [--ready-file PATH] [--help] [--version]\n"
         "With no --config, an embedded development project is used (its key and secret are printed).\n"
         "Flags override the file. See docs/config.md.\n";
}

bool apply_flags(Config& cfg, int argc, char** argv, std::string* why, bool* exit_now) {
  *exit_now = false;
  // First pass: --config, so later flags override the file whatever their order.
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--config") {
      if (i + 1 >= argc) return bad(why, "--config needs a file");
      std::ifstream f(argv[i + 1]);
      if (!f) return bad(why, fmt::format("cannot read config file {}", argv[i + 1]));
      std::stringstream ss;
      ss << f.rdbuf();
      auto c = parse_config(ss.str(), why);
      if (!c) return false;
      cfg = std::move(*c);
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view& out) {
      if (i + 1 >= argc) return bad(why, fmt::format("{} needs a value", a));
      out = argv[++i];
      return true;
    };
    auto number = [&](std::uint64_t& out, std::uint64_t max) {
      std::string_view v;
      if (!value(v)) return false;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
      if (ec != std::errc() || p != v.data() + v.size() || out > max)
        return bad(why, fmt::format("{} needs a number up to {}", a, max));
      return true;
    };
    std::string_view v;
    std::uint64_t n = 0;
    if (a == "--help" || a == "-h") {
      fmt::print("{}", usage());
      *exit_now = true;
      return true;
    } else if (a == "--version") {
      fmt::print("switchboard 0.1.0\n");
      *exit_now = true;
      return true;
    } else if (a == "--config") {
      ++i;
    } else if (a == "--threads") {
      if (!number(n, 256)) return false;
      cfg.threads = static_cast<unsigned>(n);
    } else if (a == "--pin-threads") {
      cfg.pin_threads = true;
    } else if (a == "--http-listen") {
      if (!value(v)) return false;
      if (!split_host_port(v, cfg.http_address, cfg.http_port)) return bad(why, "--http-listen needs HOST:PORT");
    } else if (a == "--log-level") {
      if (!value(v)) return false;
      cfg.log_level = std::string(v);
    } else if (a == "--drain-timeout-ms") {
      if (!number(n, 3600 * 1000)) return false;
      cfg.drain_timeout = std::chrono::milliseconds(n);
    } else if (a == "--sip-port-base") {
      if (!number(n, 65000)) return false;
      cfg.sip.port_base = static_cast<std::uint16_t>(n);
    } else if (a == "--ready-file") {
      if (!value(v)) return false;
      cfg.ready_file = std::string(v);
    } else {
      return bad(why, fmt::format("unknown flag {}\n{}", a, usage()));
    }
  }
  return true;
}

bool finalize(Config& cfg, std::string* why) {
  log::Level l;
  if (!log::parse_level(cfg.log_level, l)) return bad(why, "log level must be debug, info, warn, error or off");
  if (cfg.threads == 0) cfg.threads = std::max(1u, std::thread::hardware_concurrency());
  if (cfg.projects.empty()) {
    cfg.projects.push_back(ProjectConfig{kDevApiKey, kDevApiSecret, ""});
    cfg.dev_project = true;
  }
  if (cfg.webhooks.max_attempts < 1) return bad(why, "webhooks.maxAttempts must be at least 1");
  return true;
}

}  // namespace sb::app
