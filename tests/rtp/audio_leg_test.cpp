// rtp::AudioLeg over real loopback sockets, driven directly (no SIP, no conference): where it
// sends, whom it believes, and what a refused re-offer leaves behind.
#include "rtp/audio_leg.hpp"
#include "rtp/dtls.hpp"
#include "rtp/packet.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <boost/asio.hpp>

using namespace sb;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

struct Rig {
  asio::io_context io;
  std::shared_ptr<rtp::PortAllocator> ports = std::make_shared<rtp::PortAllocator>(rtp::PortRange{41000, 41999});
  std::unique_ptr<rtp::AudioLeg> leg;
  udp::socket far{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  udp::socket stranger{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  Rig() {
    leg = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), {});
    REQUIRE(leg);
    far.non_blocking(true);
    stranger.non_blocking(true);
    REQUIRE_FALSE(leg->apply_answer(answer(far.local_endpoint().port(), "sendrecv")));
  }
  ~Rig() { leg->stop(); }
  static std::string answer(std::uint16_t port, const char* dir, int version = 1) {
    return fmt::format(
        "v=0\r\no=- 1 {} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\na={}\r\n",
        version, port, dir);
  }
  udp::endpoint gateway() const { return {asio::ip::make_address("127.0.0.1"), leg->rtp_port()}; }
  void send_from(udp::socket& s, std::uint16_t seq, std::uint32_t ssrc = 0x1234) {
    rtp::RtpHeader h;
    h.seq = seq;
    h.timestamp = seq * 160u;
    h.ssrc = ssrc;
    std::array<std::uint8_t, 160> payload;
    payload.fill(0xFF);
    std::array<std::uint8_t, 256> buf;
    auto n = rtp::write_rtp(buf, h, payload);
    s.send_to(asio::buffer(buf.data(), n), gateway());
    settle();
  }
  void settle() {
    for (int i = 0; i < 5; ++i) {
      io.run_for(5ms);
      io.restart();
    }
  }
  // The gateway sends one frame; which socket gets it?
  int received_by_far_and_stranger(int& stranger_count) {
    std::array<std::uint8_t, 160> payload{};
    leg->participant().send(payload);
    settle();
    std::array<std::uint8_t, 2048> buf;
    udp::endpoint from;
    boost::system::error_code ec;
    int n_far = 0;
    stranger_count = 0;
    while (far.receive_from(asio::buffer(buf), from, 0, ec) > 0 && !ec) ++n_far;
    while (stranger.receive_from(asio::buffer(buf), from, 0, ec) > 0 && !ec) ++stranger_count;
    return n_far;
  }
};

}  // namespace

TEST_CASE("audio leg: sends to the SDP address before any packet arrives") {
  Rig r;
  int s = 0;
  CHECK(r.received_by_far_and_stranger(s) == 1);
  CHECK(s == 0);
}

TEST_CASE("audio leg: one stray plain-RTP packet from another address does not take the media") {
  Rig r;
  r.send_from(r.far, 10);
  r.send_from(r.stranger, 500);
  CHECK(r.leg->stats().foreign_source == 1);
  int s = 0;
  CHECK(r.received_by_far_and_stranger(s) == 1);
  CHECK(s == 0);
  // Nor a run of them while the real far end keeps talking.
  for (std::uint16_t i = 0; i < 5; ++i) r.send_from(r.stranger, static_cast<std::uint16_t>(600 + i));
  r.send_from(r.far, 11);
  CHECK(r.received_by_far_and_stranger(s) == 1);
  CHECK(s == 0);
}

TEST_CASE("audio leg: a far end behind a NAT (another source, three in-sequence packets) is latched") {
  Rig r;
  r.send_from(r.stranger, 100);
  r.send_from(r.stranger, 101);
  CHECK(r.leg->stats().rtp_packets == 0);  // still on probation
  r.send_from(r.stranger, 102);
  CHECK(r.leg->stats().rtp_packets == 1);
  CHECK(r.leg->stats().latches == 1);
  int s = 0;
  CHECK(r.received_by_far_and_stranger(s) == 0);
  CHECK(s == 1);
  // Packets from the SDP address still count, and move the media back there.
  r.send_from(r.far, 7);
  CHECK(r.received_by_far_and_stranger(s) == 1);
}

TEST_CASE("audio leg: a packet of another payload type never latches") {
  Rig r;
  rtp::RtpHeader h;
  h.payload_type = 96;
  std::array<std::uint8_t, 128> buf;
  std::array<std::uint8_t, 64> payload{};
  for (std::uint16_t i = 0; i < 5; ++i) {
    h.seq = i;
    auto n = rtp::write_rtp(buf, h, payload);
    REQUIRE(n > 0);
    r.stranger.send_to(asio::buffer(buf.data(), n), r.gateway());
  }
  r.settle();
  CHECK(r.leg->stats().foreign_source == 5);
  int s = 0;
  CHECK(r.received_by_far_and_stranger(s) == 1);
}

TEST_CASE("audio leg: a refused re-offer leaves the call as it was; hold stops sending, resume restarts it") {
  Rig r;
  const auto before = r.leg->negotiated();
  REQUIRE(before);
  bool hold = false;
  // A re-offer that switches to SDES is refused (RFC 3264 §8: the old session stays).
  auto refused = r.leg->answer_offer(
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/SAVP 8\r\n"
      "a=rtpmap:8 PCMA/8000\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n",
      hold);
  CHECK_FALSE(refused);
  CHECK(r.leg->negotiated() == before);
  int s = 0;
  CHECK(r.received_by_far_and_stranger(s) == 1);
  // Hold (far end sendonly): we answer recvonly and send nothing.
  auto held = r.leg->answer_offer(Rig::answer(r.far.local_endpoint().port(), "sendonly", 3), hold);
  REQUIRE(held);
  CHECK(hold);
  CHECK(held->find("a=recvonly") != std::string::npos);
  CHECK(r.leg->participant().send_config() == nullptr);
  CHECK(r.received_by_far_and_stranger(s) == 0);
  auto resumed = r.leg->answer_offer(Rig::answer(r.far.local_endpoint().port(), "sendrecv", 4), hold);
  REQUIRE(resumed);
  CHECK_FALSE(hold);
  CHECK(r.received_by_far_and_stranger(s) == 1);
}

TEST_CASE("audio leg: a receive loop that fails marks the leg failed with a reason and a counter, and wakes its call") {
  Rig r;
  int woken = 0;
  r.leg->on_failure([&] { ++woken; });
  r.leg->inject_receive_error(false, asio::error::bad_descriptor);
  r.settle();
  REQUIRE(r.leg->failure());
  CHECK(r.leg->failure()->find("RTP receive failed") != std::string::npos);
  CHECK(r.leg->stats().receive_failures == 1);
  CHECK(woken == 1);
  // The first reason stays; the RTCP loop failing too changes nothing and wakes nobody twice.
  r.leg->inject_receive_error(true, asio::error::bad_descriptor);
  r.settle();
  CHECK(r.leg->failure()->find("RTP receive failed") != std::string::npos);
  CHECK(r.leg->stats().receive_failures == 2);
  CHECK(woken == 1);
}

TEST_CASE("audio leg: transient receive errors (ICMP, no buffer) are counted and the loop carries on") {
  Rig r;
  int woken = 0;
  r.leg->on_failure([&] { ++woken; });
  r.leg->inject_receive_error(false, asio::error::connection_refused);
  r.settle();
  r.leg->inject_receive_error(false, asio::error::no_buffer_space);
  r.settle();
  CHECK_FALSE(r.leg->failure());
  CHECK(r.leg->stats().receive_errors == 2);
  CHECK(woken == 0);
  r.send_from(r.far, 1);
  CHECK(r.leg->stats().rtp_packets == 1);  // still receiving
  CHECK(r.leg->stats_json().find("\"receiveErrors\":2") != std::string::npos);
}

TEST_CASE("audio leg: DTLS presents the certificate whose fingerprint it offered, even across an identity rotation") {
  asio::io_context io;
  auto ports = std::make_shared<rtp::PortAllocator>(rtp::PortRange{42000, 42999});
  udp::socket far{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  far.non_blocking(true);
  rtp::AudioLeg::Options o;
  o.secure = true;
  o.keying = sdp::Keying::dtls;
  auto leg = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), o);
  REQUIRE(leg);
  const std::string offer = leg->offer();
  const std::string tag = "a=fingerprint:sha-256 ";
  const auto at = offer.find(tag);
  REQUIRE(at != std::string::npos);
  const std::string offered = offer.substr(at + tag.size(), offer.find('\r', at) - at - tag.size());
  // The process identity is replaced between our offer and the handshake (its 29-day rotation).
  const auto rotated = rtp::DtlsIdentity::process(std::chrono::steady_clock::now() + std::chrono::hours(24 * 31));
  REQUIRE(rotated->fingerprint_sha256() != offered);

  // The far end: a DTLS server (a=setup:passive) that accepts only the certificate we offered.
  const auto far_id = rtp::DtlsIdentity::generate();
  auto now = rtp::DtlsSrtp::Clock::now();
  rtp::DtlsSrtp server(far_id, rtp::DtlsSrtp::Role::server, "sha-256", offered, now);
  server.start(now);
  const std::string answer = fmt::format(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio {} UDP/TLS/RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\na=setup:passive\r\n"
      "a=fingerprint:sha-256 {}\r\n",
      far.local_endpoint().port(), far_id->fingerprint_sha256());
  REQUIRE_FALSE(leg->apply_answer(answer));
  const udp::endpoint gateway(asio::ip::make_address("127.0.0.1"), leg->rtp_port());
  std::array<std::uint8_t, 4096> buf;
  for (int i = 0; i < 400 && server.state() == rtp::DtlsSrtp::State::handshaking; ++i) {
    io.run_for(5ms);
    io.restart();
    udp::endpoint from;
    boost::system::error_code ec;
    now = rtp::DtlsSrtp::Clock::now();
    for (std::size_t n; (n = far.receive_from(asio::buffer(buf), from, 0, ec)) > 0 && !ec;)
      server.receive(std::span<const std::uint8_t>(buf.data(), n), now);
    for (auto& d : server.take_outgoing()) far.send_to(asio::buffer(d), gateway);
  }
  CHECK_MESSAGE(server.state() == rtp::DtlsSrtp::State::connected, server.error());
  for (int i = 0; i < 10; ++i) {  // the leg takes the server's last flight
    io.run_for(5ms);
    io.restart();
  }
  CHECK_FALSE(leg->failure());
  CHECK(leg->keying_name() == "dtls");
  leg->stop();
}
