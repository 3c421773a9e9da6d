#include "runtime/load_meter.hpp"

#include <algorithm>
#include <ctime>

namespace sb::runtime {

void LoadMeter::sample(std::chrono::steady_clock::time_point now, std::chrono::nanoseconds thread_cpu) noexcept {
  ring_[next_] = {now, thread_cpu};
  next_ = (next_ + 1) % k_samples;
  n_ = std::min(n_ + 1, k_samples);
}

double LoadMeter::busy() const noexcept {
  if (n_ < 2) return 0;
  const auto& newest = ring_[(next_ + k_samples - 1) % k_samples];
  const auto& oldest = ring_[n_ < k_samples ? 0 : next_];
  const auto wall = std::chrono::duration<double>(newest.wall - oldest.wall).count();
  if (wall <= 0) return 0;
  return std::clamp(std::chrono::duration<double>(newest.cpu - oldest.cpu).count() / wall, 0.0, 1.0);
}

std::chrono::nanoseconds thread_cpu_now() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace sb::runtime
