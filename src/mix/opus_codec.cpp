// Opus (RFC 6716) through libopus, carried per RFC 7587. We always encode mono at 48 kHz (the RTP
// clock is 48 kHz whatever the coded bandwidth, RFC 7587 §4.1) and decode to mono 48 kHz: a
// stereo stream is downmixed by the decoder (RFC 7587 §3.4 lets a receiver play any stream mono).
//
// The encoder state is allocated by us (opus_encoder_get_size + opus_encoder_init) so we know its
// size; opus.h documents it as "position independent and can be freely copied" and "always
// continuous in memory and only a shallow copy is sufficient to copy it (e.g. memcpy())", which is
// what copy_state_from relies on.
#include "mix/codec.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <opus/opus.h>

namespace sb::mix {
namespace detail {
std::unique_ptr<Encoder> make_opus_encoder(const CodecConfig& config);
std::unique_ptr<Decoder> make_opus_decoder();
} // namespace detail

namespace {

constexpr int opus_rate = 48000;
// RFC 6716 §2.1.4 / §3.1: Opus frames are 2.5, 5, 10, 20, 40 or 60 ms (libopus 1.3 also takes
// 80–120 ms by packing several 20/40/60 ms frames). 30 ms is not a frame size, so that ptime gets
// no encoder (make_encoder returns nullptr).
bool opus_frame_ms(int ms) noexcept { return ms == 10 || ms == 20 || ms == 40 || ms == 60; }
// PLC and FEC decode whole 2.5 ms units (opus_decode: "frame_size must be a multiple of 2.5 ms").
constexpr int plc_unit = opus_rate / 400;
// No UDP datagram is larger; the bound keeps the length cast to opus_int32 trivially safe.
constexpr std::size_t max_payload = 65535;

struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

class OpusEnc final : public Encoder {
 public:
  OpusEnc(const CodecConfig& c, OpusEncoder* st, int size)
      : cfg_(c), samples_(static_cast<std::size_t>(frame_samples(c))), st_(st), size_(size) {}
  const CodecConfig& config() const noexcept override { return cfg_; }
  int encode(std::span<const std::int16_t> pcm, std::span<std::uint8_t> out) noexcept override {
    if (pcm.size() != samples_ || out.empty())
      return -1;
    const auto cap = static_cast<opus_int32>(std::min(out.size(), max_encoded_bytes));
    const int n = opus_encode(enc(), pcm.data(), static_cast<int>(samples_), out.data(), cap);
    // n ≤ 2 is a DTX frame (opus.h: "does not need to be transmitted"); it is still a valid
    // packet, the caller decides whether to send it.
    return n < 0 ? -1 : n;
  }
  bool copy_state_from(const Encoder& other) noexcept override {
    const auto* o = dynamic_cast<const OpusEnc*>(&other);
    if (o == nullptr || o->cfg_ != cfg_ || o->size_ != size_)
      return false;
    if (o != this)
      std::memcpy(st_.get(), o->st_.get(), static_cast<std::size_t>(size_));
    return true;
  }

 private:
  OpusEncoder* enc() noexcept { return static_cast<OpusEncoder*>(st_.get()); }
  CodecConfig cfg_;
  std::size_t samples_;
  std::unique_ptr<void, FreeDeleter> st_; // opus_encoder_get_size(1) bytes, initialised in place
  int size_;
};

class OpusDec final : public Decoder {
 public:
  explicit OpusDec(OpusDecoder* st) : st_(st) {}
  CodecId id() const noexcept override { return CodecId::opus; }
  int decode(std::span<const std::uint8_t> payload, std::span<std::int16_t> out) noexcept override {
    // An empty payload would make opus_decode run PLC; a loss is reported through conceal().
    if (payload.empty() || payload.size() > max_payload)
      return -1;
    const int n = opus_decode(st_.get(), payload.data(), static_cast<opus_int32>(payload.size()),
                              out.data(), cap(out), 0);
    return n < 0 ? -1 : n;
  }
  int conceal(std::span<const std::uint8_t> next_payload, int samples,
              std::span<std::int16_t> out) noexcept override {
    if (samples <= 0 || samples % plc_unit != 0 || static_cast<std::size_t>(samples) > out.size() ||
        static_cast<std::size_t>(samples) > max_frame_samples)
      return -1;
    if (!next_payload.empty() && next_payload.size() <= max_payload) {
      // RFC 6716 §2.1.7 / §4.2.5: the next packet's SILK layer may carry LBRR, a low-bitrate copy
      // of this lost frame. decode_fec=1 decodes it (and falls back to PLC itself when the packet
      // has no LBRR or is CELT-only). frame_size must be exactly the missing duration.
      const int n =
          opus_decode(st_.get(), next_payload.data(), static_cast<opus_int32>(next_payload.size()),
                      out.data(), samples, 1);
      if (n == samples)
        return n;
      // A malformed next packet: conceal without it (the packet itself fails again at decode()).
    }
    // RFC 6716 §4.4: packet loss concealment, requested by a null packet.
    const int n = opus_decode(st_.get(), nullptr, 0, out.data(), samples, 0);
    return n < 0 ? -1 : n;
  }

 private:
  static int cap(std::span<std::int16_t> out) noexcept {
    return static_cast<int>(std::min(out.size(), max_frame_samples));
  }
  struct Destroy {
    void operator()(OpusDecoder* d) const noexcept { opus_decoder_destroy(d); }
  };
  std::unique_ptr<OpusDecoder, Destroy> st_;
};

} // namespace

namespace detail {

std::unique_ptr<Encoder> make_opus_encoder(const CodecConfig& c) {
  if (!opus_frame_ms(c.frame_ms))
    return nullptr;
  const int size = opus_encoder_get_size(1);
  if (size <= 0)
    return nullptr;
  std::unique_ptr<void, FreeDeleter> mem(std::malloc(static_cast<std::size_t>(size)));
  if (!mem)
    return nullptr;
  auto* st = static_cast<OpusEncoder*>(mem.get());
  // OPUS_APPLICATION_VOIP: speech-tuned (SILK/hybrid preferred, which is where LBRR FEC lives).
  if (opus_encoder_init(st, opus_rate, 1, OPUS_APPLICATION_VOIP) != OPUS_OK)
    return nullptr;
  // Each CTL validates its range (bitrate 500..512000 or OPUS_AUTO, complexity 0..10, loss
  // 0..100) and returns OPUS_BAD_ARG otherwise: a configuration the library refuses gives nullptr.
  if (opus_encoder_ctl(st, OPUS_SET_BITRATE(c.bitrate)) != OPUS_OK ||
      opus_encoder_ctl(st, OPUS_SET_COMPLEXITY(c.complexity)) != OPUS_OK ||
      opus_encoder_ctl(st, OPUS_SET_INBAND_FEC(c.inband_fec ? 1 : 0)) != OPUS_OK ||
      opus_encoder_ctl(st, OPUS_SET_PACKET_LOSS_PERC(c.packet_loss_pct)) != OPUS_OK ||
      opus_encoder_ctl(st, OPUS_SET_DTX(c.dtx ? 1 : 0)) != OPUS_OK)
    return nullptr;
  auto enc = std::make_unique<OpusEnc>(c, st, size);
  (void)mem.release(); // owned by enc now
  return enc;
}

std::unique_ptr<Decoder> make_opus_decoder() {
  int err = OPUS_OK;
  OpusDecoder* d = opus_decoder_create(opus_rate, 1, &err);
  if (d == nullptr || err != OPUS_OK)
    return nullptr;
  return std::make_unique<OpusDec>(d);
}

} // namespace detail
} // namespace sb::mix
