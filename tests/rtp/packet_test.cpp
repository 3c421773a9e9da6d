// RTP packets, demultiplexing and telephone events: tests for src/rtp/packet.{hpp,cpp}.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <ostream> // doctest prints std::error_code
#include <vector>

#include "rtp/packet.hpp"

using namespace sb::rtp;

namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<std::uint8_t> v;
  for (int b : list) v.push_back(static_cast<std::uint8_t>(b));
  return v;
}

// A PCMU packet with two CSRCs, a one-byte-header extension (RFC 8285) and 3 bytes of padding.
std::vector<std::uint8_t> full_packet() {
  return bytes({0xB2, 0x80, 0xFF, 0xFF, 0x00, 0x00, 0x10, 0x00, 0xDE, 0xAD, 0xBE, 0xEF, // header
                0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,                         // CSRCs
                0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00,                         // ext
                0x01, 0x02, 0x03, 0x04, 0x05,                                           // payload
                0x00, 0x00, 0x03});                                                     // padding
}

} // namespace

TEST_CASE("RTP parse decodes every header field and views the payload in the input") {
  const auto pkt = full_packet();
  const auto v = parse_rtp(pkt);
  REQUIRE(v);
  CHECK(v->marker);
  CHECK(v->payload_type == 0);
  CHECK(v->seq == 0xFFFF);
  CHECK(v->timestamp == 0x1000);
  CHECK(v->ssrc == 0xDEADBEEF);
  REQUIRE(v->csrc_count == 2);
  CHECK(v->csrc(0) == 1);
  CHECK(v->csrc(1) == 2);
  CHECK(v->has_extension);
  CHECK(v->extension_profile == 0xBEDE);
  CHECK(v->extension.size() == 4);
  CHECK(v->extension.data() == pkt.data() + 24);
  CHECK(v->payload.size() == 5);
  CHECK(v->payload.data() == pkt.data() + 28);
  CHECK(v->padding == 3);
}

TEST_CASE("RTP serialise then parse gives back the same packet byte for byte") {
  const auto pkt = full_packet();
  const auto v = parse_rtp(pkt);
  REQUIRE(v);
  std::array<std::uint8_t, 64> out{};
  const auto n = write_rtp(out, v->header(), v->payload);
  REQUIRE(n == pkt.size());
  CHECK(std::vector<std::uint8_t>(out.begin(), out.begin() + n) == pkt);

  RtpHeader h;
  h.payload_type = 111;
  h.seq = 7;
  h.timestamp = 960;
  h.ssrc = 42;
  const std::array<std::uint8_t, 3> payload{9, 8, 7};
  const auto m = write_rtp(out, h, payload);
  REQUIRE(m == 15);
  const auto w = parse_rtp(std::span(out).first(m));
  REQUIRE(w);
  CHECK_FALSE(w->marker);
  CHECK(w->payload_type == 111);
  CHECK(w->seq == 7);
  CHECK(w->timestamp == 960);
  CHECK(w->ssrc == 42);
  CHECK(w->csrc_count == 0);
  CHECK_FALSE(w->has_extension);
  CHECK(w->padding == 0);
  CHECK(w->payload.size() == 3);
}

TEST_CASE("RTP writer refuses a buffer one byte short and unusable headers") {
  RtpHeader h;
  const std::array<std::uint8_t, 10> payload{};
  std::array<std::uint8_t, 22> out{};
  CHECK(write_rtp(std::span(out).first(21), h, payload) == 0);
  CHECK(write_rtp(out, h, payload) == 22);
  h.payload_type = 128;
  CHECK(write_rtp(out, h, payload) == 0);
  h.payload_type = 0;
  h.csrc_count = 16;
  CHECK(write_rtp(out, h, payload) == 0);
  h.csrc_count = 0;
  const std::array<std::uint8_t, 3> odd_ext{};
  h.has_extension = true;
  h.extension = odd_ext;
  CHECK(write_rtp(out, h, {}) == 0);
}

TEST_CASE("RTP parse rejects every truncation that cuts into the headers") {
  // RTP has no length field, so a cut inside the payload is undetectable by design; every cut
  // inside the fixed header, CSRC list or extension must be refused.
  const auto pkt = full_packet();
  for (std::size_t n = 0; n < 28; ++n) {
    CAPTURE(n);
    CHECK_FALSE(parse_rtp(std::span(pkt).first(n)));
  }
  CHECK(parse_rtp(std::span(pkt).first(28)).error == rtp_error::bad_padding); // P set, count 0
  CHECK(parse_rtp(std::span(pkt).first(11)).error == rtp_error::too_short);
  CHECK(parse_rtp(std::span(pkt).first(19)).error == rtp_error::bad_csrc_count);
  CHECK(parse_rtp(std::span(pkt).first(23)).error == rtp_error::bad_extension);
  CHECK(parse_rtp(std::span(pkt).first(27)).error == rtp_error::bad_extension);
}

TEST_CASE("RTP parse rejects version, padding and extension violations") {
  auto pkt = full_packet();
  pkt[0] = (pkt[0] & 0x3f) | 0x40; // V=1
  CHECK(parse_rtp(pkt).error == rtp_error::bad_version);

  pkt = full_packet();
  pkt.back() = 0; // padding count 0
  CHECK(parse_rtp(pkt).error == rtp_error::bad_padding);
  pkt.back() = 9; // 5 payload + 3 pad = 8 bytes after the headers
  CHECK(parse_rtp(pkt).error == rtp_error::bad_padding);
  pkt.back() = 8; // the whole payload is padding: allowed, empty payload
  const auto v = parse_rtp(pkt);
  REQUIRE(v);
  CHECK(v->payload.empty());

  pkt = full_packet();
  pkt[23] = 2; // extension claims 2 words
  pkt.resize(28);
  pkt[0] &= ~0x20; // no padding
  CHECK(parse_rtp(pkt).error == rtp_error::bad_extension);
  CHECK(make_error_code(rtp_error::bad_extension).message() != "");
}

TEST_CASE("RTP with only the fixed header parses with an empty payload") {
  const auto pkt = bytes({0x80, 0x08, 0, 1, 0, 0, 0, 160, 0, 0, 0, 5});
  const auto v = parse_rtp(pkt);
  REQUIRE(v);
  CHECK(v->payload_type == 8);
  CHECK(v->payload.empty());
}

TEST_CASE("RTCP on a muxed port is told apart from RTP by payload type 64..95 (RFC 5761)") {
  CHECK(looks_like_rtcp(bytes({0x80, 200, 0, 6})));  // SR
  CHECK(looks_like_rtcp(bytes({0x81, 201, 0, 7})));  // RR
  CHECK(looks_like_rtcp(bytes({0x80, 192, 0, 1})));  // lower edge
  CHECK(looks_like_rtcp(bytes({0x80, 223, 0, 1})));  // upper edge
  CHECK_FALSE(looks_like_rtcp(bytes({0x80, 224, 0, 1})));
  CHECK_FALSE(looks_like_rtcp(bytes({0x80, 191, 0, 1})));
  CHECK_FALSE(looks_like_rtcp(bytes({0x80, 0x80 | 0, 0, 1})));  // PCMU with marker
  CHECK_FALSE(looks_like_rtcp(bytes({0x80, 111, 0, 1})));       // Opus
  CHECK_FALSE(looks_like_rtcp(bytes({0x40, 200, 0, 1})));       // V=1
  CHECK_FALSE(looks_like_rtcp(bytes({0x80, 200})));             // too short
}

TEST_CASE("first byte demultiplexes STUN, DTLS and RTP per RFC 7983") {
  CHECK(classify(0) == PacketKind::stun);
  CHECK(classify(1) == PacketKind::stun);
  CHECK(classify(3) == PacketKind::stun);
  CHECK(classify(4) == PacketKind::unknown);
  CHECK(classify(16) == PacketKind::unknown); // ZRTP
  CHECK(classify(20) == PacketKind::dtls);
  CHECK(classify(22) == PacketKind::dtls);    // handshake
  CHECK(classify(63) == PacketKind::dtls);
  CHECK(classify(64) == PacketKind::unknown); // TURN channel
  CHECK(classify(127) == PacketKind::unknown);
  CHECK(classify(128) == PacketKind::rtp_or_rtcp);
  CHECK(classify(0x90) == PacketKind::rtp_or_rtcp);
  CHECK(classify(191) == PacketKind::rtp_or_rtcp);
  CHECK(classify(192) == PacketKind::unknown);
  CHECK(classify(255) == PacketKind::unknown);
}

TEST_CASE("telephone-event payload parses digit, end bit, volume and duration (RFC 4733)") {
  // '#' (11), E=1, R=1 (ignored), volume 10, duration 800 (100 ms at 8 kHz).
  const auto ev = parse_dtmf(bytes({11, 0xC0 | 10, 0x03, 0x20}));
  REQUIRE(ev);
  CHECK(ev->event == 11);
  CHECK(ev->end);
  CHECK(ev->volume == 10);
  CHECK(ev->duration == 800);

  const auto start = parse_dtmf(bytes({5, 0x3f, 0, 160, 0xEE}));
  REQUIRE(start);
  CHECK(start->event == 5);
  CHECK_FALSE(start->end);
  CHECK(start->volume == 63);

  CHECK_FALSE(parse_dtmf(bytes({1, 2, 3})));

  std::array<std::uint8_t, 4> out{};
  REQUIRE(write_dtmf(out, *ev) == 4);
  CHECK(out == std::array<std::uint8_t, 4>{11, 0x80 | 10, 0x03, 0x20});
  CHECK(write_dtmf(std::span(out).first(3), *ev) == 0);
}
