// The routed-session SFU of one shard: one UDP port for every browser peer connection of the
// shard's sessions, demultiplexed by ICE ufrag (STUN USERNAME) and then by the nominated remote
// address; publisher legs whose packets are forwarded, re-encrypted, to every subscriber leg of
// the same stream (no jitter buffer, decode or mix). Each subscriber leg is offered the
// publisher's payload types but SSRCs of its own, and gets its own sequence numbering
// (rewrite.hpp: what a paused video skips leaves no gap); RTCP from a subscriber (PLI, FIR, NACK,
// receiver reports, REMB) goes back to the publisher mapped to its SSRCs and numbering, and the
// publisher's sender reports go out to each subscriber naming that leg's SSRCs.
//
// Only the shard's thread touches a Router. Signaling (src/signaling/client.cpp) drives it.
#pragma once
#include "rtp/receive_mux.hpp"
#include "rtp/udp_socket.hpp"
#include "webrtc/peer.hpp"
#include "webrtc/session_description.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sb::webrtc {

struct RouterStats {
  std::uint64_t datagrams_in = 0, datagrams_out = 0, unknown_source = 0, send_errors = 0;
  std::uint64_t forwarded_rtp = 0, forwarded_rtcp = 0, keyframe_requests = 0, foreign_ssrc = 0;
  std::uint64_t publications = 0, subscriptions = 0;  // live
  std::uint64_t local_publications = 0;               // live: media this server originates
  std::uint64_t local_rtp = 0;                        // packets of local publications sent, per subscriber
  std::uint64_t audio_tapped = 0;                     // browser audio packets handed to a tap
  std::uint64_t remb = 0;                             // subscribers' REMBs relayed (aggregated) to publishers
  std::uint64_t consent_expired = 0;                  // legs that went 30 s without an ICE check (RFC 7675)
  // Datagrams a known leg dropped (PeerInput): checks dropped unanswered by its ICE agent (failed
  // authentication, not a request, malformed), DTLS or media from an address other than the
  // leg's nominated pair, media before its keys, SRTP/SRTCP that failed authentication or the
  // replay window. With unknown_source, what a flood on the port costs is counted by kind.
  std::uint64_t ice_rejected = 0, foreign_source = 0, before_keys = 0, srtp_auth = 0;
};

// The 3-byte exponent/mantissa field of a REMB (draft-alvestrand-rmcat-remb §2.2): bits/s.
// Setting rounds down to what 18 bits of mantissa can say.
std::uint64_t remb_value(std::span<const std::uint8_t> field);
void set_remb_value(std::span<std::uint8_t> field, std::uint64_t bps);

class Router {
 public:
  struct Events {
    std::function<void()> on_connected;                   // DTLS done: media can flow
    std::function<void(std::string_view why)> on_failed;  // ICE/DTLS gave up
  };

  Router(boost::asio::any_io_executor ex, boost::asio::ip::address address, std::uint16_t port);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  std::uint16_t port() const { return port_; }
  // Binds and starts receiving; throws on bind failure (setup).
  void start();
  void stop();

  // A browser publishes `stream_id` with `offer_sdp`: returns our answer (nullopt + why when the
  // offer has nothing we can forward).
  std::optional<std::string> publish(const std::string& stream_id, std::string_view offer_sdp, Events ev,
                                     std::string* why);
  bool has_publication(const std::string& stream_id) const { return pubs_.contains(stream_id); }
  void unpublish(const std::string& stream_id);
  // The tracks a publication forwards (the publisher's offer, or a local publication's own);
  // null when unknown.
  const std::vector<Track>* tracks(const std::string& stream_id) const;
  // Also hands a browser publication's audio (decrypted RTP of its audio track, header and all)
  // to `tap` — the session mix (src/signaling/session_audio). The tap lives as long as the
  // publication and is destroyed with it. False when there is no such browser publication.
  bool set_audio_tap(const std::string& stream_id, std::function<void(std::span<const std::uint8_t> rtp)> tap);

  // Media this server originates (a SIP party's audio, encoded once for the stream): a
  // publication with no browser peer. Subscribers are offered `tracks` (our SSRCs and payload
  // types) and get every packet send_local hands in. False when the id is taken.
  bool publish_local(const std::string& stream_id, std::vector<Track> tracks);
  // One clear RTP packet of a local publication, protected and sent to each connected subscriber.
  void send_local(const std::string& stream_id, std::span<const std::uint8_t> rtp);
  std::size_t subscriber_count(const std::string& stream_id) const;
  // Expires when the router is destroyed (owners of taps and local publications check it).
  std::weak_ptr<bool> alive_token() const { return alive_; }

  // A browser subscribes to `stream_id`: returns our offer.
  std::optional<std::string> subscribe(const std::string& stream_id, const std::string& subscriber_id, Events ev,
                                       std::string* why);
  // The subscriber's answer to that offer.
  bool answer(const std::string& subscriber_id, std::string_view answer_sdp, std::string* why);
  void unsubscribe(const std::string& subscriber_id);
  // subscribeToVideo(false/true): stop or resume forwarding the stream's video to this
  // subscriber (a keyframe is requested on resume). False when unknown.
  bool set_video(const std::string& subscriber_id, bool active);

  const RouterStats& stats() const { return stats_; }

 private:
  struct Publication;
  struct Subscription;
  using AddrKey = std::array<std::uint8_t, 19>;
  static AddrKey key_of(const StunAddress& a);

  struct ReceiveSink;  // the shard's receive path (rtp::ReceiveMux) hands datagrams to on_datagram
  boost::asio::awaitable<void> timer_loop();
  void on_datagram(std::span<std::uint8_t> d, const boost::asio::ip::udp::endpoint& from);
  void send_to(const StunAddress& to, std::span<const std::uint8_t> bytes);
  void forget(Peer* p);
  void request_keyframe(Publication& pub);
  LocalIce local_ice(const IceCredentials& c, const rtp::DtlsIdentity& identity) const;

  boost::asio::any_io_executor ex_;
  boost::asio::ip::address address_;
  std::uint16_t port_;
  rtp::UdpSocket socket_;  // drained with recvmmsg by the shard's rtp::ReceiveMux, like the SIP legs'
  rtp::ReceiveMux* mux_ = nullptr;
  rtp::ReceiveMux::Handle rx_ = 0;
  std::shared_ptr<ReceiveSink> sink_;
  std::unique_ptr<boost::asio::steady_timer> timer_;
  bool running_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  std::map<std::string, std::unique_ptr<Publication>, std::less<>> pubs_;   // by stream id
  std::map<std::string, std::unique_ptr<Subscription>, std::less<>> subs_;  // by subscriber id
  std::map<std::string, Peer*, std::less<>> by_ufrag_;
  std::map<AddrKey, Peer*> by_address_;
  std::array<std::uint8_t, 1500 + Peer::kSendSlack> scratch_{};
  RouterStats stats_;
};

}  // namespace sb::webrtc
