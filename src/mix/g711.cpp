// G.711 tables, built at compile time from the segment rules of ITU-T G.711 Tables 1a/2a (see
// g711.hpp). The per-sample rules below run only inside the constexpr table builders.
#include "mix/g711.hpp"

#include <algorithm>
#include <array>

namespace sb::mix {
namespace {

constexpr int ulaw_bias = 0x84; // 132 = 33 << 2: the µ-law offset that makes segments powers of 2
constexpr int ulaw_clip = 8159; // largest 14-bit magnitude before the bias (8159 + 33 = 8192 - 1)

// µ-law encode of one 14-bit value (the 16-bit input >> 2), G.711 Table 2a.
constexpr std::uint8_t ulaw_rule(int v14) {
  int mask = 0xFF;
  if (v14 < 0) {
    v14 = -v14;
    mask = 0x7F;
  }
  v14 = std::min(v14, ulaw_clip) + (ulaw_bias >> 2);
  int seg = 0; // segment = position of the leading one above bit 5 (values 33..8192)
  while (seg < 8 && v14 > (0x40 << seg) - 1) ++seg;
  if (seg >= 8) return static_cast<std::uint8_t>(0x7F ^ mask); // 8192: the clip level
  const int code = (seg << 4) | ((v14 >> (seg + 1)) & 0x0F);
  return static_cast<std::uint8_t>(code ^ mask);
}

// A-law encode of one 13-bit value (the 16-bit input >> 3), G.711 Table 1a.
constexpr std::uint8_t alaw_rule(int v13) {
  int mask = 0xD5; // sign bit set for positive values, even bits inverted
  if (v13 < 0) {
    mask = 0x55;
    v13 = -v13 - 1; // one's complement: -1 → 0, so negative values mirror the positive ones
  }
  int seg = 0; // segment 0 covers 0..31, segment s ≥ 1 covers 32<<(s-1) .. (64<<(s-1))-1
  while (seg < 8 && v13 > (0x20 << seg) - 1) ++seg;
  if (seg >= 8) return static_cast<std::uint8_t>(0x7F ^ mask); // clip
  const int code = (seg << 4) | ((v13 >> (seg < 2 ? 1 : seg)) & 0x0F);
  return static_cast<std::uint8_t>(code ^ mask);
}

constexpr std::int16_t ulaw_expand(std::uint8_t code) {
  const int u = ~code & 0xFF;
  const int t = (((u & 0x0F) << 3) + ulaw_bias) << ((u >> 4) & 0x07);
  return static_cast<std::int16_t>((u & 0x80) ? ulaw_bias - t : t - ulaw_bias);
}

constexpr std::int16_t alaw_expand(std::uint8_t code) {
  const int a = code ^ 0x55;
  const int seg = (a >> 4) & 0x07;
  int t = (a & 0x0F) << 4;
  t = seg == 0 ? t + 8 : (t + 0x108) << (seg - 1);
  return static_cast<std::int16_t>((a & 0x80) ? t : -t);
}

// Encode tables are indexed by the truncated input plus an offset that makes the index unsigned.
constexpr auto ulaw_enc_table = [] {
  std::array<std::uint8_t, 1 << 14> t{};
  for (int i = 0; i < (1 << 14); ++i) t[static_cast<std::size_t>(i)] = ulaw_rule(i - (1 << 13));
  return t;
}();

constexpr auto alaw_enc_table = [] {
  std::array<std::uint8_t, 1 << 13> t{};
  for (int i = 0; i < (1 << 13); ++i) t[static_cast<std::size_t>(i)] = alaw_rule(i - (1 << 12));
  return t;
}();

constexpr auto ulaw_dec_table = [] {
  std::array<std::int16_t, 256> t{};
  for (int i = 0; i < 256; ++i) t[static_cast<std::size_t>(i)] = ulaw_expand(static_cast<std::uint8_t>(i));
  return t;
}();

constexpr auto alaw_dec_table = [] {
  std::array<std::int16_t, 256> t{};
  for (int i = 0; i < 256; ++i) t[static_cast<std::size_t>(i)] = alaw_expand(static_cast<std::uint8_t>(i));
  return t;
}();

// Spot checks against G.711 itself, so a broken rule fails the build rather than a call.
static_assert(ulaw_enc_table[1 << 13] == 0xFF);        // 0 → positive zero
static_assert(ulaw_enc_table[(1 << 14) - 1] == 0x80 && ulaw_enc_table[0] == 0x00); // clip
static_assert(alaw_enc_table[(1 << 13) - 1] == 0xAA && alaw_enc_table[0] == 0x2A); // clip
static_assert(ulaw_dec_table[0x00] == -32124 && ulaw_dec_table[0x80] == 32124);
static_assert(ulaw_dec_table[0x7F] == 0 && ulaw_dec_table[0xFF] == 0);
static_assert(alaw_dec_table[0xD5] == 8 && alaw_dec_table[0x55] == -8);
static_assert(alaw_dec_table[0xAA] == 32256 && alaw_dec_table[0x2A] == -32256);

// Arithmetic shift of a negative value is implementation-defined before C++20 and floor division
// since: -1 >> 2 == -1, which is what the reference code relies on (small negatives → code 0x7F).
inline std::size_t ulaw_index(std::int16_t pcm) noexcept {
  return static_cast<std::size_t>((pcm >> 2) + (1 << 13));
}
inline std::size_t alaw_index(std::int16_t pcm) noexcept {
  return static_cast<std::size_t>((pcm >> 3) + (1 << 12));
}

} // namespace

std::uint8_t ulaw_encode_sample(std::int16_t pcm) noexcept { return ulaw_enc_table[ulaw_index(pcm)]; }
std::int16_t ulaw_decode_sample(std::uint8_t code) noexcept { return ulaw_dec_table[code]; }
std::uint8_t alaw_encode_sample(std::int16_t pcm) noexcept { return alaw_enc_table[alaw_index(pcm)]; }
std::int16_t alaw_decode_sample(std::uint8_t code) noexcept { return alaw_dec_table[code]; }

std::size_t ulaw_encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) noexcept {
  const std::size_t n = std::min(pcm.size(), out.size());
  for (std::size_t i = 0; i < n; ++i) out[i] = ulaw_enc_table[ulaw_index(pcm[i])];
  return n;
}

std::size_t alaw_encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) noexcept {
  const std::size_t n = std::min(pcm.size(), out.size());
  for (std::size_t i = 0; i < n; ++i) out[i] = alaw_enc_table[alaw_index(pcm[i])];
  return n;
}

std::size_t ulaw_decode(std::span<const std::uint8_t> codes, std::span<std::int16_t> out) noexcept {
  const std::size_t n = std::min(codes.size(), out.size());
  for (std::size_t i = 0; i < n; ++i) out[i] = ulaw_dec_table[codes[i]];
  return n;
}

std::size_t alaw_decode(std::span<const std::uint8_t> codes, std::span<std::int16_t> out) noexcept {
  const std::size_t n = std::min(codes.size(), out.size());
  for (std::size_t i = 0; i < n; ++i) out[i] = alaw_dec_table[codes[i]];
  return n;
}

} // namespace sb::mix
