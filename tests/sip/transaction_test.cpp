// RFC 3261 §17.1 client transactions under a clock the test steps by hand.
#include "sip/transaction.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace sb::sip;
using namespace std::chrono_literals;
using Tx = ClientTransaction;

namespace {
// Advances the clock to each deadline in turn until `until`, recording when the request was
// retransmitted, and returns the last Effects seen.
struct Stepper {
  Tx& tx;
  SipTime t0;
  SipTime now;
  std::vector<milliseconds> retransmits;
  Tx::Notify last = Tx::Notify::none;
  void run_until(SipTime until) {
    while (auto d = tx.next_deadline()) {
      if (*d > until) break;
      now = *d;
      auto fx = tx.on_timer(now);
      if (fx.send_request) retransmits.push_back(std::chrono::duration_cast<milliseconds>(now - t0));
      if (fx.notify != Tx::Notify::none) last = fx.notify;
    }
    now = until;
  }
};
}  // namespace

TEST_CASE("INVITE over UDP retransmits with T1 doubling until Timer B times it out at 64*T1") {
  TimerConfig timers;
  SipTime t0{};
  Tx tx(Tx::Kind::invite, false, timers, t0);
  CHECK(tx.start().send_request);
  Stepper s{tx, t0, t0};
  s.run_until(t0 + 40s);
  // Timer A: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s (intervals 0.5, 1, 2, 4, 8, 16 s); B fires at 32 s.
  CHECK(s.retransmits == std::vector<milliseconds>{500ms, 1500ms, 3500ms, 7500ms, 15500ms, 31500ms});
  CHECK(s.last == Tx::Notify::timeout);
  CHECK(tx.state() == Tx::State::terminated);
}

TEST_CASE("INVITE over TCP is never retransmitted and still times out by Timer B") {
  SipTime t0{};
  Tx tx(Tx::Kind::invite, true, TimerConfig{}, t0);
  Stepper s{tx, t0, t0};
  s.run_until(t0 + 33s);
  CHECK(s.retransmits.empty());
  CHECK(s.last == Tx::Notify::timeout);
}

TEST_CASE("a provisional response stops INVITE retransmissions and Timer B") {
  SipTime t0{};
  Tx tx(Tx::Kind::invite, false, TimerConfig{}, t0);
  Stepper s{tx, t0, t0};
  s.run_until(t0 + 600ms);
  CHECK(s.retransmits.size() == 1);
  CHECK(tx.on_response(180, s.now).notify == Tx::Notify::provisional);
  CHECK(tx.state() == Tx::State::proceeding);
  CHECK_FALSE(tx.next_deadline().has_value());  // ringing has no transaction-level limit
  CHECK(tx.on_response(183, s.now).notify == Tx::Notify::provisional);
}

TEST_CASE("INVITE non-2xx final: ACK sent, retransmitted finals re-ACKed silently, Timer D ends it") {
  SipTime t0{};
  Tx tx(Tx::Kind::invite, false, TimerConfig{}, t0);
  auto fx = tx.on_response(486, t0 + 100ms);
  CHECK(fx.send_ack);
  CHECK(fx.notify == Tx::Notify::final_response);
  CHECK(tx.state() == Tx::State::completed);
  auto again = tx.on_response(486, t0 + 200ms);
  CHECK(again.send_ack);
  CHECK(again.notify == Tx::Notify::none);
  CHECK(tx.on_timer(t0 + 100ms + 31s).notify == Tx::Notify::none);
  CHECK(tx.state() == Tx::State::completed);
  tx.on_timer(t0 + 100ms + 32s);
  CHECK(tx.state() == Tx::State::terminated);
}

TEST_CASE("INVITE non-2xx final over TCP terminates at once (Timer D = 0)") {
  SipTime t0{};
  Tx tx(Tx::Kind::invite, true, TimerConfig{}, t0);
  auto fx = tx.on_response(403, t0);
  CHECK(fx.send_ack);
  CHECK(tx.state() == Tx::State::terminated);
}

TEST_CASE("INVITE 2xx enters Accepted and hands 2xx retransmissions to the TU for Timer M") {
  SipTime t0{};
  Tx tx(Tx::Kind::invite, false, TimerConfig{}, t0);
  auto fx = tx.on_response(200, t0 + 10ms);
  CHECK_FALSE(fx.send_ack);  // the 2xx ACK is the TU's (end to end, §13.2.2.4)
  CHECK(fx.notify == Tx::Notify::final_response);
  CHECK(tx.state() == Tx::State::accepted);
  CHECK(tx.on_response(200, t0 + 500ms).notify == Tx::Notify::retransmitted_2xx);
  CHECK(tx.on_response(486, t0 + 600ms).notify == Tx::Notify::none);
  tx.on_timer(t0 + 10ms + 32s);
  CHECK(tx.state() == Tx::State::terminated);
}

TEST_CASE("non-INVITE over UDP retransmits doubling up to T2, then at T2, and Timer F times out") {
  TimerConfig timers;
  SipTime t0{};
  Tx tx(Tx::Kind::non_invite, false, timers, t0);
  Stepper s{tx, t0, t0};
  s.run_until(t0 + 33s);
  // E: 0.5, 1.5, 3.5, 7.5, then every 4 s: 11.5 ... 31.5; F at 32 s.
  std::vector<milliseconds> expect{500ms, 1500ms, 3500ms, 7500ms};
  for (auto t = 11500ms; t < 32000ms; t += 4000ms) expect.push_back(t);
  CHECK(s.retransmits == expect);
  CHECK(s.last == Tx::Notify::timeout);
}

TEST_CASE("non-INVITE in Proceeding retransmits every T2 until the final response") {
  SipTime t0{};
  Tx tx(Tx::Kind::non_invite, false, TimerConfig{}, t0);
  Stepper s{tx, t0, t0};
  CHECK(tx.on_response(100, t0 + 100ms).notify == Tx::Notify::provisional);
  s.run_until(t0 + 9s);
  // E fires at 0.5 s, then T2 (4 s) intervals: 4.5, 8.5
  CHECK(s.retransmits == std::vector<milliseconds>{500ms, 4500ms, 8500ms});
  auto fx = tx.on_response(200, t0 + 9s);
  CHECK(fx.notify == Tx::Notify::final_response);
  CHECK(tx.state() == Tx::State::completed);
  CHECK(tx.on_response(200, t0 + 9500ms).notify == Tx::Notify::none);  // absorbed
  tx.on_timer(t0 + 9s + 5s);                                              // Timer K = T4
  CHECK(tx.state() == Tx::State::terminated);
}

TEST_CASE("timers are injectable: a shortened T1 scales every timer") {
  TimerConfig fast{.t1 = 10ms, .t2 = 80ms, .t4 = 100ms};
  SipTime t0{};
  Tx tx(Tx::Kind::invite, false, fast, t0);
  Stepper s{tx, t0, t0};
  s.run_until(t0 + 1s);
  CHECK(s.last == Tx::Notify::timeout);
  CHECK(s.retransmits.front() == 10ms);
  CHECK(s.retransmits.size() == 6);
}

TEST_CASE("a transport error terminates the transaction and tells the TU once") {
  SipTime t0{};
  Tx tx(Tx::Kind::non_invite, true, TimerConfig{}, t0);
  CHECK(tx.on_transport_error().notify == Tx::Notify::transport_error);
  CHECK(tx.state() == Tx::State::terminated);
  CHECK(tx.on_transport_error().notify == Tx::Notify::none);
  CHECK(tx.on_response(200, t0).notify == Tx::Notify::none);
}

TEST_CASE("over TCP a final response terminates with no timer left to arm (found by fuzz/sip_transaction)") {
  SipTime t0{};
  Tx inv(Tx::Kind::invite, true, TimerConfig{}, t0);
  inv.on_response(100, t0);
  inv.on_response(486, t0);
  CHECK(inv.state() == Tx::State::terminated);
  CHECK_FALSE(inv.next_deadline().has_value());
  Tx bye(Tx::Kind::non_invite, true, TimerConfig{}, t0);
  bye.on_response(200, t0);
  CHECK(bye.state() == Tx::State::terminated);
  CHECK_FALSE(bye.next_deadline().has_value());
}
