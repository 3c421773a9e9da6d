#include "rtp/port_allocator.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace sb::rtp;

TEST_CASE("RTP ports are even, inside the slice, unique until released, and bounded") {
  PortAllocator a(PortRange{20001, 20010});  // even pairs: 20002/3 20004/5 20006/7 20008/9
  std::set<std::uint16_t> got;
  while (auto p = a.acquire()) {
    CHECK(*p % 2 == 0);
    CHECK(*p >= 20002);
    CHECK(*p + 1 <= 20010);
    CHECK(got.insert(*p).second);
  }
  CHECK(got.size() == 4);
  CHECK(a.in_use() == 4);
  a.release(20006);
  CHECK(a.acquire() == std::optional<std::uint16_t>(20006));
  a.release(20007);  // odd: not ours, ignored
  a.release(20006);
  a.release(20006);  // double release is harmless
  CHECK(a.in_use() == 3);
}
