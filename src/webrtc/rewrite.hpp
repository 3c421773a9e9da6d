// What the SFU changes in a packet on its way to one subscriber, and back: each subscriber leg
// gets its own SSRC per track (offered in its SDP) and a sequence numbering of its own, so what
// the SFU deliberately does not forward — a paused video (subscribeToVideo false) — leaves no
// gap the subscriber would NACK or count as loss, and a subscriber never learns the publisher's
// SSRCs. Timestamps are the publisher's (one source per track: its clock carries on). RTCP is
// rewritten to match both ways: sender reports, SDES and BYE toward the subscriber name its
// SSRC; receiver reports, NACK (sequence numbers mapped back), PLI, FIR and REMB toward the
// publisher name the publisher's. Sans-I/O: the router (router.cpp) owns one OutStream per
// subscriber and track.
#pragma once
#include <cstdint>
#include <span>

namespace sb::webrtc {

class OutStream {
 public:
  OutStream(std::uint32_t source_ssrc, std::uint32_t ssrc) : source_(source_ssrc), ssrc_(ssrc) {}

  std::uint32_t ssrc() const noexcept { return ssrc_; }           // what the subscriber sees
  std::uint32_t source_ssrc() const noexcept { return source_; }  // the publisher's

  // The stream is not being forwarded now (packets are dropped by the caller): the next packet
  // forwarded after this continues the subscriber's numbering where it stopped.
  void pause() noexcept { paused_ = true; }
  bool paused() const noexcept { return paused_; }

  // Rewrites a clear RTP packet (≥ 12 bytes) in place: SSRC, and sequence number shifted by
  // what was skipped. False: drop it (a straggler from before the last resume, which would
  // repeat numbers already used).
  bool rewrite_rtp(std::span<std::uint8_t> pkt) noexcept;

  // A sequence number the subscriber uses (NACK, receiver report) as the publisher's.
  std::uint16_t source_seq(std::uint16_t out_seq) const noexcept {
    return static_cast<std::uint16_t>(out_seq + offset_);
  }

 private:
  std::uint32_t source_, ssrc_;
  std::uint16_t offset_ = 0;    // source seq − out seq
  std::uint16_t last_out_ = 0;  // highest out seq sent
  std::uint16_t resumed_at_ = 0;  // source seq of the first packet after the last resume
  std::uint16_t since_resume_ = 0;  // packets since then (the straggler check ends at 512)
  bool started_ = false, paused_ = false, resumed_ = false;
};

// Maps the SSRC and sequence-number fields of RTCP between the two sides of one subscriber leg.
class RtcpMap {
 public:
  virtual ~RtcpMap() = default;
  // The replacement for an SSRC (itself when it is not one the map knows).
  virtual std::uint32_t ssrc(std::uint32_t s) const = 0;
  // A sequence number of media SSRC `media_ssrc` (as written, before mapping) for the other side.
  virtual std::uint16_t seq(std::uint32_t media_ssrc, std::uint16_t s) const = 0;
};

// Rewrites a compound RTCP packet in place: SR/RR (sender SSRC, report-block source SSRCs and
// extended highest sequence numbers), SDES chunk SSRCs, BYE SSRCs, RTPFB (media SSRC; generic
// NACK PIDs), PSFB (media SSRC; FIR entries; REMB SSRC lists). Other packet types pass through.
// False when the compound does not parse (then nothing may be relied on: drop it).
bool rewrite_rtcp(std::span<std::uint8_t> rtcp, const RtcpMap& map) noexcept;

}  // namespace sb::webrtc
