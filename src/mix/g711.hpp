// G.711 (ITU-T Rec. G.711, 11/1988) µ-law and A-law companding, sans-I/O block functions.
//
// Bit-exact with the reference behaviour of Sun's public-domain g711.c (the code baresip, PJSIP,
// Asterisk and spandsp all agree with):
//   µ-law: the input is taken as 14 bits (pcm >> 2), biased by 33, magnitude clipped at 8159,
//          segment = position of the leading one, 4 mantissa bits, all bits inverted (§ Table 2a).
//   A-law: the input is taken as 13 bits (pcm >> 3), segment 0 and 1 share a step of 2, 4
//          mantissa bits, even bits inverted (XOR 0x55, § Table 1a).
// Decoding returns the 16-bit value at the middle of each quantization interval.
//
// Both directions are table lookups; the tables are built at compile time (constexpr) from the
// segment rules above. Encode uses a 16384-entry (µ-law) / 8192-entry (A-law) table indexed by the
// truncated input, decode a 256-entry table. PERF.md: table-driven is 8–10× faster than computing
// per sample; a 160-sample frame costs ≈ 0.15 µs both ways.
//
// Round trip (decode then encode) is the identity on every code except µ-law 0x7F ("negative
// zero", decodes to 0, which encodes as 0xFF "positive zero"). A-law has no zero code (±8 are
// the smallest levels), so all 256 A-law codes round-trip.
//
// The block functions process min(in.size(), out.size()) samples and never throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sb::mix {

/// Silence as a code: what encode(0) produces (µ-law 0xFF, A-law 0xD5).
inline constexpr std::uint8_t ulaw_silence = 0xFF;
inline constexpr std::uint8_t alaw_silence = 0xD5;

/// One sample each way (table lookups).
std::uint8_t ulaw_encode_sample(std::int16_t pcm) noexcept;
std::int16_t ulaw_decode_sample(std::uint8_t code) noexcept;
std::uint8_t alaw_encode_sample(std::int16_t pcm) noexcept;
std::int16_t alaw_decode_sample(std::uint8_t code) noexcept;

/// 16-bit linear → 8-bit codes; converts min(pcm.size(), out.size()) samples, returns that count.
std::size_t ulaw_encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) noexcept;
std::size_t alaw_encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) noexcept;

/// 8-bit codes → 16-bit linear; converts min(codes.size(), out.size()) samples, returns that count.
std::size_t ulaw_decode(std::span<const std::uint8_t> codes, std::span<std::int16_t> out) noexcept;
std::size_t alaw_decode(std::span<const std::uint8_t> codes, std::span<std::int16_t> out) noexcept;

} // namespace sb::mix
