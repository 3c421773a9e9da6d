// Sample-rate conversion (src/mix/resampler.hpp): passband flatness, alias and image rejection,
// exact per-frame output counts, and streaming that joins frames exactly as one long call would.
#include "mix/resampler.hpp"

#include "support/signals.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <stdexcept>
#include <vector>

using namespace sb::mix;

namespace {

using sb::test::Pcm;
using sb::test::sine;
using sb::test::two_pi;


// Resamples `in` in 20 ms frames, as the mixer does.
Pcm stream(Resampler& r, const Pcm& in) {
  const auto fin = static_cast<std::size_t>(r.in_rate() / 50),
             fout = static_cast<std::size_t>(r.out_rate() / 50);
  Pcm out, frame(fout);
  for (std::size_t pos = 0; pos + fin <= in.size(); pos += fin) {
    const int n = r.process(std::span(in).subspan(pos, fin), frame);
    REQUIRE(n == static_cast<int>(fout));
    out.insert(out.end(), frame.begin(), frame.end());
  }
  return out;
}

// Amplitude of the `hz` component of v[from, end) (least-squares fit of sin + cos), and the RMS of
// what is left after removing it.
struct Fit {
  double amplitude, residual_rms;
};
Fit fit(const Pcm& v, int rate, double hz, std::size_t from) {
  double ss = 0, sc = 0, cc = 0, ys = 0, yc = 0;
  for (std::size_t i = from; i < v.size(); ++i) {
    const double w = two_pi * hz * static_cast<double>(i) / rate, s = std::sin(w), c = std::cos(w);
    ss += s * s;
    sc += s * c;
    cc += c * c;
    ys += v[i] * s;
    yc += v[i] * c;
  }
  const double det = ss * cc - sc * sc;
  const double a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det;
  double res = 0;
  for (std::size_t i = from; i < v.size(); ++i) {
    const double w = two_pi * hz * static_cast<double>(i) / rate;
    const double e = v[i] - a * std::sin(w) - b * std::cos(w);
    res += e * e;
  }
  return {std::hypot(a, b), std::sqrt(res / static_cast<double>(v.size() - from))};
}

double rms(const Pcm& v, std::size_t from) {
  double e = 0;
  for (std::size_t i = from; i < v.size(); ++i)
    e += static_cast<double>(v[i]) * v[i];
  return std::sqrt(e / static_cast<double>(v.size() - from));
}

double db(double ratio) { return 20 * std::log10(ratio); }

struct Pair {
  int in, out;
};
constexpr Pair all_pairs[] = {{8000, 48000},  {48000, 8000}, {16000, 48000},
                              {48000, 16000}, {8000, 16000}, {16000, 8000}};

} // namespace

TEST_CASE("passband tones keep their amplitude within 1 dB through every conversion") {
  for (const Pair pair : all_pairs) {
    const int in_rate = pair.in, out_rate = pair.out; // named: clang 14 cannot capture bindings
    const int narrow = std::min(in_rate, out_rate);
    // 300 Hz to 75 % of the narrower Nyquist: 3 kHz at 8 kHz, 6 kHz at 16 kHz.
    for (const double hz : {300.0, 1000.0, narrow == 8000 ? 3000.0 : 6000.0}) {
      CAPTURE(in_rate);
      CAPTURE(out_rate);
      CAPTURE(hz);
      Resampler r(in_rate, out_rate);
      const Pcm out = stream(r, sine(in_rate, hz, static_cast<std::size_t>(in_rate / 2)));
      const Fit f = fit(out, out_rate, hz, static_cast<std::size_t>(out_rate / 25)); // skip 40 ms
      const double gain_db = db(f.amplitude / 10000);
      CHECK(gain_db > -1);
      CHECK(gain_db < 1);
      // What is not the tone (filter ripple, images, rounding) is small too.
      CHECK(db(f.residual_rms / (10000 / std::sqrt(2.0))) < -40);
    }
  }
}

TEST_CASE("a tone above the target Nyquist is rejected by at least 40 dB, not aliased") {
  struct Case {
    int in, out;
    double hz;
  };
  // 6 kHz would alias to 2 kHz at 8 kHz; 12 kHz to 4 kHz at 16 kHz; 5 kHz to 3 kHz at 8 kHz.
  for (const Case c : {Case{48000, 8000, 6000}, Case{48000, 16000, 12000}, Case{16000, 8000, 5000},
                       Case{48000, 8000, 20000}}) {
    const int in_rate = c.in, out_rate = c.out;
    const double hz = c.hz;
    CAPTURE(in_rate);
    CAPTURE(out_rate);
    CAPTURE(hz);
    Resampler r(in_rate, out_rate);
    const Pcm out = stream(r, sine(in_rate, hz, static_cast<std::size_t>(in_rate / 2)));
    const double level_db =
        db(rms(out, static_cast<std::size_t>(out_rate / 25)) / (10000 / std::sqrt(2.0)));
    // Measured: every output sample rounds to 0 (below −86 dB for this amplitude).
    MESSAGE(in_rate << " -> " << out_rate << " " << hz << " Hz: " << level_db << " dB");
    CHECK(level_db < -40);
  }
}

TEST_CASE("upsampling a 3 kHz tone to 48 kHz creates no images above 4 kHz") {
  Resampler r(8000, 48000);
  const Pcm out = stream(r, sine(8000, 3000, 4000));
  const Fit f = fit(out, 48000, 3000, 48000 / 25);
  // Images would sit at 5, 11, 13 kHz…; they are all in the residual.
  CHECK(db(f.residual_rms / (f.amplitude / std::sqrt(2.0))) < -40);
}

TEST_CASE("every 20 ms frame yields exactly in.size() * out / in samples, 100 frames in a row") {
  for (const Pair pair : all_pairs) {
    const int in_rate = pair.in, out_rate = pair.out; // named: clang 14 cannot capture bindings
    CAPTURE(in_rate);
    CAPTURE(out_rate);
    for (const int ms : {10, 20, 60}) {
      Resampler r(in_rate, out_rate);
      const auto fin = static_cast<std::size_t>(in_rate / 1000 * ms),
                 fout = static_cast<std::size_t>(out_rate / 1000 * ms);
      const Pcm in = sine(in_rate, 440, fin * 100);
      Pcm out(fout);
      bool exact = true;
      for (std::size_t f = 0; f < 100; ++f)
        exact =
            exact && r.process(std::span(in).subspan(f * fin, fin), out) == static_cast<int>(fout);
      CHECK(exact);
    }
  }
}

TEST_CASE("streaming 20 ms frames gives the same samples as one long call (no clicks at joins)") {
  for (const Pair pair : all_pairs) {
    const int in_rate = pair.in, out_rate = pair.out; // named: clang 14 cannot capture bindings
    CAPTURE(in_rate);
    CAPTURE(out_rate);
    const Pcm in = sine(in_rate, 700, static_cast<std::size_t>(in_rate / 2), 20000);
    Resampler chunked(in_rate, out_rate), whole(in_rate, out_rate);
    const Pcm a = stream(chunked, in);
    Pcm b(a.size());
    REQUIRE(whole.process(in, b) == static_cast<int>(b.size()));
    CHECK(a == b);
    // And the joins are smooth: no step between consecutive samples larger than a 700 Hz sine at
    // 20 000 can make (2π·700/rate·20 000, plus a little filter overshoot).
    const double max_step = two_pi * 700 / out_rate * 20000 * 1.1 + 2;
    double worst = 0;
    for (std::size_t i = static_cast<std::size_t>(out_rate / 50); i < a.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(a[i]) - a[i - 1]));
    CHECK(worst < max_step);
  }
}

TEST_CASE("output is delayed by latency() input samples and reset() forgets the history") {
  for (const Pair pair : {Pair{8000, 48000}, Pair{16000, 48000}, Pair{8000, 16000}}) {
    const int in_rate = pair.in, out_rate = pair.out; // named: clang 14 cannot capture bindings
    CAPTURE(in_rate);
    Resampler up(in_rate, out_rate);
    CHECK(up.latency() > 0);
    // An impulse at input sample 10 peaks at input time 10 + latency() in the output.
    Pcm impulse(static_cast<std::size_t>(in_rate / 50)),
        out(static_cast<std::size_t>(out_rate / 50));
    impulse[10] = 20000;
    REQUIRE(up.process(impulse, out) == static_cast<int>(out.size()));
    const auto peak = std::max_element(out.begin(), out.end(),
                                       [](auto a, auto b) { return std::abs(a) < std::abs(b); });
    CHECK((peak - out.begin()) == (10 + up.latency()) * (out_rate / in_rate));
  }
  Resampler r(8000, 48000);
  const Pcm in = sine(8000, 440, 1600);
  const Pcm first = stream(r, in);
  r.reset();
  CHECK(stream(r, in) == first);
  // Equal rates copy, with no delay.
  Resampler same(16000, 16000);
  CHECK(same.latency() == 0);
  Pcm out(320);
  REQUIRE(same.process(std::span(in).first(320), out) == 320);
  CHECK(std::equal(out.begin(), out.end(), in.begin()));
}

TEST_CASE("rates speexdsp refuses throw; a too-small output span returns -1") {
  CHECK_THROWS_AS(Resampler(0, 48000), std::invalid_argument);
  CHECK_THROWS_AS(Resampler(8000, -1), std::invalid_argument);
  CHECK_THROWS_AS(Resampler(8000, 48000, 11), std::invalid_argument);
  Resampler r(8000, 48000);
  Pcm in(160), out(959);
  CHECK(r.process(in, out) == -1);
  CHECK(r.process({}, out) == 0);
}

TEST_CASE("a non-integer ratio consumes all input and keeps the long-run count exact") {
  Resampler r(44100, 48000, 3);
  std::size_t total_in = 0, total_out = 0;
  Pcm in(1000), out(1200);
  for (std::size_t k = 0; k < 500; ++k) {
    const std::size_t n = 1 + (k * 37) % 1000; // ragged chunk sizes
    const int m = r.process(std::span(in).first(n), out);
    REQUIRE(m >= 0);
    total_in += n;
    total_out += static_cast<std::size_t>(m);
  }
  const double expected = static_cast<double>(total_in) * 48000 / 44100;
  CHECK(std::abs(static_cast<double>(total_out) - expected) <= 1);
}
