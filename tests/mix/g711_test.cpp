// G.711 µ-law/A-law against the standard's quantization rules (ITU-T G.711 Tables 1a/2a) and the
// reference behaviour of Sun's g711.c. The expected values here are written from the standard
// independently of src/mix/g711.cpp (formula per code, search tables per sample), not copied.
#include "mix/g711.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <numbers>
#include <cstdint>
#include <vector>

using namespace sb::mix;

namespace {

// Decode per G.711: µ-law value = ±((((mantissa << 3) + 0x84) << exponent) − 0x84), where the
// transmitted code is the bit inverse of sign|exponent|mantissa; sign bit 1 = positive.
int ulaw_reference_decode(int code) {
  const int u = ~code & 0xFF;
  const int exponent = (u >> 4) & 7;
  const int mantissa = u & 0x0F;
  const int magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  return (u & 0x80) ? -magnitude : magnitude;
}

// A-law: the code has its even bits inverted (XOR 0x55); sign bit 1 = positive. Segment 0 is
// linear with step 16 (in 16-bit units), segment e ≥ 1 starts at 256 << (e − 1), step 16 << (e−1);
// the decoded value is the middle of the interval.
int alaw_reference_decode(int code) {
  const int a = code ^ 0x55;
  const int exponent = (a >> 4) & 7;
  const int mantissa = a & 0x0F;
  const int magnitude = exponent == 0 ? (mantissa << 4) + 8
                                      : ((mantissa << 4) + 0x108) << (exponent - 1);
  return (a & 0x80) ? magnitude : -magnitude;
}

// Sun g711.c linear2ulaw / linear2alaw, with its segment-end search tables.
constexpr std::array<int, 8> seg_uend{0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF};
constexpr std::array<int, 8> seg_aend{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF};

int search(int val, const std::array<int, 8>& table) {
  for (int i = 0; i < 8; ++i)
    if (val <= table[static_cast<std::size_t>(i)]) return i;
  return 8;
}

int sun_linear2ulaw(int pcm) {
  int mask;
  pcm >>= 2;
  if (pcm < 0) {
    pcm = -pcm;
    mask = 0x7F;
  } else {
    mask = 0xFF;
  }
  if (pcm > 8159) pcm = 8159;
  pcm += 0x84 >> 2;
  const int seg = search(pcm, seg_uend);
  if (seg >= 8) return 0x7F ^ mask;
  return ((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) ^ mask;
}

int sun_linear2alaw(int pcm) {
  int mask;
  pcm >>= 3;
  if (pcm >= 0) {
    mask = 0xD5;
  } else {
    mask = 0x55;
    pcm = -pcm - 1;
  }
  const int seg = search(pcm, seg_aend);
  if (seg >= 8) return 0x7F ^ mask;
  int aval = seg << 4;
  aval |= seg < 2 ? (pcm >> 1) & 0xF : (pcm >> seg) & 0xF;
  return aval ^ mask;
}

double sine_snr_db(bool ulaw, double amplitude) {
  constexpr int n = 8000;  // one second at 8 kHz
  std::vector<std::int16_t> pcm(n), back(n);
  std::vector<std::uint8_t> codes(n);
  for (int i = 0; i < n; ++i)
    pcm[static_cast<std::size_t>(i)] =
        static_cast<std::int16_t>(std::lround(amplitude * std::sin(2 * std::numbers::pi * 1011.0 * i / 8000.0)));
  if (ulaw) {
    ulaw_encode(pcm, codes);
    ulaw_decode(codes, back);
  } else {
    alaw_encode(pcm, codes);
    alaw_decode(codes, back);
  }
  double sig = 0, err = 0;
  for (int i = 0; i < n; ++i) {
    const double x = pcm[static_cast<std::size_t>(i)];
    const double e = x - back[static_cast<std::size_t>(i)];
    sig += x * x;
    err += e * e;
  }
  return 10 * std::log10(sig / err);
}

} // namespace

TEST_CASE("every µ-law code decodes to the G.711 reconstruction value") {
  for (int c = 0; c < 256; ++c) {
    CAPTURE(c);
    CHECK(ulaw_decode_sample(static_cast<std::uint8_t>(c)) == ulaw_reference_decode(c));
  }
  CHECK(ulaw_decode_sample(0x00) == -32124);
  CHECK(ulaw_decode_sample(0x80) == 32124);
  CHECK(ulaw_decode_sample(0xFF) == 0);
  CHECK(ulaw_decode_sample(0x7F) == 0);
}

TEST_CASE("every A-law code decodes to the G.711 reconstruction value") {
  for (int c = 0; c < 256; ++c) {
    CAPTURE(c);
    CHECK(alaw_decode_sample(static_cast<std::uint8_t>(c)) == alaw_reference_decode(c));
  }
  CHECK(alaw_decode_sample(0xD5) == 8);
  CHECK(alaw_decode_sample(0x55) == -8);
  CHECK(alaw_decode_sample(0xAA) == 32256);
  CHECK(alaw_decode_sample(0x2A) == -32256);
}

TEST_CASE("encode matches Sun g711.c for every 16-bit input") {
  int ulaw_mismatch = 0, alaw_mismatch = 0;
  for (int x = -32768; x <= 32767; ++x) {
    const auto s = static_cast<std::int16_t>(x);
    ulaw_mismatch += ulaw_encode_sample(s) != sun_linear2ulaw(x);
    alaw_mismatch += alaw_encode_sample(s) != sun_linear2alaw(x);
  }
  CHECK(ulaw_mismatch == 0);
  CHECK(alaw_mismatch == 0);
}

TEST_CASE("decode then encode is the identity except µ-law negative zero 0x7F → 0xFF") {
  for (int c = 0; c < 256; ++c) {
    CAPTURE(c);
    const auto code = static_cast<std::uint8_t>(c);
    if (c == 0x7F)
      CHECK(ulaw_encode_sample(ulaw_decode_sample(code)) == 0xFF);
    else
      CHECK(ulaw_encode_sample(ulaw_decode_sample(code)) == code);
    // A-law has no zero code: all 256 round-trip.
    CHECK(alaw_encode_sample(alaw_decode_sample(code)) == code);
  }
  CHECK(ulaw_encode_sample(0) == ulaw_silence);
  CHECK(alaw_encode_sample(0) == alaw_silence);
}

TEST_CASE("encoding is monotonic: the reconstructed level never decreases as the input rises") {
  int prev_u = -40000, prev_a = -40000;
  for (int x = -32768; x <= 32767; ++x) {
    const auto s = static_cast<std::int16_t>(x);
    const int u = ulaw_decode_sample(ulaw_encode_sample(s));
    const int a = alaw_decode_sample(alaw_encode_sample(s));
    REQUIRE(u >= prev_u);
    REQUIRE(a >= prev_a);
    prev_u = u;
    prev_a = a;
  }
}

TEST_CASE("full-scale inputs clip to the largest code of each sign") {
  CHECK(ulaw_encode_sample(32767) == 0x80);
  CHECK(ulaw_encode_sample(-32768) == 0x00);
  CHECK(ulaw_encode_sample(32124) == 0x80);
  CHECK(alaw_encode_sample(32767) == 0xAA);
  CHECK(alaw_encode_sample(-32768) == 0x2A);
  CHECK(ulaw_decode_sample(ulaw_encode_sample(32767)) == 32124);
  CHECK(alaw_decode_sample(alaw_encode_sample(-32768)) == -32256);
}

TEST_CASE("block functions convert the shorter of the two spans") {
  const std::array<std::int16_t, 4> pcm{0, 1000, -1000, 32767};
  std::array<std::uint8_t, 3> codes{};
  CHECK(ulaw_encode(pcm, codes) == 3);
  CHECK(codes[0] == 0xFF);
  std::array<std::int16_t, 8> back{};
  CHECK(alaw_decode(codes, back) == 3);
  CHECK(alaw_encode(std::span<const std::int16_t>{}, codes) == 0);
}

TEST_CASE("quantization SNR of a sine is about 38 dB over a wide range of levels") {
  // G.711 is designed for a roughly constant SNR (≈ 38 dB µ-law, ≈ 37–38 dB A-law) from about
  // −30 dBm0 up to full scale.
  for (double amp : {30000.0, 16000.0, 4000.0, 1000.0}) {
    CAPTURE(amp);
    const double u = sine_snr_db(true, amp);
    const double a = sine_snr_db(false, amp);
    MESSAGE("amp " << amp << ": µ-law " << u << " dB, A-law " << a << " dB");
    CHECK(u > 35.0);
    CHECK(u < 41.0);
    CHECK(a > 35.0);
    CHECK(a < 41.0);
  }
}
