#include "media/browser_audio.hpp"

#include "base/crypto.hpp"
#include "rtp/packet.hpp"
#include "rtp/relay_renumber.hpp"

#include <algorithm>
#include <cstring>

namespace sb::media {
namespace {

// Browsers send 20 ms Opus frames (WebRTC's default ptime); the jitter buffer is set for that,
// and pull() drains more than one packet per tick when they are shorter.
mix::JitterConfig opus_jitter() {
  mix::JitterConfig c;
  c.frame_ts = 960;
  c.frame = std::chrono::milliseconds(20);
  return c;
}

// One decoded packet (Opus carries up to 120 ms). Per thread, not per input: pull() runs to
// completion on its shard's thread.
thread_local std::array<std::int16_t, mix::max_frame_samples> decode_scratch;

// Passthrough: a browser that has sent nothing for this long no longer relays (the SIP party
// then hears the mix's encoded silence: carriers hang up on RTP that stops). As for a SIP leg
// (rtp::AudioLeg's k_relay_idle).
constexpr auto k_relay_idle = std::chrono::seconds(1);
constexpr std::uint32_t k_opus_clock = 48000;
constexpr std::uint32_t k_units = 960;  // 20 ms at the 48 kHz RTP clock (RFC 7587 §4.1)

}  // namespace

OpusInput::OpusInput(std::uint8_t payload_type, std::uint32_t ssrc)
    : pt_(payload_type), ssrc_(ssrc), jb_(opus_jitter()), dec_(mix::make_decoder(mix::CodecId::opus)) {}

OpusInput::~OpusInput() = default;

void OpusInput::push(std::span<const std::uint8_t> rtp, Clock::time_point arrival) noexcept {
  auto v = rtp::parse_rtp(rtp);
  if (!v) {
    ++stats_.malformed;
    return;
  }
  if (v->ssrc != ssrc_ || v->payload_type != pt_) {
    ++stats_.foreign;
    return;
  }
  last_packet_ = arrival;
  if (relay_peer_) {
    // Passthrough: to the SIP leg as it is (the leg renumbers and protects it).
    ++stats_.relayed;
    relay_peer_->relay({mix::RelayPacket::Kind::audio, v->ssrc, v->seq, v->timestamp, v->marker, 0,
                        {mix::CodecId::opus, k_opus_clock}, v->payload});
    return;
  }
  const auto r = jb_.push(v->seq, v->timestamp, v->payload, arrival);
  if (r == mix::push_result::accepted || r == mix::push_result::reset) ++stats_.packets;
}

std::optional<mix::RelayFormat> OpusInput::relay_format(Clock::time_point now) const noexcept {
  if (!last_packet_ || now - *last_packet_ > k_relay_idle) return std::nullopt;
  return mix::RelayFormat{mix::CodecId::opus, k_opus_clock};
}

void OpusInput::relay_to(mix::RelaySink* peer) noexcept {
  if (peer == relay_peer_) return;
  relay_peer_ = peer;
  // Nothing is buffered or decoded while relaying: the ring and the decoder (18 KiB) go, and are
  // made afresh on the way back (their contents are stale by then anyway).
  jb_.release();
  fifo_n_ = 0;
  if (peer)
    dec_.reset();
  else
    dec_ = mix::make_decoder(mix::CodecId::opus);
}

bool OpusInput::pull(Clock::time_point now, mix::MixFrame& out) noexcept {
  if (!dec_) return false;
  auto& pcm = decode_scratch;
  for (int guard = 0; fifo_n_ < mix::mix_frame && guard < 8; ++guard) {
    auto r = jb_.pop(now);
    if (r.kind == mix::pop_kind::waiting) break;
    int got = -1;
    if (r.kind == mix::pop_kind::frame) {
      got = dec_->decode(r.payload, pcm);
      if (got < 0) ++stats_.decode_errors;
    }
    if (got < 0) {
      // Lost or late: FEC from the next packet when it is here (RFC 7587 §3.2), else PLC.
      got = dec_->conceal(r.fec_payload, static_cast<int>(mix::mix_frame), pcm);
      ++stats_.concealed;
      if (!r.fec_payload.empty()) ++stats_.fec_recovered;
      if (got < 0) break;
    }
    const std::size_t take = std::min(static_cast<std::size_t>(got), fifo_.size() - fifo_n_);
    std::copy_n(pcm.begin(), take, fifo_.begin() + static_cast<std::ptrdiff_t>(fifo_n_));
    fifo_n_ += take;
  }
  if (fifo_n_ < mix::mix_frame) return false;
  std::copy_n(fifo_.begin(), mix::mix_frame, out.begin());
  std::copy(fifo_.begin() + mix::mix_frame, fifo_.begin() + static_cast<std::ptrdiff_t>(fifo_n_), fifo_.begin());
  fifo_n_ -= mix::mix_frame;
  ++stats_.frames;
  return true;
}

OpusStreamOutput::OpusStreamOutput(std::uint32_t ssrc, Send send)
    : ssrc_(ssrc), send_(std::move(send)),
      seq_(static_cast<std::uint16_t>(random_u32())),  // RFC 3550 §5.1: random initial values
      ts_(random_u32()) {
  mix::CodecConfig c;
  c.id = mix::CodecId::opus;
  c.frame_ms = 20;
  c.bitrate = kBitrate;
  c.complexity = kComplexity;
  c.inband_fec = true;
  enc_ = mix::make_encoder(c);
}

OpusStreamOutput::~OpusStreamOutput() = default;

void OpusStreamOutput::on_frame(const mix::MixFrame* frame, bool wanted) noexcept {
  constexpr std::uint32_t kUnits = k_units;
  if (!wanted || !enc_) {
    ++stats_.skipped;
    ts_ += kUnits;
    marker_ = true;
    return;
  }
  static const mix::MixFrame silence{};
  if (!frame) ++stats_.silent_frames;
  std::array<std::uint8_t, mix::max_encoded_bytes> payload;
  const int n = enc_->encode(frame ? *frame : silence, payload);
  if (n < 0) {
    ++stats_.encode_errors;
    ts_ += kUnits;
    marker_ = true;
    return;
  }
  rtp::RtpHeader h;
  h.payload_type = kPayloadType;
  h.marker = marker_;
  h.seq = seq_++;
  h.timestamp = ts_;
  h.ssrc = ssrc_;
  marker_ = false;
  ts_ += kUnits;
  std::array<std::uint8_t, 12 + mix::max_encoded_bytes> out;
  const auto len = rtp::write_rtp(out, h, std::span<const std::uint8_t>(payload.data(), static_cast<std::size_t>(n)));
  if (len == 0) {
    ++stats_.encode_errors;
    return;
  }
  ++stats_.frames;
  send_(std::span<const std::uint8_t>(out.data(), len));
}

void OpusStreamOutput::relay(const mix::RelayPacket& p, bool wanted) noexcept {
  // Opus only (a re-INVITE may have changed the party's codec before the room noticed), and no
  // RFC 4733 events: browsers are not offered telephone-event on this stream.
  if (p.kind != mix::RelayPacket::Kind::audio || p.format.codec != mix::CodecId::opus || p.format.clock != k_opus_clock)
    return;
  if (!wanted) {
    // Nobody to send to: the stream's clock is the party's, so the next packet sent maps on
    // (or re-anchors) from here; it is marked as a new talkspurt.
    marker_ = true;
    return;
  }
  const auto m = renumber_.map(p.ssrc, p.seq, p.timestamp, true, k_units, seq_, ts_);
  if (!m) return;
  rtp::RtpHeader h;
  h.payload_type = kPayloadType;
  h.marker = p.marker || marker_ || m->anchored;
  h.seq = m->seq;
  h.timestamp = m->timestamp;
  h.ssrc = ssrc_;
  marker_ = false;
  std::array<std::uint8_t, 12 + mix::max_encoded_bytes> out;
  const auto len = rtp::write_rtp(out, h, p.payload);
  if (len == 0) return;  // larger than any Opus packet (1275 bytes of payload) can be
  ++stats_.relayed;
  send_(std::span<const std::uint8_t>(out.data(), len));
}

}  // namespace sb::media
