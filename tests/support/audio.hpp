// Audio checks for media tests: WAV in and out, resampling for analysis, and measures that say
// whether a recording carries a reference recording ("A hears B, not itself"; "C hears A + B").
//
// Why envelopes and not waveforms: a codec keeps *when* and *how loud* each band of speech is,
// not its phase. Through PCMU and G.722 the waveform survives (correlation ≈ 0.9+), through Opus
// far less, and packet loss concealment replaces samples outright. So the primary measure is the
// correlation of 10 ms log-energy envelopes at the best alignment (found over ±2 s), with a
// per-band version (8 bands, 100–3600 Hz: closer to intelligibility) and the waveform
// correlation beside them for information. Frames where both signals are silent are left out,
// so shared silence never looks like shared speech.
//
// For a mix, energies of uncorrelated talkers add: `contains` fits the recording's band powers
// as a non-negative sum of the references' band powers, each at its own alignment, and reports
// how much of the recording each reference explains.
//
// References: `reference_wav` speaks a text with espeak-ng (distinct voice, pitch, speed and
// text per talker, so talkers are uncorrelated), converts it with sox to 48 kHz mono 16-bit and
// concatenates sentences up to the length asked for (baresip's aufile ends the call at end of
// file, so the source must outlast the call). Files are cached per process in a temp dir.
//
// Analysis code is std only; the reference generator runs espeak-ng and sox (support/process.hpp).
#pragma once
#include "support/process.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numbers>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace sb::test::audio {

// Mono samples in [-1, 1) at `rate` Hz.
struct Pcm {
  int rate = 8000;
  std::vector<float> samples;
  double seconds() const { return rate > 0 ? double(samples.size()) / rate : 0.0; }
};

// ---------------------------------------------------------------------------------------------
// WAV
// ---------------------------------------------------------------------------------------------

namespace detail {
inline std::uint32_t le32(const unsigned char* p) { return p[0] | p[1] << 8 | p[2] << 16 | std::uint32_t(p[3]) << 24; }
inline std::uint16_t le16(const unsigned char* p) { return std::uint16_t(p[0] | p[1] << 8); }
inline void put32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(char(v >> (8 * i) & 0xff));
}
inline void put16(std::string& s, std::uint16_t v) {
  s.push_back(char(v & 0xff));
  s.push_back(char(v >> 8));
}
}  // namespace detail

// Reads RIFF/WAVE: PCM 8/16/24/32-bit or 32-bit float, plain or WAVE_FORMAT_EXTENSIBLE, any
// chunks in any order (LIST, fact, …). Several channels are averaged to mono. A data chunk whose
// size is 0 or runs past the end (a writer killed before it fixed the header) is read to the end
// of the file. Throws std::runtime_error on anything else.
inline Pcm read_wav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  if (n < 12 || bytes.compare(0, 4, "RIFF") != 0 || bytes.compare(8, 4, "WAVE") != 0)
    throw std::runtime_error(path + ": not a RIFF/WAVE file");
  int format = 0, channels = 0, rate = 0, bits = 0;
  std::size_t data_at = 0, data_len = 0;
  bool have_data = false;
  for (std::size_t at = 12; at + 8 <= n;) {
    const std::string id = bytes.substr(at, 4);
    std::size_t len = detail::le32(b + at + 4);
    const std::size_t body = at + 8;
    if (id == "fmt ") {
      if (len < 16 || body + 16 > n) throw std::runtime_error(path + ": short fmt chunk");
      format = detail::le16(b + body);
      channels = detail::le16(b + body + 2);
      rate = int(detail::le32(b + body + 4));
      bits = detail::le16(b + body + 14);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the SubFormat GUID.
      if (format == 0xFFFE) {
        if (len < 40 || body + 40 > n) throw std::runtime_error(path + ": short extensible fmt chunk");
        format = detail::le16(b + body + 24);
      }
    } else if (id == "data") {
      have_data = true;
      data_at = body;
      data_len = (len == 0 || body + len > n) ? n - body : len;
      break;  // samples run to the end of this chunk; nothing after it is needed
    }
    at = body + len + (len & 1);  // chunks are padded to even sizes
  }
  if (!have_data || channels <= 0 || rate <= 0) throw std::runtime_error(path + ": no fmt or data chunk");
  const bool pcm = format == 1 && (bits == 8 || bits == 16 || bits == 24 || bits == 32);
  const bool flt = format == 3 && bits == 32;
  if (!pcm && !flt)
    throw std::runtime_error(path + ": unsupported WAV format " + std::to_string(format) + "/" + std::to_string(bits));
  const std::size_t width = std::size_t(bits / 8), frame = width * std::size_t(channels);
  const std::size_t frames = data_len / frame;
  Pcm out;
  out.rate = rate;
  out.samples.resize(frames);
  for (std::size_t i = 0; i < frames; ++i) {
    double sum = 0;
    for (int c = 0; c < channels; ++c) {
      const unsigned char* p = b + data_at + i * frame + std::size_t(c) * width;
      double v = 0;
      if (flt) {
        float f;
        std::uint32_t u = detail::le32(p);
        std::memcpy(&f, &u, 4);
        v = f;
      } else if (bits == 8) {
        v = (int(p[0]) - 128) / 128.0;
      } else if (bits == 16) {
        v = std::int16_t(detail::le16(p)) / 32768.0;
      } else if (bits == 24) {
        std::int32_t s = std::int32_t(std::uint32_t(p[0]) << 8 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 24);
        v = (s >> 8) / 8388608.0;
      } else {
        v = std::int32_t(detail::le32(p)) / 2147483648.0;
      }
      sum += v;
    }
    out.samples[i] = float(sum / channels);
  }
  return out;
}

// Writes 16-bit PCM mono (clipped to full scale).
inline void write_wav(const std::string& path, const Pcm& pcm) {
  std::string s;
  const auto data = std::uint32_t(pcm.samples.size() * 2);
  s += "RIFF";
  detail::put32(s, 36 + data);
  s += "WAVEfmt ";
  detail::put32(s, 16);
  detail::put16(s, 1);  // PCM
  detail::put16(s, 1);  // mono
  detail::put32(s, std::uint32_t(pcm.rate));
  detail::put32(s, std::uint32_t(pcm.rate * 2));
  detail::put16(s, 2);
  detail::put16(s, 16);
  s += "data";
  detail::put32(s, data);
  s.reserve(s.size() + data);
  for (float f : pcm.samples) {
    long v = std::lround(double(f) * 32768.0);
    detail::put16(s, std::uint16_t(std::int16_t(std::clamp(v, -32768L, 32767L))));
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(s.data(), std::streamsize(s.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// ---------------------------------------------------------------------------------------------
// Signal helpers (analysis only)
// ---------------------------------------------------------------------------------------------

// Windowed-sinc (Blackman, 8 zero crossings) resampling to `rate`, low-passed at 0.9 × the lower
// Nyquist frequency. Good enough for analysis; not meant for playback quality.
inline Pcm resample(const Pcm& in, int rate) {
  if (in.rate == rate || in.samples.empty()) {
    Pcm out = in;
    out.rate = rate;
    return out;
  }
  const double step = double(in.rate) / rate;               // input samples per output sample
  const double c = 0.9 * std::min(1.0, double(rate) / in.rate);  // cutoff, in input Nyquists
  const double half = 8.0 / c;                              // kernel half width, input samples
  // The kernel tabulated at 1/64 input sample, linearly interpolated.
  constexpr int kRes = 64;
  const int table_len = int(std::ceil(half * kRes)) + 2;
  std::vector<double> table(static_cast<std::size_t>(table_len));
  for (int i = 0; i < table_len; ++i) {
    const double u = double(i) / kRes;
    if (u >= half) break;
    const double x = std::numbers::pi * c * u;
    const double sinc = u == 0 ? 1.0 : std::sin(x) / x;
    const double w = 0.42 + 0.5 * std::cos(std::numbers::pi * u / half) + 0.08 * std::cos(2 * std::numbers::pi * u / half);
    table[std::size_t(i)] = c * sinc * w;
  }
  const auto n = std::ptrdiff_t(in.samples.size());
  const auto outn = std::size_t(std::floor(double(n - 1) / step)) + 1;
  Pcm out;
  out.rate = rate;
  out.samples.resize(outn);
  const float* src = in.samples.data();
  const double* tab = table.data();
  if (in.rate % rate == 0) {
    // Integer decimation (48 or 16 kHz to 8 kHz): every output sits on an input sample, so
    // the taps are the same for all of them.
    const auto m = std::ptrdiff_t(in.rate / rate), w = std::ptrdiff_t(std::floor(half));
    std::vector<double> taps(std::size_t(2 * w + 1));
    for (std::ptrdiff_t k = -w; k <= w; ++k) taps[std::size_t(k + w)] = tab[std::size_t(std::abs(k) * kRes)];
    for (std::size_t j = 0; j < outn; ++j) {
      const auto centre = std::ptrdiff_t(j) * m;
      const auto lo = std::max<std::ptrdiff_t>(centre - w, 0), hi = std::min<std::ptrdiff_t>(centre + w, n - 1);
      const double* h = taps.data() + (lo - centre + w);
      double acc = 0;
      for (std::ptrdiff_t i = lo; i <= hi; ++i) acc += src[i] * h[i - lo];
      out.samples[j] = float(acc);
    }
    return out;
  }
  for (std::size_t j = 0; j < outn; ++j) {
    const double x = double(j) * step;
    auto lo = std::ptrdiff_t(std::ceil(x - half)), hi = std::ptrdiff_t(std::floor(x + half));
    lo = std::max<std::ptrdiff_t>(lo, 0);
    hi = std::min<std::ptrdiff_t>(hi, n - 1);
    double acc = 0;
    for (std::ptrdiff_t i = lo; i <= hi; ++i) {
      const double t = std::abs(x - double(i)) * kRes;
      const auto k = std::size_t(t);
      const double f = t - double(k);
      if (k + 1 >= std::size_t(table_len)) continue;
      acc += src[i] * (tab[k] + f * (tab[k + 1] - tab[k]));
    }
    out.samples[j] = float(acc);
  }
  return out;
}

// `p` delayed by `seconds` (leading silence; negative: the start cut off), scaled by `gain`.
inline Pcm delayed(const Pcm& p, double seconds, double gain = 1.0) {
  Pcm out;
  out.rate = p.rate;
  const auto shift = std::ptrdiff_t(std::lround(seconds * p.rate));
  const auto n = std::ptrdiff_t(p.samples.size());
  out.samples.assign(std::size_t(std::max<std::ptrdiff_t>(0, n + shift)), 0.0f);
  for (std::ptrdiff_t i = 0; i < std::ptrdiff_t(out.samples.size()); ++i) {
    const auto s = i - shift;
    if (s >= 0 && s < n) out.samples[std::size_t(i)] = float(p.samples[std::size_t(s)] * gain);
  }
  return out;
}

// The sample-wise sum of several signals (resampled to the first one's rate), as long as the longest.
inline Pcm mix(const std::vector<const Pcm*>& parts) {
  Pcm out;
  if (parts.empty()) return out;
  out.rate = parts.front()->rate;
  for (const Pcm* p : parts) {
    Pcm r = p->rate == out.rate ? *p : resample(*p, out.rate);
    if (r.samples.size() > out.samples.size()) out.samples.resize(r.samples.size(), 0.0f);
    for (std::size_t i = 0; i < r.samples.size(); ++i) out.samples[i] += r.samples[i];
  }
  return out;
}

// RMS level in dBFS (a full-scale sine is −3 dBFS). −inf for silence.
inline double level_dbfs(const Pcm& p) {
  double e = 0;
  for (float v : p.samples) e += double(v) * v;
  return p.samples.empty() ? -INFINITY : 10 * std::log10(e / double(p.samples.size()));
}

// ---------------------------------------------------------------------------------------------
// Envelopes and measures
// ---------------------------------------------------------------------------------------------

// Analysis parameters: 8 kHz, 10 ms hop, 32 ms Hann window, 8 bands.
constexpr int kRate = 8000;
constexpr int kHop = 80;
constexpr int kWin = 256;
constexpr int kBands = 8;
constexpr std::array<double, kBands + 1> kBandEdgesHz{100, 250, 450, 700, 1000, 1400, 1900, 2600, 3600};
// Frames more than this far below a signal's loudest frame count as silence (and are floored).
constexpr double kFloorDb = 45.0;

// A signal's short-time analysis at 8 kHz: per-frame band powers (linear) and log levels.
struct Analysis {
  Pcm pcm;                                         // the signal at kRate
  std::vector<std::array<double, kBands>> power;   // band power per frame (linear)
  std::vector<double> db;                          // total frame level, dB, floored at max − kFloorDb
  std::vector<std::array<double, kBands>> band_db; // band levels, dB, floored likewise
  std::vector<bool> active;                        // frame above the floor + 3 dB
  std::size_t frames() const { return db.size(); }
};

namespace detail {
// In-place radix-2 FFT, n a power of two.
inline void fft(std::vector<std::complex<double>>& a) {
  const std::size_t n = a.size();
  for (std::size_t i = 1, j = 0; i < n; ++i) {
    std::size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (std::size_t len = 2; len <= n; len <<= 1) {
    const double ang = -2 * std::numbers::pi / double(len);
    const std::complex<double> wl(std::cos(ang), std::sin(ang));
    for (std::size_t i = 0; i < n; i += len) {
      std::complex<double> w(1);
      for (std::size_t k = 0; k < len / 2; ++k) {
        auto u = a[i + k], v = a[i + k + len / 2] * w;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
        w *= wl;
      }
    }
  }
}

// Pearson correlation of x[i] and y[i] over indices where `use(i)`; 0 when degenerate.
template <class X, class Y, class Use>
double pearson(std::size_t n, X x, Y y, Use use) {
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  std::size_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!use(i)) continue;
    const double a = x(i), b = y(i);
    sx += a, sy += b, sxx += a * a, syy += b * b, sxy += a * b;
    ++m;
  }
  if (m < 2) return 0;
  const double vx = sxx - sx * sx / double(m), vy = syy - sy * sy / double(m);
  if (vx <= 1e-12 || vy <= 1e-12) return 0;
  return (sxy - sx * sy / double(m)) / std::sqrt(vx * vy);
}
}  // namespace detail

inline Analysis analyse(const Pcm& in) {
  Analysis a;
  a.pcm = in.rate == kRate ? in : resample(in, kRate);
  const auto& s = a.pcm.samples;
  const std::size_t frames = s.size() / kHop;
  a.power.resize(frames);
  std::vector<double> total(frames);
  std::array<double, kWin> hann;
  for (int i = 0; i < kWin; ++i) hann[std::size_t(i)] = 0.5 - 0.5 * std::cos(2 * std::numbers::pi * i / kWin);
  std::array<std::pair<int, int>, kBands> bins;
  for (int k = 0; k < kBands; ++k)
    bins[std::size_t(k)] = {int(std::lround(kBandEdgesHz[std::size_t(k)] * kWin / kRate)),
                            int(std::lround(kBandEdgesHz[std::size_t(k) + 1] * kWin / kRate))};
  std::vector<std::complex<double>> buf(kWin);
  for (std::size_t f = 0; f < frames; ++f) {
    // The window is centred on the frame's 10 ms hop.
    const auto centre = std::ptrdiff_t(f * kHop + kHop / 2);
    for (int i = 0; i < kWin; ++i) {
      const auto at = centre - kWin / 2 + i;
      const double v = at >= 0 && at < std::ptrdiff_t(s.size()) ? s[std::size_t(at)] : 0.0;
      buf[std::size_t(i)] = v * hann[std::size_t(i)];
    }
    detail::fft(buf);
    for (int k = 0; k < kBands; ++k) {
      double e = 0;
      for (int bin = bins[std::size_t(k)].first; bin < bins[std::size_t(k)].second; ++bin) e += std::norm(buf[std::size_t(bin)]);
      a.power[f][std::size_t(k)] = e / kWin;
    }
    double e = 0;
    for (int i = 0; i < kHop; ++i) e += double(s[f * kHop + std::size_t(i)]) * s[f * kHop + std::size_t(i)];
    total[f] = e / kHop;
  }
  auto to_db = [](double p) { return 10 * std::log10(p + 1e-12); };
  double max_db = -200, max_band = -200;
  for (std::size_t f = 0; f < frames; ++f) {
    max_db = std::max(max_db, to_db(total[f]));
    for (double p : a.power[f]) max_band = std::max(max_band, to_db(p));
  }
  a.db.resize(frames);
  a.band_db.resize(frames);
  a.active.resize(frames);
  for (std::size_t f = 0; f < frames; ++f) {
    a.db[f] = std::max(to_db(total[f]), max_db - kFloorDb);
    a.active[f] = a.db[f] > max_db - kFloorDb + 3;
    for (int k = 0; k < kBands; ++k)
      a.band_db[f][std::size_t(k)] = std::max(to_db(a.power[f][std::size_t(k)]), max_band - kFloorDb);
  }
  return a;
}

struct Similarity {
  double envelope = 0;   // correlation of 10 ms log-energy envelopes at the best lag (primary)
  double bands = 0;      // mean over 8 bands of the per-band log-energy envelope correlation
  double steady = 0;     // median over 1 s segments of the locally re-aligned envelope correlation
                         // (robust to a few delay moves; see detail::steady)
  double segmental = 0;  // envelope correlation with each 2 s of the reference aligned on its own
                         // (±200 ms around the global lag), averaged: for a jitter buffer that
                         // moves the delay during the call
  double waveform = 0;   // peak normalised waveform correlation at 8 kHz near that lag
  double lag_ms = 0;     // how much later the reference appears in the recording (waveform-refined)
  double overlap_s = 0;  // length compared (frames where either signal is active)
};

namespace detail {
// Frame lag d maximising the envelope correlation of rec[i] with ref[i − d], |d| ≤ max_lag.
// Returns {lag, correlation}.
inline std::pair<long, double> best_frame_lag(const Analysis& rec, const Analysis& ref, long max_lag) {
  long best = 0;
  double best_r = -2;
  const long nr = long(rec.frames()), nf = long(ref.frames());
  for (long d = -max_lag; d <= max_lag; ++d) {
    const long lo = std::max(0L, d), hi = std::min(nr, nf + d);
    if (hi - lo < 100) continue;  // at least 1 s in common
    const double r = pearson(
        std::size_t(hi - lo), [&](std::size_t i) { return rec.db[std::size_t(lo) + i]; },
        [&](std::size_t i) { return ref.db[std::size_t(lo - d) + i]; },
        [&](std::size_t i) { return rec.active[std::size_t(lo) + i] || ref.active[std::size_t(lo - d) + i]; });
    if (r > best_r) best_r = r, best = d;
  }
  return {best, best_r};
}
}  // namespace detail

// Envelope and band correlations of rec[i] with ref[i − d] (frames) over frames where either is active.
inline Similarity envelopes(const Analysis& rec, const Analysis& ref, long d) {
  Similarity out;
  const long lo = std::max(0L, d), hi = std::min(long(rec.frames()), long(ref.frames()) + d);
  if (hi - lo < 2) return out;
  auto use = [&](std::size_t i) { return rec.active[std::size_t(lo) + i] || ref.active[std::size_t(lo - d) + i]; };
  std::size_t used = 0;
  for (std::size_t i = 0; i < std::size_t(hi - lo); ++i) used += use(i);
  out.overlap_s = double(used) * kHop / kRate;
  out.envelope = detail::pearson(
      std::size_t(hi - lo), [&](std::size_t i) { return rec.db[std::size_t(lo) + i]; },
      [&](std::size_t i) { return ref.db[std::size_t(lo - d) + i]; }, use);
  double sum = 0;
  for (int k = 0; k < kBands; ++k)
    sum += detail::pearson(
        std::size_t(hi - lo), [&](std::size_t i) { return rec.band_db[std::size_t(lo) + i][std::size_t(k)]; },
        [&](std::size_t i) { return ref.band_db[std::size_t(lo - d) + i][std::size_t(k)]; }, use);
  out.bands = sum / kBands;
  out.lag_ms = double(d) * kHop * 1000.0 / kRate;
  return out;
}

namespace detail {
// Per segment of `seg` frames of the reference: the best envelope correlation within ±local
// frames of the global lag d, and the segment's active frames (segments that are mostly silence
// are left out).
inline std::vector<std::pair<double, std::size_t>> segment_scores(const Analysis& rec, const Analysis& ref, long d,
                                                                  long local, long seg) {
  std::vector<std::pair<double, std::size_t>> out;
  for (long s0 = 0; s0 < long(ref.frames()); s0 += seg) {
    const long s1 = std::min(s0 + seg, long(ref.frames()));
    double best = -2;
    std::size_t best_n = 0;
    for (long l = d - local; l <= d + local; ++l) {  // rec[i + l] against ref[i]
      const long lo = std::max(s0, -l), hi = std::min(s1, long(rec.frames()) - l);
      if (hi - lo < seg / 2) continue;
      auto use = [&](std::size_t i) { return rec.active[std::size_t(lo + l) + i] || ref.active[std::size_t(lo) + i]; };
      std::size_t n = 0;
      for (std::size_t i = 0; i < std::size_t(hi - lo); ++i) n += use(i);
      if (n < 50) continue;  // mostly silence: says nothing
      const double r = pearson(
          std::size_t(hi - lo), [&](std::size_t i) { return rec.db[std::size_t(lo + l) + i]; },
          [&](std::size_t i) { return ref.db[std::size_t(lo) + i]; }, use);
      if (r > best) best = r, best_n = n;
    }
    if (best > -2) out.emplace_back(best, best_n);
  }
  return out;
}

// Mean over 2 s segments, weighted by their active frames.
inline double segmental(const Analysis& rec, const Analysis& ref, long d, long local = 20, long seg = 200) {
  double sum = 0, weight = 0;
  for (const auto& [r, n] : segment_scores(rec, ref, d, local, seg)) sum += r * double(n), weight += double(n);
  return weight > 0 ? sum / weight : 0;
}

// Median over 1 s segments: what most of the call sounded like. An adaptive jitter buffer that
// moves the delay a few times (each move spoils the segment it falls in) leaves it alone; a path
// that is mostly wrong or silent does not.
inline double steady(const Analysis& rec, const Analysis& ref, long d, long local = 20, long seg = 100) {
  auto v = segment_scores(rec, ref, d, local, seg);
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2].first : (v[v.size() / 2 - 1].first + v[v.size() / 2].first) / 2;
}
}  // namespace detail

// How well `recording` carries `reference` (either at any rate), searching lags up to ±max_lag_s.
inline Similarity compare(const Analysis& rec, const Analysis& ref, double max_lag_s = 2.0) {
  const long max_lag = long(std::lround(max_lag_s * kRate / kHop));
  auto [d, r] = detail::best_frame_lag(rec, ref, max_lag);
  if (r < -1) return {};  // too little overlap at every lag
  Similarity out = envelopes(rec, ref, d);
  out.segmental = detail::segmental(rec, ref, d);
  out.steady = detail::steady(rec, ref, d);
  // Refine on samples: ±1.5 frames around the envelope lag, searched over (at most) 6 s in the
  // middle of the overlap, then measured over all of it.
  const auto& x = rec.pcm.samples;
  const auto& y = ref.pcm.samples;
  const long nx = long(x.size()), ny = long(y.size());
  auto wave = [&](long l, long from, long to) {  // x[i] against y[i − l], i in [from, to)
    double sxy = 0, sxx = 0, syy = 0;
    const float* px = x.data();
    const float* py = y.data() - l;
    for (long i = from; i < to; ++i) {
      sxy += double(px[i]) * py[i];
      sxx += double(px[i]) * px[i];
      syy += double(py[i]) * py[i];
    }
    return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0.0;
  };
  const long span = 3 * kHop / 2;
  long from = std::max(0L, d * kHop + span), to = std::min(nx, ny + d * kHop - span);  // valid for every lag tried
  if (to - from > 6 * kRate) from = (from + to) / 2 - 3 * kRate, to = from + 6 * kRate;
  long best_lag = d * kHop;
  double best_w = -2;
  if (to - from >= kRate)
    for (long l = d * kHop - span; l <= d * kHop + span; ++l)
      if (double w = wave(l, from, to); w > best_w) best_w = w, best_lag = l;
  if (best_w > -2) best_w = wave(best_lag, std::max(0L, best_lag), std::min(nx, ny + best_lag));
  out.waveform = std::max(0.0, best_w);
  out.lag_ms = best_w > 0.3 ? best_lag * 1000.0 / kRate : double(d) * kHop * 1000.0 / kRate;
  const long rest = best_lag - d * kHop;
  if (best_w > 0.3 && rest != 0) {
    // The waveform found the lag to the sample: align the recording's frames to the
    // reference's exactly and measure the envelopes again (a frame boundary off by a few ms
    // costs a few hundredths of correlation at every onset).
    Pcm shifted;
    shifted.rate = kRate;
    if (rest > 0) shifted.samples.assign(x.begin() + std::min<long>(rest, nx), x.end());
    else {
      shifted.samples.assign(std::size_t(-rest), 0.0f);
      shifted.samples.insert(shifted.samples.end(), x.begin(), x.end());
    }
    const Analysis aligned = analyse(shifted);
    Similarity fine = envelopes(aligned, ref, d);
    out.segmental = detail::segmental(aligned, ref, d);
    out.steady = detail::steady(aligned, ref, d);
    out.envelope = fine.envelope;
    out.bands = fine.bands;
    out.overlap_s = fine.overlap_s;
  }
  return out;
}
inline Similarity compare(const Pcm& recording, const Pcm& reference, double max_lag_s = 2.0) {
  return compare(analyse(recording), analyse(reference), max_lag_s);
}

// One reference's part in a recording (see `contains`).
struct Presence {
  double gain = 0;         // fitted power gain of the reference in the recording (1 = as sent)
  double share = 0;        // fraction of the recording's energy this reference explains
  double correlation = 0;  // its envelope correlation with the recording alone (Similarity::envelope)
  double lag_ms = 0;       // its alignment
};
struct Contents {
  std::vector<Presence> refs;  // in the order given
  double residual = 1;         // fraction of the recording's (squared) band power left unexplained
};

// Estimates how much of each reference a recording of a mix contains: each reference aligned on
// its own (envelope correlation), then the recording's band powers fitted as a non-negative
// combination of the references' band powers (energies of uncorrelated talkers add), over the
// frames where every reference is in range.
inline Contents contains(const Analysis& rec, const std::vector<const Analysis*>& refs, double max_lag_s = 2.0) {
  Contents out;
  const std::size_t n = refs.size();
  if (n == 0 || n > 10) return out;
  std::vector<long> lag(n);
  out.refs.resize(n);
  const long max_lag = long(std::lround(max_lag_s * kRate / kHop));
  for (std::size_t i = 0; i < n; ++i) {
    auto [d, r] = detail::best_frame_lag(rec, *refs[i], max_lag);
    lag[i] = d;
    out.refs[i].correlation = std::max(r, -1.0);
    out.refs[i].lag_ms = double(d) * kHop * 1000.0 / kRate;
  }
  // Normal equations G g = h over (frame, band) cells.
  std::vector<double> G(n * n, 0.0), h(n, 0.0), energy(n, 0.0);
  double yy = 0, ysum = 0;
  for (long t = 0; t < long(rec.frames()); ++t) {
    bool in = true;
    for (std::size_t i = 0; i < n && in; ++i) in = t - lag[i] >= 0 && t - lag[i] < long(refs[i]->frames());
    if (!in) continue;
    for (int k = 0; k < kBands; ++k) {
      const double y = rec.power[std::size_t(t)][std::size_t(k)];
      yy += y * y;
      ysum += y;
      std::array<double, 10> x{};
      for (std::size_t i = 0; i < n; ++i) x[i] = refs[i]->power[std::size_t(t - lag[i])][std::size_t(k)];
      for (std::size_t i = 0; i < n; ++i) {
        h[i] += x[i] * y;
        energy[i] += x[i];
        for (std::size_t j = 0; j < n; ++j) G[i * n + j] += x[i] * x[j];
      }
    }
  }
  if (yy <= 0) return out;
  // Non-negative least squares by trying every support set (n is small).
  std::vector<double> best(n, 0.0);
  double best_obj = yy;
  for (unsigned mask = 1; mask < (1u << n); ++mask) {
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < n; ++i)
      if (mask >> i & 1) idx.push_back(i);
    const std::size_t m = idx.size();
    std::vector<double> A(m * (m + 1));
    for (std::size_t r = 0; r < m; ++r) {
      for (std::size_t c = 0; c < m; ++c) A[r * (m + 1) + c] = G[idx[r] * n + idx[c]];
      A[r * (m + 1) + m] = h[idx[r]];
    }
    bool ok = true;
    for (std::size_t c = 0; c < m && ok; ++c) {  // Gaussian elimination with partial pivoting
      std::size_t p = c;
      for (std::size_t r = c + 1; r < m; ++r)
        if (std::abs(A[r * (m + 1) + c]) > std::abs(A[p * (m + 1) + c])) p = r;
      if (std::abs(A[p * (m + 1) + c]) < 1e-30) ok = false;
      if (!ok) break;
      for (std::size_t k = 0; k <= m; ++k) std::swap(A[c * (m + 1) + k], A[p * (m + 1) + k]);
      for (std::size_t r = 0; r < m; ++r) {
        if (r == c) continue;
        const double f = A[r * (m + 1) + c] / A[c * (m + 1) + c];
        for (std::size_t k = c; k <= m; ++k) A[r * (m + 1) + k] -= f * A[c * (m + 1) + k];
      }
    }
    if (!ok) continue;
    std::vector<double> g(n, 0.0);
    for (std::size_t r = 0; r < m; ++r) {
      g[idx[r]] = A[r * (m + 1) + m] / A[r * (m + 1) + r];
      if (g[idx[r]] < 0) ok = false;
    }
    if (!ok) continue;
    double obj = yy;
    for (std::size_t i = 0; i < n; ++i) {
      obj -= 2 * g[i] * h[i];
      for (std::size_t j = 0; j < n; ++j) obj += g[i] * G[i * n + j] * g[j];
    }
    if (obj < best_obj) best_obj = obj, best = g;
  }
  for (std::size_t i = 0; i < n; ++i) {
    out.refs[i].gain = best[i];
    out.refs[i].share = ysum > 0 ? best[i] * energy[i] / ysum : 0;
  }
  out.residual = std::clamp(best_obj / yy, 0.0, 1.0);
  return out;
}
inline Contents contains(const Pcm& recording, const std::vector<const Pcm*>& references, double max_lag_s = 2.0) {
  std::vector<Analysis> refs;
  for (const Pcm* r : references) refs.push_back(analyse(*r));
  std::vector<const Analysis*> ptrs;
  for (const auto& r : refs) ptrs.push_back(&r);
  return contains(analyse(recording), ptrs, max_lag_s);
}

// ---------------------------------------------------------------------------------------------
// Reference talkers (espeak-ng + sox)
// ---------------------------------------------------------------------------------------------

struct Talker {
  std::string voice;               // espeak-ng -v
  int pitch = 50;                  // -p, 0..99
  int speed = 160;                 // -s, words per minute
  std::vector<std::string> lines;  // spoken in turn (and again from the top) until long enough
};

// Three talkers that differ in voice, pitch, speed and text: their envelopes are uncorrelated.
inline Talker talker(int i) {
  switch (i % 3) {
    case 0:
      return {"en-us+m3", 35, 150,
              {"The quick brown fox jumps over the lazy dog, then naps beside the old stone wall.",
               "Seven ships sailed north at dawn, carrying wool, salt and barrels of cider.",
               "A journey of a thousand miles begins with a single careful step.",
               "Bright lanterns swung from the rafters while the band played until midnight.",
               "Please check the pressure gauge twice before you open the main valve."}};
    case 1:
      return {"en-gb+f3", 75, 175,
              {"Once upon a time a clever clockmaker repaired every clock in the village.",
               "Each morning she brewed strong tea and listened to a hundred gears ticking.",
               "Children gathered to hear her stories about comets, tides and distant islands.",
               "When the winter storms came, the tower bell rang out across the frozen harbour.",
               "Her favourite puzzle was a music box that played a different tune every day."}};
    default:
      return {"en-gb-scotland+m7", 55, 130,
              {"Measure the flour, warm the milk, and knead the dough for ten full minutes.",
               "Our train leaves platform nine at half past four, so bring an umbrella.",
               "Mountain goats climb the steep cliffs looking for tufts of sweet green grass.",
               "The library closes early on Fridays, but the reading room stays open.",
               "Quietly, the fisherman mended his nets and counted the silver herring."}};
  }
}

namespace detail {
struct TempDir {
  std::string path;
  TempDir() {
    path = (std::filesystem::temp_directory_path() / ("sb-audio-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    if (!std::getenv("SB_KEEP_AUDIO")) std::filesystem::remove_all(path, ec);
  }
};
inline const std::string& temp_dir() {
  static TempDir dir;
  return dir.path;
}
inline void run(std::vector<std::string> argv, const std::string& log) {
  Process p(std::move(argv), log);
  if (!p.started()) throw std::runtime_error("cannot start " + log);
  const int rc = p.wait(std::chrono::seconds(30));
  if (rc != 0) {
    std::ifstream in(log);
    throw std::runtime_error("failed (" + std::to_string(rc) + "): " + std::string(std::istreambuf_iterator<char>(in), {}));
  }
}
}  // namespace detail

// A 48 kHz mono 16-bit WAV of `t` speaking for exactly `seconds` (lines concatenated, repeated
// if need be, with 300 ms between lines, the last one cut). Cached for this process; returns
// its path. Throws std::runtime_error if espeak-ng or sox fail.
inline std::string reference_wav(const Talker& t, double seconds) {
  static std::map<std::string, std::string> cache;
  std::string key = t.voice + "|" + std::to_string(t.pitch) + "|" + std::to_string(t.speed) + "|" +
                    std::to_string(seconds);
  for (const auto& l : t.lines) key += "|" + l;
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const std::string dir = detail::temp_dir();
  const std::string base = dir + "/ref-" + std::to_string(std::hash<std::string>{}(key));
  Pcm out;
  out.rate = 48000;
  const auto want = std::size_t(std::lround(seconds * out.rate));
  for (std::size_t line = 0; out.samples.size() < want && !t.lines.empty(); ++line) {
    const std::string raw = base + "-raw.wav", conv = base + "-48k.wav";
    detail::run({"espeak-ng", "-w", raw, "-v", t.voice, "-p", std::to_string(t.pitch), "-s", std::to_string(t.speed),
                 t.lines[line % t.lines.size()]},
                base + "-espeak.log");
    detail::run({"sox", raw, "-r", "48000", "-c", "1", "-b", "16", conv}, base + "-sox.log");
    const Pcm part = read_wav(conv);
    out.samples.insert(out.samples.end(), part.samples.begin(), part.samples.end());
    out.samples.insert(out.samples.end(), std::size_t(out.rate * 3 / 10), 0.0f);
    if (line > 1000) throw std::runtime_error("espeak-ng produced no audio for " + t.voice);
  }
  out.samples.resize(want, 0.0f);
  const std::string path = base + ".wav";
  write_wav(path, out);
  cache[key] = path;
  return path;
}

}  // namespace sb::test::audio
