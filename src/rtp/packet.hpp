// RTP packets (RFC 3550 §5.1), first-byte demultiplexing (RFC 7983, RFC 5761 §4) and the
// telephone-event payload (RFC 4733 §2.3). Sans-I/O: bytes in, views out.
//
// `parse_rtp` allocates nothing and returns views into the datagram it was given; the views live
// as long as that buffer. It never throws: a malformed datagram is an `rtp_error` that the caller
// counts and drops (the packet path never throws). A UDP datagram is always whole, so "too short"
// means truncated, never "wait for more bytes".
#pragma once
#include "base/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <system_error>
#include <type_traits>

namespace sb::rtp {

// ---------------------------------------------------------------------------------------------
// Errors and results

/// Why a datagram is not an RTP packet (RFC 3550 §5.1 and the A.1 validity checks).
enum class rtp_error {
  too_short = 1,  ///< shorter than the 12-byte fixed header
  bad_version,    ///< V is not 2
  bad_csrc_count, ///< CC × 4 bytes of CSRC list do not fit in the datagram
  bad_extension,  ///< X set but the extension header or its length words do not fit
  bad_padding,    ///< P set but the last byte is 0 or counts past the headers
};

const std::error_category& rtp_category() noexcept;
std::error_code make_error_code(rtp_error e) noexcept;

using sb::Result;  // base/result.hpp

// ---------------------------------------------------------------------------------------------
// RTP

inline constexpr std::size_t k_rtp_header_size = 12; ///< fixed header, RFC 3550 §5.1
inline constexpr std::size_t k_max_csrcs = 15;       ///< CC is 4 bits

/// Header fields for `write_rtp`. Owns everything except the extension bytes.
struct RtpHeader {
  bool marker = false;
  std::uint8_t payload_type = 0; ///< 7 bits; write_rtp refuses 128 and up
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  std::array<std::uint32_t, k_max_csrcs> csrcs{}; ///< first csrc_count are used
  std::uint8_t csrc_count = 0;                    ///< 0..15
  bool has_extension = false;
  std::uint16_t extension_profile = 0;       ///< "defined by profile" 16 bits (e.g. 0xBEDE)
  std::span<const std::uint8_t> extension{}; ///< extension body, a multiple of 4 bytes
  std::uint8_t padding = 0; ///< padding bytes to append, including the count byte; 0 = none
};

/// A parsed RTP packet: fields decoded, variable parts viewed in the input buffer.
struct RtpView {
  bool marker = false;
  std::uint8_t payload_type = 0;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
  std::uint8_t csrc_count = 0;
  std::span<const std::uint8_t> csrc_bytes; ///< csrc_count × 4 bytes, network order
  bool has_extension = false;
  std::uint16_t extension_profile = 0;
  std::span<const std::uint8_t> extension; ///< extension body (after its 4-byte header)
  std::span<const std::uint8_t> payload;   ///< between the headers and the padding
  std::uint8_t padding = 0;                ///< padding bytes incl. the count byte; 0 = P clear

  /// The i-th contributing source (i < csrc_count).
  std::uint32_t csrc(std::size_t i) const noexcept;
  /// The header fields, for re-serialising (the extension still views the input).
  RtpHeader header() const noexcept;
};

/// Parses one RTP packet. Checks (RFC 3550 A.1): V = 2, the CSRC list and the extension fit,
/// and when P is set the padding count is 1..(bytes after the headers).
Result<RtpView> parse_rtp(std::span<const std::uint8_t> packet) noexcept;

/// Bytes `write_rtp` needs for this header and payload size (0 if the header is unusable:
/// payload type > 127, more than 15 CSRCs, extension not a multiple of 4 or over 65535 words).
std::size_t rtp_size(const RtpHeader& h, std::size_t payload_size) noexcept;

/// Serialises header + payload (+ padding, zero-filled with the count in the last byte) into
/// `out`. Returns bytes written, or 0 if the header is unusable or it does not fit.
std::size_t write_rtp(std::span<std::uint8_t> out, const RtpHeader& h,
                      std::span<const std::uint8_t> payload) noexcept;

// ---------------------------------------------------------------------------------------------
// Demultiplexing

/// RFC 5761 §4: on a muxed RTP/RTCP port, a packet whose second byte (marker masked off) is a
/// payload type in 64..95 — i.e. an RTCP packet type 192..223 — is RTCP. Also requires V = 2
/// and the 4-byte common header, so the caller can hand it straight to the RTCP parser.
bool looks_like_rtcp(std::span<const std::uint8_t> packet) noexcept;

/// What a packet arriving on a media port is, from its first byte (RFC 7983 §7).
enum class PacketKind : std::uint8_t {
  stun,        ///< 0..3
  dtls,        ///< 20..63
  rtp_or_rtcp, ///< 128..191
  unknown,     ///< anything else: ZRTP 16..19, TURN channels 64..79, garbage — dropped
};
PacketKind classify(std::uint8_t first_byte) noexcept;

// ---------------------------------------------------------------------------------------------
// RFC 4733 telephone events

/// One telephone-event payload (RFC 4733 §2.3): event 0..9 = digits, 10 = '*', 11 = '#',
/// 12..15 = A..D, 16 = flash; `end` marks the final packets of the event.
struct DtmfEvent {
  std::uint8_t event = 0;
  bool end = false;
  std::uint8_t volume = 0;    ///< 0..63, power in -dBm0 (the R bit is ignored on receipt)
  std::uint16_t duration = 0; ///< in RTP timestamp units since the event's timestamp
};

inline constexpr std::size_t k_dtmf_size = 4;

/// Parses the first 4-byte event of a telephone-event payload; nullopt if shorter.
std::optional<DtmfEvent> parse_dtmf(std::span<const std::uint8_t> payload) noexcept;
/// Writes the 4-byte event (volume masked to 6 bits, R = 0); 0 if `out` is too small.
std::size_t write_dtmf(std::span<std::uint8_t> out, const DtmfEvent& e) noexcept;

} // namespace sb::rtp

template <>
struct std::is_error_code_enum<sb::rtp::rtp_error> : std::true_type {};
