// Resampler over speexdsp (resampler.hpp).
//
// Exact output counts: speex computes one output sample per output instant that falls inside the
// input it has been given. It starts at phase 0 with a zero-filled history (we never call
// speex_resampler_skip_zeros, which would drop the first latency() outputs instead), so for an
// integer ratio every block of k·in_rate/gcd input samples yields exactly k·out_rate/gcd outputs:
// 160 → 960 (8 → 48 kHz), 960 → 160, 320 ↔ 960, 160 ↔ 320. The price is latency() input samples
// of delay, which the mixer's 20 ms clock absorbs. For other lengths the count is floor or ceil
// of in·out/in depending on the carried phase; out must hold the ceiling.
#include "mix/resampler.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include <speex/speex_resampler.h>

namespace sb::mix {

Resampler::Resampler(int in_rate, int out_rate, int quality) : in_(in_rate), out_(out_rate) {
  if (in_rate <= 0 || out_rate <= 0 || quality < SPEEX_RESAMPLER_QUALITY_MIN ||
      quality > SPEEX_RESAMPLER_QUALITY_MAX)
    throw std::invalid_argument("Resampler: rates must be positive and quality 0..10, got " +
                                std::to_string(in_rate) + " -> " + std::to_string(out_rate) + " q" +
                                std::to_string(quality));
  if (in_rate == out_rate)
    return; // process() copies
  int err = RESAMPLER_ERR_SUCCESS;
  st_ = speex_resampler_init(1, static_cast<spx_uint32_t>(in_rate),
                             static_cast<spx_uint32_t>(out_rate), quality, &err);
  if (st_ == nullptr || err != RESAMPLER_ERR_SUCCESS) {
    if (st_ != nullptr)
      speex_resampler_destroy(st_);
    throw std::invalid_argument("Resampler: speexdsp refused " + std::to_string(in_rate) + " -> " +
                                std::to_string(out_rate) + " (error " + std::to_string(err) + ")");
  }
}

Resampler::~Resampler() {
  if (st_ != nullptr)
    speex_resampler_destroy(st_);
}

int Resampler::process(std::span<const std::int16_t> in, std::span<std::int16_t> out) noexcept {
  if (in.empty())
    return 0;
  constexpr auto max_len = static_cast<std::uint64_t>(std::numeric_limits<int>::max());
  const std::uint64_t n = in.size();
  if (n > max_len / static_cast<std::uint64_t>(std::max(in_, out_)))
    return -1; // count would overflow int
  const auto need = (n * static_cast<std::uint64_t>(out_) + static_cast<std::uint64_t>(in_) - 1) /
                    static_cast<std::uint64_t>(in_);
  if (out.size() < need)
    return -1;
  if (st_ == nullptr) {
    std::copy(in.begin(), in.end(), out.begin());
    return static_cast<int>(n);
  }
  // Given room for the ceiling, one call consumes all the input (speex stops only when input or
  // output runs out); loop anyway in case a future speexdsp processes in bounded chunks.
  std::size_t used = 0, made = 0;
  while (used < in.size()) {
    auto in_len = static_cast<spx_uint32_t>(in.size() - used);
    auto out_len = static_cast<spx_uint32_t>(std::min<std::uint64_t>(out.size() - made, max_len));
    if (speex_resampler_process_int(st_, 0, in.data() + used, &in_len, out.data() + made,
                                    &out_len) != RESAMPLER_ERR_SUCCESS)
      return -1;
    if (in_len == 0 && out_len == 0)
      return -1; // no progress: would spin
    used += in_len;
    made += out_len;
  }
  return static_cast<int>(made);
}

void Resampler::reset() noexcept {
  if (st_ != nullptr)
    speex_resampler_reset_mem(st_);
}

int Resampler::latency() const noexcept {
  return st_ == nullptr ? 0 : speex_resampler_get_input_latency(st_);
}

} // namespace sb::mix
