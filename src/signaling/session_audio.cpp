#include "signaling/session_audio.hpp"

#include "base/crypto.hpp"
#include "base/log.hpp"
#include "media/browser_audio.hpp"

#include <map>

namespace sb::signaling {
namespace {

// A browser's audio in a session's mix: joined for as long as this lives.
struct Member {
  std::shared_ptr<media::Conference> room;
  media::OpusInput input;
  std::uint32_t id = 0;
  Member(std::shared_ptr<media::Conference> r, std::uint8_t pt, std::uint32_t ssrc) : room(std::move(r)), input(pt, ssrc) {}
  ~Member() { room->leave(id); }  // a contributor never anchors the room: nothing to release
};

// A SIP party's stream as the SFU's local publication, for as long as the conference
// participant's tap holds it. Also the tap's relay sink: while the party's leg relays with a
// browser, its Opus packets come here as they are.
struct LocalStream final : mix::RelaySink {
  webrtc::Router* router;
  std::weak_ptr<bool> router_alive;
  std::string key;
  media::OpusStreamOutput out;
  LocalStream(webrtc::Router& r, std::string k, std::uint32_t ssrc)
      : router(&r), router_alive(r.alive_token()), key(std::move(k)),
        out(ssrc, [this](std::span<const std::uint8_t> rtp) { router->send_local(key, rtp); }) {}
  bool router_up() const {
    auto a = router_alive.lock();
    return a && *a;
  }
  ~LocalStream() override {
    if (router_up()) router->unpublish(key);
  }
  bool wanted() const { return router->subscriber_count(key) > 0; }
  void relay(const mix::RelayPacket& p) noexcept override {
    if (router_up()) out.relay(p, wanted());
  }
  void relay_begin() noexcept override { out.relay_begin(); }
};

}  // namespace

// One browser audio publication, held by its SFU tap. `member` is set while the session has a
// mix.
struct SessionAudio::Input {
  std::weak_ptr<Registry> registry;
  std::string session_id, stream_id, router_key;
  std::uint8_t pt = 0;
  std::uint32_t ssrc = 0;
  std::unique_ptr<Member> member;
  ~Input();
};

// The browser audio publications of the shard, by session then router key.
struct SessionAudio::Registry {
  std::map<std::string, std::map<std::string, Input*>, std::less<>> by_session;
};

SessionAudio::Input::~Input() {
  member.reset();
  if (auto r = registry.lock()) {
    auto it = r->by_session.find(session_id);
    if (it == r->by_session.end()) return;
    if (auto k = it->second.find(router_key); k != it->second.end() && k->second == this) it->second.erase(k);
    if (it->second.empty()) r->by_session.erase(it);
  }
}

SessionAudio::SessionAudio(webrtc::Router& router, std::shared_ptr<media::ConferenceTable> rooms)
    : router_(router), rooms_(rooms), registry_(std::make_shared<Registry>()) {
  if (!rooms) return;
  // A SIP leg created the session's mix: the browsers already publishing join it.
  rooms->on_create = [this](const std::string& sid, media::Conference& room) {
    auto it = registry_->by_session.find(sid);
    if (it == registry_->by_session.end()) return;
    for (auto& [key, in] : it->second) join(*in, room);
  };
  // The last SIP leg left: the browsers' inputs leave, and the room goes.
  rooms->on_release = [this](const std::string& sid) {
    auto it = registry_->by_session.find(sid);
    if (it == registry_->by_session.end()) return;
    for (auto& [key, in] : it->second) in->member.reset();
  };
}

SessionAudio::~SessionAudio() {
  if (auto rooms = rooms_.lock()) {
    rooms->on_create = nullptr;
    rooms->on_release = nullptr;
  }
}

void SessionAudio::join(Input& in, media::Conference& room) {
  if (in.member) return;
  in.member = std::make_unique<Member>(room.shared_from_this(), in.pt, in.ssrc);
  in.member->id = room.join(&in.member->input, in.stream_id, /*anchor=*/false);
  ++stats_.browser_inputs;
}

std::size_t SessionAudio::browser_inputs() const {
  std::size_t n = 0;
  for (const auto& [sid, m] : registry_->by_session) n += m.size();
  return n;
}

std::size_t SessionAudio::browser_inputs_mixed() const {
  std::size_t n = 0;
  for (const auto& [sid, m] : registry_->by_session)
    for (const auto& [key, in] : m) n += in->member != nullptr;
  return n;
}

void SessionAudio::browser_published(const std::string& session_id, const std::string& stream_id,
                                     const std::string& router_key) {
  const auto* tracks = router_.tracks(router_key);
  if (!tracks) return;
  const webrtc::Track* audio = nullptr;
  for (const auto& t : *tracks)
    if (t.kind == "audio" && !t.ssrcs.empty() && t.pt >= 0 && t.pt < 128) audio = &t;
  if (!audio) return;  // video only, or the browser did not declare its SSRC (nothing to match)
  auto in = std::make_shared<Input>();
  in->registry = registry_;
  in->session_id = session_id;
  in->stream_id = stream_id;
  in->router_key = router_key;
  in->pt = static_cast<std::uint8_t>(audio->pt);
  in->ssrc = audio->ssrcs.front();
  // Decoding is the expensive part: packets enter the jitter buffer only while a SIP party
  // listens to the mix (a browser hears the browsers through the SFU, never through the mix).
  if (!router_.set_audio_tap(router_key, [in](std::span<const std::uint8_t> rtp) {
        if (in->member && in->member->room->listeners() > 0)
          in->member->input.push(rtp, mix::Participant::Clock::now());
      }))
    return;
  registry_->by_session[session_id][router_key] = in.get();
  if (auto rooms = rooms_.lock())
    if (auto room = rooms->find(session_id)) join(*in, *room);
}

bool SessionAudio::ensure_sip_stream(const std::string& session_id, const std::string& call_id,
                                     const std::string& router_key, std::string* why) {
  if (router_.has_publication(router_key)) return true;
  auto rooms = rooms_.lock();
  auto room = rooms ? rooms->find(session_id) : nullptr;
  if (!room || room->has_tap(call_id)) {
    if (why) *why = "The SIP party has no media in this session (not connected yet, or the call is over)";
    return false;
  }
  webrtc::Track t;
  t.mid = "0";
  t.kind = "audio";
  t.pt = media::OpusStreamOutput::kPayloadType;
  t.codec = "opus";
  t.clock_rate = 48000;
  t.channels = 2;  // RFC 7587 §7: opus/48000/2 whatever the content (ours is mono)
  t.fmtp = "minptime=10;useinbandfec=1";
  t.ssrcs = {random_u32()};
  t.cname = "switchboard";
  const auto ssrc = t.ssrcs.front();
  if (!router_.publish_local(router_key, {std::move(t)})) {
    if (why) *why = "Stream id in use";
    return false;
  }
  auto ls = std::make_shared<LocalStream>(router_, router_key, ssrc);
  // When the participant is unknown, set_tap drops the tap at once: that ends the publication.
  const bool tapped = room->set_tap(
      call_id,
      [ls](const mix::MixFrame* frame) {
        if (ls->router_up()) ls->out.on_frame(frame, ls->wanted());
      },
      ls.get());
  if (!tapped) {
    if (why) *why = "The SIP party has no media in this session (not connected yet, or the call is over)";
    return false;
  }
  ++stats_.sip_streams;
  log::info("webrtc", "SIP party {} of session {} published to browsers", call_id, session_id);
  return true;
}

}  // namespace sb::signaling
