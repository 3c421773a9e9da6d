// RTCP (RFC 3550 §6): compound packet validation (A.2), SR/RR/SDES/BYE views and writers,
// and the NTP/round-trip-time arithmetic of §6.4.1. Sans-I/O.
//
// Reading is two steps, neither of which allocates nor reads outside the input:
//   1. `validate_compound` applies the A.2 header checks to the whole datagram;
//   2. `CompoundReader` walks the validated packets, and `parse_sr` / `parse_rr` / `parse_sdes`
//      / `parse_bye` decode one packet's body (each checks the body's own lengths).
// `parse_compound` does both and collects the packets into a vector, for tests and the
// control path. Other packet types (APP, RTPFB, PSFB, XR) pass validation and are left to
// their own parsers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "rtp/packet.hpp" // Result<T>

namespace sb::rtp {

// ---------------------------------------------------------------------------------------------
// Errors

enum class rtcp_error {
  too_short = 1,    ///< shorter than one 4-byte RTCP header, or a body shorter than its type needs
  bad_version,      ///< a packet's V is not 2
  bad_first_packet, ///< the first packet is not SR or RR (A.2)
  bad_length,       ///< the length fields do not add up exactly to the datagram (A.2)
  bad_padding,      ///< P set on a packet other than the last, or a bad padding count
  bad_count,        ///< RC/SC blocks do not fit in the packet's length
  bad_sdes,         ///< an SDES chunk or item runs past its packet or is not terminated
  wrong_type,       ///< a typed parser was given another packet type
};

const std::error_category& rtcp_category() noexcept;
std::error_code make_error_code(rtcp_error e) noexcept;

// ---------------------------------------------------------------------------------------------
// Packets

/// RTCP packet types (RFC 3550 §12.1, RFC 4585, RFC 3611).
enum class RtcpType : std::uint8_t {
  sr = 200, rr = 201, sdes = 202, bye = 203, app = 204, rtpfb = 205, psfb = 206, xr = 207,
};

/// One packet of a validated compound: its common header and body.
struct RtcpPacket {
  std::uint8_t type = 0;   ///< PT (200 = SR …)
  std::uint8_t count = 0;  ///< the 5-bit RC / SC / FMT field
  std::uint8_t padding = 0; ///< padding bytes incl. the count byte (only on the last packet)
  std::span<const std::uint8_t> body; ///< after the 4-byte header, padding excluded
};

/// RFC 3550 A.2 on a whole datagram: every packet V = 2; the first is SR or RR; the length
/// fields add up exactly to the datagram; only the last packet may carry padding, and its
/// count is 1..(its length − 4). SR/RR report counts must fit in their packet. Empty on success.
std::error_code validate_compound(std::span<const std::uint8_t> datagram) noexcept;

/// Walks a datagram that passed validate_compound (on anything else it stops early, safely).
class CompoundReader {
 public:
  explicit CompoundReader(std::span<const std::uint8_t> validated) noexcept : rest_(validated) {}
  std::optional<RtcpPacket> next() noexcept;

 private:
  std::span<const std::uint8_t> rest_;
};

/// validate_compound + CompoundReader, collected.
Result<std::vector<RtcpPacket>> parse_compound(std::span<const std::uint8_t> datagram);

// ---------------------------------------------------------------------------------------------
// SR / RR

/// One reception report block (RFC 3550 §6.4.1).
struct ReportBlock {
  std::uint32_t ssrc = 0;                 ///< source this block is about
  std::uint8_t fraction_lost = 0;         ///< in 1/256 since the previous report
  std::int32_t cumulative_lost = 0;       ///< signed 24-bit; clamped on write
  std::uint32_t extended_highest_seq = 0; ///< cycles << 16 | highest seq
  std::uint32_t jitter = 0;               ///< interarrival jitter, RTP timestamp units
  std::uint32_t lsr = 0;                  ///< middle 32 bits of the last SR's NTP time; 0 = none
  std::uint32_t dlsr = 0;                 ///< delay since that SR, 1/65536 s
};

/// The SR sender-info section.
struct SenderInfo {
  std::uint64_t ntp = 0;          ///< NTP timestamp, 32.32 fixed point since 1900
  std::uint32_t rtp_timestamp = 0;
  std::uint32_t packet_count = 0;
  std::uint32_t octet_count = 0;
};

/// Report blocks viewed in the packet: `count` × 24 bytes.
struct ReportBlocks {
  std::span<const std::uint8_t> bytes;
  std::size_t size() const noexcept { return bytes.size() / 24; }
  ReportBlock operator[](std::size_t i) const noexcept;
};

struct SenderReport {
  std::uint32_t ssrc = 0;
  SenderInfo info;
  ReportBlocks blocks;
  std::span<const std::uint8_t> extension; ///< profile-specific extension after the blocks
};

struct ReceiverReport {
  std::uint32_t ssrc = 0;
  ReportBlocks blocks;
  std::span<const std::uint8_t> extension;
};

Result<SenderReport> parse_sr(const RtcpPacket& p) noexcept;
Result<ReceiverReport> parse_rr(const RtcpPacket& p) noexcept;

// ---------------------------------------------------------------------------------------------
// SDES / BYE

inline constexpr std::uint8_t k_sdes_cname = 1;

/// A checked SDES packet; `cname(i)` is chunk i's CNAME (empty if it has none).
struct SdesChunk {
  std::uint32_t ssrc = 0;
  std::string_view cname; ///< views the packet
};
struct Sdes {
  std::span<const std::uint8_t> body; ///< already checked: count chunks, each terminated
  std::uint8_t count = 0;
  /// Calls f(SdesChunk) for each chunk (CNAME only; other items are skipped).
  template <class F>
  void for_each(F&& f) const;
};

/// Checks every chunk: SSRC, items that fit, a null terminator, padding to 32 bits (§6.5).
Result<Sdes> parse_sdes(const RtcpPacket& p) noexcept;

struct Bye {
  std::span<const std::uint8_t> ssrc_bytes; ///< count × 4 bytes
  std::string_view reason;                  ///< optional "reason for leaving"
  std::size_t size() const noexcept { return ssrc_bytes.size() / 4; }
  std::uint32_t ssrc(std::size_t i) const noexcept;
};

Result<Bye> parse_bye(const RtcpPacket& p) noexcept;

// ---------------------------------------------------------------------------------------------
// Writers. Each returns bytes written, or 0 if the packet does not fit in `out` or the input
// cannot be encoded (more than 31 blocks/SSRCs, a CNAME or reason over 255 bytes).

std::size_t write_sr(std::span<std::uint8_t> out, std::uint32_t ssrc, const SenderInfo& info,
                     std::span<const ReportBlock> blocks) noexcept;
std::size_t write_rr(std::span<std::uint8_t> out, std::uint32_t ssrc,
                     std::span<const ReportBlock> blocks) noexcept;
std::size_t write_sdes_cname(std::span<std::uint8_t> out, std::uint32_t ssrc,
                             std::string_view cname) noexcept;
std::size_t write_bye(std::span<std::uint8_t> out, std::span<const std::uint32_t> ssrcs,
                      std::string_view reason = {}) noexcept;

/// The regular report (§6.1): SR when `sender` is set, else RR, followed by SDES CNAME.
std::size_t write_report_compound(std::span<std::uint8_t> out, std::uint32_t ssrc,
                                  const std::optional<SenderInfo>& sender,
                                  std::span<const ReportBlock> blocks,
                                  std::string_view cname) noexcept;

// ---------------------------------------------------------------------------------------------
// NTP time and round-trip time (§4, §6.4.1)

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
inline constexpr std::uint64_t k_ntp_unix_offset = 2'208'988'800ull;

/// 64-bit NTP timestamp for a wall-clock time.
std::uint64_t to_ntp(std::chrono::system_clock::time_point t) noexcept;
/// Middle 32 bits of an NTP timestamp (16.16 seconds): the LSR field and the "A" of §6.4.1.
constexpr std::uint32_t ntp_middle(std::uint64_t ntp) noexcept {
  return static_cast<std::uint32_t>(ntp >> 16);
}
/// A duration in 1/65536 s (the DLSR unit), saturating.
std::uint32_t to_q16(std::chrono::nanoseconds d) noexcept;
/// 1/65536 s back to a duration.
std::chrono::microseconds from_q16(std::uint32_t q16) noexcept;

/// §6.4.1: round trip = A − LSR − DLSR, all in 1/65536 s, where A is the middle 32 bits of the
/// NTP time the report block arrived. nullopt when LSR is 0 (no SR received yet) or the result
/// would be negative (clock skew, bogus fields).
std::optional<std::uint32_t> rtt_q16(std::uint32_t arrival_middle, std::uint32_t lsr,
                                     std::uint32_t dlsr) noexcept;

// ---------------------------------------------------------------------------------------------

template <class F>
void Sdes::for_each(F&& f) const {
  std::size_t pos = 0;
  for (std::uint8_t c = 0; c < count; ++c) {
    SdesChunk chunk;
    chunk.ssrc = (std::uint32_t{body[pos]} << 24) | (std::uint32_t{body[pos + 1]} << 16) |
                 (std::uint32_t{body[pos + 2]} << 8) | std::uint32_t{body[pos + 3]};
    pos += 4;
    while (body[pos] != 0) { // parse_sdes proved every item fits and the list ends
      const std::uint8_t type = body[pos];
      const std::uint8_t len = body[pos + 1];
      if (type == k_sdes_cname)
        chunk.cname = {reinterpret_cast<const char*>(body.data() + pos + 2), len};
      pos += 2u + len;
    }
    pos = (pos + 4) & ~std::size_t{3}; // null item, then pad to the next 32-bit boundary
    f(chunk);
  }
}

} // namespace sb::rtp

template <>
struct std::is_error_code_enum<sb::rtp::rtcp_error> : std::true_type {};
