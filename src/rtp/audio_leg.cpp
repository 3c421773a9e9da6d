#include "rtp/audio_leg.hpp"

#include "base/crypto.hpp"
#include "base/encoding.hpp"
#include "base/log.hpp"
#include "mix/codec.hpp"
#include "mix/jitter_buffer.hpp"
#include "mix/resampler.hpp"
#include "rtp/dtls.hpp"
#include "rtp/dtmf.hpp"
#include "rtp/packet.hpp"
#include "rtp/receive_mux.hpp"
#include "rtp/relay_renumber.hpp"
#include "rtp/rtcp.hpp"
#include "rtp/sdes.hpp"
#include "rtp/seq.hpp"
#include "rtp/srtp.hpp"
#include "rtp/udp_socket.hpp"

#include <boost/asio.hpp>
#include <fmt/format.h>

#include <sys/socket.h>

#include <algorithm>

namespace sb::rtp {
namespace asio = boost::asio;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// RFC 4961 latching for plain RTP: once latched, another source may take over only after the
// latched one has been silent this long (a NAT rebinding), so a stray packet cannot hijack it.
constexpr auto k_relatch_after = 2s;
// RFC 3550 §6.2: 5 s minimum report interval (we are one of two members, no bandwidth issue).
constexpr auto k_rtcp_interval = 5s;
// Decoded audio waiting for the mixer, at 48 kHz: one 120 ms Opus packet (the largest) plus the
// frame being assembled. Packets bigger than that (a 1500-byte G.711 payload is 187 ms) are cut.
constexpr std::size_t k_fifo = mix::max_frame_samples + mix::mix_frame;
// Scratch for pull(): one decoded packet, then at 48 kHz (a 1500-byte G.711 payload is 1500
// samples at 8 kHz, 9000 at 48 kHz). One per thread, not per leg (30 KB less per leg): pull()
// runs to completion on its shard's thread.
thread_local std::array<std::int16_t, mix::max_frame_samples> pcm_scratch;
thread_local std::array<std::int16_t, 9600> up_scratch;
// RFC 3551 §6: payload type 13 is comfort noise (RFC 3389).
constexpr int k_cn_pt = 13;
// speexdsp's "VoIP" quality (SPEEX_RESAMPLER_QUALITY_VOIP): 7–8 µs per 20 ms frame instead of
// 11–15 µs at 5 (PERF.md), and its passband still covers what 8/16 kHz codecs carry.
constexpr int k_resampler_quality = 3;
// DTLS datagrams kept from before the answer (a ClientHello flight is one or two).
constexpr std::size_t k_early_dtls = 4;
// In-sequence packets a new plain-RTP source must send before we latch to it.
constexpr int k_latch_probation = 3;
// In-band DTMF scratch: the longest frame we send (120 ms) at spandsp's 8 kHz and at 48 kHz.
constexpr std::size_t k_inband_frame_max = 120 * k_inband_rate / 1000;
// Passthrough needs a live stream both ways: a far end that sent no audio this long (silence
// suppression or comfort noise only, Opus DTX, hold without re-INVITE) goes back through the
// mix, which sends encoded silence every 20 ms (carriers hang up on RTP that stops). Shorter
// pauses pass through as they are; long enough that speech pauses do not flip the room (each
// start of a relay skips what the jitter buffer held: up to its depth of audio).
constexpr auto k_relay_idle = 1s;
// The largest datagram a leg receives (and so the largest packet it relays), before SRTP.
constexpr std::size_t k_max_datagram = 2048;
// The shard's receive path hands us datagrams in its own buffers: as large, with room after them
// for an SRTP trailer (a relayed packet is re-protected in place).
static_assert(ReceiveMux::k_max_datagram == k_max_datagram);
static_assert(ReceiveMux::k_headroom >= srtp_max_trailer);

std::int64_t steady_ms(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

mix::CodecId codec_id(sdp::Codec c) {
  switch (c) {
    case sdp::Codec::opus: return mix::CodecId::opus;
    case sdp::Codec::g722: return mix::CodecId::g722;
    case sdp::Codec::pcmu: return mix::CodecId::pcmu;
    case sdp::Codec::pcma: return mix::CodecId::pcma;
  }
  return mix::CodecId::pcmu;
}

}  // namespace

struct AudioLeg::State final : mix::Participant,
                                ReceiveMux::Sink,
                                std::enable_shared_from_this<AudioLeg::State> {
  explicit State(asio::any_io_executor ex)
      : ex(ex), rtcp_timer(ex), dtls_timer{asio::steady_timer(ex), asio::steady_timer(ex)} {}
  asio::any_io_executor ex;
  // Plain descriptors that the shard's ReceiveMux drains (receive_mux.hpp), indexed like `rx`.
  UdpSocket rtp, rtcp;
  ReceiveMux* mux = nullptr;
  std::array<ReceiveMux::Handle, 2> rx{};  // registrations: [0] RTP socket, [1] RTCP socket
  asio::steady_timer rtcp_timer;
  std::shared_ptr<PortAllocator> ports;
  asio::ip::address address;  // what the sockets bind to
  std::uint16_t port = 0;
  bool stopped = false;
  LegStats stats;
  std::optional<Clock::time_point> last_packet;
  std::optional<Clock::time_point> last_audio;  // audio or RFC 4733 events, not CN (passthrough)

  // Where to send: the SDP address until packets arrive, then where they come from (latching).
  std::optional<udp::endpoint> remote_rtp, remote_rtcp;
  std::optional<udp::endpoint> sdp_rtp;  // what the far end's SDP says
  bool latched = false;
  Clock::time_point last_from_latched{};
  bool rtcp_mux = false;
  // A plain-RTP source other than the SDP address must send k_latch_probation in-sequence
  // packets of the same SSRC before we switch to it (no "RTP bleed" from one stray packet).
  std::optional<udp::endpoint> candidate;
  std::uint32_t candidate_ssrc = 0;
  std::uint16_t candidate_seq = 0;
  int candidate_run = 0;

  // Negotiated media.
  bool have_media = false;
  bool sending = false, receiving = false;
  int send_pt = 0, recv_pt = 0;
  std::optional<int> recv_dtmf_pt;
  int ptime_ms = 20;

  // Keys. A secure leg never sends or accepts a packet without them.
  bool secure = false;
  std::unique_ptr<SrtpContext> srtp_in, srtp_out;
  std::optional<sdp::Crypto> sdes_local, sdes_remote;
  // DTLS-SRTP associations, indexed by channel: [k_rtp] on the RTP port keys RTP (and RTCP with
  // rtcp-mux); [k_rtcp] on the RTCP port keys SRTCP when the far end does not mux (RFC 5764 §4.1).
  static constexpr int k_rtp = 0, k_rtcp = 1;
  std::array<std::unique_ptr<DtlsSrtp>, 2> dtls;
  std::array<std::optional<udp::endpoint>, 2> dtls_peer;  // pinned at the first datagram taken
  std::array<asio::steady_timer, 2> dtls_timer;
  struct EarlyDtls {
    udp::endpoint from;
    std::vector<std::uint8_t> data;
  };
  // DTLS that came before the answer (drop-oldest, at most k_early_dtls). Vectors, not deques:
  // an empty std::deque allocates 0.6 KiB, and nearly every leg keeps these empty.
  std::array<std::vector<EarlyDtls>, 2> early_dtls;
  std::unique_ptr<SrtpContext> srtcp_in, srtcp_out;  // from the RTCP association, when there is one
  std::optional<sdp::Negotiated> dtls_params;         // role and fingerprint, for the RTCP association
  // The identity whose fingerprint our SDP carries (prepare_local): every association of this leg
  // handshakes with this very certificate, whatever DtlsIdentity::process() returns by then.
  std::shared_ptr<const DtlsIdentity> dtls_identity;
  // Set once media can no longer flow (fail_media); the call is woken through on_failure.
  std::optional<std::string> failure;
  std::function<void()> on_failure;  // the call's wake-up (CallMedia::on_failure); may be empty

  // Receive state.
  bool have_ssrc = false;
  std::uint32_t remote_ssrc = 0;
  std::optional<std::uint32_t> pending_ssrc;  // a new SSRC seen once: switch on its second packet
  std::uint16_t pending_seq = 0;
  mix::CodecId codec = mix::CodecId::pcmu;
  SequenceTracker seq;
  JitterEstimator jitter;
  std::unique_ptr<mix::JitterBuffer> jb;
  std::unique_ptr<mix::Decoder> decoder;
  std::unique_ptr<mix::Resampler> up;  // decode rate → 48 kHz; null when equal or not made yet
  int decode_rate = 8000, rtp_clock = 8000;
  // Decoded 48 kHz audio waiting for the mix: made at the first tick that mixes this leg, 40 ms
  // (4 KiB) unless the far end's packets need more (up to k_fifo, 13 KiB, for 120 ms Opus
  // frames), and let go while the leg relays, so a relayed call does not carry it.
  std::vector<std::int16_t> fifo;
  std::size_t fifo_n = 0;
  // Room for `more` samples after fifo_n (as much as k_fifo allows); false: no memory.
  bool fifo_room(std::size_t more) noexcept {
    const std::size_t need = std::max(std::min(k_fifo, fifo_n + more), 2 * mix::mix_frame);
    if (fifo.size() >= need) return true;
    try {
      fifo.resize(need);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }
  // Last SR from the far end (RFC 3550 §6.4.1 LSR/DLSR).
  std::uint32_t last_sr_middle = 0;
  Clock::time_point last_sr_at{};

  // Send state.
  mix::CodecConfig send_cfg;
  std::unique_ptr<mix::Encoder> enc;
  std::unique_ptr<mix::Resampler> down;  // 48 kHz → the codec's rate; null when equal or not made yet
  bool down_silent = false;  // the last frame encoded was silence (encode skipped `down`)
  // The mix's resamplers are made at the first tick that needs them: a relayed leg, or a listener
  // that adopts its output group's encoded frames, never does (6 KiB each for 8 kHz). False: no
  // memory (the tick goes without this leg).
  // A fresh decoder for the leg's codec (its state is stale after a relay or a new source); on
  // no memory the leg has none, and pull() tries again at the next tick.
  void remake_decoder() noexcept {
    try {
      if (auto d = mix::make_decoder(codec)) decoder = std::move(d);
    } catch (const std::exception&) {
      decoder.reset();
    }
  }
  static bool ensure_resampler(std::unique_ptr<mix::Resampler>& r, int from, int to) noexcept {
    if (r || from == to) return true;
    try {
      r = std::make_unique<mix::Resampler>(from, to, k_resampler_quality);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }
  std::uint32_t ssrc = random_u32();
  std::uint16_t out_seq = static_cast<std::uint16_t>(random_u32());
  std::uint32_t out_ts = random_u32();
  bool first_packet = true;
  std::optional<Clock::time_point> last_send;  // when the last RTP packet went out
  std::uint32_t last_ts = 0;                   // its timestamp
  bool sent_since_report = false;              // RFC 3550 §6.4: SR only if we sent since the last
  std::uint32_t sent_packets = 0, sent_octets = 0;
  std::string cname = "switchboard@" + sb::to_hex(random_bytes(6));

  // DTMF (rtp/dtmf.hpp), all on the leg's shard. Out: RFC 4733 events when the far end
  // negotiated telephone-event (dtmf_tx), else in-band tones (dtmf_inband) encoded with an
  // encoder of their own (dtmf_enc): the leg's `enc` may be its output group's shared encoder
  // state, which the tones must not disturb. Cleared (the rest dropped) when the leg stops.
  std::unique_ptr<DtmfSender> dtmf_tx;
  DtmfSenderConfig dtmf_tx_cfg;  // what dtmf_tx was made with
  std::unique_ptr<InbandDtmf> dtmf_inband;
  std::unique_ptr<mix::Encoder> dtmf_enc;
  std::unique_ptr<mix::Resampler> dtmf_up;  // 8 kHz tones → the codec's rate (G.722, Opus)
  // In: one RFC 4733 receiver for the far end's event stream (reset when its SSRC changes).
  DtmfReceiver dtmf_rx;
  std::optional<std::uint32_t> dtmf_rx_ssrc;
  std::uint32_t dtmf_rx_clock = 0;
  std::function<void(const sip::DtmfIn&)> on_dtmf;  // the call's (CallMedia::on_dtmf)
  void report_dtmf(const DtmfDigit& d, sip::DtmfMethod method);
  int inband_frame(std::span<std::uint8_t> out) noexcept;
  void configure_dtmf(const sdp::Negotiated& n);

  // ---- mix::Participant -----------------------------------------------------------------
  bool pull(Clock::time_point now, mix::MixFrame& out) noexcept override;
  const mix::CodecConfig* send_config() const noexcept override {
    return sending && enc && (!secure || srtp_out) && remote_rtp ? &send_cfg : nullptr;
  }
  int encode(const mix::MixFrame& pcm, std::span<std::uint8_t> out) noexcept override;
  const mix::Encoder* encoder() const noexcept override { return enc.get(); }
  bool adopt_encoder_state(const mix::Participant& leader) noexcept override {
    const auto* e = leader.encoder();
    return enc && e && enc->copy_state_from(*e);
  }
  void send(std::span<const std::uint8_t> payload) noexcept override;
  // Packetize (header given), protect and send to the far end; the send statistics.
  void transmit(const RtpHeader& h, std::span<const std::uint8_t> payload, Clock::time_point now) noexcept;

  // ---- passthrough (mix::Participant's relay; src/media/conference pairs two legs) ----------
  std::optional<RelayFormat> relay_format(Clock::time_point now) const noexcept override;
  void relay_to(mix::RelaySink* peer) noexcept override;
  void relay(const RelayPacket& p) noexcept override;
  void relay_tick(Clock::time_point now) noexcept override { dtmf_housekeeping(now); }
  RelayFormat receive_format() const noexcept { return {codec, static_cast<std::uint32_t>(rtp_clock)}; }
  // Each tick (pull() or relay_tick()): an event whose end never came, and after which no audio
  // came either, is reported once it has been quiet for the receiver's timeout.
  void dtmf_housekeeping(Clock::time_point now) noexcept {
    if (const auto d = dtmf_rx.on_timer(steady_ms(now))) report_dtmf(*d, sip::DtmfMethod::rfc4733);
  }
  mix::RelaySink* relay_peer = nullptr;  // while relaying: where what we receive goes
  // What we send for the peer: its sequence numbers and timestamps shifted into ours, anchored
  // at the first packet after each start (or after its source changed SSRC), so our far end
  // sees our numbering run on: a gap or reordering in its stream stays one in ours.
  rtp::RelayRenumber relay_numbers;  // the peer's packets in our SSRC/sequence/timestamp space

  // ---- receive --------------------------------------------------------------------------
  void on_datagram(std::span<std::uint8_t> buf, std::size_t n, const udp::endpoint& from, bool rtcp_socket);
  void on_rtp(std::span<std::uint8_t> buf, std::size_t n, const udp::endpoint& from);
  void on_rtcp(std::span<std::uint8_t> buf, std::size_t n, const udp::endpoint& from);
  void pump_dtls(int ch);
  void on_dtls_progress(int ch);
  void start_dtls(int ch);
  SrtpContext* rtcp_in() { return srtcp_in ? srtcp_in.get() : srtp_in.get(); }
  SrtpContext* rtcp_out() { return srtcp_out ? srtcp_out.get() : srtp_out.get(); }
  void send_rtcp_report(bool bye = false);
  void fail_media(std::string why);
  bool accept_source(const udp::endpoint& from, const RtpView& v, Clock::time_point now);
  void switch_to(const udp::endpoint& from);
  void send_raw(UdpSocket& s, const udp::endpoint& to, std::span<const std::uint8_t> data) {
    boost::system::error_code ec;
    s.send_to(data, to, ec);
    if (ec) ++stats.send_errors;
  }

  // ---- ReceiveMux::Sink: the shard's receive path hands us each datagram in place ----------
  void on_receive(std::span<std::uint8_t> buf, std::size_t n, const udp::endpoint& from, int channel) override {
    on_datagram(buf, n, from, channel == 1);
  }
  bool on_receive_error(int channel, const boost::system::error_code& ec) override;
  void start_receiving(int channel);
};

// ------------------------------------------------------------------------------------------
// Receive

void AudioLeg::State::on_datagram(std::span<std::uint8_t> buf, std::size_t n, const udp::endpoint& from,
                                  bool rtcp_socket) {
  if (n == 0) return;
  switch (classify(buf[0])) {
    case PacketKind::dtls:
    {
      // RFC 7983 §7: DTLS on the RTP port; without rtcp-mux a far end may run a second
      // association on its RTCP port for SRTCP (RFC 5764 §4.1).
      const int ch = rtcp_socket ? k_rtcp : k_rtp;
      if (ch == k_rtcp && dtls_params && !dtls[k_rtcp] && !rtcp_mux) start_dtls(k_rtcp);
      if (dtls[ch]) {
        // The association talks to one peer: the first source at the SDP address that it took
        // a datagram from (any port: a NAT may move it). Nobody else can feed it an alert or
        // redirect the handshake.
        const bool from_peer =
            dtls_peer[ch] ? from == *dtls_peer[ch] : (sdp_rtp && from.address() == sdp_rtp->address());
        if (!from_peer) {
          ++stats.foreign_source;
          return;
        }
        dtls_peer[ch] = from;
        dtls[ch]->receive(buf.first(n), Clock::now());
        on_dtls_progress(ch);
      } else if (ch == k_rtcp && (rtcp_mux || (have_media && !dtls_params))) {
        ++stats.dtls_on_rtcp_port;  // no association runs there (muxed, or not a DTLS call)
      } else {
        // An active (client) far end starts the handshake as soon as it sends its answer, which
        // can reach us before the answer does: keep the flight for the association about to be
        // made (replayed if it came from the answer's address), instead of waiting a whole
        // retransmission timeout (1 s of lost audio). Drop-oldest, so junk cannot crowd it out.
        auto& early = early_dtls[ch];
        if (early.size() == k_early_dtls) {
          early.erase(early.begin());
          ++stats.malformed;
        }
        early.push_back({from, std::vector<std::uint8_t>(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n))});
      }
      return;
    }
    case PacketKind::stun: ++stats.stun; return;  // no ICE on SIP legs
    case PacketKind::rtp_or_rtcp: break;
    case PacketKind::unknown:
      ++stats.malformed;
      log::debug("rtp", "leg :{} dropped {} bytes from {}:{} (first byte {})", port, n, from.address().to_string(),
                 from.port(), buf[0]);
      return;
  }
  if (rtcp_socket || looks_like_rtcp(buf.first(n)))
    on_rtcp(buf, n, from);
  else
    on_rtp(buf, n, from);
}

void AudioLeg::State::on_rtp(std::span<std::uint8_t> buf, std::size_t n, const udp::endpoint& from) {
  if (!have_media) {
    ++stats.unknown_pt;  // nothing negotiated yet (early media is not played)
    return;
  }
  if (secure) {
    if (!srtp_in) {
      ++stats.unauthenticated;
      return;
    }
    const int len = srtp_in->unprotect_rtp(buf, n);
    if (len < 0) {
      ++stats.srtp_failures;
      log::debug("rtp", "leg :{} SRTP check failed: {} bytes from {}:{}, seq {}", port, n, from.address().to_string(),
                 from.port(), n >= 4 ? (buf[2] << 8 | buf[3]) : -1);
      return;
    }
    n = static_cast<std::size_t>(len);
  }
  auto pkt = parse_rtp(buf.first(n));
  if (!pkt) {
    ++stats.malformed;
    return;
  }
  const auto now = Clock::now();
  const auto& v = *pkt;
  if (!accept_source(from, v, now)) return;
  last_packet = now;
  ++stats.rtp_packets;
  stats.rtp_bytes += n;
  if (!receiving) return;  // inactive/recvonly from our side: nothing plays (no stale audio on resume)
  if (recv_dtmf_pt && v.payload_type == *recv_dtmf_pt) {
    // RFC 4733 §2.5.2: events, not audio. The receiver keeps one event of state per source.
    ++stats.telephone_events;
    last_audio = now;
    if (dtmf_rx_ssrc != v.ssrc) {
      dtmf_rx.reset();
      dtmf_rx_ssrc = v.ssrc;
    }
    for (const auto& d : dtmf_rx.on_event(v.payload, v.timestamp, v.marker, v.seq, steady_ms(now)))
      report_dtmf(d, sip::DtmfMethod::rfc4733);
    if (relay_peer) {
      // Reported to the call above, and passed on as events (the peer drops them if its far
      // end did not negotiate telephone-event on the same clock).
      ++stats.relayed_in;
      relay_peer->relay({RelayPacket::Kind::event, v.ssrc, v.seq, v.timestamp, v.marker, dtmf_rx_clock,
                         receive_format(), v.payload});
    }
    return;
  }
  if (v.payload_type == k_cn_pt) {
    ++stats.comfort_noise;
    return;
  }
  if (v.payload_type != recv_pt || !jb) {
    ++stats.unknown_pt;
    return;
  }
  // Audio past an event's end closes it when every end packet was lost (RFC 4733 §2.5.2.2).
  if (dtmf_rx_ssrc == v.ssrc)
    if (const auto d = dtmf_rx.on_audio(v.timestamp)) report_dtmf(*d, sip::DtmfMethod::rfc4733);
  if (!have_ssrc || v.ssrc != remote_ssrc) {
    // A new source (the far end restarted, a transfer). Switch on its second in-sequence packet
    // (RFC 3550 A.1's idea of probation), so a stray or interleaved SSRC cannot keep flushing
    // the buffer: fresh sequence state, buffer, decoder and resampler history.
    if (have_ssrc && !(pending_ssrc == v.ssrc && v.seq == static_cast<std::uint16_t>(pending_seq + 1))) {
      pending_ssrc = v.ssrc;
      pending_seq = v.seq;
      return;
    }
    if (have_ssrc) ++stats.ssrc_changes;
    pending_ssrc.reset();
    have_ssrc = true;
    remote_ssrc = v.ssrc;
    seq = SequenceTracker{};
    jitter = JitterEstimator{};
    jb->reset();
    if (!relay_peer) remake_decoder();  // a relaying leg has none: the mix makes one when it resumes
    if (up) up->reset();
    fifo_n = 0;
  }
  seq.update(v.seq);
  const auto arrival_units = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() * rtp_clock / 1000000);
  jitter.update(v.timestamp, arrival_units);
  last_audio = now;
  if (relay_peer) {
    ++stats.relayed_in;
    relay_peer->relay({RelayPacket::Kind::audio, v.ssrc, v.seq, v.timestamp, v.marker, 0, receive_format(), v.payload});
    return;
  }
  jb->push(v.seq, v.timestamp, v.payload, now);
}

// RFC 4961 symmetric RTP, with the SDP as the anchor: packets from the SDP address always
// count (and move us back there); an authenticated SRTP packet proves its sender wherever it
// comes from; a plain-RTP packet from elsewhere is a NAT rebinding only if it carries a payload
// type of this call, the latched source has been quiet for k_relatch_after, and it is the
// k_latch_probation-th in-sequence packet of one SSRC from that address.
bool AudioLeg::State::accept_source(const udp::endpoint& from, const RtpView& v, Clock::time_point now) {
  if (remote_rtp && from == *remote_rtp) {
    latched = true;
    last_from_latched = now;
    return true;
  }
  if ((sdp_rtp && from == *sdp_rtp) || secure) {
    switch_to(from);
    last_from_latched = now;
    return true;
  }
  const bool ours = v.payload_type == recv_pt || (recv_dtmf_pt && v.payload_type == *recv_dtmf_pt) ||
                    v.payload_type == k_cn_pt;
  if (!ours || (latched && now - last_from_latched <= k_relatch_after)) {
    ++stats.foreign_source;
    return false;
  }
  if (candidate == from && candidate_ssrc == v.ssrc && v.seq == static_cast<std::uint16_t>(candidate_seq + 1)) {
    ++candidate_run;
  } else {
    candidate = from;
    candidate_ssrc = v.ssrc;
    candidate_run = 1;
  }
  candidate_seq = v.seq;
  if (candidate_run < k_latch_probation) {
    ++stats.foreign_source;
    return false;
  }
  switch_to(from);
  last_from_latched = now;
  return true;
}

void AudioLeg::State::switch_to(const udp::endpoint& from) {
  if (!remote_rtp || from != *remote_rtp) ++stats.latches;
  remote_rtp = from;
  if (rtcp_mux) remote_rtcp = from;
  latched = true;
  candidate.reset();
  candidate_run = 0;
}

void AudioLeg::State::on_rtcp(std::span<std::uint8_t> buf, std::size_t n, const udp::endpoint& from) {
  if (secure) {
    auto* ctx = rtcp_in();
    if (!ctx) {
      ++stats.unauthenticated;
      return;
    }
    const int len = ctx->unprotect_rtcp(buf, n);
    if (len < 0) {
      ++stats.srtp_failures;
      log::debug("rtp", "leg :{} SRTCP check failed: {} bytes from {}:{} ({} context)", port, n,
                 from.address().to_string(), from.port(), srtcp_in ? "RTCP association" : "RTP association");
      return;
    }
    n = static_cast<std::size_t>(len);
  }
  const auto data = std::span<const std::uint8_t>(buf.data(), n);
  if (validate_compound(data)) {
    ++stats.malformed;
    return;
  }
  ++stats.rtcp_packets;
  // Reports go back where authenticated RTCP (or RTCP from the media source's address) comes from.
  if (!rtcp_mux && (secure || (remote_rtp && from.address() == remote_rtp->address()))) remote_rtcp = from;
  const auto now_sys = std::chrono::system_clock::now();
  CompoundReader rd(data);
  auto blocks_about_us = [&](const ReportBlocks& blocks) {
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      auto b = blocks[i];
      if (b.ssrc != ssrc) continue;
      if (auto q = rtt_q16(ntp_middle(to_ntp(now_sys)), b.lsr, b.dlsr))
        stats.rtt_ms = static_cast<std::uint32_t>(from_q16(*q).count() / 1000);
    }
  };
  while (auto p = rd.next()) {
    if (p->type == static_cast<std::uint8_t>(RtcpType::sr)) {
      if (auto sr = parse_sr(*p)) {
        last_sr_middle = ntp_middle(sr->info.ntp);
        last_sr_at = Clock::now();
        blocks_about_us(sr->blocks);
      }
    } else if (p->type == static_cast<std::uint8_t>(RtcpType::rr)) {
      if (auto rr = parse_rr(*p)) blocks_about_us(rr->blocks);
    }
  }
}

// ------------------------------------------------------------------------------------------
// DTLS-SRTP

void AudioLeg::State::pump_dtls(int ch) {
  if (!dtls[ch]) return;
  const auto& to = dtls_peer[ch] ? dtls_peer[ch] : (ch == k_rtp ? remote_rtp : remote_rtcp);
  if (!to) return;
  for (auto& d : dtls[ch]->take_outgoing()) send_raw(ch == k_rtp ? rtp : rtcp, *to, d);
}

void AudioLeg::State::on_dtls_progress(int ch) {
  pump_dtls(ch);
  auto& a = dtls[ch];
  if (!a) return;
  auto& in = ch == k_rtp ? srtp_in : srtcp_in;
  auto& out = ch == k_rtp ? srtp_out : srtcp_out;
  if (a->state() == DtlsSrtp::State::connected && !in && a->keys()) {
    const auto& k = *a->keys();
    in = SrtpContext::create(k.suite, k.remote_key_salt, SrtpContext::Direction::inbound);
    out = SrtpContext::create(k.suite, k.local_key_salt, SrtpContext::Direction::outbound);
    if (!in || !out) {
      in.reset();
      out.reset();
      if (ch == k_rtp) fail_media("SRTP context from the DTLS keys failed");
    } else {
      log::info("rtp", "leg :{} DTLS-SRTP connected on the {} port ({})", port, ch == k_rtp ? "RTP" : "RTCP",
                sdes_name(k.suite));
    }
  } else if (a->state() == DtlsSrtp::State::failed) {
    // The RTP association failing ends the call; the RTCP one only costs the reports.
    log::warn("rtp", "leg :{} DTLS on the {} port failed: {}", port, ch == k_rtp ? "RTP" : "RTCP", a->error());
    if (ch == k_rtp) fail_media("DTLS: " + a->error());
  }
  // Wake the retransmission timer so it re-reads next_timer().
  dtls_timer[ch].cancel();
}

// Media can no longer flow: remember why (the first reason wins) and wake the call, which ends
// itself (BYE) rather than wait for its inactivity check. Runs on the leg's shard; the wake-up
// only kicks the call's coroutine, it never destroys anything inline.
void AudioLeg::State::fail_media(std::string why) {
  if (stopped || failure) return;
  log::warn("rtp", "leg :{} media failed: {}", port, why);
  failure = std::move(why);
  if (on_failure) on_failure();
}

// ------------------------------------------------------------------------------------------
// The conference tick

bool AudioLeg::State::pull(Clock::time_point now, mix::MixFrame& out) noexcept {
  dtmf_housekeeping(now);  // the conference tick is the leg's clock
  if (!receiving || !jb) return false;
  if (!decoder) remake_decoder();  // let go while relaying, made again on the way back; or here
  if (!decoder) return false;
  auto& pcm = pcm_scratch;
  auto& up_pcm = up_scratch;
  const int frame_samples = decode_rate / 1000 * ptime_ms;
  // Normally one jitter-buffer frame per tick; more when the far end packs less than 20 ms.
  for (int guard = 0; fifo_n < mix::mix_frame && guard < 8; ++guard) {
    auto r = jb->pop(now);
    int got = -1;
    if (r.kind == mix::pop_kind::waiting) break;
    if (r.kind == mix::pop_kind::frame) {
      got = decoder->decode(r.payload, pcm);
      if (got < 0) ++stats.decode_errors;
    }
    if (got < 0) {
      got = decoder->conceal(r.fec_payload, frame_samples, pcm);
      ++stats.concealed_frames;
      if (!r.fec_payload.empty()) ++stats.fec_recovered;
      if (got < 0) break;
    }
    std::span<const std::int16_t> at48(pcm.data(), static_cast<std::size_t>(got));
    // Made here, at the first frame: a far end that never sends costs no resampler or FIFO.
    if (!ensure_resampler(up, decode_rate, mix::mix_rate)) break;
    if (up) {
      const int m = up->process(at48, up_pcm);
      if (m < 0) break;
      at48 = std::span<const std::int16_t>(up_pcm.data(), static_cast<std::size_t>(m));
    }
    if (!fifo_room(at48.size())) break;  // no memory: this leg is silent in the mix this tick
    const std::size_t take = std::min(at48.size(), fifo.size() - fifo_n);
    std::copy_n(at48.begin(), take, fifo.begin() + static_cast<std::ptrdiff_t>(fifo_n));
    fifo_n += take;
  }
  auto js = jb->stats();
  stats.jitter_buffer_ms = static_cast<std::uint32_t>(js.depth.count());
  stats.jitter_target_ms = static_cast<std::uint32_t>(js.target.count());
  stats.jitter_shrink_drops = js.shrink_drops, stats.jitter_late = js.late;
  stats.jitter_underruns = js.underruns, stats.jitter_overflow_drops = js.overflow_drops;
  if (fifo_n < mix::mix_frame) return false;
  std::copy_n(fifo.begin(), mix::mix_frame, out.begin());
  std::copy(fifo.begin() + mix::mix_frame, fifo.begin() + static_cast<std::ptrdiff_t>(fifo_n), fifo.begin());
  fifo_n -= mix::mix_frame;
  return true;
}

int AudioLeg::State::encode(const mix::MixFrame& pcm, std::span<std::uint8_t> out) noexcept {
  if (!enc) return -1;
  std::array<std::int16_t, mix::mix_frame> low;
  std::span<const std::int16_t> in(pcm.data(), pcm.size());
  if (decode_rate != mix::mix_rate) {
    // Silence (nobody else talks: a call being set up, on hold, alone in its session) is silence
    // at any rate: no resampler is made or run for it. The filter's history is cleared on the way
    // in, so the next word does not start with the end of the last one.
    const bool silent = std::all_of(pcm.begin(), pcm.end(), [](std::int16_t v) { return v == 0; });
    if (silent) {
      if (down && !down_silent) down->reset();
      down_silent = true;
      const auto m = static_cast<std::size_t>(mix::mix_frame) * static_cast<std::size_t>(decode_rate) / mix::mix_rate;
      std::fill_n(low.begin(), m, std::int16_t{0});
      in = std::span<const std::int16_t>(low.data(), m);
    } else {
      if (!ensure_resampler(down, mix::mix_rate, decode_rate)) return -1;
      down_silent = false;
      const int m = down->process(in, low);
      if (m < 0) return -1;
      in = std::span<const std::int16_t>(low.data(), static_cast<std::size_t>(m));
    }
  }
  const int n = enc->encode(in, out);
  if (n < 0) ++stats.encode_errors;
  return n;
}

// Digits go to the call on a later turn of the shard's loop: the packet path (or the conference
// tick) that decoded them never runs the call's and the session's code inside itself.
void AudioLeg::State::report_dtmf(const DtmfDigit& d, sip::DtmfMethod method) {
  if (stopped) return;
  sip::DtmfIn in{d.digit, d.duration_ms, method};
  asio::post(ex, [weak = weak_from_this(), in] {
    if (auto self = weak.lock(); self && !self->stopped && self->on_dtmf) self->on_dtmf(in);
  });
}

// One frame of in-band DTMF (tone or the silence between), encoded for the far end's codec;
// -1 when there is none to send (idle, or an encoder failure: the tick's audio goes instead).
int AudioLeg::State::inband_frame(std::span<std::uint8_t> out) noexcept {
  if (!dtmf_inband || dtmf_inband->idle()) return -1;
  const auto rate = mix::sample_rate(send_cfg.id);
  const auto n8 = static_cast<std::size_t>(k_inband_rate / 1000 * send_cfg.frame_ms);
  if (n8 == 0 || n8 > k_inband_frame_max) return -1;
  std::array<std::int16_t, k_inband_frame_max> tone;
  if (!dtmf_inband->fill(std::span(tone.data(), n8))) return -1;
  try {
    if (!dtmf_enc || !(dtmf_enc->config() == send_cfg)) dtmf_enc = mix::make_encoder(send_cfg);
    if (rate != k_inband_rate && (!dtmf_up || dtmf_up->out_rate() != rate))
      dtmf_up = std::make_unique<mix::Resampler>(k_inband_rate, rate, k_resampler_quality);
  } catch (const std::exception&) {
    dtmf_enc.reset();  // the packet path never throws: no tones, the audio goes out
  }
  if (!dtmf_enc) return -1;
  std::span<const std::int16_t> pcm(tone.data(), n8);
  std::array<std::int16_t, mix::max_frame_samples> up;
  if (rate != k_inband_rate) {
    const int m = dtmf_up->process(pcm, up);
    if (m < 0) return -1;
    pcm = std::span<const std::int16_t>(up.data(), static_cast<std::size_t>(m));
  }
  const int n = dtmf_enc->encode(pcm, out);
  if (n < 0) ++stats.encode_errors;
  return n;
}

void AudioLeg::State::send(std::span<const std::uint8_t> payload) noexcept {
  if (!send_config()) return;
  const auto now = Clock::now();
  const auto units = static_cast<std::uint32_t>(mix::frame_timestamp_units(send_cfg));
  const auto frame = std::chrono::milliseconds(send_cfg.frame_ms);
  if (last_send && now - *last_send > 4 * frame) {
    // RFC 3550 §5.1: the timestamp follows the sampling clock, also across a pause (hold, ticks
    // the conference skipped on a stalled shard): advance it by the frames not sent; the marker
    // starts the new talkspurt. (A late tick is not a pause: the clock catches up at once and
    // every frame is still sent, so ordinary scheduling jitter must not move the timestamp.)
    const auto missed = (now - *last_send + frame / 2) / frame;
    out_ts += static_cast<std::uint32_t>(missed - 1) * units;
    first_packet = true;
  }
  RtpHeader h;
  h.payload_type = static_cast<std::uint8_t>(send_pt);
  h.seq = out_seq++;
  h.timestamp = out_ts;
  h.ssrc = ssrc;
  // DTMF replaces this tick's audio while a digit plays: an RFC 4733 event packet (same SSRC,
  // the next sequence number; its timestamp is the event's start and M marks its first packet,
  // §2.5.1.2), or in-band tones in the codec. The audio timestamp advances either way.
  std::optional<DtmfPacket> event;
  std::array<std::uint8_t, mix::max_encoded_bytes> tone;
  if (dtmf_tx && !dtmf_tx->idle()) {
    event = dtmf_tx->next(out_ts);
  } else if (dtmf_inband && !dtmf_inband->idle()) {
    if (const int m = inband_frame(tone); m >= 0) payload = std::span<const std::uint8_t>(tone.data(), static_cast<std::size_t>(m));
  }
  if (event) {
    h.payload_type = event->payload_type;
    h.timestamp = event->timestamp;
    h.marker = event->marker;
    payload = event->payload;
  } else {
    h.marker = first_packet;  // RFC 3551 §4.1: first packet of a talkspurt
    first_packet = false;
  }
  last_ts = out_ts;
  out_ts += units;
  transmit(h, payload, now);
}

void AudioLeg::State::transmit(const RtpHeader& h, std::span<const std::uint8_t> payload, Clock::time_point now) noexcept {
  last_send = now;
  sent_since_report = true;
  std::array<std::uint8_t, k_max_datagram + srtp_max_trailer> buf;
  std::size_t n = write_rtp(buf, h, payload);
  if (n == 0) {
    ++stats.encode_errors;
    return;
  }
  if (srtp_out) {
    const int len = srtp_out->protect_rtp(buf, n);
    if (len < 0) {
      ++stats.send_errors;
      return;
    }
    n = static_cast<std::size_t>(len);
  }
  send_raw(rtp, *remote_rtp, std::span<const std::uint8_t>(buf.data(), n));
  ++stats.sent_packets;
  stats.sent_bytes += n;
  ++sent_packets;
  sent_octets += static_cast<std::uint32_t>(payload.size());
}

// ------------------------------------------------------------------------------------------
// Passthrough

std::optional<mix::Participant::RelayFormat> AudioLeg::State::relay_format(Clock::time_point now) const noexcept {
  // (A relaying leg has let its decoder go: relay_to.)
  if (stopped || failure || !receiving || !send_config() || !jb || (!decoder && !relay_peer)) return std::nullopt;
  if ((dtmf_tx && !dtmf_tx->idle()) || (dtmf_inband && !dtmf_inband->idle())) return std::nullopt;  // ours play
  if (!last_audio || now - *last_audio > k_relay_idle) return std::nullopt;
  return receive_format();
}

void AudioLeg::State::relay_to(mix::RelaySink* peer) noexcept {
  if (peer == relay_peer) return;
  relay_peer = peer;
  relay_numbers.reset();  // what we send for the peer re-anchors at its next packet
  if (peer) {
    stats.jitter_buffer_ms = 0;  // nothing is buffered: packets go through on arrival
    std::vector<std::int16_t>().swap(fifo);  // nor decoded: the mix's buffer and resamplers wait
    fifo_n = 0;  // until it needs them again (made afresh then: their history is stale)
    up.reset();
    down.reset();
    if (jb) jb->release();  // its ring too (50 slots and their payloads)
    decoder.reset();        // made afresh on the way back (below), as it always was (Opus: 18 KiB)
  }
  // Back to the mix: the buffers were let go when the relay started and are made afresh as
  // frames come; the decoder is made now (the listener hears the buffer's prefill as
  // concealment once).
  if (!peer && jb) remake_decoder();
}

void AudioLeg::State::relay(const RelayPacket& p) noexcept {
  // Not sending (held since the last check), or a re-INVITE changed a codec on either side
  // before the room noticed: drop rather than send one codec under another's payload type.
  if (!send_config() || p.format.codec != send_cfg.id ||
      p.format.clock != static_cast<std::uint32_t>(mix::rtp_clock_rate(send_cfg.id)))
    return;
  RtpHeader h;
  h.ssrc = ssrc;
  h.marker = p.marker;
  if (p.kind == RelayPacket::Kind::event) {
    // RFC 4733 events keep their payload; our far end's number for telephone-event, on the
    // same clock only (durations count that clock).
    if (!dtmf_tx || dtmf_tx_cfg.clock_rate != p.event_clock) return;
    h.payload_type = dtmf_tx_cfg.payload_type;
  } else {
    h.payload_type = static_cast<std::uint8_t>(send_pt);
  }
  const bool audio = p.kind == RelayPacket::Kind::audio;
  const auto m = relay_numbers.map(p.ssrc, p.seq, p.timestamp, audio,
                                   static_cast<std::uint32_t>(mix::frame_timestamp_units(send_cfg)), out_seq, out_ts);
  if (!m) return;  // from before the anchor (reordered): its numbers are ones the mix already used
  h.seq = m->seq;
  h.timestamp = m->timestamp;
  if (m->anchored) h.marker = true;  // RFC 3551 §4.1: a new talkspurt as far as the far end can tell
  if (m->advanced_ts) last_ts = h.timestamp;
  if (audio) first_packet = false;
  const auto now = Clock::now();
  const auto sent_before = stats.sent_packets;
  transmit(h, p.payload, now);
  if (stats.sent_packets != sent_before) ++stats.relayed_out;
}


void AudioLeg::State::send_rtcp_report(bool bye) {
  if (!have_media || (secure && !rtcp_out())) return;
  auto& sock = rtcp_mux ? rtp : rtcp;
  const auto& to = rtcp_mux ? remote_rtp : remote_rtcp;
  if (!to || !sock.is_open()) return;
  std::optional<SenderInfo> si;
  if (sent_since_report && last_send) {
    // §6.4.1: the RTP timestamp of "now" on the same clock as the packets' timestamps.
    SenderInfo s;
    s.ntp = to_ntp(std::chrono::system_clock::now());
    const auto since = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - *last_send).count();
    s.rtp_timestamp = last_ts + static_cast<std::uint32_t>(since * mix::rtp_clock_rate(send_cfg.id) / 1000000);
    s.packet_count = sent_packets;
    s.octet_count = sent_octets;
    si = s;
  }
  std::array<ReportBlock, 1> block{};  // one far-end source: no allocation per report
  std::size_t blocks = 0;
  if (have_ssrc && seq.valid()) {
    auto lr = seq.report();
    ReportBlock b;
    b.ssrc = remote_ssrc;
    b.fraction_lost = lr.fraction_lost;
    b.cumulative_lost = lr.cumulative_lost;
    b.extended_highest_seq = lr.extended_max;
    b.jitter = jitter.jitter();
    if (last_sr_middle) {
      b.lsr = last_sr_middle;
      b.dlsr = to_q16(Clock::now() - last_sr_at);
    }
    block[0] = b;
    blocks = 1;
  }
  std::array<std::uint8_t, 512 + srtp_max_trailer> buf;
  sent_since_report = false;
  std::size_t n = write_report_compound(buf, ssrc, si, std::span<const ReportBlock>(block.data(), blocks), cname);
  if (n == 0) return;
  if (bye) {
    const std::uint32_t ssrcs[] = {ssrc};
    n += write_bye(std::span<std::uint8_t>(buf).subspan(n, buf.size() - n - srtp_max_trailer), ssrcs);
  }
  if (auto* ctx = rtcp_out()) {
    const int len = ctx->protect_rtcp(buf, n);
    if (len < 0) return;
    n = static_cast<std::size_t>(len);
  }
  send_raw(sock, *to, std::span<const std::uint8_t>(buf.data(), n));
  ++stats.rtcp_sent;
}

// ------------------------------------------------------------------------------------------
// Coroutines

namespace {

// Errors a UDP receive reports about one datagram or a passing shortage: ICMP errors of earlier
// sends (RFC 1122 §4.1.3.3), no buffer or memory for a moment, a signal. The loop carries on.
bool transient_receive_error(const boost::system::error_code& ec) {
  namespace e = asio::error;
  return ec == e::connection_refused || ec == e::connection_reset || ec == e::host_unreachable ||
         ec == e::network_unreachable || ec == e::no_buffer_space || ec == e::no_memory ||
         ec == e::interrupted || ec == e::would_block || ec == e::try_again || ec == e::message_size;
}

asio::awaitable<void> rtcp_loop(std::shared_ptr<AudioLeg::State> st) {
  double scale = 0.5;  // §6.2: the first report after half the minimum interval
  while (!st->stopped) {
    // RFC 3550 §6.3.1: the interval times a random factor in [0.5, 1.5). (No generator kept on
    // the frame: a std::mt19937 would cost every leg 5 KiB for one draw per report.)
    const double spread = 0.5 + random_u32() / 4294967296.0;
    st->rtcp_timer.expires_after(std::chrono::duration_cast<Clock::duration>(k_rtcp_interval * spread * scale));
    scale = 1.0;
    co_await st->rtcp_timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (st->stopped) break;
    st->send_rtcp_report();
  }
}

asio::awaitable<void> dtls_loop(std::shared_ptr<AudioLeg::State> st, int ch) {
  while (!st->stopped && st->dtls[ch] && st->dtls[ch]->state() == DtlsSrtp::State::handshaking) {
    auto at = st->dtls[ch]->next_timer();
    st->dtls_timer[ch].expires_at(at ? *at : Clock::now() + 100ms);
    auto [ec] = co_await st->dtls_timer[ch].async_wait(asio::as_tuple(asio::use_awaitable));
    if (st->stopped || !st->dtls[ch]) break;
    if (!ec) {
      st->dtls[ch]->on_timer(Clock::now());
      st->on_dtls_progress(ch);
    }
  }
}

void spawn(asio::any_io_executor ex, asio::awaitable<void> task, const char* what) {
  asio::co_spawn(ex, std::move(task), [what](std::exception_ptr e) {
    if (e) try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log::warn("rtp", "{} ended: {}", what, x.what());
      }
  });
}

}  // namespace

// A socket's receive error, judged here for the mux (its error policy is ours): passing ones are
// counted and receiving carries on; any other fails the leg with a reason and a counter, so the
// call hangs up at once instead of keeping a leg that hears nothing until the inactivity timer.
bool AudioLeg::State::on_receive_error(int channel, const boost::system::error_code& ec) {
  if (stopped) return false;
  if (transient_receive_error(ec)) {
    ++stats.receive_errors;
    return true;
  }
  ++stats.receive_failures;
  fail_media(fmt::format("{} receive failed: {}", channel == 1 ? "RTCP" : "RTP", ec.message()));
  return false;
}

void AudioLeg::State::start_receiving(int channel) {
  auto& sock = channel == 1 ? rtcp : rtp;
  if (!sock.is_open() || rx[channel]) return;
  boost::system::error_code ec;
  rx[channel] = mux->add(sock.native_handle(), shared_from_this(), channel, ec);
  if (ec) {
    ++stats.receive_failures;
    fail_media(fmt::format("{} socket cannot be watched: {}", channel == 1 ? "RTCP" : "RTP", ec.message()));
  }
}

// ------------------------------------------------------------------------------------------
// AudioLeg

std::unique_ptr<AudioLeg> AudioLeg::create(asio::any_io_executor ex, std::shared_ptr<PortAllocator> ports,
                                           asio::ip::address address, Options opt) {
  auto st = std::make_shared<State>(ex);
  st->ports = ports;
  // A port of our slice may be taken by another process (another media server, a second instance
  // sharing the range): skip it and try the next, through the whole slice if need be. The
  // allocator is round robin, so the walk past a block of foreign ports is paid once per wrap,
  // not once per call; giving up after a few (as this did, 8) refused calls with "range
  // exhausted" while most of the range was free — found running two servers on one range
  // (docs/robustness.md). Bounded by the entries free now (a bind is a few µs; a slice whose free
  // ports are all taken by others is a misconfiguration, answered 503 after one walk).
  // The pair is ours in the allocator; the RTCP port is bound now only when the offer is DTLS
  // (without rtcp-mux a far end may start a second association there as soon as it answers, RFC
  // 5764 §4.1), otherwise when an answer turns out not to mux (open_rtcp_socket): with rtcp-mux,
  // the usual case, a leg holds one socket (drained by the shard's ReceiveMux).
  const bool rtcp_now = opt.secure && opt.keying == sdp::Keying::dtls;
  const std::size_t free_entries = ports->capacity() - ports->in_use();  // one walk over them at most
  for (std::size_t attempt = 0; attempt < free_entries && st->port == 0; ++attempt) {
    auto p = ports->acquire();
    if (!p) return nullptr;
    boost::system::error_code e1, e2;
    st->rtp.open_bind({address, *p}, e1);
    if (!e1 && rtcp_now) st->rtcp.open_bind({address, static_cast<std::uint16_t>(*p + 1)}, e2);
    if (e1 || e2) {
      st->rtp.close();
      st->rtcp.close();
      ports->release(*p);
      continue;
    }
    st->port = *p;
  }
  if (st->port == 0) return nullptr;
  st->address = address;
  st->mux = &ReceiveMux::of(ex);
  st->secure = opt.secure;
  std::unique_ptr<AudioLeg> leg(new AudioLeg(st));
  leg->opt_ = opt;
  auto& L = leg->local_;
  L.address = address.to_string();
  L.rtp_port = st->port;
  L.session_id = std::stoull(sb::to_hex(random_bytes(6)), nullptr, 16);
  L.session_version = 1;
  if (opt.secure) {
    // SDES (RFC 4568) keys, one per suite we run, strongest first; they are made even when the
    // first offer is DTLS so a fallback offer can use them.
    std::uint32_t tag = 1;
    for (std::string_view suite : {"AEAD_AES_256_GCM", "AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80",
                                   "AES_CM_128_HMAC_SHA1_32"}) {
      auto len = sdp::srtp_key_salt_length(suite);
      if (!len) continue;
      leg->sdes_keys_.push_back(sdp::make_crypto(tag++, suite, random_bytes(*len)));
    }
  }
  leg->prepare_local();
  st->start_receiving(State::k_rtp);
  st->start_receiving(State::k_rtcp);
  spawn(ex, rtcp_loop(st), "RTCP report loop");
  return leg;
}

void AudioLeg::prepare_local() {
  local_.keying = opt_.secure ? opt_.keying : sdp::Keying::none;
  local_.sdes_offers.clear();
  local_.dtls_fingerprint_sha256.clear();
  if (local_.keying == sdp::Keying::sdes) local_.sdes_offers = sdes_keys_;
  if (local_.keying == sdp::Keying::dtls) {
    // RFC 5763 §5: the certificate we present must hash to the fingerprint we offer, so the leg
    // keeps the identity object and start_dtls hands exactly it to each association.
    st_->dtls_identity = DtlsIdentity::process();
    local_.dtls_fingerprint_sha256 = st_->dtls_identity->fingerprint_sha256();
  }
}

AudioLeg::AudioLeg(std::shared_ptr<State> st) : st_(std::move(st)) {}

AudioLeg::~AudioLeg() { stop(); }

std::string AudioLeg::offer() { return sdp::build_offer(local_); }

std::string AudioLeg::current_offer() {
  ++local_.session_version;  // RFC 3264 §8: a new version for every new offer
  return sdp::build_offer(local_);
}

bool AudioLeg::next_offer() {
  if (!opt_.secure || !opt_.keying_fallback || tried_fallback_ || negotiated_) return false;
  tried_fallback_ = true;
  opt_.keying = opt_.keying == sdp::Keying::sdes ? sdp::Keying::dtls : sdp::Keying::sdes;
  ++local_.session_version;
  prepare_local();
  log::info("rtp", "leg :{} re-offering with {} keying", st_->port, sdp::to_string(opt_.keying));
  return true;
}

bool AudioLeg::reoffer_after(std::error_code answer_error) {
  // Only a keying failure: a far end without a common codec will not find one under other keys.
  using E = sdp::negotiation_error;
  if (answer_error.category() != sdp::negotiation_category()) return false;
  switch (static_cast<E>(answer_error.value())) {
    case E::insecure_answer:  // baresip 1.0.0 with dtls_srtp answers an SDES offer in the clear
    case E::proto_mismatch:
    case E::rejected:         // RFC 3264 §6: a profile it does not know may come back with port 0
    case E::crypto_mismatch:
    case E::dtls_mismatch:
      return next_offer();
    default:
      return false;
  }
}

std::error_code AudioLeg::apply_answer(std::string_view text) {
  auto parsed = sdp::parse(text);
  if (!parsed) return parsed.error ? parsed.error : std::make_error_code(std::errc::invalid_argument);
  auto n = sdp::apply_answer(local_, *parsed.session);
  if (!n) return n.error;
  if (auto ec = apply(*n)) return ec;
  log::info("rtp", "leg :{} negotiated {} pt {} → {}:{} ({})", st_->port, sdp::to_string(n->codec), n->payload_type,
            n->remote_address, n->remote_rtp_port, sdp::to_string(n->keying));
  return {};
}

std::optional<std::string> AudioLeg::answer_offer(std::string_view text, bool& on_hold) {
  auto parsed = sdp::parse(text);
  if (!parsed) return std::nullopt;
  // RFC 3264 §8: a new o= version for every new answer of ours.
  ++local_.session_version;
  auto a = sdp::answer_offer(local_, *parsed.session, negotiated_ ? &*negotiated_ : nullptr, sdes_keys_);
  if (!a) {
    log::info("rtp", "leg :{} refused a re-offer: {}", st_->port, a.error.message());
    return std::nullopt;
  }
  if (apply(a->negotiated)) return std::nullopt;
  on_hold = a->negotiated.on_hold;
  return a->sdp;
}

// Takes a negotiation into effect. Everything that can fail (codec objects, SRTP contexts) is
// built first; only then is the leg changed, so a refused re-offer (488) leaves the call exactly
// as it was (RFC 3264 §8: the old session stays in force).
std::error_code AudioLeg::apply(const sdp::Negotiated& n) {
  auto& st = *st_;
  const bool codec_changed = !negotiated_ || negotiated_->codec != n.codec ||
                             negotiated_->payload_type != n.payload_type ||
                             negotiated_->local_payload_type != n.local_payload_type;
  const auto id = codec_id(n.codec);
  // 1. Build.
  mix::CodecConfig cfg;
  cfg.id = id;
  cfg.frame_ms = static_cast<int>(local_.ptime);  // what we send: our a=ptime (20 ms)
  cfg.complexity = opt_.opus_complexity;
  cfg.bitrate = opt_.opus_bitrate;
  std::unique_ptr<mix::Encoder> enc;
  std::unique_ptr<mix::Decoder> dec;
  if (codec_changed) {
    enc = mix::make_encoder(cfg);
    dec = mix::make_decoder(id);
    if (!enc || !dec) return std::make_error_code(std::errc::not_supported);
  }
  std::unique_ptr<SrtpContext> srtp_in, srtp_out;
  if (n.keying == sdp::Keying::sdes) {
    if (!n.local_crypto || !n.remote_crypto) return make_error_code(sdp::negotiation_error::crypto_mismatch);
    // RFC 4568 §6.1: our key protects what we send, the far end's unprotects what it sends. Each
    // context is rebuilt only when its own key changes: a fresh context restarts the rollover
    // counter, which must never happen under the same key while the sequence carries on.
    if (st.sdes_remote != n.remote_crypto) {
      srtp_in = make_sdes_context(*n.remote_crypto, SrtpContext::Direction::inbound);
      if (!srtp_in) return make_error_code(sdp::negotiation_error::crypto_mismatch);
    }
    if (st.sdes_local != n.local_crypto) {
      srtp_out = make_sdes_context(*n.local_crypto, SrtpContext::Direction::outbound);
      if (!srtp_out) return make_error_code(sdp::negotiation_error::crypto_mismatch);
    }
  } else if (n.keying == sdp::Keying::dtls && !st.dtls[State::k_rtp] && !n.remote_fingerprint) {
    return make_error_code(sdp::negotiation_error::dtls_mismatch);
  }

  // 2. Commit.
  if (codec_changed) {
    const int rate = mix::sample_rate(id);
    st.codec = id;
    st.send_cfg = cfg;
    st.enc = std::move(enc);
    st.decoder = std::move(dec);
    st.decode_rate = rate;
    st.rtp_clock = mix::rtp_clock_rate(id);
    st.up.reset();  // made for the new rate when the mix first needs them (ensure_resampler)
    st.down.reset();
    // What the far end sends is governed by *our* a=ptime (RFC 3264 §5.1: ptime is what the
    // sender of the attribute wants to receive), so the jitter buffer counts our frame length.
    st.ptime_ms = static_cast<int>(local_.ptime);
    mix::JitterConfig jc;
    jc.frame = std::chrono::milliseconds(st.ptime_ms);
    jc.frame_ts = static_cast<std::uint32_t>(st.rtp_clock / 1000 * st.ptime_ms);
    st.jb = std::make_unique<mix::JitterBuffer>(jc);
    st.fifo_n = 0;
    st.have_ssrc = false;
    st.first_packet = true;
  }
  if (srtp_in) {
    st.srtp_in = std::move(srtp_in);
    st.sdes_remote = n.remote_crypto;
  }
  if (srtp_out) {
    st.srtp_out = std::move(srtp_out);
    st.sdes_local = n.local_crypto;
  }
  st.send_pt = n.payload_type;
  st.recv_pt = n.local_payload_type;
  st.recv_dtmf_pt = n.local_telephone_event_pt;
  st.configure_dtmf(n);
  st.rtcp_mux = n.rtcp_mux;
  if (!n.rtcp_mux) open_rtcp_socket();
  st.sending = !n.on_hold && (n.local_direction == sdp::Direction::sendrecv || n.local_direction == sdp::Direction::sendonly);
  st.receiving = n.local_direction == sdp::Direction::sendrecv || n.local_direction == sdp::Direction::recvonly;
  if (!st.sending) st.first_packet = true;  // the next packet starts a talkspurt

  // Where to send. A new address in a re-offer (a transfer, a media server change) unlatches.
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(n.remote_address, ec);
  const bool moved = !negotiated_ || negotiated_->remote_address != n.remote_address ||
                     negotiated_->remote_rtp_port != n.remote_rtp_port;
  if (!ec && n.remote_rtp_port != 0 && !addr.is_unspecified() && (moved || !st.remote_rtp)) {
    st.sdp_rtp = udp::endpoint(addr, n.remote_rtp_port);
    st.remote_rtp = st.sdp_rtp;
    st.latched = false;
    auto raddr = asio::ip::make_address(n.remote_rtcp_address.empty() ? n.remote_address : n.remote_rtcp_address, ec);
    if (!ec) st.remote_rtcp = udp::endpoint(raddr, n.remote_rtcp_port ? n.remote_rtcp_port : n.remote_rtp_port + 1);
    if (n.rtcp_mux) st.remote_rtcp = st.remote_rtp;
  }

  st.have_media = true;
  if (n.keying == sdp::Keying::dtls && !st.dtls[State::k_rtp]) {
    st.dtls_params = n;
    st.start_dtls(State::k_rtp);
    // Without rtcp-mux, SRTCP has its own association on the RTCP ports (RFC 5764 §4.1): as the
    // client we open it now; as the server we answer it when (or if) it arrives.
    if (!n.rtcp_mux && (n.dtls_active || !st.early_dtls[State::k_rtcp].empty())) st.start_dtls(State::k_rtcp);
  }
  negotiated_ = n;
  return {};
}

// Sender and receiver for what this negotiation says about telephone-event. A sender is kept
// (its queue and a playing digit with it) while the far end's number, clock and our packet
// interval stay; otherwise the old one's digits are dropped. No telephone-event: in-band tones.
void AudioLeg::State::configure_dtmf(const sdp::Negotiated& n) {
  if (n.telephone_event_pt) {
    DtmfSenderConfig cfg;
    // RFC 4733 §2.1/§2.5.1.2: events on the negotiated clock (8 kHz, or 48 kHz beside Opus).
    // With an 8 kHz event clock beside a 48 kHz codec (a far end that offers no 48 kHz events)
    // durations count 8 kHz units while timestamps follow the stream, as such peers expect.
    cfg.clock_rate = n.telephone_event_clock_rate;
    cfg.payload_type = static_cast<std::uint8_t>(*n.telephone_event_pt);
    cfg.tick_ms = send_cfg.frame_ms;
    const bool same = dtmf_tx && dtmf_tx_cfg.clock_rate == cfg.clock_rate &&
                      dtmf_tx_cfg.payload_type == cfg.payload_type && dtmf_tx_cfg.tick_ms == cfg.tick_ms;
    if (!same) {
      try {
        dtmf_tx = std::make_unique<DtmfSender>(cfg);
        dtmf_tx_cfg = cfg;
      } catch (const std::invalid_argument& e) {
        log::warn("rtp", "leg :{} cannot send RFC 4733 events ({}): DTMF goes in-band", port, e.what());
        dtmf_tx.reset();
      }
    }
    if (dtmf_tx && dtmf_inband) dtmf_inband->clear();
  } else {
    dtmf_tx.reset();
  }
  if (n.telephone_event_clock_rate != dtmf_rx_clock) {
    DtmfReceiverConfig rc;
    rc.clock_rate = n.telephone_event_clock_rate;
    dtmf_rx = DtmfReceiver(rc);
    dtmf_rx_clock = rc.clock_rate;
    dtmf_rx_ssrc.reset();
  }
}

void AudioLeg::State::start_dtls(int ch) {
  const auto& n = *dtls_params;
  const auto now = Clock::now();
  if (!dtls_identity) dtls_identity = DtlsIdentity::process();  // never offered DTLS: nothing to match
  dtls[ch] = std::make_unique<DtlsSrtp>(dtls_identity,
                                        n.dtls_active ? DtlsSrtp::Role::client : DtlsSrtp::Role::server,
                                        n.remote_fingerprint->hash_func, n.remote_fingerprint->value, now);
  dtls[ch]->start(now);
  // Replay a handshake that raced the answer, if it came from the answer's address.
  for (auto& e : early_dtls[ch]) {
    if (!sdp_rtp || e.from.address() != sdp_rtp->address()) continue;
    if (dtls_peer[ch] && e.from != *dtls_peer[ch]) continue;
    dtls_peer[ch] = e.from;
    dtls[ch]->receive(e.data, now);
  }
  early_dtls[ch].clear();
  on_dtls_progress(ch);
  spawn(ex, dtls_loop(shared_from_this(), ch), "DTLS timer");
}

std::optional<std::chrono::milliseconds> AudioLeg::since_last_packet() const {
  if (!st_->last_packet) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *st_->last_packet);
}

std::optional<std::string> AudioLeg::failure() const { return st_->failure; }

sip::DtmfQueued AudioLeg::play_dtmf(std::string_view digits) {
  auto& st = *st_;
  if (st.stopped || !st.have_media) return sip::DtmfQueued::unavailable;
  if (st.dtmf_tx) return st.dtmf_tx->enqueue(digits) ? sip::DtmfQueued::queued : sip::DtmfQueued::full;
  if (!st.dtmf_inband) {
    try {
      st.dtmf_inband = std::make_unique<InbandDtmf>();
    } catch (const std::exception&) {
      return sip::DtmfQueued::unavailable;
    }
  }
  return st.dtmf_inband->enqueue(digits) ? sip::DtmfQueued::queued : sip::DtmfQueued::full;
}

std::size_t AudioLeg::dtmf_room() const {
  const auto& st = *st_;
  if (st.stopped || !st.have_media) return 0;
  const std::size_t queued = st.dtmf_tx ? st.dtmf_tx->queued() : st.dtmf_inband ? st.dtmf_inband->queued() : 0;
  return k_dtmf_queue_max - queued;
}

void AudioLeg::on_dtmf(std::function<void(const sip::DtmfIn&)> report) { st_->on_dtmf = std::move(report); }

bool AudioLeg::take_info_dtmf(std::string_view content_type, std::string_view body) {
  const auto d = parse_sip_info_dtmf(content_type, body);
  if (!d) return false;
  st_->report_dtmf(*d, sip::DtmfMethod::info);
  return true;
}

bool AudioLeg::dtmf_sending() const {
  const auto& st = *st_;
  return (st.dtmf_tx && !st.dtmf_tx->idle()) || (st.dtmf_inband && !st.dtmf_inband->idle());
}

void AudioLeg::on_failure(std::function<void()> wake) { st_->on_failure = std::move(wake); }

// The far end does not mux: RTCP on our port + 1 (RFC 3550 §11), bound now. The allocator
// reserved it with the pair; if another process took it meanwhile the call goes on without RTCP
// (logged and counted: reports are not worth a call).
void AudioLeg::open_rtcp_socket() {
  auto& st = *st_;
  if (st.rtcp.is_open() || st.stopped) return;
  boost::system::error_code ec;
  st.rtcp.open_bind({st.address, static_cast<std::uint16_t>(st.port + 1)}, ec);
  if (ec) {
    ++st.stats.rtcp_unavailable;
    log::warn("rtp", "leg :{} cannot bind its RTCP port {}: {} (no RTCP on this call)", st.port, st.port + 1,
              ec.message());
    return;
  }
  st.start_receiving(State::k_rtcp);
}

void AudioLeg::inject_receive_error(bool rtcp_socket, boost::system::error_code ec) {
  st_->mux->inject_error(st_->rx[rtcp_socket ? 1 : 0], ec);
}

mix::Participant& AudioLeg::participant() { return *st_; }

void AudioLeg::on_stop(std::function<void()> f) { on_stop_ = std::move(f); }

void AudioLeg::stop() {
  if (st_->stopped) return;
  st_->on_failure = nullptr;  // the call is going: nothing to wake any more
  if (on_stop_) std::exchange(on_stop_, nullptr)();  // leaves the conference (and ends a relay)
  st_->relay_peer = nullptr;
  st_->send_rtcp_report(true);  // RFC 3550 §6.6: BYE when we leave
  st_->stopped = true;
  // Digits still queued are dropped: the leg is gone, nobody would hear them.
  if (st_->dtmf_tx) st_->dtmf_tx->clear();
  if (st_->dtmf_inband) st_->dtmf_inband->clear();
  st_->on_dtmf = nullptr;
  for (int ch : {State::k_rtp, State::k_rtcp})
    if (st_->dtls[ch]) st_->dtls[ch]->close(), st_->pump_dtls(ch);
  st_->rtcp_timer.cancel();
  for (auto& t : st_->dtls_timer) t.cancel();
  for (auto& h : st_->rx)
    if (h) st_->mux->remove(std::exchange(h, 0));  // before the sockets close
  st_->rtp.close();
  st_->rtcp.close();
  st_->ports->release(st_->port);
}

std::uint16_t AudioLeg::rtp_port() const { return st_->port; }

LegStats AudioLeg::stats() const {
  LegStats s = st_->stats;
  s.socket_drops = st_->rtp.kernel_drops() + st_->rtcp.kernel_drops();
  if (st_->have_ssrc) {
    s.lost = st_->seq.lost();
    s.jitter_ms = st_->rtp_clock ? st_->jitter.jitter() * 1000 / static_cast<std::uint32_t>(st_->rtp_clock) : 0;
  }
  return s;
}

std::string AudioLeg::stats_json() const {
  const auto s = stats();
  std::string rtt = s.rtt_ms ? std::to_string(*s.rtt_ms) : "null";
  return fmt::format(
      R"({{"codec":"{}","keying":"{}","localPort":{},"latched":{},)"
      R"("packetsReceived":{},"bytesReceived":{},"packetsSent":{},"bytesSent":{},"rtcpReceived":{},"rtcpSent":{},)"
      R"("packetsLost":{},"jitterMs":{},"rttMs":{},"jitterBufferMs":{},"jitterBufferTargetMs":{},)"
      R"("concealedFrames":{},"fecRecovered":{},"relay":{{"active":{},"packetsIn":{},"packetsOut":{}}},)"
      R"("playout":{{"shrinkDrops":{},"lateFrames":{},"underruns":{},"overflowDrops":{}}},"dropped":{{"malformed":{},"srtpFailures":{},"unauthenticated":{},)"
      R"("foreignSource":{},"unknownPayloadType":{},"decodeErrors":{},"stun":{},"dtlsOnRtcpPort":{},"socketOverflow":{}}},)"
      R"("telephoneEvents":{},"comfortNoise":{},"receiveErrors":{},"receiveFailures":{},"rtcpUnavailable":{}}})",
      codec_name(), negotiated_ ? keying_name() : std::string(), st_->port, st_->latched, s.rtp_packets, s.rtp_bytes,
      s.sent_packets, s.sent_bytes, s.rtcp_packets, s.rtcp_sent, s.lost, s.jitter_ms, rtt, s.jitter_buffer_ms,
      s.jitter_target_ms, s.concealed_frames, s.fec_recovered, st_->relay_peer != nullptr, s.relayed_in, s.relayed_out,
      s.jitter_shrink_drops, s.jitter_late,
      s.jitter_underruns, s.jitter_overflow_drops, s.malformed, s.srtp_failures, s.unauthenticated,
      s.foreign_source, s.unknown_pt, s.decode_errors, s.stun, s.dtls_on_rtcp_port, s.socket_drops, s.telephone_events,
      s.comfort_noise, s.receive_errors, s.receive_failures, s.rtcp_unavailable > 0);
}

std::string AudioLeg::codec_name() const {
  return negotiated_ ? std::string(sdp::to_string(negotiated_->codec)) : std::string();
}
std::string AudioLeg::keying_name() const {
  return negotiated_ ? std::string(sdp::to_string(negotiated_->keying)) : std::string();
}

}  // namespace sb::rtp
