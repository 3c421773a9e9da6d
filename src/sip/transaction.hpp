// Client transactions, RFC 3261 §17.1 (with the RFC 6026 "Accepted" state for INVITE), as
// sans-I/O state machines: the owner feeds responses and clock readings in and carries out the
// Effects that come back (retransmit the request, send the ACK, tell the transaction user).
// No sockets and no real clock here, so tests step time by hand and fuzzers drive it freely.
#pragma once
#include "sip/clock.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sb::sip {

using std::chrono::milliseconds;

// RFC 3261 §17.1.1.1 and Table 4. Named and injectable: tests and deployments may shorten them.
struct TimerConfig {
  milliseconds t1{500};   // RTT estimate
  milliseconds t2{4000};  // maximum retransmit interval for non-INVITE requests and INVITE responses
  milliseconds t4{5000};  // maximum duration a message remains in the network

  milliseconds timer_b() const { return 64 * t1; }  // INVITE transaction timeout
  milliseconds timer_f() const { return 64 * t1; }  // non-INVITE transaction timeout
  milliseconds timer_m() const { return 64 * t1; }  // RFC 6026 §8.4: wait for 2xx retransmissions
  // Timer D: ≥ 32 s for unreliable transports, 0 for reliable (§17.1.1.2).
  milliseconds timer_d(bool reliable) const { return reliable ? milliseconds(0) : milliseconds(32000); }
  // Timer K: T4 for unreliable transports, 0 for reliable (§17.1.2.2).
  milliseconds timer_k(bool reliable) const { return reliable ? milliseconds(0) : t4; }
};

class ClientTransaction {
 public:
  enum class Kind { invite, non_invite };
  // State values (§17.1.1.2 Figure 5, §17.1.2.2 Figure 6, RFC 6026 Figure 3):
  enum class State {
    calling,     // INVITE sent, nothing heard; Timer A retransmits (unreliable), Timer B times out
    trying,      // non-INVITE sent, nothing heard; Timer E retransmits, Timer F times out
    proceeding,  // a 1xx arrived; INVITE stops retransmitting, non-INVITE retransmits at T2
    accepted,    // INVITE got a 2xx: absorb 2xx retransmissions for Timer M (RFC 6026)
    completed,   // final (non-2xx for INVITE) received; absorb retransmissions for Timer D/K
    terminated,  // done; the owner may destroy it
  };
  // What the transaction user must hear about.
  enum class Notify {
    none,
    provisional,      // 1xx
    final_response,   // first final response (2xx or not)
    retransmitted_2xx,  // INVITE: a 2xx retransmission in Accepted, the TU re-sends its ACK
    timeout,          // Timer B or F fired: the TU acts as if a 408 arrived (§8.1.3.1)
    transport_error,  // §17.1.4
  };
  struct Effects {
    bool send_request = false;  // (re)transmit the request bytes
    bool send_ack = false;      // INVITE non-2xx: send (or re-send) the hop-by-hop ACK (§17.1.1.3)
    Notify notify = Notify::none;
  };

  ClientTransaction(Kind kind, bool reliable, TimerConfig timers, SipTime now);

  // The request is sent once at creation: the first Effects is `start()`.
  Effects start();
  Effects on_response(unsigned status, SipTime now);
  Effects on_timer(SipTime now);
  Effects on_transport_error();

  // The earliest time on_timer has something to do, if any.
  std::optional<SipTime> next_deadline() const;
  State state() const { return state_; }
  Kind kind() const { return kind_; }
  unsigned retransmissions() const { return retransmissions_; }

 private:
  Kind kind_;
  bool reliable_;
  TimerConfig timers_;
  State state_;
  // Timer A (INVITE) or E (non-INVITE): next retransmission and its current interval.
  std::optional<SipTime> retransmit_at_;
  milliseconds interval_;
  // Timer B or F: transaction timeout.
  std::optional<SipTime> timeout_at_;
  // Timer D, K or M: when the transaction ends after a final response.
  std::optional<SipTime> end_at_;
  unsigned retransmissions_ = 0;
};

std::string_view to_string(ClientTransaction::State s);

}  // namespace sb::sip
