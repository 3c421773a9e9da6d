// rtp::AudioLeg over real loopback sockets, driven directly (no SIP, no conference): where it
// sends, whom it believes, and what a refused re-offer leaves behind.
#include "rtp/audio_leg.hpp"
#include "rtp/dtls.hpp"
#include "rtp/dtmf.hpp"
#include "rtp/packet.hpp"
#include "rtp/sdes.hpp"
#include "rtp/srtp.hpp"
#include "sdp/sdp.hpp"
#include "mix/codec.hpp"
#include "support/goertzel.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <boost/asio.hpp>

using namespace sb;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

int drain_both(udp::socket& a, udp::socket& b, int& b_count);

struct Rig {
  asio::io_context io;
  std::shared_ptr<rtp::PortAllocator> ports = std::make_shared<rtp::PortAllocator>(rtp::PortRange{41000, 41999});
  std::unique_ptr<rtp::AudioLeg> leg;
  udp::socket far{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  udp::socket stranger{io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  // `telephone_event`: the far end's answer has telephone-event/8000 as payload type 96.
  explicit Rig(bool telephone_event = false) {
    leg = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), {});
    REQUIRE(leg);
    far.non_blocking(true);
    stranger.non_blocking(true);
    REQUIRE_FALSE(leg->apply_answer(answer(far.local_endpoint().port(), "sendrecv", 1, telephone_event)));
  }
  ~Rig() { leg->stop(); }
  static std::string answer(std::uint16_t port, const char* dir, int version = 1, bool te = false) {
    return fmt::format(
        "v=0\r\no=- 1 {} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0{}\r\n"
        "a=rtpmap:0 PCMU/8000\r\n{}a={}\r\n",
        version, port, te ? " 96" : "", te ? "a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\n" : "", dir);
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
    leg->participant().send(std::array<std::uint8_t, 160>{});
    settle();
    return drain_both(far, stranger, stranger_count);
  }
};

// Datagrams waiting on `a` (returned) and on `b` (into b_count), read and discarded.
int drain_both(udp::socket& a, udp::socket& b, int& b_count) {
  std::array<std::uint8_t, 2048> buf;
  udp::endpoint from;
  boost::system::error_code ec;
  int n = 0;
  b_count = 0;
  while (a.receive_from(asio::buffer(buf), from, 0, ec) > 0 && !ec) ++n;
  while (b.receive_from(asio::buffer(buf), from, 0, ec) > 0 && !ec) ++b_count;
  return n;
}

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

TEST_CASE("audio leg (SDES) under attack: replays, forgeries and plain RTP are dropped and counted; the call goes on") {
  // docs/robustness.md "Hostile RTP": an attacker who captured the far end's SRTP replays it, from
  // the far end's address and from its own, sends packets with a forged tag and plain RTP. None
  // of it is played, none of it moves the media (the latch believes only authenticated packets)
  // and the far end's own packets keep arriving and counting in between.
  asio::io_context io;
  auto ports = std::make_shared<rtp::PortAllocator>(rtp::PortRange{41000, 41999});
  rtp::AudioLeg::Options o;
  o.secure = true;
  auto leg = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), o);
  REQUIRE(leg);
  udp::socket far(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  udp::socket attacker(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  far.non_blocking(true);
  attacker.non_blocking(true);
  // The far end answers our AES_CM_128_HMAC_SHA1_80 line with a key of its own.
  const std::string offer = leg->offer();
  const auto at = offer.find(" AES_CM_128_HMAC_SHA1_80 ");
  REQUIRE(at != std::string::npos);
  const auto tag_at = offer.rfind("a=crypto:", at) + 9;
  const auto c = sdp::make_crypto(static_cast<std::uint32_t>(std::stoul(offer.substr(tag_at, at - tag_at))),
                                  "AES_CM_128_HMAC_SHA1_80", std::string(30, 'k'));
  auto out = rtp::make_sdes_context(c, rtp::SrtpContext::Direction::outbound);
  REQUIRE(out);
  REQUIRE_FALSE(leg->apply_answer(fmt::format(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/SAVP 0\r\n"
      "a=rtpmap:0 PCMU/8000\r\na=crypto:{} {} {}\r\na=sendrecv\r\n",
      far.local_endpoint().port(), c.tag, c.suite, c.key_params)));
  const udp::endpoint gateway(asio::ip::make_address("127.0.0.1"), leg->rtp_port());
  auto settle = [&] {
    for (int i = 0; i < 5; ++i) {
      io.run_for(5ms);
      io.restart();
    }
  };
  std::uint16_t seq = 100;
  std::vector<std::uint8_t> last;  // the far end's last packet on the wire, as an attacker captures it
  auto plain = [&](std::uint16_t sq) {
    rtp::RtpHeader h;
    h.seq = sq;
    h.timestamp = sq * 160u;
    h.ssrc = 0xA11CE;
    std::array<std::uint8_t, 160> payload;
    payload.fill(0x7F);
    std::vector<std::uint8_t> buf(256 + rtp::srtp_max_trailer);
    buf.resize(rtp::write_rtp(buf, h, payload));
    return buf;
  };
  auto talk = [&] {
    auto buf = plain(seq++);
    const auto n = buf.size();
    buf.resize(n + rtp::srtp_max_trailer);
    const int m = out->protect_rtp(buf, n);
    REQUIRE(m > 0);
    buf.resize(static_cast<std::size_t>(m));
    far.send_to(asio::buffer(buf), gateway);
    last = buf;
  };
  // Which of the two sockets gets what the gateway sends now.
  auto where = [&](int& to_attacker) {
    leg->participant().send(std::array<std::uint8_t, 160>{});
    settle();
    return drain_both(far, attacker, to_attacker);
  };

  // Every datagram sent is counted one way or the other; wait (bounded) until all were seen, so a
  // slow machine cannot make the counts below flaky.
  auto seen = [&] { return leg->stats().rtp_packets + leg->stats().srtp_failures; };
  auto settle_until = [&](std::uint64_t n) {
    for (int i = 0; i < 80 && seen() < n; ++i) settle();
  };
  for (int i = 0; i < 5; ++i) talk();
  settle_until(5);
  REQUIRE(leg->stats().rtp_packets == 5);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 4; ++i) far.send_to(asio::buffer(last), gateway);       // replay, far end's address
    for (int i = 0; i < 4; ++i) attacker.send_to(asio::buffer(last), gateway);  // replay, another address
    auto forged = last;
    forged.back() ^= 0x5A;  // the auth tag
    forged[2] ^= 0x01;      // a sequence number never seen, so not a replay: the tag must catch it
    attacker.send_to(asio::buffer(forged), gateway);
    for (int i = 0; i < 3; ++i) attacker.send_to(asio::buffer(plain(static_cast<std::uint16_t>(seq + 1000 + i))), gateway);
    talk();
    settle();
  }
  settle_until(5 + 3 * 13);
  const auto st = leg->stats();
  CHECK(st.rtp_packets == 8);            // the far end's 5 + 3, nothing else
  CHECK(st.srtp_failures == 3 * 12);     // 8 replays + 1 forgery + 3 plain per round
  CHECK(st.latches == 0);                // the media never moved
  int a = 0;
  CHECK(where(a) == 1);
  CHECK(a == 0);
  leg->stop();
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

TEST_CASE("audio leg: a socket that fails to receive marks the leg failed with a reason and a counter, and wakes its call") {
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

// ---------------------------------------------------------------------------------------------
// DTMF

namespace {

struct Sent {
  rtp::RtpHeader h;
  std::vector<std::uint8_t> payload;
};

// `ticks` conference ticks of μ-law silence, then everything the far end received, in order.
std::vector<Sent> run_ticks(Rig& r, int ticks) {
  std::array<std::uint8_t, 160> silence;
  silence.fill(0xFF);
  for (int i = 0; i < ticks; ++i) r.leg->participant().send(silence);
  std::vector<Sent> out;
  std::array<std::uint8_t, 2048> buf;
  udp::endpoint from;
  boost::system::error_code ec;
  for (std::size_t n; (n = r.far.receive_from(asio::buffer(buf), from, 0, ec)) > 0 && !ec;) {
    auto v = rtp::parse_rtp(std::span<const std::uint8_t>(buf.data(), n));
    REQUIRE(v);
    rtp::RtpHeader h;
    h.payload_type = v->payload_type;
    h.marker = v->marker;
    h.seq = v->seq;
    h.timestamp = v->timestamp;
    h.ssrc = v->ssrc;
    out.push_back({h, std::vector<std::uint8_t>(v->payload.begin(), v->payload.end())});
  }
  return out;
}

}  // namespace

TEST_CASE("audio leg: play-dtmf replaces audio with RFC 4733 events: one SSRC, sequence runs on, M once, end x3") {
  Rig r(true);
  auto first = run_ticks(r, 1);
  REQUIRE(first.size() == 1);
  const auto ts0 = first[0].h.timestamp;
  CHECK(r.leg->dtmf_room() == rtp::k_dtmf_queue_max);
  CHECK(r.leg->play_dtmf("1") == sip::DtmfQueued::queued);
  CHECK(r.leg->play_dtmf("2") == sip::DtmfQueued::queued);  // appended
  CHECK(r.leg->dtmf_room() == rtp::k_dtmf_queue_max - 2);
  auto sent = run_ticks(r, 24);
  REQUIRE(sent.size() == 24);
  CHECK_FALSE(r.leg->dtmf_sending());
  std::uint16_t seq = first[0].h.seq;
  std::vector<std::vector<std::size_t>> events;  // packet indexes per event (by timestamp)
  for (std::size_t i = 0; i < sent.size(); ++i) {
    const auto& p = sent[i];
    CHECK(p.h.ssrc == first[0].h.ssrc);
    CHECK(p.h.seq == ++seq);
    const auto tick_ts = ts0 + 160u * static_cast<std::uint32_t>(i + 1);
    if (p.h.payload_type == 0) {
      CHECK(p.h.timestamp == tick_ts);  // audio keeps its clock through the events
      continue;
    }
    REQUIRE(p.h.payload_type == 96);  // the far end's number for telephone-event
    if (events.empty() || sent[events.back().front()].h.timestamp != p.h.timestamp) {
      CHECK(p.h.marker);  // §2.5.1.1: M on an event's first packet
      CHECK(p.h.timestamp == tick_ts);
      events.push_back({});
    } else {
      CHECK_FALSE(p.h.marker);
    }
    events.back().push_back(i);
  }
  REQUIRE(events.size() == 2);
  for (std::size_t e = 0; e < 2; ++e) {
    const auto& idx = events[e];
    REQUIRE(idx.size() == 7);  // 5 tone ticks (the 5th has E), then E twice more (§2.5.1.4)
    for (std::size_t k = 0; k < idx.size(); ++k) {
      auto ev = rtp::parse_dtmf(sent[idx[k]].payload);
      REQUIRE(ev);
      CHECK(ev->event == e + 1);
      CHECK(ev->volume == 10);
      CHECK(ev->duration == std::min<std::size_t>(k + 1, 5) * 160);
      CHECK(ev->end == (k >= 4));
    }
  }
  // 100 ms of tone, then 80 ms (4 ticks) before the next digit's first packet.
  CHECK(events[1].front() - events[0].front() == 9);
}

TEST_CASE("audio leg: 'p' waits 500 ms, a full queue refuses the request whole, and stop drops the rest") {
  Rig r(true);
  REQUIRE(r.leg->play_dtmf("1p2") == sip::DtmfQueued::queued);
  auto sent = run_ticks(r, 40);
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < sent.size(); ++i)
    if (sent[i].h.payload_type == 96 && sent[i].h.marker) starts.push_back(i);
  REQUIRE(starts.size() == 2);
  CHECK(starts[1] - starts[0] == 9 + 25);  // digit and gap, then 25 ticks of pause
  REQUIRE(r.leg->play_dtmf(std::string(rtp::k_dtmf_queue_max - 1, '3')) == sip::DtmfQueued::queued);
  CHECK(r.leg->play_dtmf("45") == sip::DtmfQueued::full);
  CHECK(r.leg->dtmf_room() == 1);
  run_ticks(r, 3);  // the first '3' is playing
  r.leg->stop();
  CHECK(r.leg->play_dtmf("1") == sip::DtmfQueued::unavailable);
  CHECK(r.leg->dtmf_room() == 0);
  CHECK_FALSE(r.leg->dtmf_sending());
}

TEST_CASE("audio leg: without telephone-event, digits go in-band as PCMU tones (Goertzel finds them in order)") {
  Rig r(false);
  REQUIRE(r.leg->play_dtmf("5#") == sip::DtmfQueued::queued);
  REQUIRE(r.leg->play_dtmf("58") == sip::DtmfQueued::queued);
  auto sent = run_ticks(r, 40);
  auto dec = mix::make_decoder(mix::CodecId::pcmu);
  std::vector<std::int16_t> pcm;
  for (const auto& p : sent) {
    CHECK(p.h.payload_type == 0);  // audio all along: the tones are in it
    std::array<std::int16_t, mix::max_frame_samples> f;
    const int n = dec->decode(p.payload, f);
    REQUIRE(n == 160);
    pcm.insert(pcm.end(), f.begin(), f.begin() + n);
  }
  CHECK(sb::test::goertzel_digits(pcm, 8000, 400, 80) == "5#58");
  CHECK_FALSE(r.leg->dtmf_sending());
}

TEST_CASE("audio leg: RFC 4733 events from the far end are one digit each, repeats and a lost start included") {
  Rig r(true);
  std::vector<sip::DtmfIn> got;
  r.leg->on_dtmf([&](const sip::DtmfIn& d) { got.push_back(d); });
  // Our own sender makes the far end's packets: "73", payload type 101 (our number for
  // telephone-event/8000), each packet sent twice; the first packet of '3' is lost.
  rtp::DtmfSender tx(rtp::DtmfSenderConfig{8000, 101, 20, {}});
  REQUIRE(tx.enqueue("73"));
  std::uint16_t seq = 500;
  std::uint32_t ts = 8000;
  int events = 0;
  for (int tick = 0; tick < 40 && !tx.idle(); ++tick, ts += 160) {
    auto p = tx.next(ts);
    rtp::RtpHeader h;
    h.seq = seq++;
    h.ssrc = 0x1234;
    h.timestamp = ts;
    std::array<std::uint8_t, 256> buf;
    std::size_t n = 0;
    if (p) {
      h.payload_type = p->payload_type;
      h.marker = p->marker;
      h.timestamp = p->timestamp;
      if (p->marker && ++events == 2) continue;  // lost
      n = rtp::write_rtp(buf, h, p->payload);
    } else {
      std::array<std::uint8_t, 160> audio;
      audio.fill(0xFF);
      n = rtp::write_rtp(buf, h, audio);
    }
    for (int copy = 0; copy < (p ? 2 : 1); ++copy) r.far.send_to(asio::buffer(buf.data(), n), r.gateway());
  }
  r.settle();
  // Reported on a later turn of the loop, never inside the receive path.
  REQUIRE(got.size() == 2);
  CHECK(got[0].digit == '7');
  CHECK(got[0].duration_ms == 100);
  CHECK(got[0].method == sip::DtmfMethod::rfc4733);
  CHECK(got[1].digit == '3');
  CHECK(got[1].duration_ms == 100);  // the end packets carry the whole duration
  CHECK(r.leg->stats().telephone_events > 0);
}

TEST_CASE("audio leg: an INFO digit is reported like an RFC 4733 one (method info); other bodies are not DTMF") {
  Rig r(true);
  std::vector<sip::DtmfIn> got;
  r.leg->on_dtmf([&](const sip::DtmfIn& d) { got.push_back(d); });
  CHECK(r.leg->take_info_dtmf("application/dtmf-relay", "Signal=*\r\nDuration=250\r\n"));
  CHECK(r.leg->take_info_dtmf("Application/DTMF; charset=x", "9"));
  CHECK_FALSE(r.leg->take_info_dtmf("application/dtmf-relay", "Duration=250\r\n"));
  CHECK_FALSE(r.leg->take_info_dtmf("application/media_control+xml", "<x/>"));
  CHECK(got.empty());  // posted
  r.settle();
  REQUIRE(got.size() == 2);
  CHECK(got[0].digit == '*');
  CHECK(got[0].duration_ms == 250);
  CHECK(got[0].method == sip::DtmfMethod::info);
  CHECK(got[1].digit == '9');
  CHECK(got[1].duration_ms == 0);
}

namespace {
// Whether someone else can bind 127.0.0.1:port (i.e. the leg does not hold it).
bool port_free(asio::io_context& io, std::uint16_t port) {
  udp::socket s(io);
  boost::system::error_code ec;
  s.open(udp::v4(), ec);
  s.bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}
std::string answer_mux(std::uint16_t port, bool mux) {
  return fmt::format(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\n"
      "a=rtpmap:0 PCMU/8000\r\n{}a=sendrecv\r\n",
      port, mux ? "a=rtcp-mux\r\n" : "");
}
}  // namespace

TEST_CASE("audio leg: one socket with rtcp-mux; the RTCP port is bound only when the answer does not mux") {
  asio::io_context io;
  auto ports = std::make_shared<rtp::PortAllocator>(rtp::PortRange{43000, 43099});
  udp::socket far(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  {
    auto leg = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), {});
    REQUIRE(leg);
    CHECK_FALSE(port_free(io, leg->rtp_port()));
    CHECK(port_free(io, static_cast<std::uint16_t>(leg->rtp_port() + 1)));  // not bound before the answer
    REQUIRE_FALSE(leg->apply_answer(answer_mux(far.local_endpoint().port(), true)));
    CHECK(port_free(io, static_cast<std::uint16_t>(leg->rtp_port() + 1)));  // muxed: never bound
    leg->stop();
  }
  {
    auto leg = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), {});
    REQUIRE(leg);
    REQUIRE_FALSE(leg->apply_answer(answer_mux(far.local_endpoint().port(), false)));
    CHECK_FALSE(port_free(io, static_cast<std::uint16_t>(leg->rtp_port() + 1)));  // RTCP on port + 1 now
    CHECK(leg->stats().rtcp_unavailable == 0);
    leg->stop();
  }
  {
    // DTLS offers bind both at once (a non-muxing far end may start its RTCP association early).
    rtp::AudioLeg::Options o;
    o.secure = true;
    o.keying = sdp::Keying::dtls;
    auto leg = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), o);
    REQUIRE(leg);
    CHECK_FALSE(port_free(io, static_cast<std::uint16_t>(leg->rtp_port() + 1)));
    leg->stop();
  }
}

TEST_CASE("audio leg: a block of ports taken by another process is skipped, not reported as an exhausted range") {
  // Another process holds the first 40 even ports of our slice (a second media server on the same
  // range): the leg walks past them and gets a port; the next leg starts after the block.
  asio::io_context io;
  auto ports = std::make_shared<rtp::PortAllocator>(rtp::PortRange{43000, 43199});
  std::vector<std::unique_ptr<udp::socket>> foreign;
  for (std::uint16_t p = 43000; p < 43080; p += 2) {
    foreign.push_back(std::make_unique<udp::socket>(io));
    foreign.back()->open(udp::v4());
    boost::system::error_code ec;
    foreign.back()->bind(udp::endpoint(asio::ip::make_address("127.0.0.1"), p), ec);
    if (ec) foreign.pop_back();  // already in use by someone else: just as good
  }
  REQUIRE(foreign.size() >= 20);
  auto a = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), {});
  REQUIRE(a);
  CHECK(a->rtp_port() >= 43080);
  auto b = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), {});
  REQUIRE(b);
  CHECK(b->rtp_port() == a->rtp_port() + 2);
  CHECK(ports->in_use() == 2);  // the foreign ports were given back, not leaked
  // A slice wholly taken by others is refused (nullptr → 503), after one walk.
  auto tiny = std::make_shared<rtp::PortAllocator>(rtp::PortRange{43000, 43009});
  CHECK_FALSE(rtp::AudioLeg::create(io.get_executor(), tiny, asio::ip::make_address("127.0.0.1"), {}));
  CHECK(tiny->in_use() == 0);
  a->stop();
  b->stop();
}

TEST_CASE("audio leg: an RTCP port taken by another process leaves the call without RTCP, not without audio") {
  asio::io_context io;
  auto ports = std::make_shared<rtp::PortAllocator>(rtp::PortRange{43100, 43199});
  udp::socket far(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  far.non_blocking(true);
  auto leg = rtp::AudioLeg::create(io.get_executor(), ports, asio::ip::make_address("127.0.0.1"), {});
  REQUIRE(leg);
  udp::socket squatter(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(leg->rtp_port() + 1)));
  REQUIRE_FALSE(leg->apply_answer(answer_mux(far.local_endpoint().port(), false)));
  CHECK(leg->stats().rtcp_unavailable == 1);
  CHECK_FALSE(leg->failure());
  std::array<std::uint8_t, 160> payload{};
  leg->participant().send(payload);
  io.run_for(20ms);
  std::array<std::uint8_t, 2048> buf;
  udp::endpoint from;
  boost::system::error_code ec;
  CHECK(far.receive_from(asio::buffer(buf), from, 0, ec) > 0);
  leg->stop();
}
