// The codec layer (src/mix/codec.hpp): round trips through each codec measured against the input
// after aligning for the codec's delay, frame and payload sizes, hostile payloads, Opus in-band FEC
// against plain PLC, encoder state copies, and the repeat-and-fade concealment of G.711/G.722.
#include "mix/codec.hpp"

#include "support/signals.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <string>
#include <vector>

using namespace sb::mix;

namespace {

using sb::test::Pcm;
using sb::test::sine;
using sb::test::two_pi;
using Bytes = std::vector<std::uint8_t>;



// Three tones in the speech band (all codecs here pass them).
Pcm multitone(int rate, std::size_t n) {
  Pcm v(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / rate;
    v[i] = static_cast<std::int16_t>(std::lround(5000 * std::sin(two_pi * 440 * t) +
                                                 3000 * std::sin(two_pi * 1250 * t) +
                                                 2000 * std::sin(two_pi * 2900 * t)));
  }
  return v;
}

// Linear sweep from f0 to f1 Hz over n samples, repeated as a sawtooth in frequency every
// `period` samples: content that changes all the time, so neither delay search nor PLC can lean
// on periodicity.
Pcm chirp(int rate, double f0, double f1, std::size_t n, std::size_t period,
          double amplitude = 8000) {
  Pcm v(n);
  double phase = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double f = f0 + (f1 - f0) * static_cast<double>(i % period) / static_cast<double>(period);
    phase += two_pi * f / rate;
    v[i] = static_cast<std::int16_t>(std::lround(amplitude * std::sin(phase)));
  }
  return v;
}

// Encodes `in` frame by frame and decodes each packet; the output has the input's length.
Pcm round_trip(Encoder& enc, Decoder& dec, const Pcm& in) {
  const auto fs = static_cast<std::size_t>(frame_samples(enc.config()));
  Pcm out;
  Bytes packet(max_encoded_bytes);
  Pcm frame(max_frame_samples);
  for (std::size_t pos = 0; pos + fs <= in.size(); pos += fs) {
    const int n = enc.encode(std::span(in).subspan(pos, fs), packet);
    REQUIRE(n > 0);
    const int m = dec.decode(std::span(packet).first(static_cast<std::size_t>(n)), frame);
    REQUIRE(m == static_cast<int>(fs));
    out.insert(out.end(), frame.begin(), frame.begin() + m);
  }
  return out;
}

// Normalized correlation of ref[from, to) with out[from + delay, to + delay).
double correlation(const Pcm& ref, const Pcm& out, std::size_t delay, std::size_t from,
                   std::size_t to) {
  double xy = 0, xx = 0, yy = 0;
  for (std::size_t i = from; i < to; ++i) {
    const double x = ref[i], y = out[i + delay];
    xy += x * y;
    xx += x * x;
    yy += y * y;
  }
  return xx == 0 || yy == 0 ? 0 : xy / std::sqrt(xx * yy);
}

struct Alignment {
  std::size_t delay = 0;
  double corr = -1;
};

// The codec's delay is where the output correlates best with the input; measured over the middle
// of the signal so start-up transients do not count.
Alignment align(const Pcm& ref, const Pcm& out, std::size_t max_delay) {
  Alignment best;
  const std::size_t from = ref.size() / 10, to = ref.size() - max_delay - ref.size() / 10;
  for (std::size_t d = 0; d <= max_delay; ++d) {
    const double c = correlation(ref, out, d, from, to);
    if (c > best.corr)
      best = {d, c};
  }
  return best;
}

double snr_db(const Pcm& ref, const Pcm& out, std::size_t delay) {
  double sig = 0, err = 0;
  for (std::size_t i = ref.size() / 10; i + delay < out.size(); ++i) {
    const double e = static_cast<double>(out[i + delay]) - ref[i];
    sig += static_cast<double>(ref[i]) * ref[i];
    err += e * e;
  }
  return 10 * std::log10(sig / std::max(err, 1e-9));
}

double energy(std::span<const std::int16_t> v) {
  double e = 0;
  for (const auto s : v)
    e += static_cast<double>(s) * s;
  return e;
}

CodecConfig config_for(CodecId id, int frame_ms = 20) {
  CodecConfig c;
  c.id = id;
  c.frame_ms = frame_ms;
  return c;
}

// Voiced-speech stand-in: a gliding 100–200 Hz pitch, harmonics shaped by three moving formants,
// and a 4 Hz syllable envelope. Opus's VAD treats it as speech (a steady tone it does not, and
// SILK codes LBRR only for active speech).
Pcm speech_like(std::size_t n) {
  Pcm v(n);
  double phase = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / 48000;
    const double f0 = 140 + 40 * std::sin(two_pi * 1.3 * t) + 20 * std::sin(two_pi * 3.1 * t);
    phase += two_pi * f0 / 48000;
    const double f2 = 1500 + 300 * std::sin(two_pi * 2 * t);
    double s = 0;
    for (int h = 1; h * f0 < 3800; ++h) {
      const double fh = h * f0;
      const double w = std::exp(-std::pow((fh - 700) / 300, 2)) +
                       0.6 * std::exp(-std::pow((fh - f2) / 300, 2)) +
                       0.3 * std::exp(-std::pow((fh - 2600) / 400, 2));
      s += w * std::sin(h * phase);
    }
    v[i] =
        static_cast<std::int16_t>(std::lround(6000 * (0.5 + 0.5 * std::sin(two_pi * 4 * t)) * s));
  }
  return v;
}

// Opus's delay measured on a chirp (a broadband signal has a single correlation peak; a sine or
// a pitched signal has one per period).
std::size_t opus_delay() {
  auto enc = make_encoder(config_for(CodecId::opus));
  auto dec = make_decoder(CodecId::opus);
  const Pcm in = chirp(48000, 100, 4000, 48000, 12000);
  return align(in, round_trip(*enc, *dec, in), 600).delay;
}

constexpr CodecId all_codecs[] = {CodecId::pcmu, CodecId::pcma, CodecId::g722, CodecId::opus};

} // namespace

TEST_CASE("codec names, PCM rates and RTP clock rates follow RFC 3551 and RFC 7587") {
  CHECK(to_string(CodecId::pcmu) == "PCMU");
  CHECK(to_string(CodecId::pcma) == "PCMA");
  CHECK(to_string(CodecId::g722) == "G722");
  CHECK(to_string(CodecId::opus) == "opus");
  CHECK(sample_rate(CodecId::pcmu) == 8000);
  CHECK(sample_rate(CodecId::g722) == 16000);
  CHECK(sample_rate(CodecId::opus) == 48000);
  // RFC 3551 §4.5.2: G.722 samples at 16 kHz but its RTP clock runs at 8 kHz.
  CHECK(rtp_clock_rate(CodecId::g722) == 8000);
  CHECK(rtp_clock_rate(CodecId::opus) == 48000);
  CHECK(frame_samples(config_for(CodecId::g722)) == 320);
  CHECK(frame_timestamp_units(config_for(CodecId::g722)) == 160);
  CHECK(frame_samples(config_for(CodecId::opus, 60)) == 2880);
}

TEST_CASE("each encoder takes exactly one frame and produces the codec's payload size") {
  for (const int ms : {10, 20, 40, 60}) {
    for (const CodecId id : all_codecs) {
      CAPTURE(to_string(id));
      CAPTURE(ms);
      const auto cfg = config_for(id, ms);
      auto enc = make_encoder(cfg);
      REQUIRE(enc);
      CHECK(enc->config() == cfg);
      auto dec = make_decoder(id);
      REQUIRE(dec);
      CHECK(dec->id() == id);
      const auto fs = static_cast<std::size_t>(frame_samples(cfg));
      const Pcm pcm = multitone(sample_rate(id), fs);
      Bytes out(max_encoded_bytes);
      const int n = enc->encode(pcm, out);
      if (id == CodecId::opus) {
        CHECK(n > 2);
        CHECK(n <= 1275); // RFC 6716 §3.4 R2 bound for one frame
      } else {
        CHECK(n == static_cast<int>(id == CodecId::g722 ? fs / 2 : fs)); // 8 or 4 bits a sample
      }
      Pcm decoded(max_frame_samples);
      CHECK(dec->decode(std::span(out).first(static_cast<std::size_t>(n)), decoded) ==
            static_cast<int>(fs));

      // Wrong frame length, no room for the payload, no room for the PCM: -1, nothing thrown.
      CHECK(enc->encode(std::span(pcm).first(fs - 1), out) == -1);
      CHECK(enc->encode(pcm, std::span(out).first(0)) == -1);
      CHECK(dec->decode(std::span(out).first(static_cast<std::size_t>(n)),
                        std::span(decoded).first(fs - 1)) == -1);
      CHECK(dec->decode({}, decoded) == -1);
    }
  }
}

TEST_CASE("make_encoder refuses configurations the codec cannot do") {
  CHECK_FALSE(make_encoder(config_for(CodecId::pcmu, 25)));
  CHECK_FALSE(make_encoder(config_for(CodecId::g722, 0)));
  CHECK(make_encoder(config_for(CodecId::g722, 30)));
  CHECK_FALSE(make_encoder(config_for(CodecId::opus, 30))); // RFC 6716 §2.1.4: no 30 ms frame
  CodecConfig c = config_for(CodecId::opus);
  c.complexity = 11;
  CHECK_FALSE(make_encoder(c));
  c = config_for(CodecId::opus);
  c.packet_loss_pct = 101;
  CHECK_FALSE(make_encoder(c));
  c = config_for(CodecId::opus);
  c.bitrate = -5;
  CHECK_FALSE(make_encoder(c));
}

TEST_CASE("G.711 round trip keeps about 38 dB SNR on a sine and on a multi-tone") {
  for (const CodecId id : {CodecId::pcmu, CodecId::pcma}) {
    CAPTURE(to_string(id));
    auto enc = make_encoder(config_for(id));
    auto dec = make_decoder(id);
    const Pcm tone = sine(8000, 1000, 8000);
    const Pcm mix = multitone(8000, 8000);
    // G.711 has no delay: sample i decodes from code i.
    CHECK(align(tone, round_trip(*enc, *dec, tone), 8).delay == 0);
    CHECK(snr_db(tone, round_trip(*enc, *dec, tone), 0) > 36);
    CHECK(snr_db(mix, round_trip(*enc, *dec, mix), 0) > 35);
  }
}

TEST_CASE("G.722 at 64 kbit/s reproduces a sine and a chirp after its QMF delay") {
  auto enc = make_encoder(config_for(CodecId::g722));
  auto dec = make_decoder(CodecId::g722);
  const Pcm tone = sine(16000, 1000, 16000);
  const Pcm sweep = chirp(16000, 100, 7000, 32000, 8000);
  const auto a = align(tone, round_trip(*enc, *dec, tone), 100);
  enc = make_encoder(config_for(CodecId::g722));
  dec = make_decoder(CodecId::g722);
  const Pcm sweep_out = round_trip(*enc, *dec, sweep);
  const auto b = align(sweep, sweep_out, 100);
  MESSAGE("G.722 delay " << b.delay << " samples, sine corr " << a.corr << ", chirp corr " << b.corr
                         << ", chirp SNR " << snr_db(sweep, sweep_out, b.delay) << " dB");
  // The transmit and receive QMFs are 24-tap FIRs (G.722 §3.1, §4.4): 22 samples of delay.
  CHECK(b.delay == 22);
  CHECK(a.corr > 0.99);
  CHECK(b.corr > 0.95);
}

TEST_CASE("Opus at 32 kbit/s reproduces a chirp, a sine and a multi-tone after its look-ahead") {
  const std::size_t delay = opus_delay();
  MESSAGE("Opus delay " << delay << " samples");
  // libopus's look-ahead at 48 kHz is 2.5 ms + 4 ms of delay compensation (OPUS_GET_LOOKAHEAD
  // reports 312); the chirp leaves no other candidate.
  CHECK(delay >= 300);
  CHECK(delay <= 320);
  for (const int which : {0, 1, 2}) {
    CAPTURE(which);
    const Pcm in = which == 0   ? chirp(48000, 100, 4000, 96000, 24000)
                   : which == 1 ? sine(48000, 1000, 96000)
                                : multitone(48000, 96000);
    auto enc = make_encoder(config_for(CodecId::opus));
    auto dec = make_decoder(CodecId::opus);
    const Pcm out = round_trip(*enc, *dec, in);
    const double corr = correlation(in, out, delay, in.size() / 10, in.size() - 1000);
    MESSAGE("Opus signal " << which << ": corr " << corr << ", SNR " << snr_db(in, out, delay)
                           << " dB");
    CHECK(corr > 0.9);
  }
}

TEST_CASE("decoders return -1 or a sample count for garbage payloads, never crash") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  Pcm out(max_frame_samples);
  for (const CodecId id : all_codecs) {
    CAPTURE(to_string(id));
    auto dec = make_decoder(id);
    for (int trial = 0; trial < 2000; ++trial) {
      Bytes p(static_cast<std::size_t>(1 + trial % 400));
      for (auto& b : p)
        b = static_cast<std::uint8_t>(byte(rng));
      if (trial % 3 == 0)
        p[0] = static_cast<std::uint8_t>(trial); // walk the Opus TOC byte
      const int n = dec->decode(p, out);
      CHECK((n == -1 || (n >= 0 && n <= static_cast<int>(max_frame_samples))));
      const int c = dec->conceal(p, 960, out);
      CHECK((c == -1 || c == 960));
    }
    // Sizes conceal cannot do.
    CHECK(dec->conceal({}, 0, out) == -1);
    CHECK(dec->conceal({}, 960, std::span(out).first(100)) == -1);
  }
  auto opus = make_decoder(CodecId::opus);
  CHECK(opus->conceal({}, 100, out) == -1); // not a whole number of 2.5 ms (RFC 6716 §4.4 units)
}

TEST_CASE("Opus in-band FEC recovers a lost frame better than PLC alone") {
  CodecConfig cfg = config_for(CodecId::opus);
  cfg.inband_fec = true;
  cfg.packet_loss_pct = 10;
  constexpr std::size_t fs = 960;
  constexpr std::size_t frames = 100;
  const Pcm in = speech_like(fs * frames);
  auto enc = make_encoder(cfg);
  std::vector<Bytes> packets;
  Bytes buf(max_encoded_bytes);
  for (std::size_t f = 0; f < frames; ++f) {
    const int n = enc->encode(std::span(in).subspan(f * fs, fs), buf);
    REQUIRE(n > 0);
    packets.emplace_back(buf.begin(), buf.begin() + n);
  }
  const std::size_t delay = opus_delay();

  // Lose frames at several places; score each recovery by error energy against the input.
  double fec_err_total = 0, plc_err_total = 0;
  int fec_better = 0, losses = 0;
  for (std::size_t lost = 10; lost + 2 < frames; lost += 7) {
    auto with_fec = make_decoder(CodecId::opus);
    auto plc_only = make_decoder(CodecId::opus);
    Pcm a(max_frame_samples), b(max_frame_samples);
    for (std::size_t f = 0; f < lost; ++f) {
      REQUIRE(with_fec->decode(packets[f], a) == static_cast<int>(fs));
      REQUIRE(plc_only->decode(packets[f], b) == static_cast<int>(fs));
    }
    REQUIRE(with_fec->conceal(packets[lost + 1], static_cast<int>(fs), a) == static_cast<int>(fs));
    REQUIRE(plc_only->conceal({}, static_cast<int>(fs), b) == static_cast<int>(fs));
    double fec_err = 0, plc_err = 0;
    for (std::size_t i = 0; i < fs; ++i) {
      const double ref = in[lost * fs + i - delay];
      fec_err += (a[i] - ref) * (a[i] - ref);
      plc_err += (b[i] - ref) * (b[i] - ref);
    }
    fec_err_total += fec_err;
    plc_err_total += plc_err;
    fec_better += fec_err < plc_err ? 1 : 0;
    ++losses;
  }
  const double gain_db = 10 * std::log10(plc_err_total / fec_err_total);
  MESSAGE("FEC error " << gain_db << " dB below PLC; FEC better in " << fec_better << "/" << losses
                       << " losses");
  // Measured: FEC ≈ 6–7 dB SNR on the lost frame where PLC gets ≈ 0 dB; 4.8 dB less error over
  // all losses (one falls in an envelope trough, where the encoder spent no LBRR).
  CHECK(gain_db > 3);
  CHECK(fec_better * 4 >= losses * 3);
}

TEST_CASE("copy_state_from makes two encoders produce byte-identical packets") {
  for (const CodecId id : all_codecs) {
    CAPTURE(to_string(id));
    const auto cfg = config_for(id);
    const auto fs = static_cast<std::size_t>(frame_samples(cfg));
    const Pcm speechy = chirp(sample_rate(id), 150, 3000, fs * 20, fs * 3 + 7);
    const Pcm other = multitone(sample_rate(id), fs * 10);
    auto a = make_encoder(cfg);
    auto b = make_encoder(cfg);
    Bytes pa(max_encoded_bytes), pb(max_encoded_bytes);
    // Let the states diverge: a has coded the chirp, b something else.
    for (std::size_t f = 0; f < 10; ++f) {
      REQUIRE(a->encode(std::span(speechy).subspan(f * fs, fs), pa) > 0);
      REQUIRE(b->encode(std::span(other).subspan(f * fs, fs), pb) > 0);
    }
    auto diverged = make_encoder(cfg);
    for (std::size_t f = 0; f < 10; ++f)
      REQUIRE(diverged->encode(std::span(other).subspan(f * fs, fs), pb) > 0);

    REQUIRE(b->copy_state_from(*a));
    bool all_same = true, diverged_differs = false;
    Bytes pd(max_encoded_bytes);
    for (std::size_t f = 10; f < 20; ++f) {
      const auto frame = std::span(speechy).subspan(f * fs, fs);
      const int na = a->encode(frame, pa), nb = b->encode(frame, pb),
                nd = diverged->encode(frame, pd);
      REQUIRE((na > 0 && nb > 0 && nd > 0));
      all_same = all_same && na == nb && std::equal(pa.begin(), pa.begin() + na, pb.begin());
      diverged_differs =
          diverged_differs || na != nd || !std::equal(pa.begin(), pa.begin() + na, pd.begin());
    }
    CHECK(all_same);
    // G.711 has no state to diverge; G.722's ADPCM predictors and Opus's whole state do.
    CHECK(diverged_differs == (id == CodecId::g722 || id == CodecId::opus));
  }
  // Only the same codec with the same configuration can be copied.
  auto g722 = make_encoder(config_for(CodecId::g722));
  auto g722_40 = make_encoder(config_for(CodecId::g722, 40));
  auto opus = make_encoder(config_for(CodecId::opus));
  CodecConfig low = config_for(CodecId::opus);
  low.bitrate = 16000;
  auto opus_low = make_encoder(low);
  CHECK_FALSE(g722->copy_state_from(*opus));
  CHECK_FALSE(opus->copy_state_from(*g722));
  CHECK_FALSE(g722->copy_state_from(*g722_40));
  CHECK_FALSE(opus->copy_state_from(*opus_low));
  CHECK(opus->copy_state_from(*opus)); // self-copy is harmless
}

TEST_CASE("G.711 and G.722 concealment repeats the last frame, fades to silence in 60 ms") {
  for (const CodecId id : {CodecId::pcmu, CodecId::g722}) {
    CAPTURE(to_string(id));
    const auto cfg = config_for(id);
    const auto fs = static_cast<std::size_t>(frame_samples(cfg));
    auto enc = make_encoder(cfg);
    auto dec = make_decoder(id);
    Pcm out(max_frame_samples);
    // Before any audio, a loss is silence.
    REQUIRE(dec->conceal({}, static_cast<int>(fs), out) == static_cast<int>(fs));
    CHECK(energy(std::span(out).first(fs)) == 0);

    const Pcm tone = sine(sample_rate(id), 500, fs * 5, 12000);
    Bytes packet(max_encoded_bytes);
    Pcm last(fs);
    for (std::size_t f = 0; f < 5; ++f) {
      const int n = enc->encode(std::span(tone).subspan(f * fs, fs), packet);
      REQUIRE(dec->decode(std::span(packet).first(static_cast<std::size_t>(n)), out) ==
              static_cast<int>(fs));
      std::copy(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(fs), last.begin());
    }
    // Three concealed frames, each quieter than the one before; the first starts as the last
    // good frame did (gain ≈ 1).
    double previous = energy(last);
    for (int k = 0; k < 3; ++k) {
      REQUIRE(dec->conceal({}, static_cast<int>(fs), out) == static_cast<int>(fs));
      if (k == 0)
        CHECK(std::abs(out[1] - last[1]) <= std::abs(last[1]) / 50 + 1);
      const double e = energy(std::span(out).first(fs));
      CHECK(e < previous);
      CHECK(e > 0);
      previous = e;
    }
    // 60 ms reached: silence from here on.
    REQUIRE(dec->conceal({}, static_cast<int>(fs), out) == static_cast<int>(fs));
    CHECK(energy(std::span(out).first(fs)) == 0);
    // A good frame restarts the fade.
    const int n = enc->encode(std::span(tone).first(fs), packet);
    REQUIRE(dec->decode(std::span(packet).first(static_cast<std::size_t>(n)), out) ==
            static_cast<int>(fs));
    REQUIRE(dec->conceal({}, static_cast<int>(fs), out) == static_cast<int>(fs));
    CHECK(energy(std::span(out).first(fs)) > 0);
  }
}

TEST_CASE("Opus PLC produces a full frame and decays over a long loss") {
  auto enc = make_encoder(config_for(CodecId::opus));
  auto dec = make_decoder(CodecId::opus);
  const Pcm tone = sine(48000, 440, 960 * 10);
  Bytes packet(max_encoded_bytes);
  Pcm out(max_frame_samples);
  double good = 0;
  for (std::size_t f = 0; f < 10; ++f) {
    const int n = enc->encode(std::span(tone).subspan(f * 960, 960), packet);
    REQUIRE(dec->decode(std::span(packet).first(static_cast<std::size_t>(n)), out) == 960);
    good = energy(std::span(out).first(960));
  }
  double e = 0;
  for (int k = 0; k < 25; ++k) { // 500 ms of loss
    REQUIRE(dec->conceal({}, 960, out) == 960);
    e = energy(std::span(out).first(960));
  }
  CHECK(e < good / 1000); // at least 30 dB down
}
