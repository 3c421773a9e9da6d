#include "webrtc/router.hpp"

#include "base/crypto.hpp"
#include "base/log.hpp"
#include "webrtc/rewrite.hpp"

#include <boost/asio.hpp>

#include <algorithm>
#include <cstring>

namespace sb::webrtc {
namespace asio = boost::asio;
using udp = asio::ip::udp;

struct Router::Publication {
  std::string stream_id;
  std::unique_ptr<Peer> peer;  // null for a local publication (media this server originates)
  std::vector<Track> tracks;
  std::vector<Subscription*> subs;
  Events ev;
  std::function<void(std::span<const std::uint8_t>)> audio_tap;  // the session mix, if it listens
};

struct Router::Subscription {
  std::string subscriber_id, stream_id;
  std::unique_ptr<Peer> peer;
  std::vector<OutStream> outs;  // one per track of the publication, same order: our SSRC for it
  bool video = true;  // subscribeToVideo
  std::uint64_t remb_bps = 0;       // its last REMB estimate (0: none yet)
  Peer::Clock::time_point remb_at{};
  Publication* pub = nullptr;  // null once the stream is unpublished
  Events ev;
};

namespace {

StunAddress to_stun(const udp::endpoint& ep) {
  StunAddress a;
  a.port = ep.port();
  auto ip = ep.address();
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
  if (ip.is_v4()) {
    auto b = ip.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), a.ip.begin());
  } else {
    a.v6 = true;
    auto b = ip.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), a.ip.begin());
  }
  return a;
}

udp::endpoint to_endpoint(const StunAddress& a) {
  if (!a.v6) {
    asio::ip::address_v4::bytes_type b{};
    std::copy_n(a.ip.begin(), 4, b.begin());
    return {asio::ip::address_v4(b), a.port};
  }
  asio::ip::address_v6::bytes_type b{};
  std::copy_n(a.ip.begin(), 16, b.begin());
  return {asio::ip::address_v6(b), a.port};
}

// A PLI (RFC 4585 §6.3.1) behind an empty receiver report, so the packet is a valid compound
// (RFC 3550 §6.1) whether or not reduced-size RTCP was agreed.
std::size_t write_pli(std::span<std::uint8_t> out, std::uint32_t media_ssrc) {
  constexpr std::uint32_t kOurSsrc = 1;
  const std::uint8_t pkt[] = {0x80, 201, 0, 1, 0, 0, 0, kOurSsrc,                               // RR, RC=0
                              0x81, 206, 0, 2, 0, 0, 0, kOurSsrc,                               // PSFB FMT=1
                              std::uint8_t(media_ssrc >> 24), std::uint8_t(media_ssrc >> 16),
                              std::uint8_t(media_ssrc >> 8), std::uint8_t(media_ssrc)};
  std::memcpy(out.data(), pkt, sizeof pkt);
  return sizeof pkt;
}

// REMB (draft-alvestrand-rmcat-remb §2.2): a PSFB (RTCP PT 206) with FMT 15 whose FCI starts with
// "REMB", then the SSRC count, a 6-bit exponent and an 18-bit mantissa (bitrate = mantissa·2^exp).
// Visits each REMB of a compound packet; `fn(bytes of the 3-byte exp/mantissa field)`.
template <class F>
void for_each_remb(std::span<std::uint8_t> rtcp, F fn) {
  std::size_t off = 0;
  while (off + 4 <= rtcp.size()) {
    const std::size_t len = (std::size_t(rtcp[off + 2]) << 8 | rtcp[off + 3]) * 4 + 4;
    if ((rtcp[off] >> 6) != 2 || off + len > rtcp.size()) return;
    if (rtcp[off + 1] == 206 && (rtcp[off] & 0x1f) == 15 && len >= 20 &&
        std::memcmp(&rtcp[off + 12], "REMB", 4) == 0)
      fn(std::span<std::uint8_t>(&rtcp[off + 17], 3));
    off += len;
  }
}

}  // namespace

std::uint64_t remb_value(std::span<const std::uint8_t> f) {
  const unsigned exp = f[0] >> 2;
  const std::uint64_t mantissa = (std::uint64_t(f[0] & 3) << 16) | (std::uint64_t(f[1]) << 8) | f[2];
  return exp > 46 ? UINT64_MAX : mantissa << exp;  // 18 + 46 bits: beyond any real link
}

void set_remb_value(std::span<std::uint8_t> f, std::uint64_t bps) {
  unsigned exp = 0;
  while ((bps >> exp) > 0x3ffff) ++exp;
  const std::uint64_t mantissa = bps >> exp;
  f[0] = static_cast<std::uint8_t>(exp << 2 | (mantissa >> 16));
  f[1] = static_cast<std::uint8_t>(mantissa >> 8);
  f[2] = static_cast<std::uint8_t>(mantissa);
}

namespace {

// A subscriber that has not reported for this long no longer holds the publisher's rate down.
constexpr auto k_remb_stale = std::chrono::seconds(5);

// RTCP between one subscriber leg and its publisher (rewrite.hpp): toward the subscriber the
// publisher's SSRCs become the leg's own; toward the publisher the reverse, NACKed and reported
// sequence numbers mapped back.
struct LegRtcpMap final : RtcpMap {
  const std::vector<OutStream>& outs;
  bool to_subscriber;
  LegRtcpMap(const std::vector<OutStream>& o, bool to_sub) : outs(o), to_subscriber(to_sub) {}
  const OutStream* find(std::uint32_t s) const {
    for (const auto& o : outs)
      if ((to_subscriber ? o.source_ssrc() : o.ssrc()) == s) return &o;
    return nullptr;
  }
  std::uint32_t ssrc(std::uint32_t s) const override {
    const auto* o = find(s);
    return !o ? s : to_subscriber ? o->ssrc() : o->source_ssrc();
  }
  std::uint16_t seq(std::uint32_t media, std::uint16_t s) const override {
    const auto* o = to_subscriber ? nullptr : find(media);
    return o ? o->source_seq(s) : s;
  }
};

std::uint32_t rtp_ssrc(std::span<const std::uint8_t> pkt) {
  return std::uint32_t(pkt[8]) << 24 | std::uint32_t(pkt[9]) << 16 | std::uint32_t(pkt[10]) << 8 | pkt[11];
}

// Index of the track that declared `ssrc`, tracks.size() when none did.
std::size_t track_of(const std::vector<Track>& tracks, std::uint32_t ssrc) {
  for (std::size_t i = 0; i < tracks.size(); ++i)
    if (std::find(tracks[i].ssrcs.begin(), tracks[i].ssrcs.end(), ssrc) != tracks[i].ssrcs.end()) return i;
  return tracks.size();
}

// One forwarded packet to one subscriber: copied into `scratch`, rewritten for the leg, sent.
bool forward_rtp(Peer& peer, OutStream& out, std::span<const std::uint8_t> pkt, std::span<std::uint8_t> scratch) {
  std::memcpy(scratch.data(), pkt.data(), pkt.size());
  return out.rewrite_rtp(scratch.first(pkt.size())) && peer.send_rtp(scratch, pkt.size());
}

}  // namespace

Router::Router(asio::any_io_executor ex, asio::ip::address address, std::uint16_t port)
    : ex_(ex), address_(address), port_(port) {}

Router::~Router() {
  *alive_ = false;
  stop();
}

Router::AddrKey Router::key_of(const StunAddress& a) {
  AddrKey k{};
  k[0] = a.v6 ? 6 : 4;
  std::copy_n(a.ip.begin(), a.v6 ? 16 : 4, k.begin() + 1);
  k[17] = static_cast<std::uint8_t>(a.port >> 8);
  k[18] = static_cast<std::uint8_t>(a.port & 0xff);
  return k;
}

// Datagrams from the shard's receive path; every receive error is passed over (the loop this
// replaced carried on after any), until the router stops.
struct Router::ReceiveSink final : rtp::ReceiveMux::Sink {
  Router* router;
  explicit ReceiveSink(Router* r) : router(r) {}
  void on_receive(std::span<std::uint8_t> buf, std::size_t n, const udp::endpoint& from, int) override {
    if (!router || !router->running_) return;
    ++router->stats_.datagrams_in;
    router->on_datagram(buf.first(n), from);
  }
  bool on_receive_error(int, const boost::system::error_code&) override { return router && router->running_; }
};

void Router::start() {
  udp::endpoint ep(address_, port_);
  // Bursts of video (a keyframe is dozens of packets) must not overflow the default buffer.
  boost::system::error_code ec;
  socket_.open_bind(ep, {.reuse_address = true, .buffer_bytes = 4 * 1024 * 1024}, ec);
  if (ec) throw boost::system::system_error(ec, "WebRTC port");
  port_ = socket_.local_port();
  mux_ = &rtp::ReceiveMux::of(ex_);
  sink_ = std::make_shared<ReceiveSink>(this);
  rx_ = mux_->add(socket_.native_handle(), sink_, 0, ec);
  if (ec) {
    socket_.close();
    throw boost::system::system_error(ec, "WebRTC port receive");
  }
  timer_ = std::make_unique<asio::steady_timer>(ex_);
  running_ = true;
  auto log_end = [](std::exception_ptr e) {
    if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) {
        log::error("webrtc", "router loop ended: {}", x.what());
      }
  };
  asio::co_spawn(ex_, timer_loop(), log_end);
}

void Router::stop() {
  if (!running_) return;
  running_ = false;
  if (mux_ && rx_) mux_->remove(std::exchange(rx_, 0));  // before the socket closes
  if (sink_) sink_->router = nullptr;
  socket_.close();
  if (timer_) timer_->cancel();
}

// DTLS retransmissions and handshake deadlines, coarse-grained: one timer for the shard.
asio::awaitable<void> Router::timer_loop() {
  auto alive = alive_;
  for (;;) {
    timer_->expires_after(std::chrono::milliseconds(50));
    co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));  // cancelled only by stop()
    if (!*alive || !running_) co_return;
    const auto now = Peer::Clock::now();
    auto run = [&](Peer& p) {
      if (auto t = p.next_timer(); t && *t <= now) p.on_timer(now);
      if (p.check_consent(now)) ++stats_.consent_expired;
    };
    for (auto& [id, pub] : pubs_)
      if (pub->peer) run(*pub->peer);
    for (auto& [id, sub] : subs_) run(*sub->peer);
  }
}

void Router::send_to(const StunAddress& to, std::span<const std::uint8_t> bytes) {
  if (!socket_.is_open()) return;
  boost::system::error_code ec;
  socket_.send_to(bytes, to_endpoint(to), ec);
  if (ec) ++stats_.send_errors;  // would_block included: media is dropped, never queued
  else ++stats_.datagrams_out;
}

void Router::on_datagram(std::span<std::uint8_t> d, const udp::endpoint& ep) {
  const StunAddress from = to_stun(ep);
  const bool stun = looks_like_stun(d);
  Peer* peer = nullptr;
  if (stun) {
    // ICE checks name their peer connection: USERNAME = <our ufrag>:<theirs> (RFC 8445 §7.2.2).
    if (auto local = stun_username_local_part(d)) {
      if (auto it = by_ufrag_.find(*local); it != by_ufrag_.end()) peer = it->second;
    }
  } else if (auto it = by_address_.find(key_of(from)); it != by_address_.end()) {
    peer = it->second;
  }
  if (!peer) {
    ++stats_.unknown_source;
    return;
  }
  switch (peer->receive(d, from, Peer::Clock::now())) {
    case PeerInput::accepted: break;
    case PeerInput::ice_rejected: ++stats_.ice_rejected; break;
    case PeerInput::foreign: ++stats_.foreign_source; break;
    case PeerInput::before_keys: ++stats_.before_keys; break;
    case PeerInput::srtp_auth: ++stats_.srtp_auth; break;
    case PeerInput::closed: ++stats_.unknown_source; break;  // a leg on its way out: as if gone
  }
  // Only a check can nominate a pair; once it has, the pair's address routes DTLS and SRTP to
  // this peer (the media path itself does one lookup and no insert).
  if (stun)
    if (auto sel = peer->remote_address()) by_address_.insert_or_assign(key_of(*sel), peer);
}

LocalIce Router::local_ice(const IceCredentials& c, const rtp::DtlsIdentity& identity) const {
  LocalIce l;
  l.ufrag = c.ufrag;
  l.pwd = c.pwd;
  l.fingerprint = identity.fingerprint_sha256();
  l.address = address_.is_unspecified() ? "127.0.0.1" : address_.to_string();
  l.port = port_;
  return l;
}

void Router::forget(Peer* p) {
  std::erase_if(by_ufrag_, [&](const auto& e) { return e.second == p; });
  std::erase_if(by_address_, [&](const auto& e) { return e.second == p; });
}

void Router::request_keyframe(Publication& pub) {
  if (!pub.peer) return;  // a local publication: our encoder has no keyframes to ask for
  for (const auto& t : pub.tracks) {
    if (t.kind != "video" || t.ssrcs.empty()) continue;
    const auto n = write_pli(scratch_, t.ssrcs.front());
    if (pub.peer->send_rtcp(scratch_, n)) ++stats_.keyframe_requests;
  }
}

// Defers a user callback to the next turn of the loop: a callback may unpublish, which destroys
// the peer that is calling.
template <class F>
static void later(asio::any_io_executor ex, std::shared_ptr<bool> alive, F f) {
  asio::post(ex, [alive, f = std::move(f)] {
    if (*alive) f();
  });
}

std::optional<std::string> Router::publish(const std::string& stream_id, std::string_view offer_sdp, Events ev,
                                           std::string* why) {
  if (pubs_.contains(stream_id)) {
    if (why) *why = "stream already published";
    return std::nullopt;
  }
  auto offer = parse_publisher_offer(offer_sdp);
  if (!offer) {
    if (why) *why = "offer refused: " + offer.error.message();
    return std::nullopt;
  }
  auto pub = std::make_unique<Publication>();
  pub->stream_id = stream_id;
  pub->tracks = offer->tracks;
  pub->ev = std::move(ev);
  Publication* raw = pub.get();
  Peer::Callbacks cb;
  cb.on_connected = [this, raw] {
    later(ex_, alive_, [this, id = raw->stream_id] {
      if (auto it = pubs_.find(id); it != pubs_.end() && it->second->ev.on_connected) it->second->ev.on_connected();
    });
  };
  cb.on_failed = [this, raw](std::string_view w) {
    later(ex_, alive_, [this, id = raw->stream_id, w = std::string(w)] {
      if (auto it = pubs_.find(id); it != pubs_.end() && it->second->ev.on_failed) it->second->ev.on_failed(w);
    });
  };
  cb.on_rtp = [this, raw](std::span<std::uint8_t> pkt) {
    // Only the SSRCs the offer declared are forwarded: an authenticated publisher spraying new
    // SSRCs would otherwise make libsrtp grow a stream per SSRC on every subscriber's context.
    if (pkt.size() < 12) return;
    const std::size_t ti = track_of(raw->tracks, rtp_ssrc(pkt));
    if (ti == raw->tracks.size()) {
      ++stats_.foreign_ssrc;
      return;
    }
    const bool video = raw->tracks[ti].kind == "video";
    if (!video && raw->audio_tap) {
      raw->audio_tap(pkt);
      ++stats_.audio_tapped;
    }
    for (auto* s : raw->subs) {
      if (s->peer->state() != Peer::State::connected || pkt.size() > 1500) continue;
      if (video && !s->video) {
        s->outs[ti].pause();  // the leg's numbering continues without a gap on resume
        continue;
      }
      if (forward_rtp(*s->peer, s->outs[ti], pkt, scratch_)) ++stats_.forwarded_rtp;
    }
  };
  cb.on_rtcp = [this, raw](std::span<std::uint8_t> pkt) {
    // Sender reports and SDES go to every subscriber (lip sync, their statistics), naming the
    // subscriber's SSRCs.
    for (auto* s : raw->subs) {
      if (s->peer->state() != Peer::State::connected || pkt.size() > 1500) continue;
      std::memcpy(scratch_.data(), pkt.data(), pkt.size());
      if (!rewrite_rtcp(std::span<std::uint8_t>(scratch_.data(), pkt.size()), LegRtcpMap(s->outs, true))) continue;
      if (s->peer->send_rtcp(scratch_, pkt.size())) ++stats_.forwarded_rtcp;
    }
  };
  auto creds = IceLiteAgent::generate_credentials();
  // One identity for the answer's fingerprint and the handshake (a rotation in between is harmless).
  auto identity = rtp::DtlsIdentity::process();
  pub->peer = std::make_unique<Peer>(Peer::Role::publisher, creds, identity,
                                     [this](const StunAddress& to, std::span<const std::uint8_t> b) { send_to(to, b); },
                                     std::move(cb));
  std::string answer = build_publisher_answer(offer_sdp, *offer, local_ice(creds, *identity));
  pub->peer->set_remote(offer->ice_ufrag, offer->fingerprint_alg, offer->fingerprint, Peer::Clock::now());
  by_ufrag_[creds.ufrag] = pub->peer.get();
  pubs_.emplace(stream_id, std::move(pub));
  ++stats_.publications;
  return answer;
}

void Router::unpublish(const std::string& stream_id) {
  auto it = pubs_.find(stream_id);
  if (it == pubs_.end()) return;
  for (auto* s : it->second->subs) s->pub = nullptr;
  if (auto& peer = it->second->peer) {
    peer->close();
    forget(peer.get());
    --stats_.publications;
  } else {
    --stats_.local_publications;
  }
  // Moved out first: destroying the tap leaves the session mix, which must find the map whole.
  auto gone = std::move(it->second);
  pubs_.erase(it);
}

const std::vector<Track>* Router::tracks(const std::string& stream_id) const {
  auto it = pubs_.find(stream_id);
  return it == pubs_.end() ? nullptr : &it->second->tracks;
}

bool Router::set_audio_tap(const std::string& stream_id, std::function<void(std::span<const std::uint8_t>)> tap) {
  auto it = pubs_.find(stream_id);
  if (it == pubs_.end() || !it->second->peer) return false;
  it->second->audio_tap = std::move(tap);
  return true;
}

bool Router::publish_local(const std::string& stream_id, std::vector<Track> tracks) {
  if (pubs_.contains(stream_id)) return false;
  auto pub = std::make_unique<Publication>();
  pub->stream_id = stream_id;
  pub->tracks = std::move(tracks);
  pubs_.emplace(stream_id, std::move(pub));
  ++stats_.local_publications;
  return true;
}

void Router::send_local(const std::string& stream_id, std::span<const std::uint8_t> rtp) {
  auto it = pubs_.find(stream_id);
  if (it == pubs_.end() || it->second->peer || rtp.size() < 12 || rtp.size() > 1500) return;
  const std::size_t ti = track_of(it->second->tracks, rtp_ssrc(rtp));
  if (ti == it->second->tracks.size()) return;
  for (auto* s : it->second->subs) {
    if (s->peer->state() != Peer::State::connected) continue;
    if (forward_rtp(*s->peer, s->outs[ti], rtp, scratch_)) ++stats_.local_rtp;
  }
}

std::size_t Router::subscriber_count(const std::string& stream_id) const {
  auto it = pubs_.find(stream_id);
  return it == pubs_.end() ? 0 : it->second->subs.size();
}

std::optional<std::string> Router::subscribe(const std::string& stream_id, const std::string& subscriber_id,
                                             Events ev, std::string* why) {
  auto pit = pubs_.find(stream_id);
  if (pit == pubs_.end()) {
    if (why) *why = "the stream has no media on this server";
    return std::nullopt;
  }
  if (subs_.contains(subscriber_id)) {
    if (why) *why = "subscriber id in use";
    return std::nullopt;
  }
  auto sub = std::make_unique<Subscription>();
  sub->subscriber_id = subscriber_id;
  sub->stream_id = stream_id;
  sub->pub = pit->second.get();
  sub->ev = std::move(ev);
  Subscription* raw = sub.get();
  Peer::Callbacks cb;
  cb.on_connected = [this, raw] {
    // A new receiver needs a keyframe before it can show anything.
    if (raw->pub) request_keyframe(*raw->pub);
    later(ex_, alive_, [this, id = raw->subscriber_id] {
      if (auto it = subs_.find(id); it != subs_.end() && it->second->ev.on_connected) it->second->ev.on_connected();
    });
  };
  cb.on_failed = [this, raw](std::string_view w) {
    later(ex_, alive_, [this, id = raw->subscriber_id, w = std::string(w)] {
      if (auto it = subs_.find(id); it != subs_.end() && it->second->ev.on_failed) it->second->ev.on_failed(w);
    });
  };
  cb.on_rtcp = [this, raw](std::span<std::uint8_t> pkt) {
    // PLI/FIR/NACK and receiver reports name the leg's SSRCs and numbering: mapped back to the
    // publisher's and relayed. A local publication has no peer to tell: its reports end here.
    if (!raw->pub || !raw->pub->peer || pkt.size() > 1500) return;
    // REMB: the publisher gets one estimate for all its receivers, the lowest recent one, so
    // that the weakest subscriber's link sets the rate (one encoding for all, no simulcast).
    for_each_remb(pkt, [&](std::span<std::uint8_t> field) {
      const auto now = Peer::Clock::now();
      raw->remb_bps = remb_value(field);
      raw->remb_at = now;
      std::uint64_t low = raw->remb_bps;
      for (const auto* s : raw->pub->subs)
        if (s->remb_bps && now - s->remb_at < k_remb_stale) low = std::min(low, s->remb_bps);
      set_remb_value(field, low);
      ++stats_.remb;
    });
    std::memcpy(scratch_.data(), pkt.data(), pkt.size());
    if (!rewrite_rtcp(std::span<std::uint8_t>(scratch_.data(), pkt.size()), LegRtcpMap(raw->outs, false))) return;
    if (raw->pub->peer->send_rtcp(scratch_, pkt.size())) ++stats_.forwarded_rtcp;
  };
  auto creds = IceLiteAgent::generate_credentials();
  auto identity = rtp::DtlsIdentity::process();
  sub->peer = std::make_unique<Peer>(Peer::Role::subscriber, creds, identity,
                                     [this](const StunAddress& to, std::span<const std::uint8_t> b) { send_to(to, b); },
                                     std::move(cb));
  // The leg's own SSRC per track, offered in its SDP (rewrite.hpp).
  std::vector<Track> offered = pit->second->tracks;
  for (auto& t : offered) {
    const std::uint32_t source = t.ssrcs.empty() ? 0 : t.ssrcs.front();
    std::uint32_t ours = 0;
    while (ours == 0 || ours == source) ours = random_u32();
    sub->outs.emplace_back(source, ours);
    t.ssrcs = {ours};
  }
  std::string offer = build_subscriber_offer(offered, local_ice(creds, *identity), stream_id);
  by_ufrag_[creds.ufrag] = sub->peer.get();
  pit->second->subs.push_back(raw);
  subs_.emplace(subscriber_id, std::move(sub));
  ++stats_.subscriptions;
  return offer;
}

bool Router::set_video(const std::string& subscriber_id, bool active) {
  auto it = subs_.find(subscriber_id);
  if (it == subs_.end()) return false;
  const bool resumed = active && !it->second->video;
  it->second->video = active;
  if (resumed && it->second->pub) request_keyframe(*it->second->pub);
  return true;
}

bool Router::answer(const std::string& subscriber_id, std::string_view answer_sdp, std::string* why) {
  auto it = subs_.find(subscriber_id);
  if (it == subs_.end()) {
    if (why) *why = "no such subscriber";
    return false;
  }
  auto ans = parse_subscriber_answer(answer_sdp);
  if (!ans) {
    if (why) *why = "answer refused: " + ans.error.message();
    return false;
  }
  it->second->peer->set_remote(ans->ice_ufrag, ans->fingerprint_alg, ans->fingerprint, Peer::Clock::now());
  return true;
}

void Router::unsubscribe(const std::string& subscriber_id) {
  auto it = subs_.find(subscriber_id);
  if (it == subs_.end()) return;
  auto* raw = it->second.get();
  if (raw->pub) std::erase(raw->pub->subs, raw);
  raw->peer->close();
  forget(raw->peer.get());
  subs_.erase(it);
  --stats_.subscriptions;
}

}  // namespace sb::webrtc
