#include "http/rest_api.hpp"

#include "base/clock.hpp"
#include "base/crypto.hpp"
#include "base/encoding.hpp"
#include "base/log.hpp"
#include "core/client_token.hpp"
#include "core/session_id.hpp"
#include "http/dial_request.hpp"
#include "http/project_auth.hpp"
#include "http/session_ops.hpp"

#include <algorithm>

#include <boost/asio.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <ctime>
#include <map>

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

Outcome from_op(OpResult r) {
  if (!r.ok()) return fail(r.status, std::move(r.message), std::move(r.description));
  return Outcome{r.status, std::move(r.body)};
}

asio::awaitable<Outcome> create_session_on(ShardServices* s, std::string id, std::string key, MediaMode mode,
                                           ArchiveMode archive, std::string location, std::int64_t now_ms) {
  co_return from_op(create_session(*s, std::move(id), std::move(key), mode, archive, std::move(location), now_ms));
}

asio::awaitable<Outcome> dial_on(ShardServices* s, std::string key, DialRequest d, std::int64_t now_s) {
  co_return from_op(dial(*s, key, std::move(d), now_s));
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
  auto r = disconnect_connection(*s, *session, cid, core::DestroyReason::force_disconnected);
  if (!r.ok()) co_return fail(404, "Session or connection not found");
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
  // From the server: browsers see `from: null` (OPENTOK-CLIENT.md §7).
  auto r = send_signal(*s, *session, /*from=*/"", cid, type, data);
  if (!r.ok()) co_return fail(r.status, r.message);
  co_return Outcome{204};
}

asio::awaitable<Outcome> mute_on(ShardServices* s, std::string key, std::string sid, std::string stream, bool active,
                                 std::vector<std::string> excluded) {
  auto* session = s->sessions.find(sid);
  if (!session || session->api_key() != key) co_return fail(404, "Session not found");
  auto r = force_mute(*s, *session, stream, active, excluded);
  if (!r.ok()) co_return fail(r.status, r.message);
  co_return Outcome{200, "{}"};
}

asio::awaitable<Outcome> dtmf_on(ShardServices* s, std::string key, std::string sid, std::string cid,
                                 std::string digits) {
  auto* session = s->sessions.find(sid);
  if (!session || session->api_key() != key) co_return fail(404, "Session not found");
  auto r = play_dtmf(*s, *session, cid, digits);
  if (!r.ok()) co_return fail(r.status, r.message, r.description);
  co_return Outcome{200, "{}"};  // SPEC §4.3: an empty body or {} (the Node SDK test)
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

// The webhook sender's own parser decides: a URL it would later drop as invalid (userinfo, a bad
// port, control characters) is refused at registration, not accepted and silently never called.
bool valid_callback_url(std::string_view u) {
  return u.size() <= 2048 && parse_webhook_url(u).has_value();
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

// ---- routing ---------------------------------------------------------------------------------
//
// Every REST resource is one row of kRoutes: method, path pattern (`:name` captures a segment),
// whether the project JWT is required, and the member that serves it. `/v2/partner/…` (the
// pre-2017 prefix, SPEC §2) is matched as `/v2/project/…`. A path that matches with another
// method gets 405; no match, 404.

struct RestApi::Ctx {
  Request req;
  std::vector<std::string> parts;
  std::map<std::string, std::string, std::less<>> params;
  std::string key;  // the authenticated project (routes with auth)
  std::int64_t now_ms = 0;
  const std::string& operator[](std::string_view name) const {
    static const std::string none;
    auto it = params.find(name);
    return it == params.end() ? none : it->second;
  }
};

struct RestApi::Route {
  bhttp::verb method;
  std::string_view pattern;
  bool auth;
  asio::awaitable<Response> (RestApi::*serve)(Ctx);
};

const std::vector<RestApi::Route>& RestApi::routes() {
  static const std::vector<Route> table{
      {bhttp::verb::get, "/health", false, &RestApi::get_health},
      {bhttp::verb::get, "/metrics", false, &RestApi::get_metrics},
      {bhttp::verb::post, "/session/create", true, &RestApi::post_session},                          // SPEC §4.2
      {bhttp::verb::post, "/v2/project/:key/dial", true, &RestApi::post_dial},                       // SPEC §2
      {bhttp::verb::post, "/v2/project/:key/call", true, &RestApi::post_dial},                       // PHP's name
      {bhttp::verb::get, "/v2/project/:key/call/:call/stats", true, &RestApi::get_call_stats},       // extension
      {bhttp::verb::post, "/v2/project/:key/callback", true, &RestApi::post_callback},               // SPEC §4.7
      {bhttp::verb::get, "/v2/project/:key/callback", true, &RestApi::get_callbacks},
      {bhttp::verb::delete_, "/v2/project/:key/callback/:id", true, &RestApi::delete_callback},
      {bhttp::verb::delete_, "/v2/project/:key/session/:sid/connection/:cid", true, &RestApi::delete_connection},  // §4.1
      {bhttp::verb::post, "/v2/project/:key/session/:sid/signal", true, &RestApi::post_signal},      // SPEC §4.5
      {bhttp::verb::post, "/v2/project/:key/session/:sid/connection/:cid/signal", true, &RestApi::post_signal},
      {bhttp::verb::post, "/v2/project/:key/session/:sid/play-dtmf", true, &RestApi::post_dtmf},     // SPEC §4.3
      {bhttp::verb::post, "/v2/project/:key/session/:sid/connection/:cid/play-dtmf", true, &RestApi::post_dtmf},
      {bhttp::verb::get, "/v2/project/:key/session/:sid/stream", true, &RestApi::get_streams},       // SPEC §4.4
      {bhttp::verb::get, "/v2/project/:key/session/:sid/stream/:stream", true, &RestApi::get_streams},
      {bhttp::verb::post, "/v2/project/:key/session/:sid/mute", true, &RestApi::post_mute},          // SPEC §4.4
      {bhttp::verb::post, "/v2/project/:key/session/:sid/stream/:stream/mute", true, &RestApi::post_mute},
  };
  return table;
}

namespace {
// Matches `parts` against a pattern; captures go to `out`.
bool match(std::string_view pattern, const std::vector<std::string>& parts,
           std::map<std::string, std::string, std::less<>>& out) {
  std::size_t i = 0;
  while (!pattern.empty()) {
    pattern.remove_prefix(1);  // '/'
    auto seg = pattern.substr(0, pattern.find('/'));
    pattern.remove_prefix(seg.size());
    if (i >= parts.size()) return false;
    const auto& part = parts[i++];
    if (seg.starts_with(':')) {
      if (part.empty()) return false;
      out[std::string(seg.substr(1))] = part;
    } else if (seg != part && !(seg == "project" && i == 2 && part == "partner" && parts[0] == "v2")) {
      return false;
    }
  }
  return i == parts.size();
}
}  // namespace

asio::awaitable<Response> RestApi::handle(Request req) {
  auto& here = local();
  ++here.counters.requests;
  Ctx ctx;
  ctx.parts = split_path(req.target());
  ctx.now_ms = unix_ms();
  auto finish = [&](Response r) {
    ++here.counters.by_class[std::min<unsigned>(r.result_int() / 100, 5)];
    return r;
  };
  const Route* found = nullptr;
  bool path_matched = false;
  for (const auto& r : routes()) {
    ctx.params.clear();
    if (!match(r.pattern, ctx.parts, ctx.params)) continue;
    path_matched = true;
    if (r.method == req.method()) {
      found = &r;
      break;
    }
  }
  if (!found)
    co_return finish(path_matched ? error_response(405, "Method not allowed")
                                  : error_response(404, "Not found", "No such resource"));
  if (found->auth) {
    auto tok = header(req, "X-OPENTOK-AUTH");
    std::optional<std::string_view> path_key;
    if (auto it = ctx.params.find("key"); it != ctx.params.end()) path_key = it->second;
    auto r = verify_project_jwt(tok ? std::string_view(*tok) : std::string_view(), path_key,
                                [&](std::string_view k) { return here.projects.secret_of(k); }, ctx.now_ms / 1000,
                                opts_.jwt_skew_s);
    if (!r) {
      auto& c = here.counters;
      ++c.auth_failures;
      if (ctx.now_ms - c.auth_logged_ms >= 1000) {
        log::info("rest", "auth rejected: {} {} ({}){}", std::string_view(req.method_string()),
                  ctx.parts.empty() ? "/" : ctx.parts[0], r.error().message(),
                  c.auth_unlogged ? fmt::format("; {} more since the last line, not logged", c.auth_unlogged) : "");
        c.auth_logged_ms = ctx.now_ms;
        c.auth_unlogged = 0;
      } else {
        ++c.auth_unlogged;
      }
      co_return finish(error_response(403, "Authentication failed", r.error().message()));
    }
    ctx.key = std::move(*r);
  }
  ctx.req = std::move(req);
  Response res = error_response(500, "Internal server error");
  res = co_await (this->*(found->serve))(std::move(ctx));
  co_return finish(std::move(res));
}

// ---- operations ---------------------------------------------------------------------------------

asio::awaitable<Response> RestApi::get_health(Ctx) {
  co_return local().draining ? error_response(503, "draining") : make_response(200, R"({"status":"ok"})");
}

asio::awaitable<Response> RestApi::get_metrics(Ctx) {
  co_return make_response(200, co_await metrics_text(), "text/plain; version=0.0.4");
}

// ---- POST /session/create (SPEC §4.2) -------------------------------------------------------------
asio::awaitable<Response> RestApi::post_session(Ctx c) {
  auto form = form_parse(c.req.body());
  if (!form) co_return error_response(400, "Malformed form body");
  MediaMode mode = MediaMode::relayed;  // OpenTok's default when p2p.preference is absent
  ArchiveMode archive = ArchiveMode::manual;
  std::string location;
  for (auto& [k, v] : *form) {
    if (k == "p2p.preference") {
      if (v == "enabled") mode = MediaMode::relayed;
      else if (v == "disabled") mode = MediaMode::routed;
      else co_return error_response(400, "Invalid p2p.preference", "Use enabled or disabled");
    } else if (k == "archiveMode") {
      if (v == "manual") archive = ArchiveMode::manual;
      else if (v == "always") archive = ArchiveMode::always;
      else co_return error_response(400, "Invalid archiveMode", "Use manual or always");
    } else if (k == "location") {
      if (!v.empty() && !valid_ipv4(v)) co_return error_response(400, "Invalid location", "Use an IPv4 address");
      location = v;
    } else if (k == "e2ee") {
      // Validated here; whether it fits the media mode is checked once every field is read.
      if (v != "true" && v != "false") co_return error_response(400, "Invalid e2ee", "Use true or false");
    }
  }
  if (archive == ArchiveMode::always && mode != MediaMode::routed)
    co_return error_response(400, "archiveMode always requires a routed session");
  for (auto& [k, v] : *form)
    if (k == "e2ee" && v == "true" && mode != MediaMode::routed)
      co_return error_response(400, "e2ee requires a routed session");
  std::string sid = core::make_session_id(c.key, location, c.now_ms);
  auto& o = owner(sid);
  auto out = co_await runtime::on_shard(o.shard, create_session_on(&o, sid, c.key, mode, archive, location, c.now_ms));
  if (out.status != 200) co_return to_response(std::move(out));
  log::info("rest", "session created sid={} key={} mode={}", sid, c.key, mode == MediaMode::routed ? "routed" : "relayed");
  auto accept = header(c.req, "Accept");
  const std::string create_dt = format_create_dt(c.now_ms);
  if (accept && accept->find("application/json") != std::string::npos) {
    json::array a{json::object{{"session_id", sid},
                               {"project_id", c.key},
                               {"partner_id", c.key},
                               {"create_dt", create_dt},
                               {"media_server_url", ""}}};
    co_return make_response(200, json::serialize(a));
  }
  co_return make_response(
      200,
      fmt::format(R"(<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sessions><Session><session_id>{}</session_id><partner_id>{}</partner_id><create_dt>{}</create_dt></Session></sessions>)",
                  sid, c.key, create_dt),
      "text/xml");
}

// ---- POST /dial, /call (SPEC §2) ------------------------------------------------------------------
asio::awaitable<Response> RestApi::post_dial(Ctx c) {
  auto& here = local();
  if (c.req.body().size() > opts_.dial_body_limit) co_return error_response(413, "Request body too large");
  std::string detail;
  auto d = parse_dial_request(c.req.body(), &detail);
  if (!d) {
    ++here.counters.dial_rejected;
    co_return error_response(400, "Invalid request", detail.empty() ? d.error().message() : detail);
  }
  if (auto bad = check_session_id(d->session_id, c.key)) co_return to_response(std::move(*bad));
  auto& o = owner(d->session_id);
  auto out = co_await runtime::on_shard(o.shard, dial_on(&o, c.key, std::move(*d), c.now_ms / 1000));
  if (out.status >= 400) ++here.counters.dial_rejected;
  co_return to_response(std::move(out));
}

// ---- GET /call/{callId}/stats: the call's media statistics (a Switchboard extension) --------------
asio::awaitable<Response> RestApi::get_call_stats(Ctx c) {
  const auto& id = c["call"];
  if (id.size() > 64) co_return error_response(400, "Invalid call ID");
  for (auto* s : shards_) {
    auto found = co_await runtime::on_shard(s->shard, call_stats_on(s, c.key, id));
    if (found) co_return make_response(200, std::move(*found));
  }
  co_return error_response(404, "Call not found");
}

// ---- callback registration (SPEC §4.7, §9) ----------------------------------------------------------
asio::awaitable<Response> RestApi::post_callback(Ctx c) {
  std::string why;
  auto body = parse_object(c.req.body(), why);
  if (!body) co_return error_response(400, why);
  auto str = [&](const char* f) -> std::string {
    auto* v = body->if_contains(f);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  core::Callback cb{uuid_v4(), str("group"), str("event"), str("url"), c.now_ms};
  if (cb.group != "sip" && cb.group != "connection" && cb.group != "stream")
    co_return error_response(400, "Invalid group", "Use sip, connection or stream");
  if (cb.event.empty()) cb.event = cb.group == "sip" ? "all" : "";
  if (cb.event.empty() || cb.event.size() > 64) co_return error_response(400, "Invalid event");
  if (!valid_callback_url(cb.url)) co_return error_response(400, "Invalid url", "Use an http:// or https:// URL");
  // Broadcast: every shard keeps its own copy of the project table.
  for (auto* s : shards_) {
    if (!co_await runtime::on_shard(s->shard, add_callback_on(s, c.key, cb)))
      co_return error_response(409, "Too many callbacks registered");
  }
  co_return make_response(200, json::serialize(callback_json(cb)));
}

asio::awaitable<Response> RestApi::get_callbacks(Ctx c) {
  json::array items;
  if (auto* p = local().projects.find(c.key))
    for (const auto& cb : p->callbacks) items.emplace_back(callback_json(cb));
  co_return make_response(200, json::serialize(items));
}

asio::awaitable<Response> RestApi::delete_callback(Ctx c) {
  bool found = false;
  for (auto* s : shards_) found = co_await runtime::on_shard(s->shard, remove_callback_on(s, c.key, c["id"])) || found;
  co_return found ? make_response(204, "") : error_response(404, "Callback not found");
}

// ---- /session/{sid}/… -----------------------------------------------------------------------------
// Session ID and connection ID shapes are checked where the request arrived (400), so the
// owning shard only sees plausible IDs.
std::optional<Response> RestApi::check_ids(const Ctx& c) {
  if (auto bad = check_session_id(c["sid"], c.key)) return to_response(std::move(*bad));
  if (c.params.contains("cid") && c["cid"].size() > 128) return error_response(400, "Invalid connection ID");
  return std::nullopt;
}

asio::awaitable<Response> RestApi::delete_connection(Ctx c) {  // SPEC §4.1
  if (auto bad = check_ids(c)) co_return std::move(*bad);
  auto& o = owner(c["sid"]);
  co_return to_response(co_await runtime::on_shard(o.shard, disconnect_on(&o, c.key, c["sid"], c["cid"])));
}

asio::awaitable<Response> RestApi::post_signal(Ctx c) {  // SPEC §4.5
  if (auto bad = check_ids(c)) co_return std::move(*bad);
  std::string why;
  auto body = parse_object(c.req.body(), why);
  if (!body) co_return error_response(400, why);
  auto* t = body->if_contains("type");
  auto* dv = body->if_contains("data");
  if ((t && !t->is_string() && !t->is_null()) || !dv || !dv->is_string())
    co_return error_response(400, "Invalid signal", "type must be a string and data a string");
  std::string type = t && t->is_string() ? std::string(t->as_string()) : std::string();
  std::string data(dv->as_string());
  if (type.size() > kSignalTypeMax || data.size() > kSignalDataMax)
    co_return error_response(413, "Signal too large", "type ≤ 128 bytes and data ≤ 8 kB");
  auto& o = owner(c["sid"]);
  co_return to_response(co_await runtime::on_shard(o.shard, signal_on(&o, c.key, c["sid"], c["cid"], type, data)));
}

asio::awaitable<Response> RestApi::post_dtmf(Ctx c) {  // SPEC §4.3
  if (auto bad = check_ids(c)) co_return std::move(*bad);
  std::string why;
  auto body = parse_object(c.req.body(), why);
  if (!body) co_return error_response(400, why);
  auto* dv = body->if_contains("digits");
  if (!dv || !dv->is_string() || !valid_dtmf(dv->as_string()))
    co_return error_response(400, "Invalid digits", "digits may hold only 0-9, *, # and p");
  auto& o = owner(c["sid"]);
  co_return to_response(
      co_await runtime::on_shard(o.shard, dtmf_on(&o, c.key, c["sid"], c["cid"], std::string(dv->as_string()))));
}

// Force mute (SPEC §4.4): one stream (`…/stream/{id}/mute`, always active), or the whole session
// with `active` (default true; false lifts the session's mute) and the streams to spare in
// `excludedStreamIds` (Node, Java, .NET…) or `excludedStreams` (Python). 200 with `{}`; 404 for an
// unknown session or stream; 400 for a body of the wrong shape.
asio::awaitable<Response> RestApi::post_mute(Ctx c) {
  if (auto bad = check_ids(c)) co_return std::move(*bad);
  bool active = true;
  std::vector<std::string> excluded;
  if (!c.req.body().empty()) {
    std::string why;
    auto body = parse_object(c.req.body(), why);
    if (!body) co_return error_response(400, why);
    if (auto* a = body->if_contains("active"); a && !a->is_null()) {
      if (!a->is_bool()) co_return error_response(400, "Invalid mute", "active must be a boolean");
      active = a->as_bool();
    }
    for (const char* name : {"excludedStreamIds", "excludedStreams"}) {
      auto* ex = body->if_contains(name);
      if (!ex || ex->is_null()) continue;
      if (!ex->is_array()) co_return error_response(400, "Invalid mute", std::string(name) + " must be an array of stream IDs");
      for (const auto& v : ex->as_array()) {
        if (!v.is_string() || v.as_string().size() > 128 || excluded.size() >= 256)
          co_return error_response(400, "Invalid mute", "at most 256 stream IDs, as strings");
        excluded.emplace_back(v.as_string());
      }
    }
  }
  const std::string sid = c["sid"], stream = c["stream"];
  if (!stream.empty() && !active) co_return error_response(400, "Invalid mute", "a stream is un-muted by its publisher");
  auto& o = owner(sid);
  co_return to_response(co_await runtime::on_shard(o.shard, mute_on(&o, c.key, sid, stream, active, std::move(excluded))));
}

asio::awaitable<Response> RestApi::get_streams(Ctx c) {  // SPEC §4.4
  if (auto bad = check_ids(c)) co_return std::move(*bad);
  auto& o = owner(c["sid"]);
  // Named locals, not a conditional, inside co_await: GCC 12 miscompiles temporaries of
  // conditional expressions in a co_await full-expression.
  std::string sid = c["sid"], stream_id = c["stream"];
  auto out = co_await runtime::on_shard(o.shard, streams_on(&o, c.key, sid, stream_id));
  co_return to_response(std::move(out));
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
  double busy = 0, busiest_shard = 0;  // the shard's CPU share over the last second; the max
};
asio::awaitable<Snapshot> snapshot_on(ShardServices* s) {
  Snapshot x{s->counters, s->webhooks.stats(), s->sessions.size(), s->sessions.evicted()};
  if (s->media_totals) x.media = s->media_totals();
  if (s->load) x.busy = s->load->busy();
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
    total.rest.dials_refused_busy += x.rest.dials_refused_busy;
    total.busiest_shard = std::max(total.busiest_shard, x.busy);
    total.rest.signals += x.rest.signals;
    total.rest.force_disconnects += x.rest.force_disconnects;
    total.webhooks.enqueued += x.webhooks.enqueued;
    total.webhooks.delivered += x.webhooks.delivered;
    total.webhooks.retried += x.webhooks.retried;
    total.webhooks.dropped_overflow += x.webhooks.dropped_overflow;
    total.webhooks.dropped_exhausted += x.webhooks.dropped_exhausted;
    total.webhooks.dropped_rejected += x.webhooks.dropped_rejected;
    total.webhooks.backlog += x.webhooks.backlog;
    total.webhooks.reserved += x.webhooks.reserved;
    total.sessions += x.sessions;
    total.evicted += x.evicted;
    total.active_calls += x.active_calls;
    total.ua.calls_started += x.ua.calls_started;
    total.ua.calls_ended += x.ua.calls_ended;
    total.ua.unmatched_responses += x.ua.unmatched_responses;
    total.ua.out_of_dialog_requests += x.ua.out_of_dialog_requests;
    total.ua.inbox_overflow += x.ua.inbox_overflow;
    total.ua.invalid_messages += x.ua.invalid_messages;
    total.ua.media_failures += x.ua.media_failures;
    total.transport.received += x.transport.received;
    total.transport.sent += x.transport.sent;
    total.transport.malformed += x.transport.malformed;
    total.transport.too_large += x.transport.too_large;
    total.transport.rate_limited += x.transport.rate_limited;
    total.transport.send_errors += x.transport.send_errors;
    total.transport.connections_opened += x.transport.connections_opened;
    total.transport.connections_closed += x.transport.connections_closed;
    total.transport.connections_refused += x.transport.connections_refused;
    total.transport.connections_evicted += x.transport.connections_evicted;
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
  add("switchboard_dials_refused_busy_total", "counter",
      "Dials refused with 503 because their shard's CPU was saturated (limits.shardBusyPercent)",
      total.rest.dials_refused_busy);
  out += fmt::format("# HELP switchboard_shard_busy_ratio CPU share of the busiest shard thread over the last second\n"
                     "# TYPE switchboard_shard_busy_ratio gauge\nswitchboard_shard_busy_ratio {:.3f}\n",
                     total.busiest_shard);
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
  add("switchboard_webhook_reserved", "gauge", "Webhook queue room reserved for calls' callCreated/callDestroyed",
      total.webhooks.reserved);
  add("switchboard_calls_active", "gauge", "SIP calls in progress", total.active_calls);
  add("switchboard_calls_started_total", "counter", "SIP calls placed", total.ua.calls_started);
  add("switchboard_calls_media_failed_total", "counter", "SIP calls ended because their media failed (BYE)",
      total.ua.media_failures);
  out += "# HELP switchboard_calls_ended_total SIP calls ended, by outcome\n# TYPE switchboard_calls_ended_total counter\n";
  out += fmt::format("switchboard_calls_ended_total{{outcome=\"normal\"}} {}\n", total.rest.calls_by_outcome[0]);
  out += fmt::format("switchboard_calls_ended_total{{outcome=\"sip_failure\"}} {}\n", total.rest.calls_by_outcome[1]);
  out += fmt::format("switchboard_calls_ended_total{{outcome=\"timeout_or_limit\"}} {}\n", total.rest.calls_by_outcome[2]);
  add("switchboard_sip_messages_received_total", "counter", "SIP messages received", total.transport.received);
  add("switchboard_sip_messages_sent_total", "counter", "SIP messages sent", total.transport.sent);
  add("switchboard_sip_send_errors_total", "counter", "SIP sends that failed", total.transport.send_errors);
  add("switchboard_sip_connections", "gauge", "SIP TCP/TLS connections open (accepted and ours)",
      total.transport.connections_opened - total.transport.connections_closed);
  add("switchboard_sip_connections_opened_total", "counter", "SIP TCP/TLS connections accepted or opened",
      total.transport.connections_opened);
  add("switchboard_sip_connections_refused_total", "counter",
      "SIP TCP/TLS connections refused at the connection limit (every candidate busy)", total.transport.connections_refused);
  add("switchboard_sip_connections_evicted_total", "counter",
      "SIP TCP/TLS connections closed to make room (silent strangers first, then the idle)",
      total.transport.connections_evicted);
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
  add("switchboard_media_relaying", "gauge", "Sessions in passthrough (two SIP legs on one codec, or a SIP leg and a browser on Opus: no decode, mix or encode)",
      m.relaying);
  add("switchboard_media_relayed_packets_total", "counter", "RTP packets sent by SIP legs in passthrough (from the other leg or a browser)", m.relayed);
  add("switchboard_media_socket_drops_total", "counter",
      "Datagrams the kernel dropped on media legs' sockets (receive buffer full)", m.socket_drops);
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
  for (auto& extra : extra_metrics_) out += co_await extra();
  co_return out;
}

}  // namespace sb::http
