// A session's audio room: the 20 ms clock that drives the mixer for one session, on the
// session's shard (every participant lives there too, so nothing here is shared or locked).
//
// Each tick (a drift-free steady_timer schedule, start + k·20 ms):
//   1. pull every participant's decoded 48 kHz frame; a talker gate (level above gate_dbfs, held
//      for `hangover` after the last loud frame) decides whether it contributes this tick;
//   2. mix::Mixer computes the mix-minus output groups (one per codec configuration and
//      excluded talker);
//   3. per group, the first listener encodes once; the others adopt its encoder state and send
//      the same payload (encode once per codec configuration, not per listener).
// A listener with no talker in the session still gets a frame every tick (encoded silence), so
// carriers see continuous RTP and silence never ends a call.
// If the shard falls behind by more than `max_lag`, missed ticks are skipped (counted), not
// replayed in a burst.
#pragma once

#include "mix/mixer.hpp"
#include "mix/participant.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
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
};

struct ConferenceStats {
  std::uint64_t ticks = 0, skipped_ticks = 0, encodes = 0, sends = 0, encode_errors = 0;
  std::uint64_t contributions = 0;  ///< participant frames mixed, cumulative
  std::chrono::microseconds last_tick_cpu{0}, max_tick_cpu{0};
};

class Conference : public std::enable_shared_from_this<Conference> {
 public:
  Conference(boost::asio::any_io_executor ex, std::string session_id, ConferenceOptions opt = {});
  ~Conference();

  /// Adds a participant (owned by its caller, which must call leave before destroying it).
  /// Returns its id in this conference. Starts the clock with the first participant.
  std::uint32_t join(mix::Participant* p, std::string stream_id);
  void leave(std::uint32_t id);
  bool empty() const { return parts_.empty(); }
  std::size_t size() const { return parts_.size(); }
  const std::string& session_id() const { return session_id_; }
  const ConferenceStats& stats() const { return stats_; }
  /// One tick, as the clock runs it (tests drive it directly).
  void tick(mix::Participant::Clock::time_point now);

 private:
  struct Part {
    std::uint32_t id;
    mix::Participant* p;
    std::string stream_id;
    mix::MixFrame frame{};
    mix::Participant::Clock::time_point talked{};  ///< last frame above the gate
  };
  boost::asio::awaitable<void> clock(std::shared_ptr<Conference> self, std::uint64_t generation);
  std::uint32_t codec_key(const mix::CodecConfig& c);

  boost::asio::any_io_executor ex_;
  std::string session_id_;
  ConferenceOptions opt_;
  std::vector<Part> parts_;
  std::uint32_t next_id_ = 1;
  bool running_ = false;
  std::uint64_t generation_ = 0;  ///< a clock coroutine runs only while its generation is current
  std::unique_ptr<boost::asio::steady_timer> timer_;
  mix::Mixer mixer_;
  std::vector<mix::CodecConfig> configs_;  ///< codec key = index + 1
  std::vector<mix::MixInput> inputs_;
  std::vector<mix::MixListener> listeners_;
  std::vector<std::size_t> listener_part_;  ///< listeners_[i] belongs to parts_[listener_part_[i]]
  ConferenceStats stats_;
};

/// The conferences of one shard, by session id.
class ConferenceTable {
 public:
  explicit ConferenceTable(boost::asio::any_io_executor ex, ConferenceOptions opt = {}) : ex_(ex), opt_(opt) {}
  std::shared_ptr<Conference> get_or_create(const std::string& session_id);
  std::shared_ptr<Conference> find(const std::string& session_id) const;
  /// Drops the conference if nobody is left in it.
  void release_if_empty(const std::string& session_id);
  std::size_t size() const { return rooms_.size(); }
  /// Ticks skipped by every conference this table has held (for /metrics).
  std::uint64_t skipped_ticks() const;

 private:
  boost::asio::any_io_executor ex_;
  ConferenceOptions opt_;
  std::uint64_t skipped_released_ = 0;  // of conferences already dropped
  std::map<std::string, std::shared_ptr<Conference>, std::less<>> rooms_;
};

}  // namespace sb::media
