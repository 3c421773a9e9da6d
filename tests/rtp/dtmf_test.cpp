// DTMF out and in: tests for src/rtp/dtmf.{hpp,cpp} (RFC 4733 sender and receiver, in-band
// tones through spandsp's detector, SIP INFO bodies).
#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "rtp/dtmf.hpp"
#include "rtp/packet.hpp"
#include "support/goertzel.hpp"

#include <spandsp/telephony.h>
#include <spandsp/logging.h>
#include <spandsp/super_tone_rx.h>
#include <spandsp/dtmf.h>
#undef lrint
#undef lrintf

using namespace sb::rtp;

namespace {

constexpr std::uint32_t k_ts0 = 0xFFFFF000; // wraps during the longer runs

/// What one tick sent: a telephone-event packet or (nullopt) the audio packet.
struct Tick {
  std::optional<DtmfPacket> pkt;
  std::uint32_t audio_ts = 0; // the tick's audio timestamp
  std::uint16_t seq = 0;      // the sequence number of whatever was sent
};

std::vector<Tick> run(DtmfSender& s, int ticks, std::uint32_t units, std::uint32_t ts0 = k_ts0) {
  std::vector<Tick> out;
  for (int i = 0; i < ticks; ++i) {
    const auto ts = ts0 + static_cast<std::uint32_t>(i) * units;
    out.push_back({s.next(ts), ts, static_cast<std::uint16_t>(65530 + i)});
  }
  return out;
}

DtmfEvent ev(const DtmfPacket& p) { return *parse_dtmf(p.payload); }

DtmfSender sender(std::uint32_t rate = 8000, DtmfTiming t = {}) {
  return DtmfSender(DtmfSenderConfig{rate, 101, 20, t});
}

/// Delivers the ticks to a receiver (audio ticks as on_audio), skipping those `drop` says, and
/// returns the digits in order. Time advances 20 ms a tick; a final timer flushes.
std::vector<DtmfDigit> deliver(const std::vector<Tick>& ticks, DtmfReceiver& r,
                               const std::function<bool(const Tick&)>& drop = {}, int copies = 1,
                               bool flush = true) {
  std::vector<DtmfDigit> got;
  std::int64_t now = 5000;
  for (const auto& t : ticks) {
    now += 20;
    if (drop && drop(t)) continue;
    for (int c = 0; c < copies; ++c) {
      if (t.pkt) {
        for (const auto& d : r.on_event(t.pkt->payload, t.pkt->timestamp, t.pkt->marker, t.seq, now))
          got.push_back(d);
      } else if (auto d = r.on_audio(t.audio_ts)) {
        got.push_back(*d);
      }
    }
  }
  if (!flush) return got;
  if (auto d = r.on_timer(now + 10000)) got.push_back(*d);
  return got;
}

std::string digits_of(const std::vector<DtmfDigit>& v) {
  std::string s;
  for (const auto& d : v) s += d.digit;
  return s;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Sender

TEST_CASE("one digit: M on the first packet only, one timestamp, duration +160 a tick, E x3") {
  auto s = sender();
  REQUIRE(s.enqueue("5"));
  const auto t = run(s, 10, 160);
  for (int i = 0; i < 7; ++i) {
    INFO("tick " << i);
    REQUIRE(t[i].pkt);
    const auto e = ev(*t[i].pkt);
    CHECK(e.event == 5);
    CHECK(e.volume == 10);
    CHECK(t[i].pkt->payload_type == 101);
    CHECK(t[i].pkt->timestamp == k_ts0); // §2.5.1.2: the event's start, on every packet
    CHECK(t[i].pkt->marker == (i == 0));
    CHECK(e.end == (i >= 4));
    CHECK(t[i].pkt->end == e.end);
    CHECK(e.duration == 160 * std::min(i + 1, 5));
  }
  CHECK_FALSE(t[7].pkt); // the rest of the 80 ms gap is audio
  CHECK_FALSE(t[8].pkt);
  CHECK_FALSE(t[9].pkt);
  CHECK(s.idle());
}

TEST_CASE("at 48 kHz beside Opus durations grow by 960 a tick to 4800") {
  auto s = sender(48000);
  REQUIRE(s.enqueue("#"));
  const auto t = run(s, 7, 960);
  for (int i = 0; i < 7; ++i) {
    REQUIRE(t[i].pkt);
    CHECK(ev(*t[i].pkt).event == 11);
    CHECK(ev(*t[i].pkt).duration == 960 * std::min(i + 1, 5));
  }
}

TEST_CASE("the next digit starts after the gap, on its own timestamp, with M") {
  auto s = sender();
  REQUIRE(s.enqueue("12"));
  const auto t = run(s, 20, 160);
  REQUIRE(t[9].pkt); // 5 tone ticks + 4 gap ticks (70 ms rounded up to 80)
  CHECK(ev(*t[9].pkt).event == 2);
  CHECK(t[9].pkt->marker);
  CHECK(t[9].pkt->timestamp == k_ts0 + 9 * 160);
  CHECK_FALSE(t[8].pkt);
}

TEST_CASE("'p' pauses 500 ms before the next digit") {
  auto s = sender();
  REQUIRE(s.enqueue("1p2"));
  const auto t = run(s, 40, 160);
  for (int i = 7; i < 34; ++i) CHECK_FALSE(t[i].pkt);
  REQUIRE(t[34].pkt); // 9 ticks for '1', 25 for 'p'
  CHECK(ev(*t[34].pkt).event == 2);
  CHECK(t[34].pkt->marker);
  DtmfTiming none;
  none.pause_ms = 0;
  auto z = sender(8000, none);
  REQUIRE(z.enqueue("pp3"));
  const auto first = z.next(k_ts0);
  REQUIRE(first);
  CHECK(ev(*first).event == 3);
}

TEST_CASE("digits of two requests play in order, the second appended while the first plays") {
  auto s = sender();
  REQUIRE(s.enqueue("9"));
  auto t = run(s, 3, 160);
  REQUIRE(s.enqueue("*A"));
  const auto rest = run(s, 30, 160, k_ts0 + 3 * 160);
  t.insert(t.end(), rest.begin(), rest.end());
  std::string starts;
  for (const auto& x : t)
    if (x.pkt && x.pkt->marker) starts += dtmf_digit_char(ev(*x.pkt).event);
  CHECK(starts == "9*A");
}

TEST_CASE("the queue holds 256 digits and refuses a request that does not fit, whole") {
  auto s = sender();
  CHECK(s.enqueue(std::string(200, '1')));
  CHECK_FALSE(s.enqueue(std::string(57, '2')));
  CHECK(s.queued() == 200);
  CHECK(s.enqueue(std::string(56, '3')));
  CHECK_FALSE(s.enqueue("4"));
  CHECK(s.queued() == 256);
  auto t = sender();
  CHECK_FALSE(t.enqueue("12x"));
  CHECK_FALSE(t.enqueue(""));
  CHECK_FALSE(t.enqueue("P"));
  CHECK(t.queued() == 0);
  CHECK(valid_dtmf_digits("0123456789*#ABCDabcdp"));
}

TEST_CASE("clear mid-digit stops at once; the next digit is a fresh event") {
  auto s = sender();
  REQUIRE(s.enqueue("7777"));
  (void)run(s, 2, 160);
  s.clear();
  CHECK(s.idle());
  CHECK_FALSE(s.next(k_ts0 + 2 * 160));
  REQUIRE(s.enqueue("3"));
  const auto p = s.next(k_ts0 + 3 * 160);
  REQUIRE(p);
  CHECK(p->marker);
  CHECK(ev(*p).event == 3);
  CHECK(ev(*p).duration == 160);
  CHECK(p->timestamp == k_ts0 + 3 * 160);
}

TEST_CASE("an event over 0xFFFF units is cut into segments (RFC 4733 2.5.1.3)") {
  DtmfTiming t;
  t.tone_ms = 2000; // 96000 units at 48 kHz
  auto s = sender(48000, t);
  REQUIRE(s.enqueue("0"));
  const auto ticks = run(s, 110, 960);
  int seg_ends = 0, finals = 0;
  for (const auto& x : ticks) {
    if (!x.pkt) continue;
    const auto e = ev(*x.pkt);
    if (e.duration == 0xFFFF && !e.end) {
      ++seg_ends;
      CHECK(x.pkt->timestamp == k_ts0);
    }
    if (e.end) {
      ++finals;
      CHECK(e.duration == 96000 - 0xFFFF);
      CHECK(x.pkt->timestamp == k_ts0 + 0xFFFF);
    }
    if (x.pkt->timestamp == k_ts0 + 0xFFFF) CHECK_FALSE(x.pkt->marker);
  }
  CHECK(seg_ends == 3);
  CHECK(finals == 3);
  DtmfReceiver r({48000, 1000});
  const auto got = deliver(ticks, r);
  REQUIRE(got.size() == 1);
  CHECK(got[0].digit == '0');
  CHECK(got[0].duration_ms == 2000);
}

TEST_CASE("sender refuses configurations it cannot play") {
  CHECK_THROWS_AS(DtmfSender(DtmfSenderConfig{8000, 128, 20, {}}), std::invalid_argument);
  CHECK_THROWS_AS(DtmfSender(DtmfSenderConfig{44100, 101, 15, {}}), std::invalid_argument);
  DtmfTiming loud;
  loud.volume = 64;
  CHECK_THROWS_AS(DtmfSender(DtmfSenderConfig{8000, 101, 20, loud}), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Receiver

TEST_CASE("receiver on the sender's output: one digit per event, with duration and volume") {
  auto s = sender();
  REQUIRE(s.enqueue("1234567890*#ABCD"));
  DtmfReceiver r;
  const auto got = deliver(run(s, 16 * 9, 160), r);
  CHECK(digits_of(got) == "1234567890*#ABCD");
  for (const auto& d : got) {
    CHECK(d.duration_ms == 100);
    CHECK(d.volume == 10);
    CHECK(d.end_seen);
  }
  CHECK(r.stats().repeats == 16 * 2); // the end repeats, ignored
  CHECK(r.stats().digits == 16);
}

TEST_CASE("a lost start packet still yields the digit") {
  auto s = sender();
  REQUIRE(s.enqueue("468"));
  DtmfReceiver r;
  const auto got = deliver(run(s, 30, 160), r, [](const Tick& t) { return t.pkt && t.pkt->marker; });
  CHECK(digits_of(got) == "468");
  CHECK(got[0].duration_ms == 100);
}

TEST_CASE("an event whose end packets are all lost is reported when audio resumes") {
  auto s = sender();
  REQUIRE(s.enqueue("25"));
  DtmfReceiver r;
  const auto t = run(s, 20, 160);
  const auto got = deliver(t, r, [](const Tick& x) { return x.pkt && x.pkt->end; }, 1, false);
  CHECK(digits_of(got) == "25");
  for (const auto& d : got) {
    CHECK_FALSE(d.end_seen);
    CHECK(d.duration_ms == 80); // the last update seen
  }
  CHECK(r.stats().end_lost == 2);
}

TEST_CASE("an event whose end packets are lost is closed by the next event or the timeout") {
  DtmfReceiver r({8000, 1000});
  std::array<std::uint8_t, 4> p{};
  (void)write_dtmf(p, DtmfEvent{3, false, 10, 160});
  CHECK(r.on_event(p, 1000, true, 1, 0).empty());
  CHECK(r.deadline() == 1000);
  CHECK_FALSE(r.on_timer(999));
  const auto d = r.on_timer(1000);
  REQUIRE(d);
  CHECK(d->digit == '3');
  CHECK_FALSE(r.on_timer(5000)); // once
  // Next event closes the open one: both the open one and an already-ended new one come out.
  CHECK(r.on_event(p, 2000, true, 10, 6000).empty());
  (void)write_dtmf(p, DtmfEvent{4, true, 10, 800});
  const auto two = r.on_event(p, 3000, false, 20, 6100);
  REQUIRE(two.size() == 2);
  CHECK(two.items[0].digit == '3');
  CHECK_FALSE(two.items[0].end_seen);
  CHECK(two.items[1].digit == '4');
  CHECK(two.items[1].end_seen);
}

TEST_CASE("duplicated packets do not duplicate digits") {
  auto s = sender();
  REQUIRE(s.enqueue("9*0"));
  DtmfReceiver r;
  CHECK(digits_of(deliver(run(s, 30, 160), r, {}, 2)) == "9*0");
}

TEST_CASE("two identical digits in a row are two digits, told apart by their timestamps") {
  auto s = sender();
  REQUIRE(s.enqueue("55"));
  DtmfReceiver r;
  CHECK(digits_of(deliver(run(s, 20, 160), r)) == "55");
  // A sender whose clock stood still: same timestamp, a new M later in sequence.
  DtmfReceiver f;
  std::array<std::uint8_t, 4> p{};
  (void)write_dtmf(p, DtmfEvent{5, false, 10, 160});
  CHECK(f.on_event(p, 700, true, 1, 0).empty());
  (void)write_dtmf(p, DtmfEvent{5, true, 10, 320});
  CHECK(f.on_event(p, 700, false, 2, 20).size() == 1);
  CHECK(f.on_event(p, 700, false, 3, 40).empty());   // end repeat
  CHECK(f.on_event(p, 700, true, 1, 40).empty());    // the first packet, late: not new
  (void)write_dtmf(p, DtmfEvent{5, true, 10, 160});
  CHECK(f.on_event(p, 700, true, 9, 200).size() == 1);
}

TEST_CASE("a late packet of an earlier event is ignored") {
  DtmfReceiver r;
  std::array<std::uint8_t, 4> p{};
  (void)write_dtmf(p, DtmfEvent{1, true, 10, 800});
  CHECK(r.on_event(p, 5000, true, 10, 0).size() == 1);
  (void)write_dtmf(p, DtmfEvent{2, true, 10, 800});
  CHECK(r.on_event(p, 9000, true, 20, 100).size() == 1);
  (void)write_dtmf(p, DtmfEvent{1, false, 10, 480});
  CHECK(r.on_event(p, 5000, false, 8, 120).empty());
  CHECK(r.stats().late == 1);
  CHECK_FALSE(r.on_timer(1000000)); // no phantom event was opened by it
  // More than 10 s behind is no reordering: the far end's clock jumped back.
  (void)write_dtmf(p, DtmfEvent{3, true, 10, 800});
  const auto jumped = r.on_event(p, 9000 - 80001, true, 30, 200);
  REQUIRE(jumped.size() == 1);
  CHECK(jumped.items[0].digit == '3');
}

TEST_CASE("malformed payloads and non-digit events are counted, never digits") {
  DtmfReceiver r;
  const std::array<std::uint8_t, 3> short_payload{1, 0x80, 0};
  CHECK(r.on_event(short_payload, 100, true, 1, 0).empty());
  std::array<std::uint8_t, 4> p{};
  (void)write_dtmf(p, DtmfEvent{16, true, 10, 800}); // flash
  CHECK(r.on_event(p, 200, true, 2, 0).empty());
  CHECK(r.stats().malformed == 1);
  CHECK(r.stats().non_dtmf == 1);
  CHECK_FALSE(r.on_timer(1000000));
}

// ---------------------------------------------------------------------------------------------
// SIP INFO

TEST_CASE("INFO application/dtmf-relay gives the digit and its duration") {
  auto d = parse_dtmf_relay("Signal=5\r\nDuration=160\r\n");
  REQUIRE(d);
  CHECK(d->digit == '5');
  CHECK(d->duration_ms == 160);
  d = parse_dtmf_relay("signal = *\nDURATION= 250");
  REQUIRE(d);
  CHECK(d->digit == '*');
  CHECK(d->duration_ms == 250);
  CHECK(parse_dtmf_relay("Signal=10\r\n")->digit == '*');
  CHECK(parse_dtmf_relay("Signal=11\r\n")->digit == '#');
  CHECK(parse_dtmf_relay("Signal=12\r\n")->digit == 'A');
  CHECK(parse_dtmf_relay("Signal=d\r\n")->digit == 'D');
  CHECK(parse_dtmf_relay("Signal=#\r\nDuration=100\r\nX-Vendor=whatever\r\n")->digit == '#');
  CHECK(parse_dtmf_relay("Signal=1")->duration_ms == 0);
}

TEST_CASE("INFO bodies that are garbage are refused") {
  for (const char* bad : {"", "\r\n", "Duration=160\r\n", "Signal=16\r\n", "Signal=55\r\n", "Signal=\r\n",
                          "Signal=p\r\n", "Signal=5\r\nSignal=6\r\n", "Signal=5\r\nnonsense\r\n",
                          "Signal=5\r\nDuration=abc\r\n", "Signal=5\r\nDuration=-1\r\n",
                          "Signal=5\r\nDuration=1234567890\r\n", "=5\r\n", "Signal=05\r\n"}) {
    INFO(bad);
    CHECK_FALSE(parse_dtmf_relay(bad));
  }
  CHECK_FALSE(parse_dtmf_relay(std::string("Signal=5\0\r\n", 11)));
  CHECK_FALSE(parse_dtmf_relay("Signal=5\r\n" + std::string(2000, ' ')));
}

TEST_CASE("INFO application/dtmf is the digit alone; Content-Type picks the parser") {
  CHECK(parse_dtmf_body("7")->digit == '7');
  CHECK(parse_dtmf_body(" #\r\n")->digit == '#');
  CHECK(parse_dtmf_body("11")->digit == '#');
  CHECK_FALSE(parse_dtmf_body("77"));
  CHECK_FALSE(parse_dtmf_body(""));
  CHECK(parse_sip_info_dtmf("Application/DTMF-Relay; charset=x", "Signal=3\r\n")->digit == '3');
  CHECK(parse_sip_info_dtmf("application/dtmf", "9")->digit == '9');
  CHECK_FALSE(parse_sip_info_dtmf("application/dtmf", "Signal=3\r\n"));
  CHECK_FALSE(parse_sip_info_dtmf("text/plain", "9"));
}

// ---------------------------------------------------------------------------------------------
// In-band

namespace {

/// Plays everything queued (plus half a second of idle) in 20 ms ticks at 8 kHz.
std::vector<std::int16_t> play(InbandDtmf& g) {
  std::vector<std::int16_t> pcm;
  for (int tick = 0; tick < 2000 && !g.idle(); ++tick) {
    std::array<std::int16_t, 160> f{};
    f.fill(1111); // the session's audio: replaced while DTMF plays
    REQUIRE(g.fill(f));
    pcm.insert(pcm.end(), f.begin(), f.end());
  }
  pcm.insert(pcm.end(), 4000, 0);
  return pcm;
}

std::string detect(const std::vector<std::int16_t>& pcm) {
  dtmf_rx_state_t* rx = dtmf_rx_init(nullptr, nullptr, nullptr);
  REQUIRE(rx);
  for (std::size_t i = 0; i < pcm.size(); i += 160) dtmf_rx(rx, pcm.data() + i, 160);
  char buf[MAX_DTMF_DIGITS + 1] = {};
  const auto n = dtmf_rx_get(rx, buf, MAX_DTMF_DIGITS);
  dtmf_rx_free(rx);
  return std::string(buf, n);
}

} // namespace

TEST_CASE("in-band digits come back in order through spandsp's detector") {
  InbandDtmf g;
  REQUIRE(g.enqueue("159*"));
  REQUIRE(g.enqueue("#0Dp7"));
  const auto pcm = play(g);
  CHECK(detect(pcm) == "159*#0D7");
  // 7 digits of 100 + 70 ms, the pause, one more digit (its gap included).
  CHECK(pcm.size() == (8 * 1360 + 4000) + 4000);
}

TEST_CASE("in-band timing: 100 ms tone then 70 ms of silence, and the tick is replaced") {
  InbandDtmf g;
  REQUIRE(g.enqueue("12"));
  const auto pcm = play(g);
  int tone1 = 0;
  for (std::size_t i = 0; i < 800; ++i) tone1 += pcm[i] != 0 ? 1 : 0;
  CHECK(tone1 > 700);
  bool silent = true;
  for (std::size_t i = 800; i < 1360; ++i) silent = silent && pcm[i] == 0;
  CHECK(silent);
  int tone2 = 0;
  for (std::size_t i = 1360; i < 1400; ++i) tone2 += pcm[i] != 0 ? 1 : 0;
  CHECK(tone2 > 30);
  // One digit is 8.5 ticks: the rest of its last tick is silence, not the session's audio.
  InbandDtmf one;
  REQUIRE(one.enqueue("3"));
  const auto tail = play(one);
  CHECK(tail.size() == 9 * 160 + 4000);
  bool rest_silent = true;
  for (std::size_t i = 800; i < 9 * 160; ++i) rest_silent = rest_silent && tail[i] == 0;
  CHECK(rest_silent);
}

TEST_CASE("in-band leaves the audio alone when idle and stops at clear") {
  InbandDtmf g;
  std::array<std::int16_t, 160> f{};
  f.fill(1234);
  CHECK_FALSE(g.fill(f));
  CHECK(f[0] == 1234);
  CHECK(f[159] == 1234);
  REQUIRE(g.enqueue("88"));
  CHECK(g.fill(f));
  g.clear();
  CHECK(g.idle());
  f.fill(1234);
  CHECK_FALSE(g.fill(f));
  CHECK(f[80] == 1234);
  REQUIRE(g.enqueue("6"));
  CHECK(detect(play(g)) == "6");
}

TEST_CASE("in-band tones are the Q.23 row and column pairs of each digit (Goertzel), gaps silent") {
  InbandDtmf g;
  REQUIRE(g.enqueue("1593*0#D"));
  REQUIRE(g.enqueue("55"));
  const auto pcm = play(g);
  // 50 ms blocks every 10 ms: 70 ms gaps hold whole silent blocks, so "55" stays two digits.
  CHECK(sb::test::goertzel_digits(pcm, 8000, 400, 80) == "1593*0#D55");
  // The first tone: only its two frequencies, each far above the other six.
  const std::span<const std::int16_t> tone(pcm.data() + 100, 400);
  CHECK(sb::test::goertzel_digit(tone, 8000) == '1');
  CHECK(sb::test::goertzel_power(tone, 697, 8000) > 100 * sb::test::goertzel_power(tone, 941, 8000));
  CHECK(sb::test::goertzel_power(tone, 1209, 8000) > 100 * sb::test::goertzel_power(tone, 1633, 8000));
}
