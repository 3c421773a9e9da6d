#include "corpus.hpp"

#include "mix/resampler.hpp"

#include <cmath>
#include <algorithm>
#include <cstdio>
#include <numbers>
#include <stdexcept>

namespace lg {

namespace {

constexpr int k_rate = 48000;
constexpr int k_frame = k_rate / 50;  // 20 ms

// A few sentences of ordinary English: voiced and unvoiced sounds, pauses between words, the
// dynamics codecs and talker gates see on a real call (not a synthetic buzz).
constexpr const char* k_text =
    "Thank you for calling. Your call is important to us, please stay on the line. "
    "The quick brown fox jumps over the lazy dog while seven bright birds sing. "
    "Press one for sales, two for support, or stay on the line to speak with an operator. "
    "We measured every packet, both ways, from the moment it left until it arrived.";

std::vector<std::int16_t> run_espeak() {
  const std::string cmd = std::string("espeak-ng -v en-us -s 165 --stdout \"") + k_text +
                          "\" 2>/dev/null | sox -q -t wav - -t raw -r 48000 -e signed -b 16 -c 1 - 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("corpus: cannot run espeak-ng | sox");
  std::vector<std::int16_t> out;
  std::int16_t buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, sizeof buf[0], 4096, p)) > 0) out.insert(out.end(), buf, buf + n);
  const int rc = ::pclose(p);
  if (rc != 0 || out.size() < static_cast<std::size_t>(k_rate))
    throw std::runtime_error("corpus: espeak-ng | sox produced no speech (are espeak-ng and sox installed?)");
  return out;
}

}  // namespace

int probe_onset(const std::int16_t* pcm, int n, int rate) {
  const int window = rate / 200, hop = rate / 1000;
  const double coeff = 2.0 * std::cos(2.0 * std::numbers::pi * probe_hz / rate);
  for (int at = 0; at + window <= n; at += hop) {
    double s1 = 0, s2 = 0, energy = 0;
    for (int i = at; i < at + window; ++i) {
      const double s0 = pcm[i] + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
      energy += static_cast<double>(pcm[i]) * pcm[i];
    }
    if (energy <= 0 || std::sqrt(energy / window) < 2000) continue;
    // Goertzel power against the window's energy: 1.0 for a pure tone on a bin (5 ms holds
    // exactly five 1 kHz periods at every rate used here).
    if (2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (window * energy) > 0.5) return at;
  }
  return -1;
}

std::vector<std::int16_t> speech_with_probes_48k(int seconds) {
  const auto speech = run_espeak();
  const std::size_t frames = static_cast<std::size_t>(seconds) * 50;
  std::vector<std::int16_t> out(frames * k_frame);
  std::size_t src = 0;
  for (std::size_t f = 0; f < frames; ++f) {
    auto* dst = out.data() + f * k_frame;
    const int phase = static_cast<int>(f % probe_period);
    if (phase < probe_silence_frames) {
      std::fill(dst, dst + k_frame, std::int16_t{0});
    } else if (phase < probe_silence_frames + probe_tone_frames) {
      for (int i = 0; i < k_frame; ++i) {
        const double t = static_cast<double>((phase - probe_silence_frames) * k_frame + i) / k_rate;
        dst[i] = static_cast<std::int16_t>(16000.0 * std::sin(2.0 * std::numbers::pi * probe_hz * t));
      }
    } else {
      for (int i = 0; i < k_frame; ++i) {
        dst[i] = speech[src];
        src = (src + 1) % speech.size();
      }
    }
  }
  return out;
}

EncodedCorpus encode_corpus(const std::vector<std::int16_t>& pcm48, const sb::mix::CodecConfig& cfg) {
  EncodedCorpus c;
  c.id = cfg.id;
  c.ts_step = static_cast<std::uint32_t>(sb::mix::frame_timestamp_units(cfg));
  const int rate = sb::mix::sample_rate(cfg.id);
  std::vector<std::int16_t> pcm(pcm48.size() * static_cast<std::size_t>(rate) / k_rate);
  {
    // 20 ms at a time: the resampler's whole-frame contract (mix/resampler.hpp).
    sb::mix::Resampler rs(k_rate, rate, 5);
    const std::size_t out_frame = static_cast<std::size_t>(rate) / 50;
    for (std::size_t f = 0; f * k_frame < pcm48.size(); ++f) {
      std::span<const std::int16_t> in(pcm48.data() + f * k_frame, k_frame);
      if (rs.process(in, std::span<std::int16_t>(pcm.data() + f * out_frame, out_frame)) < 0)
        throw std::runtime_error("corpus: resample failed");
    }
  }
  auto enc = sb::mix::make_encoder(cfg);
  if (!enc) throw std::runtime_error("corpus: no encoder");
  const std::size_t n = static_cast<std::size_t>(sb::mix::frame_samples(cfg));
  std::vector<std::uint8_t> out(sb::mix::max_encoded_bytes);
  for (std::size_t at = 0, f = 0; at + n <= pcm.size(); at += n, ++f) {
    const int len = enc->encode(std::span<const std::int16_t>(pcm.data() + at, n), out);
    if (len <= 0) throw std::runtime_error("corpus: encode failed");
    c.frames.emplace_back(out.begin(), out.begin() + len);
    c.tone_start.push_back(static_cast<int>(f % probe_period) == probe_silence_frames ? 1 : 0);
  }
  // Calibration: decode the first probe (its silence, then its tone) as a receiver would.
  auto dec = sb::mix::make_decoder(cfg.id);
  std::vector<std::int16_t> pcm_out;
  std::vector<std::int16_t> tmp(sb::mix::max_frame_samples);
  for (int f = 0; f < probe_silence_frames + probe_tone_frames; ++f) {
    const int got = dec->decode(c.frames[static_cast<std::size_t>(f)], tmp);
    if (got <= 0) throw std::runtime_error("corpus: decode failed");
    pcm_out.insert(pcm_out.end(), tmp.begin(), tmp.begin() + got);
  }
  const int onset = probe_onset(pcm_out.data(), static_cast<int>(pcm_out.size()), rate);
  if (onset < 0) throw std::runtime_error("corpus: the probe tone is not found in its own codec");
  c.onset_offset_us = (onset - static_cast<double>(probe_silence_frames) * static_cast<double>(n)) * 1e6 / rate;
  return c;
}

}  // namespace lg
