// Structured logging: one line per event, `ts level shard component message key=value...`.
// Secrets and tokens are never passed here; callers log identifiers (api keys, session ids,
// connection ids) only. One fmt::format + one write(2) per line so lines from shards never
// interleave.
#pragma once
#include <fmt/format.h>
#include <string_view>

namespace sb::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(Level);
Level level();
bool parse_level(std::string_view, Level&);

// The shard id printed on each line of the calling thread (-1 = not a shard thread).
void set_thread_shard(int shard);

void write(Level, std::string_view component, std::string_view message);

template <class... Args>
void at(Level l, std::string_view component, fmt::format_string<Args...> f, Args&&... args) {
  if (l < level()) return;
  write(l, component, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void debug(std::string_view c, fmt::format_string<Args...> f, Args&&... a) { at(Level::debug, c, f, std::forward<Args>(a)...); }
template <class... Args>
void info(std::string_view c, fmt::format_string<Args...> f, Args&&... a) { at(Level::info, c, f, std::forward<Args>(a)...); }
template <class... Args>
void warn(std::string_view c, fmt::format_string<Args...> f, Args&&... a) { at(Level::warn, c, f, std::forward<Args>(a)...); }
template <class... Args>
void error(std::string_view c, fmt::format_string<Args...> f, Args&&... a) { at(Level::error, c, f, std::forward<Args>(a)...); }

}  // namespace sb::log
