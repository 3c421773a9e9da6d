// `*6` from a SIP party (SPEC §7: with observeForceMute, the far end toggles its own force mute
// by sending `*6` as RFC 4733 events; INFO and in-band digits do not count). Sans-I/O: fed the
// call's digits with the caller's millisecond clock, it says when a `*6` completes.
#pragma once

#include <cstdint>

namespace sb::http {

class StarSix {
 public:
  /// The '6' must follow the '*' within this long. Two key presses take a person well under a
  /// second; 2 s tolerates a slow hand without pairing a stray '*' with a much later '6'.
  static constexpr std::int64_t k_window_ms = 2000;

  /// One RFC 4733 digit at `now_ms`; true when it completes `*6` (the pair is then consumed:
  /// `*6*6` toggles twice, `*66` once).
  bool feed(char digit, std::int64_t now_ms) noexcept {
    const bool armed = star_at_ && now_ms - star_ms_ <= k_window_ms;
    star_at_ = digit == '*';
    star_ms_ = now_ms;
    return armed && digit == '6';
  }

 private:
  bool star_at_ = false;   ///< the previous digit was '*'
  std::int64_t star_ms_ = 0;  ///< when it came
};

}  // namespace sb::http
