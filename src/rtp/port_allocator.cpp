#include "rtp/port_allocator.hpp"

namespace sb::rtp {

PortAllocator::PortAllocator(PortRange r) : range_(r) {
  first_ = static_cast<std::uint16_t>(r.min + (r.min % 2));
  std::size_t n = 0;
  // Each pair needs port and port+1 inside the range.
  for (unsigned p = first_; p + 1 <= r.max; p += 2) ++n;
  used_.assign(n, false);
}

std::optional<std::uint16_t> PortAllocator::acquire() {
  for (std::size_t i = 0; i < used_.size(); ++i) {
    std::size_t k = (next_ + i) % used_.size();
    if (!used_[k]) {
      used_[k] = true;
      ++in_use_;
      next_ = (k + 1) % used_.size();
      return static_cast<std::uint16_t>(first_ + 2 * k);
    }
  }
  return std::nullopt;
}

void PortAllocator::release(std::uint16_t port) {
  if (port < first_ || (port - first_) % 2) return;
  std::size_t k = (port - first_) / 2u;
  if (k < used_.size() && used_[k]) {
    used_[k] = false;
    --in_use_;
  }
}

}  // namespace sb::rtp
