// Wrap-aware RTP sequence arithmetic, the per-source sequence state of RFC 3550 Appendix A.1
// with the loss figures of A.3, and the interarrival jitter estimator of A.8. Header-only,
// sans-I/O, no allocation; one instance per received SSRC, owned by the stream that receives it.
#pragma once

#include <cstdint>

namespace sb::rtp {

/// Signed distance a − b on the 16-bit circle, in [-32768, 32767]: positive when `a` follows
/// `b`. At exactly half the circle the result is -32768 (treated as older).
constexpr std::int32_t seq_diff(std::uint16_t a, std::uint16_t b) noexcept {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(a - b));
}

/// True when `a` is newer than `b` (within half the sequence space, across the wrap).
constexpr bool seq_newer(std::uint16_t a, std::uint16_t b) noexcept { return seq_diff(a, b) > 0; }

/// Same for 32-bit RTP timestamps.
constexpr std::int64_t ts_diff(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b);
}
constexpr bool ts_newer(std::uint32_t a, std::uint32_t b) noexcept { return ts_diff(a, b) > 0; }

/// What goes into an RTCP report block for one source (RFC 3550 §6.4.1, A.3).
struct LossReport {
  std::uint8_t fraction_lost = 0;    ///< since the previous report, in 1/256
  std::int32_t cumulative_lost = 0;  ///< clamped to the signed 24-bit field
  std::uint32_t extended_max = 0;    ///< extended highest sequence number received (low 32 bits)
};

/// RFC 3550 A.1 source state. `update` is called for every packet of one SSRC and says whether
/// the packet is valid (counted); a source is valid after MIN_SEQUENTIAL packets in sequence
/// (probation). A jump of MAX_DROPOUT or more ahead (or MAX_MISORDER or more behind) is
/// dropped, unless the next packet follows it, in which case the source restarted and the
/// state is reset to it. Duplicates and reordered packets within MAX_MISORDER are counted as
/// received — so, as the RFC says, `lost()` can go negative.
class SequenceTracker {
 public:
  static constexpr int k_max_dropout = 3000;   ///< MAX_DROPOUT
  static constexpr int k_max_misorder = 100;   ///< MAX_MISORDER
  static constexpr int k_min_sequential = 2;   ///< MIN_SEQUENTIAL
  static constexpr std::uint32_t k_seq_mod = 1u << 16;

  /// Feeds one packet's sequence number; true when the packet is valid and counted.
  bool update(std::uint16_t seq) noexcept {
    if (!started_) {
      // A.1: "init_seq(s, seq); s->max_seq = seq - 1; s->probation = MIN_SEQUENTIAL;"
      started_ = true;
      init(seq);
      max_seq_ = static_cast<std::uint16_t>(seq - 1);
      probation_ = k_min_sequential;
    }
    const std::uint16_t udelta = static_cast<std::uint16_t>(seq - max_seq_);
    if (probation_ > 0) {
      // Packets must be in sequence for the source to become valid. (The RFC's C compares
      // seq == max_seq + 1 after int promotion, which misses 65535 → 0; we wrap.)
      if (seq == static_cast<std::uint16_t>(max_seq_ + 1)) {
        --probation_;
        max_seq_ = seq;
        if (probation_ == 0) {
          init(seq);
          ++received_;
          return true;
        }
      } else {
        probation_ = k_min_sequential - 1;
        max_seq_ = seq;
      }
      return false;
    }
    if (udelta < k_max_dropout) {
      // In order, with a permissible gap.
      if (seq < max_seq_) ++cycles_; // sequence number wrapped: count another 64K cycle
      max_seq_ = seq;
    } else if (udelta <= k_seq_mod - k_max_misorder) {
      // The sequence number made a very large jump.
      if (seq == bad_seq_) {
        // Two sequential packets: assume the other side restarted without telling us, so
        // just re-sync (i.e. pretend this was the first packet).
        init(seq);
      } else {
        bad_seq_ = (seq + 1u) & (k_seq_mod - 1);
        return false;
      }
    } else {
      // Duplicate or reordered packet: counted, max unchanged.
    }
    ++received_;
    return true;
  }

  /// True once the source has passed probation.
  bool valid() const noexcept { return started_ && probation_ == 0; }
  std::uint16_t max_seq() const noexcept { return max_seq_; }
  std::uint32_t cycles() const noexcept { return cycles_; } ///< number of 65535 → 0 wraps
  std::uint64_t extended_max() const noexcept {
    return std::uint64_t{cycles_} * k_seq_mod + max_seq_;
  }
  std::uint64_t base_seq() const noexcept { return base_seq_; }
  std::uint64_t received() const noexcept { return received_; }
  /// A.3: extended_max − base_seq + 1 (0 before the source is valid).
  std::uint64_t expected() const noexcept {
    return valid() ? extended_max() - base_seq_ + 1 : 0;
  }
  /// A.3: expected − received; negative when duplicates arrived.
  std::int64_t lost() const noexcept {
    return static_cast<std::int64_t>(expected()) - static_cast<std::int64_t>(received_);
  }

  /// Extends a sequence number of a packet near the current maximum to 64 bits (for ordering
  /// in a jitter buffer): the closest value to extended_max() with these low 16 bits.
  std::uint64_t extend(std::uint16_t seq) const noexcept {
    const std::int64_t e = static_cast<std::int64_t>(extended_max()) + seq_diff(seq, max_seq_);
    return e < 0 ? seq : static_cast<std::uint64_t>(e);
  }

  /// The report-block figures (A.3) and the start of a new reporting interval.
  LossReport report() noexcept {
    LossReport r;
    const std::uint64_t exp = expected();
    const std::int64_t lost_total = lost();
    r.cumulative_lost = lost_total > 0x7fffff   ? 0x7fffff
                        : lost_total < -0x800000 ? -0x800000
                                                 : static_cast<std::int32_t>(lost_total);
    r.extended_max = static_cast<std::uint32_t>(extended_max());
    const std::int64_t expected_interval = static_cast<std::int64_t>(exp - expected_prior_);
    const std::int64_t received_interval = static_cast<std::int64_t>(received_ - received_prior_);
    expected_prior_ = exp;
    received_prior_ = received_;
    const std::int64_t lost_interval = expected_interval - received_interval;
    if (expected_interval > 0 && lost_interval > 0)
      r.fraction_lost = static_cast<std::uint8_t>((lost_interval << 8) / expected_interval);
    return r;
  }

 private:
  // A.1 init_seq.
  void init(std::uint16_t seq) noexcept {
    base_seq_ = seq;
    max_seq_ = seq;
    bad_seq_ = k_seq_mod + 1; // so seq == bad_seq is false
    cycles_ = 0;
    received_ = 0;
    received_prior_ = 0;
    expected_prior_ = 0;
  }

  bool started_ = false;
  int probation_ = 0;             ///< sequential packets still needed before the source is valid
  std::uint16_t max_seq_ = 0;     ///< highest sequence number seen
  std::uint32_t cycles_ = 0;      ///< wraps of max_seq_
  std::uint64_t base_seq_ = 0;    ///< first sequence number of the valid source
  std::uint32_t bad_seq_ = k_seq_mod + 1; ///< last "bad" seq + 1, to detect a restart
  std::uint64_t received_ = 0;    ///< packets counted (duplicates included)
  std::uint64_t received_prior_ = 0; ///< received_ at the last report
  std::uint64_t expected_prior_ = 0; ///< expected() at the last report
};

/// RFC 3550 A.8 interarrival jitter, in RTP timestamp units. Integer form of
/// J += (|D| − J) / 16, kept scaled by 16 as the RFC's second implementation does.
class JitterEstimator {
 public:
  /// `arrival` is the local arrival time converted to the stream's RTP clock (any origin).
  void update(std::uint32_t rtp_ts, std::uint32_t arrival) noexcept {
    const std::uint32_t transit = arrival - rtp_ts;
    if (!have_transit_) {
      have_transit_ = true;
      transit_ = transit;
      return;
    }
    std::int64_t d = static_cast<std::int32_t>(transit - transit_);
    transit_ = transit;
    if (d < 0) d = -d;
    // A.8: "s->jitter += d - ((s->jitter + 8) >> 4);"
    jitter_q4_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(jitter_q4_) + d -
                                            static_cast<std::int64_t>((jitter_q4_ + 8) >> 4));
  }
  /// The value for the report block's jitter field.
  std::uint32_t jitter() const noexcept { return static_cast<std::uint32_t>(jitter_q4_ >> 4); }

 private:
  bool have_transit_ = false;
  std::uint32_t transit_ = 0;  ///< arrival − timestamp of the previous packet
  std::uint64_t jitter_q4_ = 0; ///< jitter × 16
};

} // namespace sb::rtp
