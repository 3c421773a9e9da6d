// Where the SFU meets the session mix: a SIP party's stream published to browsers on demand and
// gone with the call; a browser's audio joined to the mix and gone with its publication. The
// router is not started (no socket): only its bookkeeping and the SDP it writes are used.
#include "signaling/session_audio.hpp"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

using namespace sb;

namespace {

struct SipParty final : mix::Participant {
  bool pull(Clock::time_point, mix::MixFrame& out) noexcept override {
    out.fill(1000);
    return true;
  }
  const mix::CodecConfig* send_config() const noexcept override { return &cfg; }
  int encode(const mix::MixFrame&, std::span<std::uint8_t> out) noexcept override {
    out[0] = 0;
    return 1;
  }
  const mix::Encoder* encoder() const noexcept override { return nullptr; }
  bool adopt_encoder_state(const mix::Participant&) noexcept override { return true; }
  void send(std::span<const std::uint8_t>) noexcept override { ++sent; }
  mix::CodecConfig cfg;
  int sent = 0;
};

std::string audio_offer() {
  const char* lines[] = {
      "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=ice-ufrag:Zx9q",
      "a=ice-pwd:p0Lk3vJ8sQwE1rT6yU2iO9aZ",
      "a=fingerprint:sha-256 4F:2A:9C:11:0D:77:E3:5B:60:8E:12:F4:A9:3C:D0:7B:55:1E:C8:29:6A:04:BB:93:7F:E2:18:C5:3D:80:A6:4E",
      "a=setup:actpass", "a=mid:0", "a=sendrecv", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2",
      "a=ssrc:1001 cname:x"};
  std::string s;
  for (auto* l : lines) s.append(l).append("\r\n");
  return s;
}

}  // namespace

TEST_CASE("a SIP party's stream is published to browsers on the first subscription and ends with the call") {
  boost::asio::io_context io;
  webrtc::Router router(io.get_executor(), boost::asio::ip::make_address("127.0.0.1"), 0);
  auto rooms = std::make_shared<media::ConferenceTable>(io.get_executor());
  signaling::SessionAudio audio(router, rooms);
  std::string why;

  // No conference yet: the call has no media.
  CHECK_FALSE(audio.ensure_sip_stream("s1", "call-1", "s1/stream-1", &why));
  CHECK_FALSE(router.has_publication("s1/stream-1"));

  SipParty party;
  auto room = rooms->get_or_create("s1");
  const auto id = room->join(&party, "call-1");
  // Another call's id in the same session: refused, and nothing left published.
  CHECK_FALSE(audio.ensure_sip_stream("s1", "call-2", "s1/stream-2", &why));
  CHECK_FALSE(router.has_publication("s1/stream-2"));

  REQUIRE(audio.ensure_sip_stream("s1", "call-1", "s1/stream-1", &why));
  CHECK(router.has_publication("s1/stream-1"));
  CHECK(audio.ensure_sip_stream("s1", "call-1", "s1/stream-1", &why));  // idempotent
  CHECK(router.stats().local_publications == 1);
  const auto* tracks = router.tracks("s1/stream-1");
  REQUIRE(tracks);
  REQUIRE(tracks->size() == 1);
  CHECK(tracks->front().kind == "audio");
  CHECK(tracks->front().pt == 111);

  // A subscriber is offered our Opus track, with an SSRC of its leg's own (the router rewrites
  // the local publication's SSRC per subscriber, as it does a browser's).
  auto offer = router.subscribe("s1/stream-1", "s1/sub-1", {}, &why);
  REQUIRE(offer);
  CHECK(offer->find("a=rtpmap:111 opus/48000/2") != std::string::npos);
  CHECK(offer->find("a=ssrc:") != std::string::npos);
  CHECK(offer->find("a=ssrc:" + std::to_string(tracks->front().ssrcs.front()) + " ") == std::string::npos);
  CHECK(router.subscriber_count("s1/stream-1") == 1);
  room->tick(mix::Participant::Clock::now());  // the tap runs (the subscriber is not connected yet)
  CHECK(router.stats().local_rtp == 0);

  // The call ends: its participant leaves, the local publication goes with it.
  room->leave(id);
  CHECK_FALSE(router.has_publication("s1/stream-1"));
  CHECK(router.stats().local_publications == 0);
  router.unsubscribe("s1/sub-1");
  CHECK(router.stats().subscriptions == 0);
}

TEST_CASE("a browser's audio is in the session mix exactly while a SIP leg is") {
  boost::asio::io_context io;
  webrtc::Router router(io.get_executor(), boost::asio::ip::make_address("127.0.0.1"), 0);
  auto rooms = std::make_shared<media::ConferenceTable>(io.get_executor());
  signaling::SessionAudio audio(router, rooms);
  std::string why;
  REQUIRE(router.publish("s1/pub-1", audio_offer(), {}, &why));
  audio.browser_published("s1", "pub-1", "s1/pub-1");
  // Browser-only: no mix at all.
  CHECK(audio.browser_inputs() == 1);
  CHECK(audio.browser_inputs_mixed() == 0);
  CHECK(rooms->size() == 0);

  // A SIP leg dials in: the room is created and the browser's input joins it, as a contributor.
  SipParty party;
  auto room = rooms->get_or_create("s1");
  const auto id = room->join(&party, "call-1");
  CHECK(room->size() == 2);
  CHECK(audio.browser_inputs_mixed() == 1);
  room->tick(mix::Participant::Clock::now());
  CHECK(room->listeners() == 1);  // the SIP leg only

  // The leg leaves: the browser's input leaves too and the room goes.
  room->leave(id);
  rooms->release_if_empty("s1");
  CHECK(room->size() == 0);
  CHECK(rooms->find("s1") == nullptr);
  CHECK(audio.browser_inputs_mixed() == 0);
  CHECK(audio.browser_inputs() == 1);

  // A new call, then the browser unpublishes: it leaves the mix, the SIP leg stays.
  room = rooms->get_or_create("s1");
  const auto id2 = room->join(&party, "call-2");
  CHECK(room->size() == 2);
  router.unpublish("s1/pub-1");
  CHECK(room->size() == 1);
  CHECK(audio.browser_inputs() == 0);
  room->leave(id2);
  rooms->release_if_empty("s1");
  CHECK(rooms->size() == 0);
}

TEST_CASE("a video-only publication has no audio to mix") {
  boost::asio::io_context io;
  webrtc::Router router(io.get_executor(), boost::asio::ip::make_address("127.0.0.1"), 0);
  auto rooms = std::make_shared<media::ConferenceTable>(io.get_executor());
  signaling::SessionAudio audio(router, rooms);
  audio.browser_published("s1", "nope", "s1/nope");  // unknown publication
  CHECK(audio.browser_inputs() == 0);
}

TEST_CASE("REMB bitrate field: read, written, rounded down to 18 bits of mantissa") {
  std::array<std::uint8_t, 3> f{};
  webrtc::set_remb_value(f, 250000);  // fits the mantissa: exact
  CHECK(webrtc::remb_value(f) == 250000);
  webrtc::set_remb_value(f, 2'500'000);
  CHECK(webrtc::remb_value(f) <= 2'500'000);
  CHECK(webrtc::remb_value(f) > 2'490'000);
  webrtc::set_remb_value(f, 0);
  CHECK(webrtc::remb_value(f) == 0);
  const std::array<std::uint8_t, 3> max{0xff, 0xff, 0xff};  // exponent 63: saturates
  CHECK(webrtc::remb_value(max) == UINT64_MAX);
}
