// SRTP/SRTCP (RFC 3711, AEAD-GCM RFC 7714) with libsrtp2, for both keyings: SDES (RFC 4568,
// keys from a=crypto) and DTLS-SRTP (RFC 5764, keys exported from the handshake, dtls.hpp).
//
// One SrtpContext per direction per call leg. It protects or unprotects in place; for protect the
// caller's buffer must have room after the packet for the suite's tag (plus the 4-byte SRTCP
// index for RTCP) — `srtp_max_trailer` spare bytes are always enough. Failures (bad auth tag,
// replay, malformed, the wrong direction) return -1 and are counted by the caller: SRTP is the
// point where unauthenticated packets are dropped before they can latch or reach a decoder.
// SDES a=crypto lines become suite + key through rtp/sdes.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace sb::rtp {

enum class SrtpSuite : std::uint8_t {
  aes_cm_128_hmac_sha1_80,  ///< RFC 4568 §6.2.1, DTLS profile 0x0001
  aes_cm_128_hmac_sha1_32,  ///< RFC 4568 §6.2.2, DTLS profile 0x0002 (SRTCP keeps an 80-bit tag)
  aead_aes_128_gcm,         ///< RFC 7714 §14.1/§14.2, DTLS profile 0x0007
  aead_aes_256_gcm,         ///< DTLS profile 0x0008
};

/// The SDES crypto-suite name (RFC 4568 / RFC 7714 §14.1) → suite; nullopt when unsupported.
std::optional<SrtpSuite> suite_from_sdes_name(std::string_view name) noexcept;
std::string_view sdes_name(SrtpSuite s) noexcept;
/// RFC 5764 §4.1.2 / RFC 7714 §14.2 SRTPProtectionProfile value ↔ suite.
std::optional<SrtpSuite> suite_from_dtls_profile(std::uint16_t profile) noexcept;
std::uint16_t dtls_profile(SrtpSuite s) noexcept;
/// Master key and master salt lengths in bytes (key 16/32; salt 14 for AES-CM, 12 for GCM).
std::size_t master_key_length(SrtpSuite s) noexcept;
std::size_t master_salt_length(SrtpSuite s) noexcept;

/// Room protect needs after the packet (auth tag + MKI + SRTCP index; libsrtp2's bound).
inline constexpr std::size_t srtp_max_trailer = 148;

class SrtpContext {
 public:
  enum class Direction { inbound, outbound };
  /// `key_salt` is master key followed by master salt (the SDES inline key, or the
  /// client/server write key+salt of the DTLS export). Any SSRC is accepted (ssrc_any_*), the
  /// replay window is libsrtp2's default (128 packets). nullptr for a wrong key length or a
  /// libsrtp2 failure.
  static std::unique_ptr<SrtpContext> create(SrtpSuite suite, std::span<const std::uint8_t> key_salt,
                                             Direction dir);
  ~SrtpContext();
  SrtpContext(const SrtpContext&) = delete;
  SrtpContext& operator=(const SrtpContext&) = delete;

  SrtpSuite suite() const noexcept { return suite_; }
  /// In place. `buf` holds the packet in its first `len` bytes and has room for the trailer.
  /// Return the new length, or -1 (also for protect on an inbound context and vice versa).
  int protect_rtp(std::span<std::uint8_t> buf, std::size_t len) noexcept;
  int protect_rtcp(std::span<std::uint8_t> buf, std::size_t len) noexcept;
  int unprotect_rtp(std::span<std::uint8_t> buf, std::size_t len) noexcept;
  int unprotect_rtcp(std::span<std::uint8_t> buf, std::size_t len) noexcept;

 private:
  struct Impl;
  SrtpContext(SrtpSuite s, std::unique_ptr<Impl> impl);
  SrtpSuite suite_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sb::rtp
