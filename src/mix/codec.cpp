// Codec factories, rates, and the G.711 codecs (codec.hpp). G.722 lives in g722_codec.cpp
// (spandsp), Opus in opus_codec.cpp (libopus); this file owns the repeat-and-fade PLC that G.711
// and G.722 share.
#include "mix/codec.hpp"

#include "mix/g711.hpp"

#include <algorithm>
#include <array>

namespace sb::mix {

// Defined in g722_codec.cpp / opus_codec.cpp, declared here rather than in a header because
// nothing outside the codec files may call them. The C++ mangled names carry the parameter types,
// so a declaration that drifts from its definition fails to link instead of misbehaving.
namespace detail {
std::unique_ptr<Encoder> make_g722_encoder(const CodecConfig& config);
std::unique_ptr<Decoder> make_g722_decoder();
std::unique_ptr<Encoder> make_opus_encoder(const CodecConfig& config);
std::unique_ptr<Decoder> make_opus_decoder();

/// Repeat-and-fade concealment (codec.hpp): `samples` of `last` repeated, scaled by a gain that
/// falls linearly from 1 to 0 over fade_ms of concealed audio counted from the last good frame.
/// `concealed` is how many samples have been concealed since then; it is advanced by `samples`.
/// No last frame (a loss before anything decoded) or a finished fade gives silence.
void fade_conceal(std::span<const std::int16_t> last, int rate, std::int64_t& concealed,
                  std::span<std::int16_t> out) noexcept;
} // namespace detail

std::string_view to_string(CodecId id) noexcept {
  switch (id) {
  case CodecId::pcmu:
    return "PCMU";
  case CodecId::pcma:
    return "PCMA";
  case CodecId::g722:
    return "G722";
  case CodecId::opus:
    return "opus";
  }
  return "?";
}

int sample_rate(CodecId id) noexcept {
  switch (id) {
  case CodecId::pcmu:
  case CodecId::pcma:
    return 8000;
  case CodecId::g722:
    return 16000;
  case CodecId::opus:
    return 48000;
  }
  return 8000;
}

int rtp_clock_rate(CodecId id) noexcept {
  switch (id) {
  case CodecId::pcmu:
  case CodecId::pcma:
    return 8000;
  // RFC 3551 §4.5.2: G.722's RTP clock is 8000 Hz "for historical reasons" (an error in RFC 1890
  // that was kept), although it samples at 16 kHz.
  case CodecId::g722:
    return 8000;
  // RFC 7587 §4.1: the Opus RTP clock is always 48000 Hz, whatever the internal bandwidth.
  case CodecId::opus:
    return 48000;
  }
  return 8000;
}

namespace detail {

// Fade length: three 20 ms frames. Longer repeats of a 20 ms frame buzz audibly at 50 Hz; shorter
// cuts sound like a click. This is the simplest concealment G.711 Appendix I improves on.
constexpr int fade_ms = 60;

void fade_conceal(std::span<const std::int16_t> last, int rate, std::int64_t& concealed,
                  std::span<std::int16_t> out) noexcept {
  const std::int64_t fade_len = std::int64_t{rate} / 1000 * fade_ms;
  const std::size_t n = last.size();
  for (std::size_t i = 0; i < out.size(); ++i, ++concealed) {
    const std::int64_t left = fade_len - concealed - 1; // samples to go until gain 0
    if (n == 0 || left <= 0) {
      out[i] = 0;
      continue;
    }
    const std::int64_t v =
        std::int64_t{last[static_cast<std::size_t>(concealed) % n]} * left / fade_len;
    out[i] = static_cast<std::int16_t>(v);
  }
}

} // namespace detail

namespace {

bool valid_frame_ms(int ms) noexcept {
  return ms == 10 || ms == 20 || ms == 30 || ms == 40 || ms == 60;
}

// G.711 (ITU-T G.711): one byte per sample at 8 kHz, no state, so copying state is a no-op.
class G711Encoder final : public Encoder {
 public:
  explicit G711Encoder(const CodecConfig& c)
      : cfg_(c), samples_(static_cast<std::size_t>(frame_samples(c))) {}
  const CodecConfig& config() const noexcept override { return cfg_; }
  int encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) noexcept override {
    if (pcm.size() != samples_ || out.size() < samples_)
      return -1;
    const auto n = cfg_.id == CodecId::pcmu ? ulaw_encode(pcm, out) : alaw_encode(pcm, out);
    return static_cast<int>(n);
  }
  bool copy_state_from(const Encoder& other) noexcept override {
    return dynamic_cast<const G711Encoder*>(&other) != nullptr && other.config() == cfg_;
  }

 private:
  CodecConfig cfg_;
  std::size_t samples_;
};

class G711Decoder final : public Decoder {
 public:
  explicit G711Decoder(CodecId id) : id_(id) {}
  CodecId id() const noexcept override { return id_; }
  int decode(std::span<const std::uint8_t> payload, std::span<std::int16_t> out) noexcept override {
    // An RTP audio packet with no payload carries no frame: malformed, not "zero samples".
    if (payload.empty() || payload.size() > out.size() || payload.size() > max_frame_samples)
      return -1;
    const auto n = id_ == CodecId::pcmu ? ulaw_decode(payload, out) : alaw_decode(payload, out);
    // Keep the tail of the frame for concealment.
    const std::size_t keep = std::min(n, last_.size());
    std::copy(out.begin() + static_cast<std::ptrdiff_t>(n - keep),
              out.begin() + static_cast<std::ptrdiff_t>(n), last_.begin());
    last_len_ = keep;
    concealed_ = 0;
    return static_cast<int>(n);
  }
  int conceal(std::span<const std::uint8_t>, int samples,
              std::span<std::int16_t> out) noexcept override {
    if (samples <= 0 || static_cast<std::size_t>(samples) > out.size() ||
        static_cast<std::size_t>(samples) > max_frame_samples)
      return -1;
    detail::fade_conceal(std::span(last_.data(), last_len_), 8000, concealed_,
                         out.first(static_cast<std::size_t>(samples)));
    return samples;
  }

 private:
  CodecId id_;
  std::array<std::int16_t, 480> last_{}; // last good audio, up to 60 ms at 8 kHz
  std::size_t last_len_ = 0;
  std::int64_t concealed_ = 0; // samples concealed since the last good frame
};

} // namespace

std::unique_ptr<Encoder> make_encoder(const CodecConfig& config) {
  switch (config.id) {
  case CodecId::pcmu:
  case CodecId::pcma:
    if (!valid_frame_ms(config.frame_ms))
      return nullptr;
    return std::make_unique<G711Encoder>(config);
  case CodecId::g722:
    return detail::make_g722_encoder(config);
  case CodecId::opus:
    return detail::make_opus_encoder(config);
  }
  return nullptr;
}

std::unique_ptr<Decoder> make_decoder(CodecId id) {
  switch (id) {
  case CodecId::pcmu:
  case CodecId::pcma:
    return std::make_unique<G711Decoder>(id);
  case CodecId::g722:
    return detail::make_g722_decoder();
  case CodecId::opus:
    return detail::make_opus_decoder();
  }
  return nullptr;
}

} // namespace sb::mix
