#include "mix/jitter_buffer.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <vector>

using namespace sb::mix;
using namespace std::chrono_literals;

namespace {

const JitterTime t0{std::chrono::seconds(1000)};

JitterTime at_ms(double ms) {
  return t0 + std::chrono::duration_cast<JitterClock::duration>(
                  std::chrono::duration<double, std::milli>(ms));
}

// A frame whose payload encodes its sequence number, so playout order can be checked.
std::array<std::uint8_t, 2> payload_of(std::uint16_t seq) {
  return {static_cast<std::uint8_t>(seq >> 8), static_cast<std::uint8_t>(seq & 0xFF)};
}

push_result push(JitterBuffer& jb, std::uint16_t seq, double arrival_ms) {
  const auto p = payload_of(seq);
  return jb.push(seq, static_cast<std::uint32_t>(seq) * 960u, p, at_ms(arrival_ms));
}

std::uint16_t seq_of(const PopResult& r) {
  REQUIRE(r.payload.size() == 2);
  return static_cast<std::uint16_t>((r.payload[0] << 8) | r.payload[1]);
}

// Drives a stream: frame i (i = first..first+count-1, wrapping) is sent at 20·i ms and arrives
// at send + delay(i) (a negative delay means lost); pop runs every 20 ms at tick + 1 ms (after
// that tick's arrivals). Returns what each pop yielded, as "F<seq>", "C<seq>" or "W".
struct Tick {
  pop_kind kind;
  std::uint16_t seq;
  double when;
};

template <class Delay>
std::vector<Tick> run(JitterBuffer& jb, std::uint16_t first, int count, int ticks, Delay delay) {
  std::multimap<double, std::uint16_t> arrivals;
  for (int i = 0; i < count; ++i) {
    const double d = delay(i);
    if (d >= 0) arrivals.emplace(20.0 * i + d, static_cast<std::uint16_t>(first + i));
  }
  std::vector<Tick> out;
  auto it = arrivals.begin();
  for (int k = 0; k < ticks; ++k) {
    const double now = 20.0 * k + 1;
    for (; it != arrivals.end() && it->first <= now; ++it) {
      const auto seq = it->second;
      const auto p = payload_of(seq);
      const std::uint16_t i = static_cast<std::uint16_t>(seq - first);
      jb.push(seq, (first + i) * 960u, p, at_ms(it->first));
    }
    const PopResult r = jb.pop(at_ms(now));
    out.push_back({r.kind, r.kind == pop_kind::frame ? seq_of(r) : r.seq, now});
  }
  return out;
}

std::vector<std::uint16_t> played(const std::vector<Tick>& ticks) {
  std::vector<std::uint16_t> v;
  for (const auto& t : ticks)
    if (t.kind == pop_kind::frame) v.push_back(t.seq);
  return v;
}

int count_kind(const std::vector<Tick>& ticks, pop_kind k) {
  int n = 0;
  for (const auto& t : ticks) n += t.kind == k;
  return n;
}

} // namespace

TEST_CASE("an in-order stream plays out every frame in order with a constant delay") {
  JitterBuffer jb;
  const auto ticks = run(jb, 100, 200, 200, [](int) { return 0.0; });
  // Waits one target depth (20 ms), then one frame per tick.
  CHECK(ticks[0].kind == pop_kind::waiting);
  int first_frame = -1;
  for (int k = 0; k < 200; ++k) {
    if (ticks[static_cast<std::size_t>(k)].kind != pop_kind::frame) continue;
    if (first_frame < 0) first_frame = k;
    // Frame 100+i was sent at 20·i ms: constant delay between sending and playout.
    CHECK(ticks[static_cast<std::size_t>(k)].seq == 100 + (k - first_frame));
  }
  CHECK(first_frame == 1);
  CHECK(count_kind(ticks, pop_kind::conceal) == 0);
  const auto st = jb.stats();
  CHECK(st.played == 199);
  CHECK(st.lost == 0);
  CHECK(st.target == 20ms);
  CHECK(st.depth <= 40ms);
  CHECK(st.jitter < 100us);
}

TEST_CASE("frames reordered within the buffer depth play in sequence order") {
  JitterConfig cfg;
  cfg.min_depth = 60ms;
  JitterBuffer jb(cfg);
  // Pairs swapped: 1 arrives before 0, 3 before 2, ... each within 20 ms.
  const auto ticks = run(jb, 0, 100, 110, [](int i) { return i % 2 == 0 ? 25.0 : 0.0; });
  const auto p = played(ticks);
  REQUIRE(p.size() >= 95);
  for (std::size_t i = 0; i < p.size(); ++i) CHECK(p[i] == i);
  CHECK(jb.stats().lost == 0);
  CHECK(jb.stats().late == 0);
}

TEST_CASE("duplicates are dropped whether still buffered or already played") {
  JitterBuffer jb;
  CHECK(push(jb, 10, 0) == push_result::accepted);
  CHECK(push(jb, 10, 1) == push_result::duplicate);
  CHECK(push(jb, 11, 20) == push_result::accepted);
  const auto r = jb.pop(at_ms(21));
  REQUIRE(r.kind == pop_kind::frame);
  CHECK(seq_of(r) == 10);
  CHECK(push(jb, 10, 22) == push_result::duplicate);
  CHECK(jb.stats().duplicates == 2);
  CHECK(jb.stats().accepted == 2);
}

TEST_CASE("a lost packet yields exactly one conceal marker at its playout time") {
  JitterBuffer jb;
  const auto ticks = run(jb, 0, 50, 50, [](int i) { return i == 20 ? -1.0 : 0.0; });
  int conceals = 0;
  for (std::size_t k = 1; k < ticks.size(); ++k) {
    if (ticks[k].kind == pop_kind::conceal) {
      ++conceals;
      CHECK(ticks[k].seq == 20);
      CHECK(ticks[k - 1].kind == pop_kind::frame);
      CHECK(ticks[k - 1].seq == 19);
      CHECK(ticks[k + 1].seq == 21);
    }
  }
  CHECK(conceals == 1);
  CHECK(jb.stats().lost == 1);
  CHECK(jb.stats().concealed == 1);
}

TEST_CASE("a conceal marker carries the next frame for FEC and the slot's timestamp") {
  JitterConfig cfg;
  cfg.min_depth = 60ms;
  JitterBuffer jb(cfg);
  for (std::uint16_t s : {0, 2, 3}) push(jb, s, 0);
  CHECK(jb.pop(at_ms(61)).kind == pop_kind::frame);
  const auto r = jb.pop(at_ms(81));
  REQUIRE(r.kind == pop_kind::conceal);
  CHECK(r.seq == 1);
  CHECK(r.timestamp == 960);
  REQUIRE(r.fec_payload.size() == 2);
  CHECK(r.fec_payload[1] == 2);
}

TEST_CASE("a packet arriving after its playout slot is dropped as late") {
  JitterBuffer jb;
  std::vector<Tick> ticks;
  // Frame 10 arrives 100 ms late, after 11.. have played past it.
  ticks = run(jb, 0, 40, 40, [](int i) { return i == 10 ? 100.0 : 0.0; });
  CHECK(jb.stats().late == 1);
  CHECK(jb.stats().lost == 1);
  const auto p = played(ticks);
  CHECK(std::find(p.begin(), p.end(), 10) == p.end());
}

TEST_CASE("a burst loss yields one conceal marker per lost frame and keeps the delay") {
  JitterConfig cfg;
  cfg.min_depth = 60ms;
  JitterBuffer jb(cfg);
  const auto ticks = run(jb, 0, 100, 100, [](int i) { return i >= 30 && i < 35 ? -1.0 : 0.0; });
  CHECK(count_kind(ticks, pop_kind::conceal) == 5);
  CHECK(jb.stats().lost == 5);
  // Same delay before and after: frame i plays at tick i + 3.
  for (std::size_t k = 0; k < ticks.size(); ++k)
    if (ticks[k].kind == pop_kind::frame) CHECK(ticks[k].seq + 3 == k);
}

TEST_CASE("sequence numbers wrap from 65535 to 0 without a glitch") {
  JitterBuffer jb;
  const auto ticks = run(jb, 65500, 100, 100, [](int) { return 0.0; });
  const auto p = played(ticks);
  REQUIRE(p.size() == 99);
  for (std::size_t i = 0; i < p.size(); ++i) CHECK(p[i] == static_cast<std::uint16_t>(65500 + i));
  CHECK(jb.stats().lost == 0);
  CHECK(jb.stats().resets == 0);
}

TEST_CASE("jitter raises the target depth quickly and it decays slowly once the network calms") {
  JitterBuffer jb;
  // 10 s with arrivals jittered by up to 60 ms, then 40 s clean.
  auto delay = [](int i) {
    if (i >= 500) return 0.0;
    return static_cast<double>((i * 37) % 61);
  };
  std::multimap<double, std::uint16_t> arrivals;
  const int total = 2500;
  for (int i = 0; i < total; ++i)
    arrivals.emplace(20.0 * i + delay(i), static_cast<std::uint16_t>(i));
  auto it = arrivals.begin();
  std::chrono::milliseconds target_after_jitter{}, target_end{};
  std::uint64_t late_in_calm_start = 0;
  for (int k = 0; k < total; ++k) {
    const double now = 20.0 * k + 1;
    for (; it != arrivals.end() && it->first <= now; ++it) push(jb, it->second, it->first);
    jb.pop(at_ms(now));
    if (k == 100) CHECK(jb.stats().target >= 80ms);  // grew within 2 s
    if (k == 499) target_after_jitter = jb.stats().target;
    if (k == 1000) late_in_calm_start = jb.stats().late;
  }
  target_end = jb.stats().target;
  const auto st = jb.stats();
  MESSAGE("target after jitter " << target_after_jitter.count() << " ms, end "
                                 << target_end.count() << " ms, shrink drops " << st.shrink_drops
                                 << ", late " << st.late << ", depth " << st.depth.count());
  CHECK(target_after_jitter >= 80ms);
  CHECK(target_after_jitter <= 200ms);
  CHECK(target_end == 20ms);
  CHECK(st.shrink_drops > 0);    // the buffer drained down to the smaller target
  CHECK(st.depth <= 60ms);
  CHECK(st.late == late_in_calm_start);  // nothing late once calm
  // Most frames of the jittery part still played (late ones are a minority).
  CHECK(st.late < 50);
}

TEST_CASE("a flood of far-ahead sequence numbers cannot grow the buffer past its bound") {
  JitterBuffer jb;
  for (std::uint16_t s = 0; s < 10; ++s) push(jb, s, 0);
  std::uint16_t seq = 10;
  for (int i = 0; i < 10000; ++i) {
    seq = static_cast<std::uint16_t>(seq + 40 + (i % 30) * 7);
    push(jb, seq, 1);
    CHECK(jb.frames_buffered() <= 50);
    CHECK(jb.stats().depth <= 1000ms);
  }
  CHECK(jb.stats().overflow_drops > 0);
}

TEST_CASE("a single wild sequence number is dropped; two in a row restart the stream") {
  JitterBuffer jb;
  for (std::uint16_t s = 0; s < 5; ++s) push(jb, s, 20.0 * s);
  CHECK(push(jb, 40000, 100) == push_result::too_far_ahead);
  CHECK(push(jb, 5, 100) == push_result::accepted);
  CHECK(push(jb, 30000, 120) == push_result::too_far_ahead);
  CHECK(push(jb, 30001, 140) == push_result::reset);
  CHECK(jb.frames_buffered() == 1);
  CHECK(jb.stats().resets == 1);
  CHECK(push(jb, 30002, 160) == push_result::accepted);
  const auto r = jb.pop(at_ms(161));
  REQUIRE(r.kind == pop_kind::frame);
  CHECK(seq_of(r) == 30001);
}

TEST_CASE("overflow drops the oldest frames when the window must slide") {
  JitterBuffer jb;  // 50 slots
  for (std::uint16_t s = 0; s < 50; ++s) CHECK(push(jb, s, 0) == push_result::accepted);
  CHECK(push(jb, 52, 0) == push_result::accepted);  // window now starts at 3
  CHECK(jb.stats().overflow_drops == 3);
  CHECK(jb.frames_buffered() == 48);
  const auto r = jb.pop(at_ms(300));  // all arrived at once: that is jitter, target ≤ 200 ms
  REQUIRE(r.kind == pop_kind::frame);
  CHECK(seq_of(r) == 3);
}

TEST_CASE("when the far end stops sending the buffer conceals briefly, then waits, then restarts") {
  JitterBuffer jb;
  const auto ticks = run(jb, 0, 20, 60, [](int) { return 0.0; });
  // After frame 19: up to 200 ms of underrun conceal, then waiting.
  CHECK(count_kind(ticks, pop_kind::conceal) == 10);
  CHECK(ticks.back().kind == pop_kind::waiting);
  CHECK(!jb.started());
  // Speech resumes after a DTX pause: the sequence continues, the timestamp jumps with the
  // pause (RFC 3551 §4.1). It plays again after one target depth.
  const auto p20 = payload_of(20), p21 = payload_of(21);
  CHECK(jb.push(20, 100 * 960, p20, at_ms(2000)) == push_result::accepted);
  CHECK(jb.pop(at_ms(2001)).kind == pop_kind::waiting);
  CHECK(jb.push(21, 101 * 960, p21, at_ms(2020)) == push_result::accepted);
  const auto r = jb.pop(at_ms(2021));
  REQUIRE(r.kind == pop_kind::frame);
  CHECK(seq_of(r) == 20);
  CHECK(push(jb, 5, 2030) == push_result::duplicate);  // played before the pause
}

TEST_CASE("oversized and empty payloads are refused, invalid configuration throws") {
  JitterBuffer jb;
  std::vector<std::uint8_t> big(1501, 0);
  CHECK(jb.push(1, 0, big, t0) == push_result::too_large);
  CHECK(jb.push(1, 0, {}, t0) == push_result::too_large);
  JitterConfig bad;
  bad.max_frames = 0;
  CHECK_THROWS_AS(JitterBuffer{bad}, std::invalid_argument);
}

TEST_CASE("jitter buffer: release() gives the ring back; the buffer waits, then plays again from the next push") {
  JitterBuffer jb;
  for (std::uint16_t s = 0; s < 5; ++s) CHECK(push(jb, s, 20.0 * s) == push_result::accepted);
  CHECK(jb.pop(at_ms(100)).kind == pop_kind::frame);
  const auto before = jb.stats();
  jb.release();
  CHECK(jb.frames_buffered() == 0);
  CHECK_FALSE(jb.started());
  // Nothing buffered: pops wait without touching the (absent) ring.
  for (int i = 0; i < 3; ++i) CHECK(jb.pop(at_ms(120 + 20.0 * i)).kind == pop_kind::waiting);
  // A new stream after the gap: the ring is made again and playout resumes in order.
  for (std::uint16_t s = 100; s < 106; ++s) CHECK(push(jb, s, 200 + 20.0 * (s - 100)) == push_result::accepted);
  auto r = jb.pop(at_ms(310));
  REQUIRE(r.kind == pop_kind::frame);
  CHECK(seq_of(r) == 100);
  r = jb.pop(at_ms(330));
  REQUIRE(r.kind == pop_kind::frame);
  CHECK(seq_of(r) == 101);
  // Statistics carry on across the release.
  CHECK(jb.stats().received == before.received + 6);
}
