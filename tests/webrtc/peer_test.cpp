// One browser peer connection (src/webrtc/peer), sans-I/O: the "browser" here is the test — its
// ICE checks built with build_binding_request, its DTLS a second rtp::DtlsSrtp — and time is
// stepped, so RFC 7675 consent (30 s) is checked without waiting.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <vector>

#include "rtp/dtls.hpp"
#include "rtp/srtp.hpp"
#include "webrtc/ice_lite.hpp"
#include "webrtc/peer.hpp"
#include "webrtc/stun.hpp"

using namespace sb;
using namespace sb::webrtc;
using namespace std::chrono_literals;

namespace {

using Bytes = std::vector<std::uint8_t>;

struct Browser {
  StunAddress addr;
  std::string ufrag = "Br0w";
  std::shared_ptr<const rtp::DtlsIdentity> id = rtp::DtlsIdentity::generate();
  std::unique_ptr<rtp::DtlsSrtp> dtls;
  std::uint8_t tid = 0;

  Bytes check(const IceCredentials& ours, bool nominate) {
    std::array<std::uint8_t, 256> buf{};
    TransactionId t{};
    t.fill(++tid);
    const std::string user = ours.ufrag + ":" + ufrag;
    const std::size_t n = build_binding_request(buf, t,
                                                {.username = user, .password = ours.pwd, .priority = 0x6e7f1eff,
                                                 .controlling = true, .tie_breaker = 7, .use_candidate = nominate});
    REQUIRE(n > 0);
    return {buf.begin(), buf.begin() + static_cast<long>(n)};
  }
};

// A publisher leg (we are the DTLS client) connected to `b`: ICE nominates, DTLS completes.
struct Rig {
  Browser b;
  std::vector<std::pair<StunAddress, Bytes>> sent;  // what the peer sent, in order
  std::unique_ptr<Peer> peer;
  Peer::Clock::time_point t0 = Peer::Clock::now();
  bool connected = false;
  std::uint16_t seq = 0;

  Rig() {
    b.addr.ip = {192, 0, 2, 10};
    b.addr.port = 50000;
    auto ours = IceLiteAgent::generate_credentials();
    auto me = rtp::DtlsIdentity::generate();
    peer = std::make_unique<Peer>(
        Peer::Role::publisher, ours, me,
        [this](const StunAddress& to, std::span<const std::uint8_t> d) { sent.emplace_back(to, Bytes(d.begin(), d.end())); },
        Peer::Callbacks{.on_connected = [this] { connected = true; }});
    peer->set_remote(b.ufrag, "sha-256", b.id->fingerprint_sha256(), t0);
    b.dtls = std::make_unique<rtp::DtlsSrtp>(b.id, rtp::DtlsSrtp::Role::server, "sha-256", me->fingerprint_sha256(), t0);
    b.dtls->start(t0);
    auto c = b.check(ours, true);
    peer->receive(c, b.addr, t0);
    // Shuttle DTLS records both ways until both ends are keyed.
    for (int round = 0; round < 20 && !(connected && b.dtls->state() == rtp::DtlsSrtp::State::connected); ++round) {
      for (auto& [to, d] : std::exchange(sent, {}))
        if (!d.empty() && d[0] >= 20 && d[0] <= 63) b.dtls->receive(d, t0);
      for (auto& d : b.dtls->take_outgoing()) peer->receive(d, b.addr, t0);
    }
    REQUIRE(connected);
    sent.clear();
  }

  // An RTP packet of 20 payload bytes (room for the SRTP tag after it).
  bool send_one() {
    std::array<std::uint8_t, 12 + 20 + Peer::kSendSlack> pkt{};
    pkt[0] = 0x80;
    pkt[1] = 111;
    pkt[2] = static_cast<std::uint8_t>(seq >> 8);
    pkt[3] = static_cast<std::uint8_t>(seq++ & 0xff);  // SRTP refuses to protect one index twice
    pkt[11] = 1;
    return peer->send_rtp(pkt, 32);
  }
};

}  // namespace

TEST_CASE("webrtc peer: ICE nominates, DTLS keys, media flows to the nominated address") {
  Rig r;
  CHECK(r.peer->state() == Peer::State::connected);
  REQUIRE(r.send_one());
  REQUIRE(r.sent.size() == 1);
  CHECK(r.sent[0].first == r.b.addr);
  CHECK(r.sent[0].second.size() > 32);  // SRTP tag added
}

TEST_CASE("webrtc peer: RFC 7675 — no check for 30 s stops sending; a new check resumes it") {
  Rig r;
  REQUIRE(r.send_one());
  // 30 s after the last check consent still holds (the bound is "more than 30 s").
  CHECK_FALSE(r.peer->check_consent(r.t0 + 30s));
  CHECK(r.send_one());
  // Then it lapses: reported once, and nothing more leaves, RTP or RTCP.
  CHECK(r.peer->check_consent(r.t0 + 31s));
  CHECK_FALSE(r.peer->check_consent(r.t0 + 40s));
  CHECK(r.peer->consent_lapsed());
  r.sent.clear();
  CHECK_FALSE(r.send_one());
  std::array<std::uint8_t, 8 + Peer::kSendSlack> rr{0x80, 201, 0, 1, 0, 0, 0, 1};
  CHECK_FALSE(r.peer->send_rtcp(rr, 8));
  CHECK(r.sent.empty());
  CHECK(r.peer->stats().held_no_consent == 2);
  CHECK(r.peer->stats().consent_expiries == 1);
  // A check from the browser (it is alive after all) is answered and refreshes consent.
  auto c = r.b.check(r.peer->local(), false);
  r.peer->receive(c, r.b.addr, r.t0 + 41s);
  CHECK_FALSE(r.peer->consent_lapsed());
  r.sent.clear();
  CHECK(r.send_one());
  CHECK(r.sent.size() == 1);
  // And it lapses again 30 s after that check, not before.
  CHECK_FALSE(r.peer->check_consent(r.t0 + 70s));
  CHECK(r.peer->check_consent(r.t0 + 72s));
  CHECK(r.peer->stats().consent_expiries == 2);
}

TEST_CASE("webrtc peer: a check from another address does not refresh consent for the nominated pair") {
  Rig r;
  StunAddress other = r.b.addr;
  other.port = 50001;
  // Checks from a second candidate keep coming, none from the nominated one.
  for (int s = 5; s <= 35; s += 5) {
    auto c = r.b.check(r.peer->local(), false);
    r.peer->receive(c, other, r.t0 + std::chrono::seconds(s));
  }
  CHECK(r.peer->check_consent(r.t0 + 35s));
  CHECK_FALSE(r.send_one());
}

TEST_CASE("webrtc peer: what a hostile datagram gets — each refused by kind, the leg's media unaffected") {
  Rig r;
  // The browser's own SRTP context, from its end of the DTLS handshake.
  const auto& k = *r.b.dtls->keys();
  auto browser_out = rtp::SrtpContext::create(k.suite, k.local_key_salt, rtp::SrtpContext::Direction::outbound);
  REQUIRE(browser_out);
  auto srtp = [&](std::uint16_t seq) {
    Bytes pkt(12 + 20 + 16, 0);
    pkt[0] = 0x80, pkt[1] = 111, pkt[2] = static_cast<std::uint8_t>(seq >> 8), pkt[3] = static_cast<std::uint8_t>(seq);
    pkt[11] = 7;
    const int n = browser_out->protect_rtp(pkt, 32);
    REQUIRE(n > 32);
    pkt.resize(static_cast<std::size_t>(n));
    return pkt;
  };
  const auto t = r.t0 + 1s;
  auto good = srtp(1);
  auto replay = good;
  CHECK(r.peer->receive(good, r.b.addr, t) == PeerInput::accepted);
  // The same packet again (an attacker who captured it): libsrtp's replay window refuses it.
  CHECK(r.peer->receive(replay, r.b.addr, t) == PeerInput::srtp_auth);
  // One bit flipped in the payload: authentication fails.
  auto forged = srtp(2);
  forged[20] ^= 1;
  CHECK(r.peer->receive(forged, r.b.addr, t) == PeerInput::srtp_auth);
  // A valid packet from another address (a spoofer elsewhere): media only from the nominated pair.
  StunAddress other = r.b.addr;
  other.port = 50001;
  auto moved = srtp(3);
  CHECK(r.peer->receive(moved, other, t) == PeerInput::foreign);
  // A check signed with the wrong password, and one for another ufrag: dropped unanswered by ICE.
  IceCredentials wrong = r.peer->local();
  wrong.pwd = std::string(wrong.pwd.size(), 'x');
  auto bad_check = r.b.check(wrong, false);
  r.sent.clear();
  CHECK(r.peer->receive(bad_check, r.b.addr, t) == PeerInput::ice_rejected);
  IceCredentials elsewhere = r.peer->local();
  elsewhere.ufrag = "NotOurs1";
  auto other_check = r.b.check(elsewhere, false);
  CHECK(r.peer->receive(other_check, r.b.addr, t) == PeerInput::ice_rejected);
  CHECK(r.sent.empty());
  // Bytes that are not WebRTC at all (RFC 7983: first byte 64..127), and a DTLS record from
  // elsewhere.
  Bytes junk{100, 1, 2, 3};
  CHECK(r.peer->receive(junk, r.b.addr, t) == PeerInput::foreign);
  Bytes dtls{22, 0xfe, 0xfd, 0, 0};
  CHECK(r.peer->receive(dtls, other, t) == PeerInput::foreign);
  CHECK(r.peer->stats().srtp_failures == 2);
  CHECK(r.peer->stats().rtp_in == 1);
  // The leg carries on: the next genuine packet is taken, and a genuine check still answered.
  auto next = srtp(4);
  CHECK(r.peer->receive(next, r.b.addr, t) == PeerInput::accepted);
  CHECK(r.peer->stats().rtp_in == 2);
  auto ok_check = r.b.check(r.peer->local(), false);
  r.sent.clear();
  CHECK(r.peer->receive(ok_check, r.b.addr, t) == PeerInput::accepted);
  CHECK(r.sent.size() == 1);
  r.peer->close();
  CHECK(r.peer->receive(next, r.b.addr, t) == PeerInput::closed);
}

TEST_CASE("webrtc peer: media from the nominated pair before DTLS has keyed it is dropped as before_keys") {
  Browser b;
  b.addr.ip = {192, 0, 2, 11};
  b.addr.port = 50002;
  const auto ours = IceLiteAgent::generate_credentials();
  Peer peer(Peer::Role::subscriber, ours, rtp::DtlsIdentity::generate(),
            [](const StunAddress&, std::span<const std::uint8_t>) {}, {});
  const auto t0 = Peer::Clock::now();
  peer.set_remote(b.ufrag, "sha-256", b.id->fingerprint_sha256(), t0);
  auto c = b.check(ours, true);
  REQUIRE(peer.receive(c, b.addr, t0) == PeerInput::accepted);
  REQUIRE(peer.remote_address());
  Bytes rtp(12 + 20, 0);
  rtp[0] = 0x80, rtp[1] = 111;
  CHECK(peer.receive(rtp, b.addr, t0) == PeerInput::before_keys);
  CHECK(peer.stats().dropped_before_keys == 1);
}
