// libFuzzer target for src/sip/message.{hpp,cpp}.
//
// Each input is parsed as a datagram and as a stream (one shot and through StreamParser in two
// steps), every structured helper runs on every header value, and whatever parses is serialised
// with write_message and parsed again: the round trip must parse ok and say the same thing.
// Any broken invariant aborts, so libFuzzer reports it.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
//       fuzz/sip_message.cpp src/sip/message.cpp src/sip/uri.cpp -o /tmp/fuzz_sip_message
//   /tmp/fuzz_sip_message -dict=fuzz/dict/sip.dict fuzz/corpus/sip_message
#include "fuzz_support.hpp"
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sip/message.hpp"
#include "sip/uri.hpp"

namespace {

using namespace sb::sip;

using sb::fuzz::require;

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

// Views must point into the parsed buffer.
void check_views(const Message& m, std::string_view buf) {
  require(inside(m.raw, buf) && inside(m.body, buf) && inside(m.version, buf), "message views");
  require(inside(m.request_uri, buf) && inside(m.method_text, buf) && inside(m.reason, buf),
          "start line views");
  for (const auto& h : m.headers) require(inside(h.name, buf) && inside(h.value, buf), "header views");
}

volatile std::size_t g_sink; // keeps results observable

void touch(std::string_view s) { g_sink = g_sink + s.size(); }

void exercise_uri(std::string_view text) {
  if (const auto u = parse_uri(text)) {
    touch(u->host_address());
    g_sink = g_sink + static_cast<std::size_t>(u->transport());
    UriParamCursor pc(u->params);
    while (auto p = pc.next()) touch(p->value);
    UriHeaderCursor hc(u->headers);
    while (auto h = hc.next()) touch(h->value);
    require(is_absolute_uri(text), "a SIP URI is an absolute URI");
  }
}

void exercise_params(std::string_view params) {
  ParamCursor pc(params);
  while (auto p = pc.next()) {
    char buf[64];
    (void)unquote(p->value, buf);
  }
}

// Every structured helper on one value, whatever header it came from.
void exercise_value(std::string_view v) {
  ListCursor list(v);
  while (auto e = list.next()) {
    require(inside(*e, v), "list element inside value");
    if (const auto via = parse_via(*e)) {
      require(inside(via->host, v) && inside(via->branch, v), "via views");
      exercise_params(via->params);
      (void)parse_host(via->host);
    }
    if (const auto na = parse_name_addr(*e)) {
      require(inside(na->uri, v) && inside(na->params, v), "name-addr views");
      exercise_uri(na->uri);
      exercise_params(na->params);
      char buf[128];
      if (na->display_quoted) (void)unquote(na->display_name, buf);
    }
  }
  (void)parse_via(v);
  (void)parse_name_addr(v);
  (void)parse_cseq(v);
  (void)parse_content_length(v);
  (void)parse_max_forwards(v);
  (void)parse_delta_seconds(v);
  (void)parse_call_id(v);
  (void)parse_session_expires(v);
  (void)parse_min_se(v);
  if (const auto ra = parse_retry_after(v)) touch(ra->comment);
  if (const auto a = parse_auth(v)) {
    AuthParamCursor c(a->params);
    while (auto p = c.next()) {
      char buf[256];
      (void)unquote(p->value, buf);
    }
    (void)find_auth_param(a->params, "nonce");
  }
  (void)find_param(v, "tag");
  exercise_uri(v);
}

void exercise_headers(const Message& m) {
  for (const auto& h : m.headers) {
    exercise_value(h.value);
    if (h.folded) {
      std::string flat;
      append_unfolded(flat, h.value);
      require(flat.find_first_of("\r\n") == std::string::npos, "unfolded value has no line break");
      exercise_value(flat);
    }
  }
  (void)check_core_headers(m);
  for (const auto& h : m.find_all(HeaderId::via)) touch(h.value);
}

std::size_t list_size(std::string_view v, bool& malformed) {
  ListCursor c(v);
  std::size_t n = 0;
  while (c.next()) ++n;
  malformed = c.malformed();
  return n;
}

// Folding is presentation only (RFC 3261 §7.3.1): every helper must give the same verdict on a
// raw folded value and on its unfolded text.
void same_verdicts(std::string_view raw, std::string_view flat) {
  require(parse_via(raw).has_value() == parse_via(flat).has_value(), "via verdict unfolded");
  require(parse_name_addr(raw).has_value() == parse_name_addr(flat).has_value(),
          "name-addr verdict unfolded");
  require(parse_cseq(raw).has_value() == parse_cseq(flat).has_value(), "cseq verdict unfolded");
  require(parse_content_length(raw) == parse_content_length(flat), "content-length unfolded");
  require(parse_max_forwards(raw) == parse_max_forwards(flat), "max-forwards unfolded");
  require(parse_call_id(raw).has_value() == parse_call_id(flat).has_value(), "call-id unfolded");
  require(parse_session_expires(raw).has_value() == parse_session_expires(flat).has_value(),
          "session-expires unfolded");
  require(parse_min_se(raw) == parse_min_se(flat), "min-se unfolded");
  require(parse_retry_after(raw).has_value() == parse_retry_after(flat).has_value(),
          "retry-after unfolded");
  require(parse_auth(raw).has_value() == parse_auth(flat).has_value(), "auth verdict unfolded");
  bool bad_raw = false;
  bool bad_flat = false;
  require(list_size(raw, bad_raw) == list_size(flat, bad_flat) && bad_raw == bad_flat,
          "list elements unfolded");
}

// write_message, then parse again (stream and datagram): same start line, headers, body.
void round_trip(const Message& m) {
  std::string wire;
  require(!write_message(m, wire), "write_message accepts what parse_message accepted");
  const Limits relaxed{.max_message = 4 * wire.size() + 4096,
                       .max_headers = m.headers.size() + 2,
                       .max_header_line = 2 * wire.size() + 64};
  for (const bool stream : {true, false}) {
    Message again;
    const ParseResult r = parse_message(wire, again, relaxed, stream);
    require(r.status == parse_status::ok, "round trip parses");
    require(r.consumed == wire.size(), "round trip consumes everything");
    require(again.is_request() == m.is_request(), "round trip kind");
    require(again.method_text == m.method_text && again.request_uri == m.request_uri,
            "round trip request line");
    require(again.status_code == m.status_code && again.reason == m.reason, "round trip status line");
    require(again.body == m.body, "round trip body");
    std::size_t j = 0;
    std::string flat;
    for (const auto& h : m.headers) {
      if (h.id == HeaderId::content_length) continue;
      require(j < again.headers.size(), "round trip header count");
      const Header& g = again.headers[j++];
      flat.clear();
      append_unfolded(flat, h.value);
      require(g.name == h.name && g.value == flat && !g.folded, "round trip header");
      if (h.folded && stream) same_verdicts(h.value, g.value);
    }
    require(check_core_headers(again) == check_core_headers(m), "core checks survive the round trip");
    require(j + 1 == again.headers.size() && again.headers[j].id == HeaderId::content_length,
            "round trip ends with one Content-Length");
    require(parse_content_length(again.headers[j].value) == again.body.size(),
            "round trip Content-Length value");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view buf(reinterpret_cast<const char*>(data), size);
  const Limits lim{};
  static Message m; // reused, as a transport would

  // Datagram.
  const ParseResult d = parse_message(buf, m, lim, false);
  require(d.consumed <= size && d.skipped <= d.consumed, "datagram consumed within buffer");
  if (d.status == parse_status::ok) {
    require(m.raw.size() + d.skipped == d.consumed, "datagram raw size");
    check_views(m, buf);
    exercise_headers(m);
    round_trip(m);
  }

  // Stream, one shot.
  const ParseResult s = parse_message(buf, m, lim, true);
  require(s.consumed <= size && s.skipped <= s.consumed, "stream consumed within buffer");
  if (s.status == parse_status::need_more) require(s.expected == 0 || s.expected > size, "expected");
  if (s.status == parse_status::ok) {
    require(m.raw.size() + s.skipped == s.consumed, "stream raw size");
    check_views(m, buf);
    exercise_headers(m);
    round_trip(m);
    // The framed stream message is also a valid datagram of exactly that size.
    Message dg;
    const ParseResult again = parse_message(buf.substr(0, s.consumed), dg, lim, false);
    require(again.status == parse_status::ok && again.consumed == s.consumed,
            "stream message reparses as a datagram");
  }

  // Stream through StreamParser: a prefix first, then everything; the final answer must match
  // the one-shot parse unless the prefix already settled the message.
  StreamParser sp(lim);
  Message pm;
  const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  const ParseResult first = sp.parse(buf.substr(0, cut), pm);
  const bool settled = first.status != parse_status::need_more || first.consumed != 0;
  if (!settled) {
    const ParseResult last = sp.parse(buf, pm);
    require(last.status == s.status, "StreamParser status matches parse_message");
    if (last.status == parse_status::ok) require(last.consumed == s.consumed, "StreamParser consumed");
  } else if (first.status == parse_status::ok) {
    require(s.status == parse_status::ok && s.consumed == first.consumed,
            "a message complete in a prefix is the same message in the whole buffer");
  }
  return 0;
}
