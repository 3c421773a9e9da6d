#include "http/rest_api.hpp"

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/encoding.hpp"
#include "base/log.hpp"
#include "core/client_token.hpp"
#include "core/session_id.hpp"
#include "http/dial_request.hpp"
#include "http/project_auth.hpp"

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <ctime>

namespace sb::http {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using core::MediaMode;
using core::ArchiveMode;

namespace {

// What a piece of work on the owning shard answers: a status plus a JSON body or an error text.
struct Outcome {
  unsigned status = 200;
  std::string body;  // success body (JSON) or error message
  std::string description;
};

Outcome fail(unsigned status, std::string message, std::string description = {}) {
  return Outcome{status, std::move(message), std::move(description)};
}

Response to_response(Outcome o) {
  if (o.status >= 400) return error_response(o.status, o.body, o.description);
  return make_response(o.status, std::move(o.body));
}

std::vector<std::string> split_path(std::string_view target) {
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < target.size()) {
    while (i < target.size() && target[i] == '/') ++i;
    std::size_t j = target.find('/', i);
    if (j == std::string_view::npos) j = target.size();
    if (j > i) {
      auto dec = percent_decode(target.substr(i, j - i), false);
      parts.push_back(dec ? std::move(*dec) : std::string(target.substr(i, j - i)));
    }
    i = j;
  }
  return parts;
}

std::optional<std::string> header(const Request& req, std::string_view name) {
  auto it = req.find(name);
  if (it == req.end()) return std::nullopt;
  return std::string(it->value());
}

// OpenTok's create_dt uses Java's Date.toString() shape; we print it in UTC.
constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool valid_ipv4(std::string_view s) {
  boost::system::error_code ec;
  auto a = asio::ip::make_address_v4(std::string(s), ec);
  return !ec && !a.is_unspecified();
}

// Session ID checks shared by every /session/{sid} route: 400 when it cannot be an ID of this
// project at all (SPEC §2.3 "invalid session ID"), so the owning shard only sees plausible IDs.
std::optional<Outcome> check_session_id(std::string_view sid, std::string_view api_key) {
  auto info = core::parse_session_id(sid);
  if (!info) return fail(400, "Invalid session ID");
  if (info->api_key != api_key) return fail(400, "Invalid session ID", "The session ID belongs to another project");
  return std::nullopt;
}

json::object session_json(const core::Stream& s) {
  json::array classes;
  for (const auto& c : s.layout_classes) classes.emplace_back(c);
  return json::object{{"id", s.id},
                      {"videoType", s.video_type},
                      {"name", s.name},
                      {"layoutClassList", std::move(classes)}};
}

// ---- work that runs on the shard owning the session (parameters by value) -------------------

asio::awaitable<Outcome> create_session_on(ShardServices* s, std::string id, std::string key, MediaMode mode,
                                           ArchiveMode archive, std::string location, std::int64_t now_ms) {
  if (s->draining) co_return fail(503, "Server is shutting down");
  auto* session = s->sessions.create(id, key, mode, archive, location, now_ms);
  if (!session) co_return fail(503, "Session limit reached", "Every session slot on this server is in use");
  // Session monitoring (SPEC §4.7): connection/stream events go to the project's callbacks of
  // those groups, as OpenTok's session-monitoring webhooks shape them.
  session->subscribe([s, key](const core::Session& ses, const core::SessionEvent& ev) {
    using T = core::SessionEvent::Type;
    if (ev.type == T::signal) return;
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
  co_return Outcome{200};
}

asio::awaitable<Outcome> dial_on(ShardServices* s, std::string key, DialRequest d, std::int64_t now_s) {
  ++s->counters.dial_requests;
  if (s->draining) co_return fail(503, "Server is shutting down");
  auto* session = s->sessions.find(d.session_id);
  if (!session || session->api_key() != key) co_return fail(404, "Session not found");
  if (session->media_mode() != MediaMode::routed)
    co_return fail(409, "Conflict", "SIP calls need a routed session (p2p.preference=disabled)");
  const auto* project = s->projects.find(key);
  auto token = core::validate_client_token(d.token, key, project ? project->api_secret : std::string(), d.session_id, now_s);
  if (!token) co_return fail(400, "Invalid token", token.error().message());
  if (!s->sip || !s->make_media) co_return fail(503, "SIP is not configured on this server");
  const std::string call_id = uuid_v4();
  auto media = s->make_media(MediaRequest{d.sip.secure, d.session_id, call_id});
  if (!media) co_return fail(503, "No media port available", "The RTP port range of this shard is exhausted");

  // SPEC §2.2: the SIP party is a connection with an audio-only stream at once, before the far
  // end answers; the call's end destroys both.
  const std::int64_t now_ms = unix_ms();
  const auto* conn = session->add_connection(core::ConnectionKind::sip, token->role, token->connection_data, now_ms);
  if (!conn) co_return fail(503, "Session is full");
  const std::string connection_id = conn->id;
  core::Stream st;
  st.name = d.sip.from.empty() ? "SIP" : d.sip.from;
  st.video_type = "camera";  // undocumented for audio-only SIP streams (SPEC §8); SDKs expect a value
  st.has_audio = true;
  st.has_video = false;
  st.created_ms = now_ms;
  const auto* stream = session->add_stream(connection_id, st);
  const std::string stream_id = stream ? stream->id : std::string();

  // Call-monitoring webhooks (SPEC §6), ordered per call by the sender.
  auto emit = [s, key, sid = d.session_id, call_id, connection_id, now_ms](std::string_view event,
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
    for (auto& u : urls) s->webhooks.enqueue(WebhookEvent{u, p->api_secret, text, call_id});
  };
  emit("callCreated", {});

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
  obs.on_end = [s, emit, sid = d.session_id, connection_id](const sip::CallEnd& e) {
    s->call_of_connection.erase(connection_id);
    ++s->counters.calls_by_outcome[e.code == 700 ? 0 : (e.code < 700 ? 1 : 2)];
    if (auto* ses = s->sessions.find(sid)) ses->remove_connection(connection_id, core::DestroyReason::call_ended);
    emit("callDestroyed", {{"reason_code", std::to_string(e.code)}, {"reason_message", e.reason}});
  };
  if (!s->sip->dial(std::move(cp), std::move(media), std::move(obs))) {
    session->remove_connection(connection_id, core::DestroyReason::call_ended);
    emit("callDestroyed", {{"reason_code", "503"}, {"reason_message", "Service Unavailable"}});
    co_return fail(503, "Call limit reached on this server");
  }
  s->call_of_connection[connection_id] = call_id;
  json::object body{{"id", call_id},         {"projectId", key},          {"sessionId", d.session_id},
                    {"connectionId", connection_id}, {"streamId", stream_id}, {"createdAt", now_ms},
                    {"updatedAt", now_ms}};
  co_return Outcome{200, json::serialize(body)};
}

// The call's state and media statistics, if this shard carries it for this project.
asio::awaitable<std::optional<std::string>> call_stats_on(ShardServices* s, std::string key, std::string call_id) {
  auto* call = s->sip ? s->sip->find(call_id) : nullptr;
  if (!call) co_return std::nullopt;
  auto* session = s->sessions.find(call->params().session_id);
  // Only the project that owns the call's session may read it (a call outlives nothing: its
  // session exists while the call does).
  if (!session || session->api_key() != key) co_return std::nullopt;
  const auto st = call->state();
  std::string state = st ? std::string(sip::to_string(*st)) : "DIALING";
  co_return fmt::format(R"({{"id":"{}","sessionId":"{}","state":"{}","media":{}}})", call_id,
                        call->params().session_id, state, call->media().stats_json());
}

asio::awaitable<Outcome> disconnect_on(ShardServices* s, std::string key, std::string sid, std::string cid) {
  auto* session = s->sessions.find(sid);
  if (!session || session->api_key() != key) co_return fail(404, "Session or connection not found");
  if (auto it = s->call_of_connection.find(cid); it != s->call_of_connection.end()) {
    // A SIP leg: CANCEL before the answer, BYE after (SPEC §7a). Its end destroys the
    // connection and stream and sends callDestroyed.
    if (auto* call = s->sip ? s->sip->find(it->second) : nullptr) {
      call->hangup();
      ++s->counters.force_disconnects;
      co_return Outcome{204};
    }
  }
  if (!session->remove_connection(cid, core::DestroyReason::force_disconnected))
    co_return fail(404, "Session or connection not found");
  ++s->counters.force_disconnects;
  co_return Outcome{204};
}

asio::awaitable<Outcome> streams_on(ShardServices* s, std::string key, std::string sid, std::string stream_id) {
  auto* session = s->sessions.find(sid);
  if (!session || session->api_key() != key) co_return fail(404, "Session not found");
  if (!stream_id.empty()) {
    auto* st = session->find_stream(stream_id);
    if (!st) co_return fail(404, "Stream not found");
    co_return Outcome{200, json::serialize(session_json(*st))};
  }
  json::array items;
  for (auto* st : session->streams()) items.emplace_back(session_json(*st));
  json::object o{{"count", items.size()}, {"items", std::move(items)}};
  co_return Outcome{200, json::serialize(o)};
}

asio::awaitable<Outcome> signal_on(ShardServices* s, std::string key, std::string sid, std::string cid,
                                   std::string type, std::string data) {
  auto* session = s->sessions.find(sid);
  if (!session || session->api_key() != key) co_return fail(404, "Session not found");
  if (!cid.empty() && !session->find_connection(cid)) co_return fail(404, "Connection not connected");
  session->signal(cid, type, data);
  ++s->counters.signals;
  co_return Outcome{204};
}

asio::awaitable<Outcome> dtmf_on(ShardServices* s, std::string key, std::string sid, std::string cid,
                                 std::string digits) {
  auto* session = s->sessions.find(sid);
  if (!session || session->api_key() != key) co_return fail(404, "Session not found");
  if (!cid.empty()) {
    auto* c = session->find_connection(cid);
    if (!c || c->kind != core::ConnectionKind::sip) co_return fail(404, "Connection not connected",
                                                                    "No SIP call on that connection");
    // Unreachable until the SIP issue creates SIP connections; DTMF sending is a later issue.
    co_return fail(501, "DTMF sending is not available yet in this build");
  }
  // Session-wide: every SIP leg of the session; this build has none, so nothing to send.
  co_return Outcome{200, "{}"};
}

asio::awaitable<bool> add_callback_on(ShardServices* s, std::string key, core::Callback cb) {
  co_return s->projects.add_callback(key, std::move(cb));
}
asio::awaitable<bool> remove_callback_on(ShardServices* s, std::string key, std::string id) {
  co_return s->projects.remove_callback(key, id);
}

json::object callback_json(const core::Callback& c) {
  return json::object{{"id", c.id}, {"group", c.group}, {"event", c.event}, {"url", c.url}, {"createdAt", c.created_at}};
}

bool valid_callback_url(std::string_view u) {
  return (u.starts_with("http://") || u.starts_with("https://")) && u.size() <= 2048 &&
         u.find_first_of(" \r\n\t") == std::string_view::npos;
}

bool valid_dtmf(std::string_view d) {
  if (d.empty() || d.size() > 256) return false;
  for (char c : d)
    if (!((c >= '0' && c <= '9') || c == '*' || c == '#' || c == 'p')) return false;
  return true;
}

// Parses a small JSON object body; nullopt with a message otherwise.
std::optional<json::object> parse_object(std::string_view body, std::string& why) {
  json::parse_options po;
  po.max_depth = 16;
  boost::system::error_code ec;
  auto v = json::parse(body, ec, {}, po);
  if (ec) {
    why = "Malformed JSON body";
    return std::nullopt;
  }
  if (!v.is_object()) {
    why = "The JSON body must be an object";
    return std::nullopt;
  }
  return std::move(v.as_object());
}

}  // namespace

std::string format_create_dt(std::int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{} {} {:02} {:02}:{:02}:{:02} UTC {}", kDays[tm.tm_wday], kMonths[tm.tm_mon], tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
}

RestApi::RestApi(runtime::Runtime& rt, std::vector<ShardServices*> shards, RestOptions opts)
    : rt_(rt), shards_(std::move(shards)), opts_(opts) {}

ShardServices& RestApi::local() {
  auto* cur = runtime::Runtime::current();
  return *shards_[cur ? cur->id() : 0];
}

ShardServices& RestApi::owner(std::string_view session_id) {
  return *shards_[runtime::Runtime::shard_index(session_id, static_cast<unsigned>(shards_.size()))];
}

asio::awaitable<Response> RestApi::handle(Request req) {
  auto& here = local();
  ++here.counters.requests;
  auto parts = split_path(req.target());
  const auto method = req.method();
  const std::int64_t now_ms = unix_ms();
  const std::int64_t now_s = now_ms / 1000;

  auto finish = [&](Response r) {
    ++here.counters.by_class[std::min<unsigned>(r.result_int() / 100, 5)];
    return r;
  };
  auto authenticate = [&](std::optional<std::string_view> path_key) -> boost::system::result<std::string> {
    auto tok = header(req, "X-OPENTOK-AUTH");
    auto r = verify_project_jwt(tok ? std::string_view(*tok) : std::string_view(), path_key,
                                [&](std::string_view k) { return here.projects.secret_of(k); }, now_s,
                                opts_.jwt_skew_s);
    if (!r) {
      ++here.counters.auth_failures;
      log::info("rest", "auth rejected: {} {} ({})", std::string_view(req.method_string()),
                parts.empty() ? "/" : parts[0], r.error().message());
    }
    return r;
  };
  auto method_not_allowed = [&] { return finish(error_response(405, "Method not allowed")); };

  // ---- operations -------------------------------------------------------------------------
  if (parts.size() == 1 && parts[0] == "health") {
    if (method != bhttp::verb::get) co_return method_not_allowed();
    co_return finish(here.draining ? error_response(503, "draining")
                                   : make_response(200, R"({"status":"ok"})"));
  }
  if (parts.size() == 1 && parts[0] == "metrics") {
    if (method != bhttp::verb::get) co_return method_not_allowed();
    co_return finish(make_response(200, co_await metrics_text(), "text/plain; version=0.0.4"));
  }

  // ---- POST /session/create (SPEC §4.2) ----------------------------------------------------
  if (parts.size() == 2 && parts[0] == "session" && parts[1] == "create") {
    if (method != bhttp::verb::post) co_return method_not_allowed();
    auto key = authenticate(std::nullopt);
    if (!key) co_return finish(error_response(403, "Authentication failed", key.error().message()));
    auto form = form_parse(req.body());
    if (!form) co_return finish(error_response(400, "Malformed form body"));
    MediaMode mode = MediaMode::relayed;  // OpenTok's default when p2p.preference is absent
    ArchiveMode archive = ArchiveMode::manual;
    std::string location;
    for (auto& [k, v] : *form) {
      if (k == "p2p.preference") {
        if (v == "enabled") mode = MediaMode::relayed;
        else if (v == "disabled") mode = MediaMode::routed;
        else co_return finish(error_response(400, "Invalid p2p.preference", "Use enabled or disabled"));
      } else if (k == "archiveMode") {
        if (v == "manual") archive = ArchiveMode::manual;
        else if (v == "always") archive = ArchiveMode::always;
        else co_return finish(error_response(400, "Invalid archiveMode", "Use manual or always"));
      } else if (k == "location") {
        if (!v.empty() && !valid_ipv4(v)) co_return finish(error_response(400, "Invalid location", "Use an IPv4 address"));
        location = v;
      } else if (k == "e2ee") {
        // Validated here; whether it fits the media mode is checked once every field is read.
        if (v != "true" && v != "false") co_return finish(error_response(400, "Invalid e2ee", "Use true or false"));
      }
    }
    if (archive == ArchiveMode::always && mode != MediaMode::routed)
      co_return finish(error_response(400, "archiveMode always requires a routed session"));
    for (auto& [k, v] : *form)
      if (k == "e2ee" && v == "true" && mode != MediaMode::routed)
        co_return finish(error_response(400, "e2ee requires a routed session"));
    std::string sid = core::make_session_id(*key, location, now_ms);
    auto out = co_await runtime::on_shard(owner(sid).shard, create_session_on(&owner(sid), sid, *key, mode, archive,
                                                                               location, now_ms));
    if (out.status != 200) co_return finish(to_response(std::move(out)));
    log::info("rest", "session created sid={} key={} mode={}", sid, *key, mode == MediaMode::routed ? "routed" : "relayed");
    auto accept = header(req, "Accept");
    const std::string create_dt = format_create_dt(now_ms);
    if (accept && accept->find("application/json") != std::string::npos) {
      json::array a{json::object{{"session_id", sid},
                                 {"project_id", *key},
                                 {"partner_id", *key},
                                 {"create_dt", create_dt},
                                 {"media_server_url", ""}}};
      co_return finish(make_response(200, json::serialize(a)));
    }
    co_return finish(make_response(
        200,
        fmt::format(R"(<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sessions><Session><session_id>{}</session_id><partner_id>{}</partner_id><create_dt>{}</create_dt></Session></sessions>)",
                    sid, *key, create_dt),
        "text/xml"));
  }

  // ---- /v2/project/{apiKey}/... (and the pre-2017 /v2/partner/ prefix, SPEC §2) -------------
  if (parts.size() >= 4 && parts[0] == "v2" && (parts[1] == "project" || parts[1] == "partner")) {
    const std::string path_key = parts[2];
    std::vector<std::string> rest(parts.begin() + 3, parts.end());
    auto key = authenticate(path_key);
    if (!key) co_return finish(error_response(403, "Authentication failed", key.error().message()));

    // POST /dial, /call (PHP) — SPEC §2
    if (rest.size() == 1 && (rest[0] == "dial" || rest[0] == "call")) {
      if (method != bhttp::verb::post) co_return method_not_allowed();
      if (req.body().size() > opts_.dial_body_limit) co_return finish(error_response(413, "Request body too large"));
      std::string detail;
      auto d = parse_dial_request(req.body(), &detail);
      if (!d) {
        ++here.counters.dial_rejected;
        co_return finish(error_response(400, "Invalid request", detail.empty() ? d.error().message() : detail));
      }
      if (auto bad = check_session_id(d->session_id, *key)) co_return finish(to_response(std::move(*bad)));
      auto& o = owner(d->session_id);
      auto out = co_await runtime::on_shard(o.shard, dial_on(&o, *key, std::move(*d), now_s));
      if (out.status >= 400) ++here.counters.dial_rejected;
      co_return finish(to_response(std::move(out)));
    }

    // GET /call/{callId}/stats: the call's media statistics (a Switchboard extension).
    if (rest.size() == 3 && rest[0] == "call" && rest[2] == "stats") {
      if (method != bhttp::verb::get) co_return method_not_allowed();
      if (rest[1].empty() || rest[1].size() > 64) co_return finish(error_response(400, "Invalid call ID"));
      for (auto* s : shards_) {
        auto found = co_await runtime::on_shard(s->shard, call_stats_on(s, *key, rest[1]));
        if (found) co_return finish(make_response(200, std::move(*found)));
      }
      co_return finish(error_response(404, "Call not found"));
    }

    // Callback registration (SPEC §4.7, §9)
    if (rest[0] == "callback") {
      if (rest.size() == 1 && method == bhttp::verb::post) {
        std::string why;
        auto body = parse_object(req.body(), why);
        if (!body) co_return finish(error_response(400, why));
        auto str = [&](const char* f) -> std::string {
          auto* v = body->if_contains(f);
          return v && v->is_string() ? std::string(v->as_string()) : std::string();
        };
        core::Callback cb{uuid_v4(), str("group"), str("event"), str("url"), now_ms};
        if (cb.group != "sip" && cb.group != "connection" && cb.group != "stream")
          co_return finish(error_response(400, "Invalid group", "Use sip, connection or stream"));
        if (cb.event.empty()) cb.event = cb.group == "sip" ? "all" : "";
        if (cb.event.empty() || cb.event.size() > 64) co_return finish(error_response(400, "Invalid event"));
        if (!valid_callback_url(cb.url)) co_return finish(error_response(400, "Invalid url", "Use an http:// or https:// URL"));
        // Broadcast: every shard keeps its own copy of the project table.
        for (auto* s : shards_) {
          if (!co_await runtime::on_shard(s->shard, add_callback_on(s, *key, cb)))
            co_return finish(error_response(409, "Too many callbacks registered"));
        }
        co_return finish(make_response(200, json::serialize(callback_json(cb))));
      }
      if (rest.size() == 1 && method == bhttp::verb::get) {
        json::array items;
        if (auto* p = here.projects.find(*key))
          for (const auto& c : p->callbacks) items.emplace_back(callback_json(c));
        co_return finish(make_response(200, json::serialize(items)));
      }
      if (rest.size() == 2 && method == bhttp::verb::delete_) {
        bool found = false;
        for (auto* s : shards_) found = co_await runtime::on_shard(s->shard, remove_callback_on(s, *key, rest[1])) || found;
        co_return finish(found ? make_response(204, "") : error_response(404, "Callback not found"));
      }
      co_return method_not_allowed();
    }

    // /session/{sid}/...
    if (rest.size() >= 3 && rest[0] == "session") {
      const std::string sid = rest[1];
      if (auto bad = check_session_id(sid, *key)) co_return finish(to_response(std::move(*bad)));
      auto& o = owner(sid);
      std::string cid;
      std::vector<std::string> tail(rest.begin() + 2, rest.end());
      if (tail.size() >= 2 && tail[0] == "connection") {
        cid = tail[1];
        tail.erase(tail.begin(), tail.begin() + 2);
        if (cid.empty() || cid.size() > 128) co_return finish(error_response(400, "Invalid connection ID"));
        if (tail.empty()) {  // DELETE .../connection/{cid} (SPEC §4.1)
          if (method != bhttp::verb::delete_) co_return method_not_allowed();
          co_return finish(to_response(co_await runtime::on_shard(o.shard, disconnect_on(&o, *key, sid, cid))));
        }
      }
      if (tail.size() == 1 && tail[0] == "signal") {  // SPEC §4.5
        if (method != bhttp::verb::post) co_return method_not_allowed();
        std::string why;
        auto body = parse_object(req.body(), why);
        if (!body) co_return finish(error_response(400, why));
        auto* t = body->if_contains("type");
        auto* dv = body->if_contains("data");
        if ((t && !t->is_string() && !t->is_null()) || !dv || !dv->is_string())
          co_return finish(error_response(400, "Invalid signal", "type must be a string and data a string"));
        std::string type = t && t->is_string() ? std::string(t->as_string()) : std::string();
        std::string data(dv->as_string());
        if (type.size() > 128 || data.size() > 8192)
          co_return finish(error_response(413, "Signal too large", "type ≤ 128 bytes and data ≤ 8 kB"));
        co_return finish(to_response(co_await runtime::on_shard(o.shard, signal_on(&o, *key, sid, cid, type, data))));
      }
      if (tail.size() == 1 && tail[0] == "play-dtmf") {  // SPEC §4.3
        if (method != bhttp::verb::post) co_return method_not_allowed();
        std::string why;
        auto body = parse_object(req.body(), why);
        if (!body) co_return finish(error_response(400, why));
        auto* dv = body->if_contains("digits");
        if (!dv || !dv->is_string() || !valid_dtmf(dv->as_string()))
          co_return finish(error_response(400, "Invalid digits", "digits may hold only 0-9, *, # and p"));
        co_return finish(to_response(
            co_await runtime::on_shard(o.shard, dtmf_on(&o, *key, sid, cid, std::string(dv->as_string())))));
      }
      if (cid.empty() && (tail.size() == 1 || tail.size() == 2) && tail[0] == "stream") {  // SPEC §4.4
        if (method != bhttp::verb::get) co_return method_not_allowed();
        // Named locals, not a conditional, inside co_await: GCC 12 miscompiles temporaries of
        // conditional expressions in a co_await full-expression.
        std::string stream_id;
        if (tail.size() == 2) stream_id = tail[1];
        auto out = co_await runtime::on_shard(o.shard, streams_on(&o, *key, sid, stream_id));
        co_return finish(to_response(std::move(out)));
      }
    }
  }
  co_return finish(error_response(404, "Not found", "No such resource"));
}

namespace {
struct Snapshot {
  RestCounters rest;
  WebhookStats webhooks{};
  std::size_t sessions = 0, evicted = 0;
  sip::UserAgentStats ua{};
  sip::TransportStats transport{};
  std::size_t active_calls = 0;
  MediaTotals media{};
};
asio::awaitable<Snapshot> snapshot_on(ShardServices* s) {
  Snapshot x{s->counters, s->webhooks.stats(), s->sessions.size(), s->sessions.evicted()};
  if (s->media_totals) x.media = s->media_totals();
  if (s->sip) {
    x.ua = s->sip->stats();
    x.transport = s->sip->transport_stats();
    x.active_calls = s->sip->active_calls();
  }
  co_return x;
}
}  // namespace

asio::awaitable<std::string> RestApi::metrics_text() {
  Snapshot total;
  for (auto* s : shards_) {
    auto x = co_await runtime::on_shard(s->shard, snapshot_on(s));
    total.rest.requests += x.rest.requests;
    total.media += x.media;
    for (int i = 0; i < 6; ++i) total.rest.by_class[i] += x.rest.by_class[i];
    total.rest.auth_failures += x.rest.auth_failures;
    total.rest.sessions_created += x.rest.sessions_created;
    total.rest.dial_requests += x.rest.dial_requests;
    total.rest.dial_rejected += x.rest.dial_rejected;
    total.rest.signals += x.rest.signals;
    total.rest.force_disconnects += x.rest.force_disconnects;
    total.webhooks.enqueued += x.webhooks.enqueued;
    total.webhooks.delivered += x.webhooks.delivered;
    total.webhooks.retried += x.webhooks.retried;
    total.webhooks.dropped_overflow += x.webhooks.dropped_overflow;
    total.webhooks.dropped_exhausted += x.webhooks.dropped_exhausted;
    total.webhooks.dropped_rejected += x.webhooks.dropped_rejected;
    total.webhooks.backlog += x.webhooks.backlog;
    total.sessions += x.sessions;
    total.evicted += x.evicted;
    total.active_calls += x.active_calls;
    total.ua.calls_started += x.ua.calls_started;
    total.ua.calls_ended += x.ua.calls_ended;
    total.ua.unmatched_responses += x.ua.unmatched_responses;
    total.ua.out_of_dialog_requests += x.ua.out_of_dialog_requests;
    total.ua.inbox_overflow += x.ua.inbox_overflow;
    total.ua.invalid_messages += x.ua.invalid_messages;
    total.transport.received += x.transport.received;
    total.transport.sent += x.transport.sent;
    total.transport.malformed += x.transport.malformed;
    total.transport.too_large += x.transport.too_large;
    total.transport.rate_limited += x.transport.rate_limited;
    total.transport.send_errors += x.transport.send_errors;
    for (int i = 0; i < 3; ++i) total.rest.calls_by_outcome[i] += x.rest.calls_by_outcome[i];
  }
  std::string out;
  auto add = [&](std::string_view name, std::string_view type, std::string_view help, auto value,
                 std::string_view labels = {}) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{} {}\n", name, help, name, type, name, labels, value);
  };
  add("switchboard_shards", "gauge", "Shards (one io_context per core)", shards_.size());
  add("switchboard_sessions", "gauge", "Sessions held in memory", total.sessions);
  add("switchboard_sessions_evicted_total", "counter", "Idle sessions evicted at the session limit", total.evicted);
  add("switchboard_sessions_created_total", "counter", "Sessions created", total.rest.sessions_created);
  add("switchboard_rest_requests_total", "counter", "REST requests", total.rest.requests);
  out += "# HELP switchboard_rest_responses_total REST responses by status class\n# TYPE switchboard_rest_responses_total counter\n";
  for (int i = 1; i <= 5; ++i)
    out += fmt::format("switchboard_rest_responses_total{{class=\"{}xx\"}} {}\n", i, total.rest.by_class[i]);
  add("switchboard_rest_auth_failures_total", "counter", "REST requests refused by JWT auth", total.rest.auth_failures);
  add("switchboard_dial_requests_total", "counter", "Dial requests that reached a session shard", total.rest.dial_requests);
  add("switchboard_dial_rejected_total", "counter", "Dial requests answered with an error", total.rest.dial_rejected);
  add("switchboard_signals_total", "counter", "Signals accepted", total.rest.signals);
  add("switchboard_force_disconnects_total", "counter", "Connections force-disconnected", total.rest.force_disconnects);
  add("switchboard_webhook_enqueued_total", "counter", "Webhook events queued", total.webhooks.enqueued);
  add("switchboard_webhook_delivered_total", "counter", "Webhook events delivered (2xx)", total.webhooks.delivered);
  add("switchboard_webhook_retries_total", "counter", "Webhook delivery retries", total.webhooks.retried);
  out += "# HELP switchboard_webhook_dropped_total Webhook events dropped, by cause\n# TYPE switchboard_webhook_dropped_total counter\n";
  out += fmt::format("switchboard_webhook_dropped_total{{cause=\"overflow\"}} {}\n", total.webhooks.dropped_overflow);
  out += fmt::format("switchboard_webhook_dropped_total{{cause=\"exhausted\"}} {}\n", total.webhooks.dropped_exhausted);
  out += fmt::format("switchboard_webhook_dropped_total{{cause=\"rejected\"}} {}\n", total.webhooks.dropped_rejected);
  add("switchboard_webhook_backlog", "gauge", "Webhook events waiting for delivery", total.webhooks.backlog);
  add("switchboard_calls_active", "gauge", "SIP calls in progress", total.active_calls);
  add("switchboard_calls_started_total", "counter", "SIP calls placed", total.ua.calls_started);
  out += "# HELP switchboard_calls_ended_total SIP calls ended, by outcome\n# TYPE switchboard_calls_ended_total counter\n";
  out += fmt::format("switchboard_calls_ended_total{{outcome=\"normal\"}} {}\n", total.rest.calls_by_outcome[0]);
  out += fmt::format("switchboard_calls_ended_total{{outcome=\"sip_failure\"}} {}\n", total.rest.calls_by_outcome[1]);
  out += fmt::format("switchboard_calls_ended_total{{outcome=\"timeout_or_limit\"}} {}\n", total.rest.calls_by_outcome[2]);
  add("switchboard_sip_messages_received_total", "counter", "SIP messages received", total.transport.received);
  add("switchboard_sip_messages_sent_total", "counter", "SIP messages sent", total.transport.sent);
  add("switchboard_sip_send_errors_total", "counter", "SIP sends that failed", total.transport.send_errors);
  out += "# HELP switchboard_sip_dropped_total SIP input dropped, by reason\n# TYPE switchboard_sip_dropped_total counter\n";
  auto drop = [&](std::string_view reason, std::uint64_t v) {
    out += fmt::format("switchboard_sip_dropped_total{{reason=\"{}\"}} {}\n", reason, v);
  };
  drop("malformed", total.transport.malformed);
  drop("too_large", total.transport.too_large);
  drop("rate_limited", total.transport.rate_limited);
  drop("invalid", total.ua.invalid_messages);
  drop("out_of_dialog", total.ua.out_of_dialog_requests);
  drop("unmatched_response", total.ua.unmatched_responses);
  drop("inbox_full", total.ua.inbox_overflow);
  const auto& m = total.media;
  add("switchboard_media_legs", "gauge", "SIP media legs open", m.legs);
  add("switchboard_media_conferences", "gauge", "Sessions with a running audio mixer", m.conferences);
  add("switchboard_mixer_skipped_ticks_total", "counter", "Mixer ticks skipped because a shard fell behind", m.skipped_ticks);
  out += "# HELP switchboard_rtp_packets_total RTP packets, by direction\n# TYPE switchboard_rtp_packets_total counter\n";
  out += fmt::format("switchboard_rtp_packets_total{{direction=\"in\"}} {}\n", m.packets_in);
  out += fmt::format("switchboard_rtp_packets_total{{direction=\"out\"}} {}\n", m.packets_out);
  out += "# HELP switchboard_rtp_bytes_total RTP bytes, by direction\n# TYPE switchboard_rtp_bytes_total counter\n";
  out += fmt::format("switchboard_rtp_bytes_total{{direction=\"in\"}} {}\n", m.bytes_in);
  out += fmt::format("switchboard_rtp_bytes_total{{direction=\"out\"}} {}\n", m.bytes_out);
  out += "# HELP switchboard_rtcp_packets_total RTCP packets, by direction\n# TYPE switchboard_rtcp_packets_total counter\n";
  out += fmt::format("switchboard_rtcp_packets_total{{direction=\"in\"}} {}\n", m.rtcp_in);
  out += fmt::format("switchboard_rtcp_packets_total{{direction=\"out\"}} {}\n", m.rtcp_out);
  add("switchboard_rtp_lost_total", "counter", "RTP packets lost by the far ends (RFC 3550 A.3)", m.lost);
  add("switchboard_audio_concealed_frames_total", "counter", "Frames played by PLC or Opus FEC", m.concealed);
  add("switchboard_audio_fec_recovered_total", "counter", "Concealed frames recovered from Opus in-band FEC", m.fec_recovered);
  out += "# HELP switchboard_rtp_dropped_total Media packets dropped, by reason\n# TYPE switchboard_rtp_dropped_total counter\n";
  auto mdrop = [&](std::string_view reason, std::uint64_t v) {
    out += fmt::format("switchboard_rtp_dropped_total{{reason=\"{}\"}} {}\n", reason, v);
  };
  mdrop("srtp_auth", m.srtp_failures);
  mdrop("unauthenticated", m.unauthenticated);
  mdrop("foreign_source", m.foreign_source);
  mdrop("malformed", m.malformed);
  mdrop("unknown_payload_type", m.unknown_pt);
  co_return out;
}

}  // namespace sb::http
