// SDP session descriptions, RFC 4566 (grammar §9), sans-I/O: parse and serialise.
//
// Layer map (src/sdp/README.md): sdp (this file: text ⇄ Session) → negotiation (RFC 3264
// offer/answer for the gateway's SIP audio leg). Neither touches a socket or a clock.
//
// Parsing
//   `parse` turns one SDP body into a `Session` that owns its strings. Unlike the SIP message
//   parser it does not return views: a Session outlives the datagram it came in (the dialog keeps
//   the far end's last offer/answer), and an SDP body is parsed once per offer, never per packet.
//   It never throws (allocation failure is reported as too_large), reads only inside its input and
//   enforces `Limits` before it does any work in proportion to the input.
//
//   Tolerated (interop): LF-only line ends, a missing final line end, trailing blank lines,
//   trailing spaces/tabs on a line, runs of spaces or tabs between fields, a missing t= line
//   (RFC 3264 §5 fixes it to "0 0" anyway), unknown line types and unknown attributes (unknown
//   line types are skipped; unknown attributes are kept raw), an m-line with port 0 and no c=.
//   Rejected: any line that is not `<letter>=<value>`, a CR or NUL inside a line, v= missing or
//   not first, o=/s= missing or after the first m=, a media section without a connection address,
//   ports and payload numbers out of range, and malformed values of the attributes this file
//   interprets (rtpmap, fmtp, ptime, maxptime, rtcp, crypto, fingerprint, setup).
//
// Serialising
//   `serialize` writes CRLF line ends in one fixed order (see serialize() below), so equal
//   Sessions give equal bytes and parse(serialize(s)) == s for every parsed s whose rtpmap/fmtp
//   order is already the serialised one. CR, LF and NUL are dropped from every value on output:
//   no caller-supplied text can inject an SDP line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sb::sdp {

// ---------------------------------------------------------------------------------------------
// Errors

/// Error values of the SDP layer, for std::error_code (category "sdp").
enum class sdp_error {
  malformed_line = 1,   ///< a line is not `<letter>=<value>`, holds CR/NUL, or breaks its grammar
  missing_version,      ///< v=0 is not the first line (RFC 4566 §5.1)
  missing_origin,       ///< no o= before the first m= (RFC 4566 §5.2)
  missing_session_name, ///< no s= before the first m= (RFC 4566 §5.3)
  missing_connection,   ///< a media section has no c= and the session has none (RFC 4566 §5.7)
  missing_media,        ///< no m= line while Limits::require_media is set
  bad_port,             ///< m= or a=rtcp port not 0–65535, or a port count of 0
  bad_payload_type,     ///< an RTP payload number not 0–127 (RFC 3551 §3) in m=, rtpmap or fmtp
  bad_attribute,        ///< an interpreted attribute's value breaks its grammar
  too_large,            ///< a Limits bound was exceeded (or memory ran out)
};

const std::error_category& sdp_category() noexcept;
std::error_code make_error_code(sdp_error e) noexcept;

// ---------------------------------------------------------------------------------------------
// Model

/// o= (RFC 4566 §5.2). sess_id is kept as text: the RFC calls it numeric but only asks for
/// uniqueness, and some stacks write more than 64 bits. sess_version is a number because the
/// session owner must increase it on every change (RFC 3264 §8).
struct Origin {
  std::string username = "-";
  std::string sess_id = "0";
  std::uint64_t sess_version = 0;
  std::string nettype = "IN";
  std::string addrtype = "IP4";
  std::string address = "0.0.0.0";
  bool operator==(const Origin&) const = default;
};

/// c= (RFC 4566 §5.7); nettype is always "IN". `address` is as written: a multicast address keeps
/// its "/ttl[/count]" suffix. 0.0.0.0 is RFC 2543 hold (RFC 3264 §8.4).
struct Connection {
  std::string addrtype = "IP4"; ///< "IP4" or "IP6"
  std::string address;
  bool operator==(const Connection&) const = default;
};

/// a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>] (RFC 4566 §6). For audio the encoding
/// parameter is the channel count; when absent it is 1 (and 1 is written by leaving it out).
struct Rtpmap {
  int pt = 0;
  std::string encoding;  ///< compare case-insensitively (RFC 4855 §3)
  std::uint32_t clock_rate = 0;
  std::uint32_t channels = 1;
  bool operator==(const Rtpmap&) const = default;
};

/// a=fmtp:<pt> <format specific parameters> (RFC 4566 §6); the parameters are kept raw.
struct Fmtp {
  int pt = 0;
  std::string params;
  bool operator==(const Fmtp&) const = default;
};

/// a=crypto:<tag> <crypto-suite> <key-params> [<session-param> …] (RFC 4568 §9.1).
struct Crypto {
  std::uint32_t tag = 0;       ///< 1–9 digits (RFC 4568 §9.1)
  std::string suite;           ///< "AES_CM_128_HMAC_SHA1_80", …
  std::string key_params;      ///< "inline:<base64 key||salt>[|lifetime][|MKI:length]", raw
  std::string session_params;  ///< the rest of the line ("KDR=1 WSH=64"), single-space separated
  bool operator==(const Crypto&) const = default;
};

/// a=fingerprint:<hash-func> <fingerprint> (RFC 8122 §5), e.g. "sha-256" "AB:CD:…".
struct Fingerprint {
  std::string hash_func; ///< compare case-insensitively
  std::string value;     ///< 2HEX *(":" 2HEX), as written
  bool operator==(const Fingerprint&) const = default;
};

/// a=setup (RFC 4145 §4): who opens the connection — for DTLS-SRTP, who is the DTLS client
/// (RFC 5763 §5: active = client).
enum class Setup : std::uint8_t { actpass, active, passive, holdconn };

/// Media direction attributes (RFC 4566 §6, RFC 3264 §5.1): sendrecv is the default.
enum class Direction : std::uint8_t { sendrecv, sendonly, recvonly, inactive };

/// a=rtcp:<port> [IN <addrtype> <address>] (RFC 3605 §2.1).
struct Rtcp {
  std::uint16_t port = 0;
  std::optional<Connection> connection;
  bool operator==(const Rtcp&) const = default;
};

/// Any attribute this file does not interpret, kept in wire order: `a=<name>[:<value>]`.
struct Attribute {
  std::string name;
  std::string value;
  bool has_value = false; ///< "a=name:" (empty value) differs from "a=name" (property)
  bool operator==(const Attribute&) const = default;
};

/// One media description (RFC 4566 §5.14 and the attributes below it).
struct Media {
  std::string type = "audio";          ///< "audio", "video", "application", …
  std::uint16_t port = 0;              ///< 0: stream rejected/disabled (RFC 3264 §5.1, §6)
  std::uint16_t port_count = 1;        ///< m=<media> <port>/<count>
  std::string proto = "RTP/AVP";       ///< "RTP/AVP", "RTP/SAVP", "UDP/TLS/RTP/SAVPF", …
  /// Formats as written, except that RTP payload numbers are canonical decimals ("08" → "8").
  std::vector<std::string> formats;
  std::optional<Connection> connection; ///< media-level c=, overrides the session's
  std::vector<std::string> bandwidths; ///< b= values, raw ("AS:64", "TIAS:64000")
  /// The effective direction: the media-level attribute, else the session-level one, else
  /// sendrecv (RFC 4566 §6). serialize() always writes it at media level.
  Direction direction = Direction::sendrecv;
  std::vector<Rtpmap> rtpmaps;         ///< RTP media only; see find_rtpmap for static types
  std::vector<Fmtp> fmtps;             ///< RTP media only
  std::optional<std::uint32_t> ptime;  ///< ms (RFC 4566 §6)
  std::optional<std::uint32_t> maxptime;
  std::optional<Rtcp> rtcp;            ///< RFC 3605
  bool rtcp_mux = false;               ///< a=rtcp-mux (RFC 5761 §5.1.1)
  std::vector<Crypto> cryptos;         ///< RFC 4568, in offer (preference) order
  std::optional<Fingerprint> fingerprint; ///< RFC 8122 (see also Session::fingerprint)
  std::optional<Setup> setup;          ///< RFC 4145 (see also Session::setup)
  std::optional<std::string> ice_ufrag; ///< RFC 8839, raw
  std::optional<std::string> ice_pwd;   ///< RFC 8839, raw
  std::vector<std::string> candidates; ///< a=candidate values, raw (after "candidate:")
  std::optional<std::string> mid;      ///< RFC 5888
  std::vector<Attribute> attributes;   ///< everything else, wire order
  bool operator==(const Media&) const = default;
};

/// A whole session description.
struct Session {
  Origin origin;
  std::string name = "-";                 ///< s=; "" is written as "s= " (RFC 4566 §5.3)
  std::optional<Connection> connection;   ///< session-level c=
  std::vector<std::string> bandwidths;    ///< session-level b= values, raw
  std::vector<std::string> times = {"0 0"}; ///< t= values, raw; parse supplies "0 0" if absent
  std::optional<Direction> direction;     ///< session-level direction attribute, if written
  std::optional<Fingerprint> fingerprint; ///< session-level (RFC 8122 §5 allows both levels)
  std::optional<Setup> setup;             ///< session-level (RFC 4145 §4 allows both levels)
  std::vector<Attribute> attributes;      ///< other session-level attributes, wire order
  std::vector<Media> media;
  bool operator==(const Session&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Parsing and serialising

/// Bounds checked while parsing. An SDP body for one call is a few hundred bytes; a WebRTC offer
/// with many candidates a few KiB.
struct Limits {
  std::size_t max_size = 16 * 1024;  ///< whole body
  std::size_t max_media = 16;        ///< m= sections
  std::size_t max_attributes = 64;   ///< a= lines per section (session level or one m=)
  /// RFC 4566 allows a session with no media; nothing in Switchboard can use one, so by default
  /// it is missing_media.
  bool require_media = true;
};

struct ParseResult {
  std::optional<Session> session; ///< set on success
  std::error_code error;          ///< sdp_error on failure
  std::size_t line = 0;           ///< 1-based line that failed (0: the whole body, e.g. size)
  explicit operator bool() const noexcept { return session.has_value(); }
};

/// Parses one SDP body. Never throws.
ParseResult parse(std::string_view text, const Limits& lim = {}) noexcept;

/// Writes `s` with CRLF line ends in this order (RFC 4566 §5 order, attributes grouped):
///   v= o= s= c= b=* t=* [a=<direction>] [a=fingerprint] [a=setup] a=<others>*
///   per media: m= c= b=* [a=mid] a=<direction> [a=rtcp] [a=rtcp-mux] [a=ice-ufrag] [a=ice-pwd]
///              [a=fingerprint] [a=setup] a=crypto* (a=rtpmap, its a=fmtp*)* a=fmtp(no rtpmap)*
///              [a=ptime] [a=maxptime] a=candidate* a=<others>*
/// An empty s= is written "s= "; an empty times list as "t=0 0". CR, LF and NUL are dropped from
/// every value.
std::string serialize(const Session& s);

// ---------------------------------------------------------------------------------------------
// Helpers

std::string_view to_string(Direction d) noexcept;     ///< "sendrecv", …
std::optional<Direction> direction_from_string(std::string_view s) noexcept;
std::string_view to_string(Setup s) noexcept;         ///< "actpass", …
std::optional<Setup> setup_from_string(std::string_view s) noexcept; ///< case-insensitive

/// Direction seen from the other side: sendonly ⇄ recvonly (RFC 3264 §6.1).
Direction reverse(Direction d) noexcept;
/// Builds a direction from "may send" and "may receive".
Direction make_direction(bool send, bool recv) noexcept;
bool sends(Direction d) noexcept;    ///< sendrecv or sendonly
bool receives(Direction d) noexcept; ///< sendrecv or recvonly

/// True for protos carrying RTP: one "/"-separated part is "RTP" (RTP/AVP, UDP/TLS/RTP/SAVPF…).
bool is_rtp_proto(std::string_view proto) noexcept;

/// The RFC 3551 §6 static payload types (0 PCMU/8000, 8 PCMA/8000, 9 G722/8000 — G.722 samples at
/// 16 kHz but its RTP clock is 8000 for historical reasons, RFC 3551 §4.5.2 —, 13 CN/8000,
/// 18 G729/8000, …); nullopt for dynamic or unassigned numbers.
std::optional<Rtpmap> static_rtpmap(int pt) noexcept;
/// The rtpmap for `pt` in `m`: the first a=rtpmap with that number, else the static assignment.
std::optional<Rtpmap> find_rtpmap(const Media& m, int pt);
/// The first a=fmtp for `pt`, or nullptr.
const Fmtp* find_fmtp(const Media& m, int pt) noexcept;
/// Payload number of an RTP format string ("0".."127"), else nullopt.
std::optional<int> payload_type(std::string_view format) noexcept;

/// Media-level c= if present, else the session's; nullptr if neither.
const Connection* effective_connection(const Session& s, const Media& m) noexcept;
/// Media-level a=fingerprint if present, else the session's.
const Fingerprint* effective_fingerprint(const Session& s, const Media& m) noexcept;
/// Media-level a=setup if present, else the session's.
std::optional<Setup> effective_setup(const Session& s, const Media& m) noexcept;
/// The address part of a c= address (a multicast "/ttl" suffix removed).
std::string_view connection_host(const Connection& c) noexcept;
/// RFC 2543 hold address: "0.0.0.0" (IP4) or "::" (IP6) (RFC 3264 §8.4).
bool is_null_address(const Connection& c) noexcept;

// ---------------------------------------------------------------------------------------------
// SDES keys (RFC 4568)

/// Bytes of master key + master salt for an SRTP crypto-suite: AES_CM_128_HMAC_SHA1_80/_32 30
/// (RFC 4568 §6.2), AEAD_AES_128_GCM 28, AEAD_AES_256_GCM 44 (RFC 7714 §12). Names compare
/// case-insensitively. Nullopt for suites Switchboard does not use.
std::optional<std::size_t> srtp_key_salt_length(std::string_view suite) noexcept;

/// The first key of a crypto attribute's key-params (RFC 4568 §9.1:
/// "inline:" key||salt ["|" lifetime] ["|" MKI ":" MKI-length]).
struct InlineKey {
  std::string key_salt;   ///< decoded bytes, exactly srtp_key_salt_length(suite) long
  std::string lifetime;   ///< raw ("2^31", "1048576"); empty when absent
  std::string mki;        ///< raw ("1:4"); empty when absent
};
/// Decodes the first inline key of `c`, checking base64 and the suite's key||salt length.
/// Nullopt for another key method, bad base64, a wrong length or an unknown suite.
std::optional<InlineKey> decode_inline_key(const Crypto& c);
/// Builds an a=crypto value with one inline key (standard base64, padded). No length check.
Crypto make_crypto(std::uint32_t tag, std::string_view suite, std::string_view key_salt);

} // namespace sb::sdp

template <>
struct std::is_error_code_enum<sb::sdp::sdp_error> : std::true_type {};
