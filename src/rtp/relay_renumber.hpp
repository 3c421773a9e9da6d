// Passthrough renumbering: the packets of a relayed source, sent on as part of a stream of our
// own. Whoever sends them (a SIP leg relaying its peer's packets, the SFU's stream of a SIP party)
// keeps its own SSRC, and its sequence numbers and timestamps run on from where its mixed packets
// left off, so the far end sees one continuous stream across every switch between relaying and
// mixing (RFC 3550 §5.1: a sender's numbering must not jump). Header-only, sans-I/O.
#pragma once

#include "rtp/seq.hpp"

#include <cstdint>
#include <optional>

namespace sb::rtp {

class RelayRenumber {
 public:
  // RFC 3550 A.1's MAX_DROPOUT: a relayed source whose numbering moves further than this (a reset
  // without a new SSRC) is re-anchored like a new source instead of mapped straight through.
  static constexpr int k_max_dropout = 3000;
  static constexpr int k_anchor_trail = 16384;

  struct Mapped {
    std::uint16_t seq = 0;
    std::uint32_t timestamp = 0;
    bool anchored = false;     ///< this packet (re)started the mapping: mark it (RFC 3551 §4.1)
    bool advanced_ts = false;  ///< `next_ts` moved past it (it is now the newest audio sent)
  };

  /// The next packet re-anchors (a relay starts).
  void reset() noexcept { anchored_ = false; }

  /// Maps one relayed packet. `next_seq` / `next_ts` are what our stream would send next (the
  /// mix's numbering): the anchor continues from them, and they follow the newest packet mapped
  /// (a late one does not move them back), so the mix resumes without a jump. `audio` packets
  /// advance `next_ts` by their duration: the source's timestamp step from its previous packet
  /// when they are consecutive (a 30 or 60 ms far end), else `frame_units`. RFC 4733 events
  /// (audio false) take sequence numbers only. nullopt: a packet reordered to before the anchor
  /// (its numbers are ones the mix already used): drop it.
  std::optional<Mapped> map(std::uint32_t ssrc, std::uint16_t seq, std::uint32_t ts, bool audio,
                            std::uint32_t frame_units, std::uint16_t& next_seq, std::uint32_t& next_ts) noexcept {
    Mapped m;
    auto since_last = seq_diff(seq, last_seq_);
    if (!anchored_ || ssrc != src_ssrc_ || since_last > k_max_dropout || since_last < -k_max_dropout) {
      anchored_ = true;
      src_ssrc_ = ssrc;
      anchor_seq_ = last_seq_ = seq;
      last_ts_ = ts;
      seq_off_ = static_cast<std::uint16_t>(next_seq - seq);
      ts_off_ = next_ts - ts;
      since_last = 0;
      m.anchored = true;
    } else if (seq_diff(seq, anchor_seq_) < 0) {
      return std::nullopt;
    }
    m.seq = static_cast<std::uint16_t>(seq + seq_off_);
    m.timestamp = ts + ts_off_;
    if (seq_diff(m.seq, next_seq) >= 0) next_seq = static_cast<std::uint16_t>(m.seq + 1);
    if (audio) {
      auto units = frame_units;
      if (since_last == 1) {
        const auto step = ts - last_ts_;
        if (step > 0 && step <= 8 * frame_units) units = step;
      }
      if (since_last > 0) {
        last_seq_ = seq, last_ts_ = ts;
        // The anchor trails the newest packet by at most a quarter of the sequence space: the
        // "before the anchor" test compares on the 16-bit circle, and after 32,768 packets
        // (11 minutes at 50/s) every new one would otherwise look older than the anchor.
        if (seq_diff(last_seq_, anchor_seq_) > k_anchor_trail)
          anchor_seq_ = static_cast<std::uint16_t>(last_seq_ - k_anchor_trail);
      }
      if (ts_diff(m.timestamp + units, next_ts) >= 0) {
        next_ts = m.timestamp + units;
        m.advanced_ts = true;
      }
    }
    return m;
  }

 private:
  bool anchored_ = false;
  std::uint32_t src_ssrc_ = 0;
  std::uint16_t seq_off_ = 0;
  std::uint32_t ts_off_ = 0;
  std::uint16_t anchor_seq_ = 0;  // source numbering at the anchor
  std::uint16_t last_seq_ = 0;    // newest source audio packet mapped
  std::uint32_t last_ts_ = 0;
};

}  // namespace sb::rtp
