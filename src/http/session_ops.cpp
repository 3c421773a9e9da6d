#include "http/session_ops.hpp"

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/log.hpp"
#include "core/client_token.hpp"
#include "http/star_six.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

namespace sb::http {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {
OpResult fail(unsigned status, std::string message, std::string description = {}) {
  return OpResult{status, std::move(message), std::move(description)};
}
std::int64_t now_ms_steady() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace


OpResult validate_signal(std::string_view type, std::string_view data) {
  if (type.size() > kSignalTypeMax || data.size() > kSignalDataMax)
    return {413, "Signal too large: type ≤ 128 characters and data ≤ 8192"};
  for (char c : type) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~';
    if (!ok) return {400, "Signal type may hold only A-Z a-z 0-9 - . _ ~"};
  }
  return {};
}

OpResult disconnect_connection(ShardServices& s, core::Session& session, std::string_view connection_id,
                               core::DestroyReason reason) {
  if (auto it = s.call_of_connection.find(connection_id); it != s.call_of_connection.end()) {
    // A SIP leg: CANCEL before the answer, BYE after (SPEC §7a). Its end destroys the
    // connection and stream and sends callDestroyed.
    if (auto* call = s.sip ? s.sip->find(it->second) : nullptr) {
      // The connection goes when the call has ended (after the CANCEL or BYE); session
      // monitoring must then say why it went (forceDisconnected), not that the call ended.
      s.sip_hangup_reason[std::string(connection_id)] = reason;
      call->hangup();
      if (reason == core::DestroyReason::force_disconnected) ++s.counters.force_disconnects;
      return {};
    }
  }
  if (!session.remove_connection(connection_id, reason)) return {404, "Connection not found"};
  if (reason == core::DestroyReason::force_disconnected) ++s.counters.force_disconnects;
  return {};
}

OpResult send_signal(ShardServices& s, core::Session& session, std::string_view from, std::string_view to,
                     std::string_view type, std::string_view data) {
  if (auto bad = validate_signal(type, data); !bad.ok()) return bad;
  if (!to.empty() && !session.find_connection(to)) return {404, "Connection not connected"};
  session.signal(to, type, data, from);
  ++s.counters.signals;
  return {};
}

OpResult play_dtmf(ShardServices& s, core::Session& session, std::string_view connection_id, std::string_view digits) {
  std::vector<sip::Call*> legs;
  for (const auto& [cid, call_id] : s.call_of_connection) {
    if (!connection_id.empty() && cid != connection_id) continue;
    if (!session.find_connection(cid)) continue;  // a SIP leg of another session
    auto* call = s.sip ? s.sip->find(call_id) : nullptr;
    const auto st = call ? call->state() : std::nullopt;
    if (call && !call->ended() && (st == sip::CallState::active || st == sip::CallState::on_hold))
      legs.push_back(call);
  }
  if (legs.empty())
    return connection_id.empty() ? OpResult{404, "No connected SIP call in this session"}
                                 : OpResult{404, "Connection not connected", "No answered SIP call on that connection"};
  // All or nothing: a request is never played on some legs and refused on others.
  for (auto* call : legs)
    if (call->dtmf_room() < digits.size())
      return {413, "DTMF queue full", "Too many digits are waiting to be played on a SIP call; retry later"};
  for (auto* call : legs) (void)call->play_dtmf(digits);  // room checked above, same thread
  return {};
}

OpResult force_unpublish(ShardServices& s, core::Session& session, std::string_view stream_id) {
  if (!session.remove_stream(stream_id, core::DestroyReason::force_unpublished)) return {404, "Stream not found"};
  return {};
}

OpResult force_mute(ShardServices& s, core::Session& session, std::string_view stream_id, bool active,
                    const std::vector<std::string>& excluded) {
  if (!session.force_mute(stream_id, active, excluded)) return {404, "Stream not found"};
  return {};
}

OpResult create_session(ShardServices& svc, std::string id, std::string key, core::MediaMode mode,
                        core::ArchiveMode archive, std::string location, std::int64_t now_ms) {
  ShardServices* s = &svc;
  if (s->draining) return fail(503, "Server is shutting down");
  auto* session = s->sessions.create(id, key, mode, archive, location, now_ms);
  if (!session && s->sessions.refusal() == core::SessionTable::Refusal::project_full)
    return fail(429, "Session limit reached for this project",
                "Every session this project may hold on this server is in use (limits.sessionsPerProject)");
  if (!session) return fail(503, "Session limit reached", "Every session slot on this server is in use");
  // Session monitoring (SPEC §4.7): connection/stream events go to the project's callbacks of
  // those groups, as OpenTok's session-monitoring webhooks shape them.
  session->subscribe([s, key](const core::Session& ses, const core::SessionEvent& ev) {
    using T = core::SessionEvent::Type;
    if (ev.type != T::connection_created && ev.type != T::connection_destroyed && ev.type != T::stream_created &&
        ev.type != T::stream_destroyed)
      return;
    const auto* p = s->projects.find(key);
    if (!p || p->callbacks.empty()) return;
    const bool is_conn = ev.type == T::connection_created || ev.type == T::connection_destroyed;
    const bool created = ev.type == T::connection_created || ev.type == T::stream_created;
    auto conn_json = [](const core::Connection* c) {
      if (!c) return json::value(nullptr);
      return json::value(json::object{{"id", c->id}, {"createdAt", c->created_ms}, {"data", c->data}});
    };
    json::object body{{"sessionId", ses.id()},
                      {"projectId", key},
                      {"event", fmt::format("{}{}", is_conn ? "connection" : "stream", created ? "Created" : "Destroyed")},
                      {"timestamp", unix_ms()}};
    if (is_conn) {
      body["connection"] = conn_json(ev.connection);
    } else if (ev.stream) {
      body["stream"] = json::object{{"id", ev.stream->id},
                                    {"connection", conn_json(ev.connection)},
                                    {"createdAt", ev.stream->created_ms},
                                    {"name", ev.stream->name},
                                    {"videoType", ev.stream->video_type}};
    }
    if (!created) body["reason"] = std::string(core::to_string(ev.reason));
    std::string text;
    for (const auto& cb : p->callbacks) {
      if (cb.group != (is_conn ? "connection" : "stream")) continue;
      if (cb.event != "all" && cb.event != (created ? "created" : "destroyed")) continue;
      if (text.empty()) text = json::serialize(body);
      s->webhooks.enqueue(WebhookEvent{cb.url, p->api_secret, text, ses.id()});
    }
  });
  ++s->counters.sessions_created;
  return {};
}

namespace {

// A SIP party's force mute (observeForceMute, SPEC §2.1): its audio leaves the mix, its stream's
// audio channel goes inactive (hasAudio false for every client) and the call's callbacks get
// `muteForced`; un-muting (active:false) brings both back. Applied on the next turn of the loop:
// the session is still emitting the event that asked for it.
void apply_force_mute(ShardServices& s, const std::string& sid, const std::string& call_id,
                      const std::string& stream_id, bool muted, const std::function<void(std::string_view, json::object)>& emit) {
  auto* session = s.sessions.find(sid);
  const auto* stream = session ? session->find_stream(stream_id) : nullptr;
  if (!stream) return;  // the call ended meanwhile
  if (s.mute_media) s.mute_media(sid, call_id, muted);
  const auto* ch = stream->channel("audio1");
  if (ch && ch->active == muted) {
    core::StreamChannel patch = *ch;
    patch.active = !muted;
    session->update_channel(stream_id, "audio1", patch, core::ch_active);
  }
  if (muted) emit("muteForced", {});
}

std::uint64_t observe_force_mute(ShardServices& svc, core::Session& session, const std::string& call_id,
                                 const std::string& stream_id, std::function<void(std::string_view, json::object)> emit) {
  ShardServices* s = &svc;
  return session.subscribe([s, call_id, stream_id, emit](const core::Session& ses, const core::SessionEvent& ev) {
    if (ev.type != core::SessionEvent::Type::mute) return;
    bool applies = false;
    if (ev.stream) {
      applies = ev.stream->id == stream_id;  // forceMuteStream of this party's stream
    } else {
      // Session-wide: muting spares the excluded streams; un-muting (active:false) lifts it for all.
      const auto* ex = ev.mute_excluded;
      applies = !ev.mute_active || !ex || std::find(ex->begin(), ex->end(), stream_id) == ex->end();
    }
    if (!applies) return;
    asio::post(s->shard.executor(), [s, sid = std::string(ses.id()), call_id, stream_id, muted = ev.mute_active, emit] {
      apply_force_mute(*s, sid, call_id, stream_id, muted, emit);
    });
  });
}

}  // namespace

OpResult dial(ShardServices& svc, const std::string& key, DialRequest d, std::int64_t now_s) {
  ShardServices* s = &svc;
  ++s->counters.dial_requests;
  if (s->draining) return fail(503, "Server is shutting down");
  auto* session = s->sessions.find(d.session_id);
  if (!session || session->api_key() != key) return fail(404, "Session not found");
  if (session->media_mode() != core::MediaMode::routed)
    return fail(409, "Conflict", "SIP calls need a routed session (p2p.preference=disabled)");
  const auto* project = s->projects.find(key);
  auto token = core::validate_client_token(d.token, key, project ? project->api_secret : std::string(), d.session_id, now_s);
  if (!token) return fail(400, "Invalid token", token.error().message());
  if (!s->sip || !s->make_media) return fail(503, "SIP is not configured on this server");
  // sip.streams names streams the party will hear: each must exist now. (Waiting for a stream
  // that may never come would accept a request we cannot honour; one that ends later simply
  // drops out of the party's mix.)
  for (const auto& id : d.sip.streams)
    if (!session->find_stream(id))
      return fail(400, "Invalid sip.streams", "No stream " + id + " in this session");
  // Whatever can still refuse the call is checked before anything becomes visible (a connection,
  // a stream, their session-monitoring events, call webhooks): a 503 leaves no trace of a call
  // whose ID the client never received.
  if (s->sip->at_call_limit()) return fail(503, "Call limit reached on this server");
  // Overload (limits.shardBusyPercent): a shard whose own work already fills its core would make
  // every call on it late by taking one more; refuse new calls instead, cheaply, until it has room.
  if (s->busy_limit > 0 && s->load && s->load->busy() >= s->busy_limit) {
    ++s->counters.dials_refused_busy;
    return fail(503, "Server busy", "This shard's CPU is saturated; retry later");
  }
  // Room in the webhook queue for this call's callCreated and callDestroyed, one each per SIP
  // callback URL, reserved now: however full the queue gets while the call runs, the event that
  // says how it ended is never refused (README "Webhooks"). No room: back-pressure, refuse the call.
  const std::size_t hook_urls = project ? project->sip_callback_urls().size() : 0;
  if (!s->webhooks.reserve(2 * hook_urls))
    return fail(503, "Webhook queue full", "Too many call-monitoring events are waiting for delivery");
  // Units of that room not used yet. Given back on every early return below; once the call is
  // placed, its callCreated and callDestroyed use it and callDestroyed gives back the rest.
  auto room = std::make_shared<std::size_t>(2 * hook_urls);
  struct GiveBack {
    WebhookSender& sender;
    std::shared_ptr<std::size_t> room;
    bool armed = true;
    ~GiveBack() {
      if (armed) sender.release(std::exchange(*room, 0));
    }
  } give_back{s->webhooks, room};
  const std::string call_id = uuid_v4();
  const std::string stream_id = uuid_v4();
  // observeForceMute in a session muted for everyone (forceMuteAll): the party starts muted, as a
  // browser publishing into it would.
  const bool start_muted = d.sip.observe_force_mute && session->muted_on_entry();
  auto media = s->make_media(MediaRequest{d.sip.secure, d.session_id, call_id, stream_id, d.sip.streams, start_muted});
  if (!media) return fail(503, "No media port available", "The RTP port range of this shard is exhausted");

  // SPEC §2.2: the SIP party is a connection with an audio-only stream at once, before the far
  // end answers; the call's end destroys both.
  const std::int64_t now_ms = unix_ms();
  const auto* conn = session->add_connection(core::ConnectionKind::sip, token->role, token->connection_data, now_ms);
  if (!conn) return fail(503, "Session is full");
  const std::string connection_id = conn->id;
  core::Stream st;
  st.id = stream_id;
  st.name = d.sip.from.empty() ? "SIP" : d.sip.from;
  st.video_type = "camera";  // undocumented for audio-only SIP streams (SPEC §8); SDKs expect a value
  st.has_audio = !start_muted;
  st.has_video = false;
  st.created_ms = now_ms;
  st.channels.push_back(core::StreamChannel{.id = "audio1", .type = "audio", .active = !start_muted});
  const auto* stream = session->add_stream(connection_id, st);
  if (!stream) {
    session->remove_connection(connection_id, core::DestroyReason::call_ended);
    return fail(503, "Session is full", "No room for the SIP party's stream");
  }

  // Call-monitoring webhooks (SPEC §6), ordered per call by the sender. callCreated and
  // callDestroyed go into the room reserved above (a URL registered during the call, beyond it,
  // is served as room allows); callUpdated takes its chances with the queue.
  auto send = [s, key, sid = d.session_id, call_id, connection_id, now_ms, room](std::string_view event,
                                                                                json::object extra) {
    const auto* p = s->projects.find(key);
    if (!p) return;
    auto urls = p->sip_callback_urls();
    if (urls.empty()) return;
    json::object body{{"sessionId", sid},
                      {"projectId", key},
                      {"event", event},
                      {"timestamp", unix_ms()},
                      {"call", json::object{{"id", call_id}, {"connectionId", connection_id}, {"createdAt", now_ms}}}};
    for (auto& [k, v] : extra) body[k] = v;
    auto text = json::serialize(body);
    const bool reserved = event == "callCreated" || event == "callDestroyed";
    for (auto& u : urls) {
      WebhookEvent ev{u, p->api_secret, text, call_id};
      if (reserved && *room > 0) {
        --*room;
        s->webhooks.enqueue_reserved(std::move(ev));
      } else {
        s->webhooks.enqueue(std::move(ev));
      }
    }
    if (event == "callDestroyed") s->webhooks.release(std::exchange(*room, 0));  // the call's last event
  };
  // The call's own events wait until it has been placed: UserAgent::dial may run the call up to
  // its first wait (DIALING, or even its end) before it returns, and callCreated goes first; a
  // call that could not be placed sends none at all.
  struct HeldEvents {
    bool placed = false;
    std::vector<std::pair<std::string, json::object>> events;
  };
  auto held = std::make_shared<HeldEvents>();
  auto emit = [held, send](std::string_view event, json::object extra) {
    if (!held->placed) {
      held->events.emplace_back(std::string(event), std::move(extra));
      return;
    }
    send(event, std::move(extra));
  };

  sip::CallParams cp;
  cp.id = call_id;
  cp.session_id = d.session_id;
  cp.uri = d.sip.uri;
  cp.from = d.sip.from;
  cp.headers = d.sip.headers;
  if (d.sip.auth) cp.auth = sip::Credentials{d.sip.auth->first, d.sip.auth->second};
  cp.secure = d.sip.secure;
  cp.max_duration = s->max_call_duration;
  cp.max_inactive = s->max_inactive;
  cp.ring_timeout = s->ring_timeout;
  sip::CallObserver obs;
  obs.on_state = [emit](sip::CallState st) { emit("callUpdated", {{"state", std::string(sip::to_string(st))}}); };
  auto mute_listener = std::make_shared<std::uint64_t>(0);  // the session listener of observeForceMute
  obs.on_end = [s, emit, sid = d.session_id, connection_id, mute_listener](const sip::CallEnd& e) {
    s->call_of_connection.erase(connection_id);
    if (*mute_listener)
      if (auto* ses = s->sessions.find(sid)) ses->unsubscribe(std::exchange(*mute_listener, 0));
    ++s->counters.calls_by_outcome[e.code == 700 ? 0 : (e.code < 700 ? 1 : 2)];
    auto reason = core::DestroyReason::call_ended;
    if (auto it = s->sip_hangup_reason.find(connection_id); it != s->sip_hangup_reason.end()) {
      reason = it->second;  // hung up by disconnect_connection: forceDisconnected
      s->sip_hangup_reason.erase(it);
    }
    if (auto* ses = s->sessions.find(sid)) ses->remove_connection(connection_id, reason);
    emit("callDestroyed", {{"reason_code", std::to_string(e.code)}, {"reason_message", e.reason}});
  };
  // DTMF from the far end: the extension event `dtmf` (docs/webhooks.md), in order with the
  // call's other events; `*6` by RFC 4733 toggles the party's force mute (SPEC §7).
  obs.on_dtmf = [s, emit, sid = d.session_id, call_id, stream_id, observe = d.sip.observe_force_mute,
                 star = StarSix{}](const sip::DtmfIn& x) mutable {
    emit("dtmf", {{"digit", std::string(1, x.digit)},
                  {"duration", x.duration_ms},
                  {"method", std::string(sip::to_string(x.method))}});
    if (!observe || x.method != sip::DtmfMethod::rfc4733 || !star.feed(x.digit, now_ms_steady())) return;
    const auto* ses = s->sessions.find(sid);
    const auto* st = ses ? ses->find_stream(stream_id) : nullptr;
    const auto* ch = st ? st->channel("audio1") : nullptr;
    if (!ch) return;
    const bool muted = ch->active;  // toggle: an active (un-muted) channel becomes muted
    // The channel's `active` is the force-mute state apply_force_mute keeps (mix and hasAudio
    // change together). on_dtmf runs on its own turn of the loop, so it applies at once.
    log::info("http", "call {}: *6 {} its force mute", call_id, muted ? "sets" : "lifts");
    apply_force_mute(*s, sid, call_id, stream_id, muted, emit);
  };
  auto call = s->sip->dial(std::move(cp), std::move(media), std::move(obs));
  if (!call) {
    // Not reached after at_call_limit() above (same thread, nothing in between); if it were, the
    // client gets its 503 and no call webhook names a call it never heard of.
    session->remove_connection(connection_id, core::DestroyReason::call_ended);
    return fail(503, "Call limit reached on this server");
  }
  give_back.armed = false;
  held->placed = true;
  send("callCreated", {});
  for (auto& [event, extra] : std::exchange(held->events, {})) send(event, std::move(extra));
  // A call that already ended inside dial() has removed its connection; nothing to hang up later.
  if (!call->ended()) {
    s->call_of_connection[connection_id] = call_id;
    if (d.sip.observe_force_mute) *mute_listener = observe_force_mute(*s, *session, call_id, stream_id, emit);
  }
  json::object body{{"id", call_id},         {"projectId", key},          {"sessionId", d.session_id},
                    {"connectionId", connection_id}, {"streamId", stream_id}, {"createdAt", now_ms},
                    {"updatedAt", now_ms}};
  return OpResult{200, {}, {}, json::serialize(body)};
}


}  // namespace sb::http
