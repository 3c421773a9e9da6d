// The speech each far end of the load generator sends: an espeak-ng corpus with latency probes
// spliced in, encoded once per codec at start-up so the send path only copies bytes.
//
// A probe is 80 ms of silence then 60 ms of a 1 kHz tone at −6 dBFS, every probe_period frames.
// The silence keeps speech out of the detector's first blocks whatever path the audio takes
// (relay or jitter buffer + mix + re-encode); the tone is found by Goertzel on the decoded audio
// at the other leg (probe.hpp), so the same probe measures a relayed and a transcoded path.
#pragma once

#include "mix/codec.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lg {

inline constexpr int probe_period = 100;       ///< frames between probe starts (2 s)
inline constexpr int probe_silence_frames = 4; ///< 80 ms of silence before the tone
inline constexpr int probe_tone_frames = 3;    ///< 60 ms of tone
inline constexpr double probe_hz = 1000.0;

/// One codec's frames, 20 ms each, and where the tone of each probe starts.
struct EncodedCorpus {
  sb::mix::CodecId id{};
  std::vector<std::vector<std::uint8_t>> frames;
  std::vector<std::uint8_t> tone_start;  ///< 1 on the first tone frame of a probe
  std::uint32_t ts_step = 0;              ///< RTP timestamp units per frame
  /// Where probe_onset finds the tone in this codec's own decoded corpus, from the start of the
  /// first tone frame (the resampler's and codec's delay): subtracted from every measurement, so
  /// a packet relayed unchanged measures its transit only.
  double onset_offset_us = 0;
};

/// The first sample of `pcm` at which a 5 ms window is mostly (> 50 % of its energy) a loud
/// (RMS > −24 dBFS) 1 kHz tone, searched every 1 ms; -1 when there is none.
int probe_onset(const std::int16_t* pcm, int n, int rate);

/// 48 kHz mono speech (espeak-ng piped through sox, run once) with probes spliced in; throws
/// std::runtime_error when either tool fails. `seconds` of audio, looped from the spoken text.
std::vector<std::int16_t> speech_with_probes_48k(int seconds);

/// Resamples (speexdsp) and encodes the corpus for one codec (Opus: complexity and FEC as given).
EncodedCorpus encode_corpus(const std::vector<std::int16_t>& pcm48, const sb::mix::CodecConfig& cfg);

}  // namespace lg
