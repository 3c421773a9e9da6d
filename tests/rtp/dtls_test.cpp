// DTLS-SRTP handshakes in memory: tests for src/rtp/dtls.{hpp,cpp}.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "rtp/dtls.hpp"
#include "rtp/packet.hpp"
#include "rtp/srtp.hpp"

using namespace sb::rtp;
using namespace std::chrono_literals;
using Clock = DtlsSrtp::Clock;
using State = DtlsSrtp::State;

namespace {

// Two identities for the whole file: generating one costs about a millisecond.
const std::shared_ptr<const DtlsIdentity>& client_id() {
  static const auto id = DtlsIdentity::generate();
  return id;
}
const std::shared_ptr<const DtlsIdentity>& server_id() {
  static const auto id = DtlsIdentity::generate();
  return id;
}

/// Carries what `from` queued to `to`; `keep` may drop datagrams. Returns how many were carried.
std::size_t pump(DtlsSrtp& from, DtlsSrtp& to, Clock::time_point now,
                 const std::function<bool(const std::vector<std::uint8_t>&)>& keep = {}) {
  std::size_t n = 0;
  for (auto& d : from.take_outgoing()) {
    if (keep && !keep(d)) continue;
    CHECK(classify(d.at(0)) == PacketKind::dtls);  // RFC 7983: the media port demux sees DTLS
    CHECK(d.size() <= 1200);
    to.receive(d, now);
    ++n;
  }
  return n;
}

/// Runs both ends until neither has anything to send.
void exchange(DtlsSrtp& c, DtlsSrtp& s, Clock::time_point now) {
  for (int i = 0; i < 20; ++i) {
    const std::size_t n = pump(c, s, now) + pump(s, c, now);
    if (n == 0) break;
  }
}

struct Pair {
  Clock::time_point t0 = Clock::now();
  DtlsSrtp client;
  DtlsSrtp server;
  explicit Pair(DtlsSrtp::Options opt = {}, std::string client_expects = server_id()->fingerprint_sha256(),
                std::string server_expects = client_id()->fingerprint_sha256())
      : client(client_id(), DtlsSrtp::Role::client, "sha-256", std::move(client_expects), opt, t0),
        server(server_id(), DtlsSrtp::Role::server, "sha-256", std::move(server_expects), opt, t0) {}
};

/// Waits (really) until the association's next timer and runs it.
void fire_timer(DtlsSrtp& d) {
  REQUIRE(d.next_timer());
  std::this_thread::sleep_until(*d.next_timer());
  d.on_timer(Clock::now());
}

/// The 48-bit record sequence number of a datagram's first record (RFC 6347 §4.1).
std::uint64_t record_seq(const std::vector<std::uint8_t>& d) {
  std::uint64_t n = 0;
  for (std::size_t i = 5; i < 11; ++i) n = n << 8 | d.at(i);
  return n;
}

bool is_client_hello(const std::vector<std::uint8_t>& d) {
  // Record type 22 (handshake), handshake type 1 at offset 13 (RFC 6347 §4.1, §4.2.2).
  return d.size() > 13 && d[0] == 22 && d[13] == 1;
}

void check_srtp_both_ways(const DtlsSrtpKeys& a, const DtlsSrtpKeys& b) {
  auto a_out = SrtpContext::create(a.suite, a.local_key_salt, SrtpContext::Direction::outbound);
  auto b_in = SrtpContext::create(b.suite, b.remote_key_salt, SrtpContext::Direction::inbound);
  auto b_out = SrtpContext::create(b.suite, b.local_key_salt, SrtpContext::Direction::outbound);
  auto a_in = SrtpContext::create(a.suite, a.remote_key_salt, SrtpContext::Direction::inbound);
  REQUIRE(a_out);
  REQUIRE(b_in);
  REQUIRE(b_out);
  REQUIRE(a_in);
  std::vector<std::uint8_t> p(172 + srtp_max_trailer, 0x55);
  p[0] = 0x80;
  p[1] = 0x00;
  p[3] = 1;
  const auto plain = std::vector(p.begin(), p.begin() + 172);
  int n = a_out->protect_rtp(p, 172);
  REQUIRE(n > 172);
  CHECK(b_in->unprotect_rtp(p, static_cast<std::size_t>(n)) == 172);
  CHECK(std::vector(p.begin(), p.begin() + 172) == plain);
  n = b_out->protect_rtp(p, 172);
  REQUIRE(n > 172);
  CHECK(a_in->unprotect_rtp(p, static_cast<std::size_t>(n)) == 172);
  // Each direction has its own key: our outbound key does not open our own packets.
  n = a_out->protect_rtp(p, 172);
  CHECK(a_in->unprotect_rtp(p, static_cast<std::size_t>(n)) == -1);
}

}  // namespace

TEST_CASE("DTLS identity fingerprint is the RFC 8122 uppercase colon-separated SHA-256") {
  const auto& fp = client_id()->fingerprint_sha256();
  CHECK(fp.size() == 95);  // 32 bytes: 64 hex digits + 31 colons
  for (std::size_t i = 0; i < fp.size(); ++i) {
    if (i % 3 == 2)
      CHECK(fp[i] == ':');
    else
      CHECK(((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'A' && fp[i] <= 'F')));
  }
  CHECK(client_id()->fingerprint_sha256() != server_id()->fingerprint_sha256());
  // The process identity is generated once and shared.
  CHECK(DtlsIdentity::process() == DtlsIdentity::process());
  CHECK(DtlsIdentity::process()->fingerprint_sha256().size() == 95);
}

TEST_CASE("the process identity rotates after 29 days; an identity already handed out stays the same object") {
  using namespace std::chrono;
  // Far beyond any rotation other tests made (their clocks step at most a month ahead).
  const auto t = steady_clock::now() + hours(24 * 400);
  const auto held = DtlsIdentity::process(t);
  const std::string fp = held->fingerprint_sha256();
  CHECK(DtlsIdentity::process(t + hours(24)) == held);
  const auto next = DtlsIdentity::process(t + hours(24 * 29));
  CHECK(next != held);
  CHECK(next->fingerprint_sha256() != fp);
  CHECK(DtlsIdentity::process(t + hours(24 * 29) + seconds(1)) == next);
  // Whoever offered the old fingerprint still handshakes with the old certificate.
  CHECK(held->fingerprint_sha256() == fp);
  const auto t0 = Clock::now();
  DtlsSrtp c(held, DtlsSrtp::Role::client, "sha-256", server_id()->fingerprint_sha256(), t0);
  DtlsSrtp s(server_id(), DtlsSrtp::Role::server, "sha-256", fp, t0);
  c.start(t0);
  exchange(c, s, t0);
  CHECK(c.state() == State::connected);
  CHECK(s.state() == State::connected);
}

TEST_CASE("DTLS-SRTP client and server connect in memory and export matching SRTP keys") {
  Pair p;
  CHECK(p.client.next_timer() == p.t0 + 10s);  // before start: only the handshake deadline
  p.client.start(p.t0);
  p.server.start(p.t0);
  CHECK(p.client.next_timer());
  CHECK(*p.client.next_timer() <= p.t0 + 1s + 50ms);  // RFC 6347 §4.2.4.1 initial 1 s timer
  exchange(p.client, p.server, p.t0);
  REQUIRE(p.client.state() == State::connected);
  REQUIRE(p.server.state() == State::connected);
  CHECK(p.client.error().empty());
  CHECK_FALSE(p.client.next_timer());
  CHECK_FALSE(p.server.next_timer());
  const auto& ck = *p.client.keys();
  const auto& sk = *p.server.keys();
  CHECK(ck.suite == sk.suite);
  CHECK(ck.suite == SrtpSuite::aead_aes_256_gcm);  // the first profile both offer
  CHECK(ck.local_key_salt == sk.remote_key_salt);
  CHECK(ck.remote_key_salt == sk.local_key_salt);
  CHECK(ck.local_key_salt != ck.remote_key_salt);
  CHECK(ck.local_key_salt.size() == master_key_length(ck.suite) + master_salt_length(ck.suite));
  check_srtp_both_ways(ck, sk);
  CHECK(p.client.ignored_datagrams() == 0);
  CHECK(p.server.ignored_datagrams() == 0);

  // close_notify ends both sides.
  p.client.close();
  CHECK(p.client.state() == State::closed);
  pump(p.client, p.server, p.t0);
  CHECK(p.server.state() == State::closed);
}

TEST_CASE("DTLS-SRTP with the process identity on both sides also connects") {
  const auto id = DtlsIdentity::process();
  const auto t0 = Clock::now();
  DtlsSrtp c(id, DtlsSrtp::Role::client, "SHA-256", id->fingerprint_sha256(), t0);
  // The expected fingerprint compares case-insensitively.
  std::string lower = id->fingerprint_sha256();
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  DtlsSrtp s(id, DtlsSrtp::Role::server, "sha-256", lower, t0);
  c.start(t0);
  exchange(c, s, t0);
  CHECK(c.state() == State::connected);
  CHECK(s.state() == State::connected);
}

TEST_CASE("DTLS-SRTP fails with an error when the peer certificate does not match its fingerprint") {
  SUBCASE("the server checks the client") {
    Pair p({}, server_id()->fingerprint_sha256(), server_id()->fingerprint_sha256());
    p.client.start(p.t0);
    exchange(p.client, p.server, p.t0);
    CHECK(p.server.state() == State::failed);
    CHECK(p.server.error().find("fingerprint") != std::string::npos);
    CHECK_FALSE(p.server.keys());
    // The bad_certificate alert reaches the client, which fails too.
    CHECK(p.client.state() == State::failed);
    CHECK_FALSE(p.client.error().empty());
    CHECK_FALSE(p.client.keys());
  }
  SUBCASE("the client checks the server") {
    Pair p({}, client_id()->fingerprint_sha256(), client_id()->fingerprint_sha256());
    p.client.start(p.t0);
    exchange(p.client, p.server, p.t0);
    CHECK(p.client.state() == State::failed);
    CHECK(p.client.error().find("fingerprint") != std::string::npos);
    CHECK(p.server.state() != State::connected);
  }
  SUBCASE("another hash of the right certificate does not match a sha-256 value") {
    const auto t0 = Clock::now();
    DtlsSrtp c(client_id(), DtlsSrtp::Role::client, "sha-1", server_id()->fingerprint_sha256(), t0);
    DtlsSrtp s(server_id(), DtlsSrtp::Role::server, "sha-256", client_id()->fingerprint_sha256(), t0);
    c.start(t0);
    exchange(c, s, t0);
    CHECK(c.state() == State::failed);
  }
  SUBCASE("an unknown hash function fails at once") {
    const auto t0 = Clock::now();
    DtlsSrtp c(client_id(), DtlsSrtp::Role::client, "md5", "AB:CD", t0);
    CHECK(c.state() == State::failed);
    CHECK(c.error().find("md5") != std::string::npos);
    c.start(t0);
    CHECK(c.take_outgoing().empty());
    CHECK_FALSE(c.next_timer());
  }
}

TEST_CASE("DTLS-SRTP retransmits a lost ClientHello when on_timer runs at next_timer") {
  // OpenSSL's retransmission timer runs on the wall clock (see dtls.cpp), so this test waits for
  // real, with a short initial timer, and uses Clock::now() throughout.
  DtlsSrtp::Options opt;
  opt.initial_retransmit = 50ms;
  Pair p(opt);
  p.client.start(Clock::now());
  const auto hello = p.client.take_outgoing();
  REQUIRE(hello.size() == 1);
  REQUIRE(is_client_hello(hello[0]));  // dropped: never reaches the server
  REQUIRE(p.client.next_timer());
  const auto when = *p.client.next_timer();
  CHECK(when <= Clock::now() + 50ms);
  if (const auto early = Clock::now(); early + 20ms < when) {
    p.client.on_timer(early);  // early: nothing to send yet
    CHECK(p.client.take_outgoing().empty());
  }
  std::vector<std::vector<std::uint8_t>> again;
  for (int i = 0; i < 5 && again.empty(); ++i) {  // as a caller does: fire, and re-arm if early
    fire_timer(p.client);
    again = p.client.take_outgoing();
  }
  REQUIRE(again.size() == 1);
  CHECK(is_client_hello(again[0]));
  CHECK(record_seq(again[0]) > record_seq(hello[0]));  // a new record, not a replayed one
  // RFC 6347 §4.2.4.1: the timer doubled (50 ms → 100 ms).
  REQUIRE(p.client.next_timer());
  CHECK(*p.client.next_timer() - Clock::now() > 50ms);
  p.server.receive(again[0], Clock::now());
  exchange(p.client, p.server, Clock::now());
  CHECK(p.client.state() == State::connected);
  CHECK(p.server.state() == State::connected);
  check_srtp_both_ways(*p.client.keys(), *p.server.keys());
}

TEST_CASE("DTLS-SRTP recovers when the server's last flight is lost") {
  DtlsSrtp::Options opt;
  opt.initial_retransmit = 50ms;
  Pair p(opt);
  p.client.start(Clock::now());
  pump(p.client, p.server, Clock::now());  // ClientHello
  pump(p.server, p.client, Clock::now());  // ServerHello … ServerHelloDone
  pump(p.client, p.server, Clock::now());  // Certificate … Finished
  CHECK(p.server.state() == State::connected);
  CHECK(p.server.take_outgoing().size() >= 1);  // ChangeCipherSpec + Finished: lost
  CHECK(p.client.state() == State::handshaking);
  // The client retransmits its flight; the connected server answers with its last flight again.
  std::size_t sent = 0;
  for (int i = 0; i < 5 && sent == 0; ++i) {
    fire_timer(p.client);
    sent = pump(p.client, p.server, Clock::now());
  }
  CHECK(sent >= 1);
  pump(p.server, p.client, Clock::now());
  CHECK(p.client.state() == State::connected);
  check_srtp_both_ways(*p.client.keys(), *p.server.keys());
}

TEST_CASE("DTLS-SRTP fails with a timeout when the far end never answers") {
  const auto t0 = Clock::now();
  DtlsSrtp c(client_id(), DtlsSrtp::Role::client, "sha-256", server_id()->fingerprint_sha256(), t0);
  c.start(t0);
  // A stepped clock: jump to each next_timer. The retransmissions follow OpenSSL's wall clock,
  // but the deadline is the caller's.
  auto now = t0;
  int steps = 0;
  while (c.state() == State::handshaking && steps < 100) {
    REQUIRE(c.next_timer());
    CHECK(*c.next_timer() <= t0 + 10s);
    now = std::max(now, *c.next_timer());
    c.on_timer(now);
    c.take_outgoing();
    ++steps;
  }
  CHECK(c.state() == State::failed);
  CHECK(c.error().find("timeout") != std::string::npos);
  CHECK(now == t0 + 10s);
  CHECK_FALSE(c.next_timer());
  // A server that never hears a ClientHello fails the same way.
  DtlsSrtp s(server_id(), DtlsSrtp::Role::server, "sha-256", client_id()->fingerprint_sha256(), t0);
  s.start(t0);
  CHECK(s.next_timer() == t0 + 10s);
  s.on_timer(t0 + 10s);
  CHECK(s.state() == State::failed);
  CHECK(s.error() == "handshake timeout");
}

TEST_CASE("DTLS-SRTP ignores and counts garbage datagrams, before and after connecting") {
  Pair p;
  const std::vector<std::vector<std::uint8_t>> garbage = {
      {},
      {0x80, 0x00, 0x00, 0x01},                                    // RTP
      {22, 0xFE, 0xFD},                                            // truncated record header
      {22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x20, 1, 2},  // length past the end
      {22, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00},        // TLS, not DTLS
      {40, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00},        // no DTLS 1.2 content type
      {22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x80},  // a trailing non-record byte
      std::vector<std::uint8_t>(20000, 23),                        // oversize
  };
  for (const auto& g : garbage) p.server.receive(g, p.t0);
  CHECK(p.server.ignored_datagrams() == garbage.size());
  CHECK(p.server.state() == State::handshaking);
  CHECK(p.server.take_outgoing().empty());
  p.client.start(p.t0);
  exchange(p.client, p.server, p.t0);
  REQUIRE(p.server.state() == State::connected);
  for (const auto& g : garbage) p.client.receive(g, p.t0);
  CHECK(p.client.ignored_datagrams() == garbage.size());
  // A well-formed record with a forged epoch-1 body fails authentication and is dropped silently
  // (RFC 6347 §4.1.2.7), leaving the association up.
  std::vector<std::uint8_t> forged = {23, 0xFE, 0xFD, 0, 1, 0, 0, 0, 0, 0, 9, 0, 40};
  forged.resize(13 + 40, 0xAB);
  p.client.receive(forged, p.t0);
  CHECK(p.client.state() == State::connected);
  REQUIRE(p.client.keys());
}

TEST_CASE("DTLS-SRTP bounds its outgoing queue by dropping the oldest datagrams") {
  DtlsSrtp::Options opt;
  opt.max_outgoing = 1;
  opt.initial_retransmit = 20ms;
  Pair p(opt);
  p.client.start(Clock::now());
  for (int i = 0; i < 3; ++i) fire_timer(p.client);  // 1–3 retransmissions, never taken
  const auto out = p.client.take_outgoing();
  REQUIRE(out.size() == 1);
  CHECK(is_client_hello(out[0]));
  CHECK(record_seq(out[0]) > 0);  // the newest survived, the original ClientHello was dropped
}
