// Wrap-aware sequence arithmetic, RFC 3550 A.1/A.3 source state and A.8 jitter: tests for
// src/rtp/seq.hpp.
#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>

#include "rtp/relay_renumber.hpp"
#include "rtp/seq.hpp"

using namespace sb::rtp;

namespace {

// Feeds sequence numbers; returns how many were accepted.
int feed(SequenceTracker& t, std::initializer_list<int> seqs) {
  int ok = 0;
  for (int s : seqs) ok += t.update(static_cast<std::uint16_t>(s)) ? 1 : 0;
  return ok;
}

} // namespace

TEST_CASE("sequence comparison is wrap-aware across 65535 -> 0") {
  CHECK(seq_newer(1, 0));
  CHECK(seq_newer(0, 65535));
  CHECK(seq_newer(10, 65530));
  CHECK_FALSE(seq_newer(65535, 0));
  CHECK_FALSE(seq_newer(5, 5));
  CHECK(seq_diff(0, 65535) == 1);
  CHECK(seq_diff(65535, 0) == -1);
  CHECK(seq_diff(100, 50) == 50);
  CHECK(seq_diff(0x8000, 0) == -32768); // half the circle: older
  CHECK(seq_diff(0x7fff, 0) == 32767);
  static_assert(seq_newer(3, 65533));
  CHECK(ts_newer(5, 0xfffffff0u));
  CHECK(ts_diff(0, 0xffffffffu) == 1);
}

TEST_CASE("a source becomes valid after two packets in sequence (probation)") {
  SequenceTracker t;
  CHECK_FALSE(t.update(100)); // first packet: probation
  CHECK_FALSE(t.valid());
  CHECK(t.update(101));
  CHECK(t.valid());
  CHECK(t.received() == 1);
  CHECK(t.expected() == 1);
  CHECK(t.lost() == 0);

  SequenceTracker u;
  CHECK_FALSE(u.update(100));
  CHECK_FALSE(u.update(200)); // out of sequence: probation restarts from 200
  CHECK(u.update(201));
  CHECK(u.base_seq() == 201);
}

TEST_CASE("probation accepts 65535 -> 0 as in sequence") {
  SequenceTracker t;
  CHECK_FALSE(t.update(65535));
  CHECK(t.update(0));
  CHECK(t.valid());
  CHECK(t.cycles() == 0); // init at 0 after probation: no cycle counted yet
}

TEST_CASE("sequence wrap at 65535 -> 0 counts a cycle in the extended maximum") {
  SequenceTracker t;
  feed(t, {65533, 65534});
  CHECK(feed(t, {65535, 0, 1}) == 3);
  CHECK(t.cycles() == 1);
  CHECK(t.max_seq() == 1);
  CHECK(t.extended_max() == 65536 + 1);
  CHECK(t.expected() == 4); // 65534, 65535, 0, 1
  CHECK(t.received() == 4);
  CHECK(t.lost() == 0);
  CHECK(t.extend(65535) == 65535);
  CHECK(t.extend(2) == 65538);
  const auto r = t.report();
  CHECK(r.extended_max == 65537);
}

TEST_CASE("loss, reorder and duplicates are counted as A.1/A.3 say") {
  SequenceTracker t;
  feed(t, {1, 2});                 // valid from 2
  CHECK(feed(t, {3, 5, 6}) == 3);  // 4 missing
  CHECK(t.expected() == 5);        // 2..6
  CHECK(t.received() == 4);
  CHECK(t.lost() == 1);
  CHECK(t.update(4));              // late: counted, max unchanged
  CHECK(t.max_seq() == 6);
  CHECK(t.lost() == 0);
  CHECK(t.update(4));              // duplicate: counted again, loss goes negative
  CHECK(t.lost() == -1);
  const auto r = t.report();
  CHECK(r.cumulative_lost == -1);
  CHECK(r.fraction_lost == 0);     // negative interval loss reports 0
}

TEST_CASE("fraction lost covers only the interval since the last report") {
  SequenceTracker t;
  feed(t, {0, 1});
  for (int s = 2; s <= 100; ++s) t.update(static_cast<std::uint16_t>(s)); // 0 lost
  auto r = t.report();
  CHECK(r.fraction_lost == 0);
  CHECK(r.cumulative_lost == 0);
  CHECK(r.extended_max == 100);
  // Next interval: 101..200 expected (100), every 4th dropped: 25 lost → 64/256.
  for (int s = 101; s <= 200; ++s)
    if (s % 4 != 1) t.update(static_cast<std::uint16_t>(s));
  r = t.report();
  CHECK(r.fraction_lost == 64);
  CHECK(r.cumulative_lost == 25);
  // An interval with nothing received at all and nothing expected.
  r = t.report();
  CHECK(r.fraction_lost == 0);
  CHECK(r.cumulative_lost == 25);
}

TEST_CASE("a large jump is dropped once and re-syncs when the next packet follows it") {
  SequenceTracker t;
  feed(t, {10, 11, 12});
  CHECK_FALSE(t.update(20000));  // jump >= MAX_DROPOUT: bad
  CHECK(t.max_seq() == 12);
  CHECK_FALSE(t.update(30000));  // another unrelated jump: still bad
  CHECK(t.update(30001));        // follows the last bad one: the source restarted
  CHECK(t.max_seq() == 30001);
  CHECK(t.base_seq() == 30001);
  CHECK(t.received() == 1);
  CHECK(t.expected() == 1);
  CHECK(t.cycles() == 0);
}

TEST_CASE("a gap just under MAX_DROPOUT is loss, not a restart") {
  SequenceTracker t;
  feed(t, {0, 1});
  CHECK(t.update(1 + 2999));
  CHECK(t.lost() == 2998);
  CHECK(t.report().cumulative_lost == 2998);
}

TEST_CASE("packets far behind (more than MAX_MISORDER) are treated as a jump") {
  SequenceTracker t;
  feed(t, {1000, 1001});
  CHECK(t.update(1001 - 99));        // within MAX_MISORDER behind: reordered, counted
  CHECK_FALSE(t.update(1001 - 100)); // MAX_MISORDER or more behind: a jump, dropped
  CHECK(t.max_seq() == 1001);
}

TEST_CASE("cumulative lost is clamped to the signed 24-bit field") {
  SequenceTracker t;
  feed(t, {0, 1});
  // Jump forward 2999 at a time: each gap is loss, never a restart.
  std::uint16_t s = 1;
  for (int i = 0; i < 6000; ++i) t.update(s = static_cast<std::uint16_t>(s + 2999));
  CHECK(t.lost() > 0x7fffff);
  CHECK(t.report().cumulative_lost == 0x7fffff);
}

TEST_CASE("jitter of a constant-delay stream stays 0") {
  JitterEstimator j;
  // 20 ms frames at 8 kHz, arrival = timestamp + constant offset (with wrap of both clocks).
  std::uint32_t ts = 0xffff0000u;
  for (int i = 0; i < 1000; ++i, ts += 160) j.update(ts, ts + 123456u);
  CHECK(j.jitter() == 0);
}

TEST_CASE("jitter grows with varying delay and converges near the mean deviation") {
  JitterEstimator j;
  std::uint32_t ts = 1000;
  // Delay alternates 0 / 80 units: |D| = 80 every packet → J converges to 80.
  for (int i = 0; i < 400; ++i, ts += 160) j.update(ts, ts + (i % 2 ? 80u : 0u));
  CHECK(j.jitter() >= 78);
  CHECK(j.jitter() <= 80);

  JitterEstimator k;
  k.update(0, 0);
  k.update(160, 160 + 160); // one packet 160 late: J = 160/16 = 10
  CHECK(k.jitter() == 10);
  k.update(320, 320 + 160); // same delay again: decays
  CHECK(k.jitter() < 10);
}

// Found by a soak: a relayed call stopped after 32,768 packets (11 minutes at 50 packets/s), when
// the source's numbering was half the sequence space past the relay's anchor and every packet
// looked "older than the anchor".
TEST_CASE("relay renumbering: hours of packets through every sequence wrap, none dropped, one continuous stream") {
  sb::rtp::RelayRenumber r;
  std::uint16_t next_seq = 100;
  std::uint32_t next_ts = 5000;
  std::uint16_t src_seq = 65000;  // wraps early
  std::uint32_t src_ts = 7;
  std::optional<std::uint16_t> prev;
  for (int i = 0; i < 200000; ++i) {  // > 3 wraps, ≈ 67 minutes at 50 packets/s
    const auto m = r.map(0xabc, src_seq, src_ts, true, 160, next_seq, next_ts);
    REQUIRE(m);
    if (prev) REQUIRE(m->seq == static_cast<std::uint16_t>(*prev + 1));
    prev = m->seq;
    ++src_seq;
    src_ts += 160;
  }
  // A packet reordered just behind the newest still maps; one from before the anchor does not.
  CHECK(r.map(0xabc, static_cast<std::uint16_t>(src_seq - 3), src_ts - 480, true, 160, next_seq, next_ts));
  sb::rtp::RelayRenumber fresh;
  std::uint16_t s2 = 0;
  std::uint32_t t2 = 0;
  REQUIRE(fresh.map(1, 1000, 0, true, 160, s2, t2));
  CHECK_FALSE(fresh.map(1, 999, 0, true, 160, s2, t2));
}
