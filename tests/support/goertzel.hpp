// The Goertzel algorithm: the power of one frequency in a block of samples, cheaper than an FFT
// when a few frequencies matter. Tests use it to tell which DTMF digit (ITU-T Q.23: one row tone
// and one column tone) a block of PCM carries, independently of spandsp's detector.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <string>

namespace sb::test {

/// Relative power of `freq` Hz in `pcm` sampled at `rate`.
inline double goertzel_power(std::span<const std::int16_t> pcm, double freq, double rate) {
  const double coeff = 2.0 * std::cos(2.0 * std::numbers::pi * freq / rate);
  double s1 = 0, s2 = 0;
  for (auto x : pcm) {
    const double s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / static_cast<double>(pcm.size());
}

/// The DTMF digit in `pcm` (the strongest row and column tones, each at least `ratio` times the
/// runner-up of its group and above `floor`), or 0 when there is none.
inline char goertzel_digit(std::span<const std::int16_t> pcm, double rate, double ratio = 10.0,
                           double floor = 1e4) {
  static constexpr std::array<double, 4> rows{697, 770, 852, 941}, cols{1209, 1336, 1477, 1633};
  static constexpr char keys[4][5] = {"123A", "456B", "789C", "*0#D"};
  auto strongest = [&](const std::array<double, 4>& f, int& best) {
    std::array<double, 4> p{};
    for (int i = 0; i < 4; ++i) p[i] = goertzel_power(pcm, f[i], rate);
    best = 0;
    for (int i = 1; i < 4; ++i)
      if (p[i] > p[best]) best = i;
    double second = 0;
    for (int i = 0; i < 4; ++i)
      if (i != best && p[i] > second) second = p[i];
    return p[best] > floor && p[best] > ratio * second;
  };
  int r = 0, c = 0;
  if (!strongest(rows, r) || !strongest(cols, c)) return 0;
  return keys[r][c];
}

/// The digits in `pcm`, one per run of blocks that carry the same digit: blocks of `block`
/// samples every `hop` samples (a hop under the shortest gap, so a block falls inside each gap
/// and two equal digits in a row stay two).
inline std::string goertzel_digits(std::span<const std::int16_t> pcm, double rate, std::size_t block,
                                   std::size_t hop) {
  std::string out;
  char prev = 0;
  for (std::size_t at = 0; at + block <= pcm.size(); at += hop) {
    const char d = goertzel_digit(pcm.subspan(at, block), rate);
    if (d && d != prev) out += d;
    prev = d;
  }
  return out;
}

}  // namespace sb::test
