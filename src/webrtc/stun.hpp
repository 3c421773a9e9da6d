// STUN messages (RFC 8489) as WebRTC connectivity checks use them (RFC 8445 §7): the header, the
// attribute walk, the ICE attributes, MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT (CRC-32).
// Sans-I/O: bytes in, views out; no Asio.
//
// `parse_stun` allocates nothing and returns views into the datagram it was given; they live as
// long as that buffer. It never throws: a datagram that is not a well-framed STUN message is a
// `stun_error` the caller counts and drops. A UDP datagram is always whole, so a length that does
// not match means malformed, never "wait for more bytes". Parsing checks framing only; whether
// the message is authentic is a separate step (`verify_fingerprint`, `verify_integrity`).
#pragma once
#include "base/result.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace sb::webrtc {

// ---------------------------------------------------------------------------------------------
// Wire constants (RFC 8489 §5, §14, §18.3; RFC 8445 §16.1)

inline constexpr std::size_t k_stun_header_size = 20;
inline constexpr std::uint32_t k_magic_cookie = 0x2112A442;
/// Longest message we parse or build. An ICE check is ~100 bytes; a datagram longer than an
/// Ethernet MTU is not one of ours, and the bound keeps the integrity copy on the stack.
inline constexpr std::size_t k_max_stun_size = 1500;
/// §14.3: USERNAME is fewer than 509 bytes.
inline constexpr std::size_t k_max_username = 508;

inline constexpr std::uint16_t k_method_binding = 0x001; ///< §18.2

namespace attr {
inline constexpr std::uint16_t username = 0x0006;            ///< RFC 8489 §14.3
inline constexpr std::uint16_t message_integrity = 0x0008;   ///< §14.5
inline constexpr std::uint16_t error_code = 0x0009;          ///< §14.8
inline constexpr std::uint16_t unknown_attributes = 0x000A;  ///< §14.9
inline constexpr std::uint16_t xor_mapped_address = 0x0020;  ///< §14.2
inline constexpr std::uint16_t priority = 0x0024;            ///< RFC 8445 §16.1
inline constexpr std::uint16_t use_candidate = 0x0025;       ///< RFC 8445 §16.1
inline constexpr std::uint16_t software = 0x8022;            ///< §14.14
inline constexpr std::uint16_t fingerprint = 0x8028;         ///< §14.7
inline constexpr std::uint16_t ice_controlled = 0x8029;      ///< RFC 8445 §16.1
inline constexpr std::uint16_t ice_controlling = 0x802A;     ///< RFC 8445 §16.1
} // namespace attr

/// §5: the two class bits of the message type.
enum class StunClass : std::uint8_t { request = 0, indication = 1, success = 2, error = 3 };

/// §5: class bits C1 C0 interleaved with the 12 method bits (M11..M7 C1 M6..M4 C0 M3..M0).
constexpr std::uint16_t stun_type(std::uint16_t method, StunClass c) noexcept {
  const auto cls = static_cast<std::uint16_t>(c);
  return static_cast<std::uint16_t>((method & 0x000F) | ((method & 0x0070) << 1) |
                                    ((method & 0x0F80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7));
}

using TransactionId = std::array<std::uint8_t, 12>; ///< §5: 96 bits, chosen by the client

/// A transport address: what XOR-MAPPED-ADDRESS carries and what a check arrives from.
struct StunAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> ip{}; ///< network order; IPv4 uses the first 4 bytes only
  std::uint16_t port = 0;
  /// Same family, port and address bytes (the unused 12 of an IPv4 address do not count).
  friend bool operator==(const StunAddress& a, const StunAddress& b) noexcept {
    return a.v6 == b.v6 && a.port == b.port &&
           std::equal(a.ip.begin(), a.ip.begin() + (a.v6 ? 16 : 4), b.ip.begin());
  }
};

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a datagram is not a well-framed STUN message.
enum class stun_error {
  too_short = 1,     ///< under the 20-byte header
  not_stun,          ///< the two top bits of the type are not zero (§5)
  bad_cookie,        ///< no magic cookie: not RFC 5389/8489 STUN
  bad_length,        ///< length not a multiple of 4, or header + length ≠ datagram size
  too_large,         ///< over k_max_stun_size
  bad_attribute,     ///< an attribute's TLV runs past the end of the message
  bad_fingerprint,   ///< FINGERPRINT not 4 bytes, or not the last attribute (§14.7)
};

const std::error_category& stun_category() noexcept;
std::error_code make_error_code(stun_error e) noexcept;

// ---------------------------------------------------------------------------------------------
// Parsing

inline constexpr std::size_t k_max_unknown_listed = 4; ///< unknown types kept for a 420

/// A parsed STUN message. Each known attribute is taken from its first occurrence (§14);
/// attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored (§14.5).
struct StunMessage {
  std::uint16_t type = 0;
  std::uint16_t method = 0;
  StunClass cls = StunClass::request;
  TransactionId transaction_id{};
  std::size_t size = 0; ///< header + length: the whole datagram

  std::optional<std::string_view> username;      ///< views the input, padding excluded
  std::optional<std::uint32_t> priority;         ///< RFC 8445 §7.1.1
  bool use_candidate = false;                    ///< RFC 8445 §7.1.2
  std::optional<std::uint64_t> ice_controlling;  ///< tie-breaker, RFC 8445 §7.1.3
  std::optional<std::uint64_t> ice_controlled;   ///< tie-breaker
  std::optional<StunAddress> xor_mapped_address; ///< decoded (§14.2)
  std::uint16_t error_code = 0;                  ///< 300..699 from ERROR-CODE (§14.8), else 0
  std::string_view error_reason;                 ///< views the input

  /// Offsets of the MESSAGE-INTEGRITY and FINGERPRINT attribute headers in the input
  /// (nullopt = absent); verify_integrity / verify_fingerprint work from these.
  std::optional<std::size_t> integrity_at;
  std::optional<std::size_t> fingerprint_at;

  /// Type of the first known attribute whose value is malformed (wrong length, bad family or
  /// class, over-long USERNAME), else 0. Framing was fine, so an authentic request that has one
  /// is answered 400 (§6.3.1.1) rather than dropped; the attribute's field above stays unset.
  std::uint16_t bad_attribute = 0;
  /// Comprehension-required attributes (0x0000-0x7FFF) we do not understand, before
  /// MESSAGE-INTEGRITY (§6.3.1: a request with any is answered 420). The first few are listed.
  std::size_t unknown_count = 0;
  std::array<std::uint16_t, k_max_unknown_listed> unknown{};
};

/// RFC 7983 §7 demultiplexing plus the §5 sanity checks: first byte 0..3, magic cookie,
/// length a multiple of 4 that matches the datagram. Cheap; `parse_stun` still decides.
bool looks_like_stun(std::span<const std::uint8_t> datagram) noexcept;

/// Parses one STUN message: header (§5), then the TLV walk (§14) with 4-byte padding, bounds
/// checked at every step. Allocates nothing.
Result<StunMessage> parse_stun(std::span<const std::uint8_t> datagram) noexcept;

/// §14.5: HMAC-SHA1 keyed with the short-term password (§9.1.1; ICE passwords are ASCII, so
/// OpaqueString leaves them as they are) over the message up to MESSAGE-INTEGRITY, with the
/// header length rewritten to end just after it. False when the message has no M-I.
bool verify_integrity(const StunMessage& m, std::span<const std::uint8_t> datagram,
                      std::string_view password) noexcept;

/// §14.7: CRC-32 of the message up to FINGERPRINT, XOR 0x5354554E. False when absent.
bool verify_fingerprint(const StunMessage& m, std::span<const std::uint8_t> datagram) noexcept;

/// CRC-32 (ISO-HDLC / IEEE 802.3, reflected polynomial 0xEDB88320), as §14.7 specifies.
std::uint32_t crc32(std::span<const std::uint8_t> bytes) noexcept;

/// The part of USERNAME before the first ':' (RFC 8445 §7.2.2: "local-ufrag:remote-ufrag" from
/// the receiver's point of view), so a UDP demultiplexer can find the agent before verifying.
/// nullopt if the datagram is not STUN, has no USERNAME, or the USERNAME has no ':'.
std::optional<std::string_view> stun_username_local_part(
    std::span<const std::uint8_t> datagram) noexcept;

// ---------------------------------------------------------------------------------------------
// Building. Each returns the bytes written into `out`, or 0 if they do not fit (nothing useful
// is left in `out` then). Every message ends with FINGERPRINT, as ICE requires (RFC 8445 §7.1).

/// Bytes any builder below needs at most for a Binding response to an ICE check.
inline constexpr std::size_t k_max_reply_size = 128;

/// Binding success response (§6.3.1.1, RFC 8445 §7.3.1.4): XOR-MAPPED-ADDRESS of `mapped`,
/// MESSAGE-INTEGRITY keyed with `password`, FINGERPRINT.
std::size_t build_binding_success(std::span<std::uint8_t> out, const TransactionId& tid,
                                  const StunAddress& mapped, std::string_view password) noexcept;

/// Binding error response (§6.3.1.1) with ERROR-CODE `code` (400, 401, 420, 487, ...) and its
/// §14.8 reason phrase; UNKNOWN-ATTRIBUTES when `unknown` is not empty (420, §14.9); and
/// MESSAGE-INTEGRITY only when `password` is not empty, i.e. when the request was authenticated
/// (§9.1.4: never on a 401, whose request could not be).
std::size_t build_binding_error(std::span<std::uint8_t> out, const TransactionId& tid,
                                std::uint16_t code, std::string_view password,
                                std::span<const std::uint16_t> unknown = {}) noexcept;

/// What an ICE connectivity check carries (RFC 8445 §7.2.2): for tests and a future client.
struct BindingRequestParams {
  std::string_view username;   ///< "remote-ufrag:local-ufrag" from the sender's point of view
  std::string_view password;   ///< the receiver's ice-pwd
  std::uint32_t priority = 0;
  bool controlling = true;     ///< ICE-CONTROLLING, else ICE-CONTROLLED
  std::uint64_t tie_breaker = 0;
  bool use_candidate = false;  ///< only a controlling agent nominates
};

/// Binding request: USERNAME, PRIORITY, ICE-CONTROLLING/-CONTROLLED, USE-CANDIDATE,
/// MESSAGE-INTEGRITY, FINGERPRINT.
std::size_t build_binding_request(std::span<std::uint8_t> out, const TransactionId& tid,
                                  const BindingRequestParams& p) noexcept;

} // namespace sb::webrtc

template <>
struct std::is_error_code_enum<sb::webrtc::stun_error> : std::true_type {};
