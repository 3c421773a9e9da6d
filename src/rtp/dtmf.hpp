// DTMF both ways, sans-I/O: RFC 4733 telephone-events out (`DtmfSender`, one packet decision per
// 20 ms tick) and in (`DtmfReceiver`, one digit per event), in-band tones when the far end has no
// telephone-event (`InbandDtmf`, spandsp's generator), and SIP INFO bodies (`parse_sip_info_dtmf`).
// Nothing here reads a clock, opens a socket or allocates after construction; the packet path
// never throws (malformed input is counted and dropped).
//
// Timing of common practice (`DtmfTiming`, all rounded up to whole ticks):
//   tone 100 ms (5 ticks; ITU-T Q.24 receivers need ≥ 40 ms), gap 70 ms → 80 ms (4 ticks; Q.24
//   ≥ 40 ms; the first two gap ticks carry the end-packet repeats), `p` 500 ms (25 ticks),
//   volume 10 (-10 dBm0, the level telephone-event senders usually report), end packet ×3.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "rtp/packet.hpp" // k_dtmf_size, DtmfEvent

struct dtmf_tx_state_s; // spandsp

namespace sb::rtp {

// ---------------------------------------------------------------------------------------------
// Digits

/// RFC 4733 §3.2 event code of a digit: '0'..'9' → 0..9, '*' → 10, '#' → 11, 'A'..'D' (either
/// case) → 12..15; nullopt for anything else ('p' included: it is a pause, not an event).
std::optional<std::uint8_t> dtmf_event_code(char digit) noexcept;
/// The digit of event code 0..15 ('A'..'D' uppercase); 0 for 16 and up.
char dtmf_digit_char(std::uint8_t event) noexcept;
/// What play-dtmf accepts: non-empty, only `0-9 * # A-D a-d p` (SPEC §4.3 lists 0-9 * # p).
bool valid_dtmf_digits(std::string_view digits) noexcept;

/// Play timings. Everything is rounded up to the sender's tick.
struct DtmfTiming {
  int tone_ms = 100;        ///< each digit's tone
  int gap_ms = 70;          ///< silence after each tone (at least two ticks: the end repeats)
  int pause_ms = 500;       ///< what 'p' waits (SPEC §4.3)
  std::uint8_t volume = 10; ///< RFC 4733 §2.3.4 power in -dBm0 (0..63); in-band level too
};

inline constexpr std::size_t k_dtmf_queue_max = 256; ///< digits queued per leg
inline constexpr int k_dtmf_end_packets = 3;         ///< RFC 4733 §2.5.1.4: final packet ×3

/// Bounded FIFO of digits (and 'p'), shared by the RFC 4733 and in-band players. Overflow is
/// refused, whole: a request is queued entirely or not at all, so a play-dtmf is never cut.
class DtmfQueue {
 public:
  /// Appends after what is queued; false (nothing queued) when `digits` is not
  /// `valid_dtmf_digits` or does not fit. 'a'..'d' are stored uppercase.
  [[nodiscard]] bool push(std::string_view digits) noexcept;
  std::optional<char> pop() noexcept;
  std::size_t size() const noexcept { return size_; }
  void clear() noexcept { head_ = size_ = 0; }

 private:
  std::array<char, k_dtmf_queue_max> ring_{};
  std::size_t head_ = 0, size_ = 0;
};

// ---------------------------------------------------------------------------------------------
// RFC 4733 out

struct DtmfSenderConfig {
  std::uint32_t clock_rate = 8000; ///< the telephone-event clock: 8000, or 48000 beside Opus
  std::uint8_t payload_type = 101; ///< the far end's number for telephone-event
  int tick_ms = 20;                ///< the leg's packet interval
  DtmfTiming timing{};
};

/// The telephone-event packet to send on this tick in place of the audio packet: same SSRC,
/// the next sequence number, but `timestamp` instead of the tick's audio timestamp (§2.5.1.2:
/// every packet of an event carries the event's start), and `marker` on the first packet only.
struct DtmfPacket {
  std::array<std::uint8_t, k_dtmf_size> payload{}; ///< the 4-byte event (§2.3)
  std::uint8_t payload_type = 0;
  std::uint32_t timestamp = 0;
  bool marker = false;
  bool end = false; ///< the E bit (the final packet and its two repeats)
};

/// RFC 4733 §2.5 sender, stepped by the leg's tick. Per digit: tone ticks (M on the first,
/// duration growing by one tick each: 160 at 8 kHz, 960 at 48 kHz), the final packet with E and
/// the whole duration, that packet twice more on the next two ticks (§2.5.1.4), then audio for
/// the rest of the gap. An event longer than 0xFFFF units is cut into segments (§2.5.1.3): each
/// segment's last packet reports 0xFFFF (×3, E clear) and the next segment starts at the old
/// timestamp + 0xFFFF, without M.
class DtmfSender {
 public:
  /// Throws std::invalid_argument for a clock/tick pair that is not whole units per tick (or
  /// over 0xFFFF per tick), payload type > 127, volume > 63 or a negative or zero tone.
  explicit DtmfSender(const DtmfSenderConfig& cfg);

  [[nodiscard]] bool enqueue(std::string_view digits) noexcept { return queue_.push(digits); }

  /// Once per tick on which the leg sends, with the RTP timestamp this tick's audio packet would
  /// carry (the leg advances its timestamp by one frame either way). A packet: send it instead of
  /// the audio; nullopt: send the audio.
  std::optional<DtmfPacket> next(std::uint32_t tick_timestamp) noexcept;

  /// Drops the queue and the digit playing, at once (the leg is ending or stops sending): no
  /// further packets; the next digit starts a fresh event.
  void clear() noexcept;
  /// Nothing queued, playing, repeating or waiting out a gap or pause.
  bool idle() const noexcept {
    return (phase_ == Phase::idle || (phase_ != Phase::tone && left_ == 0)) && queue_.size() == 0;
  }
  std::size_t queued() const noexcept { return queue_.size(); }

 private:
  enum class Phase : std::uint8_t {
    idle,  ///< between digits: the next next() pops the queue
    tone,  ///< an event is playing
    after, ///< tone over: end repeats, then audio, for the gap's ticks
    pause, ///< 'p': audio for the pause's ticks
  };
  DtmfPacket packet(std::uint32_t ts, std::uint16_t duration, bool end, bool marker) const noexcept;

  DtmfSenderConfig cfg_;
  std::uint32_t units_ = 0;      ///< timestamp units per tick
  std::uint64_t tone_units_ = 0; ///< whole tone, in units (whole ticks)
  int gap_ticks_ = 0, pause_ticks_ = 0;
  DtmfQueue queue_;

  Phase phase_ = Phase::idle;
  std::uint8_t event_ = 0;        ///< the playing event code
  std::uint32_t start_ts_ = 0;    ///< the event's first timestamp
  std::uint64_t ticks_ = 0;       ///< tone ticks so far
  std::uint64_t seg_offset_ = 0;  ///< units from start_ts_ to the current segment's start
  std::uint32_t prev_seg_ts_ = 0; ///< the segment being repeated as ended
  int seg_repeats_ = 0;           ///< segment-end repeats still to send
  int left_ = 0;                  ///< ticks left in `after` / `pause`
  int end_repeats_ = 0;           ///< final-packet repeats still to send
  DtmfPacket end_packet_{};
};

// ---------------------------------------------------------------------------------------------
// In-band out

inline constexpr int k_inband_rate = 8000; ///< spandsp's generator runs at 8 kHz only

/// DTMF as audio, for far ends without telephone-event: spandsp's generator (low group at
/// -volume dBm0, no twist), the same queue semantics and DtmfTiming as DtmfSender but exact to
/// the sample (100 ms tone + 70 ms silence = 8.5 ticks; no rounding to ticks). While a sequence
/// plays (tone, gap or pause) `fill` REPLACES the tick's audio (tone or silence) — mixing the
/// session's speech into the tones would cause talk-off and missed digits at the far end's
/// detector; when idle it leaves the audio alone.
class InbandDtmf {
 public:
  explicit InbandDtmf(const DtmfTiming& timing = {}); ///< throws std::bad_alloc
  ~InbandDtmf();
  InbandDtmf(const InbandDtmf&) = delete;
  InbandDtmf& operator=(const InbandDtmf&) = delete;

  [[nodiscard]] bool enqueue(std::string_view digits) noexcept { return queue_.push(digits); }
  /// One tick: overwrites all of `pcm` (8 kHz samples, 160 for 20 ms) and returns true while a
  /// sequence plays; returns false and leaves `pcm` untouched when idle.
  bool fill(std::span<std::int16_t> pcm) noexcept;
  void clear() noexcept;
  bool idle() const noexcept { return tone_left_ == 0 && pause_left_ == 0 && queue_.size() == 0; }
  std::size_t queued() const noexcept { return queue_.size(); }

 private:
  void reset_generator() noexcept;
  struct Free {
    void operator()(dtmf_tx_state_s* s) const noexcept;
  };
  std::unique_ptr<dtmf_tx_state_s, Free> tx_;
  DtmfTiming timing_;
  DtmfQueue queue_;
  std::size_t tone_left_ = 0;  ///< samples of the digit in the generator (tone + gap) to come
  std::size_t pause_left_ = 0; ///< samples of 'p' silence still to write
};

// ---------------------------------------------------------------------------------------------
// RFC 4733 in

/// One received digit.
struct DtmfDigit {
  char digit = 0;                ///< '0'..'9', '*', '#', 'A'..'D'
  std::uint32_t duration_ms = 0; ///< as reported; 0 when unknown (INFO without Duration)
  std::uint8_t volume = 0;       ///< RFC 4733 only: -dBm0 of the last packet
  bool end_seen = true;          ///< RFC 4733: false when no end packet arrived (cut short)
};

/// What one receiver call completed: at most two digits (an open event closed by a new one,
/// and the new one if it is already over).
struct DtmfDigits {
  std::array<DtmfDigit, 2> items{};
  std::size_t count = 0;
  const DtmfDigit* begin() const noexcept { return items.data(); }
  const DtmfDigit* end() const noexcept { return items.data() + count; }
  bool empty() const noexcept { return count == 0; }
  std::size_t size() const noexcept { return count; }
};

struct DtmfReceiverConfig {
  std::uint32_t clock_rate = 8000; ///< the negotiated telephone-event clock
  /// An event whose end packets never come is reported this long after its last packet.
  /// Senders update every 20–50 ms, so 1 s is many lost updates, yet short for a human.
  std::int64_t end_timeout_ms = 1000;
};

struct DtmfReceiverStats {
  std::uint64_t packets = 0;   ///< payloads fed
  std::uint64_t digits = 0;    ///< digits reported
  std::uint64_t malformed = 0; ///< payload under 4 bytes
  std::uint64_t non_dtmf = 0;  ///< event 16 and up (flash, tones): ignored
  std::uint64_t repeats = 0;   ///< packets of an event already reported (end repeats, duplicates)
  std::uint64_t late = 0;      ///< packets of an event older than the current one
  std::uint64_t end_lost = 0;  ///< digits reported without an end packet
};

/// RFC 4733 §2.5.2 receiver: one digit per event, reported when its end packet arrives (or,
/// with every end packet lost, when the next event or later audio arrives or the timeout runs
/// out). An event is its timestamp: a packet with a new, newer timestamp starts a new event,
/// whether or not it has M (the start packet may be lost); one with the current timestamp adds
/// to it. Exceptions: M on a packet newer (by sequence) than an event already reported
/// at the same timestamp starts a new event (a sender that froze its clock), and so does a
/// timestamp over 10 s older (a sender whose clock jumped back). Segments of a long
/// event (§2.5.2.3: same code, no M, timestamp = previous + 0xFFFF) are joined. One event of
/// state; the caller resets it on an SSRC change.
class DtmfReceiver {
 public:
  explicit DtmfReceiver(const DtmfReceiverConfig& cfg = {}) noexcept : cfg_(cfg) {}

  /// One telephone-event packet (its payload, RTP timestamp, marker and sequence number) at the
  /// caller's time `now_ms` (any monotonic millisecond clock).
  DtmfDigits on_event(std::span<const std::uint8_t> payload, std::uint32_t timestamp, bool marker,
                      std::uint16_t seq, std::int64_t now_ms) noexcept;
  /// An audio packet of the same source: past the open event's reported end, it closes it.
  std::optional<DtmfDigit> on_audio(std::uint32_t timestamp) noexcept;
  /// The caller's clock: closes an open event quiet for end_timeout_ms.
  std::optional<DtmfDigit> on_timer(std::int64_t now_ms) noexcept;
  /// When on_timer would report, if an event is open.
  std::optional<std::int64_t> deadline() const noexcept;
  /// Forget the event (a new SSRC, the call re-keyed): nothing is reported for it.
  void reset() noexcept { cur_ = {}; }
  const DtmfReceiverStats& stats() const noexcept { return stats_; }

 private:
  struct Event {
    bool valid = false;           ///< an event has been seen
    bool reported = false;        ///< its digit went out
    std::uint8_t code = 0;
    std::uint8_t volume = 0;
    std::uint32_t ts = 0;         ///< its first segment's timestamp (identifies it)
    std::uint32_t seg_ts = 0;     ///< the current segment's timestamp
    std::uint16_t seg_dur = 0;    ///< longest duration seen in the current segment
    std::uint64_t base = 0;       ///< units of the segments before the current one
    std::uint16_t last_seq = 0;   ///< newest sequence number of the event
    std::int64_t last_ms = 0;     ///< when its last packet came
  };
  DtmfDigit report(bool end_seen) noexcept;
  /// Packets older than the current event by up to this are late (ignored); further back, the
  /// sender's clock jumped and it is a new event. No network reorders by seconds.
  static constexpr std::uint32_t k_late_window_s = 10;

  DtmfReceiverConfig cfg_;
  Event cur_;
  DtmfReceiverStats stats_;
};

// ---------------------------------------------------------------------------------------------
// SIP INFO

/// `application/dtmf-relay`: lines `Key=Value` (keys case-insensitive, blanks around both
/// trimmed, CRLF or LF, unknown keys ignored); `Signal` required once: a digit, or 10/11/12..15
/// for * # A..D (RFC 4733 codes, as Cisco and others send them); `Duration` optional, in ms.
/// nullopt for garbage: no Signal, a repeated key, a line without '=', control bytes, a
/// non-decimal or 10+-digit Duration, or a body over 1 KiB.
std::optional<DtmfDigit> parse_dtmf_relay(std::string_view body) noexcept;
/// `application/dtmf`: the digit alone (same values as Signal), blanks and line ends around it.
std::optional<DtmfDigit> parse_dtmf_body(std::string_view body) noexcept;
/// Picks by Content-Type (case-insensitive, parameters ignored); nullopt for other types.
std::optional<DtmfDigit> parse_sip_info_dtmf(std::string_view content_type,
                                             std::string_view body) noexcept;

} // namespace sb::rtp
