// SIP messages, RFC 3261 §7 (syntax §25), sans-I/O: framing, parsing, serialising.
//
// Layer map (src/sip/README.md): uri → message → transport → transaction → dialog → invite
// session. This file knows bytes only; it never touches a socket, a clock or a resolver.
//
// Parsing
//   `parse_message` frames one message out of a datagram or a stream buffer and splits it into a
//   start line, headers in wire order, and a body. Every view in `Message` points into the buffer
//   the caller passed, which must outlive the Message. Header values are trimmed; a value that was
//   folded over several lines (RFC 3261 §7.3.1) is returned as its raw span, CRLF+WSP included,
//   with `Header::folded` set; `unfold` yields the single-line text. The structured helpers below
//   treat CR and LF as linear whitespace, so they accept folded values as they are.
//
//   Allocation: none per byte. `Message::headers` is a std::vector that `parse_message` reserves
//   to `Limits::max_headers` the first time a Message is used and only clears afterwards, so a
//   Message reused per connection allocates once. Nothing else allocates; nothing throws.
//
// Serialising
//   `MessageWriter` builds a request or response into a std::string, refuses CR/LF in any value
//   (header injection) and non-token names, and writes Content-Length itself.
//
// Which RFC 4475 torture cases are this file's job, and which belong to higher layers, is listed
// in src/sip/README.md and tested in tests/sip/message_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sip/uri.hpp"

namespace sb::sip {

// ---------------------------------------------------------------------------------------------
// Errors

/// Outcome of `parse_message`.
enum class parse_status : std::uint8_t {
  ok,        ///< one complete message is in `out`; `consumed` bytes belong to it
  need_more, ///< stream: the header section or body is incomplete; read more and call again
  malformed, ///< the bytes break RFC 3261 framing or syntax; `reason` says which rule
  too_large, ///< a `Limits` bound was exceeded; on a stream, close the connection
};

/// Error values of the SIP message layer, for std::error_code (category "sip.message").
enum class sip_error {
  need_more = 1,          ///< more stream bytes are needed (parse_status::need_more)
  malformed,              ///< the message breaks RFC 3261 syntax (parse_status::malformed)
  too_large,              ///< a Limits bound was exceeded (parse_status::too_large)
  unsafe_value,           ///< writer: a value, URI or reason contains CR, LF or another CTL
  invalid_token,          ///< writer: a method or header name is not an RFC 3261 token
  invalid_status,         ///< writer: status code outside 100–699
  invalid_uri,            ///< writer: the Request-URI is not an absolute URI
  content_length_managed, ///< writer: Content-Length is computed; callers must not set it
  bad_sequence,           ///< writer: no start line yet, or a second start line
};

const std::error_category& sip_category() noexcept;
std::error_code make_error_code(sip_error e) noexcept;
/// need_more, malformed and too_large as error codes; ok maps to an empty error_code.
std::error_code to_error_code(parse_status s) noexcept;

// ---------------------------------------------------------------------------------------------
// Methods and header names

/// RFC 3261 §7.1 methods and the extensions a UA meets; anything else is `extension`, and the
/// method text is kept next to it. Method names are case-sensitive (RFC 3261 §7.1).
enum class Method : std::uint8_t {
  extension, ///< any other token; see the accompanying method text
  invite,    ///< RFC 3261
  ack,       ///< RFC 3261
  bye,       ///< RFC 3261
  cancel,    ///< RFC 3261
  options,   ///< RFC 3261
  register_, ///< RFC 3261 (trailing underscore: `register` is a C++ keyword)
  info,      ///< RFC 6086
  update,    ///< RFC 3311
  prack,     ///< RFC 3262
  subscribe, ///< RFC 6665
  notify,    ///< RFC 6665
  refer,     ///< RFC 3515
  message,   ///< RFC 3428
};

/// Exact, case-sensitive match of a method token; `extension` for anything else.
Method method_from_string(std::string_view token) noexcept;
/// "INVITE", "ACK", …; "" for `extension`.
std::string_view to_string(Method m) noexcept;

/// Known header fields. Compact forms map to the same id as their long names (RFC 3261 §7.3.3,
/// RFC 3265/6665 o u, RFC 3515 r, RFC 3892 b, RFC 4028 x, RFC 8224 y, RFC 3841 a j d).
enum class HeaderId : std::uint8_t {
  other, ///< an extension header; compare `Header::name`
  via, from, to, call_id, cseq, contact, max_forwards, content_length, content_type,
  content_encoding, content_disposition, content_language, mime_version, route, record_route,
  path, service_route, expires, min_expires, session_expires, min_se, retry_after,
  www_authenticate, proxy_authenticate, authorization, proxy_authorization, authentication_info,
  supported, require, proxy_require, unsupported, allow, allow_events, accept, accept_encoding,
  accept_language, accept_contact, reject_contact, request_disposition, subject, event,
  subscription_state, refer_to, referred_by, refer_sub, replaces, identity, user_agent, server,
  date, timestamp, warning, rseq, rack, reason, p_asserted_identity, p_preferred_identity,
  privacy, organization, priority, in_reply_to, reply_to, alert_info, call_info, error_info,
};

/// Case-insensitive lookup of a header name, long or compact; `other` when unknown.
HeaderId header_id(std::string_view name) noexcept;
/// Canonical long name ("Call-ID", "CSeq", "WWW-Authenticate"); "" for `other`.
std::string_view header_name(HeaderId id) noexcept;

// ---------------------------------------------------------------------------------------------
// Messages

/// One header line in wire order. All views point into the parsed buffer.
struct Header {
  std::string_view name;  ///< as on the wire ("v", "VIA", "Via"); compare `id`, not this
  HeaderId id = HeaderId::other;
  std::string_view value; ///< trimmed; if `folded`, the raw span still holds CRLF+WSP runs
  bool folded = false;    ///< value spans several lines (RFC 3261 §7.3.1); see `unfold`
};

/// Forward range over the headers with one id (or, for `other`, one extension name).
class HeaderRange {
 public:
  class iterator {
   public:
    using value_type = Header;
    using difference_type = std::ptrdiff_t;
    using reference = const Header&;
    using pointer = const Header*;
    using iterator_category = std::forward_iterator_tag;
    iterator() = default;
    reference operator*() const noexcept { return *p_; }
    pointer operator->() const noexcept { return p_; }
    iterator& operator++() noexcept;
    iterator operator++(int) noexcept {
      auto t = *this;
      ++*this;
      return t;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.p_ == b.p_; }

   private:
    friend class HeaderRange;
    iterator(const Header* p, const HeaderRange* r) noexcept : p_(p), r_(r) { settle(); }
    void settle() noexcept;
    const Header* p_ = nullptr;
    const HeaderRange* r_ = nullptr;
  };

  HeaderRange(std::span<const Header> all, HeaderId id, std::string_view name) noexcept
      : all_(all), id_(id), name_(name) {}
  iterator begin() const noexcept { return {all_.data(), this}; }
  iterator end() const noexcept { return {all_.data() + all_.size(), this}; }
  bool empty() const noexcept { return begin() == end(); }
  std::size_t size() const noexcept;
  bool matches(const Header& h) const noexcept;

 private:
  std::span<const Header> all_;
  HeaderId id_;
  std::string_view name_;
};

/// A parsed message. Owned by the caller, reused across parses; only `headers` owns memory.
/// Valid only after `parse_message` returned ok, and only while the parsed buffer lives.
struct Message {
  // Start line (RFC 3261 §7.1 / §7.2). For requests status_code is 0.
  std::string_view version;       ///< "SIP/2.0" as on the wire; see is_sip_2_0()
  Method method = Method::extension; ///< request only
  std::string_view method_text;   ///< request only: the method token
  std::string_view request_uri;   ///< request only; sip:/sips: ones are validated by parse_uri
  std::uint16_t status_code = 0;  ///< response only: 100–699
  std::string_view reason;        ///< response only: Reason-Phrase, may be empty
  std::vector<Header> headers;    ///< wire order; capacity kept across parses
  std::string_view body;          ///< exactly Content-Length bytes (or the datagram's rest)
  std::string_view raw;           ///< the whole message, start line to end of body

  bool is_request() const noexcept { return status_code == 0; }
  bool is_response() const noexcept { return status_code != 0; }
  /// Case-insensitive "SIP/2.0". Other versions parse (RFC 4475 badvers); a UAS answers 505.
  bool is_sip_2_0() const noexcept;
  /// First header with this id, or nullptr.
  const Header* find(HeaderId id) const noexcept;
  /// First header with this name (long or compact for known headers; exact name otherwise).
  const Header* find(std::string_view name) const noexcept;
  HeaderRange find_all(HeaderId id) const noexcept { return {headers, id, {}}; }
  HeaderRange find_all(std::string_view name) const noexcept;
  std::size_t count(HeaderId id) const noexcept { return find_all(id).size(); }
  /// Forgets everything but the header vector's capacity.
  void clear() noexcept;
};

/// Size bounds, checked before anything is buffered further.
struct Limits {
  std::size_t max_message = 65535;   ///< start line + headers + body (leading CRLFs not counted)
  std::size_t max_headers = 128;     ///< header lines (folded lines count once)
  std::size_t max_header_line = 8192; ///< one start line or one header, continuation lines included
};

struct ParseResult {
  parse_status status = parse_status::malformed;
  /// ok: bytes of this message, body and skipped leading CRLFs included; the rest of a stream
  /// buffer is the next message. Otherwise: leading keep-alive CRLFs that may be discarded now.
  std::size_t consumed = 0;
  /// malformed/too_large: which rule failed (static text, for logs and counters).
  std::string_view reason;
  /// Leading CR/LF bytes skipped (RFC 5626 §3.5.1 keep-alive ping/pong); part of `consumed`.
  std::size_t skipped = 0;
  /// need_more once the header section is complete: total bytes (from the start of `buf`) the
  /// message needs; 0 while the end of the headers has not arrived.
  std::size_t expected = 0;
};

/// Frames and parses one message.
///
/// Datagram (`stream == false`): `buf` is one whole datagram. Without Content-Length the body is
/// the rest; a Content-Length larger than the rest is malformed; a smaller one drops the trailing
/// bytes (RFC 3261 §18.3). A datagram of nothing but CR/LF is a keep-alive: need_more with
/// consumed == buf.size().
///
/// Stream (`stream == true`, TCP/TLS/WS-less framing): Content-Length is mandatory (RFC 3261
/// §18.3); need_more until the blank line and the whole body are in; `consumed` tells where the
/// next message starts. Leading CRLFs (RFC 5626 keep-alives, RFC 3261 §7.5) are skipped.
///
/// Never throws; reads only inside `buf`. `out` is cleared first and valid only on ok.
ParseResult parse_message(std::string_view buf, Message& out, const Limits& lim,
                          bool stream) noexcept;

/// Stream framing that does not rescan: remembers how far it looked for the end of the header
/// section and how many bytes the body needs, so trickled input (slowloris) costs O(n) in total.
///
/// Contract: `buf` holds every received byte not yet consumed, in order; between calls it only
/// grows at the end. After a result with consumed > 0 the caller drops those bytes and the parser
/// starts afresh. One StreamParser per connection.
class StreamParser {
 public:
  explicit StreamParser(const Limits& lim = {}) noexcept : lim_(lim) {}
  ParseResult parse(std::string_view buf, Message& out) noexcept;
  void reset() noexcept;

 private:
  ParseResult delegate(std::string_view buf, Message& out) noexcept;

  Limits lim_;
  std::size_t lead_ = 0;        ///< leading CR/LF bytes before the start line
  std::size_t scanned_ = 0;     ///< bytes already searched for the blank line (0: fresh)
  std::size_t line_start_ = 0;  ///< start of the physical line being scanned
  std::size_t expected_ = 0;    ///< total bytes needed once the headers are known, else 0
  std::size_t headers_ = 0;     ///< header lines seen so far
  std::size_t hdr_begin_ = static_cast<std::size_t>(-1); ///< start of the current header, or npos
  bool start_line_checked_ = false;
};

// ---------------------------------------------------------------------------------------------
// Folding and quoting

/// Copies `value` into `buf` with every run of linear whitespace that holds a line break replaced
/// by one SP (RFC 3261 §7.3.1). Nullopt if `buf` is too small.
std::optional<std::string_view> unfold(std::string_view value, std::span<char> buf) noexcept;
/// Same, appending to `out`.
void append_unfolded(std::string& out, std::string_view value);

/// Removes the backslash escapes of a quoted-string's content (quotes already stripped), e.g. an
/// auth-param or display-name value. Nullopt if `buf` is too small or a '\' is last.
std::optional<std::string_view> unquote(std::string_view content, std::span<char> buf) noexcept;
/// Same, appending to `out`; false on a trailing '\'.
bool append_unquoted(std::string& out, std::string_view content);

// ---------------------------------------------------------------------------------------------
// Structured header helpers. All are sans-I/O, never throw, return views into their input, and
// accept folded values (CR and LF count as whitespace).

/// Walks the comma-separated elements of a header value (`Via`, `Contact`, `Route`, …), skipping
/// commas inside quoted-strings and <…>. Elements come back trimmed. Empty elements, unbalanced
/// quotes or brackets make the cursor stop with malformed() set.
class ListCursor {
 public:
  explicit ListCursor(std::string_view value) noexcept : s_(value) {}
  std::optional<std::string_view> next() noexcept;
  bool malformed() const noexcept { return malformed_; }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
  bool malformed_ = false;
  bool done_ = false;
  bool after_comma_ = false; ///< the last element ended with ',': another one must follow
};

/// One header parameter: `;name[=value]` (RFC 3261 generic-param) or one auth-param.
struct Param {
  std::string_view name;
  std::string_view value;  ///< quoted-string values without their quotes, escapes kept
  bool has_value = false;
  bool quoted = false;     ///< value was a quoted-string; see unquote()
};

/// Walks `*( SEMI generic-param )` (SEMI = SWS ";" SWS, EQUAL = SWS "=" SWS). Values are tokens,
/// hosts (IPv6 included) or quoted-strings. Anything else stops it with malformed() set.
class ParamCursor {
 public:
  explicit ParamCursor(std::string_view params) noexcept : s_(params) {}
  std::optional<Param> next() noexcept;
  bool malformed() const noexcept { return malformed_; }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
  bool malformed_ = false;
};

/// First parameter with this name (case-insensitive) in a `;a=b;c` text; nullopt if absent or
/// the list is malformed before it.
std::optional<Param> find_param(std::string_view params, std::string_view name) noexcept;

/// One via-parm (RFC 3261 §20.42, RFC 3581 rport): `SIP / 2.0 / UDP host:port ;params`.
struct Via {
  std::string_view protocol_name;    ///< "SIP"
  std::string_view protocol_version; ///< "2.0"
  std::string_view transport;        ///< "UDP", "TCP", "TLS", "SCTP", "WS", "WSS", other token
  std::string_view host;             ///< sent-by host; an IPv6 reference keeps its brackets
  HostKind host_kind = HostKind::hostname;
  std::optional<std::uint16_t> port; ///< sent-by port, 1–65535
  std::string_view params;           ///< raw via-params text (for ParamCursor), may be empty
  std::string_view branch;           ///< branch=, empty if absent (RFC 2543 peers)
  std::string_view received;         ///< received=, as sent (IPv4, IPv6, or bracketed IPv6)
  std::string_view maddr;            ///< maddr=
  std::optional<std::uint8_t> ttl;   ///< ttl= (0–255)
  bool has_rport = false;            ///< rport present, with or without a value (RFC 3581)
  std::optional<std::uint16_t> rport; ///< rport=value
  bool is_ipv6() const noexcept { return host_kind == HostKind::ipv6; }
};
/// Parses one element of a Via value (use ListCursor for the others on the same line).
std::optional<Via> parse_via(std::string_view element) noexcept;

/// name-addr / addr-spec with header params: From, To, Contact, Route, Record-Route, Refer-To…
/// (RFC 3261 §20.10, §25.1).
struct NameAddr {
  std::string_view display_name; ///< quoted: the content without quotes (escapes kept); token
                                 ///< form: the tokens as written; empty when absent
  bool display_quoted = false;
  std::string_view uri;          ///< the addr-spec, without < >; any scheme (see parse_uri)
  bool bracketed = false;        ///< the URI was inside < >
  bool star = false;             ///< Contact: * (RFC 3261 §10.2.2); uri, params empty
  std::string_view params;       ///< raw header params after the URI or '>' (for ParamCursor)
  std::string_view tag;          ///< tag= value, empty when absent
};
/// Parses one name-addr / addr-spec element. An addr-spec (no < >) may not hold ',', '?' or ';'
/// in its URI (RFC 3261 §20.10): the first ';' starts the header params.
std::optional<NameAddr> parse_name_addr(std::string_view element) noexcept;

/// CSeq (RFC 3261 §20.16): number < 2^31 (§8.1.1.5), LWS, method.
struct CSeq {
  std::uint32_t number = 0;
  Method method = Method::extension;
  std::string_view method_text;
};
std::optional<CSeq> parse_cseq(std::string_view value) noexcept;

/// Content-Length (RFC 3261 §20.14): 1*DIGIT, ≤ 2^32-1.
std::optional<std::uint32_t> parse_content_length(std::string_view value) noexcept;
/// Max-Forwards (RFC 3261 §20.22, §8.1.1.6): 0–255.
std::optional<std::uint8_t> parse_max_forwards(std::string_view value) noexcept;
/// delta-seconds (Expires, Min-Expires; RFC 3261 §20.19): 0–2^32-1. Out of range is nullopt: the
/// caller chooses between the default and 400 (RFC 4475 §3.1.2.4).
std::optional<std::uint32_t> parse_delta_seconds(std::string_view value) noexcept;
/// Call-ID (RFC 3261 §20.8): word [ "@" word ]; returns the trimmed value.
std::optional<std::string_view> parse_call_id(std::string_view value) noexcept;

/// Session-Expires (RFC 4028 §4): delta-seconds *( ;refresher=uac|uas / generic-param ).
struct SessionExpires {
  enum class Refresher : std::uint8_t { none, uac, uas };
  std::uint32_t seconds = 0;
  Refresher refresher = Refresher::none;
  std::string_view params;
};
std::optional<SessionExpires> parse_session_expires(std::string_view value) noexcept;
/// Min-SE (RFC 4028 §5): delta-seconds *( SEMI generic-param ).
std::optional<std::uint32_t> parse_min_se(std::string_view value) noexcept;

/// Retry-After (RFC 3261 §20.33): delta-seconds [ comment ] *( ;duration=… / generic-param ).
struct RetryAfter {
  std::uint32_t seconds = 0;
  std::string_view comment; ///< inside the outer parentheses, nested comments kept
  std::optional<std::uint32_t> duration;
  std::string_view params;
};
std::optional<RetryAfter> parse_retry_after(std::string_view value) noexcept;

/// WWW-Authenticate / Proxy-Authenticate challenge or Authorization / Proxy-Authorization
/// credentials (RFC 3261 §20.27, §20.44, §25.1; RFC 7235 token68 for Bearer-style schemes).
struct AuthHeader {
  std::string_view scheme;  ///< "Digest", compare case-insensitively
  std::string_view params;  ///< comma-separated auth-params, for AuthParamCursor
  std::string_view token68; ///< set instead of params for `Scheme token68` forms
};
std::optional<AuthHeader> parse_auth(std::string_view value) noexcept;

/// Walks `auth-param *(COMMA auth-param)`; every param has a token or quoted-string value.
class AuthParamCursor {
 public:
  explicit AuthParamCursor(std::string_view params) noexcept : s_(params) {}
  std::optional<Param> next() noexcept;
  bool malformed() const noexcept { return malformed_; }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
  bool malformed_ = false;
  bool first_ = true;
};
/// First auth-param with this name (case-insensitive).
std::optional<Param> find_auth_param(std::string_view params, std::string_view name) noexcept;

/// The checks a UA core makes before it hands a message to a transaction (RFC 3261 §8.1.1,
/// §8.2.2; RFC 4475 insuf, multi01, mismatch01/02, scalar02, scalarlg, badaspec, baddn):
/// Via, From, To, Call-ID and CSeq present; From, To, Call-ID, CSeq single; CSeq well-formed and,
/// on requests, naming the request method; From and To valid name-addrs; top Via valid.
/// Returns "" when the message passes, else the failed rule. parse_message does not call it.
std::string_view check_core_headers(const Message& m) noexcept;

// ---------------------------------------------------------------------------------------------
// Serialising

/// Builds one message. Every call validates its input; the first failure sticks, later calls do
/// nothing, and finish() reports it. Content-Length is always computed by finish().
///
///   std::string wire;
///   auto ec = MessageWriter{}.request(Method::options, "sip:bob@example.com")
///                 .header(HeaderId::via, "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport")
///                 .header(HeaderId::max_forwards, "70")
///                 .finish(wire);
class MessageWriter {
 public:
  MessageWriter& request(Method method, std::string_view request_uri);
  MessageWriter& request(std::string_view method, std::string_view request_uri);
  /// Writes "SIP/2.0 <code> <reason>"; code 100–699, reason without CTLs.
  MessageWriter& response(unsigned code, std::string_view reason);
  MessageWriter& header(std::string_view name, std::string_view value);
  MessageWriter& header(HeaderId id, std::string_view value);
  /// Sets the body (copied). Content-Type is up to the caller (header() or the overload below).
  MessageWriter& body(std::string_view content);
  MessageWriter& body(std::string_view content_type, std::string_view content);
  std::error_code error() const noexcept { return error_; }
  /// Replaces `out` with the message, Content-Length included; or returns the first error.
  std::error_code finish(std::string& out);

 private:
  MessageWriter& fail(sip_error e) noexcept;
  std::string head_;
  std::string body_;
  std::error_code error_;
  bool started_ = false;
};

/// Serialises a parsed message (folded values unfolded, Content-Length recomputed, version
/// written as SIP/2.0): what a proxy-less UA needs to log or re-send a message it parsed.
std::error_code write_message(const Message& m, std::string& out);

} // namespace sb::sip

template <>
struct std::is_error_code_enum<sb::sip::sip_error> : std::true_type {};
