// Browser audio on the session mix's side (sans-I/O: packets in, packets out, time a parameter).
//
// A routed session's browsers exchange Opus through the SFU untouched (src/webrtc/router); these
// two pieces are where that audio meets the SIP parties' mix:
//   - OpusInput: a browser publication's Opus, received once per stream, enters the conference
//     as a contributing participant (jitter buffer, Opus decode with FEC/PLC, 48 kHz frames). It
//     never listens: a browser hears the session through the SFU, not through the mix.
//     Passthrough: when the room pairs it with one SIP leg on Opus (media::Conference), its
//     packets go to that leg on arrival instead (no jitter buffer or decode).
//   - OpusStreamOutput: a SIP party's decoded frames (the conference's tap) encoded once into an
//     Opus RTP stream, however many browsers subscribe to it (RFC 7587 payload, 20 ms frames,
//     48 kHz RTP clock, in-band FEC). Passthrough: while the party's leg relays, its received
//     Opus packets come here as they are (relay()) and are renumbered into the stream's own
//     sequence and timestamp space, so browsers see one continuous stream across every switch.
#pragma once

#include "mix/codec.hpp"
#include "mix/jitter_buffer.hpp"
#include "mix/participant.hpp"
#include "rtp/relay_renumber.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>

namespace sb::media {

struct OpusInputStats {
  std::uint64_t packets = 0;      ///< pushed and accepted by the jitter buffer
  std::uint64_t foreign = 0;      ///< another SSRC or payload type (dropped)
  std::uint64_t malformed = 0;    ///< not RTP (dropped)
  std::uint64_t decode_errors = 0, concealed = 0, fec_recovered = 0, frames = 0;
  std::uint64_t relayed = 0;      ///< forwarded to the relay peer (passthrough), not buffered
};

class OpusInput final : public mix::Participant {
 public:
  /// `payload_type` and `ssrc`: the publisher's audio track (its offer's Opus PT and media SSRC).
  OpusInput(std::uint8_t payload_type, std::uint32_t ssrc);
  ~OpusInput() override;

  /// One decrypted RTP packet (header and payload) from the publisher.
  void push(std::span<const std::uint8_t> rtp, Clock::time_point arrival) noexcept;

  bool pull(Clock::time_point now, mix::MixFrame& out) noexcept override;
  const mix::CodecConfig* send_config() const noexcept override { return nullptr; }
  int encode(const mix::MixFrame&, std::span<std::uint8_t>) noexcept override { return -1; }
  const mix::Encoder* encoder() const noexcept override { return nullptr; }
  bool adopt_encoder_state(const mix::Participant&) noexcept override { return false; }
  void send(std::span<const std::uint8_t>) noexcept override {}

  // Passthrough: Opus at 48 kHz while the browser has sent within the last second.
  std::optional<RelayFormat> relay_format(Clock::time_point now) const noexcept override;
  void relay_to(mix::RelaySink* peer) noexcept override;

  const OpusInputStats& stats() const { return stats_; }
  mix::JitterStats jitter() const { return jb_.stats(); }

 private:
  std::uint8_t pt_;
  std::uint32_t ssrc_;
  mix::JitterBuffer jb_;
  std::unique_ptr<mix::Decoder> dec_;
  // Decoded audio not yet handed to the mixer: a browser may pack 10–60 ms per packet.
  std::array<std::int16_t, mix::max_frame_samples + mix::mix_frame> fifo_{};
  std::size_t fifo_n_ = 0;
  mix::RelaySink* relay_peer_ = nullptr;
  std::optional<Clock::time_point> last_packet_;
  OpusInputStats stats_;
};

struct OpusOutputStats {
  std::uint64_t frames = 0;        ///< encoded and sent
  std::uint64_t silent_frames = 0; ///< of which the party had nothing (silence encoded)
  std::uint64_t skipped = 0;       ///< ticks with nobody to send to (not encoded)
  std::uint64_t encode_errors = 0;
  std::uint64_t relayed = 0;       ///< the party's own packets sent as they came (passthrough)
};

class OpusStreamOutput {
 public:
  using Send = std::function<void(std::span<const std::uint8_t> rtp)>;
  static constexpr std::uint8_t kPayloadType = 111;  // what browsers use for opus/48000/2
  static constexpr int kBitrate = 32000;             // wideband speech from a phone, with FEC room
  static constexpr int kComplexity = 5;              // PERF.md: half of browsers' default 9

  OpusStreamOutput(std::uint32_t ssrc, Send send);
  ~OpusStreamOutput();
  std::uint32_t ssrc() const { return ssrc_; }

  /// One 20 ms tick of the party's audio (null: it had none: silence is encoded, so subscribers
  /// see one continuous stream). With `wanted` false (no subscriber) nothing is encoded, but the
  /// RTP clock still advances and the next packet is marked (RFC 3551 §4.1, a new talkspurt).
  void on_frame(const mix::MixFrame* frame, bool wanted) noexcept;
  /// Passthrough: one Opus packet the party's leg received, sent as it is under the stream's
  /// SSRC, payload type and numbering (anchored where the stream left off at each relay_begin,
  /// or when the source restarts its numbering). `wanted` as for on_frame.
  void relay(const mix::RelayPacket& p, bool wanted) noexcept;
  void relay_begin() noexcept { renumber_.reset(); }
  const OpusOutputStats& stats() const { return stats_; }

 private:
  std::uint32_t ssrc_;
  Send send_;
  std::unique_ptr<mix::Encoder> enc_;
  std::uint16_t seq_;
  std::uint32_t ts_;
  bool marker_ = true;
  rtp::RelayRenumber renumber_;  // passthrough: the party's numbering → the stream's
  OpusOutputStats stats_;
};

}  // namespace sb::media
