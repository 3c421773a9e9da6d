// What the conference clock (src/media/conference) needs from anything that takes part in a
// session's audio: a SIP leg today (rtp::AudioLeg), a WebRTC publisher/subscriber next. Each
// tick the conference pulls every participant's decoded 48 kHz frame, mixes (mixer.hpp), then
// asks one listener per output group to encode and every listener of the group to send.
#pragma once

#include "mix/codec.hpp"
#include "mix/mixer.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

namespace sb::mix {

// ---- Passthrough (relay) -----------------------------------------------------------------------
// When a room holds exactly two voices that can carry each other's packets as they are (two SIP
// legs on one codec, or a SIP leg and a browser both on Opus), the conference pairs them and each
// forwards what it receives straight to the other: no jitter buffer, decode, mix or encode. The
// sender numbers the packets in its own sequence and timestamp space, so its far end sees one
// continuous stream across every switch between relaying and mixing.
struct RelayFormat {
  CodecId codec = CodecId::pcmu;
  std::uint32_t clock = 8000;
  bool operator==(const RelayFormat&) const = default;
};
struct RelayPacket {
  enum class Kind : std::uint8_t { audio, event };  ///< event: RFC 4733 telephone-event
  Kind kind = Kind::audio;
  std::uint32_t ssrc = 0;
  std::uint16_t seq = 0;
  std::uint32_t timestamp = 0;
  bool marker = false;
  std::uint32_t event_clock = 0;  ///< kind event: the telephone-event clock it was sent with
  RelayFormat format;             ///< what the receiving side decodes it as (a re-INVITE may
                                  ///< change it before the room notices: the sender drops it)
  std::span<const std::uint8_t> payload;
};

/// Where a relaying participant's packets go: its peer in the room, or (SIP party ↔ browser) the
/// party's stream to the browsers (src/media/browser_audio's OpusStreamOutput).
class RelaySink {
 public:
  virtual ~RelaySink() = default;
  /// Sends one packet the relaying side received (already authenticated and parsed).
  virtual void relay(const RelayPacket&) noexcept = 0;
  /// A relay into it is starting: the next packet re-anchors its numbering (a participant does
  /// this in relay_to, which the room calls on both of a pair).
  virtual void relay_begin() noexcept {}
};

class Participant : public RelaySink {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~Participant() = default;
  /// This tick's audio at mix_rate (decoded, concealed or resampled as needed). false: nothing
  /// to contribute (nothing received yet, re-buffering after a pause, not receiving).
  virtual bool pull(Clock::time_point now, MixFrame& out) noexcept = 0;
  /// The encoder configuration it sends with, or nullptr when it sends nothing now (no answer
  /// yet, the far end holds the call, keys not ready).
  virtual const CodecConfig* send_config() const noexcept = 0;
  /// Resamples `pcm` to the codec rate and encodes it; bytes written or -1.
  virtual int encode(const MixFrame& pcm, std::span<std::uint8_t> out) noexcept = 0;
  /// The encoder, so that a listener sharing `leader`'s output can copy its state.
  virtual const Encoder* encoder() const noexcept = 0;
  /// Takes over `leader`'s encoder state (the shared packet is now also "ours"); false if the
  /// configurations differ.
  virtual bool adopt_encoder_state(const Participant& leader) noexcept = 0;
  /// Sends one encoded frame (packetize, protect, transmit).
  virtual void send(std::span<const std::uint8_t> payload) noexcept = 0;

  // ---- Passthrough (relay): see RelayPacket above. Participants that cannot relay keep the
  // defaults.
  using RelayFormat = mix::RelayFormat;
  using RelayPacket = mix::RelayPacket;
  /// The codec it would relay now, or nullopt when it cannot (not sending or receiving, keys not
  /// ready, DTMF of its own playing, the far end quiet for a while).
  virtual std::optional<RelayFormat> relay_format(Clock::time_point) const noexcept { return std::nullopt; }
  /// Starts (peer) or ends (nullptr) relaying what it receives to `peer`; each start re-anchors
  /// the sequence/timestamp mapping of what it sends.
  virtual void relay_to(RelaySink*) noexcept {}
  /// Sends one packet its relay peer received (RelaySink); a participant that only contributes
  /// (a browser's input) is never relayed to and drops it.
  void relay(const RelayPacket&) noexcept override {}
  /// The tick's housekeeping while relaying (pull() is not called then).
  virtual void relay_tick(Clock::time_point) noexcept {}
};

}  // namespace sb::mix
