// The session mixer's arithmetic (mix-minus), sans-I/O: no clock, no codec, no allocation after
// warm-up. The conference (src/media/conference) calls `mix` once per 20 ms tick with each
// contributor's decoded 48 kHz frame and the list of listeners, then encodes each output group
// once and hands the packet to every listener of the group.
//
// Mix-minus: a listener hears the sum of every contribution except its own. All sums are 32-bit
// and clamped to 16 bits once, at the end (never sum-then-clamp per contributor), so two loud
// talkers clip only where their *sum* overflows.
//
// Output groups: listeners that get the same samples and use the same codec configuration form
// one group and share one encode. A listener that contributed this tick needs its own mix (sum
// minus itself); a listener that did not — silent, muted, on hold, or a receive-only
// subscriber — hears the full sum, shared with every other such listener of its codec key. With
// one talker in a conference of N, that is 2 encodes per codec instead of N.
//
// Subsets: a listener may hear only some contributors (a SIP dial's `streams`); its group is
// keyed by the subset too and summed from those contributors alone, so listeners with the same
// subset and codec still share one encode.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sb::mix {

inline constexpr int mix_rate = 48000;             ///< the mixer's sample rate
inline constexpr std::size_t mix_frame = 960;      ///< samples per 20 ms tick at mix_rate
using MixFrame = std::array<std::int16_t, mix_frame>;

struct MixInput {
  std::uint32_t id = 0;                  ///< contributor id (non-zero)
  const MixFrame* pcm = nullptr;         ///< this tick's decoded frame
};

struct MixListener {
  std::uint32_t id = 0;        ///< equal to a MixInput id when the listener also contributes
  std::uint32_t codec_key = 0; ///< listeners with equal keys use interchangeable encoders
  /// 0: hears every contributor. Otherwise it hears only the contributors listed in `hears`, and
  /// listeners with equal non-zero `subset` must list the same ones (they share a mix).
  std::uint32_t subset = 0;
  std::span<const std::uint32_t> hears;
};

struct MixGroup {
  std::uint32_t codec_key = 0;
  std::uint32_t subset = 0;            ///< the listeners' subset (0 = everyone)
  std::uint32_t excluded = 0;          ///< contributor left out of this mix; 0 = the full sum
  MixFrame pcm{};
  std::vector<std::size_t> listeners;  ///< indexes into the listeners passed to mix()
};

struct MixerStats {
  std::uint64_t ticks = 0;
  std::uint64_t clipped_samples = 0;  ///< output samples clamped to ±32767/−32768
  std::uint64_t groups = 0;           ///< output groups produced (= encodes), cumulative
  std::uint64_t listeners = 0;        ///< listener outputs served, cumulative
};

class Mixer {
 public:
  /// Computes the groups for one tick. Inputs with a duplicate id are ignored after the first.
  /// Valid until the next call.
  std::span<const MixGroup> mix(std::span<const MixInput> inputs, std::span<const MixListener> listeners);
  std::span<const MixGroup> groups() const noexcept { return {groups_.data(), used_}; }
  const MixerStats& stats() const noexcept { return stats_; }

 private:
  std::array<std::int32_t, mix_frame> sum_{};
  std::array<std::int32_t, mix_frame> subset_sum_{};
  std::vector<MixGroup> groups_;  // reused: the first used_ are this tick's; the rest are spare
  std::size_t used_ = 0;
  MixerStats stats_;
};

/// Mean power of a frame in dBFS (−96 for digital silence). For the talker gate.
double level_dbfs(std::span<const std::int16_t> pcm) noexcept;

}  // namespace sb::mix
