// libFuzzer target for src/rtp/dtmf.{hpp,cpp}: the RFC 4733 receiver and the SIP INFO parsers
// on arbitrary input, and the sender → receiver round trip on fuzzed digit strings.
//
// The whole input is an INFO body (both parsers, and the Content-Type dispatch). It is also
// read as records driving a DtmfReceiver — op byte, 16-bit timestamp step, length, payload —
// with markers, sequence steps (duplicates and reordering included), audio, timers and resets;
// every digit it reports must be a DTMF character, its counters must add up and a reported
// timeout must close the event. Finally the bytes pick digits that a DtmfSender plays into a
// receiver, every packet delivered twice: exactly those digits must come out, in order.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//       -Isrc fuzz/rtp_dtmf.cpp src/rtp/dtmf.cpp src/rtp/packet.cpp -lspandsp \
//       -o /tmp/fuzz_rtp_dtmf
//   /tmp/fuzz_rtp_dtmf fuzz/corpus/rtp_dtmf
#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "rtp/dtmf.hpp"

namespace {

using namespace sb::rtp;
using sb::fuzz::require;

bool dtmf_char(char c) { return std::string_view("0123456789*#ABCD").find(c) != std::string_view::npos; }

void check_digit(const DtmfDigit& d) { require(dtmf_char(d.digit), "a reported digit is a DTMF digit"); }

void exercise_info(std::string_view body) {
  for (const auto& d : {parse_dtmf_relay(body), parse_dtmf_body(body),
                        parse_sip_info_dtmf("application/dtmf-relay", body),
                        parse_sip_info_dtmf("application/dtmf", body)})
    if (d) check_digit(*d);
  if (const auto d = parse_dtmf_body(body)) require(body.size() <= 64, "dtmf body size limit");
  if (const auto d = parse_dtmf_relay(body)) require(body.size() <= 1024, "relay body size limit");
}

void exercise_receiver(std::span<const std::uint8_t> in) {
  DtmfReceiver r({in.empty() || (in[0] & 1) ? 8000u : 48000u, 500});
  std::uint32_t ts = 1000;
  std::uint16_t seq = 100;
  std::int64_t now = 0;
  std::uint64_t reported = 0;
  auto count = [&](const std::optional<DtmfDigit>& d) {
    if (d) {
      check_digit(*d);
      ++reported;
    }
  };
  std::size_t i = 0;
  while (i + 4 <= in.size()) {
    const std::uint8_t op = in[i];
    ts += static_cast<std::uint32_t>((in[i + 1] << 8) | in[i + 2]) - 0x100; // may step back
    const std::size_t len = std::min<std::size_t>(in[i + 3] & 0x0f, in.size() - i - 4);
    const auto payload = in.subspan(i + 4, len);
    i += 4 + len;
    seq = static_cast<std::uint16_t>(seq + ((op >> 3) & 7) - 2);
    now += (op >> 6) * 30;
    switch ((op >> 1) & 3) {
      case 0: {
        const auto got = r.on_event(payload, ts, op & 1, seq, now);
        require(got.size() <= 2, "at most two digits per packet");
        for (const auto& d : got) count(d);
        break;
      }
      case 1: count(r.on_audio(ts)); break;
      case 2: {
        const auto dl = r.deadline();
        const auto d = r.on_timer(now);
        count(d);
        if (d) require(dl && now >= *dl && !r.deadline(), "a timeout closes the event");
        break;
      }
      default: r.reset(); require(!r.deadline(), "reset leaves nothing open");
    }
    require(r.stats().digits == reported, "digits counted as reported");
    require(r.stats().end_lost <= r.stats().digits, "cut-short digits are digits");
  }
}

void round_trip(std::span<const std::uint8_t> in) {
  static constexpr std::string_view k_alphabet = "0123456789*#ABCDp";
  std::string digits, expect;
  for (std::size_t i = 1; i < in.size() && digits.size() < 24; ++i) {
    const char c = k_alphabet[in[i] % k_alphabet.size()];
    digits += c;
    if (c != 'p') expect += c;
  }
  if (digits.empty()) return;
  const bool wide = !in.empty() && (in[0] & 2);
  const std::uint32_t rate = wide ? 48000 : 8000, units = rate / 50;
  DtmfSender s(DtmfSenderConfig{rate, 101, 20, {}});
  require(s.enqueue(digits), "valid digits queue");
  DtmfReceiver r({rate, 1000});
  std::string got;
  std::uint32_t ts = 0xFFFF0000u; // the timestamp wraps in longer runs
  std::uint16_t seq = 0;
  for (int tick = 0; tick < 2000 && !s.idle(); ++tick, ts += units, ++seq) {
    if (const auto p = s.next(ts)) {
      for (int copy = 0; copy < 2; ++copy)
        for (const auto& d : r.on_event(p->payload, p->timestamp, p->marker, seq, tick * 20))
          got += d.digit;
    } else if (const auto d = r.on_audio(ts)) {
      got += d->digit;
    }
  }
  require(s.idle(), "the sender finishes");
  require(got == expect, "the receiver reports exactly the digits sent, in order");
  require(r.stats().end_lost == 0, "nothing lost, nothing cut short");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  exercise_info(std::string_view(reinterpret_cast<const char*>(data), size));
  exercise_receiver(in);
  round_trip(in);
  return 0;
}
