// A whole INVITE session driven by a fuzzed far end: a sip::UserAgent on a MemoryNetwork and a
// frozen SipClock dials one call, then the input is played as a script of far-end messages
// (responses, re-INVITEs, UPDATEs, BYEs, INFOs, garbage), clock steps, a hangup and a media
// failure. Messages may name what the gateway last sent — [branch], [via], [call_id], [from],
// [to], [cseq], [method], [contact] — so fuzzed input gets past transaction and dialog matching
// into the call's state machine (the way sipp scenarios do).
//
// Script: chunks separated by "\n--\n"; a chunk's first byte says what it is:
//   'M' <message>   the far end sends it (placeholders filled in)
//   'T' <byte n>    the clock moves n × 250 ms
//   'H'             the REST side hangs up (CANCEL before the answer, BYE after)
//   'F'             the media fails (a DTLS handshake that died)
// Invariants: no crash, no hang — after a hangup and 10 minutes of stepped time every call has
// ended; the call reports its end exactly once and no state after it; its bounded inbox and
// the recorded network traffic stay bounded.
#include "fuzz_support.hpp"

#include "base/log.hpp"
#include "sip/memory_network.hpp"
#include "sip/user_agent.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

using namespace sb;
using namespace sb::sip;

namespace {

// Fixed SDP answers: the media accepts an answer that starts "v=0" and no other.
class FuzzMedia final : public CallMedia {
 public:
  explicit FuzzMedia(bool* failed) : failed_(failed) {}
  std::string offer() override { return sdp(); }
  std::error_code apply_answer(std::string_view s) override {
    if (s.starts_with("v=0")) return {};
    return std::make_error_code(std::errc::protocol_error);
  }
  bool reoffer_after(std::error_code) override { return !reoffered_ && (reoffered_ = true); }
  std::optional<std::string> answer_offer(std::string_view s, bool& on_hold) override {
    if (!s.starts_with("v=0")) return std::nullopt;
    on_hold = s.find("a=sendonly") != std::string_view::npos || s.find("a=inactive") != std::string_view::npos;
    return sdp();
  }
  std::string current_offer() override { return sdp(); }
  std::optional<std::chrono::milliseconds> since_last_packet() const override { return std::chrono::milliseconds(0); }
  void stop() override {}
  std::optional<std::string> failure() const override {
    return *failed_ ? std::optional<std::string>("fuzzed media failure") : std::nullopt;
  }
  void on_failure(std::function<void()> wake) override { wake_ = std::move(wake); }
  void fail() {
    *failed_ = true;
    if (wake_) wake_();
  }

 private:
  static std::string sdp() {
    return "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n";
  }
  bool* failed_;
  bool reoffered_ = false;
  std::function<void()> wake_;
};

// Header values of the last request the gateway sent, for the placeholders.
struct LastRequest {
  std::string branch, via, call_id, from, to, cseq, method, contact;
};

std::string header(const Message& m, HeaderId id) {
  const Header* h = m.find(id);
  return h ? std::string(h->value) : std::string();
}

void remember(const std::string& wire, LastRequest& last) {
  Message m;
  if (parse_message(wire, m, Limits{}, false).status != parse_status::ok || !m.is_request()) return;
  last.via = header(m, HeaderId::via);
  if (auto b = last.via.find("branch="); b != std::string::npos) {
    last.branch = last.via.substr(b + 7);
    if (auto e = last.branch.find(';'); e != std::string::npos) last.branch.resize(e);
  }
  last.call_id = header(m, HeaderId::call_id);
  last.from = header(m, HeaderId::from);
  last.to = header(m, HeaderId::to);
  last.method = std::string(m.method_text);
  auto cseq = header(m, HeaderId::cseq);
  last.cseq = cseq.substr(0, cseq.find(' '));
  if (auto c = header(m, HeaderId::contact); !c.empty()) {
    auto a = c.find('<'), z = c.find('>');
    last.contact = a != std::string::npos && z != std::string::npos && z > a ? c.substr(a + 1, z - a - 1) : c;
  }
}

std::string fill(std::string_view tmpl, const LastRequest& last) {
  std::string out;
  out.reserve(tmpl.size() + 256);
  for (std::size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '[') {
      const auto z = tmpl.find(']', i);
      if (z != std::string_view::npos && z - i < 12) {
        const auto name = tmpl.substr(i + 1, z - i - 1);
        const std::string* v = name == "branch"    ? &last.branch
                               : name == "via"     ? &last.via
                               : name == "call_id" ? &last.call_id
                               : name == "from"    ? &last.from
                               : name == "to"      ? &last.to
                               : name == "cseq"    ? &last.cseq
                               : name == "method"  ? &last.method
                               : name == "contact" ? &last.contact
                                                   : nullptr;
        if (v) {
          out += *v;
          i = z + 1;
          continue;
        }
      }
    }
    out += tmpl[i++];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!std::getenv("SB_FUZZ_LOG")) log::set_level(log::Level::off);  // SB_FUZZ_LOG=1: see the call
  SipClock::freeze();  // for good: this process only ever steps it
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  boost::asio::io_context io;
  auto net_owner = std::make_unique<MemoryNetwork>();
  MemoryNetwork* net = net_owner.get();
  net->max_recorded = 256;
  UserAgentOptions opts;
  auto ua = std::make_unique<UserAgent>(io.get_executor(), opts, std::move(net_owner));
  ua->start();

  auto settle = [&] {
    for (int i = 0; i < 1000; ++i) {
      io.restart();
      if (io.poll() == 0) return;
    }
  };
  LastRequest last;
  auto drain = [&] {
    for (const auto& s : net->sent)
      if (!s.is_reply) remember(s.wire, last);
    net->sent.clear();
  };
  // The clock moves in 250 ms ticks: every RFC 3261 timer the UA runs (T1 = 500 ms and its
  // doublings, 32 s, 64·T1) falls on a tick, so a finer tick fires nothing new — it only cost
  // reactor work per tick (50 ms ticks made this target ≈ 3.5× slower). The fuzz preset builds
  // Asio's select reactor (CMakeLists.txt): with epoll each poll also re-armed a timerfd.
  auto step = [&](std::chrono::milliseconds d) {
    for (std::chrono::milliseconds done{}; done < d; done += std::chrono::milliseconds(250)) {
      SipClock::advance(std::chrono::milliseconds(250));
      settle();
      drain();
    }
  };

  int ends = 0, states_after_end = 0;
  bool media_failed = false;
  auto media = std::make_unique<FuzzMedia>(&media_failed);
  FuzzMedia* media_ptr = media.get();
  CallParams p;
  p.id = "fuzz-call";
  p.session_id = "1_MX4xMjM0NTZ-";
  p.uri = "sip:far@192.0.2.2";
  p.ring_timeout = std::chrono::seconds(60);
  p.auth = Credentials{"fuzz", "secret"};  // so 401/407 challenges reach the digest code
  CallObserver obs;
  obs.on_state = [&](CallState) { states_after_end += ends > 0; };
  obs.on_end = [&](const CallEnd&) { ++ends; };
  auto call = ua->dial(std::move(p), std::move(media), std::move(obs));
  fuzz::require(call != nullptr, "dial refused");
  settle();
  drain();

  std::size_t at = 0;
  int chunks = 0;
  while (at < input.size() && chunks++ < 64) {
    auto end = input.find("\n--\n", at);
    if (end == std::string_view::npos) end = input.size();
    const auto chunk = input.substr(at, end - at);
    at = end + 4;
    if (chunk.empty()) continue;
    switch (chunk[0]) {
      case 'M':
        net->deliver(fill(chunk.substr(1), last));
        break;
      case 'T':
        step(std::chrono::milliseconds(250) * (chunk.size() > 1 ? static_cast<unsigned char>(chunk[1]) : 1));
        break;
      case 'H':
        if (ends == 0) call->hangup();
        break;
      case 'F':
        if (ends == 0) media_ptr->fail();
        break;
      default:
        break;
    }
    settle();
    drain();
  }
  // Whatever happened, a hangup must end the call within bounded (stepped) time: Timer B/F are
  // 32 s, a CANCEL waits 64·T1 more; 10 minutes is far beyond any legitimate wait.
  if (ends == 0) call->hangup();
  for (int i = 0; i < 600 && ua->active_calls() > 0; ++i) step(std::chrono::seconds(1));
  fuzz::require(ua->active_calls() == 0, "a hung-up call did not end within 10 minutes");
  fuzz::require(ends == 1, "the call reported its end other than exactly once");
  fuzz::require(states_after_end == 0, "a state change after the end");
  fuzz::require(net->sent.size() <= 256, "recorded traffic unbounded");
  call.reset();
  ua->stop();
  settle();
  return 0;
}
