#include "base/log.hpp"

#include <atomic>
#include <chrono>
#include <ctime>
#include <unistd.h>

namespace sb::log {
namespace {
std::atomic<Level> g_level{Level::info};
thread_local int t_shard = -1;
constexpr std::string_view kNames[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
}  // namespace

void set_level(Level l) { g_level.store(l, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }
void set_thread_shard(int shard) { t_shard = shard; }

bool parse_level(std::string_view s, Level& out) {
  for (int i = 0; i <= 4; ++i) {
    std::string_view n = kNames[i];
    if (s.size() == n.size()) {
      bool eq = true;
      for (std::size_t k = 0; k < s.size(); ++k)
        if ((s[k] | 0x20) != (n[k] | 0x20)) { eq = false; break; }
      if (eq) { out = static_cast<Level>(i); return true; }
    }
  }
  return false;
}

void write(Level l, std::string_view component, std::string_view message) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  auto line = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {:<5} s{} {}: {}\n", tm.tm_year + 1900,
                          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000,
                          kNames[static_cast<int>(l)], t_shard, component, message);
  // One write(2) per line: atomic for lines under PIPE_BUF on pipes, and never interleaved
  // mid-line by another shard in practice. A failed log write is not worth failing for.
  [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
}

}  // namespace sb::log
