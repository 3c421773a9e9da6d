// Passthrough (relay) between two SIP legs of one room: real rtp::AudioLegs on loopback, far ends
// played by the test's sockets, the room's own 20 ms clock. What a far end receives must be the
// other far end's payload byte for byte while the room relays, and one continuous stream (its
// sequence numbers +1 and timestamps +160 per packet) across every switch between relaying and
// mixing.
#include "media/browser_audio.hpp"
#include "media/conference.hpp"
#include "mix/codec.hpp"
#include "rtp/audio_leg.hpp"
#include "rtp/packet.hpp"
#include "rtp/sdes.hpp"
#include "rtp/srtp.hpp"
#include "support/allocations.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <boost/asio.hpp>

#include <cmath>
#include <map>
#include <vector>

using namespace sb;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

struct Got {
  std::uint8_t pt;
  std::uint16_t seq;
  std::uint32_t ts;
  std::uint32_t ssrc;
  bool marker;
  std::vector<std::uint8_t> payload;
};

// 20 ms of a tone as Opus, its pitch set by `k`.
std::vector<std::uint8_t> opus_packet(mix::Encoder& enc, std::uint32_t k) {
  std::array<std::int16_t, 960> pcm;
  const double f = 200.0 + (k % 40) * 20.0;
  for (std::size_t i = 0; i < pcm.size(); ++i)
    pcm[i] = static_cast<std::int16_t>(6000 * std::sin(2 * M_PI * f * double(i) / 48000.0));
  std::array<std::uint8_t, mix::max_encoded_bytes> out;
  const int n = enc.encode(pcm, out);
  REQUIRE(n > 0);
  return {out.begin(), out.begin() + n};
}

// A leg and the socket that plays its far end.
struct End {
  std::unique_ptr<rtp::AudioLeg> leg;
  udp::socket far;
  std::uint32_t ssrc;
  std::uint16_t seq = 1000;
  std::uint32_t ts = 5000;
  std::vector<Got> got;
  std::vector<std::vector<std::uint8_t>> sent_payloads;
  std::uint32_t id = 0;  // in the room

  std::unique_ptr<rtp::SrtpContext> srtp;  // the far end's outbound SRTP (SDES legs)
  std::unique_ptr<mix::Encoder> enc;        // Opus far ends: real Opus (the mix decodes it)

  // `secure`: SDES-SRTP, the far end answering our line of `suite` with a key of its own.
  End(asio::io_context& io, std::shared_ptr<rtp::PortAllocator> ports, std::string_view codec, std::uint32_t ssrc,
      bool secure = false, std::string_view suite = "AEAD_AES_128_GCM")
      : far(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), ssrc(ssrc) {
    rtp::AudioLeg::Options o;
    o.secure = secure;
    leg = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), o);
    REQUIRE(leg);
    far.non_blocking(true);
    std::string crypto;
    if (secure) {
      const std::string offer = leg->offer();
      const auto at = offer.find(fmt::format(" {} ", suite));
      REQUIRE(at != std::string::npos);
      const auto tag_at = offer.rfind("a=crypto:", at) + 9;
      const auto tag = static_cast<std::uint32_t>(std::stoul(offer.substr(tag_at, at - tag_at)));
      const auto len = sdp::srtp_key_salt_length(suite);
      REQUIRE(len);
      const auto c = sdp::make_crypto(tag, suite, std::string(*len, 'k'));
      crypto = fmt::format("a=crypto:{} {} {}\r\n", c.tag, c.suite, c.key_params);
      srtp = rtp::make_sdes_context(c, rtp::SrtpContext::Direction::outbound);
      REQUIRE(srtp);
    }
    const bool opus = codec == "opus";
    const int pt = opus ? 111 : codec == "PCMA" ? 8 : 0;
    if (opus) {
      mix::CodecConfig cfg;
      cfg.id = mix::CodecId::opus;
      enc = mix::make_encoder(cfg);
      REQUIRE(enc);
    }
    const auto sdp = fmt::format(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} {} {} 96\r\n"
        "a=rtpmap:{} {}\r\na=rtpmap:96 telephone-event/{}\r\na=fmtp:96 0-16\r\na=sendrecv\r\n{}",
        far.local_endpoint().port(), secure ? "RTP/SAVP" : "RTP/AVP", pt, pt, opus ? "opus/48000/2" : fmt::format("{}/8000", codec),
        opus ? 48000 : 8000, crypto);
    REQUIRE_FALSE(leg->apply_answer(sdp));
  }
  udp::endpoint gateway() const { return {asio::ip::make_address("127.0.0.1"), leg->rtp_port()}; }
  // One 20 ms packet of noise-like PCMU/PCMA (a decode/mix/encode would not give it back), or
  // of Opus (a tone whose pitch follows the sequence number: no two packets alike).
  void talk(std::uint8_t pt = 0) {
    if (enc && pt == 0) pt = 111;
    rtp::RtpHeader h;
    h.payload_type = pt;
    h.seq = seq++;
    h.timestamp = ts;
    ts += enc ? 960 : 160;
    h.ssrc = ssrc;
    std::vector<std::uint8_t> payload(160);
    for (std::size_t k = 0; k < payload.size(); ++k)
      payload[k] = static_cast<std::uint8_t>((h.seq * 31u + k * 97u + ssrc) % 251u);
    if (pt == 111) payload = opus_packet(*enc, h.seq);
    if (pt == 101) payload = {5, 0x0a, 0x00, 0xa0};  // RFC 4733: digit 5, volume 10, 160 units
    std::array<std::uint8_t, 1500 + rtp::srtp_max_trailer> buf;
    auto n = rtp::write_rtp(buf, h, payload);
    REQUIRE(n > 0);
    if (srtp) {
      const int m = srtp->protect_rtp(buf, n);
      REQUIRE(m > 0);
      n = static_cast<std::size_t>(m);
    }
    far.send_to(asio::buffer(buf.data(), n), gateway());
    sent_payloads.push_back(payload);
  }
  void drain() {
    std::array<std::uint8_t, 2048> buf;
    udp::endpoint from;
    boost::system::error_code ec;
    for (;;) {
      const auto n = far.receive_from(asio::buffer(buf), from, 0, ec);
      if (ec) break;
      auto v = rtp::parse_rtp(std::span<const std::uint8_t>(buf.data(), n));
      if (!v) continue;
      got.push_back({v->payload_type, v->seq, v->timestamp, v->ssrc, v->marker, {v->payload.begin(), v->payload.end()}});
    }
  }
};

struct Room {
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};  // as runtime::Shard runs it
  std::shared_ptr<rtp::PortAllocator> ports = std::make_shared<rtp::PortAllocator>(rtp::PortRange{42000, 42999});
  media::ConferenceTable table{io.get_executor()};  // the shard's media clock
  std::shared_ptr<media::Conference> conf = table.get_or_create("room");
  std::vector<std::unique_ptr<End>> ends;
  End& add(std::string_view codec, bool secure = false, std::string_view suite = "AEAD_AES_128_GCM") {
    ends.push_back(
        std::make_unique<End>(io, ports, codec, 0x1000u + static_cast<std::uint32_t>(ends.size()), secure, suite));
    auto& e = *ends.back();
    e.id = conf->join(&e.leg->participant(), fmt::format("call{}", ends.size()));
    return e;
  }
  void leave(End& e) { conf->leave(e.id), e.id = 0; }
  // Two PCMU legs, 200 ms of talk: the room relays.
  std::pair<End&, End&> relaying_pair() {
    auto& a = add("PCMU");
    auto& b = add("PCMU");
    step(10);
    REQUIRE(conf->relaying());
    return {a, b};
  }
  // 20 ms: every far end in the room talks once, the shard runs (the room ticks), all drain.
  // `shard_allocations` counts what the shard's own work allocated (sanitizer builds only).
  std::size_t shard_allocations = 0;
  void step(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& e : ends)
        if (e->id) e->talk();
      shard_allocations += count_allocations([&] {
        io.run_for(20ms);
        io.restart();
      });
      for (auto& e : ends) e->drain();
    }
  }
  ~Room() {
    for (auto& e : ends) {
      if (e->id) conf->leave(e->id);
      e->leg->stop();
    }
  }
};

// Every packet after the first continues the one before: one SSRC, seq + 1, timestamp + 160 —
// or, after a pause of whole frames (a tick the shard skipped under load), a timestamp that
// follows the clock on a packet marked as a new talkspurt. A mapping off by anything else (the
// far end's own numbering leaking through) fails.
void check_continuous(const std::vector<Got>& got, std::uint8_t audio_pt, std::uint32_t units = 160) {
  REQUIRE(got.size() > 2);
  int jumps = 0;
  for (std::size_t i = 1; i < got.size(); ++i) {
    if (got[i].pt != audio_pt || got[i - 1].pt != audio_pt) continue;
    const auto dts = got[i].ts - got[i - 1].ts;
    const bool ts_ok = dts == units || (got[i].marker && dts % units == 0 && dts <= units * 50);
    const bool ok = got[i].ssrc == got[0].ssrc && got[i].seq == static_cast<std::uint16_t>(got[i - 1].seq + 1) && ts_ok;
    if (!ok) {
      ++jumps;
      MESSAGE("packet " << i << ": seq " << got[i - 1].seq << " → " << got[i].seq << ", ts " << got[i - 1].ts
                        << " → " << got[i].ts);
    }
  }
  CHECK(jumps == 0);
}

// How many of `got` carry one of `sent` byte for byte.
std::size_t verbatim(const std::vector<Got>& got, const std::vector<std::vector<std::uint8_t>>& sent) {
  std::size_t n = 0;
  for (const auto& g : got)
    for (const auto& s : sent)
      if (g.payload == s) {
        ++n;
        break;
      }
  return n;
}

// A browser in the room as signaling::SessionAudio puts it there: its Opus track enters as a
// contributor (media::OpusInput, fed what the SFU would tap), and as the SIP party's subscriber
// it gets the party's stream (a media::OpusStreamOutput, the tap's relay sink).
struct Browser final : mix::RelaySink {
  media::OpusInput input{111, 0xB0B0};
  std::vector<Got> heard;  // the SIP party's stream, as the SFU would send it to subscribers
  media::OpusStreamOutput out{0x5151, [this](std::span<const std::uint8_t> p) {
                                auto v = rtp::parse_rtp(p);
                                REQUIRE(v);
                                heard.push_back({v->payload_type, v->seq, v->timestamp, v->ssrc, v->marker,
                                                 {v->payload.begin(), v->payload.end()}});
                              }};
  std::unique_ptr<mix::Encoder> enc = [] {
    mix::CodecConfig c;
    c.id = mix::CodecId::opus;
    return mix::make_encoder(c);
  }();
  std::uint16_t seq = 7000;
  std::uint32_t ts = 90000;
  std::vector<std::vector<std::uint8_t>> sent_payloads;

  void relay(const mix::RelayPacket& p) noexcept override { out.relay(p, true); }
  void relay_begin() noexcept override { out.relay_begin(); }
  void talk() {
    rtp::RtpHeader h;
    h.payload_type = 111;
    h.seq = seq++;
    h.timestamp = ts;
    ts += 960;
    h.ssrc = 0xB0B0;
    auto payload = opus_packet(*enc, h.seq + 7u);
    std::array<std::uint8_t, 1500> buf;
    const auto n = rtp::write_rtp(buf, h, payload);
    REQUIRE(n > 0);
    input.push(std::span<const std::uint8_t>(buf.data(), n), mix::Participant::Clock::now());
    sent_payloads.push_back(std::move(payload));
  }
};

}  // namespace

TEST_CASE("passthrough: a SIP leg on Opus and a browser relay each other's packets (also before any browser subscribes); a tap, a mute and an unmute switch to the mix and back, one continuous stream at both ends") {
  Browser br;  // outlives the room
  Room r;
  auto& s = r.add("opus");
  const auto browser_id = r.conf->join(&br.input, "stream-b", /*anchor=*/false);
  auto step = [&](int n) {
    for (int i = 0; i < n; ++i) {
      br.talk();
      r.step();
    }
  };
  // No browser subscribes to the SIP party yet: the browser's packets still reach it as they are.
  step(20);
  CHECK(r.conf->relaying());
  CHECK(verbatim(s.got, br.sent_payloads) >= 10);
  CHECK(br.input.stats().relayed >= 10);

  // The browser subscribes to the party (the tap, with its relay sink): mixed for a tick, then
  // relayed again, now also towards the browser.
  REQUIRE(r.conf->set_tap(
      "call1", [&](const mix::MixFrame* f) { br.out.on_frame(f, true); }, &br));
  CHECK_FALSE(r.conf->relaying());
  step(20);
  CHECK(r.conf->relaying());
  CHECK(r.conf->stats().relay_starts == 2);
  CHECK(verbatim(br.heard, s.sent_payloads) >= 10);
  CHECK(br.out.stats().relayed >= 10);

  // Force mute of the browser: the mix (the party hears silence, encoded by us: nothing verbatim).
  REQUIRE(r.conf->set_muted("stream-b", true));
  CHECK_FALSE(r.conf->relaying());
  const auto s_before = s.got.size();
  step(10);
  CHECK_FALSE(r.conf->relaying());
  std::vector<Got> while_mixing(s.got.begin() + static_cast<std::ptrdiff_t>(s_before), s.got.end());
  CHECK(while_mixing.size() >= 5);
  CHECK(verbatim(while_mixing, br.sent_payloads) == 0);
  CHECK(br.out.stats().frames > 0);  // the party's stream came from the mix's tap meanwhile

  // Unmuted: passthrough again.
  REQUIRE(r.conf->set_muted("stream-b", false));
  step(15);
  CHECK(r.conf->relaying());
  CHECK(r.conf->stats().relay_starts == 3);

  // Across every switch, the SIP far end and the browsers each saw one stream with no jump.
  check_continuous(s.got, 111, 960);
  check_continuous(br.heard, 111, 960);
  r.conf->leave(browser_id);
}

TEST_CASE("passthrough: a browser and a SIP leg on PCMU are mixed, never relayed") {
  Browser br;
  Room r;
  r.add("PCMU");
  const auto id = r.conf->join(&br.input, "stream-b", /*anchor=*/false);
  for (int i = 0; i < 20; ++i) {
    br.talk();
    r.step();
  }
  CHECK_FALSE(r.conf->relaying());
  CHECK(r.conf->stats().relay_starts == 0);
  CHECK(br.input.stats().relayed == 0);
  CHECK(br.input.stats().frames > 5);  // decoded into the mix
  r.conf->leave(id);
}

TEST_CASE("passthrough: two PCMU legs forward each other's payloads unchanged; a third leg switches the room to the mix and back, one continuous stream at each far end") {
  Room r;
  auto& a = r.add("PCMU");
  auto& b = r.add("PCMU");
  r.step(25);
  CHECK(r.conf->relaying());
  CHECK(r.conf->stats().relay_starts == 1);
  // Once relaying, what B's far end gets is A's payload, byte for byte (and the other way).
  const auto before_third = b.got.size();
  CHECK(verbatim(b.got, a.sent_payloads) >= 15);
  CHECK(verbatim(a.got, b.sent_payloads) >= 15);
  CHECK(a.leg->stats().relayed_in >= 15);
  CHECK(b.leg->stats().relayed_out >= 15);

  // A third party: the room mixes (B now hears A + C, re-encoded: nothing verbatim).
  auto& c = r.add("PCMU");
  CHECK_FALSE(r.conf->relaying());
  r.step(15);
  CHECK_FALSE(r.conf->relaying());
  std::vector<Got> while_mixing(b.got.begin() + static_cast<std::ptrdiff_t>(before_third) + 2, b.got.end());
  CHECK(while_mixing.size() >= 10);
  CHECK(verbatim(while_mixing, a.sent_payloads) == 0);
  CHECK(b.leg->stats().concealed_frames + b.leg->stats().rtp_packets > 0);

  // It leaves: passthrough again.
  r.leave(c);
  r.step(15);
  CHECK(r.conf->relaying());
  CHECK(r.conf->stats().relay_starts == 2);

  // Across mix → relay → mix → relay, each far end saw one stream with no jump.
  check_continuous(a.got, 0);
  check_continuous(b.got, 0);
}

TEST_CASE("passthrough: RFC 4733 events go through with the far end's payload type and our numbering") {
  Room r;
  auto [a, b] = r.relaying_pair();
  // A's far end sends a digit instead of a packet of audio: telephone-event with the number our
  // offer gave it (101, RFC 3264 §5.1); B's far end must get it with its own number (96).
  a.talk(101);
  b.talk();
  r.io.run_for(20ms);
  r.io.restart();
  b.drain();
  r.step(3);
  bool event_seen = false;
  for (std::size_t i = 1; i < b.got.size(); ++i) {
    if (b.got[i].pt != 96) continue;
    event_seen = true;
    CHECK(b.got[i].payload == std::vector<std::uint8_t>{5, 0x0a, 0x00, 0xa0});
    CHECK(b.got[i].seq == static_cast<std::uint16_t>(b.got[i - 1].seq + 1));
  }
  CHECK(event_seen);
  CHECK(a.leg->stats().telephone_events == 1);
}

TEST_CASE("passthrough: legs on different codecs (PCMU, PCMA) are mixed, never relayed") {
  Room r;
  auto& a = r.add("PCMU");
  auto& b = r.add("PCMA");
  r.step(20);
  CHECK_FALSE(r.conf->relaying());
  CHECK(r.conf->stats().relay_starts == 0);
  CHECK(verbatim(b.got, a.sent_payloads) == 0);
  CHECK(b.got.size() >= 15);
}

TEST_CASE("passthrough: force mute ends it at once (no packet of the muted leg goes through), unmute resumes it") {
  Room r;
  auto [a, b] = r.relaying_pair();
  REQUIRE(r.conf->set_muted("call1", true));
  CHECK_FALSE(r.conf->relaying());
  const auto from = b.got.size();
  r.step(10);
  CHECK_FALSE(r.conf->relaying());
  std::vector<Got> after(b.got.begin() + static_cast<std::ptrdiff_t>(from), b.got.end());
  CHECK(verbatim(after, a.sent_payloads) == 0);
  REQUIRE(r.conf->set_muted("call1", false));
  r.step(5);
  CHECK(r.conf->relaying());
  check_continuous(b.got, 0);
}

TEST_CASE("passthrough: a far end that goes quiet sends the room back to the mix (encoded silence keeps flowing)") {
  Room r;
  auto [a, b] = r.relaying_pair();
  // A's far end stops sending (silence suppression); B keeps talking. Pauses up to 1 s pass
  // through as they are; after that the mix sends encoded silence.
  const auto from = b.got.size();
  for (int i = 0; i < 80; ++i) {
    b.talk();
    r.io.run_for(20ms);
    r.io.restart();
    a.drain(), b.drain();
  }
  CHECK_FALSE(r.conf->relaying());
  // After at most the relay's idle bound (1 s, checked every 100 ms) without A, B's far end
  // gets the mix's encoded silence every 20 ms: the sequence runs on, and the timestamp jumps
  // once by the pause, on a packet that starts a talkspurt (RFC 3550 §5.1: it follows the
  // sampling clock).
  CHECK(b.got.size() - from >= 12);
  int pauses = 0;
  for (std::size_t i = from + 1; i < b.got.size(); ++i) {
    CHECK(b.got[i].seq == static_cast<std::uint16_t>(b.got[i - 1].seq + 1));
    const auto dts = b.got[i].ts - b.got[i - 1].ts;
    CHECK(dts % 160 == 0);
    if (dts != 160) {
      ++pauses;
      CHECK(dts <= 160u * 60);
      CHECK(b.got[i].marker);
    }
  }
  CHECK(pauses <= 1);
}

TEST_CASE("passthrough: a far end that restarts its numbering (same SSRC) or its SSRC is re-anchored: the other far end sees no jump") {
  Room r;
  auto [a, b] = r.relaying_pair();
  a.seq = static_cast<std::uint16_t>(a.seq + 20000);  // beyond RFC 3550's MAX_DROPOUT
  a.ts += 123456789u;
  r.step(10);
  a.ssrc = 0xabcdef;  // and a new source altogether (the new SSRC needs two packets to be taken)
  a.ts += 987654u;
  r.step(10);
  CHECK(r.conf->relaying());
  check_continuous(b.got, 0);
  CHECK(verbatim(b.got, a.sent_payloads) >= 20);
}

// AES_CM_128_HMAC_SHA1_80 too: libsrtp2's own HMAC on OpenSSL 3 allocated twice per packet (it
// duplicates a digest context); ours (rtp/srtp_hmac.hpp) does not.
TEST_CASE("passthrough: the packet path allocates nothing — relayed (plain, SDES-SRTP AES-GCM and AES-CM/HMAC-SHA1) and mixed") {
  if (!allocation_counting_available()) {
    MESSAGE("allocation counting needs the sanitizer build's allocator hooks: skipped");
    return;
  }
  for (const std::string_view suite : {"", "AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"}) {
    CAPTURE(suite);
    const bool secure = !suite.empty();
    Room r;
    r.add("PCMU", secure, suite);
    r.add("PCMU", secure, suite);
    r.step(10);  // warm up: latching, first packets, buffers and Asio's recycled operation memory
    REQUIRE(r.conf->relaying());
    r.shard_allocations = 0;
    r.step(25);  // 50 packets received, 50 sent; no RTCP report falls in these 0.7 s
    CHECK(r.conf->relaying());
    CHECK(r.shard_allocations == 0);
  }
  // Three legs: jitter buffers, decode, resample, mix-minus, encode, send. Warm-up: the jitter
  // buffer's 50 slots each get their capacity the first time round the ring.
  // The window (1.1 s to 4 s after the start) holds every leg's first RTCP report (sent 1.25–3.75 s
  // after the start, RFC 3550 §6.2), so the report path is counted too.
  Room r;
  r.add("PCMU");
  r.add("PCMU");
  r.add("PCMU");
  r.step(55);
  REQUIRE_FALSE(r.conf->relaying());
  std::uint64_t reports = 0;
  for (auto& e : r.ends) reports += e->leg->stats().rtcp_sent;
  r.shard_allocations = 0;
  r.step(145);
  CHECK(r.shard_allocations == 0);
  std::uint64_t after = 0;
  for (auto& e : r.ends) after += e->leg->stats().rtcp_sent;
  CHECK(after > reports);
}
