// How busy a shard is: the share of the last second its thread spent running (user + system CPU
// of that thread, CLOCK_THREAD_CPUTIME_ID), sampled every k_period. Sans-I/O: `sample` takes the
// readings, so tests feed it a stepped clock; `thread_cpu_now` reads the calling thread's CPU.
// Like everything of a shard, a meter is touched by its shard's thread only.
//
// Why thread CPU rather than timer lateness: a shard delayed by *other* processes (a loaded
// machine) is not busy and should not refuse work; a shard whose own work fills its core is, and
// taking more calls would make every call on it late (docs/benchmarks.md "Real calls": frames
// start running late at 100 % of a core).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>

namespace sb::runtime {

class LoadMeter {
 public:
  static constexpr std::chrono::milliseconds k_period{250};
  static constexpr std::size_t k_samples = 5;  ///< the window: 4 periods, 1 s

  /// One reading: wall time and the thread's CPU time so far.
  void sample(std::chrono::steady_clock::time_point now, std::chrono::nanoseconds thread_cpu) noexcept;
  /// CPU share over the window, 0..1 (0 until two samples exist).
  double busy() const noexcept;

 private:
  struct Sample {
    std::chrono::steady_clock::time_point wall;
    std::chrono::nanoseconds cpu;
  };
  std::array<Sample, k_samples> ring_{};
  std::size_t n_ = 0, next_ = 0;
};

/// CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID).
std::chrono::nanoseconds thread_cpu_now() noexcept;

}  // namespace sb::runtime
