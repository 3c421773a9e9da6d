// sip::Call and sip::UserAgent in-process, on a MemoryNetwork (no socket, no DNS) and a frozen
// SipClock stepped by hand: RFC 3261 timer behaviour, the 5-minute media rule and the 6-hour cap
// are checked to the tick without one wall-clock sleep. The far end is this file: it reads what
// the gateway sent and answers with hand-made messages. (The same calls against real peers:
// call_test.cpp, interop_sipp_test.cpp.)
#include "sip/memory_network.hpp"
#include "sip/user_agent.hpp"
#include "support/recording_media.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>

#include <algorithm>

using namespace sb;
using namespace sb::sip;
using namespace sb::test;
using namespace std::chrono_literals;

namespace {

// One message the gateway sent, parsed (it owns its bytes; the Message views them).
struct Wire {
  std::string text;
  Message msg;
  bool is_reply = false;
  Wire(std::string t, bool reply) : text(std::move(t)), is_reply(reply) {
    REQUIRE(parse_message(text, msg, Limits{}, false).status == parse_status::ok);
  }
  Wire(const Wire&) = delete;
  std::string h(HeaderId id) const {
    const Header* x = msg.find(id);
    return x ? std::string(x->value) : std::string();
  }
  std::string method() const { return std::string(msg.method_text); }
  std::uint32_t cseq() const { return static_cast<std::uint32_t>(std::stoul(h(HeaderId::cseq))); }
  // The URI inside <…> of Contact.
  std::string contact_uri() const {
    auto c = h(HeaderId::contact);
    auto a = c.find('<'), b = c.find('>');
    return a == std::string::npos || b == std::string::npos ? c : c.substr(a + 1, b - a - 1);
  }
};

// The far end's response to `req`; `to_tag` is added to To when it has none.
std::string response(const Wire& req, int code, std::string_view reason, std::string_view to_tag = "far1",
                     std::string_view extra = "", std::string_view body = "") {
  std::string out = fmt::format("SIP/2.0 {} {}\r\n", code, reason);
  for (const Header& v : req.msg.find_all(HeaderId::via)) out += fmt::format("Via: {}\r\n", v.value);
  auto to = req.h(HeaderId::to);
  if (to.find(";tag=") == std::string::npos && !to_tag.empty()) to += fmt::format(";tag={}", to_tag);
  out += fmt::format("From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\n", req.h(HeaderId::from), to,
                     req.h(HeaderId::call_id), req.h(HeaderId::cseq));
  if (code >= 200 && code < 300 && req.msg.method == Method::invite)
    out += "Contact: <sip:far@192.0.2.2:5060>\r\n";
  out += extra;
  if (!body.empty()) out += "Content-Type: application/sdp\r\n";
  out += fmt::format("Content-Length: {}\r\n\r\n{}", body.size(), body);
  return out;
}

// A request of the far end inside the dialog `invite` made (it answered with tag far1).
std::string far_request(const Wire& invite, std::string_view method, std::uint32_t cseq, std::string_view body = "") {
  std::string out = fmt::format("{} {} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKfar{}{}\r\n", method,
                                invite.contact_uri(), method, cseq);
  out += fmt::format("Max-Forwards: 70\r\nFrom: {};tag=far1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {}\r\n",
                     invite.h(HeaderId::to), invite.h(HeaderId::from), invite.h(HeaderId::call_id), cseq, method);
  out += "Contact: <sip:far@192.0.2.2:5060>\r\n";
  if (!body.empty()) out += "Content-Type: application/sdp\r\n";
  out += fmt::format("Content-Length: {}\r\n\r\n{}", body.size(), body);
  return out;
}

struct Rig {
  boost::asio::io_context io;
  MemoryNetwork* net = nullptr;
  std::unique_ptr<UserAgent> ua;
  std::shared_ptr<MediaLog> media = std::make_shared<MediaLog>();
  std::vector<CallState> states;
  std::optional<CallEnd> end;
  SipTime t0, ended_at;

  explicit Rig(TimerConfig timers = {}) {
    SipClock::freeze();
    t0 = SipClock::now();
    auto n = std::make_unique<MemoryNetwork>();
    net = n.get();
    UserAgentOptions o;
    o.timers = timers;
    ua = std::make_unique<UserAgent>(io.get_executor(), o, std::move(n));
    ua->start();
  }
  ~Rig() {
    ua->hangup_all(true);
    for (int i = 0; i < 400 && ua->active_calls() > 0; ++i) step(100ms);  // a BYE may run to Timer F
    ua->stop();
    settle();
    SipClock::thaw();
  }
  std::shared_ptr<Call> dial(CallParams p = {}) {
    p.id = "call-under-test";
    p.session_id = "1_MX4xMjM0NTZ-";
    p.uri = "sip:far@192.0.2.2";
    CallObserver obs;
    obs.on_state = [this](CallState s) { states.push_back(s); };
    obs.on_end = [this](const CallEnd& e) {
      end = e;
      ended_at = SipClock::now();
    };
    auto c = ua->dial(std::move(p), std::make_unique<RecordingMedia>(media), std::move(obs));
    settle();
    return c;
  }
  // Runs everything that is ready now (the clock does not move).
  void settle() {
    for (int i = 0; i < 1000; ++i) {
      io.restart();
      if (io.poll() == 0) break;
    }
  }
  // Moves the clock by `d` in ticks, running what becomes due at each.
  void step(SipClock::duration d, SipClock::duration tick = 10ms) {
    for (SipClock::duration done{}; done < d; done += tick) {
      SipClock::advance(tick);
      settle();
    }
  }
  bool has(CallState s) const { return std::find(states.begin(), states.end(), s) != states.end(); }
  // The sent messages (popped), parsed.
  std::vector<std::unique_ptr<Wire>> take() {
    std::vector<std::unique_ptr<Wire>> out;
    while (!net->sent.empty()) {
      out.push_back(std::make_unique<Wire>(std::move(net->sent.front().wire), net->sent.front().is_reply));
      net->sent.pop_front();
    }
    return out;
  }
  std::unique_ptr<Wire> take_one(std::string_view method_or_status) {
    auto all = take();
    std::unique_ptr<Wire> found;
    for (auto& w : all)
      if (w->method() == method_or_status || (w->msg.is_response() && std::to_string(w->msg.status_code) == method_or_status))
        found = std::move(w);
    REQUIRE_MESSAGE(found, "nothing sent like ", method_or_status);
    return found;
  }
  std::chrono::milliseconds elapsed(SipTime at) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(at - t0);
  }
};

// Dials, answers (180, then 200 with an SDP answer and `extra` headers) and returns the INVITE.
std::unique_ptr<Wire> answered(Rig& r, std::string_view extra = "") {
  r.dial();
  auto invite = r.take_one("INVITE");
  REQUIRE(r.net->deliver(response(*invite, 180, "Ringing")));
  r.settle();
  REQUIRE(r.net->deliver(response(*invite, 200, "OK", "far1", extra, sdp(1))));
  r.settle();
  return invite;
}

}  // namespace

TEST_CASE("sip call (in memory): no answer over UDP: INVITE at 0, T1, 3T1, 7T1, 15T1, 31T1, 63T1, then Timer B ends it 408") {
  Rig r;
  r.dial();
  std::vector<std::chrono::milliseconds> sends;
  for (int i = 0; i < 3300 && !r.end; ++i) {
    for (auto& w : r.take())
      if (w->method() == "INVITE") sends.push_back(r.elapsed(SipClock::now()));
    r.step(10ms);
  }
  REQUIRE(r.end);
  CHECK(r.end->code == 408);
  // RFC 3261 §17.1.1.2: Timer A doubles from T1 = 500 ms; Timer B = 64·T1 = 32 s.
  const std::vector<std::chrono::milliseconds> want{0ms, 500ms, 1500ms, 3500ms, 7500ms, 15500ms, 31500ms};
  REQUIRE(sends.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(sends[i] >= want[i]);
    CHECK(sends[i] <= want[i] + 20ms);
  }
  CHECK(r.elapsed(r.ended_at) >= 32000ms);
  CHECK(r.elapsed(r.ended_at) <= 32100ms);
  CHECK_FALSE(r.has(CallState::ringing));
}

TEST_CASE("sip call (in memory): 180 then 200: RINGING, ACTIVE, ACK in the dialog; a retransmitted 200 is ACKed again") {
  Rig r;
  auto invite = answered(r);
  CHECK(r.has(CallState::ringing));
  CHECK(r.has(CallState::active));
  REQUIRE(r.media->answers.size() == 1);
  auto ack = r.take_one("ACK");
  // §13.2.2.4: to the Contact, same CSeq number, the To tag of the 2xx.
  CHECK(std::string(ack->msg.request_uri) == "sip:far@192.0.2.2:5060");
  CHECK(ack->cseq() == invite->cseq());
  CHECK(ack->h(HeaderId::to).find(";tag=far1") != std::string::npos);
  REQUIRE(r.net->deliver(response(*invite, 200, "OK", "far1", "", sdp(1))));
  r.settle();
  auto again = r.take_one("ACK");
  CHECK(again->text == ack->text);
  CHECK(r.media->answers.size() == 1);  // a retransmission is no new answer
  // The far end hangs up: 200 to its BYE, the call ends 700.
  REQUIRE(r.net->deliver(far_request(*invite, "BYE", 1)));
  r.settle();
  auto ok = r.take_one("200");
  CHECK(ok->h(HeaderId::cseq) == "1 BYE");
  REQUIRE(r.end);
  CHECK(r.end->code == 700);
}

TEST_CASE("sip call (in memory): ringing past the ring timeout: CANCEL, and the 487 ends the call") {
  Rig r;
  CallParams p;
  p.ring_timeout = 30s;
  r.dial(p);
  auto invite = r.take_one("INVITE");
  REQUIRE(r.net->deliver(response(*invite, 180, "Ringing")));
  r.step(29900ms, 100ms);
  CHECK(r.take().empty());  // nothing before the limit (180 stopped the retransmissions)
  r.step(200ms);
  auto cancel = r.take_one("CANCEL");
  CHECK(cancel->cseq() == invite->cseq());  // §9.1: same CSeq number, same branch
  REQUIRE(r.net->deliver(response(*cancel, 200, "OK")));
  REQUIRE(r.net->deliver(response(*invite, 487, "Request Terminated")));
  r.settle();
  REQUIRE(r.end);
  CHECK(r.end->code == 408);  // CallParams: no final answer in time → 408
  CHECK_FALSE(r.has(CallState::active));
}

TEST_CASE("sip call (in memory): the 6-hour cap ends an answered call with BYE and 705, stepped in well under a second") {
  Rig r;
  auto invite = answered(r);
  r.take();
  r.step(6h - 2s, 1s);
  CHECK_FALSE(r.end);
  r.step(3s, 100ms);
  auto bye = r.take_one("BYE");
  REQUIRE(r.net->deliver(response(*bye, 200, "OK")));
  r.settle();
  REQUIRE(r.end);
  CHECK(r.end->code == 705);
  CHECK(r.elapsed(r.ended_at) >= std::chrono::milliseconds(6h));
}

TEST_CASE("sip call (in memory): no media ever received: BYE and 704 at 5 minutes, not before") {
  Rig r;
  r.media->since_last_packet.reset();
  auto invite = answered(r);
  r.take();
  r.step(299s, 1s);
  CHECK_FALSE(r.end);
  CHECK(r.take().empty());
  r.step(6s, 100ms);  // the rule is checked every 5 s
  auto bye = r.take_one("BYE");
  REQUIRE(r.net->deliver(response(*bye, 200, "OK")));
  r.settle();
  REQUIRE(r.end);
  CHECK(r.end->code == 704);
}

TEST_CASE("sip call (in memory): as refresher (Session-Expires: 90;refresher=uac) the gateway re-INVITEs at 45 s; the 2xx answer is applied") {
  Rig r;
  auto invite = answered(r, "Require: timer\r\nSession-Expires: 90;refresher=uac\r\n");
  r.take();
  r.step(44900ms, 100ms);
  CHECK(r.take().empty());
  r.step(200ms);
  auto re = r.take_one("INVITE");
  // RFC 4028 §7.4 + RFC 3264 §8: in the dialog, next CSeq, a new offer, the interval kept.
  CHECK(std::string(re->msg.request_uri) == "sip:far@192.0.2.2:5060");
  CHECK(re->cseq() == invite->cseq() + 1);
  CHECK(re->h(HeaderId::session_expires) == "90;refresher=uac");
  CHECK(r.media->current_offers == 1);
  REQUIRE(r.net->deliver(response(*re, 200, "OK", "far1", "Require: timer\r\nSession-Expires: 90;refresher=uac\r\n",
                                  sdp(2))));
  r.settle();
  CHECK(r.take_one("ACK")->cseq() == re->cseq());
  REQUIRE(r.media->answers.size() == 2);
  CHECK(r.media->answers[1].find("o=- 1 2 ") != std::string::npos);
  CHECK_FALSE(r.end);
}

TEST_CASE("sip call (in memory): a far end that answered, then stops answering: the refresh re-INVITE runs out Timer B, a BYE goes (also unanswered) and the call ends 408") {
  Rig r;
  answered(r, "Require: timer\r\nSession-Expires: 90;refresher=uac\r\n");
  r.take();
  r.step(45100ms, 100ms);
  auto re = r.take_one("INVITE");  // never answered from here on
  const auto sent_at = r.elapsed(SipClock::now());
  int resends = 0;
  std::optional<std::chrono::milliseconds> bye_at;
  for (int i = 0; i < 8000 && !r.end; ++i) {
    for (auto& w : r.take()) {
      if (w->method() == "INVITE") ++resends;
      if (w->method() == "BYE" && !bye_at) bye_at = r.elapsed(SipClock::now()) - sent_at;
    }
    r.step(10ms);
  }
  REQUIRE(r.end);
  CHECK(r.end->code == 408);  // RFC 3261 §12.2.1.2: a 408 in the dialog ends it
  CHECK(resends == 6);        // Timer A: T1, 2T1 … within 64·T1
  // Timer B = 64·T1 = 32 s, then the BYE (the far end may only have lost our direction), which
  // gets its own Timer F (32 s) before the call is over.
  REQUIRE(bye_at);
  CHECK(*bye_at >= 31900ms);
  CHECK(*bye_at <= 32600ms);
  const auto took = r.elapsed(r.ended_at) - sent_at;
  CHECK(took >= 63900ms);
  CHECK(took <= 65000ms);
}

TEST_CASE("sip call (in memory): a 2xx that cannot be keyed: ACK, re-offer by re-INVITE in the dialog, ACTIVE on its answer") {
  Rig r;
  r.media->refuse_answers = 1;
  auto invite = answered(r);
  CHECK_FALSE(r.has(CallState::active));  // not before the re-offer is answered
  auto sent = r.take();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0]->method() == "ACK");
  REQUIRE(sent[1]->method() == "INVITE");
  const auto& re = *sent[1];
  CHECK(std::string(re.msg.request_uri) == "sip:far@192.0.2.2:5060");  // to the Contact
  CHECK(re.h(HeaderId::call_id) == invite->h(HeaderId::call_id));
  CHECK(re.h(HeaderId::to).find(";tag=far1") != std::string::npos);
  CHECK(re.cseq() == invite->cseq() + 1);
  CHECK(r.media->reoffers == 1);
  REQUIRE(r.net->deliver(response(re, 200, "OK", "far1", "", sdp(2))));
  r.settle();
  CHECK(r.take_one("ACK")->cseq() == re.cseq());
  CHECK(r.has(CallState::active));
  CHECK(r.media->answers.size() == 2);
  CHECK_FALSE(r.end);
}

TEST_CASE("sip call (in memory): a far end that never ACKs our 2xx to its re-INVITE: 2xx resent T1, 2T1 … T2, then BYE, 408") {
  Rig r;
  auto invite = answered(r);
  r.take();
  REQUIRE(r.net->deliver(far_request(*invite, "INVITE", 2, sdp(3))));
  r.settle();
  CHECK(r.take_one("200")->h(HeaderId::cseq) == "2 INVITE");
  std::vector<std::chrono::milliseconds> resent;
  const auto from = SipClock::now();
  for (int i = 0; i < 3300 && !r.end; ++i) {
    r.step(10ms);
    for (auto& w : r.take()) {
      if (w->msg.is_response() && w->msg.status_code == 200)
        resent.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(SipClock::now() - from));
      if (w->method() == "BYE") REQUIRE(r.net->deliver(response(*w, 200, "OK")));
    }
  }
  CAPTURE(resent.size());
  REQUIRE(r.end);
  CHECK(r.end->code == 408);
  // §13.3.1.4: T1, 2T1, 4T1, then T2 (4 s) apart, until 64·T1 = 32 s.
  REQUIRE(resent.size() >= 4);
  CHECK(resent[0] >= 500ms);
  CHECK(resent[0] <= 520ms);
  CHECK(resent[1] - resent[0] >= 1000ms);
  CHECK(resent[2] - resent[1] >= 2000ms);
  CHECK(resent[3] - resent[2] >= 4000ms);
  CHECK(resent.back() <= 32000ms);
  // The BYE goes at 64·T1 after our 2xx, not at the next retransmission after that.
  CHECK(r.elapsed(r.ended_at) - r.elapsed(from) >= 32000ms);
  CHECK(r.elapsed(r.ended_at) - r.elapsed(from) <= 32100ms);
}
