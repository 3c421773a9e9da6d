// RTP packet parse/serialise, demultiplexing and RFC 4733 events. See packet.hpp.
#include "base/bytes.hpp"
#include "rtp/packet.hpp"

#include <cstring>
#include <string>

namespace sb::rtp {

namespace {

class RtpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "rtp.packet"; }
  std::string message(int ev) const override {
    switch (static_cast<rtp_error>(ev)) {
    case rtp_error::too_short: return "shorter than the RTP fixed header";
    case rtp_error::bad_version: return "RTP version is not 2";
    case rtp_error::bad_csrc_count: return "CSRC list does not fit in the packet";
    case rtp_error::bad_extension: return "header extension does not fit in the packet";
    case rtp_error::bad_padding: return "padding count is 0 or larger than the packet";
    }
    return "unknown RTP error";
  }
};

Result<RtpView> fail(rtp_error e) noexcept { return {std::nullopt, make_error_code(e)}; }

} // namespace

const std::error_category& rtp_category() noexcept {
  static const RtpCategory category;
  return category;
}

std::error_code make_error_code(rtp_error e) noexcept {
  return {static_cast<int>(e), rtp_category()};
}

std::uint32_t RtpView::csrc(std::size_t i) const noexcept { return get32(csrc_bytes.data() + 4 * i); }

RtpHeader RtpView::header() const noexcept {
  RtpHeader h;
  h.marker = marker;
  h.payload_type = payload_type;
  h.seq = seq;
  h.timestamp = timestamp;
  h.ssrc = ssrc;
  h.csrc_count = csrc_count;
  for (std::size_t i = 0; i < csrc_count; ++i) h.csrcs[i] = csrc(i);
  h.has_extension = has_extension;
  h.extension_profile = extension_profile;
  h.extension = extension;
  h.padding = padding;
  return h;
}

Result<RtpView> parse_rtp(std::span<const std::uint8_t> packet) noexcept {
  // RFC 3550 §5.1:
  //  0                   1                   2                   3
  //  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
  // |V=2|P|X|  CC   |M|     PT      |       sequence number         |
  // |                           timestamp                           |
  // |           synchronization source (SSRC) identifier            |
  // |            contributing source (CSRC) identifiers  ...        |
  if (packet.size() < k_rtp_header_size) return fail(rtp_error::too_short);
  const std::uint8_t* p = packet.data();
  if ((p[0] >> 6) != 2) return fail(rtp_error::bad_version);

  RtpView v;
  const bool has_padding = (p[0] & 0x20) != 0;
  v.has_extension = (p[0] & 0x10) != 0;
  v.csrc_count = p[0] & 0x0f;
  v.marker = (p[1] & 0x80) != 0;
  v.payload_type = p[1] & 0x7f;
  v.seq = get16(p + 2);
  v.timestamp = get32(p + 4);
  v.ssrc = get32(p + 8);

  std::size_t pos = k_rtp_header_size;
  const std::size_t csrc_len = std::size_t{v.csrc_count} * 4;
  if (packet.size() - pos < csrc_len) return fail(rtp_error::bad_csrc_count);
  v.csrc_bytes = packet.subspan(pos, csrc_len);
  pos += csrc_len;

  // §5.3.1: 16 bits "defined by profile", 16 bits length in 32-bit words excluding this header.
  if (v.has_extension) {
    if (packet.size() - pos < 4) return fail(rtp_error::bad_extension);
    v.extension_profile = get16(p + pos);
    const std::size_t ext_len = std::size_t{get16(p + pos + 2)} * 4;
    pos += 4;
    if (packet.size() - pos < ext_len) return fail(rtp_error::bad_extension);
    v.extension = packet.subspan(pos, ext_len);
    pos += ext_len;
  }

  std::size_t end = packet.size();
  // §5.1 P: "The last octet of the padding contains a count of how many padding octets should
  // be ignored, including itself." A.1: it must be less than the length minus the headers.
  if (has_padding) {
    const std::uint8_t count = packet.back();
    if (count == 0 || count > end - pos) return fail(rtp_error::bad_padding);
    v.padding = count;
    end -= count;
  }
  v.payload = packet.subspan(pos, end - pos);
  return {v, {}};
}

std::size_t rtp_size(const RtpHeader& h, std::size_t payload_size) noexcept {
  if (h.payload_type > 0x7f || h.csrc_count > k_max_csrcs) return 0;
  std::size_t n = k_rtp_header_size + std::size_t{h.csrc_count} * 4;
  if (h.has_extension) {
    if (h.extension.size() % 4 != 0 || h.extension.size() / 4 > 0xffff) return 0;
    n += 4 + h.extension.size();
  }
  return n + payload_size + h.padding;
}

std::size_t write_rtp(std::span<std::uint8_t> out, const RtpHeader& h,
                      std::span<const std::uint8_t> payload) noexcept {
  const std::size_t n = rtp_size(h, payload.size());
  if (n == 0 || n > out.size()) return 0;
  std::uint8_t* p = out.data();
  p[0] = static_cast<std::uint8_t>(0x80 | (h.padding ? 0x20 : 0) | (h.has_extension ? 0x10 : 0) |
                                   h.csrc_count);
  p[1] = static_cast<std::uint8_t>((h.marker ? 0x80 : 0) | h.payload_type);
  put16(p + 2, h.seq);
  put32(p + 4, h.timestamp);
  put32(p + 8, h.ssrc);
  std::size_t pos = k_rtp_header_size;
  for (std::size_t i = 0; i < h.csrc_count; ++i, pos += 4) put32(p + pos, h.csrcs[i]);
  if (h.has_extension) {
    put16(p + pos, h.extension_profile);
    put16(p + pos + 2, static_cast<std::uint16_t>(h.extension.size() / 4));
    pos += 4;
    if (!h.extension.empty()) std::memcpy(p + pos, h.extension.data(), h.extension.size());
    pos += h.extension.size();
  }
  if (!payload.empty()) std::memcpy(p + pos, payload.data(), payload.size());
  pos += payload.size();
  if (h.padding) {
    std::memset(p + pos, 0, h.padding);
    pos += h.padding;
    p[pos - 1] = h.padding;
  }
  return pos;
}

bool looks_like_rtcp(std::span<const std::uint8_t> packet) noexcept {
  if (packet.size() < 4 || (packet[0] >> 6) != 2) return false;
  const std::uint8_t pt = packet[1] & 0x7f; // RFC 5761 §4: mask the marker bit
  return pt >= 64 && pt <= 95;              // RTCP packet types 192..223
}

PacketKind classify(std::uint8_t b) noexcept {
  // RFC 7983 §7:
  //   [0..3] -+--> forward to STUN       [20..63] -+--> forward to DTLS
  //   [16..19] --> ZRTP                   [64..79] -+--> TURN Channel
  //   [128..191] --> forward to RTP/RTCP
  if (b <= 3) return PacketKind::stun;
  if (b >= 20 && b <= 63) return PacketKind::dtls;
  if (b >= 128 && b <= 191) return PacketKind::rtp_or_rtcp;
  return PacketKind::unknown;
}

std::optional<DtmfEvent> parse_dtmf(std::span<const std::uint8_t> payload) noexcept {
  // RFC 4733 §2.3:
  //  |     event     |E|R| volume    |          duration             |
  if (payload.size() < k_dtmf_size) return std::nullopt;
  DtmfEvent e;
  e.event = payload[0];
  e.end = (payload[1] & 0x80) != 0;
  e.volume = payload[1] & 0x3f;
  e.duration = get16(payload.data() + 2);
  return e;
}

std::size_t write_dtmf(std::span<std::uint8_t> out, const DtmfEvent& e) noexcept {
  if (out.size() < k_dtmf_size) return 0;
  out[0] = e.event;
  out[1] = static_cast<std::uint8_t>((e.end ? 0x80 : 0) | (e.volume & 0x3f));
  put16(out.data() + 2, e.duration);
  return k_dtmf_size;
}

} // namespace sb::rtp
