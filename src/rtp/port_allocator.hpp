// RTP port allocation for one shard (RFC 3550 §11: RTP on an even port, RTCP on the next odd
// one). Each shard owns a disjoint slice of the configured range, so no locking is needed.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

namespace sb::rtp {

struct PortRange {
  std::uint16_t min = 20000, max = 29999;  // inclusive
};

class PortAllocator {
 public:
  explicit PortAllocator(PortRange r);
  // The next free even port (round robin, so a port just released is reused last); nullopt
  // when the slice is exhausted.
  std::optional<std::uint16_t> acquire();
  void release(std::uint16_t port);
  std::size_t in_use() const { return in_use_; }
  std::size_t capacity() const { return used_.size(); }

 private:
  PortRange range_;
  std::uint16_t first_;       // first even port of the slice
  std::vector<bool> used_;    // one per even port
  std::size_t next_ = 0, in_use_ = 0;
};

}  // namespace sb::rtp
