// RTCP compound validation, SR/RR/SDES/BYE, NTP and RTT. See rtcp.hpp.
#include "base/bytes.hpp"
#include "rtp/rtcp.hpp"

#include <cstring>
#include <string>

namespace sb::rtp {

namespace {

class RtcpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "rtp.rtcp"; }
  std::string message(int ev) const override {
    switch (static_cast<rtcp_error>(ev)) {
    case rtcp_error::too_short: return "RTCP packet too short";
    case rtcp_error::bad_version: return "RTCP version is not 2";
    case rtcp_error::bad_first_packet: return "compound RTCP does not start with SR or RR";
    case rtcp_error::bad_length: return "RTCP lengths do not add up to the datagram";
    case rtcp_error::bad_padding: return "RTCP padding not on the last packet, or bad count";
    case rtcp_error::bad_count: return "RTCP report count does not fit the packet";
    case rtcp_error::bad_sdes: return "malformed SDES chunk";
    case rtcp_error::wrong_type: return "RTCP packet of another type";
    }
    return "unknown RTCP error";
  }
};

template <class T>
Result<T> fail(rtcp_error e) noexcept {
  return {std::nullopt, make_error_code(e)};
}

constexpr std::size_t k_block_size = 24;
constexpr std::size_t k_sender_info_size = 20;
constexpr std::uint8_t k_max_count = 31; // 5-bit RC/SC

// The 4-byte common header (§6.4.1):
//  |V=2|P|    RC   |   PT=SR=200   |             length            |
void put_header(std::uint8_t* p, std::uint8_t count, RtcpType type, std::size_t bytes) noexcept {
  p[0] = static_cast<std::uint8_t>(0x80 | count);
  p[1] = static_cast<std::uint8_t>(type);
  put16(p + 2, static_cast<std::uint16_t>(bytes / 4 - 1)); // in 32-bit words minus one
}

void put_block(std::uint8_t* p, const ReportBlock& b) noexcept {
  put32(p, b.ssrc);
  const std::int32_t lost = b.cumulative_lost > 0x7fffff    ? 0x7fffff
                            : b.cumulative_lost < -0x800000 ? -0x800000
                                                            : b.cumulative_lost;
  put32(p + 4, (std::uint32_t{b.fraction_lost} << 24) |
                   (static_cast<std::uint32_t>(lost) & 0xffffffu));
  put32(p + 8, b.extended_highest_seq);
  put32(p + 12, b.jitter);
  put32(p + 16, b.lsr);
  put32(p + 20, b.dlsr);
}

// Minimum body size for the SR/RR report count, or 0 for other types (no check here).
std::size_t min_body(std::uint8_t type, std::uint8_t count) noexcept {
  if (type == static_cast<std::uint8_t>(RtcpType::sr))
    return 4 + k_sender_info_size + std::size_t{count} * k_block_size;
  if (type == static_cast<std::uint8_t>(RtcpType::rr)) return 4 + std::size_t{count} * k_block_size;
  return 0;
}

} // namespace

const std::error_category& rtcp_category() noexcept {
  static const RtcpCategory category;
  return category;
}

std::error_code make_error_code(rtcp_error e) noexcept {
  return {static_cast<int>(e), rtcp_category()};
}

// ---------------------------------------------------------------------------------------------
// Compound

std::error_code validate_compound(std::span<const std::uint8_t> d) noexcept {
  if (d.size() < 4) return rtcp_error::too_short;
  // A.2: "RTCP_VALID_MASK": version 2, and the first packet is SR or RR.
  if ((d[0] >> 6) != 2) return rtcp_error::bad_version;
  if (d[1] != static_cast<std::uint8_t>(RtcpType::sr) &&
      d[1] != static_cast<std::uint8_t>(RtcpType::rr))
    return rtcp_error::bad_first_packet;
  std::size_t pos = 0;
  while (pos < d.size()) {
    if (d.size() - pos < 4) return rtcp_error::bad_length;
    const std::uint8_t* h = d.data() + pos;
    if ((h[0] >> 6) != 2) return rtcp_error::bad_version;
    const std::size_t len = (std::size_t{get16(h + 2)} + 1) * 4;
    if (len > d.size() - pos) return rtcp_error::bad_length;
    const bool last = pos + len == d.size();
    std::size_t body = len - 4;
    if (h[0] & 0x20) {
      // A.2 / §6.4.1 P: padding only on the last packet of a compound. We accept it on a lone
      // SR/RR too (first and last), which A.2's mask would refuse, since SRTCP senders pad so.
      if (!last) return rtcp_error::bad_padding;
      const std::uint8_t count = d[d.size() - 1];
      if (count == 0 || count > body) return rtcp_error::bad_padding;
      body -= count;
    }
    if (body < min_body(h[1], h[0] & 0x1f)) return rtcp_error::bad_count;
    pos += len;
  }
  return {};
}

std::optional<RtcpPacket> CompoundReader::next() noexcept {
  if (rest_.size() < 4) return std::nullopt;
  const std::uint8_t* h = rest_.data();
  const std::size_t len = (std::size_t{get16(h + 2)} + 1) * 4;
  if (len > rest_.size()) return std::nullopt;
  RtcpPacket p;
  p.type = h[1];
  p.count = h[0] & 0x1f;
  std::size_t body = len - 4;
  if ((h[0] & 0x20) && len == rest_.size()) {
    const std::uint8_t count = rest_[len - 1];
    if (count == 0 || count > body) return std::nullopt;
    p.padding = count;
    body -= count;
  }
  p.body = rest_.subspan(4, body);
  rest_ = rest_.subspan(len);
  return p;
}

Result<std::vector<RtcpPacket>> parse_compound(std::span<const std::uint8_t> datagram) {
  if (const auto ec = validate_compound(datagram)) return {std::nullopt, ec};
  std::vector<RtcpPacket> packets;
  CompoundReader reader(datagram);
  while (auto p = reader.next()) packets.push_back(*p);
  return {std::move(packets), {}};
}

// ---------------------------------------------------------------------------------------------
// SR / RR

ReportBlock ReportBlocks::operator[](std::size_t i) const noexcept {
  const std::uint8_t* p = bytes.data() + i * k_block_size;
  ReportBlock b;
  b.ssrc = get32(p);
  b.fraction_lost = p[4];
  // cumulative lost is a signed 24-bit field: sign-extend.
  const std::uint32_t raw = get32(p + 4) & 0xffffffu;
  b.cumulative_lost = static_cast<std::int32_t>(raw ^ 0x800000u) - 0x800000;
  b.extended_highest_seq = get32(p + 8);
  b.jitter = get32(p + 12);
  b.lsr = get32(p + 16);
  b.dlsr = get32(p + 20);
  return b;
}

Result<SenderReport> parse_sr(const RtcpPacket& p) noexcept {
  if (p.type != static_cast<std::uint8_t>(RtcpType::sr)) return fail<SenderReport>(rtcp_error::wrong_type);
  if (p.body.size() < min_body(p.type, p.count)) return fail<SenderReport>(rtcp_error::bad_count);
  const std::uint8_t* b = p.body.data();
  SenderReport r;
  r.ssrc = get32(b);
  r.info.ntp = (std::uint64_t{get32(b + 4)} << 32) | get32(b + 8);
  r.info.rtp_timestamp = get32(b + 12);
  r.info.packet_count = get32(b + 16);
  r.info.octet_count = get32(b + 20);
  const std::size_t blocks = std::size_t{p.count} * k_block_size;
  r.blocks.bytes = p.body.subspan(24, blocks);
  r.extension = p.body.subspan(24 + blocks);
  return {r, {}};
}

Result<ReceiverReport> parse_rr(const RtcpPacket& p) noexcept {
  if (p.type != static_cast<std::uint8_t>(RtcpType::rr))
    return fail<ReceiverReport>(rtcp_error::wrong_type);
  if (p.body.size() < min_body(p.type, p.count)) return fail<ReceiverReport>(rtcp_error::bad_count);
  ReceiverReport r;
  r.ssrc = get32(p.body.data());
  const std::size_t blocks = std::size_t{p.count} * k_block_size;
  r.blocks.bytes = p.body.subspan(4, blocks);
  r.extension = p.body.subspan(4 + blocks);
  return {r, {}};
}

// ---------------------------------------------------------------------------------------------
// SDES / BYE

Result<Sdes> parse_sdes(const RtcpPacket& p) noexcept {
  if (p.type != static_cast<std::uint8_t>(RtcpType::sdes)) return fail<Sdes>(rtcp_error::wrong_type);
  // §6.5: each chunk is an SSRC, items (type, length, text), a null item, padding to 32 bits.
  const auto body = p.body;
  std::size_t pos = 0;
  for (std::uint8_t c = 0; c < p.count; ++c) {
    if (body.size() - pos < 4) return fail<Sdes>(rtcp_error::bad_sdes);
    pos += 4;
    for (;;) {
      if (pos >= body.size()) return fail<Sdes>(rtcp_error::bad_sdes);
      if (body[pos] == 0) break;
      if (body.size() - pos < 2 || body.size() - pos - 2 < body[pos + 1])
        return fail<Sdes>(rtcp_error::bad_sdes);
      pos += 2u + body[pos + 1];
    }
    const std::size_t next = (pos + 4) & ~std::size_t{3};
    if (next > body.size()) return fail<Sdes>(rtcp_error::bad_sdes);
    pos = next;
  }
  Sdes s;
  s.body = body;
  s.count = p.count;
  return {s, {}};
}

std::uint32_t Bye::ssrc(std::size_t i) const noexcept { return get32(ssrc_bytes.data() + 4 * i); }

Result<Bye> parse_bye(const RtcpPacket& p) noexcept {
  if (p.type != static_cast<std::uint8_t>(RtcpType::bye)) return fail<Bye>(rtcp_error::wrong_type);
  // §6.6: SC SSRCs, then optionally a length octet and the reason text.
  const std::size_t n = std::size_t{p.count} * 4;
  if (p.body.size() < n) return fail<Bye>(rtcp_error::bad_count);
  Bye b;
  b.ssrc_bytes = p.body.subspan(0, n);
  if (p.body.size() > n) {
    const std::uint8_t len = p.body[n];
    if (p.body.size() - n - 1 < len) return fail<Bye>(rtcp_error::too_short);
    b.reason = {reinterpret_cast<const char*>(p.body.data() + n + 1), len};
  }
  return {b, {}};
}

// ---------------------------------------------------------------------------------------------
// Writers

std::size_t write_sr(std::span<std::uint8_t> out, std::uint32_t ssrc, const SenderInfo& info,
                     std::span<const ReportBlock> blocks) noexcept {
  if (blocks.size() > k_max_count) return 0;
  const std::size_t n = 4 + 4 + k_sender_info_size + blocks.size() * k_block_size;
  if (out.size() < n) return 0;
  std::uint8_t* p = out.data();
  put_header(p, static_cast<std::uint8_t>(blocks.size()), RtcpType::sr, n);
  put32(p + 4, ssrc);
  put32(p + 8, static_cast<std::uint32_t>(info.ntp >> 32));
  put32(p + 12, static_cast<std::uint32_t>(info.ntp));
  put32(p + 16, info.rtp_timestamp);
  put32(p + 20, info.packet_count);
  put32(p + 24, info.octet_count);
  for (std::size_t i = 0; i < blocks.size(); ++i) put_block(p + 28 + i * k_block_size, blocks[i]);
  return n;
}

std::size_t write_rr(std::span<std::uint8_t> out, std::uint32_t ssrc,
                     std::span<const ReportBlock> blocks) noexcept {
  if (blocks.size() > k_max_count) return 0;
  const std::size_t n = 8 + blocks.size() * k_block_size;
  if (out.size() < n) return 0;
  std::uint8_t* p = out.data();
  put_header(p, static_cast<std::uint8_t>(blocks.size()), RtcpType::rr, n);
  put32(p + 4, ssrc);
  for (std::size_t i = 0; i < blocks.size(); ++i) put_block(p + 8 + i * k_block_size, blocks[i]);
  return n;
}

std::size_t write_sdes_cname(std::span<std::uint8_t> out, std::uint32_t ssrc,
                             std::string_view cname) noexcept {
  if (cname.size() > 255) return 0;
  // header, SSRC, CNAME item (2 + len), null item, pad to 32 bits.
  const std::size_t n = (4 + 4 + 2 + cname.size() + 1 + 3) & ~std::size_t{3};
  if (out.size() < n) return 0;
  std::uint8_t* p = out.data();
  std::memset(p, 0, n);
  put_header(p, 1, RtcpType::sdes, n);
  put32(p + 4, ssrc);
  p[8] = k_sdes_cname;
  p[9] = static_cast<std::uint8_t>(cname.size());
  if (!cname.empty()) std::memcpy(p + 10, cname.data(), cname.size());
  return n;
}

std::size_t write_bye(std::span<std::uint8_t> out, std::span<const std::uint32_t> ssrcs,
                      std::string_view reason) noexcept {
  if (ssrcs.size() > k_max_count || reason.size() > 255) return 0;
  std::size_t n = 4 + ssrcs.size() * 4;
  if (!reason.empty()) n = (n + 1 + reason.size() + 3) & ~std::size_t{3};
  if (out.size() < n) return 0;
  std::uint8_t* p = out.data();
  std::memset(p, 0, n);
  put_header(p, static_cast<std::uint8_t>(ssrcs.size()), RtcpType::bye, n);
  std::size_t pos = 4;
  for (const auto s : ssrcs) {
    put32(p + pos, s);
    pos += 4;
  }
  if (!reason.empty()) {
    p[pos] = static_cast<std::uint8_t>(reason.size());
    std::memcpy(p + pos + 1, reason.data(), reason.size());
  }
  return n;
}

std::size_t write_report_compound(std::span<std::uint8_t> out, std::uint32_t ssrc,
                                  const std::optional<SenderInfo>& sender,
                                  std::span<const ReportBlock> blocks,
                                  std::string_view cname) noexcept {
  const std::size_t first =
      sender ? write_sr(out, ssrc, *sender, blocks) : write_rr(out, ssrc, blocks);
  if (first == 0) return 0;
  const std::size_t second = write_sdes_cname(out.subspan(first), ssrc, cname);
  return second == 0 ? 0 : first + second;
}

// ---------------------------------------------------------------------------------------------
// NTP and RTT

std::uint64_t to_ntp(std::chrono::system_clock::time_point t) noexcept {
  using namespace std::chrono;
  const auto since = duration_cast<nanoseconds>(t.time_since_epoch());
  const auto secs = duration_cast<seconds>(since);
  const auto frac_ns = static_cast<std::uint64_t>((since - secs).count()); // [0, 1e9)
  const std::uint64_t hi = static_cast<std::uint64_t>(secs.count()) + k_ntp_unix_offset;
  const std::uint64_t lo = (frac_ns << 32) / 1'000'000'000ull;
  return (hi << 32) | lo;
}

std::uint32_t to_q16(std::chrono::nanoseconds d) noexcept {
  if (d.count() <= 0) return 0;
  const auto ns = static_cast<std::uint64_t>(d.count());
  const std::uint64_t secs = ns / 1'000'000'000u, rem = ns % 1'000'000'000u;
  if (secs > 0xffffu) return 0xffffffffu;
  return static_cast<std::uint32_t>((secs << 16) + (rem << 16) / 1'000'000'000u);
}

std::chrono::microseconds from_q16(std::uint32_t q16) noexcept {
  return std::chrono::microseconds((std::uint64_t{q16} * 1'000'000u) >> 16);
}

std::optional<std::uint32_t> rtt_q16(std::uint32_t arrival_middle, std::uint32_t lsr,
                                     std::uint32_t dlsr) noexcept {
  // §6.4.1: "If no SR has been received yet, the field is set to zero."
  if (lsr == 0) return std::nullopt;
  const std::uint32_t since_sr = arrival_middle - lsr; // mod 2^32, as the RFC's arithmetic
  if (since_sr < dlsr || since_sr > 0x80000000u) return std::nullopt;
  return since_sr - dlsr;
}

} // namespace sb::rtp
