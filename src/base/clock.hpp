// Wall-clock time as the wire formats want it (JWT seconds, webhook milliseconds). Protocol timers
// use steady clocks behind injectable timer types in their own layers, never this.
#pragma once
#include <chrono>
#include <cstdint>

namespace sb {
inline std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}
inline std::int64_t unix_s() { return unix_ms() / 1000; }
}  // namespace sb
