#pragma once
// Thin, allocation-returning wrappers over OpenSSL 3 for the few primitives Switchboard needs:
// HMAC-SHA1 (T1 client tokens, SPEC §5.2), HMAC-SHA256 (HS256 JWTs, RFC 7518 §3.2; webhook
// signatures, SPEC §9), SHA-256 and MD5 (SIP digest, RFC 3261 §22.4 / RFC 2617), a constant-time
// comparison, and a CSPRNG for IDs.
//
// Digests return raw bytes; use to_hex / base64_encode (base/encoding.hpp) for text. None of these
// functions fail on any input. A CSPRNG failure (RAND_bytes returning an error) means the process
// cannot mint safe IDs or tokens at all, so it aborts rather than hand back predictable bytes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sb {

[[nodiscard]] std::string hmac_sha1(std::string_view key, std::string_view data);   // 20 raw bytes
[[nodiscard]] std::string hmac_sha256(std::string_view key, std::string_view data); // 32 raw bytes
[[nodiscard]] std::string sha256(std::string_view data);                            // 32 raw bytes
[[nodiscard]] std::string md5(std::string_view data);                               // 16 raw bytes

// Compares in time that depends only on the lengths (CRYPTO_memcmp). Different lengths are
// unequal; lengths are not secret for the MACs and hex signatures this is used on.
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b);

// n bytes from OpenSSL's CSPRNG (RAND_bytes).
[[nodiscard]] std::string random_bytes(std::size_t n);

// A uniformly random 32-bit value from the same CSPRNG (RTP SSRCs, initial sequence numbers and
// timestamps: RFC 3550 §5.1 and §8 want them unpredictable).
[[nodiscard]] std::uint32_t random_u32();

// n characters uniform over [A-Za-z0-9] (rejection sampling, so no modulo bias).
[[nodiscard]] std::string random_alnum(std::size_t n);

// RFC 9562 §5.4 version-4 UUID, lowercase canonical form 8-4-4-4-12.
[[nodiscard]] std::string uuid_v4();

} // namespace sb
