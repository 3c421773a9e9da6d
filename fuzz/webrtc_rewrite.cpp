// libFuzzer target for src/webrtc/rewrite: arbitrary bytes as a compound RTCP packet mapped
// both ways for a subscriber leg, and as a run of RTP sequence numbers through an OutStream with
// pauses. Invariants: no read or write outside the packet (ASan); a packet the walker accepts
// parses again after mapping, and mapping toward the subscriber and back restores the packet;
// every forwarded RTP packet carries the leg's SSRC, its payload untouched, and source_seq()
// inverts the sequence mapping.
#include "fuzz_support.hpp"

#include "webrtc/rewrite.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

using namespace sb::webrtc;
using sb::fuzz::require;

namespace {
constexpr std::uint32_t kPub = 0x0A0B0C0D, kOurs = 0x01020304;
// Swaps the publisher's and the leg's SSRC: its own inverse, so mapping twice must restore.
struct Swap final : RtcpMap {
  std::uint32_t ssrc(std::uint32_t s) const override { return s == kPub ? kOurs : s == kOurs ? kPub : s; }
  std::uint16_t seq(std::uint32_t, std::uint16_t s) const override { return s; }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  OutStream o(kPub, kOurs);
  std::vector<std::uint8_t> pkt(data, data + size), copy = pkt;
  if (rewrite_rtcp(pkt, Swap())) {
    require(rewrite_rtcp(pkt, Swap()), "a mapped packet no longer parses");
    require(pkt == copy, "mapping there and back changed the packet");
  }
  // Sequence numbers: 2 bytes each; the top bit of the first pauses the stream before it.
  for (std::size_t i = 0; i + 1 < size && i < 512; i += 2) {
    if (data[i] & 0x80) o.pause();
    const std::uint16_t seq = std::uint16_t((data[i] & 0x7f) << 8 | data[i + 1]);
    std::uint8_t rtp[13] = {0x80, 96, std::uint8_t(seq >> 8), std::uint8_t(seq), 0, 0, 0, 1, 0x0A, 0x0B, 0x0C, 0x0D, 7};
    if (!o.rewrite_rtp(rtp)) continue;
    require(rtp[12] == 7, "payload touched");
    require(rtp[8] == 0x01 && rtp[9] == 0x02 && rtp[10] == 0x03 && rtp[11] == 0x04, "SSRC not the leg's");
    const std::uint16_t out = std::uint16_t(rtp[2] << 8 | rtp[3]);
    require(o.source_seq(out) == seq, "source_seq does not invert the mapping");
  }
  return 0;
}
