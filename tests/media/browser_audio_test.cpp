// The browser side of the session mix, sans-I/O: a SIP party's frames encoded once into an Opus
// RTP stream (OpusStreamOutput), and a browser's Opus RTP decoded into mix frames (OpusInput).
// The two are run back to back, so the round trip is checked on real Opus.
#include "media/browser_audio.hpp"
#include "rtp/packet.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using namespace sb;
using Clock = mix::Participant::Clock;

namespace {

mix::MixFrame tone(int k, double amplitude = 8000) {
  mix::MixFrame f;
  for (std::size_t i = 0; i < f.size(); ++i)
    f[i] = static_cast<std::int16_t>(amplitude * std::sin(2 * M_PI * 440.0 * double(k * 960 + int(i)) / 48000.0));
  return f;
}

struct Captured {
  std::vector<std::vector<std::uint8_t>> packets;
  media::OpusStreamOutput::Send sink() {
    return [this](std::span<const std::uint8_t> p) { packets.emplace_back(p.begin(), p.end()); };
  }
};

}  // namespace

TEST_CASE("a SIP party's stream: one RTP packet per tick, continuous sequence and clock, marker on each talkspurt") {
  Captured cap;
  media::OpusStreamOutput out(0x11223344, cap.sink());
  auto f0 = tone(0);
  out.on_frame(&f0, true);
  out.on_frame(nullptr, true);  // the party sent nothing: silence, still one packet
  out.on_frame(&f0, false);     // nobody subscribed: nothing encoded
  out.on_frame(&f0, true);
  REQUIRE(cap.packets.size() == 3);
  std::vector<rtp::RtpView> v;
  for (auto& p : cap.packets) {
    auto r = rtp::parse_rtp(p);
    REQUIRE(r);
    v.push_back(*r);
  }
  for (auto& x : v) {
    CHECK(x.ssrc == 0x11223344u);
    CHECK(x.payload_type == 111);
    CHECK_FALSE(x.payload.empty());
  }
  CHECK(v[0].marker);
  CHECK_FALSE(v[1].marker);
  CHECK(v[2].marker);  // after the skipped tick: a new talkspurt
  CHECK(std::uint16_t(v[1].seq - v[0].seq) == 1);
  CHECK(std::uint16_t(v[2].seq - v[1].seq) == 1);  // no gap in sequence: nothing was lost
  CHECK(v[1].timestamp - v[0].timestamp == 960u);
  CHECK(v[2].timestamp - v[1].timestamp == 1920u);  // the clock ran on through the skipped tick
  CHECK(out.stats().frames == 3);
  CHECK(out.stats().silent_frames == 1);
  CHECK(out.stats().skipped == 1);
}

TEST_CASE("a browser's Opus enters the mix: encoded, pushed, pulled back as audio of the same level") {
  Captured cap;
  media::OpusStreamOutput out(77, cap.sink());
  for (int k = 0; k < 50; ++k) {
    auto f = tone(k);
    out.on_frame(&f, true);
  }
  media::OpusInput in(111, 77);
  auto t = Clock::now();
  int frames = 0;
  double energy = -200;
  for (std::size_t k = 0; k < cap.packets.size(); ++k) {
    in.push(cap.packets[k], t);
    mix::MixFrame f;
    if (in.pull(t, f)) {
      ++frames;
      if (k > 10) energy = std::max(energy, mix::level_dbfs(f));
    }
    t += std::chrono::milliseconds(20);
  }
  CHECK(frames >= 45);  // the jitter buffer's start-up delay only
  // A 8000-peak sine is about −15 dBFS; Opus at 32 kb/s keeps it within a few dB.
  CHECK(energy > -20.0);
  CHECK(energy < -10.0);
  CHECK(in.stats().packets == 50);
  CHECK(in.stats().decode_errors == 0);
}

TEST_CASE("a browser input drops what is not its track: other SSRC, other payload type, not RTP") {
  Captured cap;
  media::OpusStreamOutput out(5, cap.sink());
  auto f = tone(0);
  out.on_frame(&f, true);
  media::OpusInput wrong_ssrc(111, 6), wrong_pt(96, 5);
  wrong_ssrc.push(cap.packets[0], Clock::now());
  wrong_pt.push(cap.packets[0], Clock::now());
  const std::uint8_t junk[] = {0x00, 0x01, 0x02};
  wrong_pt.push(junk, Clock::now());
  CHECK(wrong_ssrc.stats().foreign == 1);
  CHECK(wrong_pt.stats().foreign == 1);
  CHECK(wrong_pt.stats().malformed == 1);
  CHECK(wrong_pt.stats().packets == 0);
  mix::MixFrame out_frame;
  CHECK_FALSE(wrong_ssrc.pull(Clock::now(), out_frame));
}
