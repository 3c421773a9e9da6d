// libFuzzer target for src/mix/codec.{hpp,cpp}, g722_codec.cpp, opus_codec.cpp and resampler.cpp:
// hostile RTP payloads into the stateful decoders (decode and conceal interleaved, so PLC and FEC
// run on whatever state earlier garbage left), arbitrary PCM through encoders and resamplers.
//
// Input: selector byte, then records.
//   selector % 5: 0 PCMU, 1 PCMA, 2 G.722, 3 Opus — decoder records:
//       op(1) len(1) payload(len)
//       op & 3 == 0 → conceal(payload as next_payload, samples = 120 × (1 + op >> 2)),
//       op & 3 == 3 → encode the payload bytes as PCM (one frame, zero-padded) and require that
//                     decode() of the result yields exactly one frame,
//       else        → decode(payload).
//   selector % 5 == 4: resampler — rates and quality from the next byte, then the rest as PCM fed
//       in chunks whose length comes from each chunk's first byte.
// Invariants: results are -1 or within the output span; encode→decode round trips always work;
// resampling a 20 ms frame at these rates yields exactly the scaled count.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function -Isrc \
//       fuzz/mix_codec.cpp src/mix/codec.cpp src/mix/g711.cpp src/mix/g722_codec.cpp \
//       src/mix/opus_codec.cpp src/mix/resampler.cpp -lopus -lspandsp -lspeexdsp -lm \
//       -o /tmp/fuzz_mix_codec
//   /tmp/fuzz_mix_codec fuzz/corpus/mix_codec
#include "fuzz_support.hpp"
#include "mix/codec.hpp"
#include "mix/resampler.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace sb::mix;

using sb::fuzz::require;

constexpr std::array<int, 3> rates{8000, 16000, 48000};

void fuzz_codec(CodecId id, const std::uint8_t* data, std::size_t size) {
  auto dec = make_decoder(id);
  CodecConfig cfg;
  cfg.id = id;
  auto enc = make_encoder(cfg);
  require(dec && enc, "codec construction");
  const auto fs = static_cast<std::size_t>(frame_samples(cfg));
  std::vector<std::int16_t> out(max_frame_samples);
  std::vector<std::int16_t> pcm(fs);
  std::vector<std::uint8_t> packet(max_encoded_bytes);
  while (size >= 2) {
    const std::uint8_t op = data[0];
    const std::size_t len = std::min<std::size_t>(data[1], size - 2);
    const std::span<const std::uint8_t> payload(data + 2, len);
    data += 2 + len;
    size -= 2 + len;
    if ((op & 3) == 0) {
      const int samples = 120 * (1 + (op >> 2)); // 2.5 ms units at 48 kHz, up to 160 ms
      const int n = dec->conceal(payload, samples, out);
      require(n == -1 || n == samples, "conceal count");
      // Every supported codec can conceal a whole 2.5 ms multiple that fits.
      require(n == samples || static_cast<std::size_t>(samples) > max_frame_samples,
              "conceal refused");
    } else if ((op & 3) == 3) {
      std::fill(pcm.begin(), pcm.end(), std::int16_t{0});
      std::memcpy(pcm.data(), payload.data(), std::min(len, fs * 2));
      const int n = enc->encode(pcm, packet);
      require(n > 0 && static_cast<std::size_t>(n) <= max_encoded_bytes, "encode");
      const int m = dec->decode(std::span(packet).first(static_cast<std::size_t>(n)), out);
      require(m == static_cast<int>(fs), "round trip");
    } else {
      const int n = dec->decode(payload, out);
      require(n >= -1 && n <= static_cast<int>(max_frame_samples), "decode count");
      if (id != CodecId::opus)
        require(n == (payload.empty() ? -1 : static_cast<int>(len) * (id == CodecId::g722 ? 2 : 1)),
                "fixed-rate decode count");
    }
  }
}

void fuzz_resampler(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return;
  const int in_rate = rates[data[0] % 3], out_rate = rates[(data[0] >> 2) % 3],
            quality = (data[0] >> 4) % 11;
  Resampler r(in_rate, out_rate, quality);
  ++data;
  --size;
  std::vector<std::int16_t> in, out(max_frame_samples * 6 + 8);
  const auto frame_in = static_cast<std::size_t>(in_rate / 50),
             frame_out = static_cast<std::size_t>(out_rate / 50);
  while (size >= 1) {
    // First byte 0: a whole 20 ms frame (exact count required, whatever phase ragged chunks
    // before it left); else that many samples.
    const bool whole = data[0] == 0;
    const std::size_t want = whole ? frame_in : data[0];
    ++data;
    --size;
    in.assign(want, 0);
    const std::size_t bytes = std::min(size, want * 2);
    std::memcpy(in.data(), data, bytes);
    data += bytes;
    size -= bytes;
    const int n = r.process(in, out);
    const auto ceil =
        (want * static_cast<std::size_t>(out_rate) + static_cast<std::size_t>(in_rate) - 1) /
        static_cast<std::size_t>(in_rate);
    require(n >= 0 && static_cast<std::size_t>(n) <= ceil, "chunk count");
    require(!whole || n == static_cast<int>(frame_out), "20 ms frame count");
    require(r.latency() >= 0, "latency");
    if (size > 0 && data[0] == 0xFF)
      r.reset();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  const unsigned selector = data[0] % 5;
  if (selector == 4)
    fuzz_resampler(data + 1, size - 1);
  else
    fuzz_codec(static_cast<CodecId>(selector), data + 1, size - 1);
  return 0;
}
