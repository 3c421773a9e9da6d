// The media side of one SIP leg, behind the sip::CallMedia seam. This part: real RTP and
// RTCP sockets on ports from the shard's range, the real SDP offer (codecs, SDES keys when
// secure), RFC 3264 negotiation of answers and re-offers, and packet arrival for the inactivity
// rule. Not yet (issue 4): SRTP, codecs, jitter buffer, sending audio, the mixer.
#pragma once
#include "rtp/port_allocator.hpp"
#include "sdp/negotiation.hpp"
#include "sip/call.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>

#include <chrono>
#include <memory>

namespace sb::rtp {

struct LegStats {
  std::uint64_t rtp_packets = 0, rtp_bytes = 0, rtcp_packets = 0, malformed = 0;
};

class AudioLeg final : public sip::CallMedia {
 public:
  // Binds an RTP/RTCP port pair from `ports`; nullptr when none is free.
  static std::unique_ptr<AudioLeg> create(boost::asio::any_io_executor ex, std::shared_ptr<PortAllocator> ports,
                                          boost::asio::ip::address address, bool secure);
  ~AudioLeg() override;

  std::string offer() override;
  std::error_code apply_answer(std::string_view sdp) override;
  std::optional<std::string> answer_offer(std::string_view sdp, bool& on_hold) override;
  std::string current_offer() override;
  std::optional<std::chrono::milliseconds> since_last_packet() const override;
  void stop() override;

  std::uint16_t rtp_port() const;
  const std::optional<sdp::Negotiated>& negotiated() const { return negotiated_; }
  const LegStats& stats() const;

  struct State;  // sockets and counters, shared with the receive coroutines

 private:
  explicit AudioLeg(std::shared_ptr<State> st);
  std::shared_ptr<State> st_;
  sdp::LocalMedia local_;
  std::vector<sdp::Crypto> sdes_keys_;  // ours, one per suite (answers to re-offers pick from these)
  std::optional<sdp::Negotiated> negotiated_;
};

}  // namespace sb::rtp
