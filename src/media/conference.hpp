// A session's audio room: what the shard's 20 ms clock does for one session each tick, on the
// session's shard (every participant lives there too, so nothing here is shared or locked). The
// clock is one timer per shard (ConferenceTable), not one per room.
//
// Passthrough: while the room holds exactly two participants that can carry each other's
// packets as they are, both sending, neither muted or subset-listening, they are paired and
// forward each other's packets on arrival (mix::Participant's relay); the tick then only
// re-checks the conditions. Two pairings:
//   - two SIP legs (anchors) on the same codec both ways, neither tapped (no browser hears them);
//   - one SIP leg on Opus (20 ms, both ways) and one browser's audio (a contributor): the
//     browser's packets go to the leg, and the leg's go to its tap's relay sink (the party's
//     stream to the browsers) — or nowhere while no browser subscribes.
// When one stops holding (a third joins, a re-INVITE changes a codec or holds, REST plays DTMF,
// a far end goes quiet) the room mixes again from the next tick; every sender's own sequence
// numbers and timestamps run on across every switch.
//
// Each tick (the table's drift-free schedule, start + k·20 ms):
//   1. pull every participant's decoded 48 kHz frame; a talker gate (level above gate_dbfs, held
//      for `hangover` after the last loud frame) decides whether it contributes this tick;
//   2. mix::Mixer computes the mix-minus output groups (one per codec configuration and
//      excluded talker);
//   3. per group, the first listener encodes once; the others adopt its encoder state and send
//      the same payload (encode once per codec configuration, not per listener).
// A listener with no talker in the session still gets a frame every tick (encoded silence), so
// carriers see continuous RTP and silence never ends a call.
// If the shard falls behind by more than `max_lag`, missed ticks are skipped (counted in every
// room), not replayed in a burst.
#pragma once

#include "mix/mixer.hpp"
#include "mix/participant.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sb::media {

struct ConferenceOptions {
  std::chrono::milliseconds tick{20};
  double gate_dbfs = -55.0;                  ///< a frame louder than this counts as talking
  std::chrono::milliseconds hangover{400};   ///< keep contributing this long after talking
  std::chrono::milliseconds max_lag{100};    ///< behind by more: skip ticks
  /// Passthrough: two participants on the same codec forward each other's packets (no jitter
  /// buffer, decode, mix or encode). Off: every room mixes (the bench compares both).
  bool relay = true;
  /// While relaying the tick only re-checks the conditions, this often (a change made through the
  /// room — join, leave, mute, subset, tap — takes effect at the next tick; a far end going quiet
  /// or a re-INVITE is noticed within this).
  std::chrono::milliseconds relay_check{100};
};

struct ConferenceStats {
  std::uint64_t ticks = 0, skipped_ticks = 0, encodes = 0, sends = 0, encode_errors = 0;
  std::uint64_t contributions = 0;  ///< participant frames mixed, cumulative
  std::uint64_t relay_starts = 0, relay_ticks = 0;  ///< passthrough: times it started, ticks spent in it
  std::chrono::microseconds last_tick_cpu{0}, max_tick_cpu{0};
};

class Conference : public std::enable_shared_from_this<Conference> {
 public:
  Conference(boost::asio::any_io_executor ex, std::string session_id, ConferenceOptions opt = {});
  ~Conference();

  /// Adds a participant (owned by its caller, which must call leave before destroying it).
  /// Returns its id in this conference.
  /// `key` names it for set_tap (a SIP leg joins under its call id, a browser publication under
  /// its stream id).
  /// An `anchor` (a SIP leg) is what the room exists for; inputs that only contribute (browser
  /// publications, anchor = false) never keep it alive on their own (ConferenceTable).
  /// `stream` is the session stream it carries (for other participants' subsets); empty = `key`.
  std::uint32_t join(mix::Participant* p, std::string key, bool anchor = true, std::string stream = {});
  bool anchored() const;
  /// The participant joined under `key` hears only the participants carrying one of `streams`
  /// (a SIP dial's `streams`); empty: everyone. A listed stream that is not in the room (yet, or
  /// any more) adds nothing; one that joins later is heard from then on. Listeners with the same
  /// subset and codec still share one encode. False when `key` is unknown.
  bool set_subset(std::string_view key, std::vector<std::string> streams);
  /// Force mute: while muted the participant's audio leaves the mix and its tap gets nothing; it
  /// still hears the others. False when `key` is unknown.
  bool set_muted(std::string_view key, bool muted);
  bool muted(std::string_view key) const;
  void leave(std::uint32_t id);
  /// Each tick, after the participant joined under `key` is pulled, `tap` gets its frame (null
  /// when it had none this tick): how a SIP party's audio reaches browser subscribers, encoded
  /// once per stream (src/signaling/session_audio). The tap is destroyed when the participant
  /// leaves. False when no participant has that key.
  /// `relay_sink` (optional, owned by the tap: it must live as long as the tap does) takes the
  /// participant's received packets as they are while it relays with a browser (see above).
  using Tap = std::function<void(const mix::MixFrame* frame)>;
  bool set_tap(std::string_view key, Tap tap, mix::RelaySink* relay_sink = nullptr);
  bool has_tap(std::string_view key) const;
  /// Participants that received the mix in the last tick (SIP legs with media up). Inputs that
  /// only contribute (browser publications) feed the mix only while someone listens.
  std::size_t listeners() const { return last_listeners_; }
  bool empty() const { return parts_.empty(); }
  std::size_t size() const { return parts_.size(); }
  const std::string& session_id() const { return session_id_; }
  const ConferenceStats& stats() const { return stats_; }
  /// Whether the room is in passthrough now.
  bool relaying() const { return relaying_; }
  /// One tick (tests drive it directly).
  void tick(mix::Participant::Clock::time_point now);
  /// What the shard's clock calls every tick: tick(), except while relaying, when the conditions
  /// are re-checked only every relay_check.
  void on_clock(mix::Participant::Clock::time_point now);
  /// The shard's clock fell behind and skipped `n` ticks (counted in stats()).
  void note_skipped(std::uint64_t n) { stats_.skipped_ticks += n; }

 private:
  struct Part {
    std::uint32_t id;
    mix::Participant* p;
    std::string key;
    bool anchor = true;
    Tap tap;
    mix::RelaySink* tap_sink = nullptr;        ///< the tap's passthrough (set_tap)
    std::string stream;
    bool muted = false;
    std::uint32_t subset = 0;                  ///< 0: hears everyone
    std::vector<std::string> hears;            ///< streams it hears when subset != 0
    std::vector<std::uint32_t> hears_ids;      ///< those streams' participants (resolve_subsets)
    mix::MixFrame frame{};
    mix::Participant::Clock::time_point talked{};  ///< last frame above the gate
  };
  std::uint32_t codec_key(const mix::CodecConfig& c);
  Part* find(std::string_view key);
  const Part* find(std::string_view key) const;
  void resolve_subsets();
  enum class Pairing { none, sip_sip, sip_browser };
  Pairing relay_possible(mix::Participant::Clock::time_point now) const;
  void start_relay(Pairing how);
  void end_relay();

  boost::asio::any_io_executor ex_;
  std::string session_id_;
  ConferenceOptions opt_;
  std::vector<Part> parts_;
  std::uint32_t next_id_ = 1;
  mix::Mixer mixer_;
  std::vector<mix::CodecConfig> configs_;  ///< codec key = index + 1
  std::vector<mix::MixInput> inputs_;
  std::vector<mix::MixListener> listeners_;
  std::vector<std::size_t> listener_part_;  ///< listeners_[i] belongs to parts_[listener_part_[i]]
  std::size_t last_listeners_ = 0;
  std::map<std::vector<std::string>, std::uint32_t> subsets_;  ///< sorted stream list → subset key
  bool hears_stale_ = false;  ///< membership or a subset changed since resolve_subsets
  bool relaying_ = false;
  mix::Participant::Clock::time_point next_relay_check_{};
  // Where a SIP leg paired with a browser relays while no browser hears it: nowhere.
  struct Discard final : mix::RelaySink {
    void relay(const mix::RelayPacket&) noexcept override {}
  } discard_;
  ConferenceStats stats_;
};

/// The conferences of one shard, by session id, and the shard's media clock: one steady_timer
/// on a drift-free 20 ms schedule ticks every room (one wake-up per shard, however many rooms),
/// running while there is a room. A session has a room while it has an anchor (a SIP leg):
/// browser-only sessions need no mix, their media goes through the SFU alone.
class ConferenceTable {
 public:
  explicit ConferenceTable(boost::asio::any_io_executor ex, ConferenceOptions opt = {});
  ~ConferenceTable();
  ConferenceTable(const ConferenceTable&) = delete;
  ConferenceTable& operator=(const ConferenceTable&) = delete;
  std::shared_ptr<Conference> get_or_create(const std::string& session_id);
  std::shared_ptr<Conference> find(const std::string& session_id) const;
  /// Drops the conference once no anchor is left in it; `on_release` is told first, so that
  /// contributing inputs leave.
  void release_if_empty(const std::string& session_id);
  /// Told when a session's conference is created / about to be dropped (the SFU's side joins or
  /// withdraws the browsers' audio: src/signaling/session_audio).
  std::function<void(const std::string& session_id, Conference&)> on_create;
  std::function<void(const std::string& session_id)> on_release;
  std::size_t size() const { return rooms_.size(); }
  /// Ticks skipped by every conference this table has held (for /metrics).
  std::uint64_t skipped_ticks() const;
  /// Rooms in passthrough now.
  std::size_t relaying() const;

 private:
  boost::asio::awaitable<void> clock(std::shared_ptr<bool> alive);

  boost::asio::any_io_executor ex_;
  ConferenceOptions opt_;
  std::uint64_t skipped_released_ = 0;  // of conferences already dropped
  std::map<std::string, std::shared_ptr<Conference>, std::less<>> rooms_;
  boost::asio::steady_timer timer_;
  bool clock_running_ = false;
  std::uint64_t tick_errors_ = 0;  // rooms whose tick threw (logged; the others tick on)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::vector<std::shared_ptr<Conference>> ticking_;  // this tick's rooms (kept: no allocation per tick)
};

}  // namespace sb::media
