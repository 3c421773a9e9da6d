#include "signaling/raptor.hpp"

#include <boost/json.hpp>

#include <array>

namespace sb::signaling {
namespace json = boost::json;

std::optional<RaptorUri> parse_raptor_uri(std::string_view uri) noexcept {
  RaptorUri u;
  constexpr std::string_view prefix = "/v2/";
  if (!uri.starts_with(prefix)) return std::nullopt;
  std::string_view rest = uri.substr(prefix.size());
  std::string_view last_key;
  bool after_subscriber = false, after_stream = false;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view key = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (key == "migrate" && rest.empty()) {  // the only key without a value
      last_key = key;
      break;
    }
    slash = rest.find('/');
    std::string_view value = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (value.empty() || value.size() > kMaxRaptorId) return std::nullopt;
    std::string_view* slot = nullptr;
    if (key == "partner") slot = &u.partner;
    else if (key == "session") slot = &u.session;
    else if (key == "connection") slot = &u.connection;
    else if (key == "stream") slot = &u.stream, after_stream = true;
    else if (key == "subscriber") slot = &u.subscriber, after_subscriber = true;
    else if (key == "channel") slot = &u.channel;
    else if (key == "signal") slot = &u.signal;
    else if (key == "data") slot = &u.data;
    else if (key == "archive") slot = &u.archive;
    else return std::nullopt;
    if (!slot->empty()) return std::nullopt;  // a key twice
    *slot = value;
    last_key = key;
  }
  if (u.partner.empty() || u.session.empty()) return std::nullopt;
  if (last_key == "channel") u.resource = after_subscriber ? "subscriber_channel" : after_stream ? "stream_channel" : "channel";
  else u.resource = last_key;
  return u;
}

std::optional<RaptorMessage> parse_raptor(std::string_view payload, std::string* why) {
  auto fail = [&](const char* w) -> std::optional<RaptorMessage> {
    if (why) *why = w;
    return std::nullopt;
  };
  json::parse_options po;
  po.max_depth = kMaxRaptorDepth;
  boost::system::error_code ec;
  json::value v = json::parse(payload, ec, {}, po);
  if (ec) return fail("not JSON");
  auto* o = v.if_object();
  if (!o) return fail("not a JSON object");
  auto* m = o->if_contains("method");
  auto* u = o->if_contains("uri");
  if (!m || !m->is_string() || !u || !u->is_string()) return fail("method and uri must be strings");
  RaptorMessage msg;
  msg.method = std::string(m->as_string());
  msg.uri = std::string(u->as_string());
  if (auto* c = o->if_contains("content")) {
    if (c->is_object()) msg.content = std::move(c->as_object());
    else if (!c->is_null()) return fail("content must be an object");
  }
  if (auto* r = o->if_contains("reason"); r && r->is_string()) msg.reason = std::string(r->as_string());
  return msg;
}

std::string serialize_raptor(std::string_view method, std::string_view uri, const json::value& content,
                             std::string_view reason) {
  json::object o;
  o["method"] = method;
  o["uri"] = uri;
  o["content"] = content;
  if (!reason.empty()) o["reason"] = reason;
  return json::serialize(o);
}

std::string session_uri(std::string_view api_key, std::string_view session_id) {
  std::string s = "/v2/partner/";
  s.append(api_key).append("/session/").append(session_id);
  return s;
}

}  // namespace sb::signaling
