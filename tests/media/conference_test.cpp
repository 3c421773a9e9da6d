// The conference tick with scripted participants: who hears whom, how many encodes a tick
// costs, and that encoder state follows a shared packet. The clock itself is not run here (the
// io_context never runs): tests call tick() directly.
#include "media/conference.hpp"

#include <doctest/doctest.h>

#include <boost/asio/io_context.hpp>

#include <cstring>
#include <vector>

using namespace sb;
using Clock = mix::Participant::Clock;

namespace {

// A participant that "talks" a constant level and records what it is sent. Its encoder is a
// real one (PCMU is stateless; Opus checks state adoption).
struct Fake final : mix::Participant {
  explicit Fake(std::int16_t level, mix::CodecId codec = mix::CodecId::pcmu) : level(level) {
    cfg.id = codec;
    enc = mix::make_encoder(cfg);
  }
  bool pull(Clock::time_point, mix::MixFrame& out) noexcept override {
    if (!talking) return false;
    out.fill(level);
    return true;
  }
  const mix::CodecConfig* send_config() const noexcept override { return listening ? &cfg : nullptr; }
  int encode(const mix::MixFrame& pcm, std::span<std::uint8_t> out) noexcept override {
    ++encodes;
    last_pcm = pcm[0];
    if (cfg.id != mix::CodecId::opus) {
      // Stand-in "encoding" that keeps the 48 kHz sample readable by the test.
      std::memcpy(out.data(), &pcm[0], 2);
      return 2;
    }
    return enc->encode(pcm, out);
  }
  const mix::Encoder* encoder() const noexcept override { return enc.get(); }
  bool adopt_encoder_state(const mix::Participant& leader) noexcept override {
    ++adoptions;
    return enc->copy_state_from(*leader.encoder());
  }
  void send(std::span<const std::uint8_t> payload) noexcept override {
    sent.emplace_back(payload.begin(), payload.end());
  }
  std::int16_t heard() const {
    std::int16_t v;
    std::memcpy(&v, sent.back().data(), 2);
    return v;
  }

  std::int16_t level;
  bool talking = true, listening = true;
  mix::CodecConfig cfg;
  std::unique_ptr<mix::Encoder> enc;
  int encodes = 0, adoptions = 0;
  std::int16_t last_pcm = 0;
  std::vector<std::vector<std::uint8_t>> sent;
};

}  // namespace

TEST_CASE("three parties: each hears the other two, never itself") {
  boost::asio::io_context io;
  auto room = std::make_shared<media::Conference>(io.get_executor(), "s");
  Fake a(1000), b(2000), c(4000);
  room->join(&a, "a");
  room->join(&b, "b");
  room->join(&c, "c");
  room->tick(Clock::now());
  REQUIRE(a.sent.size() == 1);
  CHECK(a.heard() == 6000);
  CHECK(b.heard() == 5000);
  CHECK(c.heard() == 3000);
  CHECK(room->stats().encodes == 3);
}

TEST_CASE("silent listeners of one codec share a single encode; the talker gets its own") {
  boost::asio::io_context io;
  auto room = std::make_shared<media::Conference>(io.get_executor(), "s");
  Fake talker(3000);
  std::vector<std::unique_ptr<Fake>> quiet;
  room->join(&talker, "t");
  for (int i = 0; i < 5; ++i) {
    quiet.push_back(std::make_unique<Fake>(0));
    quiet.back()->talking = false;
    room->join(quiet.back().get(), "q");
  }
  room->tick(Clock::now());
  CHECK(room->stats().encodes == 2);  // talker's N-1 mix (silence) + one shared full mix
  CHECK(room->stats().sends == 6);
  CHECK(talker.heard() == 0);
  int encoders = 0, adopted = 0;
  for (auto& q : quiet) {
    REQUIRE(q->sent.size() == 1);
    CHECK(q->heard() == 3000);
    encoders += q->encodes;
    adopted += q->adoptions;
  }
  CHECK(encoders == 1);
  CHECK(adopted == 4);
}

TEST_CASE("frames below the talker gate do not enter the mix; loud ones are held through the hangover") {
  boost::asio::io_context io;
  media::ConferenceOptions opt;
  opt.gate_dbfs = -40;
  opt.hangover = std::chrono::milliseconds(100);
  auto room = std::make_shared<media::Conference>(io.get_executor(), "s", opt);
  Fake hum(20), speaker(5000), ear(0);
  ear.talking = false;
  room->join(&hum, "h");
  room->join(&speaker, "s");
  room->join(&ear, "e");
  auto t = Clock::now();
  room->tick(t);
  CHECK(ear.heard() == 5000);  // the hum (−64 dBFS) is gated out
  // The speaker turns quiet: still mixed during the hangover, then gated.
  speaker.level = 10;
  room->tick(t + std::chrono::milliseconds(20));
  CHECK(ear.heard() == 10);
  room->tick(t + std::chrono::milliseconds(200));
  CHECK(ear.heard() == 0);
}

TEST_CASE("a listener that is not sending (on hold, no keys yet) is skipped; one that leaves is forgotten") {
  boost::asio::io_context io;
  auto room = std::make_shared<media::Conference>(io.get_executor(), "s");
  Fake a(100), b(200);
  b.listening = false;
  room->join(&a, "a");
  const auto idb = room->join(&b, "b");
  room->tick(Clock::now());
  CHECK(a.heard() == 200);
  CHECK(b.sent.empty());
  room->leave(idb);
  CHECK(room->size() == 1);
  room->tick(Clock::now());
  CHECK(a.heard() == 0);
}

TEST_CASE("Opus listeners sharing a packet keep identical encoder state") {
  boost::asio::io_context io;
  auto room = std::make_shared<media::Conference>(io.get_executor(), "s");
  Fake talker(3000, mix::CodecId::opus);
  Fake l1(0, mix::CodecId::opus), l2(0, mix::CodecId::opus);
  l1.talking = l2.talking = false;
  room->join(&talker, "t");
  room->join(&l1, "1");
  room->join(&l2, "2");
  auto t = Clock::now();
  for (int i = 0; i < 5; ++i) room->tick(t + std::chrono::milliseconds(20 * i));
  REQUIRE(l1.sent.size() == 5);
  CHECK(l1.sent == l2.sent);
  // After adoption, each encoder continues on its own from the same state: byte-identical output.
  mix::MixFrame f;
  f.fill(1234);
  std::array<std::uint8_t, 1500> o1, o2;
  const int n1 = l1.enc->encode(f, o1), n2 = l2.enc->encode(f, o2);
  REQUIRE(n1 > 0);
  CHECK(n1 == n2);
  CHECK(std::memcmp(o1.data(), o2.data(), static_cast<std::size_t>(n1)) == 0);
}

TEST_CASE("a tap sees its participant's frame each tick, null when it had none, and dies with it") {
  boost::asio::io_context io;
  auto room = std::make_shared<media::Conference>(io.get_executor(), "s");
  Fake sip(1000), browser(2000);
  browser.listening = false;  // contributes only, as a browser publication does
  const auto sip_id = room->join(&sip, "call-1");
  room->join(&browser, "stream-b");
  CHECK_FALSE(room->set_tap("nobody", [](const mix::MixFrame*) {}));
  struct Probe {
    std::vector<int> seen;  // first sample, or -1 for "nothing this tick"
    bool* destroyed = nullptr;
    ~Probe() { *destroyed = true; }
  };
  bool destroyed = false;
  auto probe = std::make_shared<Probe>();
  probe->destroyed = &destroyed;
  REQUIRE(room->set_tap("call-1", [probe](const mix::MixFrame* f) { probe->seen.push_back(f ? (*f)[0] : -1); }));
  CHECK(room->has_tap("call-1"));
  CHECK_FALSE(room->has_tap("stream-b"));
  room->tick(Clock::now());
  sip.talking = false;
  room->tick(Clock::now());
  CHECK(probe->seen == std::vector<int>{1000, -1});
  // The browser's input counts as a contributor, not a listener: only the SIP leg listens, and
  // it hears the browser.
  CHECK(room->listeners() == 1);
  CHECK(sip.heard() == 2000);
  auto* raw = probe.get();
  probe.reset();
  CHECK_FALSE(destroyed);  // the conference holds it
  (void)raw;
  room->leave(sip_id);
  CHECK(destroyed);
  room->tick(Clock::now());
  CHECK(room->listeners() == 0);
}

TEST_CASE("streams subset: a listener hears only the streams it asked for; equal subsets share an encode") {
  boost::asio::io_context io;
  auto room = std::make_shared<media::Conference>(io.get_executor(), "s");
  Fake a(1000), b(2000), c(4000), d(8000), e(16);
  room->join(&a, "call-a", true, "stream-a");
  room->join(&b, "call-b", true, "stream-b");
  room->join(&c, "call-c", true, "stream-c");
  room->join(&d, "call-d", true, "stream-d");
  room->join(&e, "call-e", true, "stream-e");
  d.talking = e.talking = false;
  // d and e hear only b (and a stream that is not in the room: it adds nothing).
  REQUIRE(room->set_subset("call-d", {"stream-b", "stream-gone"}));
  REQUIRE(room->set_subset("call-e", {"stream-gone", "stream-b"}));
  CHECK_FALSE(room->set_subset("nobody", {"stream-b"}));
  room->tick(Clock::now());
  CHECK(d.heard() == 2000);
  CHECK(e.heard() == 2000);
  CHECK(a.heard() == 6000);  // everyone else: b + c (d and e are silent)
  // Groups: a, b, c each their own N−1; d and e share the subset mix.
  CHECK(room->stats().encodes == 4);
  // b in its own subset hears nothing of itself.
  REQUIRE(room->set_subset("call-b", {"stream-b", "stream-c"}));
  room->tick(Clock::now());
  CHECK(b.heard() == 4000);
  // An empty list: everyone again.
  REQUIRE(room->set_subset("call-d", {}));
  room->tick(Clock::now());
  CHECK(d.heard() == 7000);
}

TEST_CASE("force mute: a muted participant leaves the mix and its tap, and still hears") {
  boost::asio::io_context io;
  auto room = std::make_shared<media::Conference>(io.get_executor(), "s");
  Fake a(1000), b(2000);
  room->join(&a, "call-a");
  room->join(&b, "call-b");
  int tapped = 0, null_tapped = 0;
  room->set_tap("call-a", [&](const mix::MixFrame* f) { f ? ++tapped : ++null_tapped; });
  REQUIRE(room->set_muted("call-a", true));
  CHECK(room->muted("call-a"));
  room->tick(Clock::now());
  CHECK(b.heard() == 0);     // a is not heard
  CHECK(a.heard() == 2000);  // a still hears b
  CHECK(null_tapped == 1);
  REQUIRE(room->set_muted("call-a", false));
  room->tick(Clock::now());
  CHECK(b.heard() == 1000);
  CHECK(tapped == 1);
  CHECK_FALSE(room->set_muted("nobody", true));
}
