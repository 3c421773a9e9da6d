// G.722 (ITU-T Rec. G.722, 09/2012) at 64 kbit/s through spandsp: a QMF splits 16 kHz audio into
// two 8 kHz sub-bands (G.722 §3.1–3.2), each coded with ADPCM (6 bits low band, 2 bits high band),
// so one octet carries two samples (§1.2, mode 1). The RTP payload is the octets in order
// (RFC 3551 §4.5.2); no packing option.
//
// spandsp keeps the whole codec state in a plain struct (spandsp/private/g722.h: ints and int16_t
// arrays, no pointers), so we hold it by value, initialise it in place (no allocation) and copy it
// by assignment for copy_state_from.
#include "mix/codec.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

// <spandsp.h> pulls in <tiffio.h> (fax support); only the G.722 parts are needed.
#include <spandsp/telephony.h>
#include <spandsp/g722.h>
#include <spandsp/private/g722.h>
// telephony.h defines lrint/lrintf as truncating casts in C++; keep them out of this file.
#undef lrint
#undef lrintf

// Workaround for Debian's libspandsp.a (0.0.6+dfsg-2, x86-64): its vec_dot_prodi16 is MMX inline
// assembly that advances %rdx without declaring it clobbered, and GCC's inter-procedural register
// allocation then compiled vec_circular_dot_prodi16 (same file) to reuse %rdx across that call.
// In the shared library the call goes through the PLT, so the bug is masked; in the static
// archive it is a direct call and g722_encode() reads far past the QMF history and segfaults
// (first G.722 frame of a -static binary). G.722's QMF is the only user here, so we define the
// function ourselves (spandsp/vector_int.h, same C signature): an object file's definition wins
// over the archive member, which is then not linked at all; if a future spandsp user pulled that
// member in, the duplicate symbol would fail the link loudly rather than crash.
//
// Semantics (spandsp vector_int.c): Σ_{i<n−pos} x[pos+i]·y[i] + Σ_{i<pos} x[i]·y[n−pos+i], the
// dot product of the circular buffer x starting at pos with y, wrapping modulo 2^32 like the MMX
// pmaddwd/paddd sum it replaces (G.722's 24-tap QMF sums never get near that).
extern "C" std::int32_t vec_circular_dot_prodi16(const std::int16_t x[], const std::int16_t y[],
                                                 int n, int pos) {
  std::uint32_t z = 0;
  for (int i = 0; i < n - pos; ++i)
    z += static_cast<std::uint32_t>(std::int32_t{x[pos + i]} * y[i]);
  for (int i = 0; i < pos; ++i)
    z += static_cast<std::uint32_t>(std::int32_t{x[i]} * y[n - pos + i]);
  return static_cast<std::int32_t>(z);
}

namespace sb::mix {
namespace detail {
void fade_conceal(std::span<const std::int16_t> last, int rate, std::int64_t& concealed,
                  std::span<std::int16_t> out) noexcept; // codec.cpp
std::unique_ptr<Encoder> make_g722_encoder(const CodecConfig& config);
std::unique_ptr<Decoder> make_g722_decoder();
} // namespace detail

namespace {

constexpr int g722_bit_rate = 64000; // G.722 mode 1: 6+2 bits per 8 kHz sub-band sample pair
constexpr int g722_rate = 16000;

class G722Encoder final : public Encoder {
 public:
  explicit G722Encoder(const CodecConfig& c)
      : cfg_(c), samples_(static_cast<std::size_t>(frame_samples(c))) {
    g722_encode_init(&st_, g722_bit_rate, 0); // non-null state: initialised in place, cannot fail
  }
  const CodecConfig& config() const noexcept override { return cfg_; }
  int encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) noexcept override {
    if (pcm.size() != samples_ || out.size() < samples_ / 2)
      return -1;
    return g722_encode(&st_, out.data(), pcm.data(), static_cast<int>(pcm.size()));
  }
  bool copy_state_from(const Encoder& other) noexcept override {
    const auto* o = dynamic_cast<const G722Encoder*>(&other);
    if (o == nullptr || o->cfg_ != cfg_)
      return false;
    st_ = o->st_; // plain struct: QMF history and both bands' ADPCM predictor state
    return true;
  }

 private:
  CodecConfig cfg_;
  std::size_t samples_;
  g722_encode_state_t st_{};
};

class G722Decoder final : public Decoder {
 public:
  G722Decoder() { g722_decode_init(&st_, g722_bit_rate, 0); }
  CodecId id() const noexcept override { return CodecId::g722; }
  int decode(std::span<const std::uint8_t> payload, std::span<std::int16_t> out) noexcept override {
    // Every octet is a valid code pair, so any payload decodes; only the sizes can be wrong.
    if (payload.empty() || payload.size() * 2 > out.size() ||
        payload.size() * 2 > max_frame_samples)
      return -1;
    const int n = g722_decode(&st_, out.data(), payload.data(), static_cast<int>(payload.size()));
    if (n <= 0)
      return -1;
    const auto un = static_cast<std::size_t>(n);
    const std::size_t keep = std::min(un, last_.size());
    std::copy(out.begin() + static_cast<std::ptrdiff_t>(un - keep), out.begin() + n, last_.begin());
    last_len_ = keep;
    concealed_ = 0;
    return n;
  }
  int conceal(std::span<const std::uint8_t>, int samples,
              std::span<std::int16_t> out) noexcept override {
    // G.722 has no in-band redundancy; the decoder's ADPCM state simply carries on at the next
    // packet (G.722 Appendix III/IV describe better PLC; repeat-and-fade is the baseline).
    if (samples <= 0 || static_cast<std::size_t>(samples) > out.size() ||
        static_cast<std::size_t>(samples) > max_frame_samples)
      return -1;
    detail::fade_conceal(std::span(last_.data(), last_len_), g722_rate, concealed_,
                         out.first(static_cast<std::size_t>(samples)));
    return samples;
  }

 private:
  g722_decode_state_t st_{};
  std::array<std::int16_t, 960> last_{}; // last good audio, up to 60 ms at 16 kHz
  std::size_t last_len_ = 0;
  std::int64_t concealed_ = 0;
};

bool valid_frame_ms(int ms) noexcept {
  return ms == 10 || ms == 20 || ms == 30 || ms == 40 || ms == 60;
}

} // namespace

namespace detail {

std::unique_ptr<Encoder> make_g722_encoder(const CodecConfig& config) {
  if (!valid_frame_ms(config.frame_ms))
    return nullptr;
  return std::make_unique<G722Encoder>(config);
}

std::unique_ptr<Decoder> make_g722_decoder() { return std::make_unique<G722Decoder>(); }

} // namespace detail
} // namespace sb::mix
