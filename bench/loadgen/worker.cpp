// One load-generator worker: the REST client, the SIP UAS and the far ends' media (loadgen.hpp).
#include "loadgen.hpp"
#include "leg.hpp"

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "core/client_token.hpp"
#include "core/jwt.hpp"
#include "rtp/packet.hpp"
#include "rtp/sdes.hpp"
#include "rtp/srtp.hpp"
#include "sdp/sdp.hpp"
#include "sip/message.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <future>
#include <netinet/in.h>
#include <sys/socket.h>
#include <numbers>

namespace lg {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using udp = asio::ip::udp;
using namespace std::chrono_literals;

std::optional<CodecChoice> codec_by_name(std::string_view name) {
  using sb::mix::CodecId;
  if (name == "pcmu") return CodecChoice{CodecId::pcmu, 0, "PCMU", 8000};
  if (name == "pcma") return CodecChoice{CodecId::pcma, 8, "PCMA", 8000};
  if (name == "g722") return CodecChoice{CodecId::g722, 9, "G722", 8000};
  if (name == "opus") return CodecChoice{CodecId::opus, 111, "opus", 48000};
  return std::nullopt;
}

// A session the generator created and the legs it dialed into it.
struct Worker::Conn {
  beast::tcp_stream s;
  beast::flat_buffer b;
  explicit Conn(asio::io_context& io) : s(io) {}
};

namespace {

// The header value of a parsed SIP message, or "".
std::string_view header(const sb::sip::Message& m, sb::sip::HeaderId id) {
  const auto* h = m.find(id);
  return h ? h->value : std::string_view{};
}

Clock::duration to_duration(double us) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::micro>(us));
}

std::string_view uri_user(std::string_view uri) {
  auto colon = uri.find(':');
  auto at = uri.find('@');
  if (colon == std::string_view::npos || at == std::string_view::npos || at < colon) return {};
  return uri.substr(colon + 1, at - colon - 1);
}

std::string angle_uri(std::string_view v) {
  auto l = v.find('<'), r = v.find('>');
  if (l == std::string_view::npos || r == std::string_view::npos || r < l) return std::string(v);
  return std::string(v.substr(l + 1, r - l - 1));
}

std::uint32_t cseq_number(std::string_view v) { return static_cast<std::uint32_t>(std::strtoul(std::string(v).c_str(), nullptr, 10)); }
std::string_view cseq_method(std::string_view v) {
  auto sp = v.find(' ');
  return sp == std::string_view::npos ? std::string_view{} : v.substr(sp + 1);
}

// A response to `m` (RFC 3261 §8.2.6.2: Via, From, Call-ID, CSeq copied; To gets our tag).
std::string response(const sb::sip::Message& m, int code, std::string_view reason, std::string_view to_tag,
                     std::string_view extra = {}, std::string_view body = {}) {
  std::string out = fmt::format("SIP/2.0 {} {}\r\n", code, reason);
  for (const auto& h : m.find_all(sb::sip::HeaderId::via)) out += fmt::format("Via: {}\r\n", h.value);
  out += fmt::format("From: {}\r\n", header(m, sb::sip::HeaderId::from));
  auto to = header(m, sb::sip::HeaderId::to);
  if (!to_tag.empty() && to.find(";tag=") == std::string_view::npos)
    out += fmt::format("To: {};tag={}\r\n", to, to_tag);
  else
    out += fmt::format("To: {}\r\n", to);
  out += fmt::format("Call-ID: {}\r\nCSeq: {}\r\n", header(m, sb::sip::HeaderId::call_id), header(m, sb::sip::HeaderId::cseq));
  out += extra;
  out += fmt::format("Content-Length: {}\r\n\r\n", body.size());
  out += body;
  return out;
}

// Our SDP (RFC 3264 answer, or our hold re-offer), the version bumped on every change.
std::string make_sdp(const Leg& leg, std::string_view direction) {
  return fmt::format("v=0\r\no=loadgen {} {} IN IP4 {}\r\ns=loadgen\r\nc=IN IP4 {}\r\nt=0 0\r\n{}a={}\r\n{}",
                     leg.sdp_session, leg.sdp_version, leg.sdp_ip, leg.sdp_ip, leg.sdp_media, direction, leg.sdp_crypto);
}

}  // namespace

Worker::Worker(int index, const Options& opt, const std::map<sb::mix::CodecId, EncodedCorpus>& corpora)
    : index_(index), opt_(opt), corpora_(corpora), sip_(io_), media_(io_), ng_(io_) {
  sip_.open(udp::v4());
  sip_.bind(udp::endpoint(asio::ip::make_address(opt_.sip_ip), 0));
  sip_.set_option(asio::socket_base::receive_buffer_size(4 << 20));
  sip_port_ = sip_.local_endpoint().port();
  media_.open(udp::v4());
  media_.bind(udp::endpoint(asio::ip::make_address(opt_.sip_ip), 0));
  // Bursts of every call's packets: room for ~1 s of 2,000 calls (the kernel caps it at
  // net.core.rmem_max unless run as root, which uses SO_RCVBUFFORCE).
  const int big = 16 << 20;
  if (::setsockopt(media_.native_handle(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
    media_.set_option(asio::socket_base::receive_buffer_size(big));
  if (::setsockopt(media_.native_handle(), SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0)
    media_.set_option(asio::socket_base::send_buffer_size(big));
  media_.non_blocking(true);
  media_port_ = media_.local_endpoint().port();
}

std::uint64_t Worker::endpoint_key(const udp::endpoint& ep) {
  const auto* sa = reinterpret_cast<const sockaddr_in*>(ep.data());
  return (static_cast<std::uint64_t>(sa->sin_addr.s_addr) << 16) | ntohs(sa->sin_port);
}

Worker::~Worker() = default;

void Worker::start() {
  auto log = [this](std::exception_ptr e) {
    if (!e) return;
    try { std::rethrow_exception(e); } catch (const std::exception& x) {
      std::fprintf(stderr, "loadgen worker %d: %s\n", index_, x.what());
    }
  };
  asio::co_spawn(io_, sip_loop(), log);
  asio::co_spawn(io_, media_clock(), log);
  asio::co_spawn(io_, sweeper(), log);
  asio::co_spawn(io_, media_rx(), log);
  if (!opt_.rtpengine.empty()) {
    const auto colon = opt_.rtpengine.rfind(':');
    ng_server_ = udp::endpoint(asio::ip::make_address(opt_.rtpengine.substr(0, colon)),
                               static_cast<std::uint16_t>(std::stoi(opt_.rtpengine.substr(colon + 1))));
    ng_.open(udp::v4());
    ng_.bind(udp::endpoint(asio::ip::make_address(opt_.sip_ip), 0));
    asio::co_spawn(io_, ng_loop(), log);
  }
  thread_ = std::thread([this] { io_.run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::stop() {
  asio::post(io_, [this] {
    stopping_ = true;
    boost::system::error_code ec;
    sip_.close(ec);
    media_.close(ec);
    ng_.close(ec);
    idle_.clear();
  });
}

std::vector<double> Worker::take_latencies_us() {
  return on_worker([this] { return std::exchange(latencies_us_, {}); });
}
std::vector<double> Worker::take_dial_us() {
  return on_worker([this] { return std::exchange(dial_us_, {}); });
}
std::vector<std::string> Worker::call_ids() {
  return on_worker([this] {
    std::vector<std::string> ids;
    for (auto& [u, leg] : by_user_)
      if (leg->st == Leg::St::active && !leg->rest_call_id.empty()) ids.push_back(leg->rest_call_id);
    return ids;
  });
}

// ---- REST ---------------------------------------------------------------------------------

std::string Worker::auth_token() {
  const auto now = sb::unix_s();
  if (token_.empty() || now - token_iat_ > 60) {
    token_iat_ = now;
    token_ = sb::core::jwt_encode_hs256(
        boost::json::object{{"iss", opt_.key}, {"ist", "project"}, {"iat", now}, {"exp", now + 300},
                            {"jti", sb::random_alnum(12)}},
        opt_.secret);
  }
  return token_;
}

asio::awaitable<Worker::HttpResult> Worker::http(int verb, std::string target, std::string body,
                                                 std::string content_type) {
  // A pooled keep-alive connection may have been closed by the server meanwhile: then one retry on
  // a fresh connection. A request that failed on a fresh connection is not repeated (a dial is not
  // idempotent: the server may have acted on it).
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Conn> c;
    boost::system::error_code ec;
    const bool pooled = !idle_.empty() && attempt == 0;
    if (pooled) {
      c = std::move(idle_.back());
      idle_.pop_back();
    } else {
      c = std::make_unique<Conn>(io_);
      c->s.expires_after(5s);
      const asio::ip::tcp::endpoint ep(asio::ip::make_address(opt_.host), opt_.port);
      co_await c->s.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return HttpResult{};
    }
    bhttp::request<bhttp::string_body> req{static_cast<bhttp::verb>(verb), target, 11};
    req.set(bhttp::field::host, opt_.host);
    req.set("X-OPENTOK-AUTH", auth_token());
    req.set(bhttp::field::accept, "application/json");
    if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    c->s.expires_after(10s);
    co_await bhttp::async_write(c->s, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (pooled) continue;
      co_return HttpResult{};
    }
    bhttp::response<bhttp::string_body> res;
    co_await bhttp::async_read(c->s, c->b, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      // A stale pooled connection fails at once (end of stream, reset) with no response byte.
      if (pooled && (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
                     ec == asio::error::broken_pipe || ec == asio::error::eof))
        continue;
      co_return HttpResult{};
    }
    HttpResult out{static_cast<int>(res.result_int()), std::move(res.body())};
    if (res.keep_alive() && idle_.size() < 256) idle_.push_back(std::move(c));
    co_return out;
  }
  co_return HttpResult{};
}

void Worker::launch(CallPlan plan, Clock::time_point intended) {
  asio::post(io_, [this, plan = std::move(plan), intended]() mutable {
    // A session that throws (a bad address, …) is counted, never lost silently.
    auto counted = [this](std::exception_ptr e) {
      if (!e) return;
      c_.session_failures.fetch_add(1, std::memory_order_relaxed);
      try { std::rethrow_exception(e); } catch (const std::exception& x) {
        if (opt_.verbose) std::fprintf(stderr, "session: %s\n", x.what());
      }
    };
    if (!opt_.rtpengine.empty()) {
      asio::co_spawn(io_, run_session_ng(std::move(plan)), counted);
      return;
    }
    asio::co_spawn(io_, run_session(std::move(plan), intended), counted);
  });
}

void Worker::precreate_sessions(int n) {
  asio::post(io_, [this, n] {
    asio::co_spawn(io_, [this, n]() -> asio::awaitable<void> {
      for (int i = 0; i < n && !stopping_; ++i) {
        if (auto run = co_await create_session()) presessions_.push_back(std::move(run));
      }
    }, asio::detached);
  });
}

// A routed session made through REST (POST /session/create); null, counted, when that fails.
asio::awaitable<std::shared_ptr<SessionRun>> Worker::create_session() {
  auto r = co_await http(static_cast<int>(bhttp::verb::post), "/session/create", "p2p.preference=disabled",
                         "application/x-www-form-urlencoded");
  auto run = std::make_shared<SessionRun>();
  try {
    if (r.status != 200) throw std::runtime_error("status");
    run->session_id = std::string(boost::json::parse(r.body).as_array().at(0).as_object().at("session_id").as_string());
  } catch (const std::exception&) {
    c_.session_failures.fetch_add(1, std::memory_order_relaxed);
    co_return nullptr;
  }
  co_return run;
}

Worker::HttpResult Worker::http_sync(int verb, std::string target) {
  return asio::co_spawn(io_, http(verb, std::move(target), {}, {}), asio::use_future).get();
}

std::size_t Worker::presession_count() {
  return on_worker([this] { return presessions_.size(); });
}

asio::awaitable<void> Worker::run_session(CallPlan plan, Clock::time_point intended) {
  std::shared_ptr<SessionRun> run;
  if (plan.presession && !presessions_.empty()) {
    run = std::move(presessions_.back());
    presessions_.pop_back();
  } else if (opt_.reuse_sessions && !free_sessions_.empty() && Clock::now() - free_sessions_.front().second > 2s) {
    // Only a session whose call ended cleanly more than 2 s ago: the server has finished tearing
    // down that call's connections, so the new call meets an empty room (and relays) rather than
    // the last one's leftovers. Otherwise a new session, which joins the pool when its call ends.
    run = std::make_shared<SessionRun>();
    run->session_id = std::move(free_sessions_.front().first);
    free_sessions_.pop_front();
  } else {
    run = co_await create_session();
    if (!run) co_return;
    intended = Clock::now();  // the dial's latency starts after its session exists
  }
  c_.sessions.fetch_add(1, std::memory_order_relaxed);
  const auto now_s = sb::unix_s();
  run->token = sb::core::make_t1_token(opt_.key, opt_.secret, run->session_id, sb::core::Role::publisher, now_s,
                                       now_s + 86400, "", sb::random_alnum(8));
  run->plan = plan;
  run->legs = plan.leg_codecs.size();
  std::vector<std::shared_ptr<Leg>> legs;
  for (std::size_t i = 0; i < plan.leg_codecs.size(); ++i) {
    auto leg = std::make_shared<Leg>();
    leg->user = fmt::format("lg{}x{}", index_, next_leg_++);
    leg->run = run;
    leg->codec = *codec_by_name(plan.leg_codecs[i]);
    leg->secure = plan.secure;
    leg->media = plan.media;
    leg->lifetime = plan.lifetime;
    leg->hold_first = plan.hold_before_bye;
    leg->dialed_at = Clock::now();  // the sweeper fails a leg whose INVITE never comes
    legs.push_back(leg);
    by_user_[leg->user] = leg;
  }
  if (legs.size() == 2) {
    legs[0]->peer = legs[1];
    legs[1]->peer = legs[0];
  }
  for (auto& leg : legs) {
    const auto uri = plan.target.empty() ? fmt::format("sip:{}@{}:{}", leg->user, opt_.sip_ip, sip_port_) : plan.target;
    const auto body = fmt::format(
        R"({{"sessionId":"{}","token":"{}","sip":{{"uri":"{}","secure":{},"from":"loadgen@{}"}}}})",
        run->session_id, run->token, uri, leg->secure ? "true" : "false", opt_.sip_ip);
    leg->dialed_at = Clock::now();
    c_.dials.fetch_add(1, std::memory_order_relaxed);
    auto r = co_await http(static_cast<int>(bhttp::verb::post), fmt::format("/v2/project/{}/dial", opt_.key), body,
                           "application/json");
    const auto done = Clock::now();
    if (dial_us_.size() < 1'000'000)
      dial_us_.push_back(std::chrono::duration<double, std::micro>(done - intended).count());
    intended = done;  // a session's second dial is sent when the first is answered (closed loop)
    std::string id;
    if (r.status == 200) {
      try {
        id = std::string(boost::json::parse(r.body).as_object().at("id").as_string());
      } catch (const std::exception&) {
      }
    }
    if (id.empty()) {
      // The first 20 refused or failed dials of a run always say why (the server's JSON message),
      // then one in a thousand: a soak that ends with one 503 must show its reason.
      if (const auto n = c_.dial_errors_logged.fetch_add(1, std::memory_order_relaxed); opt_.verbose || n < 20 || n % 1000 == 0)
        std::fprintf(stderr, "dial %s (#%llu): %d %.300s\n", r.status == 503 ? "refused" : "failed",
                     static_cast<unsigned long long>(n + 1), r.status, r.body.c_str());
      // A 503 is the server shedding load (limits.shardBusyPercent): counted apart from failures.
      (r.status == 503 ? c_.dials_refused : c_.dial_failures).fetch_add(1, std::memory_order_relaxed);
      run->failed = true;   // e.g. 404: the session is gone; never reused
      end_leg(leg, false);  // counted once, as a dial failure
      continue;
    }
    leg->rest_call_id = std::move(id);
    if (!plan.target.empty()) end_leg(leg, false);  // an external far end: the REST side is all ours
  }
}

// ---- SIP UAS --------------------------------------------------------------------------------

asio::awaitable<void> Worker::sip_loop() {
  std::vector<char> buf(65536);
  udp::endpoint from;
  while (!stopping_) {
    boost::system::error_code ec;
    const auto n = co_await sip_.async_receive_from(asio::buffer(buf), from, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) break;
      continue;
    }
    on_sip(std::string_view(buf.data(), n), from);
  }
}

void Worker::send_sip(const std::string& text, const udp::endpoint& to) {
  boost::system::error_code ec;
  sip_.send_to(asio::buffer(text), to, 0, ec);
}

void Worker::on_sip(std::string_view datagram, const udp::endpoint& from) {
  using sb::sip::HeaderId;
  sb::sip::Message m;
  auto pr = sb::sip::parse_message(datagram, m, sb::sip::Limits{}, false);
  if (pr.status != sb::sip::parse_status::ok) {
    if (datagram.find_first_not_of("\r\n") != std::string_view::npos)  // not a keep-alive
      c_.sip_malformed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto call_id = std::string(header(m, HeaderId::call_id));
  auto it = by_call_id_.find(call_id);
  std::shared_ptr<Leg> leg = it == by_call_id_.end() ? nullptr : it->second;

  if (m.is_response()) {
    if (!leg) return;
    const auto cseq = header(m, HeaderId::cseq);
    if (m.status_code < 200) return;
    const auto method = cseq_method(cseq);
    if (method == "INVITE" && leg->hold_cseq != 0 && cseq_number(cseq) == leg->hold_cseq) {
      // RFC 3261 §13.2.2.4: ACK every 2xx to our re-INVITE, a retransmitted one too (our ACK may
      // have been lost), in a new transaction; §17.1.1.3: a non-2xx is ACKed in the INVITE's own
      // transaction (its branch).
      const bool ok = m.status_code < 300;
      const auto ack = fmt::format(
          "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {}:{};branch={};rport\r\nMax-Forwards: 70\r\n"
          "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
          leg->remote_target, opt_.sip_ip, sip_port_, ok ? "z9hG4bK" + sb::random_alnum(10) : leg->hold_branch,
          leg->our_to, header(m, HeaderId::to), leg->call_id, leg->hold_cseq);
      send_sip(ack, from);
      if (leg->st != Leg::St::holding) return;  // a retransmission: ACKed again, nothing else
      (ok ? c_.holds_ok : c_.legs_failed).fetch_add(1, std::memory_order_relaxed);
      leg->pending.clear();
      send_bye(leg);
      return;
    }
    if (cseq_number(cseq) != leg->pending_cseq) return;
    if (method == "BYE" && leg->st == Leg::St::bye_sent) {
      if (m.status_code < 300) {
        c_.byes_ok.fetch_add(1, std::memory_order_relaxed);
      } else if (c_.byes_rejected.fetch_add(1, std::memory_order_relaxed) < 20 || opt_.verbose) {
        std::fprintf(stderr, "bye rejected: %u %.*s (%s)\n", static_cast<unsigned>(m.status_code), static_cast<int>(m.reason.size()),
                     m.reason.data(), leg->call_id.c_str());
      }
      end_leg(leg, m.status_code >= 300);
    }
    return;
  }

  const auto method = m.method_text;
  if (method == "INVITE") {
    if (leg) {
      if (leg->st == Leg::St::answered && !leg->pending.empty()) {
        send_sip(leg->pending, from);  // the server retransmitted: our 2xx was lost or late
        return;
      }
      // A re-INVITE from the server (session refresh, re-keying): the same answer again
      // (unchanged, so the same o= version, RFC 3264 §8).
      send_sip(response(m, 200, "OK", {},
                        fmt::format("Contact: <sip:{}@{}:{}>\r\nContent-Type: application/sdp\r\n", leg->user,
                                    opt_.sip_ip, sip_port_),
                        leg->answer_sdp),
               from);
      return;
    }
    on_invite_new(m, from);
    return;
  }
  if (method == "ACK") {
    if (leg && leg->st == Leg::St::answered) {
      leg->pending.clear();
      leg->st = Leg::St::active;
      leg->was_active = true;
      leg->acked_at = Clock::now();
      c_.acked.fetch_add(1, std::memory_order_relaxed);
      c_.legs_active.fetch_add(1, std::memory_order_relaxed);
      if (leg->planned_end) send_bye(leg);
      else start_media(leg);
    }
    return;
  }
  if (method == "BYE") {
    send_sip(response(m, leg ? 200 : 481, leg ? "OK" : "Call/Transaction Does Not Exist", {}), from);
    if (leg && leg->st != Leg::St::ended) {
      c_.server_byes.fetch_add(1, std::memory_order_relaxed);
      if (!leg->planned_end) c_.unexpected_byes.fetch_add(1, std::memory_order_relaxed);
      end_leg(leg, !leg->planned_end);
    }
    return;
  }
  if (method == "CANCEL") {
    send_sip(response(m, 200, "OK", {}), from);
    return;
  }
  // OPTIONS, INFO, UPDATE without SDP, …: accepted and ignored.
  send_sip(response(m, leg ? 200 : 481, leg ? "OK" : "Call/Transaction Does Not Exist", {}), from);
}

void Worker::on_invite_new(const sb::sip::Message& m, const udp::endpoint& from) {
  using sb::sip::HeaderId;
  c_.invites.fetch_add(1, std::memory_order_relaxed);
  auto it = by_user_.find(std::string(uri_user(m.request_uri)));
  if (it == by_user_.end() || it->second->st != Leg::St::dialing) {
    c_.unknown_invites.fetch_add(1, std::memory_order_relaxed);
    send_sip(response(m, 404, "Not Found", sb::random_alnum(8)), from);
    return;
  }
  auto leg = it->second;
  auto fail = [&](int code, std::string_view why) {
    if (opt_.verbose) std::fprintf(stderr, "INVITE refused: %.*s\n", static_cast<int>(why.size()), why.data());
    send_sip(response(m, code, "Not Acceptable Here", sb::random_alnum(8)), from);
    end_leg(leg, true);
  };
  auto offer = sb::sdp::parse(m.body);
  if (!offer || offer.session->media.empty()) return fail(488, "no SDP offer");
  const auto& om = offer.session->media[0];
  const auto* conn = sb::sdp::effective_connection(*offer.session, om);
  if (!conn) return fail(488, "no connection address");
  // The payload number the server offers for our codec.
  int pt = -1;
  for (const auto& f : om.formats) {
    auto p = sb::sdp::payload_type(f);
    if (!p) continue;
    auto map = sb::sdp::find_rtpmap(om, *p);
    if (map && strcasecmp(map->encoding.c_str(), leg->codec.encoding) == 0 && map->clock_rate == leg->codec.clock) {
      pt = *p;
      break;
    }
  }
  if (pt < 0) return fail(488, "codec not offered");
  leg->codec.pt = pt;
  std::string crypto_line;
  if (leg->secure) {
    const sb::sdp::Crypto* theirs = nullptr;
    for (const auto& c : om.cryptos)
      if (c.suite == "AES_CM_128_HMAC_SHA1_80") theirs = &c;
    if (!theirs) return fail(488, "no AES_CM_128_HMAC_SHA1_80 crypto offered");
    leg->rx = sb::rtp::make_sdes_context(*theirs, sb::rtp::SrtpContext::Direction::inbound);
    const auto ours = sb::sdp::make_crypto(theirs->tag, theirs->suite, sb::random_bytes(30));
    leg->tx = sb::rtp::make_sdes_context(ours, sb::rtp::SrtpContext::Direction::outbound);
    if (!leg->rx || !leg->tx) return fail(488, "SRTP context");
    crypto_line = fmt::format("a=crypto:{} {} {}\r\n", ours.tag, ours.suite, ours.key_params);
  }
  boost::system::error_code ec;
  leg->rtp_peer = udp::endpoint(asio::ip::make_address(std::string(sb::sdp::connection_host(*conn)), ec), om.port);
  if (ec) return fail(488, "bad connection address");

  leg->call_id = std::string(header(m, HeaderId::call_id));
  leg->their_from = std::string(header(m, HeaderId::from));
  const auto tag = sb::random_alnum(10);
  leg->our_to = fmt::format("{};tag={}", header(m, HeaderId::to), tag);
  leg->remote_target = angle_uri(header(m, HeaderId::contact));
  if (leg->remote_target.empty()) leg->remote_target = angle_uri(leg->their_from);
  leg->sip_peer = from;
  const auto port = media_port_;
  const std::string rtpmap = leg->codec.id == sb::mix::CodecId::opus
                                 ? fmt::format("a=rtpmap:{} opus/48000/2\r\na=fmtp:{} useinbandfec=1\r\n", pt, pt)
                                 : fmt::format("a=rtpmap:{} {}/{}\r\n", pt, leg->codec.encoding, leg->codec.clock);
  leg->sdp_session = sb::random_u32() >> 1;
  leg->sdp_ip = opt_.sip_ip;
  leg->sdp_media = fmt::format("m=audio {} {} {}\r\n{}{}a=ptime:20\r\n", port, leg->secure ? "RTP/SAVP" : "RTP/AVP",
                               pt, rtpmap, om.rtcp_mux ? "a=rtcp-mux\r\n" : "");
  leg->sdp_crypto = crypto_line;
  leg->answer_sdp = make_sdp(*leg, "sendrecv");
  const auto contact = fmt::format("Contact: <sip:{}@{}:{}>\r\n", leg->user, opt_.sip_ip, sip_port_);
  send_sip(response(m, 180, "Ringing", tag, contact), from);
  leg->pending = response(m, 200, "OK", tag, contact + "Content-Type: application/sdp\r\n", leg->answer_sdp);
  leg->pending_cseq = cseq_number(header(m, HeaderId::cseq));
  leg->cseq = 1000;
  leg->rtx_interval = k_t1;
  leg->next_rtx = Clock::now() + k_t1;
  leg->give_up = Clock::now() + k_transaction_timeout;
  leg->st = Leg::St::answered;
  by_call_id_[leg->call_id] = leg;
  send_sip(leg->pending, from);
}

void Worker::send_bye(const std::shared_ptr<Leg>& leg) {
  if (leg->st == Leg::St::active && leg->hold_first) {
    send_hold(leg);
    return;
  }
  leg->pending_cseq = ++leg->cseq;
  leg->pending = fmt::format(
      "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {}:{};branch=z9hG4bK{};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\n"
      "To: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
      leg->remote_target, opt_.sip_ip, sip_port_, sb::random_alnum(12), leg->our_to, leg->their_from, leg->call_id,
      leg->pending_cseq);
  if (leg->st == Leg::St::active || leg->st == Leg::St::holding)
    c_.legs_active.fetch_sub(1, std::memory_order_relaxed);
  leg->st = Leg::St::bye_sent;
  leg->rtx_interval = k_t1;
  leg->next_rtx = Clock::now() + k_t1;
  leg->give_up = Clock::now() + k_transaction_timeout;
  c_.byes_sent.fetch_add(1, std::memory_order_relaxed);
  stop_media(*leg);
  send_sip(leg->pending, leg->sip_peer);
}

void Worker::send_hold(const std::shared_ptr<Leg>& leg) {
  // RFC 3264 §8.4: hold is a re-offer with a=sendonly (version bumped).
  ++leg->sdp_version;
  const std::string sdp = make_sdp(*leg, "sendonly");
  leg->pending_cseq = ++leg->cseq;
  leg->hold_cseq = leg->pending_cseq;
  leg->hold_branch = "z9hG4bK" + sb::random_alnum(12);
  leg->pending = fmt::format(
      "INVITE {} SIP/2.0\r\nVia: SIP/2.0/UDP {}:{};branch={};rport\r\nMax-Forwards: 70\r\nFrom: {}\r\n"
      "To: {}\r\nCall-ID: {}\r\nCSeq: {} INVITE\r\nContact: <sip:{}@{}:{}>\r\nContent-Type: application/sdp\r\n"
      "Content-Length: {}\r\n\r\n{}",
      leg->remote_target, opt_.sip_ip, sip_port_, leg->hold_branch, leg->our_to, leg->their_from, leg->call_id,
      leg->pending_cseq, leg->user, opt_.sip_ip, sip_port_, sdp.size(), sdp);
  leg->st = Leg::St::holding;
  leg->rtx_interval = k_t1;
  leg->next_rtx = Clock::now() + k_t1;
  leg->give_up = Clock::now() + k_transaction_timeout;
  stop_media(*leg);
  send_sip(leg->pending, leg->sip_peer);
}

void Worker::end_leg(const std::shared_ptr<Leg>& leg, bool failed) {
  if (leg->st == Leg::St::ended) return;
  if (leg->st == Leg::St::active || leg->st == Leg::St::holding)
    c_.legs_active.fetch_sub(1, std::memory_order_relaxed);
  leg->st = Leg::St::ended;
  leg->pending.clear();
  if (failed) c_.legs_failed.fetch_add(1, std::memory_order_relaxed);
  if (failed && leg->run) leg->run->failed = true;
  if (leg->was_active && leg->media && leg->corpus) {
    (leg->received >= 50 ? c_.legs_heard : c_.legs_deaf).fetch_add(1, std::memory_order_relaxed);
    if (leg->probes_found > 0) c_.legs_probed.fetch_add(1, std::memory_order_relaxed);
  }
  stop_media(*leg);
  if (leg->media_open) {
    leg->media_open = false;
    // Only our own mapping: a port the server reused may already belong to a newer leg.
    if (auto it = by_media_src_.find(endpoint_key(leg->rtp_peer)); it != by_media_src_.end() && it->second == leg)
      by_media_src_.erase(it);
  }
  by_user_.erase(leg->user);
  if (!leg->call_id.empty()) by_call_id_.erase(leg->call_id);
  if (leg->run && ++leg->run->ended == leg->run->legs) {
    c_.calls_done.fetch_add(1, std::memory_order_relaxed);
    if (opt_.reuse_sessions && !leg->run->failed && !leg->run->session_id.empty())
      free_sessions_.emplace_back(leg->run->session_id, Clock::now());
  }
  leg->run.reset();
  if (by_user_.empty() && !all_ended_waiters_.empty())
    for (auto& w : std::exchange(all_ended_waiters_, {})) w();
}

void Worker::hang_up_all(std::function<void()> done) {
  asio::post(io_, [this, done = std::move(done)]() mutable {
    all_ended_waiters_.push_back(std::move(done));
    std::vector<std::shared_ptr<Leg>> legs;
    for (auto& [u, leg] : by_user_) legs.push_back(leg);
    for (auto& leg : legs) {
      leg->planned_end = true;
      leg->hold_first = false;
      if (leg->via_ng) {
        if (!leg->ng_call_id.empty()) ng_delete(leg->ng_call_id, leg->ng_from_tag);
        end_leg(leg, false);
      } else if (leg->st == Leg::St::active) send_bye(leg);
      else if (leg->st == Leg::St::dialing && leg->rest_call_id.empty() && leg->dialed_at != Clock::time_point{} &&
               Clock::now() - leg->dialed_at > 10s)
        end_leg(leg, true);
    }
    if (by_user_.empty())
      for (auto& w : std::exchange(all_ended_waiters_, {})) w();
  });
}

// Retransmissions (RFC 3261 §17), planned hang-ups, and legs whose INVITE never came.
asio::awaitable<void> Worker::sweeper() {
  asio::steady_timer t(io_);
  std::vector<std::shared_ptr<Leg>> due;
  while (!stopping_) {
    t.expires_after(50ms);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    const auto now = Clock::now();
    due.clear();
    for (auto& [u, leg] : by_user_) due.push_back(leg);
    for (auto& leg : due) {
      if (leg->st == Leg::St::ended) continue;
      if (!leg->pending.empty() && now >= leg->next_rtx) {
        if (now >= leg->give_up) {
          if (c_.transaction_timeouts.fetch_add(1, std::memory_order_relaxed) < 20 || opt_.verbose)
            std::fprintf(stderr, "transaction timeout on %s (state %d)\n", leg->user.c_str(), static_cast<int>(leg->st));
          end_leg(leg, true);
          continue;
        }
        c_.retransmissions.fetch_add(1, std::memory_order_relaxed);
        send_sip(leg->pending, leg->sip_peer);
        leg->rtx_interval = std::min(leg->rtx_interval * 2, k_t2);
        leg->next_rtx = now + leg->rtx_interval;
      }
      if (leg->st == Leg::St::active && leg->lifetime.count() > 0 && now - leg->acked_at >= leg->lifetime) {
        leg->planned_end = true;
        send_bye(leg);
      }
      if (leg->st == Leg::St::dialing && leg->dialed_at != Clock::time_point{} && now - leg->dialed_at > 15s) {
        if (opt_.verbose) std::fprintf(stderr, "no INVITE for %s\n", leg->user.c_str());
        end_leg(leg, true);
      }
    }
  }
}

// ---- media ----------------------------------------------------------------------------------

void Worker::start_media(const std::shared_ptr<Leg>& leg) {
  if (!leg->media) return;
  auto cit = corpora_.find(leg->codec.id);
  if (cit == corpora_.end()) return;
  leg->corpus = &cit->second;
  // Each call starts at its own place in the corpus and sends at its own phase of the 20 ms
  // period, as independent phones would (not all packets of all calls at once).
  leg->pos = sb::random_u32() % leg->corpus->frames.size();
  leg->ssrc = sb::random_u32();
  leg->seq = static_cast<std::uint16_t>(sb::random_u32());
  leg->ts = sb::random_u32();
  leg->dec = sb::mix::make_decoder(leg->codec.id);
  leg->slot = static_cast<int>(sb::random_u32() % 20);
  slots_[leg->slot].push_back(leg);
  leg->media_open = true;
  by_media_src_[endpoint_key(leg->rtp_peer)] = leg;
}

void Worker::stop_media(Leg& leg) {
  if (leg.slot < 0) return;
  auto& v = slots_[leg.slot];
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i].get() == &leg) {
      v[i] = std::move(v.back());
      v.pop_back();
      break;
    }
  leg.slot = -1;
}

asio::awaitable<void> Worker::media_clock() {
  asio::steady_timer t(io_);
  const auto epoch = Clock::now();
  for (std::uint64_t k = 0; !stopping_; ++k) {
    const auto due = epoch + std::chrono::milliseconds(k);
    t.expires_at(due);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    const auto now = Clock::now();
    const auto late_us = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - due).count());
    auto& slot = slots_[k % 20];
    if (!slot.empty()) {
      if (late_us > 2000) c_.send_late.fetch_add(1, std::memory_order_relaxed);
      if (late_us > c_.send_late_max_us.load(std::memory_order_relaxed))
        c_.send_late_max_us.store(late_us, std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < slot.size(); ++i) {
      send_frame(*slot[i], now);
      if (tx_n_ == k_batch) flush_tx();
    }
    flush_tx();
  }
}

void Worker::send_frame(Leg& leg, Clock::time_point now) {
  const auto& frame = leg.corpus->frames[leg.pos];
  const auto n_frames = leg.corpus->frames.size();
  if (auto peer = leg.peer.lock(); peer && peer->st == Leg::St::active && peer->corpus) {
    if (leg.corpus->tone_start[(leg.pos + probe_silence_frames) % n_frames]) {
      // The probe's silence starts: the peer decodes from here with a fresh decoder, as the
      // calibration did (corpus.cpp), so its decoder state is not 2 s stale at the tone.
      peer->probe_open = true;
      peer->probe_sent = {};
      peer->dec = sb::mix::make_decoder(peer->codec.id);
      peer->tail.clear();
    } else if (leg.corpus->tone_start[leg.pos] && peer->probe_open) {
      peer->probe_sent = now;
      // Where the tone sits in the packets is the *sender's* codec's doing (its resampler and
      // encoder delay): subtract that calibration.
      peer->probe_offset_us = leg.corpus->onset_offset_us;
      c_.probes_sent.fetch_add(1, std::memory_order_relaxed);
    }
  }
  std::uint8_t* buf = tx_buf_[tx_n_];
  constexpr std::size_t cap = sizeof tx_buf_[0];
  sb::rtp::RtpHeader h;
  h.marker = leg.first_packet;
  h.payload_type = static_cast<std::uint8_t>(leg.codec.pt);
  h.seq = leg.seq++;
  h.timestamp = leg.ts;
  h.ssrc = leg.ssrc;
  leg.ts += leg.corpus->ts_step;
  leg.pos = (leg.pos + 1) % leg.corpus->frames.size();
  leg.first_packet = false;
  auto len = sb::rtp::write_rtp(std::span<std::uint8_t>(buf, cap - 32), h, frame);
  if (len == 0) return;
  if (leg.tx) {
    const int n = leg.tx->protect_rtp(std::span<std::uint8_t>(buf, cap), len);
    if (n < 0) return;
    len = static_cast<std::size_t>(n);
  }
  auto& m = tx_msgs_[tx_n_];
  std::memcpy(&tx_addr_[tx_n_], leg.rtp_peer.data(), sizeof(sockaddr_in));
  tx_iov_[tx_n_] = {tx_buf_[tx_n_], len};
  m.msg_hdr = {};
  m.msg_hdr.msg_name = &tx_addr_[tx_n_];
  m.msg_hdr.msg_namelen = sizeof(sockaddr_in);
  m.msg_hdr.msg_iov = &tx_iov_[tx_n_];
  m.msg_hdr.msg_iovlen = 1;
  ++tx_n_;
}

// The server's packets for every call of this worker arrive on one socket: wait until it is
// readable, then drain it k_batch datagrams per recvmmsg until it is empty; the source address
// (the server leg's RTP port) says which call a packet belongs to.
asio::awaitable<void> Worker::media_rx() {
  static thread_local std::uint8_t bufs[k_batch][2048];
  mmsghdr msgs[k_batch];
  iovec iov[k_batch];
  sockaddr_in from[k_batch];
  while (!stopping_) {
    boost::system::error_code ec;
    co_await media_.async_wait(udp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    for (;;) {
      for (std::size_t i = 0; i < k_batch; ++i) {
        iov[i] = {bufs[i], sizeof bufs[i]};
        msgs[i].msg_hdr = {};
        msgs[i].msg_hdr.msg_name = &from[i];
        msgs[i].msg_hdr.msg_namelen = sizeof from[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = ::recvmmsg(media_.native_handle(), msgs, k_batch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      const auto now = Clock::now();
      for (int i = 0; i < n; ++i) {
        const auto key = (static_cast<std::uint64_t>(from[i].sin_addr.s_addr) << 16) | ntohs(from[i].sin_port);
        auto it = by_media_src_.find(key);
        if (it == by_media_src_.end()) {
          c_.rtp_stray.fetch_add(1, std::memory_order_relaxed);  // a call that just ended
          continue;
        }
        on_rtp(*it->second, bufs[i], msgs[i].msg_len, now);
      }
      if (n < static_cast<int>(k_batch)) break;
    }
  }
}

void Worker::flush_tx() {
  for (std::size_t done = 0; done < tx_n_;) {
    const int n = ::sendmmsg(media_.native_handle(), tx_msgs_ + done, static_cast<unsigned>(tx_n_ - done), MSG_DONTWAIT);
    if (n <= 0) {
      c_.rtp_send_errors.fetch_add(tx_n_ - done, std::memory_order_relaxed);  // a full send buffer
      break;
    }
    c_.rtp_sent.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
    done += static_cast<std::size_t>(n);
  }
  tx_n_ = 0;
}

void Worker::on_rtp(Leg& leg, std::uint8_t* data, std::size_t len, Clock::time_point at) {
  std::span<std::uint8_t> pkt(data, len);
  if (sb::rtp::looks_like_rtcp(pkt)) {
    c_.rtcp_received.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (leg.rx) {
    const int n = leg.rx->unprotect_rtp(std::span<std::uint8_t>(data, 2048), len);
    if (n < 0) {
      c_.rtp_bad.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    len = static_cast<std::size_t>(n);
  }
  auto v = sb::rtp::parse_rtp(std::span<const std::uint8_t>(data, len));
  if (!v) {
    c_.rtp_bad.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (v->payload_type != leg.codec.pt) {
    c_.rtp_other.fetch_add(1, std::memory_order_relaxed);  // CN, telephone-event
    return;
  }
  c_.rtp_received.fetch_add(1, std::memory_order_relaxed);
  ++leg.received;
  if (!leg.have_rx || v->ssrc != leg.rx_ssrc) {
    leg.have_rx = true;
    leg.rx_ssrc = v->ssrc;
    leg.max_seq = v->seq;
    leg.last_ts = v->timestamp;
    leg.ts_ext = 0;
    leg.first_arrival = at;
    leg.min_transit_ms = 0;
    c_.rtp_expected.fetch_add(1, std::memory_order_relaxed);
  } else {
    const auto d = static_cast<std::int16_t>(static_cast<std::uint16_t>(v->seq - leg.max_seq));
    if (d > 0) {
      c_.rtp_expected.fetch_add(static_cast<std::uint64_t>(d), std::memory_order_relaxed);
      leg.max_seq = v->seq;
      leg.ts_ext += static_cast<std::int32_t>(v->timestamp - leg.last_ts);
      leg.last_ts = v->timestamp;
      // Transit relative to the first packet (RFC 3550 §6.4.1's D without the clock offset);
      // late = more than late_ms above the least transit seen on this stream.
      const double transit = std::chrono::duration<double, std::milli>(at - leg.first_arrival).count() -
                             static_cast<double>(leg.ts_ext) * 1000.0 / leg.codec.clock;
      leg.min_transit_ms = std::min(leg.min_transit_ms, transit);
      if (transit - leg.min_transit_ms > opt_.late_ms) c_.rtp_late.fetch_add(1, std::memory_order_relaxed);
    } else {
      c_.rtp_reordered.fetch_add(1, std::memory_order_relaxed);
      return;  // late or duplicate: counted, not decoded
    }
  }
  // The probe: decode what arrives after our peer sent its tone; the first 5 ms block that is
  // mostly 1 kHz and loud marks its arrival (latency = arrival + offset in packet − send time).
  if (leg.probe_open && leg.dec) {
    const bool tone_sent = leg.probe_sent != Clock::time_point{};
    if (tone_sent && at - leg.probe_sent > 800ms) {
      leg.probe_open = false;
      return;
    }
    // The decoded packet after the tail of the previous one, so a tone that starts near a packet's
    // end is found as early as it can be.
    static thread_local std::int16_t pcm[2 * sb::mix::max_frame_samples];
    const int rate = sb::mix::sample_rate(leg.codec.id);
    const int tail = std::min<int>(static_cast<int>(leg.tail.size()), rate / 200);
    std::copy(leg.tail.end() - tail, leg.tail.end(), pcm);
    const int n = leg.dec->decode(v->payload, std::span<std::int16_t>(pcm + tail, sb::mix::max_frame_samples));
    if (n <= 0) return;
    const int onset = probe_onset(pcm, tail + n, rate);
    if (onset >= 0 && !tone_sent) {
      leg.probe_open = false;  // a tone before ours was sent: not our probe
      return;
    }
    if (onset < 0) {
      leg.tail.assign(pcm + tail, pcm + tail + n);
      leg.tail_arrival = at;
      return;
    }
    leg.probe_open = false;
    c_.probes_found.fetch_add(1, std::memory_order_relaxed);
    ++leg.probes_found;
    // Playout model: a packet's first sample is heard when it arrives, the rest in real time; the
    // tone's first sample may lie in the previous packet's tail.
    const int prev_n = static_cast<int>(leg.tail.size());
    const auto seen = onset < tail ? leg.tail_arrival + to_duration((prev_n - tail + onset) * 1e6 / rate)
                                   : at + to_duration((onset - tail) * 1e6 / rate);
    const double us = std::chrono::duration<double, std::micro>(seen - leg.probe_sent).count() - leg.probe_offset_us;
    if (latencies_us_.size() < 1'000'000) latencies_us_.push_back(us);
    leg.tail.clear();
  }
}

}  // namespace lg
