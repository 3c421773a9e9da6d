#include "mix/mixer.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace sb::mix;

namespace {
MixFrame constant(std::int16_t v) {
  MixFrame f;
  f.fill(v);
  return f;
}
MixFrame sine(double hz, double amp) {
  MixFrame f;
  for (std::size_t i = 0; i < mix_frame; ++i)
    f[i] = static_cast<std::int16_t>(std::lround(amp * std::sin(2 * M_PI * hz * static_cast<double>(i) / mix_rate)));
  return f;
}
const MixGroup& group_of(std::span<const MixGroup> gs, std::size_t listener) {
  for (const auto& g : gs)
    for (auto l : g.listeners)
      if (l == listener) return g;
  FAIL("listener has no group");
  return gs.front();
}
}  // namespace

TEST_CASE("each listener hears everyone but itself (N-1)") {
  auto a = constant(100), b = constant(20), c = constant(3);
  Mixer m;
  MixInput in[] = {{1, &a}, {2, &b}, {3, &c}};
  MixListener ls[] = {{1, 0}, {2, 0}, {3, 0}};
  auto gs = m.mix(in, ls);
  CHECK(gs.size() == 3);
  CHECK(group_of(gs, 0).pcm[0] == 23);   // A hears B + C
  CHECK(group_of(gs, 1).pcm[500] == 103); // B hears A + C
  CHECK(group_of(gs, 2).pcm[959] == 120); // C hears A + B
  CHECK(group_of(gs, 2).excluded == 3);
}

TEST_CASE("a sine from one party reaches the others unchanged and never its own ear") {
  auto a = sine(440, 8000);
  auto b = constant(0);
  Mixer m;
  MixInput in[] = {{1, &a}, {2, &b}};
  MixListener ls[] = {{1, 0}, {2, 0}};
  auto gs = m.mix(in, ls);
  CHECK(group_of(gs, 1).pcm == a);
  for (auto s : group_of(gs, 0).pcm) REQUIRE(s == 0);
}

TEST_CASE("sums are 32-bit and clamped once: loud talkers clip only where the sum overflows") {
  auto a = constant(30000), b = constant(30000), c = constant(-30000);
  Mixer m;
  MixInput in[] = {{1, &a}, {2, &b}, {3, &c}};
  MixListener ls[] = {{1, 0}, {3, 0}, {9, 0}};
  auto gs = m.mix(in, ls);
  // A hears B + C = 0 exactly: an intermediate clamp (30000 + 30000 → 32767, then −30000) would
  // give 2767.
  CHECK(group_of(gs, 0).pcm[0] == 0);
  CHECK(group_of(gs, 1).pcm[0] == 32767);   // C hears A + B = 60000 → clamped
  CHECK(group_of(gs, 2).pcm[0] == 30000);   // a pure listener hears all three: 30000
  CHECK(m.stats().clipped_samples == mix_frame);
  auto d = constant(-30000), e = constant(-30000);
  MixInput in2[] = {{4, &d}, {5, &e}};
  MixListener ls2[] = {{9, 0}};
  CHECK(m.mix(in2, ls2)[0].pcm[0] == -32768);
}

TEST_CASE("listeners that did not contribute share one output per codec key") {
  auto a = sine(300, 5000);
  Mixer m;
  MixInput in[] = {{1, &a}};
  // Listener 1 talks; 2, 3, 4 are silent (no input); 2 and 3 share codec 7, 4 uses codec 8.
  MixListener ls[] = {{1, 7}, {2, 7}, {3, 7}, {4, 8}};
  auto gs = m.mix(in, ls);
  REQUIRE(gs.size() == 3);
  const auto& shared = group_of(gs, 1);
  CHECK(&shared == &group_of(gs, 2));
  CHECK(shared.listeners.size() == 2);
  CHECK(shared.excluded == 0);
  CHECK(shared.pcm == a);
  CHECK(&group_of(gs, 3) != &shared);
  CHECK(group_of(gs, 3).codec_key == 8);
  CHECK(group_of(gs, 0).excluded == 1);
  CHECK(m.stats().groups == 3);
  CHECK(m.stats().listeners == 4);
}

TEST_CASE("no contributors: every listener gets silence, one group per codec") {
  Mixer m;
  MixListener ls[] = {{1, 0}, {2, 0}, {3, 1}};
  auto gs = m.mix({}, ls);
  CHECK(gs.size() == 2);
  for (const auto& g : gs)
    for (auto s : g.pcm) REQUIRE(s == 0);
}

TEST_CASE("groups are reused tick after tick without stale listeners") {
  auto a = constant(5);
  Mixer m;
  MixInput in[] = {{1, &a}};
  MixListener three[] = {{1, 0}, {2, 0}, {3, 0}};
  CHECK(m.mix(in, three).size() == 2);
  MixListener one[] = {{2, 0}};
  auto gs = m.mix({}, one);
  REQUIRE(gs.size() == 1);
  CHECK(gs[0].listeners.size() == 1);
  CHECK(gs[0].pcm[0] == 0);
}

TEST_CASE("a duplicate contributor id counts once") {
  auto a = constant(10);
  Mixer m;
  MixInput in[] = {{1, &a}, {1, &a}};
  MixListener ls[] = {{2, 0}};
  CHECK(m.mix(in, ls)[0].pcm[0] == 10);
}

TEST_CASE("level_dbfs: full-scale square is 0 dBFS, silence is the floor") {
  auto f = constant(32767);
  CHECK(level_dbfs(f) == doctest::Approx(0.0).epsilon(0.01));
  auto s = sine(1000, 32767 / 10.0);
  CHECK(level_dbfs(s) == doctest::Approx(-23.0).epsilon(0.02));  // −20 dB amplitude, −3 dB sine
  auto z = constant(0);
  CHECK(level_dbfs(z) == -96.0);
}

TEST_CASE("mixer subsets: summed from the listed contributors only, minus the listener itself") {
  sb::mix::Mixer m;
  sb::mix::MixFrame f1, f2, f3;
  f1.fill(100);
  f2.fill(200);
  f3.fill(400);
  const sb::mix::MixInput in[] = {{1, &f1}, {2, &f2}, {3, &f3}};
  const std::uint32_t hears_12[] = {1, 2};
  const sb::mix::MixListener ls[] = {
      {1, 7, 5, hears_12},  // contributor 1, hears {1,2}: 200
      {9, 7, 5, hears_12},  // silent listener, same subset: 300
      {2, 7, 0, {}},        // everyone minus itself: 500
  };
  const auto groups = m.mix(in, ls);
  REQUIRE(groups.size() == 3);
  auto value_for = [&](std::size_t listener) {
    for (const auto& g : groups)
      for (auto l : g.listeners)
        if (l == listener) return int(g.pcm[0]);
    return -1;
  };
  CHECK(value_for(0) == 200);
  CHECK(value_for(1) == 300);
  CHECK(value_for(2) == 500);
}
