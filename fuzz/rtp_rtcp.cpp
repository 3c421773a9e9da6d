// libFuzzer target for src/rtp/rtcp.{hpp,cpp}.
//
// validate_compound/parse_compound and the typed parsers must never read outside the input;
// a compound that validates must walk to exactly its packets, and its SR/RR/SDES/BYE packets
// must re-serialise with the writers into a compound that validates and parses to the same
// fields. CompoundReader is also run on unvalidated bytes (it must stop safely).
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//       -Isrc fuzz/rtp_rtcp.cpp src/rtp/rtcp.cpp src/rtp/packet.cpp -o /tmp/fuzz_rtp_rtcp
//   /tmp/fuzz_rtp_rtcp fuzz/corpus/rtp_rtcp
#include "fuzz_support.hpp"
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "rtp/rtcp.hpp"

namespace {

using namespace sb::rtp;

using sb::fuzz::require;

using sb::fuzz::inside;

bool same_block(const ReportBlock& a, const ReportBlock& b) {
  return a.ssrc == b.ssrc && a.fraction_lost == b.fraction_lost &&
         a.cumulative_lost == b.cumulative_lost &&
         a.extended_highest_seq == b.extended_highest_seq && a.jitter == b.jitter &&
         a.lsr == b.lsr && a.dlsr == b.dlsr;
}

std::vector<ReportBlock> blocks_of(const ReportBlocks& rb) {
  std::vector<ReportBlock> v;
  for (std::size_t i = 0; i < rb.size(); ++i) {
    v.push_back(rb[i]);
    require(v.back().cumulative_lost >= -0x800000 && v.back().cumulative_lost <= 0x7fffff,
            "24-bit cumulative lost");
    if (const auto rtt = rtt_q16(v.back().lsr ^ 0x5a5a5a5au, v.back().lsr, v.back().dlsr))
      require(*rtt <= (0x5a5a5a5au ^ v.back().lsr) - v.back().lsr, "RTT at most A - LSR");
  }
  return v;
}

// One summary per packet type we re-serialise.
struct Summary {
  std::uint8_t type = 0;
  std::uint32_t ssrc = 0;
  SenderInfo info;
  std::vector<ReportBlock> blocks;
  std::vector<std::pair<std::uint32_t, std::string_view>> cnames;
  std::vector<std::uint32_t> bye;
  std::string_view reason;
};

std::vector<Summary> summarise(const std::vector<RtcpPacket>& packets,
                               std::span<const std::uint8_t> whole) {
  std::vector<Summary> out;
  for (const auto& p : packets) {
    require(inside(p.body, whole), "body inside the input");
    Summary s;
    s.type = p.type;
    if (const auto sr = parse_sr(p)) {
      require(sr->blocks.size() == p.count && inside(sr->extension, whole), "SR blocks");
      s.ssrc = sr->ssrc;
      s.info = sr->info;
      s.blocks = blocks_of(sr->blocks);
    } else if (const auto rr = parse_rr(p)) {
      require(rr->blocks.size() == p.count && inside(rr->extension, whole), "RR blocks");
      s.ssrc = rr->ssrc;
      s.blocks = blocks_of(rr->blocks);
    } else if (const auto sdes = parse_sdes(p)) {
      sdes->for_each([&](const SdesChunk& c) { s.cnames.emplace_back(c.ssrc, c.cname); });
      require(s.cnames.size() == p.count, "one callback per chunk");
    } else if (const auto bye = parse_bye(p)) {
      for (std::size_t i = 0; i < bye->size(); ++i) s.bye.push_back(bye->ssrc(i));
      s.reason = bye->reason;
    } else {
      continue;
    }
    out.push_back(std::move(s));
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);

  // The reader alone on unvalidated bytes must stay in bounds.
  CompoundReader raw(in);
  for (int i = 0; i < 64; ++i) {
    const auto p = raw.next();
    if (!p) break;
    require(inside(p->body, in), "raw reader stays inside");
  }

  const auto ec = validate_compound(in);
  const auto c = parse_compound(in);
  require(static_cast<bool>(c) == !ec, "parse_compound agrees with validate_compound");
  if (!c) return 0;
  require(!c->empty() && ((*c)[0].type == 200 || (*c)[0].type == 201), "starts with SR/RR");
  std::size_t total = 0;
  for (const auto& p : *c) total += 4 + p.body.size() + p.padding;
  require(total == size, "lengths add up");

  const auto first = summarise(*c, in);

  // Re-serialise what we understand.
  static std::array<std::uint8_t, 1 << 17> out;
  std::size_t n = 0;
  std::vector<Summary> expect;
  for (const auto& s : first) {
    const auto rest = std::span(out).subspan(n);
    std::size_t w = 0;
    if (s.type == 200) {
      w = write_sr(rest, s.ssrc, s.info, s.blocks);
    } else if (s.type == 201) {
      w = write_rr(rest, s.ssrc, s.blocks);
    } else if (s.type == 202) {
      // Our writer emits one CNAME chunk per packet.
      for (const auto& [ssrc, cname] : s.cnames) {
        const auto k = write_sdes_cname(std::span(out).subspan(n), ssrc, cname);
        require(k > 0, "SDES writes");
        n += k;
        Summary one;
        one.type = 202;
        one.cnames.emplace_back(ssrc, cname);
        expect.push_back(one);
      }
      continue;
    } else if (s.type == 203) {
      w = write_bye(rest, s.bye, s.reason);
    }
    require(w > 0, "writer accepts what the parser produced");
    n += w;
    expect.push_back(s);
  }
  const std::span<const std::uint8_t> again_bytes = std::span(out).first(n);
  const auto again = parse_compound(again_bytes);
  require(static_cast<bool>(again), "re-serialised compound validates");
  const auto second = summarise(*again, again_bytes);
  require(second.size() == expect.size(), "same packet count");
  for (std::size_t i = 0; i < expect.size(); ++i) {
    const auto& a = expect[i];
    const auto& b = second[i];
    require(a.type == b.type && a.ssrc == b.ssrc && a.info.ntp == b.info.ntp &&
                a.info.rtp_timestamp == b.info.rtp_timestamp &&
                a.info.packet_count == b.info.packet_count &&
                a.info.octet_count == b.info.octet_count && a.blocks.size() == b.blocks.size() &&
                a.cnames == b.cnames && a.bye == b.bye && a.reason == b.reason,
            "round trip keeps every field");
    for (std::size_t k = 0; k < a.blocks.size(); ++k)
      require(same_block(a.blocks[k], b.blocks[k]), "report block round trip");
  }
  return 0;
}
