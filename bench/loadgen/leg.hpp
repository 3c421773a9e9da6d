// The generator's view of one call leg and of the session it belongs to (worker.cpp,
// rtpengine.cpp). Private to bench/loadgen.
#pragma once

#include "loadgen.hpp"

#include "mix/codec.hpp"
#include "rtp/srtp.hpp"

#include <boost/asio.hpp>

#include <memory>
#include <string>
#include <vector>

namespace lg {

using udp = asio::ip::udp;

// Its legs own it (it ends when the last of them does); it does not own them.
struct SessionRun {
  CallPlan plan;
  std::string session_id, token;
  std::size_t legs = 0, ended = 0;
  bool failed = false;  ///< a leg failed: the session may still hold a connection (never reused)
};

// One dialed SIP leg, seen from its far end: the UAS dialog and the media it sends and checks.
struct Leg {
  enum class St { dialing, answered, active, holding, bye_sent, ended };
  St st = St::dialing;
  std::string user;  ///< our Request-URI user part: how the INVITE finds its leg
  std::shared_ptr<SessionRun> run;
  CodecChoice codec;
  bool secure = false, media = true, planned_end = false, hold_first = false, was_active = false;
  std::chrono::milliseconds lifetime{0};
  std::string rest_call_id;
  Clock::time_point dialed_at, acked_at;

  // Dialog (RFC 3261 §12): we are the callee, so our requests carry From = the INVITE's To (with
  // our tag) and To = the INVITE's From.
  std::string call_id, their_from, our_to, remote_target;
  udp::endpoint sip_peer;
  std::uint32_t cseq = 0;
  std::uint32_t sdp_version = 1;
  std::uint32_t hold_cseq = 0;  ///< our hold re-INVITE's CSeq, once sent
  std::string hold_branch;      ///< and its Via branch (a non-2xx is ACKed in its transaction)
  int crypto_tag = 1;           ///< rtpengine runs: the SDES tag our answer echoes
  std::string answer_sdp;
  std::uint32_t sdp_session = 0;
  std::string sdp_ip, sdp_media, sdp_crypto;  ///< our m= line with its rtpmap/fmtp/rtcp-mux; a=crypto
  // The one message we retransmit until answered (our 2xx until the ACK, a BYE or re-INVITE until
  // its final response), RFC 3261 §13.3.1.4 / §17.1.2.2.
  std::string pending;
  std::uint32_t pending_cseq = 0;
  Clock::time_point next_rtx, give_up;
  std::chrono::milliseconds rtx_interval{0};

  // Media (on the worker's shared media socket; the server's leg is told our one port).
  udp::endpoint rtp_peer;
  bool media_open = false;
  std::unique_ptr<sb::rtp::SrtpContext> tx, rx;
  const EncodedCorpus* corpus = nullptr;
  std::size_t pos = 0;
  std::uint32_t ssrc = 0, ts = 0;
  std::uint16_t seq = 0;
  bool first_packet = true;
  int slot = -1;
  // What comes back: RFC 3550 §A.3 extended-sequence loss, transit against the leg's minimum.
  bool have_rx = false;
  std::uint32_t rx_ssrc = 0, last_ts = 0;
  std::uint16_t max_seq = 0;
  std::int64_t ts_ext = 0;
  Clock::time_point first_arrival;
  double min_transit_ms = 0;
  // The latency probe our peer leg sent and we look for in what we receive.
  std::weak_ptr<Leg> peer;
  bool probe_open = false;
  Clock::time_point probe_sent;
  std::unique_ptr<sb::mix::Decoder> dec;
  std::uint64_t received = 0, probes_found = 0;
  double probe_offset_us = 0;  ///< the sending leg's corpus calibration (corpus.hpp)
  std::string ng_call_id, ng_from_tag;  ///< set when rtpengine carries the call (first leg only)
  bool via_ng = false;
  std::vector<std::int16_t> tail;  ///< the last decoded packet while a probe is awaited
  Clock::time_point tail_arrival;
};

}  // namespace lg
