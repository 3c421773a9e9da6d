// RFC 3261 §7 SIP messages: tests for src/sip/message.{hpp,cpp}.
//
// The RFC 4475 messages below are written for this file from the RFC's descriptions of each test;
// hosts, tags and Call-IDs differ, the tortuous features are the same. Cases named "RFC 4475
// <name>" say whether the parser rejects the message itself or hands it to a higher layer (and
// which helper that layer will use); src/sip/README.md has the same table.
#include <doctest/doctest.h>

#include <array>
#include <initializer_list>
#include <memory>
#include <ostream> // doctest prints std::error_code
#include <random>
#include <string>
#include <vector>

#include "sip/message.hpp"

using namespace sb::sip;
using namespace std::literals;

namespace {

/// Joins lines with CRLF, adds the empty line, then the body; "%CL%" becomes the body size.
std::string sipmsg(std::initializer_list<std::string_view> lines, std::string_view body = {}) {
  std::string s;
  for (auto l : lines) s.append(l).append("\r\n");
  s.append("\r\n");
  if (const auto p = s.find("%CL%"); p != std::string::npos)
    s.replace(p, 4, std::to_string(body.size()));
  s.append(body);
  return s;
}

const std::string k_sdp =
    "v=0\r\n"
    "o=torture 2890844526 2890844526 IN IP4 192.0.2.41\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.41\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8\r\n"
    "m=video 51372 RTP/AVP 31\r\n"
    "a=rtpmap:31 H261/90000\r\n";

ParseResult parse_dgram(std::string_view buf, Message& m, const Limits& lim = {}) {
  return parse_message(buf, m, lim, false);
}
ParseResult parse_stream(std::string_view buf, Message& m, const Limits& lim = {}) {
  return parse_message(buf, m, lim, true);
}

/// A parsed message that owns its wire bytes (on the heap, so the views survive moves).
struct Parsed : Message {
  std::unique_ptr<const std::string> wire;
};

Parsed must_parse(std::string_view buf, bool stream = false) {
  Parsed p;
  p.wire = std::make_unique<const std::string>(buf);
  const auto r = parse_message(*p.wire, p, {}, stream);
  INFO("reason: ", std::string(r.reason));
  REQUIRE(r.status == parse_status::ok);
  return p;
}

std::string unfolded(const Header& h) {
  std::string s;
  append_unfolded(s, h.value);
  return s;
}

std::string unquoted(std::string_view content) {
  std::string s;
  REQUIRE(append_unquoted(s, content));
  return s;
}

std::vector<Via> all_vias(const Message& m) {
  std::vector<Via> out;
  for (const auto& h : m.find_all(HeaderId::via)) {
    ListCursor c(h.value);
    while (auto e = c.next()) {
      const auto v = parse_via(*e);
      REQUIRE(v);
      out.push_back(*v);
    }
    REQUIRE_FALSE(c.malformed());
  }
  return out;
}

const std::string k_invite = sipmsg(
    {
        "INVITE sip:bob@biloxi.example.com SIP/2.0",
        "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9",
        "Max-Forwards: 70",
        "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl",
        "To: Bob <sip:bob@biloxi.example.com>",
        "Call-ID: 3848276298220188511@atlanta.example.com",
        "CSeq: 1 INVITE",
        "Contact: <sip:alice@client.atlanta.example.com;transport=tcp>",
        "Content-Type: application/sdp",
        "Content-Length: %CL%",
    },
    k_sdp);

const std::string k_ok = sipmsg({
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101",
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl",
    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356",
    "Call-ID: 3848276298220188511@atlanta.example.com",
    "CSeq: 1 INVITE",
    "Content-Length: 0",
});

} // namespace

// =============================================================================================
// Start line, headers, body

TEST_CASE("an INVITE datagram parses into request line, headers in wire order and body") {
  const auto m = must_parse(k_invite);
  CHECK(m.is_request());
  CHECK(m.method == Method::invite);
  CHECK(m.method_text == "INVITE");
  CHECK(m.request_uri == "sip:bob@biloxi.example.com");
  CHECK(m.version == "SIP/2.0");
  CHECK(m.is_sip_2_0());
  REQUIRE(m.headers.size() == 9);
  CHECK(m.headers[0].id == HeaderId::via);
  CHECK(m.headers[0].name == "Via");
  CHECK(m.headers[0].value == "SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9");
  CHECK(m.headers[8].id == HeaderId::content_length);
  CHECK(m.body == k_sdp);
  CHECK(m.raw == k_invite);
}

TEST_CASE("a response parses its status code and reason phrase") {
  const auto m = must_parse(k_ok);
  CHECK(m.is_response());
  CHECK(m.status_code == 200);
  CHECK(m.reason == "OK");
  CHECK(m.body.empty());
  CHECK(m.method_text.empty());
}

TEST_CASE("known methods map to the enum and others keep their text") {
  const std::array<std::pair<std::string_view, Method>, 13> known{{
      {"INVITE", Method::invite}, {"ACK", Method::ack}, {"BYE", Method::bye},
      {"CANCEL", Method::cancel}, {"OPTIONS", Method::options}, {"REGISTER", Method::register_},
      {"INFO", Method::info}, {"UPDATE", Method::update}, {"PRACK", Method::prack},
      {"SUBSCRIBE", Method::subscribe}, {"NOTIFY", Method::notify}, {"REFER", Method::refer},
      {"MESSAGE", Method::message},
  }};
  for (const auto& [text, id] : known) {
    CHECK(method_from_string(text) == id);
    CHECK(to_string(id) == text);
  }
  CHECK(method_from_string("invite") == Method::extension); // methods are case-sensitive
  CHECK(to_string(Method::extension).empty());
  const auto m = must_parse(sipmsg({"PUBLISH sip:p@example.com SIP/2.0", "l: 0"}));
  CHECK(m.method == Method::extension);
  CHECK(m.method_text == "PUBLISH");
}

TEST_CASE("header names are case-insensitive and compact forms map to the long names' ids") {
  const std::array<std::pair<char, HeaderId>, 16> compact{{
      {'i', HeaderId::call_id}, {'m', HeaderId::contact}, {'e', HeaderId::content_encoding},
      {'l', HeaderId::content_length}, {'c', HeaderId::content_type}, {'f', HeaderId::from},
      {'s', HeaderId::subject}, {'k', HeaderId::supported}, {'t', HeaderId::to},
      {'v', HeaderId::via}, {'o', HeaderId::event}, {'u', HeaderId::allow_events},
      {'r', HeaderId::refer_to}, {'b', HeaderId::referred_by}, {'x', HeaderId::session_expires},
      {'y', HeaderId::identity},
  }};
  for (const auto& [c, id] : compact) {
    const char lower[2] = {c, 0};
    const char upper[2] = {static_cast<char>(c - 'a' + 'A'), 0};
    CHECK(header_id(lower) == id);
    CHECK(header_id(upper) == id);
    CHECK_FALSE(header_name(id).empty());
    CHECK(header_id(header_name(id)) == id);
  }
  CHECK(header_id("cAlL-iD") == HeaderId::call_id);
  CHECK(header_id("WWW-AUTHENTICATE") == HeaderId::www_authenticate);
  CHECK(header_id("min-se") == HeaderId::min_se);
  CHECK(header_id("q") == HeaderId::other);
  CHECK(header_id("X-Custom") == HeaderId::other);
  CHECK(header_name(HeaderId::other).empty());
  CHECK(header_name(HeaderId::cseq) == "CSeq");
}

TEST_CASE("find and find_all see long and compact forms alike, in wire order") {
  const auto m = must_parse(sipmsg({
      "OPTIONS sip:o@example.com SIP/2.0",
      "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
      "Via: SIP/2.0/UDP b.example.com;branch=z9hG4bK2",
      "X-Trace: one",
      "x-trace: two",
      "X-Other: three",
      "l: 0",
  }));
  CHECK(m.count(HeaderId::via) == 2);
  std::vector<std::string_view> vias;
  for (const auto& h : m.find_all(HeaderId::via)) vias.push_back(h.value);
  REQUIRE(vias.size() == 2);
  CHECK(vias[0].find("a.example.com") != std::string_view::npos);
  CHECK(vias[1].find("b.example.com") != std::string_view::npos);
  CHECK(m.find("VIA") == &m.headers[0]);
  CHECK(m.find("v") == &m.headers[0]);
  CHECK(m.find_all("X-TRACE").size() == 2);
  CHECK(m.find("x-other")->value == "three");
  CHECK(m.find("X-Missing") == nullptr);
  CHECK(m.find(HeaderId::contact) == nullptr);
  CHECK(m.find_all(HeaderId::other).size() == 3);
  CHECK(m.find_all(HeaderId::contact).empty());
}

TEST_CASE("folded header values keep their raw span and unfold to one line") {
  const std::string wire = sipmsg({
      "OPTIONS sip:o@example.com SIP/2.0",
      "Subject: first",
      " second\t",
      "\t  third",
      "Contact:",
      "   <sip:c@example.com>",
      "l: 0",
  });
  const auto m = must_parse(wire);
  const Header* subject = m.find(HeaderId::subject);
  REQUIRE(subject);
  CHECK(subject->folded);
  CHECK(subject->value == "first\r\n second\t\r\n\t  third");
  CHECK(unfolded(*subject) == "first second third");
  std::array<char, 64> buf{};
  CHECK(unfold(subject->value, buf) == "first second third");
  std::array<char, 4> small{};
  CHECK_FALSE(unfold(subject->value, small));
  // A fold right after the colon is leading whitespace, not part of the value.
  const Header* contact = m.find(HeaderId::contact);
  REQUIRE(contact);
  CHECK_FALSE(contact->folded);
  CHECK(contact->value == "<sip:c@example.com>");
}

TEST_CASE("a continuation line before the first header is malformed") {
  Message m;
  const auto r = parse_dgram("OPTIONS sip:o@example.com SIP/2.0\r\n folded: no\r\n\r\n", m);
  CHECK(r.status == parse_status::malformed);
  CHECK_FALSE(r.reason.empty());
}

TEST_CASE("a header line without a colon or with a non-token name is malformed") {
  Message m;
  CHECK(parse_dgram("OPTIONS sip:o@example.com SIP/2.0\r\nFoobar roobar\r\n\r\n", m).status ==
        parse_status::malformed);
  CHECK(parse_dgram("OPTIONS sip:o@example.com SIP/2.0\r\n: empty\r\n\r\n", m).status ==
        parse_status::malformed);
  CHECK(parse_dgram("OPTIONS sip:o@example.com SIP/2.0\r\nBad(name): x\r\n\r\n", m).status ==
        parse_status::malformed);
}

TEST_CASE("whitespace between a header name and its colon is allowed") {
  const auto m = must_parse(sipmsg({"OPTIONS sip:o@example.com SIP/2.0", "Subject \t : hi",
                                       "l: 0"}));
  CHECK(m.find(HeaderId::subject)->name == "Subject");
  CHECK(m.find(HeaderId::subject)->value == "hi");
}

TEST_CASE("bare LF line endings are tolerated and a bare CR is malformed") {
  const auto m = must_parse("OPTIONS sip:o@example.com SIP/2.0\nVia: SIP/2.0/UDP h.example.com\n"
                               "Subject: a\n b\nl: 0\n\n");
  CHECK(m.headers.size() == 3);
  CHECK(unfolded(*m.find(HeaderId::subject)) == "a b");
  Message bad;
  CHECK(parse_dgram("OPTIONS sip:o@example.com SIP/2.0\r\nSubject: a\rInjected: b\r\n\r\n", bad)
            .status == parse_status::malformed);
  CHECK(parse_dgram("OPTIONS sip:o@example.com\r SIP/2.0\r\n\r\n", bad).status ==
        parse_status::malformed);
}

TEST_CASE("a message with no headers still parses") {
  const auto m = must_parse("SIP/2.0 100 Trying\r\n\r\n");
  CHECK(m.headers.empty());
  CHECK(m.status_code == 100);
}

TEST_CASE("a Message reused across parses does not reallocate its header table") {
  Message m;
  REQUIRE(parse_dgram(k_invite, m).status == parse_status::ok);
  const Header* data = m.headers.data();
  const auto capacity = m.headers.capacity();
  CHECK(capacity >= Limits{}.max_headers);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(parse_dgram(i % 2 ? k_ok : k_invite, m).status == parse_status::ok);
    CHECK(m.headers.data() == data);
    CHECK(m.headers.capacity() == capacity);
  }
}

// =============================================================================================
// Status line and request line

TEST_CASE("a response without a reason phrase parses with an empty reason") {
  CHECK(must_parse("SIP/2.0 180 \r\nl: 0\r\n\r\n").reason.empty());
  CHECK(must_parse("SIP/2.0 180\r\nl: 0\r\n\r\n").reason.empty()); // tolerated, no SP
  CHECK(must_parse("SIP/2.0 183  Session Progress \r\nl: 0\r\n\r\n").reason == " Session Progress ");
}

TEST_CASE("status codes outside 100-699 or not three digits are malformed") {
  Message m;
  for (std::string_view line : {"SIP/2.0 099 Low"sv, "SIP/2.0 700 High"sv, "SIP/2.0 4294967301 Big"sv,
                                "SIP/2.0 20 Short"sv, "SIP/2.0 2x0 NaN"sv, "SIP/2.0"sv, "SIP/2.0 "sv}) {
    const std::string wire = std::string(line) + "\r\nl: 0\r\n\r\n";
    INFO(std::string(line));
    CHECK(parse_dgram(wire, m).status == parse_status::malformed);
  }
  CHECK(must_parse("SIP/2.0 699 Top\r\n\r\n").status_code == 699);
  CHECK(must_parse("SIP/2.0 100 Bottom\r\n\r\n").status_code == 100);
}

TEST_CASE("a reason phrase with a control character is malformed") {
  Message m;
  CHECK(parse_dgram("SIP/2.0 200 O\x01K\r\n\r\n"sv, m).status == parse_status::malformed);
  CHECK(must_parse("SIP/2.0 200 tab\there\r\n\r\n").reason == "tab\there");
}

TEST_CASE("SIP-Version is case-insensitive syntax with digits on both sides of the dot") {
  CHECK(must_parse("OPTIONS sip:o@example.com sip/2.0\r\n\r\n").is_sip_2_0());
  Message m;
  CHECK(parse_dgram("OPTIONS sip:o@example.com SIP/2\r\n\r\n", m).status == parse_status::malformed);
  CHECK(parse_dgram("OPTIONS sip:o@example.com SIP/.0\r\n\r\n", m).status == parse_status::malformed);
  CHECK(parse_dgram("OPTIONS sip:o@example.com HTTP/1.1\r\n\r\n", m).status == parse_status::malformed);
}

TEST_CASE("a SIP Request-URI is validated with parse_uri, other schemes only as absolute URIs") {
  Message m;
  CHECK(parse_dgram("OPTIONS sip:o@[::1 SIP/2.0\r\n\r\n", m).status == parse_status::malformed);
  CHECK(parse_dgram("OPTIONS sip:o@example.com:0 SIP/2.0\r\n\r\n", m).status == parse_status::malformed);
  CHECK(must_parse("OPTIONS tel:+12015550123 SIP/2.0\r\n\r\n").request_uri == "tel:+12015550123");
  // RFC 4475 novelsc and unkscm: unknown schemes parse; a UAS answers 416.
  CHECK(must_parse("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\r\n\r\n").request_uri ==
        "soap.beep://192.0.2.103:3002");
  CHECK(must_parse("OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\r\n\r\n").is_request());
}

// =============================================================================================
// Datagram framing (RFC 3261 §18.3)

TEST_CASE("a datagram without Content-Length takes the rest as body") {
  const std::string wire = "MESSAGE sip:m@example.com SIP/2.0\r\nContent-Type: text/plain\r\n\r\nhello";
  Message m;
  const auto r = parse_dgram(wire, m);
  REQUIRE(r.status == parse_status::ok);
  CHECK(m.body == "hello");
  CHECK(r.consumed == wire.size());
}

TEST_CASE("a datagram with Content-Length larger than the rest is malformed") {
  const std::string wire = sipmsg({"MESSAGE sip:m@example.com SIP/2.0", "Content-Length: 6"}, "hello");
  Message m;
  const auto r = parse_dgram(wire, m);
  CHECK(r.status == parse_status::malformed);
  CHECK(r.reason.find("Content-Length") != std::string_view::npos);
}

TEST_CASE("a datagram with Content-Length smaller than the rest ignores the trailing bytes") {
  const std::string wire = sipmsg({"MESSAGE sip:m@example.com SIP/2.0", "Content-Length: 3"}, "hello");
  Message m;
  const auto r = parse_dgram(wire, m);
  REQUIRE(r.status == parse_status::ok);
  CHECK(m.body == "hel");
  CHECK(r.consumed == wire.size() - 2);
}

TEST_CASE("a datagram whose header section never ends is malformed") {
  Message m;
  CHECK(parse_dgram("OPTIONS sip:o@example.com SIP/2.0\r\nl: 0\r\n", m).status == parse_status::malformed);
  CHECK(parse_dgram("OPTIONS sip:o@example.com SIP/2.0", m).status == parse_status::malformed);
}

TEST_CASE("a datagram holding only CRLF is a keep-alive, not an error") {
  Message m;
  const auto r = parse_dgram("\r\n\r\n", m);
  CHECK(r.status == parse_status::need_more);
  CHECK(r.consumed == 4);
  CHECK(r.skipped == 4);
  const auto empty = parse_dgram("", m);
  CHECK(empty.status == parse_status::need_more);
  CHECK(empty.consumed == 0);
}

TEST_CASE("a non-numeric or negative Content-Length is malformed") {
  Message m;
  for (std::string_view v : {"-999"sv, "12a"sv, "0x10"sv, "1 2"sv, ""sv}) {
    const std::string wire = "OPTIONS sip:o@example.com SIP/2.0\r\nContent-Length: " + std::string(v) + "\r\n\r\n";
    INFO(std::string(v));
    CHECK(parse_dgram(wire, m).status == parse_status::malformed);
  }
}

TEST_CASE("conflicting Content-Length headers are malformed and equal duplicates accepted") {
  Message m;
  // RFC 4475 mcl01.
  CHECK(parse_dgram(sipmsg({"OPTIONS sip:o@example.com SIP/2.0", "Content-Length: 13", "l: 5"},
                           "There's no way to know how many octets are supposed to be here."),
                    m)
            .status == parse_status::malformed);
  CHECK(parse_dgram(sipmsg({"OPTIONS sip:o@example.com SIP/2.0", "Content-Length: 2", "l: 02"}, "ok"), m)
            .status == parse_status::ok);
}

// =============================================================================================
// Stream framing

TEST_CASE("a stream message without Content-Length is malformed") {
  Message m;
  const auto r = parse_stream("OPTIONS sip:o@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h.example.com\r\n\r\n", m);
  CHECK(r.status == parse_status::malformed);
  CHECK(r.reason.find("18.3") != std::string_view::npos);
}

TEST_CASE("a stream message fed byte by byte is need_more until complete, then ok with the exact consumed") {
  for (const std::string* wire : {&k_invite, &k_ok}) {
    const std::string next = "garbage that belongs to the next message";
    const std::string buf = *wire + next;
    Message m;
    for (std::size_t n = 0; n < wire->size(); ++n) {
      const auto r = parse_stream(std::string_view(buf).substr(0, n), m);
      INFO("prefix ", n, " reason ", std::string(r.reason));
      REQUIRE(r.status == parse_status::need_more);
      CHECK(r.consumed == 0);
    }
    for (std::size_t n = wire->size(); n <= buf.size(); ++n) {
      const auto r = parse_stream(std::string_view(buf).substr(0, n), m);
      REQUIRE(r.status == parse_status::ok);
      CHECK(r.consumed == wire->size());
      CHECK(m.raw == *wire);
    }
  }
}

TEST_CASE("need_more reports the expected size once the header section is complete") {
  const auto head_len = k_invite.size() - k_sdp.size();
  Message m;
  const auto before = parse_stream(std::string_view(k_invite).substr(0, head_len - 1), m);
  CHECK(before.status == parse_status::need_more);
  CHECK(before.expected == 0);
  const auto after = parse_stream(std::string_view(k_invite).substr(0, head_len), m);
  CHECK(after.status == parse_status::need_more);
  CHECK(after.expected == k_invite.size());
}

TEST_CASE("a stream message fed in random chunks parses once, exactly where it ends") {
  std::mt19937 rng(4475);
  const std::string stream = "\r\n\r\n" + k_invite + k_ok + "\r\n" + k_invite;
  for (int round = 0; round < 200; ++round) {
    std::string buffer;
    std::size_t fed = 0;
    std::vector<std::uint16_t> codes;
    Message m;
    while (fed < stream.size() || !buffer.empty()) {
      const std::size_t chunk = std::uniform_int_distribution<std::size_t>(1, 97)(rng);
      const std::size_t take = std::min(chunk, stream.size() - fed);
      buffer.append(stream, fed, take);
      fed += take;
      for (;;) {
        const auto r = parse_stream(buffer, m);
        REQUIRE(r.status != parse_status::malformed);
        REQUIRE(r.status != parse_status::too_large);
        if (r.status == parse_status::ok) codes.push_back(m.status_code);
        buffer.erase(0, r.consumed);
        if (r.status != parse_status::ok) break;
      }
      if (take == 0) break;
    }
    CHECK(buffer.empty());
    REQUIRE(codes.size() == 3);
    CHECK(codes == std::vector<std::uint16_t>{0, 200, 0});
  }
}

TEST_CASE("StreamParser agrees with parse_message at every byte boundary") {
  const std::string stream = "\r\n" + k_invite + k_ok + k_invite + "\r\n\r\n";
  StreamParser parser;
  std::string buffer;
  std::vector<std::size_t> message_sizes;
  Message m;
  for (char c : stream) {
    buffer.push_back(c);
    for (;;) {
      const auto expected = parse_stream(buffer, m);
      const auto r = parser.parse(buffer, m);
      REQUIRE(r.status == expected.status);
      if (r.status == parse_status::ok) {
        CHECK(r.consumed == expected.consumed);
        message_sizes.push_back(m.raw.size());
      } else {
        // The stateful parser may hold back keep-alive bytes while it scans; it never drops more.
        CHECK(r.consumed <= expected.consumed);
      }
      buffer.erase(0, r.consumed);
      if (r.status != parse_status::ok) break;
    }
  }
  CHECK(message_sizes == std::vector<std::size_t>{k_invite.size(), k_ok.size(), k_invite.size()});
  CHECK(buffer.empty());
}

TEST_CASE("StreamParser fails fast on a garbage start line and on oversize input") {
  StreamParser parser;
  Message m;
  CHECK(parser.parse("HELLO WORLD\r\n", m).status == parse_status::malformed);
  StreamParser small(Limits{.max_message = 64, .max_headers = 8, .max_header_line = 32});
  std::string buf = "OPTIONS sip:o@example.com SIP/2.0\r\n";
  CHECK(small.parse(buf, m).status == parse_status::too_large); // start line > 32
  StreamParser lines(Limits{.max_message = 4096, .max_headers = 8, .max_header_line = 40});
  buf = "OPTIONS sip:o@example.com SIP/2.0\r\nX: ";
  CHECK(lines.parse(buf, m).status == parse_status::need_more);
  buf.append(50, 'a'); // a partial header line already longer than the limit
  CHECK(lines.parse(buf, m).status == parse_status::too_large);
}

TEST_CASE("two pipelined messages in one stream buffer parse one after another") {
  const std::string buf = k_invite + k_ok;
  Message m;
  const auto first = parse_stream(buf, m);
  REQUIRE(first.status == parse_status::ok);
  CHECK(first.consumed == k_invite.size());
  CHECK(m.method == Method::invite);
  CHECK(m.body == k_sdp);
  const auto second = parse_stream(std::string_view(buf).substr(first.consumed), m);
  REQUIRE(second.status == parse_status::ok);
  CHECK(second.consumed == k_ok.size());
  CHECK(m.status_code == 200);
}

TEST_CASE("CRLF keep-alives before a message are skipped and counted in consumed") {
  const std::string buf = "\r\n\r\n\r\n" + k_ok;
  Message m;
  const auto r = parse_stream(buf, m);
  REQUIRE(r.status == parse_status::ok);
  CHECK(r.skipped == 6);
  CHECK(r.consumed == buf.size());
  CHECK(m.raw == k_ok);
}

TEST_CASE("a stream of only keep-alives is need_more with every byte consumable") {
  Message m;
  const auto ping = parse_stream("\r\n\r\n", m); // RFC 5626 §3.5.1 ping
  CHECK(ping.status == parse_status::need_more);
  CHECK(ping.consumed == 4);
  const auto pong = parse_stream("\r\n", m); // and the pong
  CHECK(pong.consumed == 2);
  const auto partial = parse_stream("\r\n\r\nSIP/2.0 2", m);
  CHECK(partial.status == parse_status::need_more);
  CHECK(partial.consumed == 4);
  CHECK(partial.skipped == 4);
}

// =============================================================================================
// Limits

TEST_CASE("a message larger than max_message is too_large") {
  const Limits lim{.max_message = 300, .max_headers = 128, .max_header_line = 8192};
  Message m;
  CHECK(parse_dgram(k_invite, m, lim).status == parse_status::too_large);
  CHECK(parse_stream(k_invite, m, lim).status == parse_status::too_large);
  // A stream announcing a huge body is refused at once, without waiting for it.
  const std::string head = sipmsg({"MESSAGE sip:m@example.com SIP/2.0", "Content-Length: 1000000"});
  const auto r = parse_stream(head, m);
  CHECK(r.status == parse_status::too_large);
  CHECK(parse_stream(sipmsg({"MESSAGE sip:m@example.com SIP/2.0", "Content-Length: 99999999999999999999999"}), m)
            .status == parse_status::too_large);
  // A header section that keeps growing without an end is refused once it passes the limit.
  std::string endless = "OPTIONS sip:o@example.com SIP/2.0\r\n";
  while (endless.size() <= 300) endless += "X-Filler: aaaaaaaaaaaaaaaaaaaa\r\n";
  CHECK(parse_stream(endless, m, lim).status == parse_status::too_large);
}

TEST_CASE("more headers than max_headers is too_large") {
  std::string wire = "OPTIONS sip:o@example.com SIP/2.0\r\n";
  for (int i = 0; i < 9; ++i) wire += "X-H: " + std::to_string(i) + "\r\n";
  wire += "\r\n";
  Message m;
  CHECK(parse_dgram(wire, m, Limits{.max_message = 65535, .max_headers = 9, .max_header_line = 8192}).status ==
        parse_status::ok);
  const auto r = parse_dgram(wire, m, Limits{.max_message = 65535, .max_headers = 8, .max_header_line = 8192});
  CHECK(r.status == parse_status::too_large);
  CHECK(r.reason.find("max_headers") != std::string_view::npos);
}

TEST_CASE("a header line longer than max_header_line is too_large, folded lines included") {
  const Limits lim{.max_message = 65535, .max_headers = 128, .max_header_line = 64};
  Message m;
  const std::string longline = "OPTIONS sip:o@example.com SIP/2.0\r\nSubject: " + std::string(80, 'a') + "\r\n\r\n";
  CHECK(parse_dgram(longline, m, lim).status == parse_status::too_large);
  std::string folded = "OPTIONS sip:o@example.com SIP/2.0\r\nSubject: start\r\n";
  for (int i = 0; i < 5; ++i) folded += " " + std::string(20, 'b') + "\r\n";
  folded += "\r\n";
  CHECK(parse_dgram(folded, m, lim).status == parse_status::too_large);
  const std::string longstart = "OPTIONS sip:" + std::string(80, 'o') + "@example.com SIP/2.0\r\n\r\n";
  CHECK(parse_dgram(longstart, m, lim).status == parse_status::too_large);
  // On a stream, a partial line already over the limit is refused before its end arrives.
  CHECK(parse_stream("OPTIONS sip:o@example.com SIP/2.0\r\nSubject: " + std::string(80, 'a'), m, lim).status ==
        parse_status::too_large);
}

TEST_CASE("every truncation of every message parses without reading past its end") {
  // Each prefix is copied into an exactly sized heap block, so ASan flags any over-read.
  const std::string corpus[] = {k_invite, k_ok, "\r\n\r\nSIP/2.0 100 \r\nSubject: a\r\n b\r\nl: 0\r\n\r\n"};
  Message m;
  for (const auto& wire : corpus) {
    for (std::size_t n = 0; n <= wire.size(); ++n) {
      std::vector<char> exact(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(n));
      const std::string_view view(exact.data(), exact.size());
      (void)parse_dgram(view, m);
      (void)parse_stream(view, m);
      for (const auto& h : m.headers) (void)h.value.size();
    }
  }
}

// =============================================================================================
// Structured helpers: Via

TEST_CASE("a Via yields sent-protocol, sent-by and the RFC 3261 and RFC 3581 params") {
  const auto v = parse_via("SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bK776asdhds;"
                           "received=192.0.2.1;rport=61000;maddr=224.2.0.1;ttl=16;x-ext=\"q v\"");
  REQUIRE(v);
  CHECK(v->protocol_name == "SIP");
  CHECK(v->protocol_version == "2.0");
  CHECK(v->transport == "UDP");
  CHECK(v->host == "pc33.atlanta.example.com");
  CHECK(v->port == 5066);
  CHECK(v->branch == "z9hG4bK776asdhds");
  CHECK(v->received == "192.0.2.1");
  CHECK(v->has_rport);
  CHECK(v->rport == 61000);
  CHECK(v->maddr == "224.2.0.1");
  CHECK(v->ttl == 16);
  const auto ext = find_param(v->params, "X-EXT");
  REQUIRE(ext);
  CHECK(ext->quoted);
  CHECK(ext->value == "q v");
}

TEST_CASE("rport may appear with or without a value") {
  const auto empty = parse_via("SIP/2.0/UDP 192.0.2.4;rport;branch=z9hG4bKx");
  REQUIRE(empty);
  CHECK(empty->has_rport);
  CHECK_FALSE(empty->rport);
  const auto none = parse_via("SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKx");
  REQUIRE(none);
  CHECK_FALSE(none->has_rport);
  CHECK_FALSE(parse_via("SIP/2.0/UDP 192.0.2.4;rport=0"));
  CHECK_FALSE(parse_via("SIP/2.0/UDP 192.0.2.4;rport=65536"));
  CHECK_FALSE(parse_via("SIP/2.0/UDP 192.0.2.4;rport=x"));
}

TEST_CASE("an IPv6 Via sent-by keeps its brackets and its port") {
  const auto v = parse_via("SIP/2.0/TLS [2001:db8::9:1]:5061;branch=z9hG4bK6;received=2001:db8::9:255");
  REQUIRE(v);
  CHECK(v->is_ipv6());
  CHECK(v->host == "[2001:db8::9:1]");
  CHECK(v->port == 5061);
  CHECK(v->received == "2001:db8::9:255");
  const auto bare = parse_via("SIP/2.0/UDP [::1]");
  REQUIRE(bare);
  CHECK(bare->host == "[::1]");
  CHECK_FALSE(bare->port);
  CHECK(parse_via("SIP/2.0/UDP [::1]:5060;received=[2001:db8::1]")->received == "[2001:db8::1]");
  CHECK_FALSE(parse_via("SIP/2.0/UDP [::1:5060"));
  CHECK_FALSE(parse_via("SIP/2.0/UDP [::g]"));
  CHECK_FALSE(parse_via("SIP/2.0/UDP ::1"));
}

TEST_CASE("a Via allows linear whitespace around '/', ':', ';' and '='") {
  const auto v = parse_via("SIP \t/ 2.0\r\n /  TCP   host.example.com  :  5070  ;  branch  =  z9hG4bKa ; rport");
  REQUIRE(v);
  CHECK(v->transport == "TCP");
  CHECK(v->host == "host.example.com");
  CHECK(v->port == 5070);
  CHECK(v->branch == "z9hG4bKa");
  CHECK(v->has_rport);
}

TEST_CASE("an invalid Via is rejected") {
  for (std::string_view bad :
       {"SIP/2.0 host.example.com"sv, "SIP/2.0/UDP"sv, "SIP/2.0/UDPhost"sv, "SIP/2.0/UDP host.example.com:0"sv,
        "SIP/2.0/UDP host.example.com:65536"sv, "SIP/2.0/UDP host.example.com;ttl=256"sv,
        "SIP/2.0/UDP host.example.com;branch"sv, "SIP/2.0/UDP host.example.com;branch=\"q\""sv,
        "SIP/2.0/UDP host.example.com;;"sv, "SIP/2.0/UDP host.example.com junk"sv,
        "SIP/2.0/UDP -host.example.com"sv, "SIP/2.0/UDP host.example.com;maddr=bad_host"sv,
        "SIP/2.0/UDP host.example.com;x=\"unterminated"sv, "/2.0/UDP h.example.com"sv, ""sv}) {
    INFO(std::string(bad));
    CHECK_FALSE(parse_via(bad));
  }
}

TEST_CASE("several Vias on one line are split by ListCursor") {
  const auto m = must_parse(sipmsg({
      "SIP/2.0 180 Ringing",
      "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::2]:5060;branch=z9hG4bK2,",
      " SIP/2.0/TLS c.example.com;branch=z9hG4bK3",
      "Via: SIP/2.0/UDP d.example.com;branch=z9hG4bK4",
      "l: 0",
  }));
  const auto vias = all_vias(m);
  REQUIRE(vias.size() == 4);
  CHECK(vias[0].branch == "z9hG4bK1");
  CHECK(vias[1].is_ipv6());
  CHECK(vias[2].transport == "TLS");
  CHECK(vias[3].host == "d.example.com");
}

TEST_CASE("ListCursor rejects empty elements and unbalanced quotes or brackets") {
  const auto count = [](std::string_view v, bool& bad) {
    ListCursor c(v);
    int n = 0;
    while (c.next()) ++n;
    bad = c.malformed();
    return n;
  };
  bool bad = false;
  CHECK(count("a, \"b,c\", <d,e>;x=1", bad) == 3);
  CHECK_FALSE(bad);
  CHECK(count("", bad) == 0);
  CHECK_FALSE(bad);
  count("a,,b", bad);
  CHECK(bad);
  count("a, ", bad);
  CHECK(bad);
  count(", a", bad);
  CHECK(bad);
  count("\"open, b", bad);
  CHECK(bad);
  count("<sip:a@b, c", bad);
  CHECK(bad);
}

// =============================================================================================
// Structured helpers: name-addr

TEST_CASE("a name-addr yields display name, URI, params and tag") {
  const auto na = parse_name_addr("\"Alice \\\"A\\\" Liddell\" <sip:alice@atlanta.example.com;transport=tcp>;tag=88sja8x;x=1");
  REQUIRE(na);
  CHECK(na->display_quoted);
  CHECK(na->display_name == "Alice \\\"A\\\" Liddell");
  CHECK(unquoted(na->display_name) == "Alice \"A\" Liddell");
  CHECK(na->uri == "sip:alice@atlanta.example.com;transport=tcp");
  CHECK(na->bracketed);
  CHECK(na->tag == "88sja8x");
  CHECK(find_param(na->params, "x")->value == "1");
}

TEST_CASE("an addr-spec without brackets ends at the first ';'") {
  const auto na = parse_name_addr("sip:bob@biloxi.example.com;tag=a6c85cf");
  REQUIRE(na);
  CHECK(na->display_name.empty());
  CHECK_FALSE(na->bracketed);
  CHECK(na->uri == "sip:bob@biloxi.example.com");
  CHECK(na->tag == "a6c85cf");
}

TEST_CASE("token display names and Contact star are accepted") {
  const auto na = parse_name_addr("Bob  Smith <sips:bob@[2001:db8::7]:5061>");
  REQUIRE(na);
  CHECK_FALSE(na->display_quoted);
  CHECK(na->display_name == "Bob  Smith");
  CHECK(na->uri == "sips:bob@[2001:db8::7]:5061");
  const auto star = parse_name_addr(" * ");
  REQUIRE(star);
  CHECK(star->star);
  const auto bare = parse_name_addr("<sip:c@example.com>");
  REQUIRE(bare);
  CHECK(bare->display_name.empty());
  CHECK(bare->tag.empty());
}

TEST_CASE("several Contacts on one line keep commas inside quotes and brackets") {
  const std::string_view v = "\"Doe, John\" <sip:john@example.com;a=b,c>;q=0.7, <sip:x@example.com>, sip:y@example.com;expires=60";
  ListCursor c(v);
  std::vector<NameAddr> all;
  while (auto e = c.next()) {
    const auto na = parse_name_addr(*e);
    REQUIRE(na);
    all.push_back(*na);
  }
  CHECK_FALSE(c.malformed());
  REQUIRE(all.size() == 3);
  CHECK(all[0].display_name == "Doe, John");
  CHECK(all[0].uri == "sip:john@example.com;a=b,c");
  CHECK(find_param(all[0].params, "q")->value == "0.7");
  CHECK(all[1].uri == "sip:x@example.com");
  CHECK(all[2].uri == "sip:y@example.com");
}

TEST_CASE("helpers read folded values as if they were unfolded") {
  // RFC 3261 §7.3.1: a fold is one SP, even right after the '\\' of a quoted-pair.
  const std::string_view raw = "\"a\\\r\n b\" <sip:x@example.com>;\r\n tag=1";
  std::string flat;
  append_unfolded(flat, raw);
  CHECK(flat == "\"a\\ b\" <sip:x@example.com>; tag=1");
  const auto folded = parse_name_addr(raw);
  const auto unfolded = parse_name_addr(flat);
  REQUIRE(folded);
  REQUIRE(unfolded);
  CHECK(folded->tag == "1");
  CHECK(unfolded->tag == "1");
  CHECK(parse_cseq("12\r\n\tACK")->method == Method::ack);
  CHECK_FALSE(parse_call_id("abc\r\n def"));
}

TEST_CASE("an invalid name-addr is rejected") {
  for (std::string_view bad :
       {"\"unterminated <sip:a@example.com>"sv, "<sip:a@example.com"sv, "< sip:a@example.com>"sv,
        "<sip:a@example.com >"sv, "Name <>"sv, "<sip:a@example.com>;tag"sv, "<sip:a@example.com>;tag=\"q\""sv,
        "<sip:a@example.com>;;"sv, "<sip:a@example.com> junk"sv, "sip:a@example.com?h=v"sv,
        "sip:a,b@example.com"sv, "Bell, Alexander <sip:a@example.com>"sv, "\"q\" sip:a@example.com"sv,
        "noscheme"sv, ""sv}) {
    INFO(std::string(bad));
    CHECK_FALSE(parse_name_addr(bad));
  }
}

// =============================================================================================
// Structured helpers: numbers, timers, Call-ID

TEST_CASE("CSeq numbers stop below 2^31 and name a method") {
  const auto c = parse_cseq("2147483647 REGISTER");
  REQUIRE(c);
  CHECK(c->number == 2147483647u);
  CHECK(c->method == Method::register_);
  const auto ext = parse_cseq(" 7\r\n  FOO ");
  REQUIRE(ext);
  CHECK(ext->method == Method::extension);
  CHECK(ext->method_text == "FOO");
  CHECK_FALSE(parse_cseq("2147483648 INVITE"));
  CHECK_FALSE(parse_cseq("1INVITE"));
  CHECK_FALSE(parse_cseq("1 INVITE x"));
  CHECK_FALSE(parse_cseq("INVITE"));
  CHECK_FALSE(parse_cseq("1 "));
}

TEST_CASE("Content-Length, Max-Forwards and delta-seconds have their RFC ranges") {
  CHECK(parse_content_length(" 0 ") == 0u);
  CHECK(parse_content_length("4294967295") == 4294967295u);
  CHECK_FALSE(parse_content_length("4294967296"));
  CHECK_FALSE(parse_content_length("-1"));
  CHECK(parse_max_forwards("0068") == 68);
  CHECK(parse_max_forwards("255") == 255);
  CHECK_FALSE(parse_max_forwards("256"));
  CHECK_FALSE(parse_max_forwards(""));
  CHECK(parse_delta_seconds("3600") == 3600u);
  CHECK(parse_delta_seconds("4294967295") == 4294967295u);
  CHECK_FALSE(parse_delta_seconds("4294967296"));
  CHECK_FALSE(parse_delta_seconds("1.5"));
}

TEST_CASE("Session-Expires carries a refresher and Min-SE its seconds") {
  const auto se = parse_session_expires("1800 ; refresher = UAC;x=y");
  REQUIRE(se);
  CHECK(se->seconds == 1800);
  CHECK(se->refresher == SessionExpires::Refresher::uac);
  CHECK(parse_session_expires("90")->refresher == SessionExpires::Refresher::none);
  CHECK(parse_session_expires("90;refresher=uas")->refresher == SessionExpires::Refresher::uas);
  CHECK_FALSE(parse_session_expires("90;refresher=both"));
  CHECK_FALSE(parse_session_expires("90;refresher"));
  CHECK_FALSE(parse_session_expires("ninety"));
  CHECK(parse_min_se("90;x") == 90u);
  CHECK_FALSE(parse_min_se("90;"));
}

TEST_CASE("Retry-After carries an optional comment and duration") {
  const auto ra = parse_retry_after("18000 (in a (nested \\) meeting)) ;duration=3600;x");
  REQUIRE(ra);
  CHECK(ra->seconds == 18000);
  CHECK(ra->comment == "in a (nested \\) meeting)");
  CHECK(ra->duration == 3600u);
  CHECK(parse_retry_after("120")->comment.empty());
  CHECK_FALSE(parse_retry_after("120 (open"));
  CHECK_FALSE(parse_retry_after("120;duration=x"));
  CHECK_FALSE(parse_retry_after("949302838503028349304023988")); // RFC 4475 scalarlg
}

TEST_CASE("Call-ID is word [@ word]") {
  CHECK(parse_call_id(" f81d4fae-7dec-11d0-a765@foo.example.com ") == "f81d4fae-7dec-11d0-a765@foo.example.com");
  CHECK(parse_call_id("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"));
  CHECK_FALSE(parse_call_id("a@b@c"));
  CHECK_FALSE(parse_call_id("@b"));
  CHECK_FALSE(parse_call_id("a b"));
  CHECK_FALSE(parse_call_id(""));
}

// =============================================================================================
// Structured helpers: authentication

TEST_CASE("a Digest challenge yields its scheme and auth-params with escaped quoted values") {
  const auto a = parse_auth("Digest realm=\"atlanta.example.com\", domain=\"sip:ss1.example.com\",\r\n"
                            " qop=\"auth,auth-int\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\","
                            " stale=FALSE, algorithm=MD5, x=\"a \\\"b\\\" \\\\c\"");
  REQUIRE(a);
  CHECK(a->scheme == "Digest");
  CHECK(a->token68.empty());
  AuthParamCursor c(a->params);
  std::vector<Param> ps;
  while (auto p = c.next()) ps.push_back(*p);
  CHECK_FALSE(c.malformed());
  REQUIRE(ps.size() == 8);
  CHECK(ps[0].name == "realm");
  CHECK(ps[0].value == "atlanta.example.com");
  CHECK(ps[0].quoted);
  CHECK(ps[2].value == "auth,auth-int");
  CHECK(ps[4].value.empty());
  CHECK(ps[4].quoted);
  CHECK(ps[5].value == "FALSE");
  CHECK_FALSE(ps[5].quoted);
  CHECK(unquoted(ps[7].value) == "a \"b\" \\c");
  std::array<char, 4> small{};
  CHECK_FALSE(unquote(ps[7].value, small));
  CHECK(find_auth_param(a->params, "NONCE")->value == "f84f1cec41e6cbe5aea9c8e88d359");
  CHECK_FALSE(find_auth_param(a->params, "cnonce"));
}

TEST_CASE("credentials parse like challenges and token68 schemes are recognised") {
  const auto cred = parse_auth("Digest username=\"alice\", realm=\"r\", nonce=\"n\", uri=\"sip:bob@example.com\","
                               " response=\"6629fae49393a05397450978507c4ef1\", nc=00000001, cnonce=\"0a4f113b\", qop=auth");
  REQUIRE(cred);
  CHECK(find_auth_param(cred->params, "nc")->value == "00000001");
  const auto bearer = parse_auth("Bearer eyJhbGciOi.JSUzI1-NiJ9_~+/a==");
  REQUIRE(bearer);
  CHECK(bearer->scheme == "Bearer");
  CHECK(bearer->token68 == "eyJhbGciOi.JSUzI1-NiJ9_~+/a==");
  CHECK(bearer->params.empty());
  // "Digest realm" is RFC 7235 token68 syntax; the digest layer, not this one, refuses it.
  CHECK(parse_auth("Digest realm")->token68 == "realm");
  // RFC 4475 regaut01: an unknown scheme still parses.
  CHECK(parse_auth("NoOneKnowsThisScheme opaque-data=here")->scheme == "NoOneKnowsThisScheme");
}

TEST_CASE("malformed challenges are rejected") {
  for (std::string_view bad : {"Digest"sv, "Digest "sv, "realm=\"x\""sv, "Digest realm=\"x\","sv,
                               "Digest realm=\"x\",,nonce=\"y\""sv, "Digest realm x"sv, "Digest realm=\"open"sv,
                               "Digest realm=\"x\" nonce=\"y\""sv, "Digest ,realm=x"sv, ""sv}) {
    INFO(std::string(bad));
    CHECK_FALSE(parse_auth(bad));
  }
}

// =============================================================================================
// Serialiser

TEST_CASE("MessageWriter builds a request with Content-Length computed and it parses back") {
  std::string wire;
  const auto ec = MessageWriter{}
                      .request(Method::invite, "sip:bob@[2001:db8::5]:5060")
                      .header(HeaderId::via, "SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKw1;rport")
                      .header(HeaderId::max_forwards, "70")
                      .header("X-Custom", "")
                      .body("application/sdp", k_sdp)
                      .finish(wire);
  REQUIRE_FALSE(ec);
  Message m;
  const auto r = parse_stream(wire, m);
  REQUIRE(r.status == parse_status::ok);
  CHECK(r.consumed == wire.size());
  CHECK(m.method == Method::invite);
  CHECK(m.request_uri == "sip:bob@[2001:db8::5]:5060");
  CHECK(m.find(HeaderId::content_type)->value == "application/sdp");
  CHECK(m.find(HeaderId::content_length)->value == std::to_string(k_sdp.size()));
  CHECK(m.find("X-Custom")->value.empty());
  CHECK(m.body == k_sdp);
}

TEST_CASE("MessageWriter builds a response") {
  std::string wire;
  REQUIRE_FALSE(MessageWriter{}.response(486, "Busy Here").header(HeaderId::call_id, "c1@h").finish(wire));
  CHECK(wire == "SIP/2.0 486 Busy Here\r\nCall-ID: c1@h\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("MessageWriter refuses CR or LF in any value (header injection)") {
  std::string wire = "untouched";
  auto ec = MessageWriter{}
                .request(Method::options, "sip:o@example.com")
                .header("Subject", "hi\r\nVia: SIP/2.0/UDP evil.example.com")
                .header(HeaderId::max_forwards, "70")
                .finish(wire);
  CHECK(ec == sip_error::unsafe_value);
  CHECK(wire == "untouched");
  CHECK(MessageWriter{}.request(Method::options, "sip:o@example.com").header("S", "a\nb").finish(wire) ==
        sip_error::unsafe_value);
  CHECK(MessageWriter{}.response(200, "OK\r\nX: y").finish(wire) == sip_error::unsafe_value);
  CHECK(MessageWriter{}.request(Method::options, "sip:o@example.com SIP/2.0\r\nX:").finish(wire) ==
        sip_error::invalid_uri);
}

TEST_CASE("MessageWriter refuses bad names, status codes, Content-Length and misordered calls") {
  std::string wire;
  CHECK(MessageWriter{}.request("IN VITE", "sip:o@example.com").finish(wire) == sip_error::invalid_token);
  CHECK(MessageWriter{}.request(Method::extension, "sip:o@example.com").finish(wire) == sip_error::invalid_token);
  CHECK(MessageWriter{}.request(Method::bye, "<sip:o@example.com>").finish(wire) == sip_error::invalid_uri);
  CHECK(MessageWriter{}.response(700, "Nope").finish(wire) == sip_error::invalid_status);
  CHECK(MessageWriter{}.response(99, "Nope").finish(wire) == sip_error::invalid_status);
  CHECK(MessageWriter{}.response(200, "OK").header("Bad Name", "x").finish(wire) == sip_error::invalid_token);
  CHECK(MessageWriter{}.response(200, "OK").header(HeaderId::other, "x").finish(wire) == sip_error::invalid_token);
  CHECK(MessageWriter{}.response(200, "OK").header("Content-Length", "0").finish(wire) ==
        sip_error::content_length_managed);
  CHECK(MessageWriter{}.response(200, "OK").header("l", "0").finish(wire) == sip_error::content_length_managed);
  CHECK(MessageWriter{}.header("Subject", "x").finish(wire) == sip_error::bad_sequence);
  CHECK(MessageWriter{}.finish(wire) == sip_error::bad_sequence);
  CHECK(MessageWriter{}.response(200, "OK").request(Method::ack, "sip:a@example.com").finish(wire) ==
        sip_error::bad_sequence);
  MessageWriter w;
  w.response(700, "x").header("Subject", "y");
  CHECK(w.error() == sip_error::invalid_status); // the first error sticks
}

TEST_CASE("write_message unfolds values, recomputes Content-Length and reparses identically") {
  const std::string wire = sipmsg(
      {
          "INVITE sip:b@example.com SIP/2.0",
          "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
          "Subject: one",
          "  two",
          "Content-Length   : %CL%",
          "X-Empty:",
      },
      k_sdp);
  const auto m = must_parse(wire);
  std::string out;
  REQUIRE_FALSE(write_message(m, out));
  Message again;
  REQUIRE(parse_stream(out, again).status == parse_status::ok);
  CHECK(again.method_text == m.method_text);
  CHECK(again.request_uri == m.request_uri);
  CHECK(again.find(HeaderId::subject)->value == "one two");
  CHECK(again.find("X-Empty")->value.empty());
  CHECK(again.count(HeaderId::content_length) == 1);
  CHECK(again.body == m.body);
  CHECK(again.headers.back().id == HeaderId::content_length);
}

TEST_CASE("sip_error values are std::error_codes of the sip.message category") {
  const std::error_code ec = sip_error::malformed;
  CHECK(ec.category().name() == "sip.message"sv);
  CHECK(ec.message() == "malformed SIP message");
  CHECK(to_error_code(parse_status::too_large) == sip_error::too_large);
  CHECK_FALSE(to_error_code(parse_status::ok));
  CHECK(to_error_code(parse_status::need_more) == sip_error::need_more);
  for (int e = 1; e <= static_cast<int>(sip_error::bad_sequence); ++e)
    CHECK(make_error_code(static_cast<sip_error>(e)).message() != "unknown sip.message error");
}

// =============================================================================================
// RFC 4475 §3.1.1 valid messages: all must parse.

TEST_CASE("RFC 4475 wsinv: a short tortuous INVITE parses and every helper reads it") {
  const std::string wire = sipmsg(
      {
          "INVITE sip:alice@torture.example.com;unknownparam SIP/2.0",
          "TO :",
          " sip:alice@torture.example.com ;   tag    = 1918181833n",
          R"(from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>)",
          "  ;",
          "  tag = 98asjd8",
          "MaX-fOrWaRdS: 0068",
          "Call-ID: wsinv.ndaksdj@192.0.2.1",
          "Content-Length   : %CL%",
          "cseq: 0009",
          "  INVITE",
          "Via  : SIP  /   2.0",
          " /UDP",
          "    192.0.2.2;branch=390skdjuw",
          "s :",
          "NewFangledHeader:   newfangled value",
          " continued newfangled value",
          "UnknownHeaderWithUnusualValue: ;;,,;;,;",
          "Content-Type: application/sdp",
          "Route:",
          " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
          "v:  SIP  / 2.0  / TCP     spindle.example.com   ;",
          "  branch  =   z9hG4bK9ikj8  ,",
          " SIP  /    2.0   / UDP  192.168.255.111   ; branch=",
          " z9hG4bK30239",
          R"(m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =)",
          "      newvalue ;",
          "  secondparam ; q = 0.33",
      },
      k_sdp);
  const auto m = must_parse(wire);
  CHECK(m.method == Method::invite);
  CHECK(m.body == k_sdp);
  CHECK(check_core_headers(m).empty());

  const auto to = parse_name_addr(m.find(HeaderId::to)->value);
  REQUIRE(to);
  CHECK(to->uri == "sip:alice@torture.example.com");
  CHECK(to->tag == "1918181833n");

  const auto from = parse_name_addr(m.find(HeaderId::from)->value);
  REQUIRE(from);
  CHECK(unquoted(from->display_name) == R"(J Rosenberg \")");
  CHECK(from->tag == "98asjd8");

  CHECK(parse_max_forwards(m.find(HeaderId::max_forwards)->value) == 68);
  const auto cseq = parse_cseq(m.find(HeaderId::cseq)->value);
  REQUIRE(cseq);
  CHECK(cseq->number == 9);
  CHECK(cseq->method == Method::invite);
  CHECK(m.find(HeaderId::subject)->value.empty());
  CHECK(unfolded(*m.find("NewFangledHeader")) == "newfangled value continued newfangled value");
  CHECK(m.find("unknownheaderwithunusualvalue")->value == ";;,,;;,;");

  const auto vias = all_vias(m);
  REQUIRE(vias.size() == 3);
  CHECK(vias[0].transport == "UDP");
  CHECK(vias[0].host == "192.0.2.2");
  CHECK(vias[0].branch == "390skdjuw");
  CHECK(vias[1].transport == "TCP");
  CHECK(vias[1].host == "spindle.example.com");
  CHECK(vias[1].branch == "z9hG4bK9ikj8");
  CHECK(vias[2].host == "192.168.255.111");
  CHECK(vias[2].branch == "z9hG4bK30239");

  const auto route = parse_name_addr(m.find(HeaderId::route)->value);
  REQUIRE(route);
  const auto route_uri = parse_uri(route->uri);
  REQUIRE(route_uri);
  CHECK(route_uri->lr);

  const auto contact = parse_name_addr(m.find(HeaderId::contact)->value);
  REQUIRE(contact);
  CHECK(unquoted(contact->display_name) == "Quoted string \"\"");
  CHECK(find_param(contact->params, "newparam")->value == "newvalue");
  CHECK(find_param(contact->params, "secondparam"));
  CHECK(find_param(contact->params, "q")->value == "0.33");
}

TEST_CASE("RFC 4475 intmeth: unusual method, URI, header and parameter characters parse") {
  const std::string method = "!interesting-Method0123456789_*+`.%indeed'~";
  const std::string wire =
      method + " sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\n"
      "To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\r\n"s
      "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xD1\x80\xD0\xB0\xD0\xB1\xD0\xBE\xD1\x82\xD0\xB0\";tag=_token~1'+`*%!-.\r\n"
      "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\n"
      "CSeq: 139122385 " + method + "\r\n"
      "Max-Forwards: 255\r\n"
      "extensionHeader-!.%*+_`'~:\xEF\xBB\xBF\xE5\xA4\xA7\xE5\x81\x9C\xE9\x9B\xBB\r\n"
      "Content-Length: 0\r\n\r\n";
  const auto m = must_parse(wire);
  CHECK(m.method == Method::extension);
  CHECK(m.method_text == method);
  CHECK(check_core_headers(m).empty());
  const auto ruri = parse_uri(m.request_uri);
  REQUIRE(ruri);
  CHECK(ruri->password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  const auto to = parse_name_addr(m.find(HeaderId::to)->value);
  REQUIRE(to);
  CHECK(unquoted(to->display_name) == "BEL:\x07 NUL:\0 DEL:\x7F"s);
  CHECK(parse_uri(to->uri));
  const auto from = parse_name_addr(m.find(HeaderId::from)->value);
  REQUIRE(from);
  CHECK(from->display_name == "token1~` token2'+_ token3*%!.-");
  CHECK(from->tag == "_token~1'+`*%!-.");
  CHECK(find_param(from->params, "fromParam''~+*_!.-%")->quoted);
  CHECK(parse_cseq(m.find(HeaderId::cseq)->value)->method_text == method);
  CHECK(parse_max_forwards(m.find(HeaderId::max_forwards)->value) == 255);
  CHECK(m.find("extensionHeader-!.%*+_`'~")->value == "\xEF\xBB\xBF\xE5\xA4\xA7\xE5\x81\x9C\xE9\x9B\xBB");
  CHECK(parse_via(m.find(HeaderId::via)->value)->branch == "z9hG4bK-.!%66*_+`'~");
}

TEST_CASE("RFC 4475 esc01: escaped characters in URIs parse and stay escaped") {
  const auto m = must_parse(sipmsg(
      {
          "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
          "To: sip:%75se%72@example.com",
          "From: <sip:I%20have%20spaces@example.net>;tag=1234",
          "Max-Forwards: 87",
          "i: esc01.239409asdfakjkn23onasd0-3234",
          "CSeq: 234234 INVITE",
          "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
          "C: application/sdp",
          "Contact:",
          "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
          "Content-Length: %CL%",
      },
      k_sdp));
  CHECK(check_core_headers(m).empty());
  CHECK(parse_uri(m.request_uri)->user == "sips%3Auser%40example.com");
  const auto to = parse_name_addr(m.find(HeaderId::to)->value);
  REQUIRE(to);
  std::string user;
  REQUIRE(append_unescaped(user, parse_uri(to->uri)->user));
  CHECK(user == "user");
  const auto contact = parse_name_addr(m.find(HeaderId::contact)->value);
  REQUIRE(contact);
  const auto curi = parse_uri(contact->uri);
  REQUIRE(curi);
  CHECK(curi->lr);
  CHECK(m.find(HeaderId::content_type)->value == "application/sdp");
}

TEST_CASE("RFC 4475 escnull: escaped NULs in URIs parse") {
  const auto m = must_parse(sipmsg({
      "REGISTER sip:example.com SIP/2.0",
      "To: sip:null-%00-null@example.com",
      "From: sip:null-%00-null@example.com;tag=839923423",
      "Max-Forwards: 70",
      "Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
      "CSeq: 14398234 REGISTER",
      "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
      "Contact: <sip:%00@host5.example.com>",
      "Contact: <sip:%00%00@host5.example.com>",
      "L:0",
  }));
  CHECK(check_core_headers(m).empty());
  for (const auto& h : m.find_all(HeaderId::contact)) {
    const auto na = parse_name_addr(h.value);
    REQUIRE(na);
    CHECK(parse_uri(na->uri));
  }
}

TEST_CASE("RFC 4475 esc02: escapes in method and header name are literal tokens") {
  const auto m = must_parse(sipmsg({
      "RE%47IST%45R sip:registrar.example.com SIP/2.0",
      "To: \"%Z%45\" <sip:resource@example.com>",
      "From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23",
      "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
      "Via: SIP/2.0/TCP host.example.com;rport;branch=z9hG4bK209%fzsnel234",
      "CSeq: 29344 RE%47IST%45R",
      "Max-Forwards: 70",
      "Contact: <sip:alias1@host1.example.com>",
      "C%6Fntact: <sip:alias2@host2.example.com>",
      "Contact: <sip:alias3@host3.example.com>",
      "l: 0",
  }));
  CHECK(m.method == Method::extension); // not REGISTER
  CHECK(check_core_headers(m).empty());
  CHECK(m.count(HeaderId::contact) == 2);
  CHECK(m.find("C%6Fntact")->id == HeaderId::other);
  CHECK(parse_name_addr(m.find(HeaderId::to)->value)->display_name == "%Z%45");
  CHECK(parse_via(m.find(HeaderId::via)->value)->has_rport);
}

TEST_CASE("RFC 4475 lwsdisp: no whitespace between display name and '<' is accepted") {
  const auto m = must_parse(sipmsg({
      "OPTIONS sip:user@example.com SIP/2.0",
      "To: sip:user@example.com",
      "From: caller<sip:caller@example.com>;tag=323",
      "Max-Forwards: 70",
      "Call-ID: lwsdisp.1234abcd@funky.example.com",
      "CSeq: 60 OPTIONS",
      "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw",
      "l: 0",
  }));
  CHECK(check_core_headers(m).empty());
  const auto from = parse_name_addr(m.find(HeaderId::from)->value);
  REQUIRE(from);
  CHECK(from->display_name == "caller");
  CHECK(from->uri == "sip:caller@example.com");
}

TEST_CASE("RFC 4475 longreq: very long values, names and many Vias parse") {
  std::string name(200, 'n');
  std::string lines = "INVITE sip:user@example.com SIP/2.0\r\n";
  lines += "To: \"I have a user name of " + std::string(500, 'x') + " proportion\"<sip:user@example.com:6000;unknownparam1=" +
           std::string(300, 'v') + ";" + name + "=shortvalue;" + std::string(250, 'p') + ">\r\n";
  lines += "F: sip:" + std::string(500, 'c') + "@example.net;tag=" + std::string(700, '9') + ";" + name + "=" +
           std::string(300, 'w') + ";" + std::string(200, 'z') + "\r\n";
  lines += "Call-ID: longreq." + std::string(400, 'r') + "\r\n";
  lines += "CSeq: 3882340 INVITE\r\n";
  lines += "Unknown-" + std::string(300, 'L') + "-Name: unknown-" + std::string(300, 'l') + "-value; unknown-" +
           std::string(200, 'p') + "-name = unknown-" + std::string(200, 'v') + "-value\r\n";
  const char* via_names[] = {"Via", "v", "V", "ViA", "VIa", "VIA", "via", "viA", "vIa", "vIA", "V ", "v  ", "Via  "};
  for (int i = 33; i >= 1; --i)
    lines += std::string(via_names[i % 13]) + ": SIP/2.0/TCP sip" + std::to_string(i) + ".example.com\r\n";
  lines += "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=" + std::string(500, 'b') + "\r\n";
  lines += "Max-Forwards: 70\r\n";
  lines += "Contact: <sip:" + std::string(500, 'a') + "@host5.example.net>\r\n";
  lines += "Content-Type: application/sdp\r\n";
  lines += "l: " + std::to_string(k_sdp.size()) + "\r\n\r\n" + k_sdp;
  const auto m = must_parse(lines);
  CHECK(check_core_headers(m).empty());
  CHECK(m.count(HeaderId::via) == 34);
  CHECK(all_vias(m).size() == 34);
  CHECK(parse_name_addr(m.find(HeaderId::to)->value));
  CHECK(parse_name_addr(m.find(HeaderId::from)->value)->tag.size() == 700);
  CHECK(m.body == k_sdp);
}

TEST_CASE("RFC 4475 dblreq: a second message in a datagram is ignored after Content-Length") {
  const std::string first = sipmsg({
      "REGISTER sip:example.com SIP/2.0",
      "To: sip:j.user@example.com",
      "From: sip:j.user@example.com;tag=43251j3j324",
      "Max-Forwards: 8",
      "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
      "Contact: sip:j.user@host.example.com",
      "CSeq: 8 REGISTER",
      "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492",
      "Content-Length: 0",
  });
  const std::string wire = first + sipmsg(
                                       {
                                           "INVITE sip:joe@example.com SIP/2.0",
                                           "t: sip:joe@example.com",
                                           "From: sip:caller@example.net;tag=141334",
                                           "Content-Type: application/sdp",
                                           "Content-Length: %CL%",
                                       },
                                       k_sdp);
  Message m;
  const auto r = parse_dgram(wire, m);
  REQUIRE(r.status == parse_status::ok);
  CHECK(m.method == Method::register_);
  CHECK(m.body.empty());
  CHECK(r.consumed == first.size());
  CHECK(check_core_headers(m).empty());
}

TEST_CASE("RFC 4475 semiuri: a ';' in the Request-URI user part belongs to the user") {
  const auto m = must_parse(sipmsg({
      "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0",
      "To: sip:j_user@example.com",
      "From: sip:caller@example.org;tag=33242",
      "Max-Forwards: 3",
      "Call-ID: semiuri.0ha0isndaksdj",
      "CSeq: 8 OPTIONS",
      "Accept: application/sdp, application/pkcs7-mime,",
      "        multipart/mixed, multipart/signed,",
      "        message/sip, message/sipfrag",
      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
      "l: 0",
  }));
  const auto u = parse_uri(m.request_uri);
  REQUIRE(u);
  CHECK(u->user == "user;par=u%40example.net");
  CHECK(u->params.empty());
  ListCursor accept(m.find(HeaderId::accept)->value);
  int n = 0;
  while (accept.next()) ++n;
  CHECK(n == 6);
}

TEST_CASE("RFC 4475 transports: Vias with UDP, SCTP, TLS, unknown and TCP parse") {
  const auto m = must_parse(sipmsg({
      "OPTIONS sip:user@example.com SIP/2.0",
      "To: sip:user@example.com",
      "From: <sip:caller@example.com>;tag=323",
      "Max-Forwards: 70",
      "Call-ID:  transports.kijh4akdnaqjkwendsasfdj",
      "Accept: application/sdp",
      "CSeq: 60 OPTIONS",
      "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
      "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
      "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
      "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
      "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
      "l: 0",
  }));
  const auto vias = all_vias(m);
  REQUIRE(vias.size() == 5);
  CHECK(vias[0].transport == "UDP");
  CHECK(vias[1].transport == "SCTP");
  CHECK(vias[2].transport == "TLS");
  CHECK(vias[3].transport == "UNKNOWN");
  CHECK(vias[4].transport == "TCP");
}

TEST_CASE("RFC 4475 mpart01: a multipart body with binary octets is kept byte for byte") {
  std::string body =
      "------------020809060807090404080609\r\n"
      "Content-Type: text/plain; charset=UTF-8\r\n\r\n"
      "signed content\r\n"
      "------------020809060807090404080609\r\n"
      "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n"
      "Content-Transfer-Encoding: binary\r\n\r\n";
  for (int i = 0; i < 256; ++i) body.push_back(static_cast<char>(i)); // NULs, CRs and LFs included
  body += "\r\n------------020809060807090404080609--\r\n";
  const std::string wire = sipmsg(
      {
          "MESSAGE sip:kumiko@example.org SIP/2.0",
          "Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK-dj3ijkf",
          "Max-Forwards: 70",
          "From: <sip:rabbit.hole@example.com>;tag=e2ij3jasd",
          "To: <sip:kumiko@example.org>",
          "Call-ID: mpart01.ndi32sd@192.0.2.4",
          "CSeq: 1 MESSAGE",
          "Content-Type: multipart/signed;protocol=\"application/pkcs7-signature\";micalg=sha1;"
          "boundary=\"----------020809060807090404080609\"",
          "Content-Length: %CL%",
      },
      body);
  const auto m = must_parse(wire);
  CHECK(m.method == Method::message);
  CHECK(m.body == body);
  const auto s = must_parse(wire, true);
  CHECK(s.body == body);
}

TEST_CASE("RFC 4475 unreason: a UTF-8 reason phrase parses") {
  const std::string reason = "= 2**3 * 5**2 \xD0\xBD\xD0\xBE \xD1\x81\xD1\x82\xD0\xBE - \xD0\xBF\xD1\x80\xD0\xBE\xD1\x81\xD1\x82\xD0\xBE\xD0\xB5";
  const auto m = must_parse(sipmsg(
      {
          "SIP/2.0 200 " + reason,
          "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
          "Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
          "CSeq: 35 INVITE",
          "From: sip:user@example.com;tag=11141343",
          "To: sip:user@example.edu;tag=2229",
          "Content-Length: %CL%",
          "Content-Type: application/sdp",
          "Contact: <sip:user@host198.example.com>",
      },
      k_sdp));
  CHECK(m.status_code == 200);
  CHECK(m.reason == reason);
  CHECK(check_core_headers(m).empty());
}

TEST_CASE("RFC 4475 noreason: an empty reason phrase parses") {
  const auto m = must_parse(sipmsg({
      "SIP/2.0 100 ",
      "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
      "Call-ID: noreason.asndj203insdf99223ndf",
      "CSeq: 35 INVITE",
      "From: <sip:user@example.com>;tag=39ansfi3",
      "To: <sip:user@example.edu>;tag=902jndnke3",
      "Content-Length: 0",
      "Contact: <sip:user@host105.example.com>",
  }));
  CHECK(m.status_code == 100);
  CHECK(m.reason.empty());
  CHECK(check_core_headers(m).empty());
}

// =============================================================================================
// RFC 4475 §3.1.2 invalid messages. "parser" = parse_message rejects; "helper" = the message
// frames but a structured helper rejects the header; "higher layer" = valid syntax, a UA core
// or transport rule decides.

namespace {
std::string header_block(std::string_view first_line, std::initializer_list<std::string_view> extra,
                         std::string_view body = {}) {
  std::vector<std::string_view> lines{first_line};
  lines.insert(lines.end(), extra);
  std::string s;
  for (auto l : lines) s.append(l).append("\r\n");
  s.append("\r\n");
  if (const auto p = s.find("%CL%"); p != std::string::npos) s.replace(p, 4, std::to_string(body.size()));
  return s.append(body);
}
} // namespace

TEST_CASE("RFC 4475 badinv01 (helper): empty Via and Contact params frame but fail their helpers") {
  const auto m = must_parse(header_block("INVITE sip:user@example.com SIP/2.0",
                                            {"To: sip:j.user@example.com", "From: sip:caller@example.net;tag=134161461246",
                                             "Max-Forwards: 7", "Call-ID: badinv01.0ha0isndaksdjasdf3234nas",
                                             "CSeq: 8 INVITE", "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
                                             "Contact: \"Joe\" <sip:joe@example.org>;;;;", "Content-Length: %CL%",
                                             "Content-Type: application/sdp"},
                                            k_sdp));
  ListCursor vias(m.find(HeaderId::via)->value);
  const auto first = vias.next();
  REQUIRE(first);
  CHECK_FALSE(parse_via(*first));
  CHECK_FALSE(parse_name_addr(m.find(HeaderId::contact)->value));
  CHECK(check_core_headers(m) == "invalid top Via");
}

TEST_CASE("RFC 4475 clerr (parser): Content-Length larger than the datagram is malformed") {
  const std::string wire = header_block("INVITE sip:user@example.com SIP/2.0",
                                        {"Max-Forwards: 80", "To: sip:j.user@example.com",
                                         "From: sip:caller@example.net;tag=93942939o2", "Contact: <sip:caller@hungry.example.net>",
                                         "Call-ID: clerr.0ha0isndaksdjweiafasdk3", "CSeq: 8 INVITE",
                                         "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523",
                                         "Content-Type: application/sdp", "Content-Length: 9999"}) +
                           k_sdp;
  Message m;
  CHECK(parse_dgram(wire, m).status == parse_status::malformed);
  // On a stream the same bytes are simply an incomplete message.
  CHECK(parse_stream(wire, m).status == parse_status::need_more);
}

TEST_CASE("RFC 4475 scalar02 (helper): overlarge scalars frame but fail their helpers") {
  const auto m = must_parse(header_block(
      "REGISTER sip:example.com SIP/2.0",
      {"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3", "To: <sip:user@example.com>",
       "From: <sip:user@example.com>;tag=239232jh3", "CSeq: 36893488147419103232 REGISTER",
       "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32", "Max-Forwards: 300",
       "Expires: 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
       "Contact: <sip:user@host129.example.com>", "  ;expires=280297596632815", "Content-Length: 0"}));
  CHECK_FALSE(parse_cseq(m.find(HeaderId::cseq)->value));
  CHECK_FALSE(parse_max_forwards(m.find(HeaderId::max_forwards)->value));
  CHECK_FALSE(parse_delta_seconds(m.find(HeaderId::expires)->value));
  const auto contact = parse_name_addr(m.find(HeaderId::contact)->value);
  REQUIRE(contact);
  CHECK_FALSE(parse_delta_seconds(find_param(contact->params, "expires")->value));
  CHECK(check_core_headers(m) == "invalid CSeq");
}

TEST_CASE("RFC 4475 scalarlg (helper): overlarge response scalars frame but fail their helpers") {
  const auto m = must_parse(header_block(
      "SIP/2.0 503 Service Unavailable",
      {"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129",
       "To: <sip:user@example.com>", "From: <sip:other@example.net>;tag=2easdjfejw",
       "CSeq: 9292394834772304023312 OPTIONS", "Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r",
       "Retry-After: 949302838503028349304023988", "Warning: 1812 overture \"In Progress\"", "Content-Length: 0"}));
  CHECK_FALSE(parse_cseq(m.find(HeaderId::cseq)->value));
  CHECK_FALSE(parse_retry_after(m.find(HeaderId::retry_after)->value));
  CHECK(check_core_headers(m) == "invalid CSeq");
  // Warning is not interpreted by this layer (a UA only logs it).
  CHECK(m.find(HeaderId::warning));
}

TEST_CASE("RFC 4475 quotbal (helper): an unterminated quoted display name fails name-addr") {
  const auto m = must_parse(header_block("INVITE sip:user@example.com SIP/2.0",
                                            {"To: \"Mr. J. User <sip:j.user@example.com>",
                                             "From: sip:caller@example.net;tag=93334", "Max-Forwards: 10",
                                             "Call-ID: quotbal.aksdj", "Contact: <sip:caller@host59.example.net>",
                                             "CSeq: 8 INVITE", "Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234",
                                             "Content-Type: application/sdp", "Content-Length: %CL%"},
                                            k_sdp));
  CHECK_FALSE(parse_name_addr(m.find(HeaderId::to)->value));
  CHECK(check_core_headers(m) == "invalid To");
}

TEST_CASE("RFC 4475 ltgtruri, lwsruri, lwsstart, trws (parser): bad request lines are malformed") {
  const auto rest = [](std::string first) {
    return first + "\r\nTo: sip:user@example.com\r\nFrom: sip:caller@example.net;tag=39291\r\nMax-Forwards: 23\r\n"
                   "Call-ID: rl.1@192.0.2.5\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP 192.0.2.5\r\nContent-Length: 0\r\n\r\n";
  };
  Message m;
  CHECK(parse_dgram(rest("INVITE <sip:user@example.com> SIP/2.0"), m).status == parse_status::malformed);  // ltgtruri
  CHECK(parse_dgram(rest("INVITE sip:user@example.com; lr SIP/2.0"), m).status == parse_status::malformed); // lwsruri
  CHECK(parse_dgram(rest("INVITE  sip:user@example.com  SIP/2.0"), m).status == parse_status::malformed);   // lwsstart
  CHECK(parse_dgram(rest("OPTIONS sip:remote-target@example.com SIP/2.0  "), m).status ==
        parse_status::malformed);                                                                          // trws
  CHECK(parse_dgram(rest("OPTIONS sip:remote-target@example.com SIP/2.0"), m).status == parse_status::ok);
}

TEST_CASE("RFC 4475 escruri (higher layer): headers in a Request-URI parse; the UAS rejects them") {
  const auto m = must_parse(header_block("INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
                                            {"To: sip:user@example.com", "From: sip:caller@example.net;tag=341518",
                                             "Max-Forwards: 7", "Contact: <sip:caller@host39923.example.net>",
                                             "Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5",
                                             "CSeq: 149209342 INVITE", "Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw",
                                             "Content-Type: application/sdp", "Content-Length: %CL%"},
                                            k_sdp));
  const auto u = parse_uri(m.request_uri);
  REQUIRE(u);
  CHECK(u->headers == "Route=%3Csip:example.com%3E"); // RFC 3261 §19.1.5: not allowed here → 400
}

TEST_CASE("RFC 4475 baddate (higher layer): a non-GMT Date is not this layer's business") {
  const auto m = must_parse(header_block("INVITE sip:user@example.com SIP/2.0",
                                            {"To: sip:user@example.com", "From: sip:caller@example.net;tag=2234923",
                                             "Max-Forwards: 70", "Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234",
                                             "CSeq: 1392934 INVITE", "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw",
                                             "Date: Fri, 01 Jan 2010 16:00:00 EST", "Contact: <sip:caller@host5.example.net>",
                                             "Content-Type: application/sdp", "Content-Length: %CL%"},
                                            k_sdp));
  CHECK(m.find(HeaderId::date)->value == "Fri, 01 Jan 2010 16:00:00 EST");
  CHECK(check_core_headers(m).empty());
}

TEST_CASE("RFC 4475 regbadct (helper): an unbracketed Contact URI with '?' fails name-addr") {
  const auto m = must_parse(header_block("REGISTER sip:example.com SIP/2.0",
                                            {"To: sip:user@example.com", "From: sip:user@example.com;tag=998332",
                                             "Max-Forwards: 70", "Call-ID: regbadct.k345asrl3fdbv@192.0.2.1",
                                             "CSeq: 1 REGISTER", "Via: SIP/2.0/UDP 192.0.2.133:5060;branch=z9hG4bKkdjuw",
                                             "Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E", "l: 0"}));
  CHECK_FALSE(parse_name_addr(m.find(HeaderId::contact)->value));
  // The same URI inside < > is fine (RFC 4475 regescrt).
  CHECK(parse_name_addr("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>"));
}

TEST_CASE("RFC 4475 badaspec (helper): whitespace inside < > fails name-addr") {
  const auto m = must_parse(header_block("OPTIONS sip:user@example.org SIP/2.0",
                                            {"Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234",
                                             "Max-Forwards: 70", "From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423",
                                             "To: \"Watson, Thomas\" < sip:t.watson@example.org >",
                                             "Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3",
                                             "Accept: application/sdp", "CSeq: 3923239 OPTIONS", "l: 0"}));
  CHECK(parse_name_addr(m.find(HeaderId::from)->value));
  CHECK_FALSE(parse_name_addr(m.find(HeaderId::to)->value));
  CHECK(check_core_headers(m) == "invalid To");
}

TEST_CASE("RFC 4475 baddn (helper): an unquoted display name with a comma fails name-addr") {
  const auto m = must_parse(header_block("OPTIONS sip:t.watson@example.org SIP/2.0",
                                            {"Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw",
                                             "Max-Forwards:      70", "From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
                                             "To:      Watson, Thomas <sip:t.watson@example.org>",
                                             "Call-ID: baddn.31415@c.example.com", "Accept: application/sdp",
                                             "CSeq:    3923239 OPTIONS", "l: 0"}));
  CHECK_FALSE(parse_name_addr(m.find(HeaderId::from)->value));
  CHECK_FALSE(parse_name_addr(m.find(HeaderId::to)->value));
  CHECK(check_core_headers(m) == "invalid From");
}

TEST_CASE("RFC 4475 badvers (higher layer): SIP/7.0 parses; the UAS answers 505") {
  const auto m = must_parse(header_block("OPTIONS sip:t.watson@example.org SIP/7.0",
                                            {"Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
                                             "Max-Forwards:     70", "From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe",
                                             "To:      T. Watson <sip:t.watson@example.org>",
                                             "Call-ID: badvers.31417@c.example.com", "CSeq:    1 OPTIONS", "l: 0"}));
  CHECK(m.version == "SIP/7.0");
  CHECK_FALSE(m.is_sip_2_0());
  CHECK(parse_via(m.find(HeaderId::via)->value)->protocol_version == "7.0");
}

TEST_CASE("RFC 4475 mismatch01 and mismatch02 (higher layer): CSeq method differs from the request") {
  const auto m1 = must_parse(header_block("OPTIONS sip:user@example.com SIP/2.0",
                                             {"To: sip:j.user@example.com", "From: sip:caller@example.net;tag=34525",
                                              "Max-Forwards: 6", "Call-ID: mismatch01.dj0234sxdfl3", "CSeq: 8 INVITE",
                                              "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw", "l: 0"}));
  CHECK(check_core_headers(m1) == "CSeq method does not match the request method");
  const auto m2 = must_parse(header_block("NEWMETHOD sip:user@example.com SIP/2.0",
                                             {"To: sip:j.user@example.com", "From: sip:caller@example.net;tag=34525",
                                              "Max-Forwards: 6", "Call-ID: mismatch02.dj0234sxdfl3", "CSeq: 8 INVITE",
                                              "Contact: <sip:caller@host.example.net>",
                                              "Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw",
                                              "Content-Type: application/sdp", "l: %CL%"},
                                             k_sdp));
  CHECK(m2.method == Method::extension);
  CHECK(check_core_headers(m2) == "CSeq method does not match the request method");
}

TEST_CASE("RFC 4475 bcast (higher layer): a broadcast Via parses; the transport must not use it") {
  const auto m = must_parse(header_block("SIP/2.0 200 OK",
                                            {"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
                                             "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23",
                                             "Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf", "CSeq: 35 INVITE",
                                             "From: sip:user@example.com;tag=11141343", "To: sip:user@example.edu;tag=2229",
                                             "Content-Length: %CL%", "Content-Type: application/sdp",
                                             "Contact: <sip:user@host28.example.com>"},
                                            k_sdp));
  const auto vias = all_vias(m);
  REQUIRE(vias.size() == 2);
  CHECK(vias[1].host == "255.255.255.255");
  CHECK(vias[1].host_kind == HostKind::ipv4);
  CHECK(check_core_headers(m).empty());
}

TEST_CASE("RFC 4475 bext01 (higher layer): unknown Require options parse; the UAS answers 420") {
  const auto m = must_parse(header_block("OPTIONS sip:user@example.com SIP/2.0",
                                            {"To: sip:j_user@example.com", "From: sip:caller@example.net;tag=242etr",
                                             "Max-Forwards: 6", "Call-ID: bext01.0ha0isndaksdj",
                                             "Require: nothingSupportsThis, nothingSupportsThisEither",
                                             "Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis",
                                             "CSeq: 8 OPTIONS", "Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw",
                                             "Content-Length: 0"}));
  ListCursor req(m.find(HeaderId::require)->value);
  CHECK(req.next() == "nothingSupportsThis");
  CHECK(req.next() == "nothingSupportsThisEither");
  CHECK_FALSE(req.next());
  CHECK(check_core_headers(m).empty());
}

TEST_CASE("RFC 4475 insuf (higher layer): missing To, From, Call-ID frame; check_core_headers reports them") {
  const auto m = must_parse(header_block("INVITE sip:user@example.com SIP/2.0",
                                            {"CSeq: 193942 INVITE", "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf",
                                             "Content-Type: application/sdp", "l: %CL%"},
                                            k_sdp));
  CHECK(check_core_headers(m) == "missing From");
}

TEST_CASE("RFC 4475 multi01 (higher layer): repeated single-instance headers are reported") {
  const auto m = must_parse(header_block("INVITE sip:user@company.com SIP/2.0",
                                            {"Contact: <sip:caller@host25.example.net>",
                                             "Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw", "Max-Forwards: 70",
                                             "CSeq: 5 INVITE", "Call-ID: multi01.98asdh@192.0.2.1", "CSeq: 59 INVITE",
                                             "Call-ID: multi01.98asdh@192.0.2.2", "From: sip:caller@example.com;tag=3413415",
                                             "To: sip:user@example.com", "To: sip:other@example.net",
                                             "From: sip:caller@example.net;tag=2923420123", "l: 0"}));
  CHECK(check_core_headers(m) == "single-instance header repeated");
}
