// libFuzzer target for src/mix/jitter_buffer.{hpp,cpp}: a stateful layer driven by arbitrary
// push/pop sequences.
//
// Input: 2 config bytes (ring size, frame_ts selector), then 8-byte records:
//   op(1) seq(2) ts_delta(2, signed, × 8) arrival_delta(1, ms) payload_size(1) reserved(1)
// op & 1 → push, else pop; op & 2 jumps the clock back to the last arrival (pop time and arrival
// times need not be monotonic with each other). Invariants checked after every call: frames held
// ≤ max_frames, reported depth ≤ max_frames × frame, a frame result carries a non-empty payload
// no larger than max_payload, counters add up.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//       -Isrc fuzz/mix_jitter_buffer.cpp src/mix/jitter_buffer.cpp -o /tmp/fuzz_mix_jitter_buffer
//   /tmp/fuzz_mix_jitter_buffer fuzz/corpus/mix_jitter_buffer
#include "fuzz_support.hpp"
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "mix/jitter_buffer.hpp"

namespace {

using namespace sb::mix;

using sb::fuzz::require;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  JitterConfig cfg;
  cfg.max_frames = 1 + data[0] % 64;
  cfg.frame_ts = (data[1] & 1) ? 160 : 960; // 8 kHz or 48 kHz, 20 ms
  cfg.max_payload = 200;
  cfg.shrink_interval = 1 + (data[1] >> 1) % 64;
  JitterBuffer jb(cfg);
  data += 2;
  size -= 2;

  static const std::vector<std::uint8_t> bytes(256, 0xAB);
  JitterTime arrival{std::chrono::seconds(1)};
  JitterTime now = arrival;
  std::uint32_t ts = 0;
  for (; size >= 8; data += 8, size -= 8) {
    const std::uint8_t op = data[0];
    const auto seq = static_cast<std::uint16_t>(data[1] | (data[2] << 8));
    const auto dts = static_cast<std::int16_t>(data[3] | (data[4] << 8));
    ts += static_cast<std::uint32_t>(static_cast<std::int32_t>(dts) * 8);
    arrival += std::chrono::milliseconds(data[5]);
    const std::size_t len = data[6];
    if (op & 2) now = arrival;
    if (op & 1) {
      jb.push(seq, ts, std::span<const std::uint8_t>(bytes.data(), len), arrival);
    } else {
      now += std::chrono::milliseconds(20);
      const PopResult r = jb.pop(now);
      if (r.kind == pop_kind::frame)
        require(!r.payload.empty() && r.payload.size() <= cfg.max_payload, "frame payload size");
      else
        require(r.payload.empty(), "payload only with a frame");
      require(r.fec_payload.size() <= cfg.max_payload, "fec payload size");
    }
    const JitterStats st = jb.stats();
    require(jb.frames_buffered() <= cfg.max_frames, "frames held <= max_frames");
    require(st.depth <= cfg.frame * static_cast<int>(cfg.max_frames), "depth bounded");
    require(st.depth.count() >= 0, "depth non-negative");
    require(st.target >= cfg.frame && st.target <= cfg.frame * static_cast<int>(cfg.max_frames),
            "target bounded");
    require(st.accepted + st.duplicates + st.late + st.too_far + st.too_large == st.received,
            "every push counted once");
    require(st.played + st.overflow_drops + st.shrink_drops + jb.frames_buffered() <= st.accepted,
            "no frame created");
  }
  return 0;
}
