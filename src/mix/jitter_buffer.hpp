// Jitter buffer for one incoming RTP audio stream (one SSRC), sans-I/O.
//
// The receive path `push`es each depacketized frame with its RTP sequence number and timestamp
// (RFC 3550 §5.1) and the local arrival time; the session mixer `pop`s once per 20 ms tick with
// the tick's time. Nothing here reads a clock, touches a socket or throws after construction:
// every packet is either stored or dropped and counted (push_result says which).
//
// Playout model
//   * Frames are kept in a ring of `max_frames` slots indexed by extended (wrap-aware) sequence
//     number. Playout starts once the first frame has waited `target` (the adaptive depth), and
//     from then on each pop consumes exactly one sequence slot — so the delay stays constant.
//   * The slot due now is missing but later frames are buffered → that frame is lost: `conceal`
//     (the codec runs PLC, or FEC from `fec_payload`, the next frame, when it is buffered).
//   * Nothing buffered at all (underrun) → `conceal` too, but the slot is *not* consumed: if the
//     frame is only late it plays on a later tick (the delay grows by one frame: the "grow
//     quickly" half of the adaptation). When frames resume after a gap, the slots already
//     covered by those underrun ticks are skipped silently, so a burst loss of N frames yields N
//     conceal ticks in total, not N plus the stall. After `max_depth` of continuous underrun (the
//     far end stopped sending: hold, DTX, a dead leg) the buffer re-buffers: `waiting` until
//     the next frame has waited `target` again.
//   * Target depth = clamp(k · jitter + margin, min_depth, max_depth), rounded up to whole
//     frames, where jitter is a fast-attack / slow-decay estimate of |D| (the RFC 3550 §6.4.1
//     transit-time difference between consecutive packets). While the smoothed buffer level (frames
//     from the one due now to the newest, so target + 1 when on target) exceeds target + 2, one
//     frame is dropped (never two within `shrink_interval` ticks): the "shrink slowly" half.
//   * Sequence numbers are unwrapped against the playout point. A frame already played or
//     skipped is `too_late` (or `duplicate` if it was played); up to `max_frames` ahead of the
//     playout point it is stored; further ahead but within RFC 3550 MAX_DROPOUT (3000) the window
//     slides forward, dropping the oldest frames (drop-oldest overflow); beyond MAX_DROPOUT or
//     more than MAX_MISORDER (100) behind it is `too_far_ahead` and dropped — unless the next
//     packet continues from it (RFC 3550 A.1 probation), which means the sender restarted its
//     sequence: the buffer is flushed and restarts from there (`reset`).
//
// Memory: `max_frames` slots, each holding at most `max_payload` bytes (a slot's vector keeps its
// capacity, so a steady stream stops allocating after the first second).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sb::mix {

using JitterClock = std::chrono::steady_clock;
using JitterTime = JitterClock::time_point;

struct JitterConfig {
  std::uint32_t frame_ts = 960;               ///< RTP timestamp units per frame (960 = 20 ms at 48 kHz)
  std::chrono::milliseconds frame{20};        ///< frame duration; pop is called once per frame
  std::chrono::milliseconds min_depth{20};    ///< lower bound of the adaptive target
  std::chrono::milliseconds max_depth{200};   ///< upper bound of the target; also the underrun
                                              ///< time after which the buffer re-buffers
  std::chrono::milliseconds margin{10};       ///< added to k · jitter
  double jitter_k = 2.0;                      ///< target = k · jitter + margin
  std::size_t max_frames = 50;                ///< ring size: frames stored at most
  std::size_t max_payload = 1500;             ///< larger payloads are dropped (too_large)
  unsigned shrink_interval = 50;              ///< pops between two shrink drops (50 = 1 s)
};

/// What happened to a pushed frame. Every value but `accepted` and `reset` means it was dropped.
enum class push_result {
  accepted,       ///< stored for playout
  duplicate,      ///< that sequence number is already buffered or was already played
  too_late,       ///< its playout slot has passed (played, concealed or skipped)
  too_far_ahead,  ///< beyond MAX_DROPOUT ahead or MAX_MISORDER behind: dropped (probation)
  too_large,      ///< payload larger than max_payload (or empty)
  reset,          ///< second packet of a new sequence: buffer flushed, this frame stored
};

enum class pop_kind {
  frame,    ///< `payload` is the frame to decode
  conceal,  ///< the frame due now is missing (lost or late): run PLC, or FEC from fec_payload
  waiting,  ///< not started, or re-buffering after a long underrun: nothing to play
};

struct PopResult {
  pop_kind kind = pop_kind::waiting;
  std::uint16_t seq = 0;                      ///< sequence of the slot (frame, conceal)
  std::uint32_t timestamp = 0;                ///< RTP timestamp of the slot (frame, conceal;
                                              ///< extrapolated from the last frame for conceal)
  std::span<const std::uint8_t> payload;      ///< frame: valid until the next push/pop/reset
  std::span<const std::uint8_t> fec_payload;  ///< conceal: the next frame if buffered (Opus
                                              ///< in-band FEC), else empty; same lifetime
};

struct JitterStats {
  std::chrono::milliseconds depth{0};   ///< frames between playout point and newest, × frame
  std::chrono::milliseconds target{0};  ///< current adaptive target depth
  std::chrono::microseconds jitter{0};  ///< RFC 3550 §6.4.1 interarrival jitter (J/16 filter)
  std::uint64_t received = 0;           ///< push calls
  std::uint64_t accepted = 0;           ///< frames stored
  std::uint64_t played = 0;             ///< frames returned by pop
  std::uint64_t duplicates = 0;
  std::uint64_t late = 0;               ///< too_late
  std::uint64_t too_far = 0;            ///< too_far_ahead
  std::uint64_t too_large = 0;
  std::uint64_t resets = 0;
  std::uint64_t lost = 0;               ///< sequence slots never received by their playout
  std::uint64_t concealed = 0;          ///< conceal results returned (lost + underrun ticks)
  std::uint64_t underruns = 0;          ///< conceal results for an empty buffer
  std::uint64_t overflow_drops = 0;     ///< frames dropped to make room (drop-oldest)
  std::uint64_t shrink_drops = 0;       ///< frames dropped to bring depth down to target
};

class JitterBuffer {
public:
  /// Throws std::invalid_argument for a zero frame_ts/frame/max_frames or min_depth > max_depth.
  explicit JitterBuffer(JitterConfig config = {});

  push_result push(std::uint16_t seq, std::uint32_t timestamp,
                   std::span<const std::uint8_t> payload, JitterTime arrival);

  /// Call once per frame duration.
  PopResult pop(JitterTime now);

  /// Forget everything buffered (e.g. the SSRC changed); statistics are kept.
  void reset();
  /// reset(), and give back the ring and the payload memory its slots kept (a leg that stops
  /// using the buffer for a while: a relayed call); the next push() makes them again.
  /// Statistics are kept.
  void release();

  [[nodiscard]] JitterStats stats() const;
  [[nodiscard]] std::size_t frames_buffered() const noexcept { return count_; }
  [[nodiscard]] bool started() const noexcept { return started_; }
  [[nodiscard]] const JitterConfig& config() const noexcept { return cfg_; }

private:
  struct Slot {
    bool present = false;
    std::int64_t ext = 0;        ///< extended sequence number held (valid when present)
    std::uint32_t timestamp = 0;
    JitterTime arrival{};
    std::vector<std::uint8_t> data;
  };

  Slot& slot(std::int64_t ext) noexcept;
  std::int64_t unwrap(std::uint16_t seq) const noexcept;
  void store(std::int64_t ext, std::uint32_t ts, std::span<const std::uint8_t> payload, JitterTime at);
  void discard_before(std::int64_t new_head);
  void advance(std::int64_t n, bool played) noexcept;
  std::int64_t first_present() const noexcept;
  void flush() noexcept;
  void update_jitter(std::uint32_t ts, JitterTime arrival);
  int target_frames() const noexcept;
  bool was_played(std::int64_t ext) const noexcept;

  JitterConfig cfg_;
  std::vector<Slot> slots_;      ///< ring, index = ext mod max_frames
  std::vector<std::uint8_t> out_;///< payload of the last popped frame (what PopResult views)
  std::size_t count_ = 0;        ///< present slots
  bool have_ref_ = false;        ///< any frame since construction/reset (head_/newest_ valid)
  bool started_ = false;         ///< playout running (head_ is the slot due at the next pop)
  bool may_lower_head_ = true;   ///< no slot played yet: an earlier frame may still become head
  std::int64_t head_ = 0;        ///< oldest slot of the window (playout point once started)
  std::int64_t newest_ = 0;      ///< highest extended sequence stored since (re)start
  JitterTime first_arrival_{};   ///< arrival of the oldest frame while not started
  int stalled_ = 0;              ///< consecutive underrun ticks at head_
  std::uint64_t played_bits_ = 0;///< bit i: slot head_-1-i was played (duplicate detection)
  std::uint32_t last_ts_ = 0;    ///< timestamp of the last played frame (for conceal results)
  std::int64_t last_ts_ext_ = 0; ///< its extended sequence
  bool probation_ = false;       ///< RFC 3550 A.1: bad_seq_ is armed
  std::uint16_t bad_seq_ = 0;
  // Jitter estimation (RFC 3550 §6.4.1) in microseconds.
  bool have_transit_ = false;     ///< last_arrival_/last_rx_ts_ valid
  JitterTime last_arrival_{};
  std::uint32_t last_rx_ts_ = 0;
  double rfc_jitter_us_ = 0;     ///< J += (|D| − J)/16, for stats
  double peak_jitter_us_ = 0;    ///< fast attack, slow decay: drives the target
  double level_avg_ = 0;         ///< smoothed buffer level at pop, in frames
  unsigned since_shrink_ = 0;    ///< pops since the last shrink drop
  JitterStats st_;
};

} // namespace sb::mix
