// The media side of one SIP leg, behind the sip::CallMedia seam, and a participant of its
// session's conference (mix::Participant).
//
// Receive path (one coroutine per socket, the shard's thread):
//   datagram → RFC 7983 demux → DTLS records to the DTLS-SRTP endpoint | RTP/RTCP →
//   SRTP unprotect (keyed by SDES or by the DTLS export; packets that fail are dropped and
//   counted before anything else looks at them) → RTP parse → latch (symmetric RTP, RFC 4961:
//   we send to where authenticated packets come from) → telephone-event/CN recognised and not
//   decoded → RFC 3550 A.1 sequence state, A.8 jitter → jitter buffer.
// Conference tick (pull): jitter buffer pop → decode, or conceal (Opus FEC from the next frame,
//   else PLC) → resample to 48 kHz → the mixer.
// Send path (encode/send, from the tick): resample 48 kHz → codec rate, encode (or adopt the
//   group leader's encoder state), packetize with our SSRC/sequence/timestamp, SRTP protect,
//   send to the latched address (the SDP address until then). Every 20 ms while we send, even
//   when nobody talks (encoded silence): carriers hang up on silent RTP streams.
// RTCP (RFC 3550 §6): SR (or RR while we do not send) with a report block for the far end's
//   SSRC every ~5 s (randomised 0.5–1.5×, §6.3.1), on the RTCP port or muxed (RFC 5761); RTT from
//   the far end's report blocks (§6.4.1).
#pragma once
#include "mix/participant.hpp"
#include "rtp/port_allocator.hpp"
#include "sdp/negotiation.hpp"
#include "sip/call.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace sb::rtp {

/// Counters and gauges of one leg (the stats endpoint and /metrics read them).
struct LegStats {
  std::uint64_t rtp_packets = 0, rtp_bytes = 0;        ///< received, accepted as ours
  std::uint64_t rtcp_packets = 0;                      ///< received
  std::uint64_t sent_packets = 0, sent_bytes = 0;      ///< RTP sent
  std::uint64_t rtcp_sent = 0;
  std::uint64_t malformed = 0;        ///< not RTP/RTCP/DTLS, or unparsable
  std::uint64_t srtp_failures = 0;    ///< failed authentication/replay check
  std::uint64_t unauthenticated = 0;  ///< arrived before keys existed (secure leg)
  std::uint64_t foreign_source = 0;   ///< from another address while latched (plain RTP)
  std::uint64_t unknown_pt = 0, telephone_events = 0, comfort_noise = 0, stun = 0;
  std::uint64_t dtls_on_rtcp_port = 0;  ///< a second DTLS association on the RTCP port: ignored
  std::uint64_t decode_errors = 0, encode_errors = 0, send_errors = 0;
  std::uint64_t ssrc_changes = 0, latches = 0;
  std::uint64_t receive_errors = 0;    ///< transient socket errors (ICMP, no buffer): carried on
  std::uint64_t receive_failures = 0;  ///< a socket that could no longer receive: the leg failed
  std::int64_t lost = 0;              ///< RFC 3550 A.3 cumulative
  std::uint32_t jitter_ms = 0;        ///< RFC 3550 A.8 interarrival jitter
  std::optional<std::uint32_t> rtt_ms;
  std::uint64_t concealed_frames = 0, fec_recovered = 0;
  std::uint32_t jitter_buffer_ms = 0; ///< current depth (added latency)
  std::uint32_t jitter_target_ms = 0;
  // Playout time shifts (what a listener hears as the delay moving): frames the jitter buffer
  // dropped to come down to its target, frames that came after their slot, ticks it had nothing
  // to play (concealed), and frames dropped because it was full.
  std::uint64_t jitter_shrink_drops = 0, jitter_late = 0, jitter_underruns = 0, jitter_overflow_drops = 0;
  // Passthrough: packets received and handed to the other leg, and packets sent for it.
  std::uint64_t relayed_in = 0, relayed_out = 0;
  std::uint64_t rtcp_unavailable = 0;  ///< no rtcp-mux and our RTCP port could not be bound
  std::uint64_t socket_drops = 0;      ///< datagrams the kernel dropped: a receive buffer overflowed
};

class AudioLeg final : public sip::CallMedia {
 public:
  struct Options {
    bool secure = false;
    sdp::Keying keying = sdp::Keying::sdes;  ///< first keying offered when secure
    bool keying_fallback = true;             ///< on 488/606 re-offer with the other keying
    int opus_complexity = 5;
    int opus_bitrate = 32000;
  };
  /// Reserves an RTP/RTCP port pair from `ports` and binds the RTP port (the RTCP one too when
  /// the offer is DTLS; otherwise only once an answer lacks rtcp-mux); nullptr when none is free.
  static std::unique_ptr<AudioLeg> create(boost::asio::any_io_executor ex, std::shared_ptr<PortAllocator> ports,
                                          boost::asio::ip::address address, Options opt);
  ~AudioLeg() override;

  std::string offer() override;
  std::error_code apply_answer(std::string_view sdp) override;
  std::optional<std::string> answer_offer(std::string_view sdp, bool& on_hold) override;
  std::string current_offer() override;
  std::optional<std::chrono::milliseconds> since_last_packet() const override;
  void stop() override;
  bool next_offer() override;
  bool reoffer_after(std::error_code answer_error) override;
  std::optional<std::string> failure() const override;
  void on_failure(std::function<void()> wake) override;
  std::string stats_json() const override;
  sip::DtmfQueued play_dtmf(std::string_view digits) override;
  std::size_t dtmf_room() const override;
  void on_dtmf(std::function<void(const sip::DtmfIn&)> report) override;
  bool take_info_dtmf(std::string_view content_type, std::string_view body) override;
  /// Whether DTMF is playing or queued (tests wait on it).
  bool dtmf_sending() const;

  /// Test seam (a failing transport, as PJSIP's loop transport can be): the pending receive on
  /// the RTP (or RTCP) socket completes with `ec`, as if the kernel had reported it.
  void inject_receive_error(bool rtcp_socket, boost::system::error_code ec);

  /// The leg as a conference participant (valid until stop()).
  mix::Participant& participant();
  /// Called once from stop(): the glue leaves the conference here.
  void on_stop(std::function<void()> f);

  std::uint16_t rtp_port() const;
  const std::optional<sdp::Negotiated>& negotiated() const { return negotiated_; }
  LegStats stats() const;
  /// Codec name and keying in use ("PCMU", "sdes"), empty before the answer.
  std::string codec_name() const;
  std::string keying_name() const;

  struct State;  // sockets, keys, codec state; shared with the coroutines

 private:
  explicit AudioLeg(std::shared_ptr<State> st);
  void prepare_local();
  void open_rtcp_socket();
  std::error_code apply(const sdp::Negotiated& n);
  std::shared_ptr<State> st_;
  Options opt_;
  sdp::LocalMedia local_;
  std::vector<sdp::Crypto> sdes_keys_;  // ours, one per suite (answers to re-offers pick from these)
  std::optional<sdp::Negotiated> negotiated_;
  bool tried_fallback_ = false;
  std::function<void()> on_stop_;
};

}  // namespace sb::rtp
