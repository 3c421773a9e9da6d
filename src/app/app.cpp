#include "app/app.hpp"

#include "app/demo.hpp"

#include "base/log.hpp"
#include "http/rest_api.hpp"
#include "http/server.hpp"
#include "http/shard_services.hpp"
#include "media/conference.hpp"
#include "rtp/audio_leg.hpp"
#include "rtp/dtls.hpp"
#include "rtp/receive_mux.hpp"
#include "runtime/runtime.hpp"
#include "signaling/client_api.hpp"

#include <boost/asio.hpp>

#include <future>
#include <set>

namespace sb::app {
namespace asio = boost::asio;

namespace {
// One Prometheus metric: HELP, TYPE and its value.
void add_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                std::uint64_t v) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
}

// The signaling layer's counters as Prometheus text.
asio::awaitable<std::string> client_metrics(signaling::ClientApi* c) {
  const auto s = co_await c->stats();
  const auto n = co_await c->client_count();
  std::string out;
  auto add = [&](std::string_view name, std::string_view type, std::string_view help, std::uint64_t v) {
    add_metric(out, name, type, help, v);
  };
  add("switchboard_clients", "gauge", "Browser clients connected over WebSocket", n);
  add("switchboard_client_connects_total", "counter", "Browser clients that joined a session", s.connects);
  add("switchboard_client_connect_failures_total", "counter", "Client connects refused", s.connect_failures);
  add("switchboard_client_frames_in_total", "counter", "Rumor frames received", s.frames_in);
  add("switchboard_client_frames_out_total", "counter", "Rumor frames sent", s.frames_out);
  add("switchboard_client_requests_total", "counter", "Raptor requests", s.requests);
  add("switchboard_client_request_errors_total", "counter", "Raptor requests answered with an error STATUS", s.request_errors);
  add("switchboard_client_malformed_total", "counter", "Malformed frames or messages dropped", s.malformed);
  add("switchboard_client_rate_limited_total", "counter", "Requests refused by the per-client rate limit", s.rate_limited);
  add("switchboard_client_jsep_relayed_total", "counter", "JSEP messages relayed between clients (P2P)", s.jsep_relayed);
  add("switchboard_client_logging_posts_total", "counter", "Client logging posts received and dropped", s.logging_posts);
  add("switchboard_client_slow_consumers_total", "counter", "Clients closed for not reading their socket", s.slow_consumers);
  const auto r = co_await c->router_stats();
  add("switchboard_sfu_publications", "gauge", "Browser streams published into routed sessions", r.publications);
  add("switchboard_sfu_subscriptions", "gauge", "Browser subscriptions served by the SFU", r.subscriptions);
  add("switchboard_sfu_forwarded_rtp_total", "counter", "RTP packets forwarded unchanged (no transcoding) by the SFU", r.forwarded_rtp);
  add("switchboard_sfu_forwarded_rtcp_total", "counter", "RTCP packets relayed by the SFU", r.forwarded_rtcp);
  add("switchboard_sfu_keyframe_requests_total", "counter", "PLIs the SFU sent to publishers for new subscribers", r.keyframe_requests);
  add("switchboard_sfu_datagrams_total", "counter", "UDP datagrams received on the WebRTC ports", r.datagrams_in);
  add("switchboard_sfu_send_errors_total", "counter", "WebRTC sends that failed (media dropped, never queued)", r.send_errors);
  add("switchboard_sfu_local_publications", "gauge", "SIP parties' streams published to browsers (Opus from the mix)",
      r.local_publications);
  add("switchboard_sfu_local_rtp_total", "counter", "RTP packets of SIP parties' streams sent to browser subscribers",
      r.local_rtp);
  add("switchboard_sfu_audio_taps_total", "counter", "Browser audio packets handed to a session mix", r.audio_tapped);
  add("switchboard_sfu_remb_total", "counter", "Subscribers' REMB estimates relayed to publishers (lowest recent one)", r.remb);
  out += "# HELP switchboard_sfu_dropped_total Datagrams on the WebRTC ports dropped, by reason\n"
         "# TYPE switchboard_sfu_dropped_total counter\n";
  auto drop = [&](std::string_view reason, std::uint64_t v) {
    out += fmt::format("switchboard_sfu_dropped_total{{reason=\"{}\"}} {}\n", reason, v);
  };
  drop("unknown_source", r.unknown_source);    // no leg has that ufrag (STUN) or address (the rest)
  drop("ice_rejected", r.ice_rejected);        // STUN a leg's ICE agent dropped unanswered (no auth, bad auth, malformed)
  drop("foreign_source", r.foreign_source);    // DTLS/media not from the leg's nominated pair
  drop("before_keys", r.before_keys);          // media before the leg's DTLS produced keys
  drop("srtp_auth", r.srtp_auth);              // SRTP/SRTCP authentication or replay failure
  drop("foreign_ssrc", r.foreign_ssrc);        // authenticated, but an SSRC the offer did not declare
  add("switchboard_sfu_consent_expired_total", "counter", "Browser legs whose ICE consent lapsed (30 s without a check, RFC 7675): sending to them stopped", r.consent_expired);
  co_return out;
}
// The shards' media receive paths (rtp::ReceiveMux), read on each shard: how many datagrams each
// wake-up and each recvmmsg served is what the lean receive path is about.
asio::awaitable<rtp::ReceiveMux::Stats> receive_stats_here(asio::any_io_executor ex) {
  co_return rtp::ReceiveMux::of(ex).stats();
}
asio::awaitable<std::string> receive_metrics(runtime::Runtime* rt) {
  rtp::ReceiveMux::Stats t;
  for (unsigned i = 0; i < rt->size(); ++i) {
    auto& shard = rt->shard(i);
    const auto s = co_await runtime::on_shard(shard, receive_stats_here(shard.executor()));
    t.wakeups += s.wakeups, t.recv_calls += s.recv_calls, t.datagrams += s.datagrams;
    t.requeued += s.requeued, t.sockets += s.sockets;
  }
  std::string out;
  auto add = [&](std::string_view name, std::string_view type, std::string_view help, std::uint64_t v) {
    add_metric(out, name, type, help, v);
  };
  add("switchboard_media_receive_sockets", "gauge", "Media sockets (SIP legs, WebRTC ports) the shards drain", t.sockets);
  add("switchboard_media_receive_wakeups_total", "counter", "Times a shard's media receive set turned readable",
      t.wakeups);
  add("switchboard_media_receive_calls_total", "counter", "recvmmsg calls on media sockets", t.recv_calls);
  add("switchboard_media_received_datagrams_total", "counter", "Datagrams received on media sockets", t.datagrams);
  add("switchboard_media_receive_requeued_total", "counter",
      "Turns a media socket waited for after more than 64 datagrams were waiting (a burst or a flood)", t.requeued);
  co_return out;
}
}  // namespace

App::App(Config cfg) : cfg_(std::move(cfg)) {
  log::Level l = log::Level::info;
  log::parse_level(cfg_.log_level, l);
  log::set_level(l);
  rt_ = std::make_unique<runtime::Runtime>(cfg_.threads);

  core::ProjectTable projects;
  for (const auto& p : cfg_.projects) projects.add(core::Project{p.api_key, p.api_secret, p.callback_url, {}});
  http::WebhookOptions wopts;
  wopts.queue_limit = cfg_.webhooks.queue_limit;
  wopts.max_attempts = cfg_.webhooks.max_attempts;
  wopts.retry_window = cfg_.webhooks.retry_window;
  wopts.request_timeout = cfg_.webhooks.request_timeout;
  wopts.backoff_initial = cfg_.webhooks.backoff_initial;
  wopts.backoff_max = cfg_.webhooks.backoff_max;
  wopts.verify_tls = cfg_.webhooks.verify_tls;
  wopts.ca_file = cfg_.webhooks.ca_file;

  std::vector<http::ShardServices*> raw;
  for (unsigned i = 0; i < rt_->size(); ++i) {
    services_.push_back(std::make_unique<http::ShardServices>(rt_->shard(i), projects,
                                                              cfg_.limits.sessions_per_shard, wopts,
                                                              cfg_.limits.sessions_per_project));
    raw.push_back(services_.back().get());
  }
  for (unsigned i = 0; i < rt_->size(); ++i) {
    sip::UserAgentOptions uo;
    auto& to = uo.transport;
    to.bind_address = asio::ip::make_address(cfg_.sip.listen_address);
    to.advertised_host = cfg_.sip.advertised_host;
    const std::uint16_t base = cfg_.sip.port_base;
    to.udp_port = base ? static_cast<std::uint16_t>(base + 2 * i) : 0;
    to.tcp_port = to.udp_port;
    to.tls_port = base ? static_cast<std::uint16_t>(base + 2 * i + 1) : 0;
    to.enable_tcp = cfg_.sip.tcp;
    to.enable_tls = !cfg_.sip.tls_cert.empty();
    to.tls_cert_file = cfg_.sip.tls_cert;
    to.tls_key_file = cfg_.sip.tls_key;
    to.tls_ca_file = cfg_.sip.tls_ca;
    to.tls_verify = cfg_.sip.tls_verify;
    for (const auto& d : cfg_.sip.dns_servers) {
      auto colon = d.rfind(':');
      std::string host = colon == std::string::npos ? d : d.substr(0, colon);
      if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
      auto port = colon == std::string::npos ? 53 : std::stoi(d.substr(colon + 1));
      uo.resolver.servers.emplace_back(asio::ip::make_address(host), static_cast<std::uint16_t>(port));
    }
    uo.timers = sip::TimerConfig{cfg_.sip.t1, cfg_.sip.t2, cfg_.sip.t4};
    uo.max_calls = cfg_.sip.max_calls_per_shard;
    auto& svc = *services_[i];
    svc.max_call_duration = cfg_.sip.max_call_duration;
    svc.max_inactive = cfg_.sip.max_inactive;
    svc.ring_timeout = cfg_.sip.ring_timeout;
    auto net = sip::make_socket_network(rt_->shard(i).executor(), uo.transport, uo.resolver);
    svc.sip = std::make_unique<sip::UserAgent>(rt_->shard(i).executor(), std::move(uo), std::move(net));
    // Each shard takes an equal, disjoint slice of the RTP range (even ports: RTP, odd: RTCP).
    const unsigned span = (cfg_.media.rtp_port_max - cfg_.media.rtp_port_min + 1u) / rt_->size();
    rtp::PortRange range{static_cast<std::uint16_t>(cfg_.media.rtp_port_min + i * span),
                         static_cast<std::uint16_t>(cfg_.media.rtp_port_min + (i + 1) * span - 1)};
    auto media_addr = asio::ip::make_address(cfg_.media.address.empty() ? cfg_.sip.listen_address : cfg_.media.address);
    auto ports = std::make_shared<rtp::PortAllocator>(range);
    svc.rtp_ports = ports;
    auto rooms = std::make_shared<media::ConferenceTable>(rt_->shard(i).executor());
    svc.conferences = rooms;
    // The shard's legs, for /metrics: live ones are read when scraped, ended ones are folded in.
    struct LegRegistry {
      std::set<const rtp::AudioLeg*> live;
      http::MediaTotals ended;
    };
    auto legs = std::make_shared<LegRegistry>();
    auto totals_of = [](const rtp::LegStats& s) {
      http::MediaTotals t;
      t.packets_in = s.rtp_packets, t.packets_out = s.sent_packets, t.bytes_in = s.rtp_bytes, t.bytes_out = s.sent_bytes;
      t.rtcp_in = s.rtcp_packets, t.rtcp_out = s.rtcp_sent;
      t.lost = s.lost > 0 ? static_cast<std::uint64_t>(s.lost) : 0;
      t.concealed = s.concealed_frames, t.fec_recovered = s.fec_recovered;
      t.srtp_failures = s.srtp_failures, t.unauthenticated = s.unauthenticated, t.foreign_source = s.foreign_source;
      t.malformed = s.malformed, t.unknown_pt = s.unknown_pt, t.relayed = s.relayed_out;
      t.socket_drops = s.socket_drops;
      return t;
    };
    svc.media_totals = [legs, weak_rooms = std::weak_ptr<media::ConferenceTable>(rooms), totals_of] {
      http::MediaTotals t = legs->ended;
      t.legs = legs->live.size();
      for (const auto* l : legs->live) t += totals_of(l->stats());
      if (auto r = weak_rooms.lock()) {
        t.conferences = r->size();
        t.skipped_ticks += r->skipped_ticks();
        t.relaying = r->relaying();
      }
      return t;
    };
    rtp::AudioLeg::Options lo;
    lo.keying = cfg_.media.keying == "dtls" ? sdp::Keying::dtls : sdp::Keying::sdes;
    lo.keying_fallback = cfg_.media.keying_fallback;
    lo.opus_complexity = cfg_.media.opus_complexity;
    lo.opus_bitrate = cfg_.media.opus_bitrate;
    // Runs on the session's shard (dial_on): the leg joins that session's conference there, and
    // leaves it when the call's media stops.
    svc.mute_media = [weak_rooms = std::weak_ptr<media::ConferenceTable>(rooms)](
                         const std::string& sid, const std::string& call_id, bool muted) {
      auto t = weak_rooms.lock();
      auto room = t ? t->find(sid) : nullptr;
      return room && room->set_muted(call_id, muted);
    };
    svc.make_media = [ex = rt_->shard(i).executor(), ports, media_addr, lo, legs, totals_of,
                      weak_rooms = std::weak_ptr<media::ConferenceTable>(rooms)](const http::MediaRequest& r)
        -> std::unique_ptr<sip::CallMedia> {
      auto o = lo;
      o.secure = r.secure;
      auto leg = rtp::AudioLeg::create(ex, ports, media_addr, o);
      auto rooms = weak_rooms.lock();
      if (!leg || !rooms) return leg;
      auto room = rooms->get_or_create(r.session_id);
      const auto id = room->join(&leg->participant(), r.call_id, /*anchor=*/true, r.stream_id);
      if (!r.streams.empty()) room->set_subset(r.call_id, r.streams);
      if (r.muted) room->set_muted(r.call_id, true);
      legs->live.insert(leg.get());
      leg->on_stop([weak_rooms, room, id, sid = r.session_id, legs, totals_of, l = leg.get()] {
        legs->ended += totals_of(l->stats());
        legs->live.erase(l);
        room->leave(id);
        if (auto t = weak_rooms.lock()) t->release_if_empty(sid);
      });
      return leg;
    };
  }
  http::RestOptions ropts;
  ropts.jwt_skew_s = cfg_.limits.jwt_skew_s;
  ropts.dial_body_limit = cfg_.limits.dial_body_bytes;
  api_ = std::make_unique<http::RestApi>(*rt_, raw, ropts);
  signaling::ClientApiOptions copts;
  copts.public_url = cfg_.clients.public_url;
  copts.ice_servers_json = cfg_.clients.ice_servers_json;
  copts.routed_media = cfg_.clients.routed_media;
  copts.media_address = cfg_.clients.media_address.empty() ? cfg_.http_address : cfg_.clients.media_address;
  copts.media_port_base = cfg_.clients.media_port_base;
  clients_ = std::make_unique<signaling::ClientApi>(*rt_, std::move(raw), copts);
  api_->add_metrics_source([c = clients_.get()] { return client_metrics(c); });
  api_->add_metrics_source([rt = rt_.get()] { return receive_metrics(rt); });
  if ((cfg_.dev_project || cfg_.clients.demo) && !cfg_.projects.empty())
    demo_ = std::make_unique<Demo>(*rt_, *api_, DemoOptions{cfg_.projects[0].api_key, cfg_.projects[0].api_secret,
                                                           cfg_.clients.client_script});
}

namespace {
// One origin serves both front doors: the browser client's requests first (they are recognised
// by their paths), then the REST API.
asio::awaitable<http::Response> route(http::RestApi* api, signaling::ClientApi* clients, Demo* demo,
                                      http::Request req) {
  if (demo)
    if (auto res = co_await demo->handle(req)) co_return std::move(*res);
  if (auto res = co_await clients->handle(req)) co_return std::move(*res);
  co_return co_await api->handle(std::move(req));
}
}  // namespace

App::~App() {
  if (started_ && !stopped_) drain(std::chrono::milliseconds(0));
  // Destruction order: listeners and services own I/O objects bound to the shards' io_contexts,
  // so they go before the runtime.
  servers_.clear();
  clients_.reset();  // the SFU's sockets belong to the shards' io_contexts
  services_.clear();
  rt_.reset();
}

namespace {
// Samples the shard's CPU share (runtime::LoadMeter) until the shard drains; runs on the shard.
asio::awaitable<void> meter_shard(http::ShardServices* s) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!s->draining) {
    s->load->sample(std::chrono::steady_clock::now(), s->thread_cpu());
    t.expires_after(runtime::LoadMeter::k_period);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}
}  // namespace

void App::start() {
  // The DTLS-SRTP certificate is made once per process; make it now, not on the first call.
  (void)rtp::DtlsIdentity::process();
  auto addr = asio::ip::make_address(cfg_.http_address);
  std::uint16_t port = cfg_.http_port;
  for (unsigned i = 0; i < rt_->size(); ++i) {
    http::ServerOptions so;
    so.endpoint = asio::ip::tcp::endpoint(addr, port);
    so.header_limit = cfg_.limits.http_header_bytes;
    so.body_limit = cfg_.limits.http_body_bytes;
    so.read_timeout = cfg_.limits.http_read_timeout;
    so.idle_timeout = cfg_.limits.http_idle_timeout;
    so.max_connections = cfg_.limits.http_connections_per_shard;
    auto* api = api_.get();
    auto* clients = clients_.get();
    auto* demo = demo_.get();
    servers_.push_back(std::make_unique<http::Server>(
        rt_->shard(i).executor(), so,
        [api, clients, demo](http::Request r) { return route(api, clients, demo, std::move(r)); },
        [clients](http::Request r, asio::ip::tcp::socket s) { return clients->upgrade(std::move(r), std::move(s)); }));
    // Port 0: the first shard picks a free port; the others join it with SO_REUSEPORT.
    port = servers_.back()->listen();
  }
  http_port_ = port;
  for (auto& svc : services_) svc->sip->start();  // binds each shard's SIP ports (throws on failure)
  for (auto& svc : services_) {  // overload protection (limits.shardBusyPercent)
    svc->load = std::make_shared<runtime::LoadMeter>();
    svc->busy_limit = static_cast<double>(cfg_.limits.shard_busy_percent) / 100.0;
    asio::co_spawn(svc->shard.executor(), meter_shard(svc.get()), asio::detached);
  }
  clients_->start();                               // and each shard's WebRTC port
  rt_->start(cfg_.pin_threads);
  started_ = true;
  log::info("app", "listening on http://{}:{} with {} shard(s)", cfg_.http_address, http_port_, rt_->size());
}

std::array<std::uint16_t, 3> App::sip_ports(unsigned i) const {
  auto& ua = *services_.at(i)->sip;
  return {ua.port(sip::Transport::udp), ua.port(sip::Transport::tcp), ua.port(sip::Transport::tls)};
}

unsigned App::shards() const { return rt_->size(); }

namespace {
// Runs on each shard: stop taking work, then flush that shard's webhooks until the deadline.
asio::awaitable<void> drain_shard(http::Server* server, http::ShardServices* s, signaling::ClientApi* clients,
                                  std::chrono::steady_clock::time_point deadline) {
  server->stop_accepting();
  s->draining = true;
  clients->close_clients_here();
  // Hang up every call (CANCEL or BYE) and give them until the deadline to end, so their
  // callDestroyed is queued before the webhook flush.
  s->sip->hangup_all(/*abandon_unanswered=*/true);
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (s->sip->active_calls() > 0 && std::chrono::steady_clock::now() < deadline) {
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(asio::use_awaitable);
  }
  co_await s->webhooks.drain(deadline);
  s->sip->stop();
}
}  // namespace

runtime::Shard& App::shard(unsigned i) { return rt_->shard(i); }
http::ShardServices& App::services(unsigned i) { return *services_[i]; }

bool App::drain(std::chrono::milliseconds timeout) {
  if (!started_ || stopped_) return true;
  stopped_ = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  log::info("app", "draining (deadline {} ms)", timeout.count());
  std::vector<std::future<void>> done;
  for (unsigned i = 0; i < rt_->size(); ++i)
    done.push_back(asio::co_spawn(rt_->shard(i).executor(),
                                  drain_shard(servers_[i].get(), services_[i].get(), clients_.get(), deadline), asio::use_future));
  bool clean = true;
  for (auto& f : done) {
    // A little slack past the deadline for the drain coroutines to observe it.
    if (f.wait_until(deadline + std::chrono::milliseconds(500)) != std::future_status::ready) clean = false;
  }
  // Whatever is still queued is dropped (counted), on each shard's own thread: the sender's
  // queues, sockets and timers belong to it (runtime.hpp: only the owner thread touches them).
  std::vector<std::future<void>> stopped;
  for (unsigned i = 0; i < rt_->size(); ++i) {
    auto p = std::make_shared<std::promise<void>>();
    stopped.push_back(p->get_future());
    asio::post(rt_->shard(i).executor(), [svc = services_[i].get(), p] {
      svc->webhooks.stop();
      p->set_value();
    });
  }
  const auto stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (auto& f : stopped)  // a wedged shard is stopped below anyway (its sender then stops after join)
    if (f.wait_until(stop_deadline) != std::future_status::ready) clean = false;
  rt_->stop();
  rt_->join();
  log::info("app", "drained {}", clean ? "cleanly" : "at the deadline");
  return clean;
}

}  // namespace sb::app
