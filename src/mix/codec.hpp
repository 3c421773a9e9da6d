// Audio codecs behind one interface: G.711 µ-law/A-law (g711.hpp), G.722 (spandsp), Opus
// (libopus, in-band FEC and PLC). Sans-I/O, no exceptions after construction: every call returns
// a count or -1, so a hostile payload is a counted drop, never a crash.
//
// PCM is 16-bit mono at the codec's own sample rate (8 kHz G.711, 16 kHz G.722, 48 kHz Opus);
// the mixer resamples to and from its 48 kHz (resampler.hpp). One frame is `frame_ms` of audio.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace sb::mix {

enum class CodecId : std::uint8_t { pcmu, pcma, g722, opus };
std::string_view to_string(CodecId) noexcept;  ///< "PCMU", "PCMA", "G722", "opus"

/// Everything that makes two encoders interchangeable: listeners whose CodecConfig compare equal
/// may share one encoded frame (the mixer's "encode once per codec configuration").
struct CodecConfig {
  CodecId id = CodecId::pcmu;
  int frame_ms = 20;         ///< 10, 20, 30, 40, 60 (the far end's ptime)
  // Opus only (RFC 7587): ignored by the others.
  int bitrate = 32000;       ///< bits/s
  int complexity = 5;        ///< 0..10; PERF.md: 5 costs about half of browsers' default 9
  bool inband_fec = true;    ///< encode LBRR so a receiver can recover one lost frame
  int packet_loss_pct = 5;   ///< expected loss, drives how much FEC the encoder spends
  bool dtx = false;
  bool operator==(const CodecConfig&) const = default;
};

/// PCM sample rate: 8000, 16000 or 48000.
int sample_rate(CodecId) noexcept;
/// RTP timestamp rate (RFC 3551 §4.5.2: G.722 is 8000 although it samples at 16 kHz).
int rtp_clock_rate(CodecId) noexcept;
/// Samples per frame at the PCM rate.
inline int frame_samples(const CodecConfig& c) noexcept { return sample_rate(c.id) / 1000 * c.frame_ms; }
/// RTP timestamp units per frame.
inline int frame_timestamp_units(const CodecConfig& c) noexcept { return rtp_clock_rate(c.id) / 1000 * c.frame_ms; }

/// Largest encoded frame any encoder here produces (Opus: RFC 6716 §3.4 bound 1275 per frame).
inline constexpr std::size_t max_encoded_bytes = 1500;
/// Largest PCM frame: 120 ms at 48 kHz (Opus can carry up to 120 ms in one packet).
inline constexpr std::size_t max_frame_samples = 5760;

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual const CodecConfig& config() const noexcept = 0;
  /// Encodes exactly frame_samples(config()) samples; returns bytes written or -1 (wrong size,
  /// out too small, library error).
  virtual int encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) noexcept = 0;
  /// Makes this encoder's state a copy of `other`'s (same config, else returns false). The mixer
  /// encodes a shared frame once and copies the encoder state into every listener that shares it,
  /// so each listener's stream stays continuous when it later needs its own encode. (opus.h:
  /// the state is position independent and can be copied; spandsp's G.722 state is a plain struct.)
  virtual bool copy_state_from(const Encoder& other) noexcept = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual CodecId id() const noexcept = 0;
  /// Decodes one payload into `out`; returns samples written or -1 (malformed, out too small).
  /// Opus payloads may hold 2.5–120 ms; out must hold max_frame_samples for any payload.
  virtual int decode(std::span<const std::uint8_t> payload, std::span<std::int16_t> out) noexcept = 0;
  /// One lost frame of `samples` samples: Opus recovers it from `next_payload`'s in-band FEC when
  /// that is non-empty and carries LBRR, else runs PLC; G.722/G.711 repeat-and-fade the last
  /// frame (a simple PLC, attenuating to silence over ~60 ms). Returns samples written or -1.
  virtual int conceal(std::span<const std::uint8_t> next_payload, int samples, std::span<std::int16_t> out) noexcept = 0;
};

/// nullptr if the library refuses the configuration (e.g. a frame_ms the codec cannot do).
std::unique_ptr<Encoder> make_encoder(const CodecConfig& config);
std::unique_ptr<Decoder> make_decoder(CodecId id);

}  // namespace sb::mix
