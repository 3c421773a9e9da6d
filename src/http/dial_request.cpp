#include "http/dial_request.hpp"

#include "base/text.hpp"
#include "sip/invite_headers.hpp"

#include <boost/json.hpp>

#include <array>

namespace sb::http {
namespace {

namespace json = boost::json;
using boost::system::result;

class dial_request_category_impl final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "sb.dial_request"; }
  std::string message(int ev) const override {
    switch (static_cast<dial_request_error>(ev)) {
    case dial_request_error::bad_json: return "request body is not valid JSON";
    case dial_request_error::not_object: return "request body is not a JSON object";
    case dial_request_error::missing_field: return "a required field is missing";
    case dial_request_error::bad_type: return "a field has the wrong type";
    case dial_request_error::bad_uri: return "sip.uri is not a valid SIP URI";
    case dial_request_error::bad_header: return "a custom SIP header is not allowed";
    case dial_request_error::bad_value: return "a field has an invalid value";
    case dial_request_error::too_large: return "request body is too large";
    }
    return "unknown dial request error";
  }
};

// Far deeper than any SDK's body (root → sip → headers is 3); bounds the parser on hostile input.
constexpr std::size_t max_json_depth = 16;

bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7F; }

// A JSON member that is absent or null (NET omits nulls, other SDKs send them).
const json::value* member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

// sip.uri: scheme sip/sips (RFC 3261 §19.1.1, case-insensitive per RFC 3986 §3.1), then optional
// userinfo "@", then a host: hostname, IPv4 or bracketed IPv6 reference, optional port. No
// whitespace or control characters anywhere (the URI goes verbatim into the request line).
bool valid_sip_uri(std::string_view uri) {
  if (uri.size() > dial_max_uri_size) return false;
  for (const char c : uri) {
    if (is_ctl(static_cast<unsigned char>(c)) || c == ' ') return false;
  }
  std::string_view rest;
  if (ascii_istarts_with(uri, "sip:")) {
    rest = uri.substr(4);
  } else if (ascii_istarts_with(uri, "sips:")) {
    rest = uri.substr(5);
  } else {
    return false;
  }
  // The user part cannot hold a raw '@' (it must be escaped, RFC 3261 §25.1 "user"), so the first
  // '@' ends it. A '@' after ';' or '?' belongs to parameters/headers, not to userinfo.
  const std::size_t at = rest.find('@');
  const std::size_t delim = rest.find_first_of(";?");
  if (at != std::string_view::npos && (delim == std::string_view::npos || at < delim)) {
    if (at == 0) return false; // empty user part
    rest.remove_prefix(at + 1);
  }
  std::string_view host = rest.substr(0, rest.find_first_of(";?"));
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (const char c : host.substr(1, close - 1)) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                      c == ':' || c == '.';
      if (!ok) return false;
    }
    const std::string_view after = host.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port = after.substr(1);
      if (port.empty()) return false;
    }
  } else {
    const std::size_t colon = host.find(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    for (const char c : host) {
      // RFC 3261 §25.1 hostname: alphanum, '-', '.'; '_' tolerated as resolvers do.
      const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
      if (!ok) return false;
    }
  }
  if (!port.empty()) {
    if (port.size() > 5) return false;
    unsigned value = 0;
    for (const char c : port) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return false;
  }
  return true;
}

result<bool> read_bool(const json::object& sip, std::string_view key, std::string& detail) {
  const json::value* v = member(sip, key);
  if (v == nullptr) return false;
  if (v->is_bool()) return v->get_bool();
  if (v->is_string()) {
    // RUBY examples and cassettes send "true"/"false" (SPEC §2.1 type leniency).
    if (v->get_string() == "true") return true;
    if (v->get_string() == "false") return false;
    detail = "sip." + std::string(key) + " must be true or false";
    return dial_request_error::bad_value;
  }
  detail = "sip." + std::string(key) + " must be a boolean";
  return dial_request_error::bad_type;
}

result<std::string> read_required_string(const json::object& o, std::string_view key,
                                         std::string_view label, std::size_t max,
                                         std::string& detail) {
  const json::value* v = member(o, key);
  if (v == nullptr || (v->is_string() && v->get_string().empty())) {
    detail = std::string(label) + " is required";
    return dial_request_error::missing_field;
  }
  if (!v->is_string()) {
    detail = std::string(label) + " must be a string";
    return dial_request_error::bad_type;
  }
  if (v->get_string().size() > max) {
    detail = std::string(label) + " is too long";
    return dial_request_error::bad_value;
  }
  return std::string(v->get_string());
}

result<void> parse_headers(const json::value& v, DialRequest::Sip& sip, std::string& detail) {
  if (!v.is_object()) {
    detail = "sip.headers must be an object of strings";
    return dial_request_error::bad_type;
  }
  const json::object& h = v.get_object();
  if (h.size() > dial_max_headers) {
    detail = "sip.headers has more than 32 headers";
    return dial_request_error::bad_header;
  }
  for (const auto& kv : h) {
    const std::string_view name = kv.key();
    if (name.size() > dial_max_header_name_size || !is_sip_token(name)) {
      detail = "sip.headers names must be SIP tokens (RFC 3261 section 25.1)";
      return dial_request_error::bad_header;
    }
    // From here the name is a short token, safe to quote back. A header the INVITE builder
    // writes itself is refused rather than sent twice (one list: sip/invite_headers.hpp).
    if (sip::gateway_writes_header(name)) {
      detail = "sip.headers: " + std::string(name) + " is set by the gateway and cannot be overridden";
      return dial_request_error::bad_header;
    }
    if (!kv.value().is_string()) {
      detail = "sip.headers: the value of " + std::string(name) + " must be a string";
      return dial_request_error::bad_type;
    }
    const std::string_view value = kv.value().get_string();
    if (value.size() > dial_max_header_value_size) {
      detail = "sip.headers: the value of " + std::string(name) + " is too long";
      return dial_request_error::bad_header;
    }
    for (const char c : value) {
      // CR/LF would inject header lines; NUL and other controls are never valid header text
      // (RFC 3261 §25.1 TEXT-UTF8char). Horizontal tab is linear whitespace and allowed.
      const auto b = static_cast<unsigned char>(c);
      if (is_ctl(b) && c != '\t') {
        detail = "sip.headers: the value of " + std::string(name) +
                 " contains a control character";
        return dial_request_error::bad_header;
      }
    }
    sip.headers.emplace_back(std::string(name), std::string(value));
  }
  return {};
}

result<void> parse_auth(const json::value& v, DialRequest::Sip& sip, std::string& detail) {
  if (!v.is_object()) {
    detail = "sip.auth must be an object";
    return dial_request_error::bad_type;
  }
  const json::object& a = v.get_object();
  const json::value* user = member(a, "username");
  const json::value* pass = member(a, "password");
  // JAVA only sends auth with both parts set; a half-filled auth is a client mistake.
  if (user == nullptr || pass == nullptr) {
    detail = "sip.auth needs both username and password";
    return dial_request_error::missing_field;
  }
  if (!user->is_string() || !pass->is_string()) {
    detail = "sip.auth username and password must be strings";
    return dial_request_error::bad_type;
  }
  const std::string_view u = user->get_string();
  const std::string_view p = pass->get_string();
  if (u.empty() || u.size() > dial_max_auth_field_size || p.size() > dial_max_auth_field_size) {
    detail = "sip.auth username must be 1 to 256 bytes and password at most 256";
    return dial_request_error::bad_value;
  }
  for (const char c : u) {
    // The username is quoted into the Authorization header (RFC 3261 §22.4).
    if (is_ctl(static_cast<unsigned char>(c))) {
      detail = "sip.auth username contains a control character";
      return dial_request_error::bad_value;
    }
  }
  sip.auth.emplace(std::string(u), std::string(p));
  return {};
}

result<void> parse_streams(const json::value& v, DialRequest::Sip& sip, std::string& detail) {
  if (!v.is_array()) {
    detail = "sip.streams must be an array of stream IDs";
    return dial_request_error::bad_type;
  }
  const json::array& arr = v.get_array();
  if (arr.size() > dial_max_streams) {
    detail = "sip.streams lists too many streams";
    return dial_request_error::bad_value;
  }
  for (const json::value& s : arr) {
    if (!s.is_string()) {
      detail = "sip.streams must be an array of stream IDs";
      return dial_request_error::bad_type;
    }
    const std::string_view id = s.get_string();
    if (id.empty() || id.size() > dial_max_stream_id_size) {
      detail = "sip.streams has an empty or overlong stream ID";
      return dial_request_error::bad_value;
    }
    for (const char c : id) {
      if (is_ctl(static_cast<unsigned char>(c))) {
        detail = "sip.streams has a stream ID with a control character";
        return dial_request_error::bad_value;
      }
    }
    sip.streams.emplace_back(id);
  }
  return {};
}

result<DialRequest> parse(std::string_view body, std::string& detail) {
  if (body.size() > dial_max_body_size) {
    detail = "request body exceeds 64 KiB";
    return dial_request_error::too_large;
  }
  // Boost.JSON rejects invalid UTF-8 in strings by default (parse_options::allow_invalid_utf8).
  json::parse_options opts;
  opts.max_depth = max_json_depth;
  boost::system::error_code ec;
  // The tree only lives for this call: a monotonic arena makes it one allocation in the common
  // case and frees it all at once.
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  const json::value root = json::parse(body, ec, &mr, opts);
  if (ec) {
    detail = "request body is not valid JSON";
    return dial_request_error::bad_json;
  }
  if (!root.is_object()) {
    detail = "request body must be a JSON object";
    return dial_request_error::not_object;
  }
  const json::object& o = root.get_object();

  DialRequest out;
  auto sid = read_required_string(o, "sessionId", "sessionId", dial_max_session_id_size, detail);
  if (!sid) return sid.error();
  out.session_id = std::move(*sid);
  auto token = read_required_string(o, "token", "token", dial_max_token_size, detail);
  if (!token) return token.error();
  out.token = std::move(*token);

  const json::value* sipv = member(o, "sip");
  if (sipv == nullptr) {
    detail = "sip is required";
    return dial_request_error::missing_field;
  }
  if (!sipv->is_object()) {
    detail = "sip must be an object";
    return dial_request_error::bad_type;
  }
  const json::object& sip = sipv->get_object();

  const json::value* uri = member(sip, "uri");
  if (uri == nullptr || (uri->is_string() && uri->get_string().empty())) {
    detail = "sip.uri is required";
    return dial_request_error::missing_field;
  }
  if (!uri->is_string()) {
    detail = "sip.uri must be a string";
    return dial_request_error::bad_type;
  }
  if (!valid_sip_uri(uri->get_string())) {
    detail = "sip.uri must be a sip: or sips: URI with a host, at most 1024 bytes, without spaces "
             "or control characters";
    return dial_request_error::bad_uri;
  }
  out.sip.uri = std::string(uri->get_string());

  if (const json::value* from = member(sip, "from")) {
    if (!from->is_string()) {
      detail = "sip.from must be a string";
      return dial_request_error::bad_type;
    }
    const std::string_view f = from->get_string();
    if (f.size() > dial_max_from_size) {
      detail = "sip.from is longer than 256 bytes";
      return dial_request_error::bad_value;
    }
    for (const char c : f) {
      // It is placed inside the From header's <...> by the gateway (SPEC §2.1 "from@example.com").
      if (is_ctl(static_cast<unsigned char>(c)) || c == '<' || c == '>') {
        detail = "sip.from must not contain '<', '>' or control characters";
        return dial_request_error::bad_value;
      }
    }
    out.sip.from = std::string(f);
  }

  if (const json::value* h = member(sip, "headers")) {
    if (auto r = parse_headers(*h, out.sip, detail); !r) return r.error();
  }
  if (const json::value* a = member(sip, "auth")) {
    if (auto r = parse_auth(*a, out.sip, detail); !r) return r.error();
  }
  auto secure = read_bool(sip, "secure", detail);
  if (!secure) return secure.error();
  out.sip.secure = *secure;
  auto video = read_bool(sip, "video", detail);
  if (!video) return video.error();
  if (*video) {
    // SPEC §2.1 lets a dial ask for video; this gateway carries audio only. Accepting the flag
    // and dialling an audio call would be a success for a behaviour nobody gets, so it is refused.
    detail = "sip.video: video over SIP is not supported by this server; omit it or send false";
    return dial_request_error::bad_value;
  }
  out.sip.video = false;
  auto mute = read_bool(sip, "observeForceMute", detail);
  if (!mute) return mute.error();
  out.sip.observe_force_mute = *mute;
  if (const json::value* s = member(sip, "streams")) {
    if (auto r = parse_streams(*s, out.sip, detail); !r) return r.error();
  }
  return out;
}

} // namespace

const boost::system::error_category& dial_request_category() noexcept {
  static const dial_request_category_impl cat;
  return cat;
}

boost::system::error_code make_error_code(dial_request_error e) noexcept {
  return {static_cast<int>(e), dial_request_category()};
}

boost::system::result<DialRequest> parse_dial_request(std::string_view body, std::string* detail) {
  std::string scratch;
  auto r = parse(body, detail != nullptr ? *detail : scratch);
  return r;
}

} // namespace sb::http
