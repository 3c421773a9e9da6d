// Shared by the libFuzzer targets: an invariant check that aborts (libFuzzer then keeps the
// input as a crash) and a bounds check for views parsers return into their input.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace sb::fuzz {

inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

/// True when `part` lies inside `whole` (an empty view is inside anything).
inline bool inside(std::span<const std::uint8_t> part, std::span<const std::uint8_t> whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

}  // namespace sb::fuzz
