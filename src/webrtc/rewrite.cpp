#include "webrtc/rewrite.hpp"

#include "rtp/seq.hpp"

#include <cstring>

namespace sb::webrtc {
namespace {

std::uint32_t get32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = std::uint8_t(v >> 24), p[1] = std::uint8_t(v >> 16), p[2] = std::uint8_t(v >> 8), p[3] = std::uint8_t(v);
}
std::uint16_t get16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }
void put16(std::uint8_t* p, std::uint16_t v) { p[0] = std::uint8_t(v >> 8), p[1] = std::uint8_t(v); }

// RFC 3550 §6.4.1: 24-byte report blocks; the source SSRC first, the extended highest sequence
// number at +8 (cycles in the upper 16 bits).
void rewrite_blocks(std::uint8_t* p, std::size_t count, const std::uint8_t* end, const RtcpMap& map) {
  for (std::size_t i = 0; i < count && p + 24 <= end; ++i, p += 24) {
    const std::uint32_t src = get32(p);
    put16(p + 10, map.seq(src, get16(p + 10)));
    put32(p, map.ssrc(src));
  }
}

}  // namespace

bool OutStream::rewrite_rtp(std::span<std::uint8_t> pkt) noexcept {
  if (pkt.size() < 12) return false;
  const std::uint16_t seq = get16(&pkt[2]);
  if (!started_) {
    started_ = true;
    paused_ = false;
    offset_ = 0;  // the publisher's numbering, from wherever it is now
    last_out_ = static_cast<std::uint16_t>(seq - 1);
  } else if (paused_) {
    // Resume: this packet follows the last one the subscriber got.
    paused_ = false;
    offset_ = static_cast<std::uint16_t>(seq - static_cast<std::uint16_t>(last_out_ + 1));
    resumed_ = true;
    resumed_at_ = seq;
    since_resume_ = 0;
  } else if (resumed_) {
    if (rtp::seq_diff(seq, resumed_at_) < 0) return false;  // sent before the pause ended
    if (++since_resume_ >= 512) resumed_ = false;
  }
  const auto out = static_cast<std::uint16_t>(seq - offset_);
  if (rtp::seq_newer(out, last_out_)) last_out_ = out;
  put16(&pkt[2], out);
  put32(&pkt[8], ssrc_);
  return true;
}

bool rewrite_rtcp(std::span<std::uint8_t> rtcp, const RtcpMap& map) noexcept {
  std::size_t off = 0;
  if (rtcp.size() < 4) return false;
  while (off < rtcp.size()) {
    if (off + 4 > rtcp.size()) return false;
    std::uint8_t* p = &rtcp[off];
    const std::size_t len = (std::size_t(get16(p + 2)) + 1) * 4;
    if ((p[0] >> 6) != 2 || off + len > rtcp.size()) return false;
    const std::uint8_t* end = p + len;
    const unsigned count = p[0] & 0x1f;  // RC, SC or FMT
    switch (p[1]) {
      case 200:  // SR: sender SSRC, 20 bytes of sender info, report blocks
        if (len < 28) return false;
        put32(p + 4, map.ssrc(get32(p + 4)));
        rewrite_blocks(p + 28, count, end, map);
        break;
      case 201:  // RR: reporter SSRC (the receiver's own: not ours to map), report blocks
        if (len < 8) return false;
        rewrite_blocks(p + 8, count, end, map);
        break;
      case 202: {  // SDES: chunks of SSRC + items, each chunk padded to 32 bits (§6.5)
        std::uint8_t* c = p + 4;
        for (unsigned i = 0; i < count && c + 4 <= end; ++i) {
          put32(c, map.ssrc(get32(c)));
          std::uint8_t* item = c + 4;
          while (item < end && *item != 0) {
            if (item + 2 > end) return false;
            item += 2 + item[1];
          }
          if (item >= end) return false;
          c = item + (4 - ((item - c) % 4));  // the null item and padding up to the boundary
        }
        break;
      }
      case 203:  // BYE: SC SSRCs
        for (unsigned i = 0; i < count && p + 8 + 4 * i <= end; ++i) put32(p + 4 + 4 * i, map.ssrc(get32(p + 4 + 4 * i)));
        break;
      case 205: {  // RTPFB (RFC 4585 §6.2): media SSRC; generic NACK: (PID, BLP) pairs
        if (len < 12) return false;
        const std::uint32_t media = get32(p + 8);
        if (count == 1)
          for (std::uint8_t* f = p + 12; f + 4 <= end; f += 4) put16(f, map.seq(media, get16(f)));
        put32(p + 8, map.ssrc(media));
        break;
      }
      case 206: {  // PSFB (RFC 4585 §6.3): media SSRC; FIR (RFC 5104 §4.3.1) entries; REMB
        if (len < 12) return false;
        put32(p + 8, map.ssrc(get32(p + 8)));
        if (count == 4)
          for (std::uint8_t* f = p + 12; f + 8 <= end; f += 8) put32(f, map.ssrc(get32(f)));
        if (count == 15 && len >= 20 && std::memcmp(p + 12, "REMB", 4) == 0)
          for (unsigned i = 0; i < p[16] && p + 20 + 4 * i + 4 <= end; ++i)
            put32(p + 20 + 4 * i, map.ssrc(get32(p + 20 + 4 * i)));
        break;
      }
      default:
        break;
    }
    off += len;
  }
  return true;
}

}  // namespace sb::webrtc
