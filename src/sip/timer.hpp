// The timer the SIP layer waits with: an Asio timer on SipClock (clock.hpp).
#pragma once
#include "sip/clock.hpp"

#include <boost/asio/basic_waitable_timer.hpp>

#include <algorithm>

namespace sb::sip {

// Asio waits for a timer's expiry in real time; with the clock frozen that wait would never
// end, so it is cut to nothing and every poll of the io_context re-checks SipClock::now() (the
// custom WaitTraits hook Asio provides for clocks that do not follow real time). A frozen clock
// is for tests and fuzzers that poll(); a blocking run() would spin.
struct SipWaitTraits {
  static SipClock::duration to_wait_duration(const SipClock::duration& d) {
    return SipClock::frozen() ? std::min<SipClock::duration>(d, SipClock::duration::zero()) : d;
  }
  static SipClock::duration to_wait_duration(const SipClock::time_point& t) {
    return to_wait_duration(t - SipClock::now());
  }
};

using SipTimer = boost::asio::basic_waitable_timer<SipClock, SipWaitTraits>;

}  // namespace sb::sip
