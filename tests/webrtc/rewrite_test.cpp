// Per-subscriber SSRC and sequence rewriting (src/webrtc/rewrite.hpp), and the RTCP mapping that
// goes with it, packet by packet.
#include "webrtc/rewrite.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <vector>

using namespace sb::webrtc;

namespace {

std::vector<std::uint8_t> rtp(std::uint16_t seq, std::uint32_t ssrc, std::uint32_t ts = 1000) {
  return {0x80, 96, std::uint8_t(seq >> 8), std::uint8_t(seq), std::uint8_t(ts >> 24), std::uint8_t(ts >> 16),
          std::uint8_t(ts >> 8), std::uint8_t(ts), std::uint8_t(ssrc >> 24), std::uint8_t(ssrc >> 16),
          std::uint8_t(ssrc >> 8), std::uint8_t(ssrc), 0xAB};
}
std::uint16_t seq_of(const std::vector<std::uint8_t>& p) { return std::uint16_t(p[2] << 8 | p[3]); }
std::uint32_t u32(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int s : {24, 16, 8, 0}) v.push_back(std::uint8_t(x >> s));
}

constexpr std::uint32_t kPub = 0x11111111, kOurs = 0x22222222, kReporter = 0x33333333;

// Publisher side ↔ subscriber side for one OutStream, as the router maps them.
struct ToPub final : RtcpMap {
  const OutStream& o;
  explicit ToPub(const OutStream& s) : o(s) {}
  std::uint32_t ssrc(std::uint32_t s) const override { return s == o.ssrc() ? o.source_ssrc() : s; }
  std::uint16_t seq(std::uint32_t m, std::uint16_t s) const override { return m == o.ssrc() ? o.source_seq(s) : s; }
};
struct ToSub final : RtcpMap {
  const OutStream& o;
  explicit ToSub(const OutStream& s) : o(s) {}
  std::uint32_t ssrc(std::uint32_t s) const override { return s == o.source_ssrc() ? o.ssrc() : s; }
  std::uint16_t seq(std::uint32_t, std::uint16_t s) const override { return s; }
};

}  // namespace

TEST_CASE("rewrite: a subscriber leg gets its own SSRC; the numbering carries on without a gap across a pause") {
  OutStream o(kPub, kOurs);
  std::vector<std::uint16_t> out;
  auto send = [&](std::uint16_t seq) {
    auto p = rtp(seq, kPub);
    if (!o.rewrite_rtp(p)) return false;
    CHECK(u32(&p[8]) == kOurs);
    CHECK(u32(&p[4]) == 1000);  // timestamps are the publisher's
    CHECK(p[12] == 0xAB);       // payload untouched
    out.push_back(seq_of(p));
    return true;
  };
  for (std::uint16_t s = 65530; s != 3; ++s) CHECK(send(s));  // across the wrap
  o.pause();                                                    // video paused: 3..99 not sent
  CHECK(send(100));                                             // resumed
  CHECK(send(101));
  CHECK_FALSE(send(90));  // a straggler from before the resume would repeat numbers: dropped
  CHECK(send(103));       // a real loss (102) stays a gap the subscriber may NACK
  const std::vector<std::uint16_t> want{65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4, 6};
  CHECK(out == want);
  // NACKs and reports come back in the leg's numbering: mapped to the publisher's.
  CHECK(o.source_seq(3) == 100);
  CHECK(o.source_seq(5) == 102);
  CHECK(o.source_seq(65535) == 96);  // from before the pause: the current offset applies (a NACK that old is moot)
}

TEST_CASE("rewrite: RTCP from the subscriber — RR, NACK, PLI, FIR, REMB — names the publisher's SSRC and numbering") {
  OutStream o(kPub, kOurs);
  auto p = rtp(500, kPub);
  REQUIRE(o.rewrite_rtp(p));
  o.pause();
  auto q = rtp(600, kPub);
  REQUIRE(o.rewrite_rtp(q));  // out 501 = source 600: offset 99
  std::vector<std::uint8_t> c;
  // RR with one block about our SSRC: ext highest seq = (1 << 16) | 501.
  c.insert(c.end(), {0x81, 201, 0, 7});
  put32(c, kReporter);
  put32(c, kOurs);
  put32(c, 0);                 // fraction + cumulative lost
  put32(c, (1u << 16) | 501);  // extended highest seq
  put32(c, 0), put32(c, 0), put32(c, 0);
  // Generic NACK (RTPFB FMT 1): PID 501, BLP 0x0001.
  c.insert(c.end(), {0x81, 205, 0, 3});
  put32(c, kReporter);
  put32(c, kOurs);
  c.insert(c.end(), {0x01, 0xF5, 0x00, 0x01});
  // PLI (PSFB FMT 1).
  c.insert(c.end(), {0x81, 206, 0, 2});
  put32(c, kReporter);
  put32(c, kOurs);
  // FIR (PSFB FMT 4): media SSRC 0, one entry naming our SSRC.
  c.insert(c.end(), {0x84, 206, 0, 4});
  put32(c, kReporter);
  put32(c, 0);
  put32(c, kOurs);
  c.insert(c.end(), {7, 0, 0, 0});
  // REMB: one SSRC, ours.
  c.insert(c.end(), {0x8F, 206, 0, 5});
  put32(c, kReporter);
  put32(c, 0);
  c.insert(c.end(), {'R', 'E', 'M', 'B', 1, 0x04, 0x00, 0x00});
  put32(c, kOurs);
  REQUIRE(rewrite_rtcp(c, ToPub(o)));
  CHECK(u32(&c[4]) == kReporter);  // the reporter is the subscriber itself: untouched
  CHECK(u32(&c[8]) == kPub);
  CHECK(u32(&c[16]) == ((1u << 16) | 600));
  std::size_t at = 32;  // NACK
  CHECK(u32(&c[at + 8]) == kPub);
  CHECK(c[at + 12] == 0x02);
  CHECK(c[at + 13] == 0x58);  // 600
  CHECK(c[at + 15] == 0x01);  // BLP as it was
  at += 16;                   // PLI
  CHECK(u32(&c[at + 8]) == kPub);
  at += 12;  // FIR
  CHECK(u32(&c[at + 8]) == 0);
  CHECK(u32(&c[at + 12]) == kPub);
  at += 20;  // REMB
  CHECK(u32(&c[at + 20]) == kPub);
  CHECK(at + 24 == c.size());
}

TEST_CASE("rewrite: the publisher's SR, SDES and BYE reach the subscriber naming its SSRC; garbage is refused") {
  OutStream o(kPub, kOurs);
  std::vector<std::uint8_t> c;
  c.insert(c.end(), {0x80, 200, 0, 6});  // SR, no blocks
  put32(c, kPub);
  for (int i = 0; i < 5; ++i) put32(c, 0x01020304);
  // SDES: one chunk, CNAME "abcde" (2 + 5 bytes), null, padded: 4 + 7 + 1 = 12 bytes.
  c.insert(c.end(), {0x81, 202, 0, 3});
  put32(c, kPub);
  c.insert(c.end(), {1, 5, 'a', 'b', 'c', 'd', 'e', 0});
  c.insert(c.end(), {0x81, 203, 0, 1});  // BYE
  put32(c, kPub);
  REQUIRE(rewrite_rtcp(c, ToSub(o)));
  CHECK(u32(&c[4]) == kOurs);
  CHECK(u32(&c[8]) == 0x01020304);  // sender info untouched
  CHECK(u32(&c[32]) == kOurs);
  CHECK(c[38] == 'a');
  CHECK(u32(&c[48]) == kOurs);
  // A length beyond the datagram, a wrong version, a truncated header: refused.
  std::vector<std::uint8_t> bad{0x80, 200, 0, 20, 0, 0, 0, 1};
  CHECK_FALSE(rewrite_rtcp(bad, ToSub(o)));
  bad = {0x40, 200, 0, 1, 0, 0, 0, 1};
  CHECK_FALSE(rewrite_rtcp(bad, ToSub(o)));
  bad = {0x80, 200};
  CHECK_FALSE(rewrite_rtcp(bad, ToSub(o)));
  // An SDES chunk whose items run off the end.
  bad = {0x81, 202, 0, 2, 0x11, 0x11, 0x11, 0x11, 1, 9, 'x', 'y'};
  CHECK_FALSE(rewrite_rtcp(bad, ToSub(o)));
}
