#include "signaling/client.hpp"

#include "signaling/session_audio.hpp"

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/log.hpp"
#include "core/client_token.hpp"
#include "http/session_ops.hpp"
#include "signaling/session_audio.hpp"
#include "webrtc/router.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

namespace sb::signaling {
namespace json = boost::json;
using core::DestroyReason;
using core::SessionEvent;

// ---- hub ---------------------------------------------------------------------------------------

void ClientHub::add(const std::string& session_id, const std::string& connection_id, Client* c) {
  if (clients_[session_id].emplace(connection_id, c).second) ++count_;
}

void ClientHub::remove(const std::string& session_id, const std::string& connection_id) {
  auto it = clients_.find(session_id);
  if (it == clients_.end()) return;
  if (it->second.erase(connection_id)) --count_;
  if (it->second.empty()) clients_.erase(it);
}

Client* ClientHub::find(std::string_view session_id, std::string_view connection_id) const {
  auto it = clients_.find(session_id);
  if (it == clients_.end()) return nullptr;
  auto c = it->second.find(connection_id);
  return c == it->second.end() ? nullptr : c->second;
}

ClientHub::Relay* ClientHub::relay(std::string_view session_id, std::string_view subscriber_id) {
  auto it = relays_.find(session_id);
  if (it == relays_.end()) return nullptr;
  auto r = it->second.find(subscriber_id);
  return r == it->second.end() ? nullptr : &r->second;
}

ClientHub::Relay& ClientHub::add_relay(const std::string& session_id, Relay r) {
  auto id = r.subscriber_id;
  return relays_[session_id].insert_or_assign(std::move(id), std::move(r)).first->second;
}

void ClientHub::erase_relay(std::string_view session_id, std::string_view subscriber_id) {
  auto it = relays_.find(session_id);
  if (it == relays_.end()) return;
  if (auto r = it->second.find(subscriber_id); r != it->second.end()) it->second.erase(r);
  if (it->second.empty()) relays_.erase(it);
}

void ClientHub::close_all() {
  std::vector<Client*> all;
  for (auto& [sid, m] : clients_)
    for (auto& [cid, c] : m) all.push_back(c);
  for (auto* c : all) c->shut_down();
}

// ---- wire shapes (OPENTOK-CLIENT.md §4.3) ------------------------------------------------------

namespace {

json::object connection_json(const core::Connection& c) {
  json::array perms;
  // A SIP party does nothing on the signaling channel: no permissions (§6.1 "audio-only stream").
  if (c.kind == core::ConnectionKind::client)
    for (auto p : core::permissions_of(c.role)) perms.emplace_back(p);
  return json::object{{"id", c.id}, {"creationTime", c.created_ms}, {"data", c.data}, {"permissions", std::move(perms)}};
}

json::object channel_json(const core::StreamChannel& ch) {
  json::object o{{"id", ch.id}, {"type", ch.type}, {"active", ch.active}};
  if (ch.type == "video") {
    o["width"] = ch.width;
    o["height"] = ch.height;
    o["orientation"] = ch.orientation;
    o["frameRate"] = ch.frame_rate;
    if (!ch.source.empty()) o["source"] = ch.source;
    if (!ch.fit_mode.empty()) o["fitMode"] = ch.fit_mode;
  }
  return o;
}

json::object stream_json(const core::Stream& s, const core::Connection* c) {
  json::array chans;
  for (const auto& ch : s.channels) chans.emplace_back(channel_json(ch));
  json::object o{{"id", s.id},
                 {"name", s.name},
                 {"creationTime", s.created_ms},
                 {"channel", std::move(chans)},
                 {"connectionId", s.connection_id},
                 {"publisherAudioFallbackEnabled", s.publisher_audio_fallback},
                 {"subscriberAudioFallbackEnabled", s.subscriber_audio_fallback}};
  if (c) o["connection"] = connection_json(*c);
  else o["connection"] = json::object{{"id", s.connection_id}};
  return o;
}

// The fields of one channel entry from the client (numbers may come as strings: the client
// parses them with parseInt/parseFloat itself, §8).
std::optional<double> number_of(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  if (v->is_double()) return v->as_double();
  if (v->is_string()) {
    try {
      return std::stod(std::string(v->as_string()));
    } catch (...) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

unsigned read_channel(const json::object& o, core::StreamChannel& ch) {
  unsigned changed = 0;
  if (auto* v = o.if_contains("active")) {
    ch.active = v->is_bool() ? v->as_bool() : !(v->is_null() || (v->is_int64() && v->as_int64() == 0));
    changed |= core::ch_active;
  }
  auto num = [&](const char* key, auto& field, unsigned bit) {
    // Dimensions and rates of real cameras; anything else (NaN, 1e300) is ignored, never cast.
    if (auto n = number_of(o.if_contains(key)); n && std::isfinite(*n) && *n >= 0 && *n <= 100000) {
      field = static_cast<std::remove_reference_t<decltype(field)>>(*n);
      changed |= bit;
    }
  };
  num("width", ch.width, core::ch_width);
  num("height", ch.height, core::ch_height);
  num("orientation", ch.orientation, core::ch_orientation);
  num("frameRate", ch.frame_rate, core::ch_frame_rate);
  auto str = [&](const char* key, std::string& field, unsigned bit) {
    if (auto* v = o.if_contains(key); v && v->is_string() && v->as_string().size() <= 32) {
      field = std::string(v->as_string());
      changed |= bit;
    }
  };
  str("source", ch.source, core::ch_source);
  str("fitMode", ch.fit_mode, core::ch_fit_mode);
  return changed;
}

std::string str_of(const json::object& o, const char* key, std::size_t max = 1024) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string() || v->as_string().size() > max) return {};
  return std::string(v->as_string());
}

bool is_jsep(std::string_view method) {
  return method == "offer" || method == "answer" || method == "candidate" || method == "pranswer";
}

}  // namespace

// ---- client ------------------------------------------------------------------------------------

Client::Client(http::ShardServices& svc, ClientHub& hub, Sink& sink, std::string session_id, ClientOptions opts,
               std::int64_t (*now_ms)())
    : svc_(svc), hub_(hub), sink_(sink), session_id_(std::move(session_id)), opts_(std::move(opts)),
      now_ms_(now_ms ? now_ms : &unix_ms) {
  tokens_ = 2.0 * opts_.requests_per_second;
  last_refill_ms_ = now_ms_();
}

Client::~Client() { on_closed(false); }

core::Session* Client::session() const { return svc_.sessions.find(session_id_); }

bool Client::take_token() {
  const auto now = now_ms_();
  const double cap = 2.0 * opts_.requests_per_second;
  tokens_ = std::min(cap, tokens_ + (now - last_refill_ms_) * opts_.requests_per_second / 1000.0);
  last_refill_ms_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

// The SFU serves every session of the shard: its keys are session-scoped, so ids a client chose
// can never reach another session's media.
std::string Client::rkey(std::string_view id) const {
  std::string k = session_id_;
  k.append("/").append(id);
  return k;
}

void Client::on_malformed() {
  ++hub_.stats.malformed;
  ++hub_.stats.frames_in;
}

void Client::on_frame(const RumorFrame& f) {
  ++hub_.stats.frames_in;
  if (closed_) return;
  switch (f.type) {
    case RumorType::ping: {
      // Every PING gets a PONG: no addresses, no headers (§3.4).
      std::string out;
      write_rumor(out, RumorType::pong, {}, {}, {});
      ++hub_.stats.frames_out;
      sink_.send(std::move(out));
      return;
    }
    case RumorType::connect:
      // CONNECT carries the connection id the client will ask for; no reply is expected (§3.3).
      unique_id_ = std::string(f.header(rumor_header::unique_id).substr(0, kMaxRaptorId));
      return;
    case RumorType::subscribe:
    case RumorType::unsubscribe:
    case RumorType::pong:
    case RumorType::status:  // the client's acknowledgements of our messages
      return;
    case RumorType::disconnect:
      // session.disconnect(): DISCONNECT, then the client closes with 1000 (§3.4).
      leave(DestroyReason::client_disconnected);
      return;
    case RumorType::message:
      handle_message(f);
      return;
  }
}

void Client::send_message(std::string_view from, std::string_view payload) {
  if (closed_) return;
  std::string out;
  const std::string_view addr[] = {connection_id_};
  const RumorHeader hdrs[] = {{rumor_header::content_type, kRaptorContentType}, {rumor_header::from_address, from}};
  write_rumor(out, RumorType::message, addr, hdrs, payload);
  ++hub_.stats.frames_out;
  sink_.send(std::move(out));
}

void Client::reply(std::string_view tid, unsigned status, std::string_view payload) {
  if (closed_) return;
  std::string out;
  const auto code = std::to_string(status);
  const std::string_view addr[] = {connection_id_.empty() ? std::string_view(unique_id_) : std::string_view(connection_id_)};
  const RumorHeader hdrs[] = {{rumor_header::transaction_id, tid},
                              {rumor_header::status, code},
                              {rumor_header::from_address, opts_.symphony_address}};
  write_rumor(out, RumorType::status, addr, hdrs, payload);
  ++hub_.stats.frames_out;
  sink_.send(std::move(out));
}

void Client::fail(std::string_view tid, unsigned status, std::string_view reason) {
  ++hub_.stats.request_errors;
  // The client turns the STATUS value into err.code and payload.reason into the message (§4.3).
  reply(tid, status, json::serialize(json::object{{"reason", reason}, {"code", status}}));
}

void Client::handle_message(const RumorFrame& f) {
  const std::string_view tid = f.header(rumor_header::transaction_id);
  ++hub_.stats.requests;
  if (!take_token()) {
    ++hub_.stats.rate_limited;
    return fail(tid, 429, "Too many requests");
  }
  std::string why;
  auto m = parse_raptor(f.payload, &why);
  if (!m) {
    ++hub_.stats.malformed;
    return fail(tid, 400, why);
  }
  auto u = parse_raptor_uri(m->uri);
  if (!u || u->session != session_id_) return fail(tid, 400, "Invalid uri");

  if (u->resource == "connection" && m->method == "create") return connect(tid, *u, f, *m);
  if (!connected_) return fail(tid, 403, "Not connected");
  if (u->partner != api_key_) return fail(tid, 400, "Invalid uri");

  const auto& r = u->resource;
  const auto& meth = m->method;
  if (r == "connection" && meth == "delete") {  // forceDisconnect
    if (!core::may_moderate(role_)) return fail(tid, 403, "Permission denied: forcedisconnect");
    auto* ses = session();
    if (!ses) return fail(tid, 404, "Session not found");
    if (u->connection == connection_id_) {
      // A moderator may disconnect itself: answered first, then removed like anyone else (its
      // own connection#deleted, forceDisconnected, then the socket closes).
      reply(tid, 200);
      http::disconnect_connection(svc_, *ses, connection_id_, DestroyReason::force_disconnected);
      return;
    }
    auto res = http::disconnect_connection(svc_, *ses, u->connection, DestroyReason::force_disconnected);
    return res.ok() ? reply(tid, 200) : fail(tid, res.status, res.message);
  }
  if (r == "stream" && meth == "create") return publish(tid, *u, *m);
  if (r == "stream" && meth == "delete") return unpublish(tid, *u);
  if (r == "stream" && meth == "update") return mute(tid, *u, *m);           // forceMuteStream
  if (r == "session" && meth == "update") return mute(tid, *u, *m);          // forceMuteAll
  if (r == "stream_channel" && meth == "update") return update_channel(tid, *u, *m);
  if (r == "subscriber" && meth == "create") return subscribe(tid, *u, *m);
  if (r == "subscriber" && meth == "delete") return unsubscribe(tid, *u);
  if (r == "subscriber_channel" && meth == "update") {
    // subscribeToVideo: in a routed session the SFU stops or resumes this subscriber's video; in
    // a relayed one the browsers settle it between themselves. Preferred resolution/frame rate
    // (simulcast layers) have nothing to choose from without simulcast, so only `active` acts.
    if (auto it = routed_subs_.find(u->subscriber); it != routed_subs_.end() && u->channel.starts_with("video")) {
      if (auto* a = m->content.if_contains("active"); a && a->is_bool() && hub_.router)
        hub_.router->set_video(rkey(it->first), a->as_bool());
    }
    return reply(tid, 200);
  }
  if ((r == "subscriber" || r == "stream") && is_jsep(meth)) return jsep(tid, *u, *m, f.payload);
  if (r == "signal" && meth == "signal") return signal(tid, *u, *m);
  return fail(tid, 501, "Not supported by this server: " + meth + " " + std::string(r));
}

void Client::connect(std::string_view tid, const RaptorUri& u, const RumorFrame& f, const RaptorMessage& m) {
  auto refuse = [&](unsigned status, std::string_view why) {
    ++hub_.stats.connect_failures;
    fail(tid, status, why);
  };
  if (connected_) return refuse(409, "Already connected");
  if (svc_.draining) return refuse(503, "Server is shutting down");
  auto* ses = session();
  if (!ses || ses->api_key() != u.partner) return refuse(404, "Session not found");
  if (u.connection.empty() || (!unique_id_.empty() && unique_id_ != u.connection))
    return refuse(400, "The connection id does not match the socket's uniqueId");
  const auto* project = svc_.projects.find(ses->api_key());
  auto token = core::validate_client_token(f.header(rumor_header::token), ses->api_key(),
                                           project ? project->api_secret : std::string(), session_id_,
                                           now_ms_() / 1000);
  if (!token) return refuse(403, "Invalid token: " + token.error().message());
  if (ses->find_connection(u.connection)) return refuse(409, "Connection id in use");

  connection_id_ = std::string(u.connection);
  api_key_ = ses->api_key();
  role_ = token->role;
  // Listen first, so our own connection#created reaches us (the client waits for it, §5 step 3).
  listener_ = ses->subscribe([this](const core::Session& s, const SessionEvent& ev) { on_session_event(s, ev); });
  hub_.add(session_id_, connection_id_, this);
  connected_ = true;
  const auto* conn = ses->add_connection(core::ConnectionKind::client, token->role, token->connection_data,
                                         now_ms_(), connection_id_);
  if (!conn) {
    ses->unsubscribe(listener_);
    listener_ = 0;
    hub_.remove(session_id_, connection_id_);
    connected_ = false;
    connection_id_.clear();
    return refuse(503, "Session is full");
  }
  ++hub_.stats.connects;
  // The session state (§5 step 3): `stream` and `archive` must be arrays or the client hangs.
  json::array conns, streams;
  for (auto* st : ses->streams()) streams.emplace_back(stream_json(*st, ses->find_connection(st->connection_id)));
  ses->for_each_connection([&](const core::Connection& c) { conns.emplace_back(connection_json(c)); });
  json::object state{{"connection", std::move(conns)}, {"stream", std::move(streams)}, {"archive", json::array{}}};
  if (ses->muted_on_entry()) state["mute"] = json::object{{"active", true}};
  reply(tid, 200, json::serialize(state));
  log::info("signal", "client {} connected to {} as {}", connection_id_, session_id_, core::to_string(role_));
}

void Client::publish(std::string_view tid, const RaptorUri& u, const RaptorMessage& m) {
  if (!core::may_publish(role_)) return fail(tid, 403, "Permission denied: publish");
  auto* ses = session();
  if (!ses) return fail(tid, 404, "Session not found");
  const bool routed = ses->media_mode() == core::MediaMode::routed;
  if (routed && !hub_.router) return fail(tid, 501, "Routed media is switched off on this server");
  if (ses->find_stream(u.stream) || pending_streams_.contains(u.stream)) return fail(tid, 409, "Stream id in use");
  core::Stream st;
  st.id = std::string(u.stream);
  st.name = str_of(m.content, "name", 256);
  st.created_ms = now_ms_();
  if (auto* v = m.content.if_contains("publisherAudioFallbackEnabled"); v && v->is_bool())
    st.publisher_audio_fallback = v->as_bool();
  if (auto* v = m.content.if_contains("subscriberAudioFallbackEnabled"); v && v->is_bool())
    st.subscriber_audio_fallback = v->as_bool();
  st.has_audio = st.has_video = false;
  if (auto* chans = m.content.if_contains("channel"); chans && chans->is_array()) {
    for (const auto& c : chans->as_array()) {
      if (!c.is_object() || st.channels.size() >= 4) continue;
      core::StreamChannel ch;
      ch.id = str_of(c.as_object(), "id", 32);
      ch.type = str_of(c.as_object(), "type", 16);
      if (ch.id.empty() || (ch.type != "audio" && ch.type != "video" && ch.type != "data")) continue;
      read_channel(c.as_object(), ch);
      if (ch.type == "audio") st.has_audio = ch.active;
      if (ch.type == "video") {
        st.has_video = ch.active;
        st.video_type = ch.source == "screen" ? "screen" : "camera";
      }
      st.channels.push_back(std::move(ch));
    }
  }
  if (st.channels.empty()) return fail(tid, 400, "A stream needs at least one channel");
  if (routed) {
    if (pending_streams_.size() + routed_streams_.size() >= core::Session::kMaxStreamsPerConnection)
      return fail(tid, 403, "Too many streams for this connection");
    // Routed (§6.1): STATUS, then we ask the publisher for an offer; stream#created goes out
    // once its media is connected (the client allows 15 s).
    reply(tid, 200);
    const std::string id(u.stream);
    pending_streams_.emplace(id, std::move(st));
    send_message(opts_.symphony_address,
                 serialize_raptor("generateoffer", session_uri(api_key_, session_id_) + "/stream/" + id,
                                  json::object{{"sourceStreamId", "MANTIS"}}));
    return;
  }
  std::size_t own = 0;
  for (auto* x : ses->streams()) own += x->connection_id == connection_id_;
  if (own >= core::Session::kMaxStreamsPerConnection) return fail(tid, 403, "Too many streams for this connection");
  // Relayed (§6.2 step 1): STATUS, then stream#created to everyone at once, the publisher
  // included — that completes its publish.
  reply(tid, 200);
  ses->add_stream(connection_id_, std::move(st));
}

void Client::unpublish(std::string_view tid, const RaptorUri& u) {
  auto* ses = session();
  if (auto p = pending_streams_.find(u.stream); p != pending_streams_.end()) {
    // Unpublished before its media connected (or after the client's 15 s publish timeout).
    pending_streams_.erase(p);
    if (hub_.router && published_.erase(std::string(u.stream))) hub_.router->unpublish(rkey(u.stream));
    return reply(tid, 200);
  }
  const auto* st = ses ? ses->find_stream(u.stream) : nullptr;
  if (!st) return fail(tid, 404, "Stream not found");
  if (st->connection_id == connection_id_) {
    reply(tid, 200);
    ses->remove_stream(u.stream, DestroyReason::client_disconnected);
    return;
  }
  if (!core::may_moderate(role_)) return fail(tid, 403, "Permission denied: forceunpublish");
  auto res = http::force_unpublish(svc_, *ses, u.stream);
  res.ok() ? reply(tid, 200) : fail(tid, res.status, res.message);
}

void Client::update_channel(std::string_view tid, const RaptorUri& u, const RaptorMessage& m) {
  auto* ses = session();
  const auto* st = ses ? ses->find_stream(u.stream) : nullptr;
  if (!st || !st->channel(u.channel)) return fail(tid, 404, "Stream or channel not found");
  if (st->connection_id != connection_id_) return fail(tid, 403, "Only the publisher changes its channels");
  core::StreamChannel patch = *st->channel(u.channel);
  const unsigned changed = read_channel(m.content, patch);
  reply(tid, 200);
  // The echo (stream_channel#updated) goes to everyone, the publisher included: its own
  // mute/unmute only takes effect locally when the echo arrives (§4.3).
  if (changed) ses->update_channel(u.stream, u.channel, patch, changed);
}

void Client::mute(std::string_view tid, const RaptorUri& u, const RaptorMessage& m) {
  if (str_of(m.content, "reason") != "mute") return fail(tid, 400, "Unsupported update");
  if (!core::may_moderate(role_)) return fail(tid, 403, "Permission denied: forcemute");
  auto* ses = session();
  if (!ses) return fail(tid, 404, "Session not found");
  bool active = true;
  if (auto* a = m.content.if_contains("active"); a && a->is_bool()) active = a->as_bool();
  std::vector<std::string> excluded;
  if (auto* ex = m.content.if_contains("exclusion"); ex && ex->is_array())
    for (const auto& e : ex->as_array())
      if (e.is_string() && excluded.size() < 256) excluded.emplace_back(e.as_string());
  auto res = http::force_mute(svc_, *ses, u.resource == "stream" ? u.stream : std::string_view(), active, excluded);
  res.ok() ? reply(tid, 200) : fail(tid, res.status, res.message);
}

void Client::subscribe(std::string_view tid, const RaptorUri& u, const RaptorMessage& m) {
  if (!core::may_subscribe(role_)) return fail(tid, 403, "Permission denied: subscribe");
  auto* ses = session();
  const auto* st = ses ? ses->find_stream(u.stream) : nullptr;
  if (!st) return fail(tid, 404, "Stream not found");
  if (ses->media_mode() == core::MediaMode::routed) {
    if (!hub_.router) return fail(tid, 501, "Routed media is switched off on this server");
    if (!hub_.router->has_publication(rkey(st->id))) {
      // A SIP party's stream: its audio reaches the SFU from the session mix, published on the
      // first subscription (src/signaling/session_audio).
      const auto* conn = ses->find_connection(st->connection_id);
      const auto call = conn && conn->kind == core::ConnectionKind::sip ? svc_.call_of_connection.find(conn->id)
                                                                        : svc_.call_of_connection.end();
      if (call == svc_.call_of_connection.end() || !hub_.audio)
        return fail(tid, 404, "The stream has no media on this server");
      std::string why;
      if (!hub_.audio->ensure_sip_stream(session_id_, call->second, rkey(st->id), &why)) return fail(tid, 404, why);
    }
    if (routed_subs_.contains(u.subscriber)) return fail(tid, 409, "Subscriber id in use");
    if (routed_subs_.size() >= kMaxSubscriptions) return fail(tid, 403, "Too many subscriptions for this connection");
    webrtc::Router::Events ev;
    const std::string sub_id(u.subscriber);
    ev.on_failed = [sub_id](std::string_view why) { log::warn("signal", "subscriber {} media failed: {}", sub_id, why); };
    std::string why;
    auto offer = hub_.router->subscribe(rkey(st->id), rkey(sub_id), std::move(ev), &why);
    if (!offer) return fail(tid, 404, why);
    routed_subs_.emplace(sub_id, st->id);
    reply(tid, 200);
    // Our offer, from the server's address; the client answers on the same uri (§6.1).
    send_message(opts_.symphony_address,
                 serialize_raptor("offer", m.uri, json::object{{"type", "offer"}, {"sdp", *offer}, {"sourceStreamId", "MANTIS"}}));
    return;
  }
  Client* publisher = hub_.find(session_id_, st->connection_id);
  if (!publisher) return fail(tid, 404, "The stream's publisher is not a connected client");
  if (publisher == this) return fail(tid, 400, "Subscribing to one's own stream is not relayed");
  if (hub_.relay(session_id_, u.subscriber)) return fail(tid, 409, "Subscriber id in use");
  if (relays_ >= kMaxSubscriptions) return fail(tid, 403, "Too many subscriptions for this connection");
  ++relays_;
  // Relayed (§6.2 step 2): STATUS, then the publisher is asked for an offer on this very
  // subscriber uri, from the subscriber's connection.
  ClientHub::Relay r;
  r.stream_id = std::string(u.stream);
  r.subscriber_id = std::string(u.subscriber);
  r.publisher_conn = st->connection_id;
  r.subscriber_conn = connection_id_;
  r.uri = m.uri;
  hub_.add_relay(session_id_, std::move(r));
  reply(tid, 200);
  publisher->send_message(connection_id_,
                          serialize_raptor("generateoffer", m.uri, json::object{{"sourceStreamId", "P2P"}}));
}

void Client::unsubscribe(std::string_view tid, const RaptorUri& u) {
  if (auto it = routed_subs_.find(u.subscriber); it != routed_subs_.end()) {
    if (hub_.router) hub_.router->unsubscribe(rkey(it->first));
    routed_subs_.erase(it);
    return reply(tid, 200);
  }
  auto* r = hub_.relay(session_id_, u.subscriber);
  if (!r || (r->subscriber_conn != connection_id_ && r->publisher_conn != connection_id_))
    return fail(tid, 404, "Subscriber not found");
  ClientHub::Relay gone = *r;
  hub_.erase_relay(session_id_, u.subscriber);
  reply(tid, 200);
  // The publisher tears its peer connection for this subscriber down (§6.2 step 5).
  if (auto* pub = hub_.find(session_id_, gone.publisher_conn); pub && pub != this)
    pub->send_message(gone.subscriber_conn, serialize_raptor("deleted", gone.uri, json::object{}));
}

void Client::jsep(std::string_view tid, const RaptorUri& u, const RaptorMessage& m, std::string_view payload) {
  if (u.subscriber.empty() && pending_streams_.contains(u.stream)) return routed_offer(tid, u, m);
  if (!u.subscriber.empty() && routed_subs_.contains(u.subscriber)) return routed_answer(tid, u, m);
  auto* r = u.subscriber.empty() ? nullptr : hub_.relay(session_id_, u.subscriber);
  if (!r) return fail(tid, 404, "No such peer connection");
  const bool from_publisher = r->publisher_conn == connection_id_;
  if (!from_publisher && r->subscriber_conn != connection_id_) return fail(tid, 403, "Not a party of this subscription");
  Client* to = hub_.find(session_id_, from_publisher ? r->subscriber_conn : r->publisher_conn);
  if (!to) return fail(tid, 404, "The other party left");
  reply(tid, 200);
  ++hub_.stats.jsep_relayed;
  // The JSON is forwarded unchanged, from the sender's connection (§6.2 step 3). The subscriber
  // drops candidates that come before the offer, so the publisher's early ones wait for it.
  if (from_publisher && m.method == "candidate" && !r->offer_forwarded) {
    // A candidate is a short line; anything bigger is not held.
    if (r->held.size() < opts_.max_held_candidates && payload.size() <= 2048) r->held.emplace_back(payload);
    return;
  }
  to->send_message(connection_id_, payload);
  if (from_publisher && m.method == "offer" && !r->offer_forwarded) {
    r->offer_forwarded = true;
    for (const auto& c : r->held) to->send_message(connection_id_, c);
    r->held.clear();
  }
}

void Client::routed_offer(std::string_view tid, const RaptorUri& u, const RaptorMessage& m) {
  // The server is ICE-lite and its candidate is in the answer: the browser's trickled
  // candidates are acknowledged and not needed (its checks tell us its address).
  if (m.method == "candidate") return reply(tid, 200);
  if (m.method != "offer") return fail(tid, 400, "Expected an offer");
  const std::string sdp = str_of(m.content, "sdp", 64 * 1024);
  const std::string id(u.stream);
  webrtc::Router::Events ev;
  ev.on_connected = [this, id] {
    // Media is up: the stream exists for everyone now, the publisher included (that completes
    // its publish).
    auto p = pending_streams_.find(id);
    auto* ses = session();
    if (p == pending_streams_.end() || !ses || closed_) return;
    core::Stream st = std::move(p->second);
    pending_streams_.erase(p);
    routed_streams_.insert(id);
    ses->add_stream(connection_id_, std::move(st));
  };
  ev.on_failed = [id](std::string_view why) { log::warn("signal", "publisher {} media failed: {}", id, why); };
  std::string why;
  auto answer = hub_.router->publish(rkey(id), sdp, std::move(ev), &why);
  if (!answer) return fail(tid, 400, why);
  published_.insert(id);
  // Its audio also reaches the session's SIP parties, through the mix.
  if (hub_.audio) hub_.audio->browser_published(session_id_, id, rkey(id));
  reply(tid, 200);
  send_message(opts_.symphony_address,
               serialize_raptor("answer", m.uri, json::object{{"type", "answer"}, {"sdp", *answer}, {"sourceStreamId", "MANTIS"}}));
}

void Client::routed_answer(std::string_view tid, const RaptorUri& u, const RaptorMessage& m) {
  if (m.method == "candidate") return reply(tid, 200);
  if (m.method != "answer") return fail(tid, 400, "Expected an answer");
  std::string why;
  if (!hub_.router->answer(rkey(u.subscriber), str_of(m.content, "sdp", 64 * 1024), &why)) return fail(tid, 400, why);
  reply(tid, 200);
}

void Client::drop_media() {
  // Nothing to drop is the common case, and at shutdown the hub may be gone already.
  if (published_.empty() && routed_subs_.empty()) {
    pending_streams_.clear();
    routed_streams_.clear();
    return;
  }
  if (hub_.router) {
    for (auto& id : published_) hub_.router->unpublish(rkey(id));
    for (auto& [sub, stream] : routed_subs_) hub_.router->unsubscribe(rkey(sub));
  }
  published_.clear();
  pending_streams_.clear();
  routed_streams_.clear();
  routed_subs_.clear();
}

void Client::signal(std::string_view tid, const RaptorUri& u, const RaptorMessage& m) {
  auto* ses = session();
  if (!ses) return fail(tid, 404, "Session not found");
  auto* t = m.content.if_contains("type");
  auto* d = m.content.if_contains("data");
  if ((t && !t->is_string() && !t->is_null()) || (d && !d->is_string() && !d->is_null()))
    return fail(tid, 400, "Signal type and data must be strings");
  const std::string_view type = t && t->is_string() ? std::string_view(t->as_string()) : std::string_view();
  const std::string_view data = d && d->is_string() ? std::string_view(d->as_string()) : std::string_view();
  if (auto v = http::validate_signal(type, data); !v.ok()) return fail(tid, v.status, v.message);
  if (!u.connection.empty() && !ses->find_connection(u.connection)) return fail(tid, 404, "Connection not connected");
  reply(tid, 200);
  http::send_signal(svc_, *ses, connection_id_, u.connection, type, data);
}

// Session events → this client's Raptor messages (§4.3).
void Client::on_session_event(const core::Session& ses, const SessionEvent& ev) {
  if (closed_) return;
  const std::string base = session_uri(api_key_, session_id_);
  const std::string_view server = opts_.symphony_address;
  using T = SessionEvent::Type;
  switch (ev.type) {
    case T::connection_created:
      send_message(server, serialize_raptor("created", base + "/connection/" + ev.connection->id,
                                            connection_json(*ev.connection)));
      return;
    case T::connection_destroyed: {
      const auto& gone = ev.connection->id;
      send_message(server, serialize_raptor("deleted", base + "/connection/" + gone, json::object{},
                                            core::to_string(ev.reason)));
      // Relays that involved the departed connection end; a publisher is told its subscriber left.
      hub_.erase_relays_if(
          session_id_, [&](const ClientHub::Relay& r) { return r.subscriber_conn == gone || r.publisher_conn == gone; },
          [&](const ClientHub::Relay& r) {
            // Whichever client's listener runs first erases the relay, so it tells the
            // publisher (if that is not the one leaving) for everyone.
            if (r.subscriber_conn == gone)
              if (auto* pub = hub_.find(session_id_, r.publisher_conn))
                pub->send_message(gone, serialize_raptor("deleted", r.uri, json::object{}));
          });
      if (gone == connection_id_) {
        // We were removed (forceDisconnect): the client fires sessionDisconnected(reason) on
        // this message; then the socket closes.
        hub_.remove(session_id_, connection_id_);
        drop_media();
        connected_ = false;
        closed_ = true;
        sink_.close(1000);
      }
      return;
    }
    case T::stream_created:
      send_message(server, serialize_raptor("created", base + "/stream/" + ev.stream->id,
                                            stream_json(*ev.stream, ev.connection)));
      return;
    case T::stream_destroyed: {
      const auto& sid = ev.stream->id;
      send_message(server, serialize_raptor("deleted", base + "/stream/" + sid, json::object{},
                                            core::to_string(ev.reason)));
      hub_.erase_relays_if(session_id_, [&](const ClientHub::Relay& r) { return r.stream_id == sid; },
                           [](const ClientHub::Relay&) {});
      routed_streams_.erase(sid);
      if (published_.erase(sid) && hub_.router) hub_.router->unpublish(rkey(sid));
      // Our subscriptions to it end with it.
      for (auto it = routed_subs_.begin(); it != routed_subs_.end();) {
        if (it->second != sid) {
          ++it;
          continue;
        }
        if (hub_.router) hub_.router->unsubscribe(rkey(it->first));
        it = routed_subs_.erase(it);
      }
      return;
    }
    case T::stream_channel_updated: {
      json::object full = channel_json(*ev.channel), content;
      auto copy = [&](unsigned bit, const char* key) {
        if ((ev.changed & bit) && full.contains(key)) content[key] = full[key];
      };
      copy(core::ch_active, "active");
      copy(core::ch_width, "width");
      copy(core::ch_height, "height");
      copy(core::ch_orientation, "orientation");
      copy(core::ch_frame_rate, "frameRate");
      copy(core::ch_source, "source");
      copy(core::ch_fit_mode, "fitMode");
      send_message(server, serialize_raptor("updated", base + "/stream/" + ev.stream->id + "/channel/" + ev.channel->id,
                                            content));
      return;
    }
    case T::signal: {
      if (!ev.signal_to.empty() && ev.signal_to != connection_id_) return;
      json::object content{{"data", ev.signal_data}};
      if (!ev.signal_type.empty()) content["type"] = ev.signal_type;
      std::string uri = base;
      if (!ev.signal_to.empty()) uri.append("/connection/").append(ev.signal_to);
      uri.append("/signal/").append(uuid_v4());
      // From the server (REST) the from-address is present and empty: the client then delivers
      // it with from = null; a missing header would queue it forever (§7).
      send_message(ev.signal_from, serialize_raptor("signal", uri, content));
      return;
    }
    case T::mute: {
      auto mute_stream = [&](const std::string& stream_id) {
        send_message(server, serialize_raptor("update", base + "/stream/" + stream_id,
                                              json::object{{"reason", "mute"},
                                                           {"active", ev.mute_active},
                                                           {"channels", json::array{"audio"}}}));
      };
      if (ev.stream) {
        if (ev.stream->connection_id == connection_id_) mute_stream(ev.stream->id);
        return;
      }
      // Session-wide: everyone learns it (mute-on-entry for later publishers), and owners of
      // streams that are not excluded mute them now — session#update alone would not (§4.3).
      send_message(server, serialize_raptor("update", base, json::object{{"reason", "mute"}, {"active", ev.mute_active}}));
      if (!ev.mute_active) return;
      for (auto* st : ses.streams()) {
        if (st->connection_id != connection_id_) continue;
        if (ev.mute_excluded && std::find(ev.mute_excluded->begin(), ev.mute_excluded->end(), st->id) !=
                                    ev.mute_excluded->end())
          continue;
        mute_stream(st->id);
      }
      return;
    }
  }
}

void Client::leave(DestroyReason reason) {
  if (closed_) return;
  closed_ = true;
  drop_media();
  if (!connected_) return;
  connected_ = false;
  auto* ses = session();
  if (ses && listener_) ses->unsubscribe(listener_);
  listener_ = 0;
  hub_.remove(session_id_, connection_id_);
  // Our streams then our connection, to everyone else (§7 "Leaving").
  if (ses) http::disconnect_connection(svc_, *ses, connection_id_, reason);
}

void Client::on_closed(bool clean) {
  if (closed_) {
    if (listener_) {
      if (auto* ses = session()) ses->unsubscribe(listener_);
      listener_ = 0;
    }
    return;
  }
  leave(clean ? DestroyReason::client_disconnected : DestroyReason::network_disconnected);
}

void Client::shut_down() {
  leave(DestroyReason::network_disconnected);
  sink_.close(1001);
}

}  // namespace sb::signaling
