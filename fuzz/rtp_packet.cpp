// libFuzzer target for src/rtp/packet.{hpp,cpp} and src/rtp/seq.hpp.
//
// parse_rtp must never read outside its input; whatever it accepts must serialise with
// write_rtp and parse back to the same fields. The input also drives the RFC 3550 A.1 sequence
// tracker and A.8 jitter estimator (as 16-bit seq / 32-bit timestamp words) to check their
// invariants, and the demux and RFC 4733 helpers see the same bytes.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//       -Isrc fuzz/rtp_packet.cpp src/rtp/packet.cpp -o /tmp/fuzz_rtp_packet
//   /tmp/fuzz_rtp_packet fuzz/corpus/rtp_packet
#include "fuzz_support.hpp"
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "rtp/packet.hpp"
#include "rtp/seq.hpp"

namespace {

using namespace sb::rtp;

using sb::fuzz::require;

using sb::fuzz::inside;

bool same_bytes(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

void exercise_seq(std::span<const std::uint8_t> in) {
  SequenceTracker t;
  JitterEstimator j;
  std::uint64_t last_max = 0;
  for (std::size_t i = 0; i + 6 <= in.size(); i += 6) {
    const auto seq = static_cast<std::uint16_t>((in[i] << 8) | in[i + 1]);
    const std::uint32_t ts = (std::uint32_t{in[i + 2]} << 24) | (std::uint32_t{in[i + 3]} << 16) |
                             (std::uint32_t{in[i + 4]} << 8) | in[i + 5];
    const bool restart_possible = t.valid();
    const std::uint64_t received_before = t.received();
    const bool ok = t.update(seq);
    j.update(ts, ts + static_cast<std::uint32_t>(seq) * 37u);
    if (ok) require(t.valid(), "an accepted packet means a valid source");
    if (t.valid()) {
      require(t.extended_max() >= t.base_seq(), "max never below base");
      require(t.expected() == t.extended_max() - t.base_seq() + 1, "A.3 expected");
      require(t.received() >= 1, "a valid source received its first packet");
      if (t.received() > received_before && restart_possible)
        require(t.extended_max() >= last_max || t.received() == 1, "max only moves forward");
      require(t.extend(t.max_seq()) == t.extended_max(), "extend(max) is the max");
      const auto r = t.report();
      require(r.cumulative_lost <= 0x7fffff && r.cumulative_lost >= -0x800000, "24-bit lost");
      last_max = t.extended_max();
    }
    (void)seq_newer(seq, t.max_seq());
    require(seq_diff(seq, seq) == 0, "distance to itself");
  }
  (void)j.jitter();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  if (size > 0) (void)classify(in[0]);
  const bool rtcp = looks_like_rtcp(in);
  if (rtcp) require(size >= 4 && (in[1] & 0x7f) >= 64 && (in[1] & 0x7f) <= 95, "RFC 5761 range");
  exercise_seq(in);

  const auto v = parse_rtp(in);
  if (!v) {
    require(static_cast<bool>(v.error), "a rejection has a reason");
    return 0;
  }
  require(!v.error, "no error on success");
  require(inside(v->csrc_bytes, in) && inside(v->extension, in) && inside(v->payload, in),
          "views inside the input");
  require(v->csrc_bytes.size() == std::size_t{v->csrc_count} * 4, "CSRC bytes match CC");
  require(v->extension.size() % 4 == 0, "extension is whole words");
  require(v->payload_type < 128, "7-bit payload type");

  if (const auto ev = parse_dtmf(v->payload)) {
    std::array<std::uint8_t, 4> buf{};
    require(write_dtmf(buf, *ev) == 4, "DTMF writes");
    const auto again = parse_dtmf(buf);
    require(again && again->event == ev->event && again->end == ev->end &&
                again->volume == ev->volume && again->duration == ev->duration,
            "DTMF round trip");
  }

  static std::array<std::uint8_t, 1 << 18> out;
  const RtpHeader h = v->header();
  const std::size_t n = write_rtp(out, h, v->payload);
  require(n == size, "re-serialised size equals the input size");
  require(write_rtp(std::span(out).first(n - 1), h, v->payload) == 0, "one byte short fails");
  const auto w = parse_rtp(std::span(out).first(n));
  require(static_cast<bool>(w), "write_rtp output parses");
  require(w->marker == v->marker && w->payload_type == v->payload_type && w->seq == v->seq &&
              w->timestamp == v->timestamp && w->ssrc == v->ssrc &&
              w->csrc_count == v->csrc_count && same_bytes(w->csrc_bytes, v->csrc_bytes) &&
              w->has_extension == v->has_extension &&
              w->extension_profile == v->extension_profile &&
              same_bytes(w->extension, v->extension) && same_bytes(w->payload, v->payload) &&
              w->padding == v->padding,
          "round trip keeps every field");
  // Everything but the padding filler is byte-identical.
  require(same_bytes(std::span(out).first(n - v->padding), in.first(size - v->padding)),
          "headers and payload re-serialise byte for byte");
  return 0;
}
