// Sample-rate conversion between 8, 16 and 48 kHz (the codecs' rates and the mixer's), with
// speexdsp's resampler: a windowed-sinc polyphase filter, the one baresip, FreeSWITCH and
// PulseAudio use. Streaming: the filter keeps its history between calls, so consecutive frames
// join without clicks; one Resampler per direction per stream.
#pragma once

#include <cstdint>
#include <span>

struct SpeexResamplerState_;

namespace sb::mix {

class Resampler {
 public:
  /// quality 0..10 (speexdsp); PERF.md: 3 costs 7–8 µs per 20 ms frame, 5 costs 11–15 µs.
  /// Throws std::invalid_argument for a rate speexdsp refuses.
  Resampler(int in_rate, int out_rate, int quality = 5);
  ~Resampler();
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  int in_rate() const noexcept { return in_; }
  int out_rate() const noexcept { return out_; }

  /// Converts all of `in`; returns samples written (in.size() * out_rate / in_rate for whole
  /// multiples, which 20 ms frames at these rates always are), or -1 if `out` is too small.
  /// in_rate == out_rate copies.
  int process(std::span<const std::int16_t> in, std::span<std::int16_t> out) noexcept;
  /// Forget the filter history (a new stream, or after a long gap).
  void reset() noexcept;
  /// Delay the filter adds, in input samples.
  int latency() const noexcept;

 private:
  int in_, out_;
  SpeexResamplerState_* st_ = nullptr;
};

}  // namespace sb::mix
