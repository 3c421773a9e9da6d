// What the conference clock (src/media/conference) needs from anything that takes part in a
// session's audio: a SIP leg today (rtp::AudioLeg), a WebRTC publisher/subscriber next. Each
// tick the conference pulls every participant's decoded 48 kHz frame, mixes (mixer.hpp), then
// asks one listener per output group to encode and every listener of the group to send.
#pragma once

#include "mix/codec.hpp"
#include "mix/mixer.hpp"

#include <chrono>
#include <cstdint>
#include <span>

namespace sb::mix {

class Participant {
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
};

}  // namespace sb::mix
