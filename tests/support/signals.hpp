// Test signals for the codec and resampler tests: 16-bit PCM tones.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <vector>

namespace sb::test {

using Pcm = std::vector<std::int16_t>;
inline constexpr double two_pi = 2 * std::numbers::pi;

/// n samples of a sine at `hz`, sampled at `rate`.
inline Pcm sine(int rate, double hz, std::size_t n, double amplitude = 10000) {
  Pcm v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<std::int16_t>(std::lround(amplitude * std::sin(two_pi * hz * static_cast<double>(i) / rate)));
  return v;
}

}  // namespace sb::test
