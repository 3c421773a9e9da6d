// SIP messages, RFC 3261 §7 / §25. See message.hpp.
#include "sip/message.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "sip/uri.hpp"

namespace sb::sip {

using detail::cc_digit;
using detail::cc_token;
using detail::is;

// ---------------------------------------------------------------------------------------------
// Errors

namespace {

class SipCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sip.message"; }
  std::string message(int ev) const override {
    switch (static_cast<sip_error>(ev)) {
      case sip_error::need_more: return "need more bytes";
      case sip_error::malformed: return "malformed SIP message";
      case sip_error::too_large: return "SIP message exceeds a size limit";
      case sip_error::unsafe_value: return "value contains CR, LF or a control character";
      case sip_error::invalid_token: return "method or header name is not a token";
      case sip_error::invalid_status: return "status code outside 100-699";
      case sip_error::invalid_uri: return "Request-URI is not an absolute URI";
      case sip_error::content_length_managed: return "Content-Length is computed by the writer";
      case sip_error::bad_sequence: return "start line missing or written twice";
    }
    return "unknown sip.message error";
  }
};

} // namespace

const std::error_category& sip_category() noexcept {
  static const SipCategory category;
  return category;
}

std::error_code make_error_code(sip_error e) noexcept {
  return {static_cast<int>(e), sip_category()};
}

std::error_code to_error_code(parse_status s) noexcept {
  switch (s) {
    case parse_status::ok: return {};
    case parse_status::need_more: return sip_error::need_more;
    case parse_status::malformed: return sip_error::malformed;
    case parse_status::too_large: return sip_error::too_large;
  }
  return sip_error::malformed;
}

// ---------------------------------------------------------------------------------------------
// Methods and header names

namespace {

struct MethodName {
  std::string_view text;
  Method id;
};
constexpr std::array<MethodName, 13> k_methods{{
    {"INVITE", Method::invite},
    {"ACK", Method::ack},
    {"BYE", Method::bye},
    {"CANCEL", Method::cancel},
    {"OPTIONS", Method::options},
    {"REGISTER", Method::register_},
    {"INFO", Method::info},
    {"UPDATE", Method::update},
    {"PRACK", Method::prack},
    {"SUBSCRIBE", Method::subscribe},
    {"NOTIFY", Method::notify},
    {"REFER", Method::refer},
    {"MESSAGE", Method::message},
}};

struct HeaderName {
  std::string_view name;
  HeaderId id;
  char compact; // RFC 3261 §7.3.3 and extensions; 0 when none
};
// In HeaderId order, so header_name() can index it.
constexpr HeaderName k_headers[] = {
    {"Via", HeaderId::via, 'v'},
    {"From", HeaderId::from, 'f'},
    {"To", HeaderId::to, 't'},
    {"Call-ID", HeaderId::call_id, 'i'},
    {"CSeq", HeaderId::cseq, 0},
    {"Contact", HeaderId::contact, 'm'},
    {"Max-Forwards", HeaderId::max_forwards, 0},
    {"Content-Length", HeaderId::content_length, 'l'},
    {"Content-Type", HeaderId::content_type, 'c'},
    {"Content-Encoding", HeaderId::content_encoding, 'e'},
    {"Content-Disposition", HeaderId::content_disposition, 0},
    {"Content-Language", HeaderId::content_language, 0},
    {"MIME-Version", HeaderId::mime_version, 0},
    {"Route", HeaderId::route, 0},
    {"Record-Route", HeaderId::record_route, 0},
    {"Path", HeaderId::path, 0},                   // RFC 3327
    {"Service-Route", HeaderId::service_route, 0}, // RFC 3608
    {"Expires", HeaderId::expires, 0},
    {"Min-Expires", HeaderId::min_expires, 0},
    {"Session-Expires", HeaderId::session_expires, 'x'}, // RFC 4028
    {"Min-SE", HeaderId::min_se, 0},                     // RFC 4028
    {"Retry-After", HeaderId::retry_after, 0},
    {"WWW-Authenticate", HeaderId::www_authenticate, 0},
    {"Proxy-Authenticate", HeaderId::proxy_authenticate, 0},
    {"Authorization", HeaderId::authorization, 0},
    {"Proxy-Authorization", HeaderId::proxy_authorization, 0},
    {"Authentication-Info", HeaderId::authentication_info, 0},
    {"Supported", HeaderId::supported, 'k'},
    {"Require", HeaderId::require, 0},
    {"Proxy-Require", HeaderId::proxy_require, 0},
    {"Unsupported", HeaderId::unsupported, 0},
    {"Allow", HeaderId::allow, 0},
    {"Allow-Events", HeaderId::allow_events, 'u'}, // RFC 3265/6665
    {"Accept", HeaderId::accept, 0},
    {"Accept-Encoding", HeaderId::accept_encoding, 0},
    {"Accept-Language", HeaderId::accept_language, 0},
    {"Accept-Contact", HeaderId::accept_contact, 'a'},           // RFC 3841
    {"Reject-Contact", HeaderId::reject_contact, 'j'},           // RFC 3841
    {"Request-Disposition", HeaderId::request_disposition, 'd'}, // RFC 3841
    {"Subject", HeaderId::subject, 's'},
    {"Event", HeaderId::event, 'o'}, // RFC 3265/6665
    {"Subscription-State", HeaderId::subscription_state, 0},
    {"Refer-To", HeaderId::refer_to, 'r'},       // RFC 3515
    {"Referred-By", HeaderId::referred_by, 'b'}, // RFC 3892
    {"Refer-Sub", HeaderId::refer_sub, 0},       // RFC 4488
    {"Replaces", HeaderId::replaces, 0},         // RFC 3891
    {"Identity", HeaderId::identity, 'y'},       // RFC 8224 (was RFC 4474)
    {"User-Agent", HeaderId::user_agent, 0},
    {"Server", HeaderId::server, 0},
    {"Date", HeaderId::date, 0},
    {"Timestamp", HeaderId::timestamp, 0},
    {"Warning", HeaderId::warning, 0},
    {"RSeq", HeaderId::rseq, 0}, // RFC 3262
    {"RAck", HeaderId::rack, 0}, // RFC 3262
    {"Reason", HeaderId::reason, 0}, // RFC 3326
    {"P-Asserted-Identity", HeaderId::p_asserted_identity, 0},   // RFC 3325
    {"P-Preferred-Identity", HeaderId::p_preferred_identity, 0}, // RFC 3325
    {"Privacy", HeaderId::privacy, 0},                           // RFC 3323
    {"Organization", HeaderId::organization, 0},
    {"Priority", HeaderId::priority, 0},
    {"In-Reply-To", HeaderId::in_reply_to, 0},
    {"Reply-To", HeaderId::reply_to, 0},
    {"Alert-Info", HeaderId::alert_info, 0},
    {"Call-Info", HeaderId::call_info, 0},
    {"Error-Info", HeaderId::error_info, 0},
};

constexpr bool headers_in_id_order() {
  for (std::size_t i = 0; i < std::size(k_headers); ++i)
    if (static_cast<std::size_t>(k_headers[i].id) != i + 1) return false;
  return static_cast<std::size_t>(HeaderId::error_info) == std::size(k_headers);
}
static_assert(headers_in_id_order(), "k_headers must follow the HeaderId order");

} // namespace

Method method_from_string(std::string_view token) noexcept {
  for (const auto& m : k_methods)
    if (m.text == token) return m.id;
  return Method::extension;
}

std::string_view to_string(Method m) noexcept {
  for (const auto& e : k_methods)
    if (e.id == m) return e.text;
  return "";
}

HeaderId header_id(std::string_view name) noexcept {
  if (name.size() == 1) {
    const char c = ascii_lower(name[0]);
    for (const auto& h : k_headers)
      if (h.compact == c) return h.id;
    return HeaderId::other;
  }
  for (const auto& h : k_headers)
    if (h.name.size() == name.size() && ascii_iequals(h.name, name)) return h.id;
  return HeaderId::other;
}

std::string_view header_name(HeaderId id) noexcept {
  const auto i = static_cast<std::size_t>(id);
  if (i == 0 || i > std::size(k_headers)) return "";
  return k_headers[i - 1].name;
}

// ---------------------------------------------------------------------------------------------
// Message and HeaderRange

bool HeaderRange::matches(const Header& h) const noexcept {
  if (id_ != HeaderId::other) return h.id == id_;
  return h.id == HeaderId::other && (name_.empty() || ascii_iequals(h.name, name_));
}

void HeaderRange::iterator::settle() noexcept {
  const Header* end = r_->all_.data() + r_->all_.size();
  while (p_ != end && !r_->matches(*p_)) ++p_;
}

HeaderRange::iterator& HeaderRange::iterator::operator++() noexcept {
  ++p_;
  settle();
  return *this;
}

std::size_t HeaderRange::size() const noexcept {
  std::size_t n = 0;
  for (const auto& h : all_)
    if (matches(h)) ++n;
  return n;
}

bool Message::is_sip_2_0() const noexcept { return ascii_iequals(version, "SIP/2.0"); }

const Header* Message::find(HeaderId id) const noexcept {
  for (const auto& h : headers)
    if (h.id == id) return &h;
  return nullptr;
}

HeaderRange Message::find_all(std::string_view name) const noexcept {
  const HeaderId id = header_id(name);
  return {headers, id, id == HeaderId::other ? name : std::string_view{}};
}

const Header* Message::find(std::string_view name) const noexcept {
  const auto range = find_all(name);
  const auto it = range.begin();
  return it == range.end() ? nullptr : &*it;
}

void Message::clear() noexcept {
  version = {};
  method = Method::extension;
  method_text = {};
  request_uri = {};
  status_code = 0;
  reason = {};
  headers.clear();
  body = {};
  raw = {};
}

// ---------------------------------------------------------------------------------------------
// Framing and parsing

namespace {

constexpr bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }
// Linear whitespace inside a header value: a fold's CRLF is whitespace too (RFC 3261 §7.3.1).
constexpr bool is_lws(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim_lws(std::string_view s) noexcept {
  while (!s.empty() && is_lws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_lws(s.back())) s.remove_suffix(1);
  return s;
}

bool all_of_class(std::string_view s, std::uint16_t cls) noexcept {
  for (char c : s)
    if (!is(c, cls)) return false;
  return true;
}

bool has_ctl(std::string_view s) noexcept {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (ABNF literals are case-insensitive)
bool is_sip_version(std::string_view v) noexcept {
  if (v.size() < 7 || !ascii_iequals(v.substr(0, 4), "SIP/")) return false;
  v.remove_prefix(4);
  const auto dot = v.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == v.size()) return false;
  return all_of_class(v.substr(0, dot), cc_digit) && all_of_class(v.substr(dot + 1), cc_digit);
}

bool is_sip_scheme(std::string_view uri) noexcept {
  const auto colon = uri.find(':');
  return colon != std::string_view::npos &&
         (ascii_iequals(uri.substr(0, colon), "sip") || ascii_iequals(uri.substr(0, colon), "sips"));
}

/// RFC 3261 §7.1 Request-Line / §7.2 Status-Line. Returns "" or the failed rule.
std::string_view parse_start_line(std::string_view line, Message& out) noexcept {
  if (line.size() >= 4 && ascii_iequals(line.substr(0, 4), "SIP/")) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos) return "status line without a status code";
    out.version = line.substr(0, sp);
    if (!is_sip_version(out.version)) return "invalid SIP-Version";
    const std::string_view rest = line.substr(sp + 1);
    if (rest.size() < 3 || !all_of_class(rest.substr(0, 3), cc_digit) ||
        (rest.size() > 3 && rest[3] != ' '))
      return "status code is not 3 digits (RFC 4475 bigcode)";
    const unsigned code = static_cast<unsigned>((rest[0] - '0') * 100 + (rest[1] - '0') * 10 +
                                                (rest[2] - '0'));
    if (code < 100 || code > 699) return "status code outside 100-699";
    out.status_code = static_cast<std::uint16_t>(code);
    // An absent "SP Reason-Phrase" is tolerated: some servers send "SIP/2.0 100".
    out.reason = rest.size() > 3 ? rest.substr(4) : std::string_view{};
    if (has_ctl(out.reason)) return "control character in Reason-Phrase";
    return {};
  }
  // Request-Line = Method SP Request-URI SP SIP-Version CRLF, single SPs and nothing else:
  // RFC 4475 lwsstart (two SPs), trws (trailing SP) and lwsruri (SP inside the URI) fail here.
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == sp2)
    return "request line is not Method SP Request-URI SP SIP-Version";
  out.method_text = line.substr(0, sp1);
  if (!is_sip_token(out.method_text)) return "method is not a token";
  out.method = method_from_string(out.method_text);
  out.request_uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out.version = line.substr(sp2 + 1);
  if (out.request_uri.empty() || out.request_uri.find(' ') != std::string_view::npos)
    return "Request-URI is empty or holds whitespace (RFC 4475 lwsruri, lwsstart)";
  if (!is_sip_version(out.version)) return "invalid SIP-Version (RFC 4475 trws)";
  if (!is_absolute_uri(out.request_uri))
    return "Request-URI is not an absolute URI (RFC 4475 ltgtruri)";
  if (is_sip_scheme(out.request_uri) && !parse_uri(out.request_uri))
    return "invalid SIP Request-URI";
  return {};
}

/// Content-Length digits, saturating far above any limit so that overflow is impossible.
std::optional<std::uint64_t> content_length_value(std::string_view v) noexcept {
  constexpr std::uint64_t cap = std::uint64_t{1} << 40;
  if (v.empty()) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = std::min(cap, n * 10 + static_cast<std::uint64_t>(c - '0'));
  }
  return n;
}

/// What the current logical header of a header section looks like, for classify_line.
struct HeadState {
  std::size_t headers = 0;                         // header lines started so far
  std::size_t hdr_begin = std::string_view::npos;  // offset of the current logical header
};

enum class LineKind : std::uint8_t { header, continuation, blank, fail };

struct LineVerdict {
  LineKind kind;
  parse_status status = parse_status::ok;
  std::string_view reason;
};

/// The rules for one complete physical line after the start line ([line, end): no CR LF).
/// parse_message and StreamParser both use it, so both reject a stream on the same line.
LineVerdict classify_line(const char* d, std::size_t line, std::size_t end, HeadState& st,
                          const Limits& lim) noexcept {
  const auto fail = [](parse_status status, std::string_view why) {
    return LineVerdict{LineKind::fail, status, why};
  };
  if (std::memchr(d + line, '\r', end - line) != nullptr)
    return fail(parse_status::malformed, "bare CR inside a line");
  if (end == line) return {LineKind::blank, parse_status::ok, {}};
  if (is_wsp(d[line])) { // continuation of a folded header (RFC 3261 §7.3.1)
    if (st.hdr_begin == std::string_view::npos)
      return fail(parse_status::malformed, "continuation line before the first header");
    if (end - st.hdr_begin > lim.max_header_line)
      return fail(parse_status::too_large, "header longer than Limits::max_header_line");
    return {LineKind::continuation, parse_status::ok, {}};
  }
  // message-header = field-name HCOLON field-value; HCOLON = *( SP / HTAB ) ":" SWS
  std::size_t i = line;
  while (i < end && is(d[i], cc_token)) ++i;
  if (i == line) return fail(parse_status::malformed, "header name is not a token");
  while (i < end && is_wsp(d[i])) ++i;
  if (i == end || d[i] != ':') return fail(parse_status::malformed, "header line without ':'");
  if (++st.headers > lim.max_headers)
    return fail(parse_status::too_large, "more than Limits::max_headers headers");
  st.hdr_begin = line;
  return {LineKind::header, parse_status::ok, {}};
}

} // namespace

ParseResult parse_message(std::string_view buf, Message& out, const Limits& lim,
                          bool stream) noexcept {
  out.clear();
  if (out.headers.capacity() < lim.max_headers) {
    try {
      out.headers.reserve(lim.max_headers);
    } catch (...) {
      return {parse_status::too_large, 0, "cannot reserve the header table", 0, 0};
    }
  }
  const std::size_t n = buf.size();
  const char* const d = buf.data();

  // RFC 3261 §7.5: CRLFs before the start line are ignored; on streams they are the RFC 5626
  // §3.5.1 keep-alive ping (CRLFCRLF) and pong (CRLF).
  std::size_t pos = 0;
  while (pos < n && (d[pos] == '\r' || d[pos] == '\n')) ++pos;
  const std::size_t skipped = pos;
  const auto result = [skipped](parse_status st, std::string_view why) {
    return ParseResult{st, skipped, why, skipped, 0};
  };
  if (pos == n) return result(parse_status::need_more, {});
  if (!stream && n - skipped > lim.max_message)
    return result(parse_status::too_large, "datagram larger than Limits::max_message");

  std::size_t line = pos; // start of the current physical line
  std::size_t hdr_end = 0; // content end of the current logical header's last physical line
  bool start_done = false;
  std::size_t head_end = 0; // first byte after the blank line
  HeadState head;

  // Splits the complete logical header [begin, hdr_end) into name and value; the line rules
  // (token name, colon, count) were already checked by classify_line.
  const auto finish_header = [&](std::size_t begin) {
    const std::string_view h(d + begin, hdr_end - begin);
    std::size_t i = 0;
    while (i < h.size() && is(h[i], cc_token)) ++i;
    const std::string_view name = h.substr(0, i);
    while (h[i] != ':') ++i;
    const std::string_view value = trim_lws(h.substr(i + 1));
    // Capacity was reserved above and classify_line bounds the count, so this never reallocates.
    out.headers.push_back(
        Header{name, header_id(name), value, value.find('\n') != std::string_view::npos});
  };

  for (;;) {
    const void* hit = line < n ? std::memchr(d + line, '\n', n - line) : nullptr;
    if (hit == nullptr) {
      if (!stream) return result(parse_status::malformed, "no empty line after the headers");
      if (n - line > lim.max_header_line)
        return result(parse_status::too_large, "line longer than Limits::max_header_line");
      if (n - skipped > lim.max_message)
        return result(parse_status::too_large, "headers larger than Limits::max_message");
      return result(parse_status::need_more, {});
    }
    const std::size_t lf = static_cast<std::size_t>(static_cast<const char*>(hit) - d);
    // Lines end in CRLF (RFC 3261 §7); a bare LF is tolerated, a bare CR is not.
    const std::size_t end = (lf > line && d[lf - 1] == '\r') ? lf - 1 : lf;
    if (lf + 1 - skipped > lim.max_message)
      return result(parse_status::too_large, "headers larger than Limits::max_message");
    if (end - line > lim.max_header_line)
      return result(parse_status::too_large, "line longer than Limits::max_header_line");

    if (!start_done) {
      if (std::memchr(d + line, '\r', end - line) != nullptr)
        return result(parse_status::malformed, "bare CR inside a line");
      const auto why = parse_start_line(std::string_view(d + line, end - line), out);
      if (!why.empty()) return result(parse_status::malformed, why);
      start_done = true;
      line = lf + 1;
      continue;
    }
    const std::size_t previous = head.hdr_begin;
    const LineVerdict v = classify_line(d, line, end, head, lim);
    if (v.kind == LineKind::fail) return result(v.status, v.reason);
    if (v.kind == LineKind::continuation) {
      hdr_end = end;
    } else {
      if (previous != std::string_view::npos) finish_header(previous);
      if (v.kind == LineKind::blank) {
        head_end = lf + 1;
        break;
      }
      hdr_end = end;
    }
    line = lf + 1;
  }

  // RFC 3261 §18.3 framing. Several Content-Length headers must agree (RFC 4475 mcl01).
  std::optional<std::uint64_t> cl;
  for (const auto& h : out.headers) {
    if (h.id != HeaderId::content_length) continue;
    const auto v = content_length_value(h.value);
    if (!v) return result(parse_status::malformed, "Content-Length is not 1*DIGIT (RFC 4475 ncl)");
    if (cl && *cl != *v) return result(parse_status::malformed, "conflicting Content-Length");
    cl = v;
  }
  const std::size_t head_len = head_end - skipped;
  std::size_t consumed = n;
  if (!cl) {
    if (stream)
      return result(parse_status::malformed, "no Content-Length on a stream (RFC 3261 §18.3)");
    out.body = buf.substr(head_end);
  } else {
    const std::size_t rest = n - head_end;
    if (!stream && *cl > rest)
      return result(parse_status::malformed,
                    "Content-Length larger than the datagram (RFC 3261 §18.3, RFC 4475 clerr)");
    if (head_len + *cl > lim.max_message)
      return result(parse_status::too_large, "message larger than Limits::max_message");
    const auto len = static_cast<std::size_t>(*cl);
    if (stream && rest < len)
      return ParseResult{parse_status::need_more, skipped, {}, skipped, head_end + len};
    out.body = buf.substr(head_end, len); // a datagram's extra bytes are ignored (§18.3)
    consumed = head_end + len;
  }
  out.raw = buf.substr(skipped, consumed - skipped);
  return {parse_status::ok, consumed, {}, skipped, 0};
}

void StreamParser::reset() noexcept {
  lead_ = 0;
  scanned_ = 0;
  line_start_ = 0;
  expected_ = 0;
  headers_ = 0;
  hdr_begin_ = std::string_view::npos;
  start_line_checked_ = false;
}

ParseResult StreamParser::delegate(std::string_view buf, Message& out) noexcept {
  const ParseResult r = parse_message(buf, out, lim_, true);
  if (r.status == parse_status::need_more && r.consumed == 0) {
    if (r.expected != 0) expected_ = r.expected;
    return r;
  }
  reset();
  return r;
}

ParseResult StreamParser::parse(std::string_view buf, Message& out) noexcept {
  const std::size_t n = buf.size();
  if (n < scanned_) reset(); // the caller broke the append-only contract: start over
  if (expected_ != 0) {
    if (n < expected_) return {parse_status::need_more, 0, {}, 0, expected_};
    return delegate(buf, out);
  }
  const char* const d = buf.data();
  if (scanned_ == 0) {
    while (lead_ < n && (d[lead_] == '\r' || d[lead_] == '\n')) ++lead_;
    if (lead_ == n) return delegate(buf, out); // nothing but keep-alives (or nothing)
    scanned_ = line_start_ = lead_;
  }
  // Only bytes after `scanned_` are new; each complete line gets the same rules parse_message
  // applies, and parse_message itself runs only when a line breaks one (to report it), at the
  // start line, and at the end of the header section. Trickled input costs O(n) overall.
  HeadState head{headers_, hdr_begin_};
  std::size_t i = scanned_;
  while (i < n) {
    const void* hit = std::memchr(d + i, '\n', n - i);
    if (hit == nullptr) break;
    const std::size_t lf = static_cast<std::size_t>(static_cast<const char*>(hit) - d);
    const std::size_t end = (lf > line_start_ && d[lf - 1] == '\r') ? lf - 1 : lf;
    if (end - line_start_ > lim_.max_header_line) return delegate(buf, out); // too_large
    if (!start_line_checked_) {
      // Fail fast on a garbage start line instead of buffering up to max_message.
      start_line_checked_ = true;
      const ParseResult r = delegate(buf, out);
      if (r.status != parse_status::need_more || r.consumed != 0 || expected_ != 0) return r;
    } else {
      const LineVerdict v = classify_line(d, line_start_, end, head, lim_);
      if (v.kind == LineKind::fail || v.kind == LineKind::blank) return delegate(buf, out);
    }
    line_start_ = lf + 1;
    i = lf + 1;
  }
  headers_ = head.headers;
  hdr_begin_ = head.hdr_begin;
  scanned_ = n;
  if (n - line_start_ > lim_.max_header_line || n - lead_ > lim_.max_message)
    return delegate(buf, out); // reports too_large
  return {parse_status::need_more, 0, {}, 0, 0};
}

// ---------------------------------------------------------------------------------------------
// Folding and quoting

namespace {

/// Shared body of unfold/append_unfolded: calls put(char) and returns false if put refuses.
template <class Put>
bool unfold_into(std::string_view v, Put&& put) {
  std::size_t i = 0;
  while (i < v.size()) {
    if (!is_lws(v[i])) {
      if (!put(v[i++])) return false;
      continue;
    }
    std::size_t j = i;
    bool line_break = false;
    while (j < v.size() && is_lws(v[j])) {
      line_break = line_break || v[j] == '\r' || v[j] == '\n';
      ++j;
    }
    if (line_break) {
      if (!put(' ')) return false; // LWS = [*WSP CRLF] 1*WSP ; equivalent to one SP
    } else {
      for (std::size_t k = i; k < j; ++k)
        if (!put(v[k])) return false;
    }
    i = j;
  }
  return true;
}

} // namespace

std::optional<std::string_view> unfold(std::string_view value, std::span<char> buf) noexcept {
  std::size_t n = 0;
  const bool ok = unfold_into(value, [&](char c) {
    if (n == buf.size()) return false;
    buf[n++] = c;
    return true;
  });
  if (!ok) return std::nullopt;
  return std::string_view(buf.data(), n);
}

void append_unfolded(std::string& out, std::string_view value) {
  unfold_into(value, [&](char c) {
    out.push_back(c);
    return true;
  });
}

std::optional<std::string_view> unquote(std::string_view content, std::span<char> buf) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < content.size(); ++i) {
    char c = content[i];
    if (c == '\\') { // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
      if (i + 1 == content.size()) return std::nullopt;
      c = content[++i];
    }
    if (n == buf.size()) return std::nullopt;
    buf[n++] = c;
  }
  return std::string_view(buf.data(), n);
}

bool append_unquoted(std::string& out, std::string_view content) {
  for (std::size_t i = 0; i < content.size(); ++i) {
    char c = content[i];
    if (c == '\\') {
      if (i + 1 == content.size()) return false;
      c = content[++i];
    }
    out.push_back(c);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Structured helpers

namespace {

/// Index just past the quoted-string starting at s[i] == '"', or npos if it is unterminated or
/// holds a CTL. qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII; quoted-pair = "\" octet.
std::size_t quoted_end(std::string_view s, std::size_t i) noexcept {
  for (++i; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (i + 1 == s.size()) return std::string_view::npos;
      // A fold right after '\' is, once unfolded (§7.3.1), one SP, and the '\' escapes it.
      while (i + 2 < s.size() && (s[i + 1] == '\r' || s[i + 1] == '\n') && is_lws(s[i + 2])) ++i;
      ++i;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && !is_lws(c)) || u == 0x7f) return std::string_view::npos;
  }
  return std::string_view::npos;
}

/// A cursor over one header value.
struct Scan {
  std::string_view s;
  std::size_t i = 0;

  bool eof() const noexcept { return i >= s.size(); }
  bool at(char c) const noexcept { return i < s.size() && s[i] == c; }
  bool consume(char c) noexcept {
    if (!at(c)) return false;
    ++i;
    return true;
  }
  bool skip_lws() noexcept {
    const std::size_t b = i;
    while (i < s.size() && is_lws(s[i])) ++i;
    return i != b;
  }
  std::string_view take(std::uint16_t cls) noexcept {
    const std::size_t b = i;
    while (i < s.size() && is(s[i], cls)) ++i;
    return s.substr(b, i - b);
  }
  std::string_view token() noexcept { return take(cc_token); }
  /// Content of the quoted-string at s[i] (without quotes), or nullopt.
  std::optional<std::string_view> quoted() noexcept {
    if (!at('"')) return std::nullopt;
    const std::size_t e = quoted_end(s, i);
    if (e == std::string_view::npos) return std::nullopt;
    const auto content = s.substr(i + 1, e - i - 2);
    i = e;
    return content;
  }
  std::string_view rest() const noexcept { return i < s.size() ? s.substr(i) : std::string_view{}; }
};

/// gen-value = token / host / quoted-string. A host adds ':' '[' ']' to the token characters.
std::string_view take_gen_value(Scan& sc) noexcept {
  const std::size_t b = sc.i;
  while (sc.i < sc.s.size() &&
         (is(sc.s[sc.i], cc_token) || sc.s[sc.i] == ':' || sc.s[sc.i] == '[' || sc.s[sc.i] == ']'))
    ++sc.i;
  return sc.s.substr(b, sc.i - b);
}

std::optional<std::uint32_t> delta_seconds(std::string_view digits) noexcept {
  const auto v = detail::parse_uint(digits, 0xFFFFFFFFu);
  if (!v) return std::nullopt;
  return static_cast<std::uint32_t>(*v);
}

bool is_token68(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && is(s[i], detail::cc_token68)) ++i;
  if (i == 0) return false;
  while (i < s.size() && s[i] == '=') ++i;
  return i == s.size();
}

} // namespace

std::optional<std::string_view> ListCursor::next() noexcept {
  if (done_ || malformed_) return std::nullopt;
  while (i_ < s_.size() && is_lws(s_[i_])) ++i_;
  if (i_ >= s_.size()) {
    done_ = true;
    malformed_ = after_comma_; // "a, " ends with an empty element
    return std::nullopt;
  }
  const std::size_t b = i_;
  bool angle = false;
  while (i_ < s_.size()) {
    const char c = s_[i_];
    if (c == '"') {
      i_ = quoted_end(s_, i_);
      if (i_ == std::string_view::npos) {
        malformed_ = true;
        return std::nullopt;
      }
      continue;
    }
    if (c == '<') {
      angle = true;
    } else if (c == '>') {
      angle = false;
    } else if (c == ',' && !angle) {
      break;
    }
    ++i_;
  }
  const std::string_view element = trim_lws(s_.substr(b, i_ - b));
  if (angle || element.empty()) {
    malformed_ = true;
    return std::nullopt;
  }
  after_comma_ = i_ < s_.size(); // stopped on a ','
  if (after_comma_) ++i_;
  return element;
}

std::optional<Param> ParamCursor::next() noexcept {
  if (malformed_) return std::nullopt;
  Scan sc{s_, i_};
  sc.skip_lws();
  if (sc.eof()) {
    i_ = sc.i;
    return std::nullopt;
  }
  // generic-param = token [ EQUAL gen-value ]; SEMI = SWS ";" SWS; EQUAL = SWS "=" SWS
  Param p;
  bool ok = sc.consume(';');
  if (ok) {
    sc.skip_lws();
    p.name = sc.token();
    ok = !p.name.empty();
  }
  if (ok) {
    const std::size_t save = sc.i;
    sc.skip_lws();
    if (sc.consume('=')) {
      sc.skip_lws();
      p.has_value = true;
      if (sc.at('"')) {
        const auto q = sc.quoted();
        ok = q.has_value();
        if (ok) p.value = *q;
        p.quoted = true;
      } else {
        p.value = take_gen_value(sc);
        ok = !p.value.empty();
      }
    } else {
      sc.i = save;
    }
  }
  if (!ok) {
    malformed_ = true;
    return std::nullopt;
  }
  i_ = sc.i;
  return p;
}

std::optional<Param> find_param(std::string_view params, std::string_view name) noexcept {
  ParamCursor c(params);
  while (auto p = c.next())
    if (ascii_iequals(p->name, name)) return p;
  return std::nullopt;
}

std::optional<Via> parse_via(std::string_view element) noexcept {
  // via-parm = sent-protocol LWS sent-by *( SEMI via-params )
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport; SLASH = SWS "/" SWS
  Scan sc{trim_lws(element)};
  Via v;
  v.protocol_name = sc.token();
  sc.skip_lws();
  if (v.protocol_name.empty() || !sc.consume('/')) return std::nullopt;
  sc.skip_lws();
  v.protocol_version = sc.token();
  sc.skip_lws();
  if (v.protocol_version.empty() || !sc.consume('/')) return std::nullopt;
  sc.skip_lws();
  v.transport = sc.token();
  if (v.transport.empty() || !sc.skip_lws()) return std::nullopt;

  // sent-by = host [ COLON port ]; IPv6 references per RFC 5118.
  const std::size_t host_begin = sc.i;
  if (sc.at('[')) {
    const auto close = sc.s.find(']', sc.i);
    if (close == std::string_view::npos) return std::nullopt;
    sc.i = close + 1;
  } else {
    while (sc.i < sc.s.size() &&
           (is(sc.s[sc.i], detail::cc_alpha | cc_digit) || sc.s[sc.i] == '-' || sc.s[sc.i] == '.'))
      ++sc.i;
  }
  v.host = sc.s.substr(host_begin, sc.i - host_begin);
  const auto kind = parse_host(v.host);
  if (!kind) return std::nullopt;
  v.host_kind = *kind;
  const std::size_t save = sc.i;
  sc.skip_lws();
  if (sc.consume(':')) {
    sc.skip_lws();
    const auto port = detail::parse_uint(sc.take(cc_digit), 65535);
    if (!port || *port == 0) return std::nullopt;
    v.port = static_cast<std::uint16_t>(*port);
  } else {
    sc.i = save;
  }

  // via-params = via-ttl / via-maddr / via-received / via-branch / response-port / via-extension
  v.params = sc.rest();
  ParamCursor pc(v.params);
  while (auto p = pc.next()) {
    if (ascii_iequals(p->name, "branch")) {
      if (!p->has_value || p->quoted || !is_sip_token(p->value)) return std::nullopt;
      if (v.branch.empty()) v.branch = p->value;
    } else if (ascii_iequals(p->name, "received")) {
      if (!p->has_value || p->quoted) return std::nullopt;
      if (v.received.empty()) v.received = p->value;
    } else if (ascii_iequals(p->name, "maddr")) {
      if (!p->has_value || p->quoted || !parse_host(p->value)) return std::nullopt;
      if (v.maddr.empty()) v.maddr = p->value;
    } else if (ascii_iequals(p->name, "ttl")) {
      const auto ttl = p->has_value && !p->quoted && p->value.size() <= 3
                           ? detail::parse_uint(p->value, 255)
                           : std::nullopt;
      if (!ttl) return std::nullopt;
      if (!v.ttl) v.ttl = static_cast<std::uint8_t>(*ttl);
    } else if (ascii_iequals(p->name, "rport")) {
      // response-port = "rport" [ EQUAL 1*DIGIT ] (RFC 3581 §3)
      v.has_rport = true;
      if (p->has_value) {
        const auto port = p->quoted ? std::nullopt : detail::parse_uint(p->value, 65535);
        if (!port || *port == 0) return std::nullopt;
        if (!v.rport) v.rport = static_cast<std::uint16_t>(*port);
      }
    }
  }
  if (pc.malformed()) return std::nullopt;
  return v;
}

std::optional<NameAddr> parse_name_addr(std::string_view element) noexcept {
  const std::string_view s = trim_lws(element);
  NameAddr na;
  if (s == "*") {
    na.star = true;
    return na;
  }
  Scan sc{s};
  bool angle = false;
  if (sc.at('"')) {
    // display-name = quoted-string; LAQUOT = SWS "<"
    const auto q = sc.quoted();
    if (!q) return std::nullopt; // RFC 4475 quotbal
    na.display_name = *q;
    na.display_quoted = true;
    sc.skip_lws();
    if (!sc.at('<')) return std::nullopt;
    angle = true;
  } else {
    // display-name = *(token LWS); "caller<sip:…>" without LWS is accepted (RFC 4475 lwsdisp).
    const std::size_t begin = sc.i;
    std::size_t last = begin;
    while (!sc.token().empty()) {
      last = sc.i;
      if (!sc.skip_lws()) break;
    }
    if (sc.at('<')) {
      na.display_name = s.substr(begin, last - begin);
      angle = true;
    } else {
      sc.i = begin; // no '<': the whole thing is an addr-spec
    }
  }

  if (angle) {
    // name-addr = [ display-name ] LAQUOT addr-spec RAQUOT. No LWS inside the brackets: the URI
    // check rejects "< sip:… >" (RFC 4475 badaspec).
    ++sc.i;
    const auto close = s.find('>', sc.i);
    if (close == std::string_view::npos) return std::nullopt;
    na.uri = s.substr(sc.i, close - sc.i);
    na.bracketed = true;
    sc.i = close + 1;
    if (!is_absolute_uri(na.uri)) return std::nullopt;
  } else {
    // RFC 3261 §20.10: a URI holding ',', '?' or ';' must be in < >; without them, the first ';'
    // starts the header params and '?' or ',' is an error (RFC 4475 regbadct).
    const std::size_t begin = sc.i;
    while (sc.i < s.size() && s[sc.i] != ';' && !is_lws(s[sc.i])) ++sc.i;
    na.uri = s.substr(begin, sc.i - begin);
    if (!is_absolute_uri(na.uri) || na.uri.find_first_of(",?") != std::string_view::npos)
      return std::nullopt;
  }

  na.params = sc.rest();
  ParamCursor pc(na.params);
  while (auto p = pc.next()) {
    if (ascii_iequals(p->name, "tag")) { // tag-param = "tag" EQUAL token
      if (!p->has_value || p->quoted || !is_sip_token(p->value)) return std::nullopt;
      if (na.tag.empty()) na.tag = p->value;
    }
  }
  if (pc.malformed()) return std::nullopt; // RFC 4475 badinv01: "<sip:…>;;;;"
  return na;
}

std::optional<CSeq> parse_cseq(std::string_view value) noexcept {
  // CSeq = 1*DIGIT LWS Method; the number is below 2^31 (RFC 3261 §8.1.1.5).
  Scan sc{trim_lws(value)};
  const auto number = detail::parse_uint(sc.take(cc_digit), 0x7FFFFFFFu);
  if (!number || !sc.skip_lws()) return std::nullopt;
  CSeq c;
  c.number = static_cast<std::uint32_t>(*number);
  c.method_text = sc.token();
  if (c.method_text.empty() || !sc.eof()) return std::nullopt;
  c.method = method_from_string(c.method_text);
  return c;
}

std::optional<std::uint32_t> parse_content_length(std::string_view value) noexcept {
  return delta_seconds(trim_lws(value));
}

std::optional<std::uint8_t> parse_max_forwards(std::string_view value) noexcept {
  const auto v = detail::parse_uint(trim_lws(value), 255);
  if (!v) return std::nullopt;
  return static_cast<std::uint8_t>(*v);
}

std::optional<std::uint32_t> parse_delta_seconds(std::string_view value) noexcept {
  return delta_seconds(trim_lws(value));
}

std::optional<std::string_view> parse_call_id(std::string_view value) noexcept {
  // callid = word [ "@" word ]
  const std::string_view v = trim_lws(value);
  const auto at = v.find('@');
  const std::string_view first = v.substr(0, at);
  if (first.empty() || !all_of_class(first, detail::cc_word)) return std::nullopt;
  if (at != std::string_view::npos) {
    const std::string_view second = v.substr(at + 1);
    if (second.empty() || !all_of_class(second, detail::cc_word)) return std::nullopt;
  }
  return v;
}

std::optional<SessionExpires> parse_session_expires(std::string_view value) noexcept {
  // Session-Expires = delta-seconds *(SEMI se-params); refresher-param = "refresher" EQUAL
  // ("uas" / "uac") (RFC 4028 §4)
  Scan sc{trim_lws(value)};
  const auto seconds = delta_seconds(sc.take(cc_digit));
  if (!seconds) return std::nullopt;
  SessionExpires se;
  se.seconds = *seconds;
  se.params = sc.rest();
  ParamCursor pc(se.params);
  while (auto p = pc.next()) {
    if (!ascii_iequals(p->name, "refresher")) continue;
    if (!p->has_value || p->quoted) return std::nullopt;
    if (ascii_iequals(p->value, "uac")) {
      se.refresher = SessionExpires::Refresher::uac;
    } else if (ascii_iequals(p->value, "uas")) {
      se.refresher = SessionExpires::Refresher::uas;
    } else {
      return std::nullopt;
    }
  }
  if (pc.malformed()) return std::nullopt;
  return se;
}

std::optional<std::uint32_t> parse_min_se(std::string_view value) noexcept {
  Scan sc{trim_lws(value)};
  const auto seconds = delta_seconds(sc.take(cc_digit));
  if (!seconds) return std::nullopt;
  ParamCursor pc(sc.rest());
  while (pc.next()) {
  }
  if (pc.malformed()) return std::nullopt;
  return seconds;
}

std::optional<RetryAfter> parse_retry_after(std::string_view value) noexcept {
  // Retry-After = delta-seconds [ comment ] *( SEMI retry-param )
  // comment = LPAREN *(ctext / quoted-pair / comment) RPAREN
  Scan sc{trim_lws(value)};
  const auto seconds = delta_seconds(sc.take(cc_digit));
  if (!seconds) return std::nullopt;
  RetryAfter ra;
  ra.seconds = *seconds;
  const std::size_t save = sc.i;
  sc.skip_lws();
  if (sc.consume('(')) {
    const std::size_t begin = sc.i;
    int depth = 1;
    while (sc.i < sc.s.size()) {
      const char c = sc.s[sc.i];
      if (c == '\\') {
        if (sc.i + 1 == sc.s.size()) return std::nullopt;
        sc.i += 2;
        continue;
      }
      if (c == '(') ++depth;
      if (c == ')' && --depth == 0) break;
      ++sc.i;
    }
    if (depth != 0) return std::nullopt;
    ra.comment = sc.s.substr(begin, sc.i - begin);
    ++sc.i; // ')'
  } else {
    sc.i = save;
  }
  ra.params = sc.rest();
  ParamCursor pc(ra.params);
  while (auto p = pc.next()) {
    if (!ascii_iequals(p->name, "duration")) continue;
    const auto d = p->quoted ? std::nullopt : delta_seconds(p->value);
    if (!d) return std::nullopt;
    if (!ra.duration) ra.duration = d;
  }
  if (pc.malformed()) return std::nullopt;
  return ra;
}

std::optional<Param> AuthParamCursor::next() noexcept {
  if (malformed_) return std::nullopt;
  Scan sc{s_, i_};
  sc.skip_lws();
  if (sc.eof()) {
    i_ = sc.i;
    return std::nullopt;
  }
  // auth-param = auth-param-name EQUAL ( token / quoted-string ); COMMA = SWS "," SWS
  bool ok = true;
  if (!first_) {
    ok = sc.consume(',');
    sc.skip_lws();
  }
  Param p;
  if (ok) {
    p.name = sc.token();
    sc.skip_lws();
    ok = !p.name.empty() && sc.consume('=');
  }
  if (ok) {
    sc.skip_lws();
    p.has_value = true;
    if (sc.at('"')) {
      const auto q = sc.quoted();
      ok = q.has_value();
      if (ok) p.value = *q;
      p.quoted = true;
    } else {
      p.value = sc.token();
      ok = !p.value.empty();
    }
  }
  if (!ok) {
    malformed_ = true;
    return std::nullopt;
  }
  first_ = false;
  i_ = sc.i;
  return p;
}

std::optional<Param> find_auth_param(std::string_view params, std::string_view name) noexcept {
  AuthParamCursor c(params);
  while (auto p = c.next())
    if (ascii_iequals(p->name, name)) return p;
  return std::nullopt;
}

std::optional<AuthHeader> parse_auth(std::string_view value) noexcept {
  // challenge = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
  // other-challenge = auth-scheme LWS auth-param *(COMMA auth-param); credentials alike.
  Scan sc{trim_lws(value)};
  AuthHeader a;
  a.scheme = sc.token();
  if (a.scheme.empty() || !sc.skip_lws() || sc.eof()) return std::nullopt;
  const std::string_view rest = sc.rest();
  AuthParamCursor c(rest);
  std::size_t count = 0;
  while (c.next()) ++count;
  if (!c.malformed() && count > 0) {
    a.params = rest;
    return a;
  }
  if (is_token68(rest)) { // RFC 7235 §2.1, e.g. "Bearer <token>" (RFC 8898)
    a.token68 = rest;
    return a;
  }
  return std::nullopt;
}

std::string_view check_core_headers(const Message& m) noexcept {
  // RFC 3261 §8.1.1: To, From, CSeq, Call-ID, Max-Forwards, Via. Max-Forwards is not required
  // here: RFC 2543 peers omit it and a UAS processes such requests (RFC 4475 inv2543).
  if (!m.find(HeaderId::via)) return "missing Via";
  if (!m.find(HeaderId::from)) return "missing From";
  if (!m.find(HeaderId::to)) return "missing To";
  if (!m.find(HeaderId::call_id)) return "missing Call-ID";
  if (!m.find(HeaderId::cseq)) return "missing CSeq";
  for (const HeaderId id : {HeaderId::from, HeaderId::to, HeaderId::call_id, HeaderId::cseq,
                            HeaderId::max_forwards})
    if (m.count(id) > 1) return "single-instance header repeated";
  const auto cseq = parse_cseq(m.find(HeaderId::cseq)->value);
  if (!cseq) return "invalid CSeq";
  if (m.is_request() && cseq->method_text != m.method_text)
    return "CSeq method does not match the request method";
  if (!parse_call_id(m.find(HeaderId::call_id)->value)) return "invalid Call-ID";
  if (!parse_name_addr(m.find(HeaderId::from)->value)) return "invalid From";
  if (!parse_name_addr(m.find(HeaderId::to)->value)) return "invalid To";
  ListCursor vias(m.find(HeaderId::via)->value);
  const auto top = vias.next();
  if (!top || !parse_via(*top)) return "invalid top Via";
  return {};
}

// ---------------------------------------------------------------------------------------------
// Serialising

MessageWriter& MessageWriter::fail(sip_error e) noexcept {
  if (!error_) error_ = e;
  return *this;
}

MessageWriter& MessageWriter::request(Method method, std::string_view request_uri) {
  if (method == Method::extension) return fail(sip_error::invalid_token);
  return request(to_string(method), request_uri);
}

MessageWriter& MessageWriter::request(std::string_view method, std::string_view request_uri) {
  if (error_) return *this;
  if (started_) return fail(sip_error::bad_sequence);
  if (!is_sip_token(method)) return fail(sip_error::invalid_token);
  // The URI character set has no whitespace, CR, LF or CTL, so this also stops injection.
  if (!is_absolute_uri(request_uri)) return fail(sip_error::invalid_uri);
  head_.append(method).append(" ").append(request_uri).append(" SIP/2.0\r\n");
  started_ = true;
  return *this;
}

MessageWriter& MessageWriter::response(unsigned code, std::string_view reason) {
  if (error_) return *this;
  if (started_) return fail(sip_error::bad_sequence);
  if (code < 100 || code > 699) return fail(sip_error::invalid_status);
  if (has_ctl(reason)) return fail(sip_error::unsafe_value);
  char digits[4];
  const auto r = std::to_chars(digits, digits + sizeof digits, code);
  head_.append("SIP/2.0 ").append(digits, r.ptr).append(" ").append(reason).append("\r\n");
  started_ = true;
  return *this;
}

MessageWriter& MessageWriter::header(std::string_view name, std::string_view value) {
  if (error_) return *this;
  if (!started_) return fail(sip_error::bad_sequence);
  if (!is_sip_token(name)) return fail(sip_error::invalid_token);
  if (header_id(name) == HeaderId::content_length)
    return fail(sip_error::content_length_managed);
  if (value.find_first_of("\r\n") != std::string_view::npos)
    return fail(sip_error::unsafe_value); // header injection / response splitting
  head_.append(name).append(": ").append(value).append("\r\n");
  return *this;
}

MessageWriter& MessageWriter::header(HeaderId id, std::string_view value) {
  if (id == HeaderId::other) return fail(sip_error::invalid_token);
  return header(header_name(id), value);
}

MessageWriter& MessageWriter::body(std::string_view content) {
  if (error_) return *this;
  body_.assign(content);
  return *this;
}

MessageWriter& MessageWriter::body(std::string_view content_type, std::string_view content) {
  header(HeaderId::content_type, content_type);
  return body(content);
}

std::error_code MessageWriter::finish(std::string& out) {
  if (!error_ && !started_) fail(sip_error::bad_sequence);
  if (error_) return error_;
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof digits, body_.size());
  out.clear();
  out.reserve(head_.size() + 24 + body_.size());
  out.append(head_).append("Content-Length: ").append(digits, r.ptr).append("\r\n\r\n");
  out.append(body_);
  return {};
}

std::error_code write_message(const Message& m, std::string& out) {
  MessageWriter w;
  if (m.is_request()) {
    w.request(m.method_text, m.request_uri);
  } else {
    w.response(m.status_code, m.reason);
  }
  std::string unfolded;
  for (const auto& h : m.headers) {
    if (h.id == HeaderId::content_length) continue; // recomputed by finish()
    if (h.folded) {
      unfolded.clear();
      append_unfolded(unfolded, h.value);
      w.header(h.name, unfolded);
    } else {
      w.header(h.name, h.value);
    }
  }
  w.body(m.body);
  return w.finish(out);
}

} // namespace sb::sip
