#include "webrtc/peer.hpp"

#include "base/log.hpp"

namespace sb::webrtc {

namespace {
// RFC 7983 §7: the first byte tells STUN (0-3), DTLS (20-63) and RTP/RTCP (128-191) apart.
enum class Kind { stun, dtls, rtp, rtcp, other };
Kind classify(std::span<const std::uint8_t> d) {
  if (d.empty()) return Kind::other;
  const auto b = d[0];
  if (b <= 3) return Kind::stun;
  if (b >= 20 && b <= 63) return Kind::dtls;
  if (b >= 128 && b <= 191) {
    // RFC 5761 §4: with rtcp-mux, payload types 192-223 (the RTCP packet types) are RTCP.
    if (d.size() >= 2 && d[1] >= 192 && d[1] <= 223) return Kind::rtcp;
    return Kind::rtp;
  }
  return Kind::other;
}
constexpr std::size_t kMaxEarlyDtls = 4;
}  // namespace

Peer::Peer(Role role, IceCredentials local, std::shared_ptr<const rtp::DtlsIdentity> identity, Send send, Callbacks cb)
    : role_(role), local_(local), identity_(std::move(identity)), agent_(local.ufrag, local.pwd), send_(std::move(send)),
      cb_(std::move(cb)) {}

Peer::~Peer() = default;

void Peer::set_remote(std::string_view ice_ufrag, std::string fingerprint_alg, std::string fingerprint,
                      Clock::time_point now) {
  agent_.set_remote(ice_ufrag);
  fp_alg_ = std::move(fingerprint_alg);
  fp_ = std::move(fingerprint);
  have_remote_ = true;
  if (state_ == State::new_) state_ = State::connecting;
  maybe_start_dtls(now);
}

void Peer::maybe_start_dtls(Clock::time_point now) {
  if (dtls_ || !have_remote_ || state_ == State::closed) return;
  // The server side may start at once (it only answers); the client waits for a nominated pair.
  if (role_ == Role::publisher && !agent_.selected()) return;
  const auto dtls_role = role_ == Role::publisher ? rtp::DtlsSrtp::Role::client : rtp::DtlsSrtp::Role::server;
  dtls_ = std::make_unique<rtp::DtlsSrtp>(identity_, dtls_role, fp_alg_, fp_, now);
  dtls_->start(now);
  for (auto& d : early_dtls_) dtls_->receive(d, now);
  early_dtls_.clear();
  flush_dtls();
  on_dtls_state();
}

void Peer::flush_dtls() {
  if (!dtls_ || !agent_.selected()) return;
  for (auto& d : dtls_->take_outgoing()) send_(*agent_.selected(), d);
}

void Peer::on_dtls_state() {
  if (!dtls_) return;
  if (dtls_->state() == rtp::DtlsSrtp::State::connected && state_ != State::connected) {
    const auto& k = *dtls_->keys();
    srtp_in_ = rtp::SrtpContext::create(k.suite, k.remote_key_salt, rtp::SrtpContext::Direction::inbound);
    srtp_out_ = rtp::SrtpContext::create(k.suite, k.local_key_salt, rtp::SrtpContext::Direction::outbound);
    if (!srtp_in_ || !srtp_out_) {
      state_ = State::failed;
      if (cb_.on_failed) cb_.on_failed("SRTP keys rejected");
      return;
    }
    state_ = State::connected;
    if (cb_.on_connected) cb_.on_connected();
  } else if (dtls_->state() == rtp::DtlsSrtp::State::failed && state_ != State::failed) {
    state_ = State::failed;
    if (cb_.on_failed) cb_.on_failed(dtls_->error());
  }
}

PeerInput Peer::receive(std::span<std::uint8_t> d, const StunAddress& from, Clock::time_point now) {
  if (state_ == State::closed) return PeerInput::closed;
  const Kind kind = classify(d);
  switch (kind) {
    case Kind::stun: {
      std::array<std::uint8_t, k_max_reply_size> out{};
      auto o = agent_.handle_request(d, from, now, out);
      if (consent_lapsed_ && !agent_.consent_expired(now)) consent_lapsed_ = false;  // refreshed
      if (o.reply_size) send_(from, std::span<const std::uint8_t>(out.data(), o.reply_size));
      if (o.selected_changed) maybe_start_dtls(now);
      flush_dtls();
      // An error answer (400, 420, 487) goes to an authenticated check: taken, not dropped.
      return o.dropped ? PeerInput::ice_rejected : PeerInput::accepted;
    }
    case Kind::dtls:
      // Only from the nominated address once there is one (the association is pinned to it).
      if (agent_.selected() && !(*agent_.selected() == from)) {
        ++stats_.foreign;
        return PeerInput::foreign;
      }
      if (!dtls_) {
        if (early_dtls_.size() >= kMaxEarlyDtls) {
          ++stats_.dropped_before_keys;
          return PeerInput::before_keys;
        }
        early_dtls_.emplace_back(d.begin(), d.end());
        return PeerInput::accepted;
      }
      dtls_->receive(d, now);
      flush_dtls();
      on_dtls_state();
      return PeerInput::accepted;
    case Kind::rtp:
    case Kind::rtcp: {
      const bool rtcp = kind == Kind::rtcp;
      if (!agent_.selected() || !(*agent_.selected() == from)) {
        ++stats_.foreign;  // media only from the pair ICE nominated
        return PeerInput::foreign;
      }
      if (!srtp_in_) {
        ++stats_.dropped_before_keys;
        return PeerInput::before_keys;
      }
      const int n = rtcp ? srtp_in_->unprotect_rtcp(d, d.size()) : srtp_in_->unprotect_rtp(d, d.size());
      if (n < 0) {
        ++stats_.srtp_failures;
        return PeerInput::srtp_auth;
      }
      stats_.bytes_in += d.size();
      if (rtcp) {
        ++stats_.rtcp_in;
        if (cb_.on_rtcp) cb_.on_rtcp(d.first(static_cast<std::size_t>(n)));
      } else {
        ++stats_.rtp_in;
        if (cb_.on_rtp) cb_.on_rtp(d.first(static_cast<std::size_t>(n)));
      }
      return PeerInput::accepted;
    }
    case Kind::other:
      break;
  }
  ++stats_.foreign;  // Kind::other: not STUN, DTLS, RTP or RTCP (RFC 7983 §7)
  return PeerInput::foreign;
}

bool Peer::send_rtp(std::span<std::uint8_t> buf, std::size_t len) {
  if (state_ != State::connected || !srtp_out_ || !agent_.selected()) return false;
  if (consent_lapsed_) {
    ++stats_.held_no_consent;
    return false;
  }
  const int n = srtp_out_->protect_rtp(buf, len);
  if (n < 0) return false;
  ++stats_.rtp_out;
  stats_.bytes_out += static_cast<std::size_t>(n);
  send_(*agent_.selected(), buf.first(static_cast<std::size_t>(n)));
  return true;
}

bool Peer::send_rtcp(std::span<std::uint8_t> buf, std::size_t len) {
  if (state_ != State::connected || !srtp_out_ || !agent_.selected()) return false;
  if (consent_lapsed_) {
    ++stats_.held_no_consent;
    return false;
  }
  const int n = srtp_out_->protect_rtcp(buf, len);
  if (n < 0) return false;
  ++stats_.rtcp_out;
  send_(*agent_.selected(), buf.first(static_cast<std::size_t>(n)));
  return true;
}

std::optional<Peer::Clock::time_point> Peer::next_timer() const {
  if (!dtls_ || state_ == State::closed) return std::nullopt;
  return dtls_->next_timer();
}

void Peer::on_timer(Clock::time_point now) {
  if (!dtls_ || state_ == State::closed) return;
  dtls_->on_timer(now);
  flush_dtls();
  on_dtls_state();
}

bool Peer::check_consent(Clock::time_point now) {
  if (consent_lapsed_ || state_ == State::closed || !agent_.consent_expired(now)) return false;
  consent_lapsed_ = true;
  ++stats_.consent_expiries;
  return true;
}

void Peer::close() {
  if (state_ == State::closed) return;
  if (dtls_ && state_ == State::connected) {
    dtls_->close();
    flush_dtls();
  }
  state_ = State::closed;
}

}  // namespace sb::webrtc
