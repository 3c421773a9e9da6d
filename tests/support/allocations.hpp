// Counts the heap allocations a piece of code makes on the calling thread: how the tests show
// that a packet path allocates nothing. It uses the sanitizer allocator's hooks (every malloc,
// operator new and aligned_alloc passes through them, Asio's recycled operation memory
// included), so it works in the ASan build the test command runs; elsewhere it reports itself
// unavailable and callers skip.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define SB_ALLOC_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SB_ALLOC_HOOKS 1
#endif
#endif

#if defined(SB_ALLOC_HOOKS)
// From the sanitizer runtime's allocator interface (sanitizer/allocator_interface.h, which GCC
// does not install): hooks called on every allocation and free, up to five sets per process.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, std::size_t),
                                                         void (*free_hook)(const volatile void*));
#endif

namespace alloc_count_detail {
inline thread_local bool armed = false;
inline thread_local std::size_t count = 0;
#if defined(SB_ALLOC_HOOKS)
inline void on_malloc(const volatile void*, std::size_t) {
  if (armed) ++count;
}
inline void on_free(const volatile void*) {}
#endif
}  // namespace alloc_count_detail

inline bool allocation_counting_available() {
#if defined(SB_ALLOC_HOOKS)
  static const bool installed =
      __sanitizer_install_malloc_and_free_hooks(alloc_count_detail::on_malloc, alloc_count_detail::on_free) != 0;
  return installed;
#else
  return false;
#endif
}

/// Runs `f` and returns how many allocations it made on this thread (0 when counting is unavailable).
template <class F>
std::size_t count_allocations(F&& f) {
  if (!allocation_counting_available()) {
    f();
    return 0;
  }
  alloc_count_detail::count = 0;
  alloc_count_detail::armed = true;
  f();
  alloc_count_detail::armed = false;
  return alloc_count_detail::count;
}
