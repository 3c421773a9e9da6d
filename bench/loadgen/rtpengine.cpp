// The side-by-side run: the same two far ends and the same speech, with rtpengine (userspace)
// carrying the media instead of Switchboard. Each call is set up the way a SIP proxy drives
// rtpengine: its ng control protocol (bencoded dictionaries over UDP, "<cookie> <dict>"), an
// "offer" with leg A's SDP (rtpengine returns the SDP leg B is to receive) and an "answer" with
// leg B's SDP (rtpengine returns what leg A is to receive), and "delete" at the end.
#include "leg.hpp"

#include "base/crypto.hpp"
#include "rtp/sdes.hpp"
#include "sdp/sdp.hpp"

#include <fmt/format.h>

namespace lg {

namespace {

std::string bstr(std::string_view s) { return fmt::format("{}:{}", s.size(), s); }

// The string values of a bencoded dictionary's top level (lists, integers and nested
// dictionaries skipped); empty on malformed input.
std::map<std::string, std::string> bdecode_strings(std::string_view in) {
  std::map<std::string, std::string> out;
  std::size_t i = 0;
  auto read_str = [&](std::string& s) -> bool {
    const auto colon = in.find(':', i);
    if (colon == std::string_view::npos) return false;
    const auto n = std::strtoul(std::string(in.substr(i, colon - i)).c_str(), nullptr, 10);
    if (colon + 1 + n > in.size()) return false;
    s.assign(in.substr(colon + 1, n));
    i = colon + 1 + n;
    return true;
  };
  // Skips one value of any type.
  std::function<bool()> skip = [&]() -> bool {
    if (i >= in.size()) return false;
    const char c = in[i];
    if (c == 'i') {
      const auto e = in.find('e', i);
      if (e == std::string_view::npos) return false;
      i = e + 1;
      return true;
    }
    if (c == 'l' || c == 'd') {
      ++i;
      while (i < in.size() && in[i] != 'e')
        if (!skip()) return false;
      ++i;
      return true;
    }
    std::string ignored;
    return read_str(ignored);
  };
  if (in.empty() || in[0] != 'd') return {};
  i = 1;
  while (i < in.size() && in[i] != 'e') {
    std::string key;
    if (!read_str(key)) return {};
    if (i < in.size() && std::isdigit(static_cast<unsigned char>(in[i]))) {
      std::string v;
      if (!read_str(v)) return {};
      out[key] = std::move(v);
    } else if (!skip()) {
      return {};
    }
  }
  return out;
}

}  // namespace

struct Worker::NgWait {
  asio::steady_timer timer;
  std::string reply;
  bool done = false;
  explicit NgWait(asio::io_context& io) : timer(io) {}
};

asio::awaitable<void> Worker::ng_loop() {
  std::vector<char> buf(65536);
  udp::endpoint from;
  while (!stopping_) {
    boost::system::error_code ec;
    const auto n = co_await ng_.async_receive_from(asio::buffer(buf), from, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    std::string_view msg(buf.data(), n);
    const auto sp = msg.find(' ');
    if (sp == std::string_view::npos) continue;
    auto it = ng_waiting_.find(std::string(msg.substr(0, sp)));
    if (it == ng_waiting_.end()) continue;
    it->second->reply.assign(msg.substr(sp + 1));
    it->second->done = true;
    it->second->timer.cancel();
  }
}

asio::awaitable<std::string> Worker::ng_request(std::string dict_body) {
  // Unique across runs too: rtpengine answers a cookie it has seen from its reply cache.
  if (ng_cookie_prefix_.empty()) ng_cookie_prefix_ = sb::random_alnum(8);
  const auto cookie = fmt::format("{}{}n{}", ng_cookie_prefix_, index_, ng_cookie_++);
  const std::string msg = fmt::format("{} d{}e", cookie, dict_body);
  NgWait w(io_);
  ng_waiting_[cookie] = &w;
  // The ng protocol is plain UDP: retry like a SIP client would, from the same cookie (rtpengine
  // answers a repeated cookie from its cache).
  for (int attempt = 0; attempt < 4 && !w.done; ++attempt) {
    boost::system::error_code ec;
    ng_.send_to(asio::buffer(msg), ng_server_, 0, ec);
    w.timer.expires_after(std::chrono::milliseconds(500 << attempt));
    co_await w.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  ng_waiting_.erase(cookie);
  co_return w.reply;
}

void Worker::ng_delete(const std::string& call_id, const std::string& from_tag) {
  asio::co_spawn(io_, [this, call_id, from_tag]() -> asio::awaitable<void> {
    co_await ng_request(fmt::format("{}{}{}{}{}{}", bstr("command"), bstr("delete"), bstr("call-id"), bstr(call_id),
                                    bstr("from-tag"), bstr(from_tag)));
  }, asio::detached);
}

asio::awaitable<void> Worker::run_session_ng(CallPlan plan) {
  if (plan.leg_codecs.size() != 2) co_return;
  auto run = std::make_shared<SessionRun>();
  run->plan = plan;
  run->legs = 2;
  std::shared_ptr<Leg> legs[2];
  for (int i = 0; i < 2; ++i) {
    auto leg = std::make_shared<Leg>();
    leg->user = fmt::format("lg{}x{}", index_, next_leg_++);
    leg->run = run;
    leg->codec = *codec_by_name(plan.leg_codecs[static_cast<std::size_t>(i)]);
    leg->secure = plan.secure;
    leg->media = true;
    leg->via_ng = true;
    legs[i] = leg;
    by_user_[leg->user] = leg;
  }
  legs[0]->peer = legs[1];
  legs[1]->peer = legs[0];
  c_.sessions.fetch_add(1, std::memory_order_relaxed);
  const auto call_id = sb::random_alnum(16);
  legs[0]->ng_call_id = call_id;
  legs[0]->ng_from_tag = legs[0]->user;

  // Our SDP for a leg: its one codec on the worker's media port, and its SDES key when secure.
  auto sdp_for = [&](Leg& leg) {
    std::string crypto;
    if (leg.secure) {
      // An answer echoes the tag of the offer line it takes (RFC 4568 §5.1.2); an offer uses 1.
      const auto ours = sb::sdp::make_crypto(static_cast<std::uint32_t>(leg.crypto_tag), "AES_CM_128_HMAC_SHA1_80",
                                             sb::random_bytes(30));
      leg.tx = sb::rtp::make_sdes_context(ours, sb::rtp::SrtpContext::Direction::outbound);
      crypto = fmt::format("a=crypto:{} {} {}\r\n", ours.tag, ours.suite, ours.key_params);
    }
    const std::string rtpmap = leg.codec.id == sb::mix::CodecId::opus
                                   ? fmt::format("a=rtpmap:{} opus/48000/2\r\na=fmtp:{} useinbandfec=1\r\n", leg.codec.pt, leg.codec.pt)
                                   : fmt::format("a=rtpmap:{} {}/{}\r\n", leg.codec.pt, leg.codec.encoding, leg.codec.clock);
    return fmt::format("v=0\r\no=lg {} 1 IN IP4 {}\r\ns=lg\r\nc=IN IP4 {}\r\nt=0 0\r\nm=audio {} {} {}\r\n{}{}a=ptime:20\r\n"
                       "a=sendrecv\r\n",
                       sb::random_u32() >> 1, opt_.sip_ip, opt_.sip_ip, media_port_, leg.secure ? "RTP/SAVP" : "RTP/AVP",
                       leg.codec.pt, rtpmap, crypto);
  };
  // What rtpengine tells a leg: where to send, which payload number, its SDES key.
  auto apply = [&](Leg& leg, const std::string& sdp_text) -> bool {
    auto parsed = sb::sdp::parse(sdp_text);
    if (!parsed || parsed.session->media.empty()) return false;
    const auto& m = parsed.session->media[0];
    const auto* conn = sb::sdp::effective_connection(*parsed.session, m);
    if (!conn || m.port == 0) return false;
    boost::system::error_code ec;
    leg.rtp_peer = udp::endpoint(asio::ip::make_address(std::string(sb::sdp::connection_host(*conn)), ec), m.port);
    if (ec) return false;
    for (const auto& f : m.formats) {
      auto pt = sb::sdp::payload_type(f);
      auto map = pt ? sb::sdp::find_rtpmap(m, *pt) : std::nullopt;
      if (map && strcasecmp(map->encoding.c_str(), leg.codec.encoding) == 0) {
        leg.codec.pt = *pt;
        break;
      }
    }
    if (leg.secure) {
      for (const auto& c : m.cryptos)
        if (c.suite == "AES_CM_128_HMAC_SHA1_80" && !leg.rx) {
          leg.rx = sb::rtp::make_sdes_context(c, sb::rtp::SrtpContext::Direction::inbound);
          leg.crypto_tag = static_cast<int>(c.tag);
        }
      if (!leg.rx) return false;
    }
    return true;
  };
  auto fail = [&](const char* why) {
    if (opt_.verbose) std::fprintf(stderr, "rtpengine: %s\n", why);
    c_.dial_failures.fetch_add(1, std::memory_order_relaxed);
    for (auto& leg : legs) end_leg(leg, true);
  };

  // Transcoding: leg A offers its codec only; rtpengine is asked to offer leg B's too and to
  // transcode between them (its "codec" → "transcode" flag).
  std::string codec_flags;
  if (legs[0]->codec.id != legs[1]->codec.id)
    codec_flags = fmt::format("{}d{}l{}ee", bstr("codec"), bstr("transcode"), bstr(legs[1]->codec.encoding));
  c_.dials.fetch_add(2, std::memory_order_relaxed);
  const auto offer = co_await ng_request(fmt::format("{}{}{}{}{}{}{}{}{}", bstr("command"), bstr("offer"), bstr("call-id"),
                                                     bstr(call_id), bstr("from-tag"), bstr(legs[0]->user), bstr("sdp"),
                                                     bstr(sdp_for(*legs[0])), codec_flags));
  auto r = bdecode_strings(offer);
  if (r["result"] != "ok" || !apply(*legs[1], r["sdp"])) co_return fail(offer.empty() ? "no reply to offer" : offer.c_str());
  const auto answer = co_await ng_request(fmt::format("{}{}{}{}{}{}{}{}{}{}", bstr("command"), bstr("answer"), bstr("call-id"),
                                                      bstr(call_id), bstr("from-tag"), bstr(legs[0]->user), bstr("to-tag"),
                                                      bstr(legs[1]->user), bstr("sdp"), bstr(sdp_for(*legs[1]))));
  r = bdecode_strings(answer);
  if (r["result"] != "ok" || !apply(*legs[0], r["sdp"])) co_return fail(answer.empty() ? "no reply to answer" : answer.c_str());
  for (auto& leg : legs) {
    if (leg->st == Leg::St::ended) co_return;
    leg->st = Leg::St::active;
    leg->was_active = true;
    leg->acked_at = Clock::now();
    c_.acked.fetch_add(1, std::memory_order_relaxed);
    c_.legs_active.fetch_add(1, std::memory_order_relaxed);
    start_media(leg);
  }
}

}  // namespace lg
