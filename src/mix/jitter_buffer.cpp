// Jitter buffer (see jitter_buffer.hpp for the playout model).
#include "mix/jitter_buffer.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sb::mix {
namespace {

// RFC 3550 Appendix A.1 constants, in packets.
constexpr std::int64_t max_dropout = 3000; // a jump ahead this large is a sender restart, not loss
constexpr std::int64_t max_misorder = 100; // further behind than this is a restart, not late

// Wrap-aware 16-bit sequence distance: how far `seq` is ahead of `ref` (negative = behind), in
// [-32768, 32767] (RFC 3550 §A.1 treats the half-space ahead as newer).
constexpr std::int32_t seq_delta(std::uint16_t seq, std::uint16_t ref) noexcept {
  return static_cast<std::int16_t>(static_cast<std::uint16_t>(seq - ref));
}
static_assert(seq_delta(0, 65535) == 1 && seq_delta(65535, 0) == -1 && seq_delta(5, 5) == 0);

constexpr double to_us(JitterClock::duration d) noexcept {
  return std::chrono::duration<double, std::micro>(d).count();
}

} // namespace

JitterBuffer::JitterBuffer(JitterConfig config) : cfg_(config) {
  if (cfg_.frame_ts == 0 || cfg_.frame.count() <= 0 || cfg_.max_frames == 0 ||
      cfg_.min_depth > cfg_.max_depth || cfg_.max_payload == 0)
    throw std::invalid_argument("JitterConfig: zero frame/ring size or min_depth > max_depth");
  slots_.resize(cfg_.max_frames);
  st_.target = cfg_.frame * target_frames();
}

JitterBuffer::Slot& JitterBuffer::slot(std::int64_t ext) noexcept {
  const auto n = static_cast<std::int64_t>(slots_.size());
  return slots_[static_cast<std::size_t>(((ext % n) + n) % n)];
}

std::int64_t JitterBuffer::unwrap(std::uint16_t seq) const noexcept {
  const std::int64_t ref = newest_;
  return ref + seq_delta(seq, static_cast<std::uint16_t>(ref & 0xFFFF));
}

int JitterBuffer::target_frames() const noexcept {
  const double frame_ms = static_cast<double>(cfg_.frame.count());
  double ms = cfg_.jitter_k * peak_jitter_us_ / 1000.0 + static_cast<double>(cfg_.margin.count());
  ms = std::clamp(ms, static_cast<double>(cfg_.min_depth.count()),
                  static_cast<double>(cfg_.max_depth.count()));
  const int frames = static_cast<int>(std::ceil(ms / frame_ms - 1e-9));
  return std::clamp(frames, 1, static_cast<int>(cfg_.max_frames));
}

void JitterBuffer::update_jitter(std::uint32_t ts, JitterTime arrival) {
  // RFC 3550 §6.4.1: D(i,j) = (Rj − Ri) − (Sj − Si), in the same units (here µs).
  if (have_transit_) {
    const double us_per_tick = to_us(cfg_.frame) / cfg_.frame_ts;
    const auto dts = static_cast<std::int32_t>(ts - last_rx_ts_);
    double d = std::abs(to_us(arrival - last_arrival_) - dts * us_per_tick);
    // Bound one observation so a timestamp discontinuity cannot pin the target for minutes.
    d = std::min(d, 2.0 * to_us(cfg_.max_depth));
    rfc_jitter_us_ += (d - rfc_jitter_us_) / 16.0;
    // Grow quickly (half the gap per packet), shrink slowly (1/256 per packet, ≈ 5 s at 50 pps).
    peak_jitter_us_ += (d - peak_jitter_us_) / (d > peak_jitter_us_ ? 2.0 : 256.0);
  }
  have_transit_ = true;
  last_arrival_ = arrival;
  last_rx_ts_ = ts;
}

void JitterBuffer::advance(std::int64_t n, bool played) noexcept {
  head_ += n;
  played_bits_ = (n < 0 || n >= 64) ? 0 : played_bits_ << n; // n < 0 only before playout
  if (played) played_bits_ |= 1;
}

bool JitterBuffer::was_played(std::int64_t ext) const noexcept {
  const std::int64_t i = head_ - 1 - ext;
  return i >= 0 && i < 64 && ((played_bits_ >> i) & 1) != 0;
}

std::int64_t JitterBuffer::first_present() const noexcept {
  const auto n = static_cast<std::int64_t>(slots_.size());
  for (std::int64_t e = head_; e < head_ + n; ++e) {
    const Slot& s = const_cast<JitterBuffer*>(this)->slot(e);
    if (s.present && s.ext == e) return e;
  }
  return head_ + n; // unreachable while count_ > 0
}

void JitterBuffer::flush() noexcept {
  for (auto& s : slots_) s.present = false;
  count_ = 0;
}

// Slides the window so that it starts at new_head: frames before it are dropped (drop-oldest
// overflow); once playing, the empty slots skipped are frames that never came (lost).
void JitterBuffer::discard_before(std::int64_t new_head) {
  const auto n = static_cast<std::int64_t>(slots_.size());
  const std::int64_t gap = new_head - head_;
  std::int64_t dropped = 0;
  for (std::int64_t e = head_; e < head_ + std::min(gap, n); ++e) {
    Slot& s = slot(e);
    if (s.present && s.ext == e) {
      s.present = false;
      --count_;
      ++dropped;
    }
  }
  st_.overflow_drops += static_cast<std::uint64_t>(dropped);
  if (started_) st_.lost += static_cast<std::uint64_t>(gap - dropped);
  advance(gap, false);
  stalled_ = 0;
}

void JitterBuffer::store(std::int64_t ext, std::uint32_t ts, std::span<const std::uint8_t> payload,
                         JitterTime at) {
  if (!started_ && count_ == 0) first_arrival_ = at;
  Slot& s = slot(ext);
  s.present = true;
  s.ext = ext;
  s.timestamp = ts;
  s.arrival = at;
  s.data.assign(payload.begin(), payload.end());
  ++count_;
  if (ext > newest_ || count_ == 1) newest_ = std::max(ext, count_ == 1 ? ext : newest_);
  ++st_.accepted;
  probation_ = false;
  update_jitter(ts, at);
}

push_result JitterBuffer::push(std::uint16_t seq, std::uint32_t timestamp,
                               std::span<const std::uint8_t> payload, JitterTime arrival) {
  ++st_.received;
  if (payload.empty() || payload.size() > cfg_.max_payload) {
    ++st_.too_large;
    return push_result::too_large;
  }
  if (slots_.empty()) slots_.resize(cfg_.max_frames);  // given back by release()
  const auto n = static_cast<std::int64_t>(slots_.size());

  auto far = [&]() {
    // RFC 3550 A.1: a packet far outside the window is dropped unless the next one follows it,
    // which shows the sender restarted its sequence numbering.
    if (probation_ && seq == bad_seq_) {
      ++st_.resets;
      flush();
      started_ = false;
      may_lower_head_ = true;
      have_transit_ = false;
      played_bits_ = 0;
      stalled_ = 0;
      head_ = newest_ = seq;
      store(seq, timestamp, payload, arrival);
      return push_result::reset;
    }
    probation_ = true;
    bad_seq_ = static_cast<std::uint16_t>(seq + 1);
    ++st_.too_far;
    return push_result::too_far_ahead;
  };

  if (!have_ref_) {
    have_ref_ = true;
    head_ = newest_ = seq;
    store(seq, timestamp, payload, arrival);
    return push_result::accepted;
  }

  const std::int64_t ext = unwrap(seq);
  const std::int64_t d = ext - head_;
  if (d < 0) {
    if (!started_ && may_lower_head_ && newest_ - ext < n) {
      // Not playing yet: an earlier frame arrived after a later one; it becomes the head.
      advance(d, false);
      store(ext, timestamp, payload, arrival);
      return push_result::accepted;
    }
    if (-d > max_misorder) return far();
    if (was_played(ext)) {
      ++st_.duplicates;
      return push_result::duplicate;
    }
    ++st_.late;
    return push_result::too_late;
  }
  if (d >= max_dropout) return far();
  if (d >= n) discard_before(ext - n + 1);
  const Slot& s = slot(ext);
  if (s.present && s.ext == ext) {
    ++st_.duplicates;
    return push_result::duplicate;
  }
  store(ext, timestamp, payload, arrival);
  return push_result::accepted;
}

PopResult JitterBuffer::pop(JitterTime now) {
  PopResult r;
  const int target = target_frames();
  st_.target = cfg_.frame * target;
  if (since_shrink_ < cfg_.shrink_interval) ++since_shrink_;

  if (!started_) {
    if (count_ == 0 || now - first_arrival_ < cfg_.frame * target) return r; // waiting
    started_ = true;
    may_lower_head_ = false;
    stalled_ = 0;
    advance(first_present() - head_, false);
    level_avg_ = static_cast<double>(newest_ - head_ + 1);
    since_shrink_ = 0;
  }

  const double level = count_ > 0 ? static_cast<double>(newest_ - head_ + 1) : 0.0;
  level_avg_ += (level - level_avg_) / 16.0;

  if (count_ == 0) {
    // Underrun: the frame due now has not arrived and nothing after it has. Do not consume the
    // slot: if the frame is only late it plays on a later tick (the delay grows by a frame).
    ++stalled_;
    if (cfg_.frame * stalled_ > cfg_.max_depth) {
      started_ = false; // the far end stopped sending: re-buffer from the next frame
      stalled_ = 0;
      return r;
    }
    ++st_.underruns;
    ++st_.concealed;
    r.kind = pop_kind::conceal;
    r.seq = static_cast<std::uint16_t>(head_ & 0xFFFF);
    r.timestamp = last_ts_ + static_cast<std::uint32_t>(head_ - last_ts_ext_) * cfg_.frame_ts;
    return r;
  }

  const std::int64_t first = first_present();
  if (stalled_ > 0 && first > head_) {
    // Frames resumed after a gap: the underrun ticks already concealed the first missing slots.
    const std::int64_t skip = std::min<std::int64_t>(stalled_, first - head_);
    st_.lost += static_cast<std::uint64_t>(skip);
    advance(skip, false);
  }
  stalled_ = 0;

  Slot* s = &slot(head_);
  if (s->present && s->ext == head_ && count_ >= 2 && since_shrink_ >= cfg_.shrink_interval &&
      level_avg_ > target + 2.0) {
    // The level counts the frame due now, so target + 1 is on target; beyond target + 2 for a
    // while (smoothed), drop this frame to bring the delay down by one frame.
    s->present = false;
    --count_;
    ++st_.shrink_drops;
    advance(1, false);
    since_shrink_ = 0;
    level_avg_ -= 1.0;
    s = &slot(head_);
  }

  if (s->present && s->ext == head_) {
    out_.swap(s->data);
    s->present = false;
    --count_;
    r.kind = pop_kind::frame;
    r.seq = static_cast<std::uint16_t>(head_ & 0xFFFF);
    r.timestamp = s->timestamp;
    r.payload = out_;
    last_ts_ = s->timestamp;
    last_ts_ext_ = head_;
    ++st_.played;
    advance(1, true);
    return r;
  }

  // The frame due now is missing and a later one is here: it is lost.
  const Slot& later = slot(first_present());
  r.kind = pop_kind::conceal;
  r.seq = static_cast<std::uint16_t>(head_ & 0xFFFF);
  r.timestamp = later.timestamp - static_cast<std::uint32_t>(later.ext - head_) * cfg_.frame_ts;
  const Slot& next = slot(head_ + 1);
  if (next.present && next.ext == head_ + 1) r.fec_payload = next.data;
  ++st_.lost;
  ++st_.concealed;
  advance(1, false);
  return r;
}

void JitterBuffer::reset() {
  flush();
  have_ref_ = false;
  started_ = false;
  may_lower_head_ = true;
  have_transit_ = false;
  probation_ = false;
  played_bits_ = 0;
  stalled_ = 0;
  head_ = newest_ = 0;
}

void JitterBuffer::release() {
  reset();
  // The ring itself too: nothing is buffered (count_ 0, not started), so pop() returns `waiting`
  // without touching a slot until push() makes the ring again.
  std::vector<Slot>().swap(slots_);
  std::vector<std::uint8_t>().swap(out_);
}

JitterStats JitterBuffer::stats() const {
  JitterStats s = st_;
  const std::int64_t frames = count_ > 0 ? newest_ - head_ + 1 : 0;
  s.depth = cfg_.frame * frames;
  s.target = cfg_.frame * target_frames();
  s.jitter = std::chrono::microseconds(static_cast<std::int64_t>(rfc_jitter_us_));
  return s;
}

} // namespace sb::mix
