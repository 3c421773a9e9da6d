// The SIP layer's clock: steady_clock, unless a test or fuzzer has taken it over. Every
// deadline of the INVITE session (transaction timers, ring timeout, session timers, the 5-minute
// media rule, the 6-hour cap) is read from SipClock and waited on with a SipTimer (timer.hpp), so an
// in-process test can step hours of call time in milliseconds (tests/sip/call_memory_test.cpp)
// and a fuzzer can drive timeouts deterministically (fuzz/sip_call.cpp).
#pragma once
#include <atomic>
#include <chrono>
#include <limits>

namespace sb::sip {

struct SipClock {
  using duration = std::chrono::steady_clock::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<SipClock, duration>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept {
    const rep m = manual_.load(std::memory_order_relaxed);
    if (m != kReal) return time_point(duration(m));
    return time_point(std::chrono::steady_clock::now().time_since_epoch());
  }

  // ---- test seam: one process-wide manual clock (tests and fuzzers only) ------------------
  /// Stops the clock at its current reading; it moves only by advance() until thaw().
  static void freeze() noexcept { manual_.store(now().time_since_epoch().count(), std::memory_order_relaxed); }
  static void advance(duration d) noexcept { manual_.fetch_add(d.count(), std::memory_order_relaxed); }
  static void thaw() noexcept { manual_.store(kReal, std::memory_order_relaxed); }
  static bool frozen() noexcept { return manual_.load(std::memory_order_relaxed) != kReal; }

 private:
  static constexpr rep kReal = std::numeric_limits<rep>::min();
  inline static std::atomic<rep> manual_{kReal};
};

using SipTime = SipClock::time_point;

}  // namespace sb::sip
