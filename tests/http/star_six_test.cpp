// `*6` detection (src/http/star_six.hpp): the far end's force-mute toggle (SPEC §7).
#include "http/star_six.hpp"

#include <doctest/doctest.h>

using sb::http::StarSix;

TEST_CASE("*6 within 2 s toggles once; a late 6, a 6 alone or another digit between do not") {
  StarSix d;
  CHECK_FALSE(d.feed('*', 1000));
  CHECK(d.feed('6', 1400));
  CHECK_FALSE(d.feed('6', 1500));  // the pair was consumed: "*66" toggles once
  CHECK_FALSE(d.feed('*', 2000));
  CHECK_FALSE(d.feed('6', 2000 + StarSix::k_window_ms + 1));
  CHECK_FALSE(d.feed('*', 5000));
  CHECK_FALSE(d.feed('1', 5100));
  CHECK_FALSE(d.feed('6', 5200));
  CHECK_FALSE(d.feed('*', 6000));
  CHECK_FALSE(d.feed('*', 6100));
  CHECK(d.feed('6', 6200));  // "**6": the second star pairs
  CHECK_FALSE(d.feed('*', 7000));
  CHECK(d.feed('6', 7000 + StarSix::k_window_ms));
}
