#include "rtp/audio_leg.hpp"

#include "base/crypto.hpp"
#include "base/encoding.hpp"
#include "base/log.hpp"

#include <boost/asio.hpp>

namespace sb::rtp {
namespace asio = boost::asio;
using udp = asio::ip::udp;

struct AudioLeg::State {
  explicit State(asio::any_io_executor ex) : rtp(ex), rtcp(ex) {}
  udp::socket rtp, rtcp;
  std::shared_ptr<PortAllocator> ports;
  std::uint16_t port = 0;
  bool stopped = false;
  LegStats stats;
  std::optional<std::chrono::steady_clock::time_point> last_packet;
  std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();
};

namespace {

// RFC 3550 §5.1 minimum: version 2 and a 12-byte fixed header. RTCP (RFC 5761 §4, payload
// types 200–204 after the marker bit) is told apart for rtcp-mux.
bool plausible_rtp(const unsigned char* p, std::size_t n) { return n >= 12 && (p[0] >> 6) == 2; }
bool is_rtcp(const unsigned char* p, std::size_t n) { return n >= 8 && p[1] >= 192 && p[1] <= 223; }

// Receives on one socket until it is closed; counts and timestamps what arrives. Media
// processing (SRTP, jitter buffer, decode) plugs in here in issue 4.
asio::awaitable<void> receive_loop(std::shared_ptr<AudioLeg::State> st, bool rtcp_socket) {
  std::array<unsigned char, 2048> buf;
  udp::endpoint from;
  auto& sock = rtcp_socket ? st->rtcp : st->rtp;
  while (!st->stopped) {
    auto [ec, n] = co_await sock.async_receive_from(asio::buffer(buf), from, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || st->stopped) break;
      continue;  // ICMP errors surface as recv errors on connected paths: keep going
    }
    if (!plausible_rtp(buf.data(), n)) {
      ++st->stats.malformed;
      continue;
    }
    if (rtcp_socket || is_rtcp(buf.data(), n)) {
      ++st->stats.rtcp_packets;
      continue;
    }
    ++st->stats.rtp_packets;
    st->stats.rtp_bytes += n;
    st->last_packet = std::chrono::steady_clock::now();
  }
}

void spawn(asio::any_io_executor ex, std::shared_ptr<AudioLeg::State> st, bool rtcp) {
  asio::co_spawn(ex, receive_loop(st, rtcp), [](std::exception_ptr e) {
    if (e) try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log::warn("rtp", "receive loop ended: {}", x.what());
      }
  });
}

}  // namespace

std::unique_ptr<AudioLeg> AudioLeg::create(asio::any_io_executor ex, std::shared_ptr<PortAllocator> ports,
                                           asio::ip::address address, bool secure) {
  auto st = std::make_shared<State>(ex);
  st->ports = ports;
  // A port of our slice may still be taken by another process: try a few.
  for (int attempt = 0; attempt < 8 && st->port == 0; ++attempt) {
    auto p = ports->acquire();
    if (!p) return nullptr;
    boost::system::error_code e1, e2;
    st->rtp.open(address.is_v6() ? udp::v6() : udp::v4(), e1);
    st->rtcp.open(address.is_v6() ? udp::v6() : udp::v4(), e2);
    if (!e1) st->rtp.bind({address, *p}, e1);
    if (!e1 && !e2) st->rtcp.bind({address, static_cast<std::uint16_t>(*p + 1)}, e2);
    if (e1 || e2) {
      st->rtp.close(e1);
      st->rtcp.close(e2);
      ports->release(*p);
      continue;
    }
    st->port = *p;
  }
  if (st->port == 0) return nullptr;
  std::unique_ptr<AudioLeg> leg(new AudioLeg(st));
  auto& L = leg->local_;
  L.address = address.to_string();
  L.rtp_port = st->port;
  L.session_id = std::stoull(sb::to_hex(random_bytes(6)), nullptr, 16);
  L.session_version = 1;
  if (secure) {
    // SDES (RFC 4568) keys, one per suite we can run, strongest first. DTLS-SRTP keying and the
    // choice between them arrive with the media issue (see README "Media").
    L.keying = sdp::Keying::sdes;
    std::uint32_t tag = 1;
    for (std::string_view suite : {"AEAD_AES_256_GCM", "AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80",
                                   "AES_CM_128_HMAC_SHA1_32"}) {
      auto len = sdp::srtp_key_salt_length(suite);
      if (!len) continue;
      leg->sdes_keys_.push_back(sdp::make_crypto(tag++, suite, random_bytes(*len)));
    }
    L.sdes_offers = leg->sdes_keys_;
  }
  spawn(ex, st, false);
  spawn(ex, st, true);
  return leg;
}

AudioLeg::AudioLeg(std::shared_ptr<State> st) : st_(std::move(st)) {}

AudioLeg::~AudioLeg() { stop(); }

std::string AudioLeg::offer() { return sdp::build_offer(local_); }

std::string AudioLeg::current_offer() { return sdp::build_offer(local_); }

std::error_code AudioLeg::apply_answer(std::string_view text) {
  auto parsed = sdp::parse(text);
  if (!parsed) return parsed.error ? parsed.error : std::make_error_code(std::errc::invalid_argument);
  auto n = sdp::apply_answer(local_, *parsed.session);
  if (!n) return n.error;
  negotiated_ = *n;
  log::info("rtp", "leg :{} negotiated {} pt {} → {}:{}{}", st_->port, sdp::to_string(n->codec), n->payload_type,
            n->remote_address, n->remote_rtp_port, n->keying == sdp::Keying::sdes ? " (SDES)" : "");
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
  negotiated_ = a->negotiated;
  on_hold = a->negotiated.on_hold;
  return a->sdp;
}

std::optional<std::chrono::milliseconds> AudioLeg::since_last_packet() const {
  if (!st_->last_packet) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - *st_->last_packet);
}

void AudioLeg::stop() {
  if (st_->stopped) return;
  st_->stopped = true;
  boost::system::error_code ec;
  st_->rtp.close(ec);
  st_->rtcp.close(ec);
  st_->ports->release(st_->port);
}

std::uint16_t AudioLeg::rtp_port() const { return st_->port; }
const LegStats& AudioLeg::stats() const { return st_->stats; }

}  // namespace sb::rtp
