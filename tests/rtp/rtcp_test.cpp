// RTCP compound validation, SR/RR/SDES/BYE, NTP and RTT: tests for src/rtp/rtcp.{hpp,cpp}.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <ostream> // doctest prints std::error_code
#include <string_view>
#include <vector>

#include "rtp/rtcp.hpp"

using namespace sb::rtp;
using namespace std::literals;

namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<std::uint8_t> v;
  for (int b : list) v.push_back(static_cast<std::uint8_t>(b));
  return v;
}

const ReportBlock k_block{0x11223344, 64, -5, 0x0001FFFF, 120, 0xAABBCCDD, 0x00010000};

// SR with one block + SDES CNAME "sb@host".
std::vector<std::uint8_t> sr_compound() {
  std::vector<std::uint8_t> out(256);
  const SenderInfo info{0xE5F0000180000000ull, 48000, 50, 8000};
  const auto n = write_report_compound(out, 0xCAFEBABE, info, std::span(&k_block, 1), "sb@host");
  out.resize(n);
  return out;
}

} // namespace

TEST_CASE("SR + SDES compound written by us parses back field for field") {
  const auto pkt = sr_compound();
  REQUIRE(pkt.size() == 52 + 20); // SR 4+4+20+24, SDES 4+4+2+7+1 → 20
  const auto c = parse_compound(pkt);
  REQUIRE(c);
  REQUIRE(c->size() == 2);
  const auto sr = parse_sr((*c)[0]);
  REQUIRE(sr);
  CHECK(sr->ssrc == 0xCAFEBABE);
  CHECK(sr->info.ntp == 0xE5F0000180000000ull);
  CHECK(sr->info.rtp_timestamp == 48000);
  CHECK(sr->info.packet_count == 50);
  CHECK(sr->info.octet_count == 8000);
  REQUIRE(sr->blocks.size() == 1);
  const auto b = sr->blocks[0];
  CHECK(b.ssrc == k_block.ssrc);
  CHECK(b.fraction_lost == 64);
  CHECK(b.cumulative_lost == -5);
  CHECK(b.extended_highest_seq == 0x0001FFFF);
  CHECK(b.jitter == 120);
  CHECK(b.lsr == 0xAABBCCDD);
  CHECK(b.dlsr == 0x00010000);
  CHECK(sr->extension.empty());

  const auto sdes = parse_sdes((*c)[1]);
  REQUIRE(sdes);
  int chunks = 0;
  sdes->for_each([&](const SdesChunk& ch) {
    ++chunks;
    CHECK(ch.ssrc == 0xCAFEBABE);
    CHECK(ch.cname == "sb@host");
  });
  CHECK(chunks == 1);
  CHECK(parse_rr((*c)[0]).error == rtcp_error::wrong_type);
}

TEST_CASE("RR compound with no blocks, and one with 31 blocks, round trip") {
  std::array<std::uint8_t, 1024> out{};
  auto n = write_report_compound(out, 7, std::nullopt, {}, "");
  REQUIRE(n == 8 + 12);
  auto c = parse_compound(std::span(out).first(n));
  REQUIRE(c);
  const auto rr = parse_rr((*c)[0]);
  REQUIRE(rr);
  CHECK(rr->ssrc == 7);
  CHECK(rr->blocks.size() == 0);

  std::vector<ReportBlock> many(31, k_block);
  n = write_report_compound(out, 7, std::nullopt, many, "x");
  REQUIRE(n == 8 + 31 * 24 + 12);
  c = parse_compound(std::span(out).first(n));
  REQUIRE(c);
  CHECK(parse_rr((*c)[0])->blocks.size() == 31);
  many.push_back(k_block);
  CHECK(write_report_compound(out, 7, std::nullopt, many, "x") == 0);
}

TEST_CASE("cumulative lost is a signed 24-bit field, clamped on write") {
  std::array<std::uint8_t, 64> out{};
  for (const auto& [in, expect] : {std::pair{0x7fffff, 0x7fffff}, std::pair{0x1000000, 0x7fffff},
                                  std::pair{-0x800000, -0x800000}, std::pair{-0x900000, -0x800000},
                                  std::pair{-1, -1}, std::pair{0, 0}}) {
    ReportBlock b = k_block;
    b.cumulative_lost = in;
    const auto n = write_rr(out, 1, std::span(&b, 1));
    const auto c = parse_compound(std::span(out).first(n));
    REQUIRE(c);
    CHECK(parse_rr((*c)[0])->blocks[0].cumulative_lost == expect);
  }
}

TEST_CASE("every truncation of a compound RTCP packet is rejected, except at a packet boundary") {
  const auto pkt = sr_compound();
  for (std::size_t n = 0; n < pkt.size(); ++n) {
    CAPTURE(n);
    if (n == 52) { // the SR alone is a valid (if CNAME-less) compound
      CHECK(parse_compound(std::span(pkt).first(n))->size() == 1);
      continue;
    }
    CHECK(validate_compound(std::span(pkt).first(n)));
    CHECK_FALSE(parse_compound(std::span(pkt).first(n)));
  }
  CHECK_FALSE(validate_compound(pkt));
}

TEST_CASE("compound validation: bad version, wrong first packet, lengths that do not add up") {
  auto pkt = sr_compound();
  pkt[0] = (pkt[0] & 0x3f) | 0x40;
  CHECK(validate_compound(pkt) == rtcp_error::bad_version);

  pkt = sr_compound();
  pkt[52] = (pkt[52] & 0x3f); // second packet V=0
  CHECK(validate_compound(pkt) == rtcp_error::bad_version);

  // SDES first.
  std::array<std::uint8_t, 64> out{};
  auto n = write_sdes_cname(out, 1, "a");
  CHECK(validate_compound(std::span(out).first(n)) == rtcp_error::bad_first_packet);
  // BYE first.
  const std::uint32_t ssrc = 1;
  n = write_bye(out, std::span(&ssrc, 1));
  CHECK(validate_compound(std::span(out).first(n)) == rtcp_error::bad_first_packet);

  pkt = sr_compound();
  pkt[3] += 1; // SR claims one more word: runs into the SDES and misaligns it
  CHECK(validate_compound(pkt));
  pkt = sr_compound();
  pkt.push_back(0); // trailing bytes that are not a packet
  CHECK(validate_compound(pkt) == rtcp_error::bad_length);
  pkt.insert(pkt.end(), {0, 0, 0});
  CHECK(validate_compound(pkt) == rtcp_error::bad_version); // 4 zero bytes: V=0
  pkt = sr_compound();
  pkt[55] += 10; // SDES length past the end
  CHECK(validate_compound(pkt) == rtcp_error::bad_length);

  pkt = sr_compound();
  pkt[0] = (pkt[0] & 0xe0) | 2; // RC=2 but only one block's room
  CHECK(validate_compound(pkt) == rtcp_error::bad_count);
  CHECK(make_error_code(rtcp_error::bad_count).message() != "");
}

TEST_CASE("compound validation: padding only on the last packet, with a sane count") {
  // RR (no blocks) + SDES with 4 bytes of padding on the SDES.
  std::vector<std::uint8_t> pkt = bytes({0x80, 201, 0, 1, 0, 0, 0, 9,                     // RR
                                         0xA1, 202, 0, 3, 0, 0, 0, 9, 1, 1, 'a', 0,       // SDES
                                         0, 0, 0, 4});                                    // pad
  auto c = parse_compound(pkt);
  REQUIRE(c);
  REQUIRE(c->size() == 2);
  CHECK((*c)[1].padding == 4);
  CHECK((*c)[1].body.size() == 8);
  const auto sdes = parse_sdes((*c)[1]);
  REQUIRE(sdes);
  sdes->for_each([](const SdesChunk& ch) { CHECK(ch.cname == "a"); });

  auto bad = pkt;
  bad[0] |= 0x20; // padding on the first packet of two
  CHECK(validate_compound(bad) == rtcp_error::bad_padding);
  bad = pkt;
  bad.back() = 0;
  CHECK(validate_compound(bad) == rtcp_error::bad_padding);
  bad.back() = 13; // more than the SDES body
  CHECK(validate_compound(bad) == rtcp_error::bad_padding);

  // A lone RR with padding is accepted (first and last).
  const auto lone = bytes({0xA0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4});
  REQUIRE(parse_compound(lone));
  CHECK(parse_rr((*parse_compound(lone))[0])->ssrc == 9);
}

TEST_CASE("SDES chunks that overrun or are not terminated are rejected") {
  RtcpPacket p;
  p.type = 202;
  p.count = 1;
  auto body = bytes({0, 0, 0, 1, 1, 5, 'a', 'b'}); // item claims 5 bytes, 2 present
  p.body = body;
  CHECK(parse_sdes(p).error == rtcp_error::bad_sdes);
  body = bytes({0, 0, 0, 1, 1, 2, 'a', 'b'}); // no null terminator
  p.body = body;
  CHECK(parse_sdes(p).error == rtcp_error::bad_sdes);
  body = bytes({0, 0, 0, 1, 1, 1, 'a', 0});
  p.body = body;
  CHECK(parse_sdes(p));
  p.count = 2; // second chunk missing
  CHECK(parse_sdes(p).error == rtcp_error::bad_sdes);
  // Two chunks, one with a NAME item before the CNAME.
  body = bytes({0, 0, 0, 1, 2, 1, 'n', 1, 1, 'c', 0, 0, 0, 0, 0, 2, 0, 0, 0, 0});
  p.body = body;
  const auto s = parse_sdes(p);
  REQUIRE(s);
  std::vector<std::pair<std::uint32_t, std::string_view>> got;
  s->for_each([&](const SdesChunk& ch) { got.emplace_back(ch.ssrc, ch.cname); });
  REQUIRE(got.size() == 2);
  CHECK(got[0] == std::pair<std::uint32_t, std::string_view>{1, "c"});
  CHECK(got[1] == std::pair<std::uint32_t, std::string_view>{2, ""});
}

TEST_CASE("BYE with SSRCs and a reason round trips; an overlong reason is rejected") {
  std::array<std::uint8_t, 64> out{};
  const std::array<std::uint32_t, 2> ssrcs{5, 6};
  const auto n = write_bye(out, ssrcs, "bye now");
  REQUIRE(n == 4 + 8 + 8);
  CHECK(out[0] == 0x82);
  RtcpPacket p;
  p.type = 203;
  p.count = 2;
  p.body = std::span<const std::uint8_t>(out).subspan(4, n - 4);
  const auto b = parse_bye(p);
  REQUIRE(b);
  REQUIRE(b->size() == 2);
  CHECK(b->ssrc(1) == 6);
  CHECK(b->reason == "bye now");
  out[12] = 20; // reason length past the packet
  CHECK(parse_bye(p).error == rtcp_error::too_short);
  p.count = 5;
  CHECK(parse_bye(p).error == rtcp_error::bad_count);
}

TEST_CASE("an RR followed by BYE and an unknown type validates and is walked in order") {
  std::array<std::uint8_t, 128> out{};
  std::size_t n = write_rr(out, 1, {});
  const std::uint32_t ssrc = 1;
  n += write_bye(std::span(out).subspan(n), std::span(&ssrc, 1));
  const auto app = bytes({0x80, 204, 0, 2, 0, 0, 0, 1, 'n', 'a', 'm', 'e'});
  std::copy(app.begin(), app.end(), out.begin() + static_cast<std::ptrdiff_t>(n));
  n += app.size();
  const auto c = parse_compound(std::span(out).first(n));
  REQUIRE(c);
  REQUIRE(c->size() == 3);
  CHECK((*c)[0].type == 201);
  CHECK((*c)[1].type == 203);
  CHECK((*c)[2].type == 204);
  CHECK((*c)[2].body.size() == 8);
}

TEST_CASE("RTT is A - LSR - DLSR in 1/65536 s (RFC 3550 §6.4.1 example)") {
  // §6.4.1 figure: A = 0xb710:8000 (46864.500 s), DLSR = 0x0005:4000 (5.250 s),
  // LSR = 0xb705:2000 (46853.125 s) → delay 0x0006:2000 (6.125 s).
  const auto rtt = rtt_q16(0xb7108000u, 0xb7052000u, 0x00054000u);
  REQUIRE(rtt);
  CHECK(*rtt == 0x00062000u);
  CHECK(from_q16(*rtt) == 6'125'000us);
  CHECK_FALSE(rtt_q16(0xb7108000u, 0, 0x00054000u));          // no SR yet
  CHECK_FALSE(rtt_q16(0xb7050000u, 0xb7052000u, 0));          // A before LSR
  CHECK_FALSE(rtt_q16(0xb7108000u, 0xb7052000u, 0x000C0000u)); // DLSR longer than A − LSR
  CHECK(rtt_q16(0x00001000u, 0xfffff000u, 0x1000u) == 0x1000u); // across the 2^32 wrap
}

TEST_CASE("NTP timestamps and the 1/65536 s unit convert exactly") {
  using namespace std::chrono;
  const system_clock::time_point unix_epoch{};
  CHECK(to_ntp(unix_epoch) == (k_ntp_unix_offset << 32));
  const auto half = unix_epoch + 500ms;
  CHECK(to_ntp(half) == ((k_ntp_unix_offset << 32) | 0x80000000u));
  CHECK(ntp_middle(0x1234567890ABCDEFull) == 0x567890ABu);
  CHECK(to_q16(1s) == 0x10000u);
  CHECK(to_q16(5250ms) == 0x00054000u);
  CHECK(to_q16(-1s) == 0);
  CHECK(to_q16(hours(24)) == 0xffffffffu); // saturates past 65536 s
  CHECK(from_q16(0x8000) == 500ms);
  // LSR from an SR we sent, DLSR from the time it was held: RTT on a simulated exchange.
  const auto sent = system_clock::time_point{} + seconds(1'700'000'000);
  const auto lsr = ntp_middle(to_ntp(sent));
  const auto dlsr = to_q16(200ms);
  const auto arrived = ntp_middle(to_ntp(sent + 200ms + 40ms));
  const auto rtt = rtt_q16(arrived, lsr, dlsr);
  REQUIRE(rtt);
  CHECK(from_q16(*rtt) >= 39ms);
  CHECK(from_q16(*rtt) <= 41ms);
}
