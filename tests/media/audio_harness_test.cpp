// The audio-check harness itself (support/audio.hpp, support/udp_relay.hpp, the recording side
// of support/baresip.hpp), validated without Switchboard: the measures on synthetic cases, the
// relay over real sockets, then real baresip calling baresip, each leg playing a different
// talker and recording what it hears — directly for PCMU, G.722 and Opus, and through the
// impairing SIP/RTP relay. Figures are printed (MESSAGE) so thresholds can be set from them.
#include "support/audio.hpp"
#include "support/baresip.hpp"
#include "support/udp_relay.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <map>
#include <optional>
#include <random>
#include <utility>
#include <thread>

using namespace sb::test;
using namespace std::chrono_literals;
namespace au = sb::test::audio;

namespace {

const au::Pcm& talker_pcm(int i, double seconds = 12) {
  static std::map<std::pair<int, double>, au::Pcm> cache;
  auto key = std::pair{i, seconds};
  if (auto it = cache.find(key); it == cache.end()) cache[key] = au::read_wav(au::reference_wav(au::talker(i), seconds));
  return cache[key];
}

std::string describe(const au::Contents& m) {
  std::string out;
  for (std::size_t i = 0; i < m.refs.size(); ++i)
    out += fmt::format("[{}] gain {:.3f} share {:.3f} corr {:.3f} lag {:.0f} ms; ", char('A' + i), m.refs[i].gain,
                       m.refs[i].share, m.refs[i].correlation, m.refs[i].lag_ms);
  return out + fmt::format("residual {:.3f}", m.residual);
}

std::string fmt_sim(const au::Similarity& s) {
  return fmt::format("envelope {:.3f} segmental {:.3f} bands {:.3f} waveform {:.3f} lag {:.1f} ms over {:.1f} s",
                     s.envelope, s.segmental, s.bands, s.waveform, s.lag_ms, s.overlap_s);
}

au::Pcm noise(double seconds, int rate, double rms, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, float(rms));
  au::Pcm p;
  p.rate = rate;
  p.samples.resize(std::size_t(seconds * rate));
  for (auto& v : p.samples) v = d(rng);
  return p;
}

}  // namespace

TEST_CASE("audio: WAV round trip, WAVE_FORMAT_EXTENSIBLE stereo with extra chunks, and an unfinished header") {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("sb-audio-wav-{}", ::getpid());
  std::filesystem::create_directories(dir);
  au::Pcm p;
  p.rate = 16000;
  for (int i = 0; i < 1600; ++i) p.samples.push_back(float(0.5 * std::sin(2 * std::numbers::pi * 440 * i / 16000.0)));
  au::write_wav((dir / "plain.wav").string(), p);
  auto back = au::read_wav((dir / "plain.wav").string());
  CHECK(back.rate == 16000);
  REQUIRE(back.samples.size() == p.samples.size());
  for (std::size_t i = 0; i < p.samples.size(); ++i) CHECK(std::abs(back.samples[i] - p.samples[i]) < 1.0 / 32768 + 1e-6);

  // As libsndfile writes it: extensible fmt (40 bytes), a LIST chunk of odd size (padded), a PEAK
  // chunk, stereo 16-bit; left = x, right = −x/2 → mono (x/4).
  auto le = [](std::string& s, std::uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) s.push_back(char(v >> (8 * i) & 0xff));
  };
  std::string f = "RIFF0000WAVE";
  f += "fmt ";
  le(f, 40, 4);
  le(f, 0xFFFE, 2), le(f, 2, 2), le(f, 8000, 4), le(f, 32000, 4), le(f, 4, 2), le(f, 16, 2);
  le(f, 22, 2), le(f, 16, 2), le(f, 3, 4);
  le(f, 1, 2);  // SubFormat GUID: KSDATAFORMAT_SUBTYPE_PCM
  f += std::string("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14);
  f += "LIST";
  le(f, 5, 4);
  f += std::string("abcde") + '\0';
  f += "PEAK";
  le(f, 4, 4);
  le(f, 0, 4);
  f += "data";
  le(f, 0, 4);  // size never fixed up: read to the end of the file
  for (int i = 0; i < 100; ++i) {
    le(f, std::uint32_t(std::int16_t(i * 100)) & 0xffff, 2);
    le(f, std::uint32_t(std::int16_t(-i * 50)) & 0xffff, 2);
  }
  std::ofstream((dir / "ext.wav").string(), std::ios::binary) << f;
  auto ext = au::read_wav((dir / "ext.wav").string());
  CHECK(ext.rate == 8000);
  REQUIRE(ext.samples.size() == 100);
  CHECK(ext.samples[40] == doctest::Approx(40 * 25 / 32768.0).epsilon(1e-6));
  CHECK_THROWS(au::read_wav((dir / "missing.wav").string()));
  std::filesystem::remove_all(dir);
}

TEST_CASE("audio: resampling 48 kHz to 8 kHz keeps a 1 kHz tone and removes a 6 kHz one") {
  au::Pcm p;
  p.rate = 48000;
  for (int i = 0; i < 48000; ++i) p.samples.push_back(float(0.5 * std::sin(2 * std::numbers::pi * 1000 * i / 48000.0)));
  auto r = au::resample(p, 8000);
  CHECK(r.rate == 8000);
  CHECK(std::abs(int(r.samples.size()) - 8000) <= 1);
  CHECK(au::level_dbfs(r) == doctest::Approx(au::level_dbfs(p)).epsilon(0.02));
  // Compared with the tone made at 8 kHz directly (away from the edges).
  double err = 0;
  for (int i = 100; i < 7900; ++i) err += std::pow(r.samples[std::size_t(i)] - 0.5 * std::sin(2 * std::numbers::pi * 1000 * i / 8000.0), 2);
  CHECK(err / 7800 < 1e-5);
  au::Pcm hi;
  hi.rate = 48000;
  for (int i = 0; i < 48000; ++i) hi.samples.push_back(float(0.5 * std::sin(2 * std::numbers::pi * 6000 * i / 48000.0)));
  CHECK(au::level_dbfs(au::resample(hi, 8000)) < au::level_dbfs(hi) - 40);
}

TEST_CASE("audio: talkers are distinct, a recording matches its own reference at the right lag") {
  const auto t0 = std::chrono::steady_clock::now();
  const au::Pcm& a = talker_pcm(0);
  const au::Pcm& b = talker_pcm(1);
  const au::Pcm& c = talker_pcm(2);
  static bool once = false;
  if (!std::exchange(once, true))
    MESSAGE(fmt::format("espeak-ng + sox for three 12 s talkers: {} ms",
                        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()));
  CHECK(a.rate == 48000);
  CHECK(a.seconds() == doctest::Approx(12.0));
  CHECK(au::level_dbfs(a) > -30);

  SUBCASE("identical") {
    auto s = au::compare(a, a);
    MESSAGE("A vs A: ", fmt_sim(s));
    CHECK(s.envelope > 0.999);
    CHECK(s.waveform > 0.999);
    CHECK(s.lag_ms == 0);
  }
  SUBCASE("delayed, quieter, at another rate") {
    const auto t = std::chrono::steady_clock::now();
    auto rec = au::resample(au::delayed(a, 0.7375, 0.3), 16000);
    auto s = au::compare(rec, a);
    MESSAGE("A delayed 737.5 ms at 16 kHz vs A: ", fmt_sim(s), fmt::format(" ({} ms)", std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count()));
    CHECK(s.envelope > 0.98);
    CHECK(s.waveform > 0.98);
    CHECK(s.lag_ms == doctest::Approx(737.5).epsilon(0.001));
    auto early = au::compare(au::delayed(a, -1.5), a);  // the recording began 1.5 s into the reference
    CHECK(early.envelope > 0.98);
    CHECK(early.lag_ms == doctest::Approx(-1500));
  }
  SUBCASE("different talkers and noise are low") {
    for (auto [x, y, name] : {std::tuple{&a, &b, std::string("A vs B")}, {&a, &c, std::string("A vs C")}, {&b, &c, std::string("B vs C")}}) {
      auto s = au::compare(*x, *y);
      MESSAGE(name, ": ", fmt_sim(s));
      CHECK(s.envelope < 0.4);
      CHECK(s.segmental < 0.5);
      CHECK(s.bands < 0.4);
      CHECK(s.waveform < 0.2);
    }
    auto n = au::compare(noise(12, 8000, 0.1, 7), a);
    MESSAGE("white noise vs A: ", fmt_sim(n));
    CHECK(n.envelope < 0.3);
    CHECK(n.waveform < 0.1);
  }
  SUBCASE("speech in noise still matches (20 dB SNR)") {
    auto n = noise(12, 48000, std::pow(10, (au::level_dbfs(a) - 20) / 20), 3);
    auto s = au::compare(au::mix({&a, &n}), a);
    MESSAGE("A + noise at 20 dB SNR vs A: ", fmt_sim(s));
    CHECK(s.envelope > 0.8);
  }
  SUBCASE("a mix contains its parts and not the others") {
    auto a_late = au::delayed(a, 0.25), b_late = au::delayed(b, 0.6, 0.7);
    auto ab = au::resample(au::mix({&a_late, &b_late}), 8000);
    const auto t = std::chrono::steady_clock::now();
    auto m = au::contains(ab, {&a, &b, &c});
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
    MESSAGE(fmt::format("A(+250 ms) + 0.7·B(+600 ms) against A, B, C ({} ms): {}", ms, describe(m)));
    REQUIRE(m.refs.size() == 3);
    CHECK(m.refs[0].gain == doctest::Approx(1.0).epsilon(0.1));
    CHECK(m.refs[1].gain == doctest::Approx(0.49).epsilon(0.1));  // power gain of 0.7 amplitude
    CHECK(m.refs[0].lag_ms == 250);
    CHECK(m.refs[1].lag_ms == 600);
    CHECK(m.refs[0].share > 0.4);
    CHECK(m.refs[1].share > 0.2);
    CHECK(m.refs[2].share < 0.05);
    CHECK(m.residual < 0.1);
    // Only A: B and C absent.
    auto only_a = au::contains(a_late, {&a, &b, &c});
    MESSAGE("A alone against A, B, C: ", describe(only_a));
    CHECK(only_a.refs[0].share > 0.9);
    CHECK(only_a.refs[1].share < 0.05);
    CHECK(only_a.refs[2].share < 0.05);
  }
}

TEST_CASE("udp relay: forwards both ways, drops and reorders as configured, stops cleanly") {
  // An echo peer as the target; a client socket sends 1000 numbered datagrams.
  auto sock = [] {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    timeval tv{0, 200000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  };
  auto port_of = [](int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  };
  int echo = sock(), client = sock();
  std::atomic<bool> stop{false};
  std::thread echoer([&] {
    char buf[2048];
    while (!stop) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      auto n = ::recvfrom(echo, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n > 0) ::sendto(echo, buf, std::size_t(n), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  });
  std::vector<int> got;
  UdpRelay::Counters c;
  {
    UdpRelay relay({.target_port = port_of(echo),
                    .to_target = {.loss = 0.1, .jitter_ms = 30},
                    .to_client = {.loss = 0.1},
                    .seed = 42});
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(relay.port());
    std::thread receiver([&] {
      char buf[64];
      for (;;) {
        auto n = ::recv(client, buf, sizeof buf, 0);
        if (n <= 0) break;  // 200 ms of quiet after the last: everything in flight has arrived
        got.push_back(std::stoi(std::string(buf, std::size_t(n))));
      }
    });
    for (int i = 0; i < 1000; ++i) {
      auto msg = std::to_string(i);
      ::sendto(client, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      if (i % 20 == 0) std::this_thread::sleep_for(2ms);
    }
    receiver.join();
    c = relay.counters();
    CHECK(relay.client() == port_of(client));  // latched
  }  // the relay stops here
  stop = true;
  echoer.join();
  ::close(echo);
  ::close(client);
  MESSAGE(fmt::format("1000 sent: {} to target, {} back, {} lost, {} reordered, {} received", c.to_target, c.to_client,
                      c.lost, c.reordered, got.size()));
  CHECK(c.to_target + c.to_client + c.lost == 1000 + c.to_target);  // every echo came back through it
  CHECK(c.to_target > 850);
  CHECK(c.to_target < 950);
  CHECK(got.size() == c.to_client);
  CHECK(c.reordered > 50);
  CHECK_FALSE(std::is_sorted(got.begin(), got.end()));
  CHECK(c.overflow == 0);
}

TEST_CASE("sdp relay: the audio port is replaced and Content-Length follows") {
  std::string body = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 38968 RTP/AVP 0 101\r\n";
  std::string msg = "SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n\r\n" + body;
  auto old = SdpRelay::rewrite_audio_port(msg, 4000);
  REQUIRE(old);
  CHECK(*old == 38968);
  CHECK(msg.find("m=audio 4000 RTP/AVP 0 101\r\n") != std::string::npos);
  CHECK(msg.find(fmt::format("Content-Length: {}\r\n", body.size() - 1)) != std::string::npos);
  std::string no_sdp = "BYE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
  CHECK_FALSE(SdpRelay::rewrite_audio_port(no_sdp, 4000));
}

namespace {

// Leg A calls leg B (B through `relay` if given); each plays its talker and records. Returns
// once both have ended the call.
struct Pair {
  std::unique_ptr<Baresip> b, a;
  std::unique_ptr<SdpRelay> relay;
  Pair(const std::string& codecs, double seconds, std::optional<SdpRelay::Options> via = std::nullopt) {
    Baresip::Options ob;
    ob.accounts = {{"uas", ";audio_codecs=" + codecs}};
    ob.source_wav = au::reference_wav(au::talker(1), seconds);
    b = std::make_unique<Baresip>(ob);
    std::uint16_t port = b->port();
    if (via) {
      via->sip_target_port = b->port();
      relay = std::make_unique<SdpRelay>(*via);
      port = relay->sip_port();
    }
    Baresip::Options oa;
    oa.accounts = {{"uac", ";audio_codecs=" + codecs}};
    oa.source_wav = au::reference_wav(au::talker(0), seconds);
    oa.dial = fmt::format("sip:uas@127.0.0.1:{}", port);
    a = std::make_unique<Baresip>(oa);
  }
  void wait(std::chrono::milliseconds t) {
    REQUIRE_MESSAGE(a->wait_calls_ended(t), a->log());
    REQUIRE_MESSAGE(b->wait_calls_ended(5s), b->log());
  }
};

struct LegFigures {
  au::Similarity heard_other, heard_self, sent_own;
  au::Contents mix;  // what it heard against {own, other, a third talker}
  int rate = 0;
};

// What one leg heard (its -dec recording) against both talkers, and what it sent against its own.
LegFigures figures(const Baresip& leg, const au::Analysis& own, const au::Analysis& other, const au::Analysis& third) {
  auto recs = leg.recordings();
  REQUIRE_MESSAGE(recs.size() == 1, leg.log());
  auto rx = au::read_wav(recs[0].received), tx = au::read_wav(recs[0].sent);
  CHECK(rx.seconds() > 5);
  auto heard = au::analyse(rx);
  return {au::compare(heard, other), au::compare(heard, own), au::compare(au::analyse(tx), own),
          au::contains(heard, {&own, &other, &third}), rx.rate};
}

}  // namespace

TEST_CASE("interop: baresip calls baresip, each hears the other talker and not itself (PCMU, G.722, Opus, impaired)") {
  constexpr double kSeconds = 10;
  const au::Analysis ta = au::analyse(talker_pcm(0, kSeconds));
  const au::Analysis tb = au::analyse(talker_pcm(1, kSeconds));
  const au::Analysis tc = au::analyse(talker_pcm(2, kSeconds));
  const auto t0 = std::chrono::steady_clock::now();
  // All four calls at once: each is two baresips and ~11 s of audio.
  struct Case {
    std::string name, codecs;
    std::optional<SdpRelay::Options> via;
  };
  // (baresip 1.0.0 ignores a bare "opus" or "g722" here and offers everything, PCMU first.)
  std::vector<Case> cases{{"PCMU", "pcmu", {}},
                          {"G.722", "g722/16000/1", {}},
                          {"Opus", "opus/48000/2", {}},
                          {"PCMU, 5% loss + 0-60 ms jitter both ways", "pcmu",
                           SdpRelay::Options{.to_callee = {.loss = 0.05, .jitter_ms = 60},
                                             .to_caller = {.loss = 0.05, .jitter_ms = 60},
                                             .seed = 7}}};
  std::vector<std::unique_ptr<Pair>> pairs;
  for (auto& c : cases) pairs.push_back(std::make_unique<Pair>(c.codecs, kSeconds, c.via));
  for (auto& p : pairs) p->wait(30s);
  const auto call_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].name);
    auto& p = *pairs[i];
    const auto t = std::chrono::steady_clock::now();
    auto fa = figures(*p.a, ta, tb, tc);
    auto fb = figures(*p.b, tb, ta, tc);
    const auto analysis_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
    std::string relay;
    if (p.relay) {
      auto r = p.relay->rtp();
      relay = fmt::format("\n  relay: {} to callee, {} to caller, {} lost, {} reordered, {} stray", r.to_target,
                          r.to_client, r.lost, r.reordered, r.stray);
      CHECK(r.lost > 0);
      CHECK(r.to_target > 300);
      CHECK(r.to_client > 300);
    }
    MESSAGE(fmt::format("{} (recorded at {} Hz; {} ms analysis):\n  A heard B: {}\n  A heard A: {}\n  A sent A:  {}\n  B heard A: {}\n  B heard B: "
                        "{}\n  B sent B:  {}\n  A heard [A, B, C]: {}\n  B heard [B, A, C]: {}{}",
                        cases[i].name, fa.rate, analysis_ms, fmt_sim(fa.heard_other), fmt_sim(fa.heard_self), fmt_sim(fa.sent_own),
                        fmt_sim(fb.heard_other), fmt_sim(fb.heard_self), fmt_sim(fb.sent_own), describe(fa.mix),
                        describe(fb.mix), relay));
    CHECK(fa.rate == (i == 1 ? 16000 : i == 2 ? 48000 : 8000));
    for (auto* f : {&fa, &fb}) {
      // Impaired: the receiver's jitter buffer moves the delay during the call, so judge by
      // the segmental (locally re-aligned) envelope correlation.
      // (baresip's own jitter buffer against 0–60 ms of jitter: 0.82–0.95 seen.)
      CHECK(f->heard_other.segmental > (p.relay ? 0.7 : 0.9));
      CHECK(f->heard_self.segmental < 0.5);
      CHECK(f->sent_own.envelope > 0.9);
      REQUIRE(f->mix.refs.size() == 3);
      CHECK(f->mix.refs[1].share > (p.relay ? 0.5 : 0.9));  // the other talker
      // Not itself nor someone absent. Under jitter the delay drifts and the one-lag-per-talker
      // fit lends absent talkers some of the misaligned energy (up to 0.12 seen).
      CHECK(f->mix.refs[0].share < (p.relay ? 0.25 : 0.05));
      CHECK(f->mix.refs[2].share < (p.relay ? 0.25 : 0.05));
      if (!p.relay) {
        CHECK(f->heard_other.envelope > 0.9);
        CHECK(f->heard_self.envelope < 0.4);
      }
    }
  }
  MESSAGE(fmt::format("four calls in parallel took {} ms", call_ms));
}
