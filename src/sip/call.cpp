#include "sip/call.hpp"

#include "base/crypto.hpp"
#include "base/log.hpp"
#include "sip/invite_headers.hpp"
#include "sip/uri.hpp"
#include "sip/user_agent.hpp"

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>

namespace sb::sip {
namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string_view to_string(CallState s) {
  switch (s) {
    case CallState::dialing: return "DIALING";
    case CallState::ringing: return "RINGING";
    case CallState::active: return "ACTIVE";
    case CallState::on_hold: return "ON_HOLD";
    case CallState::hangup: return "HANGUP";
  }
  return "?";
}

std::string_view to_string(DtmfMethod m) { return m == DtmfMethod::info ? "info" : "rfc4733"; }

namespace {

constexpr std::string_view kAllow = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO";

// Reason phrases for when a response carries none (RFC 3261 §21).
std::string default_reason(unsigned code) {
  switch (code) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 480: return "Temporarily Unavailable";
    case 481: return "Call/Transaction Does Not Exist";
    case 486: return "Busy Here";
    case 487: return "Request Terminated";
    case 488: return "Not Acceptable Here";
    case 500: return "Server Internal Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 603: return "Decline";
    default: return code < 400 ? "Redirection" : code < 500 ? "Client Error" : code < 600 ? "Server Error" : "Global Failure";
  }
}

CallEnd end_from(const Message& r) {
  return CallEnd{r.status_code, r.reason.empty() ? default_reason(r.status_code) : std::string(r.reason)};
}

// Top Via branch and CSeq method of a message: how a response finds its transaction (§17.1.3).
struct TxKey {
  std::string_view branch;
  Method method = Method::extension;
  std::uint32_t cseq = 0;
};
std::optional<TxKey> tx_key(const Message& m) {
  const Header* v = m.find(HeaderId::via);
  const Header* c = m.find(HeaderId::cseq);
  if (!v || !c) return std::nullopt;
  ListCursor list(v->value);
  auto first = list.next();
  if (!first) return std::nullopt;
  auto via = parse_via(*first);
  auto cs = parse_cseq(c->value);
  if (!via || !cs) return std::nullopt;
  return TxKey{via->branch, cs->method, cs->number};
}

// Strips URI headers ("?…"), which a Request-URI or To may not carry (§19.1.5).
std::string without_uri_headers(std::string_view uri) {
  auto q = uri.find('?');
  return std::string(q == std::string_view::npos ? uri : uri.substr(0, q));
}

bool reliable(Transport t) { return t != Transport::udp; }

}  // namespace

Call::Call(UserAgent& ua, CallParams params, std::unique_ptr<CallMedia> media, CallObserver observer)
    : ua_(ua), params_(std::move(params)), media_(std::move(media)), observer_(std::move(observer)),
      wake_(ua.executor()), digest_(params_.auth ? *params_.auth : Credentials{}) {
  call_id_ = random_alnum(24) + "@switchboard";
  local_tag_ = random_alnum(16);
  request_uri_ = without_uri_headers(params_.uri);
  to_uri_ = request_uri_;
  // sip.from: "user@host" or a full URI (SPEC §2.1); without one, a From that names this gateway.
  if (params_.from.empty()) {
    from_uri_ = fmt::format("sip:switchboard@{}", ua_.advertised_host());
    from_display_ = "Switchboard";
  } else if (params_.from.starts_with("sip:") || params_.from.starts_with("sips:")) {
    from_uri_ = params_.from;
  } else if (params_.from.find('@') != std::string::npos) {
    from_uri_ = "sip:" + params_.from;
  } else {
    from_uri_ = fmt::format("sip:{}@{}", params_.from, ua_.advertised_host());
  }
}

Call::~Call() = default;

void Call::start() {
  // A media failure wakes the call at once (dialog_phase checks failure() on every pass).
  media_->on_failure([weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      self->kick_ = true;
      self->wake_.cancel();
    }
  });
  // Digits from the far end go to the observer while the call lives; the media posts them, so
  // this never runs inside the call's own code.
  media_->on_dtmf([weak = weak_from_this()](const DtmfIn& d) {
    if (auto self = weak.lock(); self && !self->ended_ && self->observer_.on_dtmf) self->observer_.on_dtmf(d);
  });
  asio::co_spawn(ua_.executor(), run(), [self = shared_from_this()](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log::error("sip", "call {} failed with exception: {}", self->params_.id, x.what());
      }
      // Whatever happened, the session must learn the call is gone.
      if (!self->ended_) {
        self->ended_ = true;
        if (self->observer_.on_end) self->observer_.on_end(CallEnd{703, "Unexpected Clearing"});
      }
      self->ua_.call_finished(self.get());
    }
  });
}

DtmfQueued Call::play_dtmf(std::string_view digits) {
  if (ended_ || hangup_requested_ || (state_ != CallState::active && state_ != CallState::on_hold))
    return DtmfQueued::unavailable;
  return media_->play_dtmf(digits);
}

std::size_t Call::dtmf_room() const {
  if (ended_ || hangup_requested_ || (state_ != CallState::active && state_ != CallState::on_hold)) return 0;
  return media_->dtmf_room();
}

void Call::hangup(bool abandon_unanswered) {
  hangup_requested_ = true;
  abandon_ = abandon_ || abandon_unanswered;
  kick_ = true;
  wake_.cancel();
}

void Call::deliver(std::shared_ptr<Inbound> in) {
  if (inbox_.size() >= kInboxLimit) {
    ua_.count_inbox_overflow();
    return;
  }
  inbox_.push_back(std::move(in));
  wake_.cancel();
}

void Call::set_state(CallState s) {
  if (state_ == s) return;
  state_ = s;
  log::info("sip", "call {} {}", params_.id, to_string(s));
  if (observer_.on_state) observer_.on_state(s);
}

asio::awaitable<void> Call::until_hangup() {
  while (!hangup_requested_) {
    wake_.expires_after(std::chrono::hours(24));
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> Call::wait_input(SipTime deadline) {
  // A kick (hangup) wakes the loop once; it must not keep it from ever waiting again.
  if (!inbox_.empty() || kick_) {
    kick_ = false;
    co_return;
  }
  wake_.expires_at(deadline);
  co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
}

// host[:port] of this shard for a transport. Without a listener for it (TLS with no certificate
// configured) there is no port to give: the sent-by carries none, responses come back on the
// connection the request went out on (§18.2.2), and so do in-dialog requests of far ends that
// reuse connections.
static std::string hostport(const UserAgent& ua, std::string_view transport) {
  const auto port = ua.port_for(transport);
  return port ? fmt::format("{}:{}", ua.via_host(), port) : ua.via_host();
}

std::string Call::via(std::string_view transport, const std::string& branch) const {
  return fmt::format("SIP/2.0/{} {};branch={};rport", transport, hostport(ua_, transport), branch);
}

std::string Call::contact(std::string_view transport) const {
  // Our per-shard port: in-dialog requests must come back to this shard (README, "SIP").
  std::string t(transport);
  for (auto& c : t) c = ascii_lower(c);
  return fmt::format("<sip:switchboard@{};transport={}>", hostport(ua_, transport), t);
}

// Our From before the dialog exists (INVITE, CANCEL, non-2xx ACK); the dialog has its own.
std::string Call::from_header() const {
  return (from_display_.empty() ? "" : "\"" + from_display_ + "\" ") + "<" + from_uri_ + ">;tag=" + local_tag_;
}

std::string Call::build_invite(const std::string& branch, std::string_view transport, bool with_sdp) {
  MessageWriter w;
  w.request(Method::invite, request_uri_)
      .header(HeaderId::via, via(transport, branch))
      .header(HeaderId::max_forwards, "70")
      .header(HeaderId::from, from_header())
      .header(HeaderId::to, "<" + to_uri_ + ">")
      .header(HeaderId::call_id, call_id_)
      .header(HeaderId::cseq, fmt::format("{} INVITE", cseq_))
      .header(HeaderId::contact, contact(transport))
      .header(HeaderId::allow, kAllow)
      // RFC 4028 §7.1: offer session timers; the UAS picks the refresher.
      .header(HeaderId::supported, "timer")
      .header(HeaderId::session_expires, std::to_string(params_.session_expires))
      .header(HeaderId::min_se, std::to_string(params_.min_se))
      .header(HeaderId::user_agent, ua_.user_agent())
      .header(kSessionIdHeader, params_.session_id);
  // sip.headers were validated against the same list (400 at dial time); one that still names a
  // header written above is left out rather than sent twice.
  for (const auto& [k, v] : params_.headers)
    if (!gateway_writes_header(k)) w.header(k, v);
  std::vector<CredentialsHeader> creds;
  digest_.authorize("INVITE", request_uri_, with_sdp ? offer_sdp_ : std::string_view(), creds);
  for (const auto& c : creds) w.header(c.id, c.value);
  invite_creds_ = creds;  // the 2xx ACK repeats them verbatim (§13.2.2.4)
  if (with_sdp) w.body("application/sdp", offer_sdp_);
  std::string out;
  if (auto ec = w.finish(out)) log::warn("sip", "call {}: cannot build INVITE: {}", params_.id, ec.message());
  return out;
}

std::string Call::build_in_dialog(Method m, const std::string& branch, std::string_view transport,
                                  std::string_view sdp, std::vector<std::pair<std::string, std::string>> extra) {
  auto a = dialog_->addressing();
  MessageWriter w;
  w.request(m, a.request_uri).header(HeaderId::via, via(transport, branch)).header(HeaderId::max_forwards, "70");
  for (const auto& r : a.routes) w.header(HeaderId::route, r);
  std::uint32_t cseq = m == Method::ack ? cseq_ : ++dialog_->local_cseq;
  w.header(HeaderId::from, dialog_->from_header())
      .header(HeaderId::to, dialog_->to_header())
      .header(HeaderId::call_id, call_id_)
      .header(HeaderId::cseq, fmt::format("{} {}", cseq, to_string(m)))
      .header(HeaderId::user_agent, ua_.user_agent());
  if (m == Method::invite || m == Method::update) {
    w.header(HeaderId::contact, contact(transport)).header(HeaderId::allow, kAllow);
  }
  for (const auto& [k, v] : extra) w.header(k, v);
  // Digest credentials are reused for in-dialog requests to the same realm (§22.3); the ACK of
  // a 2xx carries exactly the INVITE's (§13.2.2.4), recomputing them would advance nc.
  if (m == Method::ack) {
    for (const auto& c : invite_creds_) w.header(c.id, c.value);
  } else if (m != Method::cancel) {
    std::vector<CredentialsHeader> creds;
    digest_.start_request();
    digest_.authorize(to_string(m), a.request_uri, sdp, creds);
    for (const auto& c : creds) w.header(c.id, c.value);
    if (m == Method::invite) invite_creds_ = creds;
  }
  if (!sdp.empty()) w.body("application/sdp", sdp);
  std::string out;
  if (auto ec = w.finish(out)) log::warn("sip", "call {}: cannot build {}: {}", params_.id, to_string(m), ec.message());
  return out;
}

asio::awaitable<void> Call::run() {
  auto self = shared_from_this();  // the call lives until its coroutine ends
  set_state(CallState::dialing);
  offer_sdp_ = media_->offer();
  CallEnd end;
  auto failed = co_await invite_phase();
  if (failed) {
    end = *failed;
  } else {
    end = co_await dialog_phase();
    set_state(CallState::hangup);
  }
  media_->stop();
  if (!invite_branch_.empty()) ua_.unbind_branch(invite_branch_);
  if (dialog_) ua_.unbind_dialog(call_id_, local_tag_);
  ended_ = true;
  log::info("sip", "call {} ended {} {}", params_.id, end.code, end.reason);
  if (observer_.on_end) observer_.on_end(end);
  ua_.call_finished(this);
}

// One client transaction of ours in flight, with its request bytes and where they go.
struct Call::Pending {
  Method method = Method::invite;
  std::string branch;
  std::string wire;
  Target target;
  std::optional<ClientTransaction> tx;
  std::string ack;  // INVITE non-2xx: the hop-by-hop ACK (§17.1.1.3)
};

asio::awaitable<std::error_code> Call::send_request(Pending& p) {
  co_return co_await ua_.send(p.target, p.wire);
}

asio::awaitable<std::optional<CallEnd>> Call::invite_phase() {
  const auto ring_deadline = SipClock::now() + params_.ring_timeout;
  std::optional<CallEnd> forced;  // set once we decide to give up (hangup, ring timeout)
  std::string target_uri = request_uri_;
  int redirects = 0;
  CallEnd last_failure{503, "Service Unavailable"};

  for (;;) {  // one pass per Request-URI (the dialed one, then redirect targets)
    // A hangup while DNS is still resolving ends the call before any INVITE goes out.
    using namespace boost::asio::experimental::awaitable_operators;
    auto raced = co_await (ua_.resolve(target_uri) || until_hangup());
    if (raced.index() == 1) co_return CallEnd{487, "Request Terminated"};
    auto targets = std::get<0>(std::move(raced));
    if (!targets || targets->empty()) {
      log::info("sip", "call {}: no target for {}", params_.id, target_uri);
      co_return forced ? *forced : CallEnd{503, "Service Unavailable"};
    }
    bool redirected = false;
    for (std::size_t ti = 0; ti < targets->size() && !redirected; ++ti) {
      Pending inv;
      inv.target = (*targets)[ti];
      const std::string_view tname = to_string(inv.target.transport);
      bool next_target = false;
      digest_.start_request();
      while (!next_target && !redirected) {  // one INVITE per pass (digest retries repeat it)
        ++cseq_;
        inv.branch = ua_.new_branch();
        inv.wire = build_invite(inv.branch, tname, true);
        inv.ack.clear();
        inv.tx.emplace(ClientTransaction::Kind::invite, reliable(inv.target.transport), ua_.timers(), SipClock::now());
        ua_.bind_branch(inv.branch, weak_from_this());
        bool provisional = false;
        std::optional<Pending> cancel;
        std::optional<SipTime> cancel_give_up;
        // CANCEL shares the INVITE's branch, so the UA routes its responses here as well.
        auto finish_attempt = [&] { ua_.unbind_branch(inv.branch); };
        if (co_await send_request(inv)) {
          inv.tx->on_transport_error();
          finish_attempt();
          last_failure = CallEnd{503, "Service Unavailable"};
          next_target = true;
          break;
        }
        for (;;) {
          auto now = SipClock::now();
          if (!forced && (hangup_requested_ || now >= ring_deadline))
            forced = hangup_requested_ ? CallEnd{487, "Request Terminated"} : CallEnd{408, "Request Timeout"};
          if (forced && abandon_ && !provisional) {
            finish_attempt();  // drain: nobody answered yet, nothing to CANCEL
            co_return forced;
          }
          // §9.1: CANCEL only once a provisional response has arrived.
          if (forced && provisional && !cancel) {
            cancel.emplace();
            cancel->method = Method::cancel;
            cancel->branch = inv.branch;  // CANCEL shares the INVITE's branch (§9.1)
            cancel->target = inv.target;
            MessageWriter w;
            w.request(Method::cancel, request_uri_)
                .header(HeaderId::via, via(tname, inv.branch))
                .header(HeaderId::max_forwards, "70")
                .header(HeaderId::from, from_header())
                .header(HeaderId::to, "<" + to_uri_ + ">")
                .header(HeaderId::call_id, call_id_)
                .header(HeaderId::cseq, fmt::format("{} CANCEL", cseq_))
                .header(HeaderId::user_agent, ua_.user_agent())
                .finish(cancel->wire);
            cancel->tx.emplace(ClientTransaction::Kind::non_invite, reliable(inv.target.transport), ua_.timers(), now);
            // §9.1: without a final response to the INVITE 64*T1 after the CANCEL, give up.
            cancel_give_up = now + ua_.timers().timer_b();
            log::debug("sip", "call {}: CANCEL ({})", params_.id, forced->reason);
            if (co_await send_request(*cancel)) cancel->tx->on_transport_error();
          }
          SipTime deadline = now + 1h;
          if (auto d = inv.tx->next_deadline()) deadline = std::min(deadline, *d);
          if (cancel && cancel->tx->next_deadline()) deadline = std::min(deadline, *cancel->tx->next_deadline());
          if (!forced) deadline = std::min(deadline, ring_deadline);
          if (cancel_give_up) deadline = std::min(deadline, *cancel_give_up);
          co_await wait_input(deadline);
          now = SipClock::now();
          if (cancel_give_up && now >= *cancel_give_up) {
            finish_attempt();
            co_return forced;
          }

          auto fx = inv.tx->on_timer(now);
          if (fx.send_request) co_await send_request(inv);
          if (fx.notify == ClientTransaction::Notify::timeout) {
            // Timer B: as a 408 (§8.1.3.1); RFC 3263 §4.3 moves on to the next target.
            finish_attempt();
            if (forced) co_return forced;
            last_failure = CallEnd{408, "Request Timeout"};
            next_target = true;
            break;
          }
          if (cancel) {
            auto cfx = cancel->tx->on_timer(now);
            if (cfx.send_request) co_await send_request(*cancel);
          }
          bool done = false;
          while (!inbox_.empty() && !done) {
            auto in = std::move(inbox_.front());
            inbox_.pop_front();
            if (!in->msg.is_response()) continue;  // no dialog yet: the UA routes nothing else here
            auto key = tx_key(in->msg);
            if (!key) continue;
            const unsigned status = in->msg.status_code;
            if (cancel && key->branch == cancel->branch && key->method == Method::cancel) {
              cancel->tx->on_response(status, now);
              continue;
            }
            if (key->branch != inv.branch || key->method != Method::invite) continue;
            auto rfx = inv.tx->on_response(status, now);
            if (rfx.send_ack) {
              if (inv.ack.empty()) {
                // §17.1.1.3: same Request-URI, Call-ID, From, CSeq number and top Via; To from
                // the response (with its tag); method ACK.
                const Header* to = in->msg.find(HeaderId::to);
                MessageWriter w;
                w.request(Method::ack, request_uri_)
                    .header(HeaderId::via, via(tname, inv.branch))
                    .header(HeaderId::max_forwards, "70")
                    .header(HeaderId::from, from_header())
                    .header(HeaderId::to, to ? to->value : std::string_view("<" + to_uri_ + ">"))
                    .header(HeaderId::call_id, call_id_)
                    .header(HeaderId::cseq, fmt::format("{} ACK", cseq_))
                    .finish(inv.ack);
              }
              co_await ua_.send(inv.target, inv.ack);
            }
            if (rfx.notify == ClientTransaction::Notify::provisional) {
              provisional = true;
              // 180 and 183 both mean the far end is alerting; early media stays off (SPEC §7).
              if ((status == 180 || status == 183) && state_ != CallState::ringing) set_state(CallState::ringing);
              continue;
            }
            if (rfx.notify != ClientTransaction::Notify::final_response) continue;
            finish_attempt();
            if (status >= 200 && status < 300) {
              ua_.bind_branch(inv.branch, weak_from_this());  // 2xx retransmissions → re-ACK
              invite_branch_ = inv.branch;
              invite_target_ = inv.target;
              dialog_ = Dialog::from_response(in->msg, call_id_, local_tag_, from_uri_, to_uri_, cseq_, from_display_);
              if (!dialog_) {
                log::warn("sip", "call {}: 2xx without a usable To tag, Contact or Record-Route", params_.id);
                co_return CallEnd{502, "Bad Gateway"};
              }
              ua_.bind_dialog(call_id_, local_tag_, weak_from_this());
              // §13.2.2.4: the 2xx ACK is end to end: it follows the route set (§12.2.1.1), gets
              // a new branch, and carries the INVITE's credentials.
              ack_target_ = inv.target;
              if (auto hop = co_await ua_.resolve(dialog_->addressing().next_hop); hop && !hop->empty())
                ack_target_ = hop->front();
              const std::string ack = build_in_dialog(Method::ack, ua_.new_branch(), to_string(ack_target_->transport), {});
              co_await ua_.send(*ack_target_, ack);
              inv.ack = ack;
              inv_ack_ = ack;
              // RFC 4028 §7.2: the 2xx's Session-Expires sets interval and refresher.
              if (const Header* se = in->msg.find(HeaderId::session_expires)) {
                if (auto v = parse_session_expires(se->value); v && v->seconds > 0) {
                  session_interval_ = v->seconds;
                  we_refresh_ = v->refresher == SessionExpires::Refresher::uac;
                }
              }
              if (auto ec = media_->apply_answer(in->msg.body)) {
                if (!forced && media_->reoffer_after(ec)) {
                  // Answered, but not in a keying we can run: the other one goes out by
                  // re-INVITE in this dialog once it is up (dialog_phase), not as a new INVITE
                  // that would ring the phone again. ACTIVE waits for its answer.
                  log::info("sip", "call {}: answer not usable ({}); re-offering the other keying in the dialog",
                            params_.id, ec.message());
                  keying_reoffer_ = true;
                  co_return std::nullopt;
                }
                log::warn("sip", "call {}: answer refused: {}", params_.id, ec.message());
                co_await send_bye();
                co_return CallEnd{488, "Not Acceptable Here"};
              }
              if (forced) {
                // Hangup crossed the 2xx: the call was answered, so it ends by BYE (§15).
                co_await send_bye();
                co_return CallEnd{700, "Normal Clearing"};
              }
              co_return std::nullopt;
            }
            if (forced) co_return forced;
            if ((status == 488 || status == 606) && media_->next_offer()) {
              // RFC 3264 §6 / RFC 3261 §21.4.26: the offer was not acceptable; a far end that
              // speaks only the other SRTP keying gets a second INVITE with it (same Call-ID).
              log::info("sip", "call {}: {} to our offer, retrying with the alternative offer", params_.id, status);
              offer_sdp_ = media_->offer();
              done = true;
              break;
            }
            if (status == 401 || status == 407) {
              if (digest_.on_challenge(in->msg) == DigestSession::Next::retry) {
                done = true;  // re-send the INVITE with credentials (same Call-ID and tag)
                break;
              }
              log::info("sip", "call {}: digest gave up: {}", params_.id, digest_.last_error().message());
              co_return end_from(in->msg);
            }
            if (status >= 300 && status < 400) {
              auto c = first_contact_uri(in->msg);
              if (redirects < params_.max_redirects && !c.empty() && parse_uri(c)) {
                ++redirects;
                target_uri = without_uri_headers(c);
                request_uri_ = target_uri;
                redirected = true;
                done = true;
                break;
              }
              co_return end_from(in->msg);
            }
            if (status == 503) {  // RFC 3263 §4.3: try the next target
              last_failure = end_from(in->msg);
              next_target = true;
              done = true;
              break;
            }
            co_return end_from(in->msg);
          }
          if (done) break;
        }
      }
    }
    if (!redirected) co_return forced ? *forced : last_failure;
  }
}

asio::awaitable<Call::Pending> Call::new_in_dialog(Method m) {
  // §12.2.1.1: a new request in the dialog goes to the route set's first hop (or the remote
  // target), with a new branch.
  Pending p;
  p.method = m;
  p.branch = ua_.new_branch();
  p.target = *invite_target_;
  auto hop = co_await ua_.resolve(dialog_->addressing().next_hop);
  if (hop && !hop->empty()) p.target = hop->front();
  co_return p;
}

asio::awaitable<void> Call::send_bye() {
  if (!dialog_) co_return;
  Pending bye = co_await new_in_dialog(Method::bye);
  bye.wire = build_in_dialog(Method::bye, bye.branch, to_string(bye.target.transport), {});
  bye.tx.emplace(ClientTransaction::Kind::non_invite, reliable(bye.target.transport), ua_.timers(), SipClock::now());
  ua_.bind_branch(bye.branch, weak_from_this());
  if (co_await send_request(bye)) {
    ua_.unbind_branch(bye.branch);
    co_return;
  }
  // Wait for the final response or Timer F; nothing else matters now (§15.1.1).
  for (;;) {
    auto d = bye.tx->next_deadline();
    if (!d || bye.tx->state() == ClientTransaction::State::completed ||
        bye.tx->state() == ClientTransaction::State::terminated)
      break;
    co_await wait_input(*d);
    auto fx = bye.tx->on_timer(SipClock::now());
    if (fx.send_request) co_await send_request(bye);
    if (fx.notify == ClientTransaction::Notify::timeout) break;
    while (!inbox_.empty()) {
      auto in = std::move(inbox_.front());
      inbox_.pop_front();
      if (in->msg.is_response()) {
        auto key = tx_key(in->msg);
        if (key && key->branch == bye.branch) bye.tx->on_response(in->msg.status_code, SipClock::now());
      } else if (in->msg.method == Method::bye) {
        co_await answer_request(*in, 200, "OK");  // BYEs crossed
      }
    }
  }
  ua_.unbind_branch(bye.branch);
}

asio::awaitable<std::string> Call::answer_request(const Inbound& in, unsigned code, std::string_view reason,
                                                  std::vector<std::pair<std::string, std::string>> extra,
                                                  std::string_view sdp) {
  // §8.2.6.2: copy Via, From, To (adding our tag), Call-ID and CSeq from the request.
  MessageWriter w;
  w.response(code, reason);
  for (const Header& h : in.msg.find_all(HeaderId::via)) w.header(HeaderId::via, h.value);
  if (const Header* f = in.msg.find(HeaderId::from)) w.header(HeaderId::from, f->value);
  if (const Header* t = in.msg.find(HeaderId::to)) {
    auto na = parse_name_addr(t->value);
    if (na && na->tag.empty()) w.header(HeaderId::to, std::string(t->value) + ";tag=" + local_tag_);
    else w.header(HeaderId::to, t->value);
  }
  if (const Header* c = in.msg.find(HeaderId::call_id)) w.header(HeaderId::call_id, c->value);
  if (const Header* c = in.msg.find(HeaderId::cseq)) w.header(HeaderId::cseq, c->value);
  w.header(HeaderId::server, ua_.user_agent());
  for (const auto& [k, v] : extra) w.header(k, v);
  if (!sdp.empty()) w.body("application/sdp", sdp);
  std::string out;
  if (w.finish(out)) co_return std::string();
  co_await ua_.reply(in.from, out);
  co_return out;
}

asio::awaitable<bool> Call::handle_in_dialog_request(std::shared_ptr<Inbound> in, CallEnd& end) {
  const Message& m = in->msg;
  auto cs = m.find(HeaderId::cseq) ? parse_cseq(m.find(HeaderId::cseq)->value) : std::nullopt;
  if (!cs) co_return false;
  if (m.method == Method::ack) {
    // The ACK to our 2xx answer of a re-INVITE: stop retransmitting it (§13.3.1.4).
    if (!pending_2xx_ || pending_2xx_->cseq != cs->number) co_return false;
    const bool answer_due = pending_2xx_->offer_in_2xx;
    pending_2xx_.reset();
    if (!answer_due) co_return false;
    // §14.2, RFC 3264 §4: the re-INVITE had no offer, ours went in the 2xx, so this ACK carries
    // the answer, and the media runs on it from now on (a moved address, SDES keys re-keyed).
    if (m.body.empty()) {
      // §13.2.2.4 requires the answer here; without it the session stays as it was.
      log::warn("sip", "call {}: ACK without the answer to our offer; media unchanged", params_.id);
      co_return false;
    }
    if (auto ec = media_->apply_answer(m.body)) {
      // What §13.2.2.4 has a UAC do with an unacceptable offer in a 2xx: end the session, since
      // the far end now believes in a session we cannot run.
      log::warn("sip", "call {}: answer in the ACK refused: {}", params_.id, ec.message());
      co_await send_bye();
      end = CallEnd{488, "Not Acceptable Here"};
      co_return true;
    }
    co_return false;
  }
  // A retransmitted re-INVITE whose 2xx is still unacknowledged: send the same 2xx again rather
  // than treat it as a new offer (§17.2.1).
  if (m.method == Method::invite && pending_2xx_ && pending_2xx_->cseq == cs->number) {
    co_await ua_.reply(in->from, pending_2xx_->wire);
    co_return false;
  }
  // §12.2.2: a lower CSeq than the last is out of order → 500.
  if (m.method != Method::cancel && !dialog_->accept_remote_cseq(cs->number)) {
    co_await answer_request(*in, 500, "Server Internal Error");
    co_return false;
  }
  switch (m.method) {
    case Method::bye:
      co_await answer_request(*in, 200, "OK");
      end = CallEnd{700, "Normal Clearing"};
      co_return true;
    case Method::invite:
    case Method::update: {
      // A target refresh and, with SDP, a new offer (RFC 3264 §8): hold/resume/codec change.
      dialog_->refresh_target(m);
      std::vector<std::pair<std::string, std::string>> extra{{"Contact", contact(to_string(in->from.transport))},
                                                             {"Allow", std::string(kAllow)},
                                                             {"Supported", "timer"}};
      if (const Header* se = m.find(HeaderId::session_expires)) {
        // RFC 4028 §9: a refresh from the far end; echo the interval, they stay the refresher
        // unless they named us.
        if (auto v = parse_session_expires(se->value); v && v->seconds > 0) {
          session_interval_ = v->seconds;
          we_refresh_ = v->refresher == SessionExpires::Refresher::uas;
          extra.emplace_back("Session-Expires",
                             fmt::format("{};refresher={}", v->seconds, we_refresh_ ? "uas" : "uac"));
          extra.emplace_back("Require", "timer");
        }
      }
      refresh_timer_reset_ = true;
      if (m.body.empty() && m.method == Method::update) {
        // RFC 3311 §5.2: an UPDATE without an offer (a target or session-timer refresh) gets a
        // 2xx without SDP; an offer has nowhere to go from there.
        co_await answer_request(*in, 200, "OK", extra);
        co_return false;
      }
      if (m.body.empty()) {
        // Offer-less re-INVITE: our offer goes in the 2xx, their answer in the ACK (§14.2).
        auto wire = co_await answer_request(*in, 200, "OK", extra, media_->current_offer());
        arm_2xx(std::move(wire), in->from, cs->number, true);
        co_return false;
      }
      bool hold = false;
      auto answer = media_->answer_offer(m.body, hold);
      if (!answer) {
        co_await answer_request(*in, 488, "Not Acceptable Here");
        co_return false;
      }
      auto wire = co_await answer_request(*in, 200, "OK", extra, *answer);
      if (m.method == Method::invite) arm_2xx(std::move(wire), in->from, cs->number, false);
      set_state(hold ? CallState::on_hold : CallState::active);
      co_return false;
    }
    case Method::options: {
      // Named, not a braced list inside co_await: GCC 12 miscompiles the latter.
      std::vector<std::pair<std::string, std::string>> caps{
          {"Allow", std::string(kAllow)}, {"Accept", "application/sdp"}, {"Supported", "timer"}};
      co_await answer_request(*in, 200, "OK", std::move(caps));
      co_return false;
    }
    case Method::info: {
      // Legacy INFO (RFC 6086 §9: no Info-Package) carrying a digit, as many PBXes send DTMF:
      // reported like an RFC 4733 digit (method "info"). Anything else is acknowledged and
      // ignored, as before; a garbled DTMF body too (the dialog is fine, the digit is lost).
      std::string_view type;
      if (const Header* ct = m.find(HeaderId::content_type)) type = ct->value;
      if (!m.body.empty() && !type.empty() && !media_->take_info_dtmf(type, m.body))
        log::debug("sip", "call {}: INFO ({}) carried no DTMF digit", params_.id, type);
      co_await answer_request(*in, 200, "OK");
      co_return false;
    }
    case Method::cancel:
      // Nothing to cancel: we answer in-dialog requests at once (§9.2: 200 to the CANCEL).
      co_await answer_request(*in, 200, "OK");
      co_return false;
    default: {
      std::vector<std::pair<std::string, std::string>> allow{{"Allow", std::string(kAllow)}};
      co_await answer_request(*in, 405, "Method Not Allowed", std::move(allow));
      co_return false;
    }
  }
}

void Call::arm_2xx(std::string wire, Source from, std::uint32_t cseq, bool offer_in_2xx) {
  if (wire.empty()) return;
  const auto now = SipClock::now();
  // §13.3.1.4: over UDP the UAS core retransmits its 2xx at T1, doubling to T2, until the ACK;
  // over TCP/TLS once is enough, but the ACK is still awaited (and a retransmitted re-INVITE
  // answered from this copy).
  const bool unreliable = from.transport == Transport::udp;
  pending_2xx_ = Pending2xx{std::move(wire), std::move(from), cseq, offer_in_2xx, ua_.timers().t1,
                            unreliable ? now + ua_.timers().t1 : now + ua_.timers().timer_b(),
                            now + ua_.timers().timer_b()};
}

asio::awaitable<Call::Pending> Call::start_reinvite(SipTime now) {
  // Our re-INVITE with a fresh offer (RFC 3264 §8): a session refresh (RFC 4028 §7.4) or the
  // keying re-offer; either way it also refreshes the session timer when one runs.
  Pending r = co_await new_in_dialog(Method::invite);
  std::vector<std::pair<std::string, std::string>> extra{{"Supported", "timer"}};
  if (session_interval_ > 0) {
    extra.emplace_back("Session-Expires", fmt::format("{};refresher=uac", session_interval_));
    extra.emplace_back("Min-SE", std::to_string(params_.min_se));
  }
  r.wire = build_in_dialog(Method::invite, r.branch, to_string(r.target.transport), media_->current_offer(), extra);
  r.tx.emplace(ClientTransaction::Kind::invite, reliable(r.target.transport), ua_.timers(), now);
  ua_.bind_branch(r.branch, weak_from_this());
  if (co_await send_request(r)) r.tx->on_transport_error();
  co_return r;
}

asio::awaitable<CallEnd> Call::dialog_phase() {
  if (!keying_reoffer_) set_state(CallState::active);
  const auto start = SipClock::now();
  const auto max_deadline = start + params_.max_duration;
  auto session_deadline = [&](SipTime from) -> std::optional<SipTime> {
    if (session_interval_ == 0) return std::nullopt;
    auto interval = std::chrono::seconds(session_interval_);
    // RFC 4028 §10: the refresher refreshes at half the interval; the other side ends the
    // session if nothing came by interval − min(32 s, interval/3).
    if (we_refresh_) return from + interval / 2;
    return from + interval - std::min<std::chrono::seconds>(32s, interval / 3);
  };
  auto session_at = session_deadline(start);
  std::optional<Pending> refresh;
  const auto inactivity_step = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::min<std::chrono::seconds>(params_.max_inactive, 5s));
  auto inactivity_check = start + inactivity_step;

  for (;;) {
    auto now = SipClock::now();
    if (hangup_requested_) {
      co_await send_bye();
      co_return CallEnd{700, "Normal Clearing"};
    }
    if (now >= max_deadline) {
      co_await send_bye();
      co_return CallEnd{705, "Max Duration"};
    }
    if (auto why = media_->failure()) {
      // Media can no longer flow (the media woke us): no leg should live on silently until the
      // inactivity timer. 704 when nothing ever arrived (a DTLS handshake that failed), else 703.
      log::warn("sip", "call {}: media failed: {}", params_.id, *why);
      ua_.count_media_failure();
      const bool never_received = !media_->since_last_packet();
      co_await send_bye();
      co_return never_received ? CallEnd{704, "Media Timeout"} : CallEnd{703, "Unexpected Clearing"};
    }
    if (now >= inactivity_check) {
      inactivity_check = now + inactivity_step;
      // SPEC §7: 5 minutes without received media ends the call; not while the far end holds
      // the call (it may legitimately stop sending), see README "Timers".
      if (state_ != CallState::on_hold) {
        auto since = media_->since_last_packet();
        auto elapsed = now - start;
        if (!since && elapsed >= params_.max_inactive) {
          co_await send_bye();
          co_return CallEnd{704, "Media Timeout"};
        }
        if (since && *since >= params_.max_inactive) {
          co_await send_bye();
          co_return CallEnd{706, "Max Inactive"};
        }
      }
    }
    if (keying_reoffer_ && !refresh) {
      // The re-offer with the other keying (invite_phase took the 2xx's answer as unusable). It
      // rides the refresh transaction: one INVITE transaction at a time in a dialog (§14.1).
      refresh = co_await start_reinvite(now);
      session_at = session_deadline(now);
    }
    if (session_at && now >= *session_at && !keying_reoffer_) {
      if (!we_refresh_) {
        // The refresher went silent: the session is over (RFC 4028 §10).
        co_await send_bye();
        co_return CallEnd{703, "Unexpected Clearing"};
      }
      if (!refresh) refresh = co_await start_reinvite(now);
      session_at = now + std::chrono::seconds(session_interval_);  // re-armed on the 2xx
    }

    SipTime deadline = std::min(max_deadline, inactivity_check);
    // While the keying re-offer is out the session timer waits for it (above), so its time must
    // not wake us: a deadline already past would spin this loop until the re-INVITE ends.
    if (session_at && !keying_reoffer_) deadline = std::min(deadline, *session_at);
    if (pending_2xx_) deadline = std::min({deadline, pending_2xx_->next, pending_2xx_->give_up});
    if (refresh && refresh->tx->next_deadline()) deadline = std::min(deadline, *refresh->tx->next_deadline());
    co_await wait_input(deadline);
    now = SipClock::now();

    if (pending_2xx_ && now >= pending_2xx_->give_up) {
      // §13.3.1.4: no ACK within 64*T1 — the dialog is confirmed dead; end it with BYE (at
      // 64*T1, not at the retransmission after it).
      pending_2xx_.reset();
      co_await send_bye();
      co_return CallEnd{408, "Request Timeout"};
    }
    if (pending_2xx_ && now >= pending_2xx_->next) {
      co_await ua_.reply(pending_2xx_->from, pending_2xx_->wire);
      pending_2xx_->interval = std::min(pending_2xx_->interval * 2, ua_.timers().t2);
      pending_2xx_->next = now + pending_2xx_->interval;
    }

    if (refresh) {
      auto fx = refresh->tx->on_timer(now);
      if (fx.send_request) co_await send_request(*refresh);
      if (fx.notify == ClientTransaction::Notify::timeout ||
          fx.notify == ClientTransaction::Notify::transport_error) {
        ua_.unbind_branch(refresh->branch);
        co_await send_bye();
        co_return CallEnd{408, "Request Timeout"};
      }
    }
    while (!inbox_.empty()) {
      auto in = std::move(inbox_.front());
      inbox_.pop_front();
      if (in->msg.is_request()) {
        CallEnd end;
        if (co_await handle_in_dialog_request(in, end)) co_return end;
        if (refresh_timer_reset_) {
          refresh_timer_reset_ = false;
          session_at = session_deadline(SipClock::now());
        }
        continue;
      }
      auto key = tx_key(in->msg);
      if (!key) continue;
      const unsigned status = in->msg.status_code;
      if (key->branch == invite_branch_ && key->method == Method::invite && status >= 200 && status < 300) {
        co_await ua_.send(ack_target_ ? *ack_target_ : *invite_target_, inv_ack_);  // our ACK was lost
        continue;
      }
      if (!refresh || key->branch != refresh->branch) continue;
      auto fx = refresh->tx->on_response(status, now);
      if (fx.send_ack) {
        // Non-2xx to the refresh: hop-by-hop ACK as in §17.1.1.3.
        MessageWriter w;
        const Header* to = in->msg.find(HeaderId::to);
        std::string ack;
        auto a = dialog_->addressing();
        w.request(Method::ack, a.request_uri)
            .header(HeaderId::via, via(to_string(refresh->target.transport), refresh->branch))
            .header(HeaderId::max_forwards, "70");
        for (const auto& r : a.routes) w.header(HeaderId::route, r);
        w.header(HeaderId::from, dialog_->from_header())
            .header(HeaderId::to, to ? std::string(to->value) : dialog_->to_header())
            .header(HeaderId::call_id, call_id_)
            .header(HeaderId::cseq, fmt::format("{} ACK", key->cseq))
            .finish(ack);
        co_await ua_.send(refresh->target, ack);
      }
      if (fx.notify == ClientTransaction::Notify::retransmitted_2xx) {
        co_await ua_.send(refresh->target, refresh->ack);
        continue;
      }
      if (fx.notify != ClientTransaction::Notify::final_response) continue;
      if (status >= 200 && status < 300) {
        // ACK the refresh end to end with its own CSeq number (§13.2.2.4).
        auto saved = cseq_;
        cseq_ = key->cseq;
        refresh->ack = build_in_dialog(Method::ack, ua_.new_branch(), to_string(refresh->target.transport), {});
        cseq_ = saved;
        co_await ua_.send(refresh->target, refresh->ack);
        // RFC 3264 §8: the refresh carried a new offer (current_offer), so this 2xx holds the
        // answer the media runs on from now on: the far end may have re-keyed SDES (RFC 4568
        // §7.1.4) or moved its media. A 2xx without SDP leaves the session as it was.
        if (!in->msg.body.empty()) {
          if (auto ec = media_->apply_answer(in->msg.body)) {
            log::warn("sip", "call {}: answer to our {} refused: {}", params_.id,
                      keying_reoffer_ ? "keying re-offer" : "refresh", ec.message());
            ua_.unbind_branch(refresh->branch);
            co_await send_bye();
            co_return CallEnd{488, "Not Acceptable Here"};
          }
        } else if (keying_reoffer_) {
          // §13.2.2.4 requires the answer in this 2xx; without one there are still no keys.
          log::warn("sip", "call {}: 2xx to the keying re-offer without SDP", params_.id);
          ua_.unbind_branch(refresh->branch);
          co_await send_bye();
          co_return CallEnd{488, "Not Acceptable Here"};
        }
        if (keying_reoffer_) {
          log::info("sip", "call {}: the re-offered keying was accepted", params_.id);
          keying_reoffer_ = false;
          set_state(CallState::active);
        }
        if (const Header* se = in->msg.find(HeaderId::session_expires))
          if (auto v = parse_session_expires(se->value); v && v->seconds > 0) {
            session_interval_ = v->seconds;
            we_refresh_ = v->refresher != SessionExpires::Refresher::uas;
          }
        session_at = session_deadline(now);
        ua_.unbind_branch(refresh->branch);
        refresh.reset();
      } else if (keying_reoffer_) {
        // Refused too (488 and the like): there is no keying left to try, and clear media is
        // never carried on a secure call.
        log::warn("sip", "call {}: keying re-offer refused with {}", params_.id, status);
        ua_.unbind_branch(refresh->branch);
        co_await send_bye();
        co_return CallEnd{488, "Not Acceptable Here"};
      } else if (status == 422) {
        // RFC 4028 §6: interval too small; retry with their Min-SE.
        if (const Header* mse = in->msg.find(HeaderId::min_se))
          if (auto v = parse_min_se(mse->value)) session_interval_ = std::max(session_interval_, *v);
        ua_.unbind_branch(refresh->branch);
        refresh.reset();
        session_at = now;
      } else if (status == 481 || status == 408) {
        // §12.2.1.2: the dialog is gone on the far end.
        ua_.unbind_branch(refresh->branch);
        co_return CallEnd{status == 481 ? 703 : 408, status == 481 ? "Unexpected Clearing" : "Request Timeout"};
      } else {
        // Another failure of a refresh leaves the session as it was (RFC 3261 §14.1).
        ua_.unbind_branch(refresh->branch);
        refresh.reset();
        session_at = session_deadline(now);
      }
    }
  }
}

}  // namespace sb::sip
