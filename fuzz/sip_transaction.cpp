// Drives the stateful SIP layers with arbitrary input: client transactions (both kinds, both
// transport kinds) under an arbitrary sequence of responses and clock steps, and dialogs built
// from arbitrary 2xx responses. Invariants: no crash; a terminated transaction stays terminated
// and reports nothing more; a final response is reported to the TU at most once; deadlines
// never go backwards in time; a dialog's addressing is always usable.
#include "sip/dialog.hpp"
#include "sip/transaction.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace sb::sip;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const auto kind = (data[0] & 1) ? ClientTransaction::Kind::invite : ClientTransaction::Kind::non_invite;
  const bool reliable = data[0] & 2;
  TimerConfig timers{.t1 = std::chrono::milliseconds(1 + (data[1] % 50)), .t2 = std::chrono::milliseconds(400),
                     .t4 = std::chrono::milliseconds(500)};
  SipTime now{};
  ClientTransaction tx(kind, reliable, timers, now);
  tx.start();
  int finals = 0;
  std::size_t i = 2;
  // Events: 2 bytes each. High bit of the first byte: a clock step, else a response status.
  for (; i + 1 < size && i < 2 + 2 * 256; i += 2) {
    const unsigned v = (unsigned(data[i]) << 8) | data[i + 1];
    const bool was_terminated = tx.state() == ClientTransaction::State::terminated;
    ClientTransaction::Effects fx;
    if (v & 0x8000) {
      now += std::chrono::milliseconds(v & 0x7fff);
      fx = tx.on_timer(now);
    } else if ((v & 0x7fff) == 0x7fff) {
      fx = tx.on_transport_error();
    } else {
      fx = tx.on_response(100 + (v % 600), now);
    }
    if (was_terminated && (fx.notify != ClientTransaction::Notify::none || fx.send_request)) std::abort();
    if (fx.notify == ClientTransaction::Notify::final_response) ++finals;
    if (auto d = tx.next_deadline(); d && tx.state() == ClientTransaction::State::terminated) std::abort();
  }
  if (finals > 1) std::abort();

  // The rest of the input, if any, is a response for the dialog layer.
  if (i < size) {
    std::string raw(reinterpret_cast<const char*>(data + i), size - i);
    Message m;
    Limits lim;
    if (parse_message(raw, m, lim, false).status == parse_status::ok && m.is_response()) {
      if (auto d = Dialog::from_response(m, "cid", "ltag", "sip:gw@127.0.0.1", "sip:far@example.com", 1)) {
        auto a = d->addressing();
        if (a.request_uri.empty() || a.next_hop.empty()) std::abort();
        (void)d->from_header();
        (void)d->to_header();
        d->refresh_target(m);
        (void)d->accept_remote_cseq(3);
      }
    }
  }
  return 0;
}
