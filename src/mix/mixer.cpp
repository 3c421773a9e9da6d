#include "mix/mixer.hpp"

#include <algorithm>
#include <cmath>

namespace sb::mix {

std::span<const MixGroup> Mixer::mix(std::span<const MixInput> inputs, std::span<const MixListener> listeners) {
  ++stats_.ticks;
  sum_.fill(0);
  // 32-bit accumulation: 65 536 full-scale contributors before overflow, far above any session.
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    if (!in.pcm || in.id == 0) continue;
    bool dup = false;
    for (std::size_t j = 0; j < i && !dup; ++j) dup = inputs[j].id == in.id;
    if (dup) continue;
    const auto& p = *in.pcm;
    for (std::size_t s = 0; s < mix_frame; ++s) sum_[s] += p[s];
  }

  auto own_frame = [&](std::uint32_t id) -> const MixFrame* {
    for (const auto& in : inputs)
      if (in.id == id && in.pcm) return in.pcm;
    return nullptr;
  };

  auto hears = [](const MixListener& l, std::uint32_t id) {
    return l.subset == 0 || std::find(l.hears.begin(), l.hears.end(), id) != l.hears.end();
  };

  used_ = 0;
  for (auto& g : groups_) g.listeners.clear();
  for (std::size_t li = 0; li < listeners.size(); ++li) {
    const auto& l = listeners[li];
    const MixFrame* own = l.id && hears(l, l.id) ? own_frame(l.id) : nullptr;
    const std::uint32_t excluded = own ? l.id : 0;
    MixGroup* g = nullptr;
    for (std::size_t k = 0; k < used_ && !g; ++k)
      if (groups_[k].codec_key == l.codec_key && groups_[k].subset == l.subset && groups_[k].excluded == excluded)
        g = &groups_[k];
    if (!g) {
      if (used_ == groups_.size()) groups_.emplace_back();
      g = &groups_[used_++];
      g->codec_key = l.codec_key;
      g->subset = l.subset;
      g->excluded = excluded;
      const std::array<std::int32_t, mix_frame>* base = &sum_;
      if (l.subset != 0) {
        // The subset's own sum (same 32-bit accumulation; duplicates counted once).
        subset_sum_.fill(0);
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          const auto& in = inputs[i];
          if (!in.pcm || in.id == 0 || !hears(l, in.id)) continue;
          bool dup = false;
          for (std::size_t j = 0; j < i && !dup; ++j) dup = inputs[j].id == in.id;
          if (dup) continue;
          for (std::size_t s = 0; s < mix_frame; ++s) subset_sum_[s] += (*in.pcm)[s];
        }
        base = &subset_sum_;
      }
      // N−1: subtract this listener's own contribution from the 32-bit sum, then clamp once.
      for (std::size_t s = 0; s < mix_frame; ++s) {
        std::int32_t v = (*base)[s] - (own ? (*own)[s] : 0);
        if (v > 32767) {
          v = 32767;
          ++stats_.clipped_samples;
        } else if (v < -32768) {
          v = -32768;
          ++stats_.clipped_samples;
        }
        g->pcm[s] = static_cast<std::int16_t>(v);
      }
      ++stats_.groups;
    }
    g->listeners.push_back(li);
    ++stats_.listeners;
  }
  return groups();
}

double level_dbfs(std::span<const std::int16_t> pcm) noexcept {
  if (pcm.empty()) return -96.0;
  double acc = 0;
  for (auto s : pcm) acc += static_cast<double>(s) * s;
  const double ms = acc / static_cast<double>(pcm.size());
  if (ms < 1.0) return -96.0;
  return 10.0 * std::log10(ms / (32768.0 * 32768.0));
}

}  // namespace sb::mix
