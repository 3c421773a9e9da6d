// SDP session descriptions, RFC 4566. See sdp.hpp.
#include "sdp/sdp.hpp"

#include <array>
#include <charconv>
#include <new>

#include "base/encoding.hpp"
#include "base/text.hpp"

namespace sb::sdp {

// ---------------------------------------------------------------------------------------------
// Errors

namespace {

class SdpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sdp"; }
  std::string message(int ev) const override {
    switch (static_cast<sdp_error>(ev)) {
      case sdp_error::malformed_line: return "malformed SDP line";
      case sdp_error::missing_version: return "SDP does not start with v=0";
      case sdp_error::missing_origin: return "SDP has no o= line";
      case sdp_error::missing_session_name: return "SDP has no s= line";
      case sdp_error::missing_connection: return "SDP media has no c= line";
      case sdp_error::missing_media: return "SDP has no m= line";
      case sdp_error::bad_port: return "SDP port out of range";
      case sdp_error::bad_payload_type: return "SDP RTP payload type out of range";
      case sdp_error::bad_attribute: return "malformed SDP attribute value";
      case sdp_error::too_large: return "SDP exceeds a size limit";
    }
    return "unknown sdp error";
  }
};

} // namespace

const std::error_category& sdp_category() noexcept {
  static const SdpCategory category;
  return category;
}

std::error_code make_error_code(sdp_error e) noexcept {
  return {static_cast<int>(e), sdp_category()};
}

// ---------------------------------------------------------------------------------------------
// Small text helpers

namespace {

constexpr bool is_ws(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_hex(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Non-whitespace, printable-or-UTF-8 text: what an address, username or sess-id may hold.
bool is_word(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return false;
  }
  return true;
}

// Splits on runs of SP/HTAB. RFC 4566 §9 asks for exactly one SP; real stacks are not so neat.
class Fields {
 public:
  explicit Fields(std::string_view s) noexcept : s_(s) {}
  std::optional<std::string_view> next() noexcept {
    while (i_ < s_.size() && is_ws(s_[i_])) ++i_;
    if (i_ >= s_.size()) return std::nullopt;
    const std::size_t b = i_;
    while (i_ < s_.size() && !is_ws(s_[i_])) ++i_;
    return s_.substr(b, i_ - b);
  }
  /// Everything after the current position, leading whitespace removed.
  std::string_view rest() noexcept {
    while (i_ < s_.size() && is_ws(s_[i_])) ++i_;
    return s_.substr(i_);
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

template <class T>
std::optional<T> parse_uint(std::string_view s) noexcept {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s)
    if (!is_digit(c)) return std::nullopt;
  T v{};
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::uint16_t> parse_port(std::string_view s) noexcept {
  const auto v = parse_uint<std::uint32_t>(s);
  if (!v || *v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*v);
}

// RFC 3551 §3: RTP payload types are 7 bits. At most three digits, so "0000000008" is refused.
std::optional<int> parse_pt(std::string_view s) noexcept {
  if (s.empty() || s.size() > 3) return std::nullopt;
  const auto v = parse_uint<unsigned>(s);
  if (!v || *v > 127) return std::nullopt;
  return static_cast<int>(*v);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Helpers

std::string_view to_string(Direction d) noexcept {
  switch (d) {
    case Direction::sendrecv: return "sendrecv";
    case Direction::sendonly: return "sendonly";
    case Direction::recvonly: return "recvonly";
    case Direction::inactive: return "inactive";
  }
  return "sendrecv";
}

std::optional<Direction> direction_from_string(std::string_view s) noexcept {
  if (s == "sendrecv") return Direction::sendrecv;
  if (s == "sendonly") return Direction::sendonly;
  if (s == "recvonly") return Direction::recvonly;
  if (s == "inactive") return Direction::inactive;
  return std::nullopt;
}

std::string_view to_string(Setup s) noexcept {
  switch (s) {
    case Setup::actpass: return "actpass";
    case Setup::active: return "active";
    case Setup::passive: return "passive";
    case Setup::holdconn: return "holdconn";
  }
  return "actpass";
}

std::optional<Setup> setup_from_string(std::string_view s) noexcept {
  if (ascii_iequals(s, "actpass")) return Setup::actpass;
  if (ascii_iequals(s, "active")) return Setup::active;
  if (ascii_iequals(s, "passive")) return Setup::passive;
  if (ascii_iequals(s, "holdconn")) return Setup::holdconn;
  return std::nullopt;
}

bool sends(Direction d) noexcept { return d == Direction::sendrecv || d == Direction::sendonly; }
bool receives(Direction d) noexcept { return d == Direction::sendrecv || d == Direction::recvonly; }

Direction make_direction(bool send, bool recv) noexcept {
  if (send && recv) return Direction::sendrecv;
  if (send) return Direction::sendonly;
  if (recv) return Direction::recvonly;
  return Direction::inactive;
}

Direction reverse(Direction d) noexcept { return make_direction(receives(d), sends(d)); }

bool is_rtp_proto(std::string_view proto) noexcept {
  std::size_t b = 0;
  while (b <= proto.size()) {
    std::size_t e = proto.find('/', b);
    if (e == std::string_view::npos) e = proto.size();
    if (proto.substr(b, e - b) == "RTP") return true;
    b = e + 1;
  }
  return false;
}

std::optional<Rtpmap> static_rtpmap(int pt) noexcept {
  // RFC 3551 §6, Tables 4 and 5. G722 at 8000: RFC 3551 §4.5.2 keeps the RTP clock of the
  // original (erroneous) RFC 1890 assignment although the codec samples at 16 kHz.
  struct Entry {
    int pt;
    const char* name;
    std::uint32_t rate;
    std::uint32_t channels;
  };
  static constexpr std::array<Entry, 24> k_static{{
      {0, "PCMU", 8000, 1},    {3, "GSM", 8000, 1},       {4, "G723", 8000, 1},
      {5, "DVI4", 8000, 1},    {6, "DVI4", 16000, 1},     {7, "LPC", 8000, 1},
      {8, "PCMA", 8000, 1},    {9, "G722", 8000, 1},      {10, "L16", 44100, 2},
      {11, "L16", 44100, 1},   {12, "QCELP", 8000, 1},    {13, "CN", 8000, 1},
      {14, "MPA", 90000, 1},   {15, "G728", 8000, 1},     {16, "DVI4", 11025, 1},
      {17, "DVI4", 22050, 1},  {18, "G729", 8000, 1},     {25, "CelB", 90000, 1},
      {26, "JPEG", 90000, 1},  {28, "nv", 90000, 1},      {31, "H261", 90000, 1},
      {32, "MPV", 90000, 1},   {33, "MP2T", 90000, 1},    {34, "H263", 90000, 1},
  }};
  for (const auto& e : k_static)
    if (e.pt == pt) {
      try {
        return Rtpmap{e.pt, e.name, e.rate, e.channels};
      } catch (...) { // a short string cannot fail to allocate in practice; stay noexcept anyway
        return std::nullopt;
      }
    }
  return std::nullopt;
}

std::optional<Rtpmap> find_rtpmap(const Media& m, int pt) {
  for (const auto& r : m.rtpmaps)
    if (r.pt == pt) return r;
  // RFC 3551 §6: a static number needs no rtpmap (RFC 4566 §6 a=rtpmap "MAY be omitted").
  return static_rtpmap(pt);
}

const Fmtp* find_fmtp(const Media& m, int pt) noexcept {
  for (const auto& f : m.fmtps)
    if (f.pt == pt) return &f;
  return nullptr;
}

std::optional<int> payload_type(std::string_view format) noexcept { return parse_pt(format); }

const Connection* effective_connection(const Session& s, const Media& m) noexcept {
  if (m.connection) return &*m.connection;
  if (s.connection) return &*s.connection;
  return nullptr;
}

const Fingerprint* effective_fingerprint(const Session& s, const Media& m) noexcept {
  if (m.fingerprint) return &*m.fingerprint;
  if (s.fingerprint) return &*s.fingerprint;
  return nullptr;
}

std::optional<Setup> effective_setup(const Session& s, const Media& m) noexcept {
  return m.setup ? m.setup : s.setup;
}

std::string_view connection_host(const Connection& c) noexcept {
  const std::string_view a = c.address;
  return a.substr(0, a.find('/'));
}

bool is_null_address(const Connection& c) noexcept {
  const std::string_view h = connection_host(c);
  return h == "0.0.0.0" || h == "::" || h == "0:0:0:0:0:0:0:0";
}

// ---------------------------------------------------------------------------------------------
// SDES keys

std::optional<std::size_t> srtp_key_salt_length(std::string_view suite) noexcept {
  // RFC 4568 §6.2.1/§6.2.2: 128-bit key + 112-bit salt. RFC 7714 §12: AEAD_AES_128_GCM 128-bit
  // key + 96-bit salt, AEAD_AES_256_GCM 256-bit key + 96-bit salt.
  if (ascii_iequals(suite, "AES_CM_128_HMAC_SHA1_80") || ascii_iequals(suite, "AES_CM_128_HMAC_SHA1_32"))
    return 30;
  if (ascii_iequals(suite, "AEAD_AES_128_GCM")) return 28;
  if (ascii_iequals(suite, "AEAD_AES_256_GCM")) return 44;
  return std::nullopt;
}

std::optional<InlineKey> decode_inline_key(const Crypto& c) {
  const auto want = srtp_key_salt_length(c.suite);
  if (!want) return std::nullopt;
  // RFC 4568 §9.1: key-params = key-param *(";" key-param); key-param = key-method ":" key-info.
  std::string_view kp = c.key_params;
  kp = kp.substr(0, kp.find(';'));
  constexpr std::string_view k_inline = "inline:";
  if (kp.size() < k_inline.size() || !ascii_iequals(kp.substr(0, k_inline.size()), k_inline))
    return std::nullopt;
  kp.remove_prefix(k_inline.size());
  // key-info = key-salt ["|" lifetime] ["|" mki]; the MKI is the part holding ':'.
  InlineKey out;
  const std::string_view b64 = kp.substr(0, kp.find('|'));
  std::string_view tail = b64.size() < kp.size() ? kp.substr(b64.size() + 1) : std::string_view{};
  for (int i = 0; i < 2 && !tail.empty(); ++i) {
    const std::string_view part = tail.substr(0, tail.find('|'));
    tail = part.size() < tail.size() ? tail.substr(part.size() + 1) : std::string_view{};
    if (part.empty()) return std::nullopt;
    if (part.find(':') != std::string_view::npos) {
      if (!out.mki.empty()) return std::nullopt;
      out.mki = std::string(part);
    } else {
      if (!out.lifetime.empty() || !out.mki.empty()) return std::nullopt; // lifetime comes first
      out.lifetime = std::string(part);
    }
  }
  if (!tail.empty()) return std::nullopt;
  auto bytes = base64_decode(b64);
  if (!bytes || bytes->size() != *want) return std::nullopt;
  out.key_salt = std::move(*bytes);
  return out;
}

Crypto make_crypto(std::uint32_t tag, std::string_view suite, std::string_view key_salt) {
  Crypto c;
  c.tag = tag;
  c.suite = std::string(suite);
  c.key_params = "inline:" + base64_encode(key_salt);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Parsing

namespace {

// Attribute parsers. Each returns an error or fills its output.
std::optional<sdp_error> parse_rtpmap(std::string_view v, Rtpmap& out) {
  // rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>] (RFC 4566 §6)
  Fields f(v);
  const auto pt_text = f.next();
  const auto enc = f.next();
  if (!pt_text || !enc || f.next()) return sdp_error::bad_attribute;
  const auto pt = parse_pt(*pt_text);
  if (!pt) return sdp_error::bad_payload_type;
  const std::size_t s1 = enc->find('/');
  if (s1 == std::string_view::npos) return sdp_error::bad_attribute;
  const std::string_view name = enc->substr(0, s1);
  std::string_view rest = enc->substr(s1 + 1);
  const std::size_t s2 = rest.find('/');
  const std::string_view rate = rest.substr(0, s2);
  const std::string_view params = s2 == std::string_view::npos ? std::string_view{} : rest.substr(s2 + 1);
  if (!is_sdp_token(name)) return sdp_error::bad_attribute;
  const auto r = parse_uint<std::uint32_t>(rate);
  if (!r || *r == 0) return sdp_error::bad_attribute;
  std::uint32_t channels = 1;
  if (s2 != std::string_view::npos) {
    const auto c = parse_uint<std::uint32_t>(params);
    if (!c || *c == 0 || *c > 255) return sdp_error::bad_attribute;
    channels = *c;
  }
  out = Rtpmap{*pt, std::string(name), *r, channels};
  return std::nullopt;
}

std::optional<sdp_error> parse_fmtp(std::string_view v, Fmtp& out) {
  // fmtp:<format> <format specific parameters> (RFC 4566 §6)
  Fields f(v);
  const auto pt_text = f.next();
  if (!pt_text) return sdp_error::bad_attribute;
  const auto pt = parse_pt(*pt_text);
  if (!pt) return sdp_error::bad_payload_type;
  out = Fmtp{*pt, std::string(f.rest())};
  return std::nullopt;
}

std::optional<sdp_error> parse_ms(std::string_view v, std::optional<std::uint32_t>& out) {
  // ptime/maxptime are integers of ms (RFC 4566 §6); a decimal fraction ("20.0") is seen in the
  // wild and truncated.
  const std::string_view whole = v.substr(0, v.find('.'));
  if (whole.size() < v.size()) {
    const std::string_view frac = v.substr(whole.size() + 1);
    for (char c : frac)
      if (!is_digit(c)) return sdp_error::bad_attribute;
  }
  const auto n = parse_uint<std::uint32_t>(whole);
  if (!n || *n == 0) return sdp_error::bad_attribute;
  out = *n;
  return std::nullopt;
}

std::optional<sdp_error> parse_connection_fields(Fields& f, Connection& out) {
  // <nettype> <addrtype> <address>; only IN IP4/IP6 (RFC 4566 §5.7).
  const auto net = f.next();
  const auto type = f.next();
  const auto addr = f.next();
  if (!net || !type || !addr || f.next()) return sdp_error::malformed_line;
  if (!ascii_iequals(*net, "IN")) return sdp_error::malformed_line;
  if (ascii_iequals(*type, "IP4"))
    out.addrtype = "IP4";
  else if (ascii_iequals(*type, "IP6"))
    out.addrtype = "IP6";
  else
    return sdp_error::malformed_line;
  if (!is_word(*addr)) return sdp_error::malformed_line;
  out.address = std::string(*addr);
  return std::nullopt;
}

std::optional<sdp_error> parse_rtcp(std::string_view v, Rtcp& out) {
  // rtcp:<port> [<nettype> <addrtype> <connection-address>] (RFC 3605 §2.1)
  Fields f(v);
  const auto port = f.next();
  if (!port) return sdp_error::bad_attribute;
  const auto p = parse_port(*port);
  if (!p) return sdp_error::bad_port;
  out.port = *p;
  out.connection.reset();
  if (!f.rest().empty()) {
    Connection c;
    if (parse_connection_fields(f, c)) return sdp_error::bad_attribute;
    out.connection = std::move(c);
  }
  return std::nullopt;
}

std::optional<sdp_error> parse_crypto(std::string_view v, Crypto& out) {
  // crypto:<tag> <crypto-suite> <key-params> [<session-params>] (RFC 4568 §9.1)
  Fields f(v);
  const auto tag = f.next();
  const auto suite = f.next();
  const auto keys = f.next();
  if (!tag || !suite || !keys) return sdp_error::bad_attribute;
  if (tag->size() > 9) return sdp_error::bad_attribute;
  const auto t = parse_uint<std::uint32_t>(*tag);
  if (!t) return sdp_error::bad_attribute;
  if (!is_sdp_token(*suite)) return sdp_error::bad_attribute;
  // key-param = key-method ":" key-info; key-method is a token ("inline").
  const std::size_t colon = keys->find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == keys->size() ||
      !is_sdp_token(keys->substr(0, colon)))
    return sdp_error::bad_attribute;
  out.tag = *t;
  out.suite = std::string(*suite);
  out.key_params = std::string(*keys);
  out.session_params.clear();
  while (auto p = f.next()) {
    if (!out.session_params.empty()) out.session_params += ' ';
    out.session_params.append(*p);
  }
  return std::nullopt;
}

std::optional<sdp_error> parse_fingerprint(std::string_view v, Fingerprint& out) {
  // fingerprint:<hash-func> <fingerprint>; fingerprint = 2UHEX *(":" 2UHEX) (RFC 8122 §5).
  // Lower-case hex is accepted: some stacks write it.
  Fields f(v);
  const auto hash = f.next();
  const auto fp = f.next();
  if (!hash || !fp || f.next() || !is_sdp_token(*hash)) return sdp_error::bad_attribute;
  if (fp->size() % 3 != 2) return sdp_error::bad_attribute;
  for (std::size_t i = 0; i < fp->size(); ++i) {
    const char c = (*fp)[i];
    if (i % 3 == 2 ? c != ':' : !is_hex(c)) return sdp_error::bad_attribute;
  }
  out = Fingerprint{std::string(*hash), std::string(*fp)};
  return std::nullopt;
}

std::optional<sdp_error> parse_origin(std::string_view v, Origin& out) {
  // o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> (RFC 4566 §5.2)
  Fields f(v);
  std::array<std::string_view, 6> p;
  for (auto& x : p) {
    const auto n = f.next();
    if (!n) return sdp_error::malformed_line;
    x = *n;
  }
  if (f.next()) return sdp_error::malformed_line;
  const auto ver = parse_uint<std::uint64_t>(p[2]);
  if (!ver) return sdp_error::malformed_line;
  out.username = std::string(p[0]);
  out.sess_id = std::string(p[1]);
  out.sess_version = *ver;
  out.nettype = std::string(p[3]);
  out.addrtype = std::string(p[4]);
  out.address = std::string(p[5]);
  return std::nullopt;
}

std::optional<sdp_error> parse_media_line(std::string_view v, Media& out) {
  // m=<media> <port>[/<number of ports>] <proto> <fmt> ... (RFC 4566 §5.14)
  Fields f(v);
  const auto type = f.next();
  const auto port = f.next();
  const auto proto = f.next();
  if (!type || !port || !proto || !is_sdp_token(*type)) return sdp_error::malformed_line;
  for (char c : *proto)
    if (!is_sdp_token_char(c) && c != '/') return sdp_error::malformed_line;
  const std::size_t slash = port->find('/');
  const auto p = parse_port(port->substr(0, slash));
  if (!p) return sdp_error::bad_port;
  std::uint16_t count = 1;
  if (slash != std::string_view::npos) {
    const auto c = parse_port(port->substr(slash + 1));
    if (!c || *c == 0) return sdp_error::bad_port;
    count = *c;
  }
  out.type = std::string(*type);
  out.port = *p;
  out.port_count = count;
  out.proto = std::string(*proto);
  const bool rtp = is_rtp_proto(*proto);
  while (auto fmt = f.next()) {
    if (rtp) {
      // RFC 4566 §5.14: for RTP/AVP and its relatives, <fmt> are RTP payload type numbers.
      const auto pt = parse_pt(*fmt);
      if (!pt) return sdp_error::bad_payload_type;
      out.formats.push_back(std::to_string(*pt));
    } else {
      if (!is_word(*fmt)) return sdp_error::malformed_line;
      out.formats.emplace_back(*fmt);
    }
  }
  if (out.formats.empty()) return sdp_error::malformed_line; // 1*(SP fmt)
  return std::nullopt;
}

// One a= line at media level. Interpreted attributes fill their field the first time; a second
// copy of a single-valued one is kept raw so that nothing is lost and the order is stable.
std::optional<sdp_error> media_attribute(Media& m, std::string_view name, std::string_view value,
                                         bool has_value, bool& direction_seen) {
  const bool rtp = is_rtp_proto(m.proto);
  auto keep_raw = [&] {
    m.attributes.push_back(Attribute{std::string(name), std::string(value), has_value});
    return std::nullopt;
  };
  if (const auto d = direction_from_string(name)) {
    if (direction_seen) return keep_raw();
    direction_seen = true;
    m.direction = *d;
    return std::nullopt;
  }
  if (name == "rtpmap" && rtp) {
    Rtpmap r;
    if (auto e = parse_rtpmap(value, r)) return e;
    m.rtpmaps.push_back(std::move(r));
    return std::nullopt;
  }
  if (name == "fmtp" && rtp) {
    Fmtp fm;
    if (auto e = parse_fmtp(value, fm)) return e;
    m.fmtps.push_back(std::move(fm));
    return std::nullopt;
  }
  if (name == "ptime" || name == "maxptime") {
    auto& slot = name == "ptime" ? m.ptime : m.maxptime;
    if (slot) return keep_raw();
    return parse_ms(value, slot);
  }
  if (name == "rtcp") {
    if (m.rtcp) return keep_raw();
    Rtcp r;
    if (auto e = parse_rtcp(value, r)) return e;
    m.rtcp = std::move(r);
    return std::nullopt;
  }
  if (name == "rtcp-mux") {
    m.rtcp_mux = true;
    return std::nullopt;
  }
  if (name == "crypto") {
    Crypto c;
    if (auto e = parse_crypto(value, c)) return e;
    m.cryptos.push_back(std::move(c));
    return std::nullopt;
  }
  if (name == "fingerprint") {
    if (m.fingerprint) return keep_raw();
    Fingerprint fp;
    if (auto e = parse_fingerprint(value, fp)) return e;
    m.fingerprint = std::move(fp);
    return std::nullopt;
  }
  if (name == "setup") {
    if (m.setup) return keep_raw();
    const auto s = setup_from_string(value);
    if (!s) return sdp_error::bad_attribute;
    m.setup = *s;
    return std::nullopt;
  }
  if (name == "ice-ufrag" || name == "ice-pwd" || name == "mid") {
    auto& slot = name == "mid" ? m.mid : name == "ice-ufrag" ? m.ice_ufrag : m.ice_pwd;
    if (slot || !has_value) return keep_raw();
    slot = std::string(value);
    return std::nullopt;
  }
  if (name == "candidate" && has_value) {
    m.candidates.emplace_back(value);
    return std::nullopt;
  }
  return keep_raw();
}

std::optional<sdp_error> session_attribute(Session& s, std::string_view name, std::string_view value,
                                           bool has_value) {
  auto keep_raw = [&] {
    s.attributes.push_back(Attribute{std::string(name), std::string(value), has_value});
    return std::nullopt;
  };
  if (const auto d = direction_from_string(name)) {
    if (s.direction) return keep_raw();
    s.direction = *d;
    return std::nullopt;
  }
  if (name == "fingerprint") {
    if (s.fingerprint) return keep_raw();
    Fingerprint fp;
    if (auto e = parse_fingerprint(value, fp)) return e;
    s.fingerprint = std::move(fp);
    return std::nullopt;
  }
  if (name == "setup") {
    if (s.setup) return keep_raw();
    const auto st = setup_from_string(value);
    if (!st) return sdp_error::bad_attribute;
    s.setup = *st;
    return std::nullopt;
  }
  return keep_raw();
}

class Parser {
 public:
  Parser(std::string_view text, const Limits& lim) : text_(text), lim_(lim) {}

  ParseResult run() {
    ParseResult r;
    if (text_.size() > lim_.max_size) return fail(r, sdp_error::too_large, 0);
    Session s;
    s.times.clear();
    std::size_t pos = 0;
    std::size_t line_no = 0;
    std::size_t session_attrs = 0;
    std::size_t media_attrs = 0;
    bool seen_origin = false, seen_name = false, blank_seen = false, started = false;
    std::vector<bool> media_dir_seen;
    while (pos < text_.size()) {
      std::size_t end = text_.find('\n', pos);
      if (end == std::string_view::npos) end = text_.size();
      std::string_view line = text_.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      while (!line.empty() && is_ws(line.back())) line.remove_suffix(1);
      if (line.empty()) {
        // Trailing blank lines are tolerated (an extra CRLF after the body); a blank line in
        // the middle is not an SDP line, and a leading one means v= is not first.
        if (!started) return fail(r, sdp_error::missing_version, line_no);
        blank_seen = true;
        continue;
      }
      if (blank_seen) return fail(r, sdp_error::malformed_line, line_no);
      const bool first = !started;
      started = true;
      for (char c : line)
        if (c == '\r' || c == '\0') return fail(r, sdp_error::malformed_line, line_no);
      // RFC 4566 §5: <type>=<value>, <type> exactly one case-significant character.
      if (line.size() < 2 || !is_alpha(line[0]) || line[1] != '=')
        return fail(r, first ? sdp_error::missing_version : sdp_error::malformed_line, line_no);
      const char type = line[0];
      const std::string_view value = line.substr(2);
      if (first) {
        // RFC 4566 §5.1: v=0, and it is the first line.
        if (type != 'v' || value != "0") return fail(r, sdp_error::missing_version, line_no);
        continue;
      }
      Media* m = s.media.empty() ? nullptr : &s.media.back();
      std::optional<sdp_error> e;
      switch (type) {
        case 'v': e = sdp_error::malformed_line; break; // a second description in one body
        case 'o':
          if (m || seen_origin) e = sdp_error::malformed_line;
          else e = parse_origin(value, s.origin);
          seen_origin = true;
          break;
        case 's':
          if (m || seen_name) {
            e = sdp_error::malformed_line;
          } else {
            s.name = std::string(value);
            seen_name = true;
          }
          break;
        case 't':
          if (m) e = sdp_error::malformed_line;
          else if (value.empty()) e = sdp_error::malformed_line;
          else s.times.emplace_back(value);
          break;
        case 'c': {
          Connection c;
          Fields f(value);
          if ((e = parse_connection_fields(f, c))) break;
          auto& slot = m ? m->connection : s.connection;
          // RFC 4566 §5.7 allows several c= in a media section for layered multicast; unicast
          // telephony uses the first.
          if (!slot) slot = std::move(c);
          break;
        }
        case 'b':
          if (value.empty()) e = sdp_error::malformed_line;
          else (m ? m->bandwidths : s.bandwidths).emplace_back(value);
          break;
        case 'm': {
          if (!seen_origin) return fail(r, sdp_error::missing_origin, line_no);
          if (!seen_name) return fail(r, sdp_error::missing_session_name, line_no);
          if (s.media.size() >= lim_.max_media) return fail(r, sdp_error::too_large, line_no);
          Media nm;
          if ((e = parse_media_line(value, nm))) break;
          s.media.push_back(std::move(nm));
          media_dir_seen.push_back(false);
          media_attrs = 0;
          break;
        }
        case 'a': {
          if (++(m ? media_attrs : session_attrs) > lim_.max_attributes)
            return fail(r, sdp_error::too_large, line_no);
          // a=<attribute> / a=<attribute>:<value> (RFC 4566 §5.13); names are tokens.
          const std::size_t colon = value.find(':');
          const std::string_view name = value.substr(0, colon);
          const bool has_value = colon != std::string_view::npos;
          const std::string_view v = has_value ? value.substr(colon + 1) : std::string_view{};
          if (!is_sdp_token(name)) {
            e = sdp_error::malformed_line;
            break;
          }
          if (m) {
            bool seen = media_dir_seen.back();
            e = media_attribute(*m, name, v, has_value, seen);
            media_dir_seen.back() = seen;
          } else {
            e = session_attribute(s, name, v, has_value);
          }
          break;
        }
        default:
          // i= u= e= p= k= r= z=: not used by Switchboard. Unknown type letters: RFC 4566 §5
          // would have the whole description ignored; like most SIP stacks, Switchboard skips
          // the line instead, so one vendor extension cannot fail a call.
          break;
      }
      if (e) return fail(r, *e, line_no);
    }
    if (line_no == 0) return fail(r, sdp_error::missing_version, 0);
    if (!seen_origin) return fail(r, sdp_error::missing_origin, 0);
    if (!seen_name) return fail(r, sdp_error::missing_session_name, 0);
    if (lim_.require_media && s.media.empty()) return fail(r, sdp_error::missing_media, 0);
    if (s.times.empty()) s.times.emplace_back("0 0"); // RFC 3264 §5: t=0 0 for SIP sessions
    for (std::size_t i = 0; i < s.media.size(); ++i) {
      Media& m = s.media[i];
      // RFC 4566 §5.7: c= at session level or in every media description. A rejected stream
      // (port 0) carries no media, so its missing c= is tolerated.
      if (!m.connection && !s.connection && m.port != 0)
        return fail(r, sdp_error::missing_connection, 0);
      // RFC 4566 §6: a session-level direction applies to media that state none.
      if (!media_dir_seen[i]) m.direction = s.direction.value_or(Direction::sendrecv);
    }
    r.session = std::move(s);
    return r;
  }

 private:
  static ParseResult& fail(ParseResult& r, sdp_error e, std::size_t line) {
    r.session.reset();
    r.error = e;
    r.line = line;
    return r;
  }

  std::string_view text_;
  const Limits& lim_;
};

} // namespace

ParseResult parse(std::string_view text, const Limits& lim) noexcept {
  try {
    return Parser(text, lim).run();
  } catch (...) { // std::bad_alloc: the only exception anything above can raise
    ParseResult r;
    r.error = sdp_error::too_large;
    return r;
  }
}

// ---------------------------------------------------------------------------------------------
// Serialising

namespace {

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  // Starts a line "<type>=".
  Writer& line(char type) {
    out_ += type;
    out_ += '=';
    return *this;
  }
  // Appends a value with CR, LF and NUL dropped: nothing can start a line of its own.
  Writer& text(std::string_view v) {
    for (char c : v)
      if (c != '\r' && c != '\n' && c != '\0') out_ += c;
    return *this;
  }
  Writer& num(std::uint64_t n) {
    out_ += std::to_string(n);
    return *this;
  }
  Writer& sp() {
    out_ += ' ';
    return *this;
  }
  void end() { out_ += "\r\n"; }

  void attr(std::string_view name) { line('a').text(name).end(); }
  void attr(std::string_view name, std::string_view value) {
    line('a').text(name);
    out_ += ':';
    text(value).end();
  }
  void raw(const Attribute& a) {
    if (a.has_value)
      attr(a.name, a.value);
    else
      attr(a.name);
  }
  void connection(const Connection& c) { line('c').text("IN ").text(c.addrtype).sp().text(c.address).end(); }
  void fingerprint(const Fingerprint& f) {
    line('a').text("fingerprint:").text(f.hash_func).sp().text(f.value).end();
  }

 private:
  std::string& out_;
};

} // namespace

std::string serialize(const Session& s) {
  std::string out;
  out.reserve(512 + 256 * s.media.size());
  Writer w(out);
  w.line('v').text("0").end();
  const Origin& o = s.origin;
  w.line('o').text(o.username).sp().text(o.sess_id).sp().num(o.sess_version).sp().text(o.nettype)
      .sp().text(o.addrtype).sp().text(o.address).end();
  // RFC 4566 §5.3: "s= " when there is no meaningful name.
  if (s.name.empty())
    w.line('s').text(" ").end();
  else
    w.line('s').text(s.name).end();
  if (s.connection) w.connection(*s.connection);
  for (const auto& b : s.bandwidths) w.line('b').text(b).end();
  if (s.times.empty()) w.line('t').text("0 0").end();
  for (const auto& t : s.times) w.line('t').text(t).end();
  if (s.direction) w.attr(to_string(*s.direction));
  if (s.fingerprint) w.fingerprint(*s.fingerprint);
  if (s.setup) w.attr("setup", to_string(*s.setup));
  for (const auto& a : s.attributes) w.raw(a);

  for (const Media& m : s.media) {
    w.line('m').text(m.type).sp().num(m.port);
    if (m.port_count > 1) out += '/' + std::to_string(m.port_count);
    w.sp().text(m.proto);
    for (const auto& f : m.formats) w.sp().text(f);
    w.end();
    if (m.connection) w.connection(*m.connection);
    for (const auto& b : m.bandwidths) w.line('b').text(b).end();
    if (m.mid) w.attr("mid", *m.mid);
    w.attr(to_string(m.direction));
    if (m.rtcp) {
      w.line('a').text("rtcp:").num(m.rtcp->port);
      if (m.rtcp->connection)
        w.text(" IN ").text(m.rtcp->connection->addrtype).sp().text(m.rtcp->connection->address);
      w.end();
    }
    if (m.rtcp_mux) w.attr("rtcp-mux");
    if (m.ice_ufrag) w.attr("ice-ufrag", *m.ice_ufrag);
    if (m.ice_pwd) w.attr("ice-pwd", *m.ice_pwd);
    if (m.fingerprint) w.fingerprint(*m.fingerprint);
    if (m.setup) w.attr("setup", to_string(*m.setup));
    for (const auto& c : m.cryptos) {
      w.line('a').text("crypto:").num(c.tag).sp().text(c.suite).sp().text(c.key_params);
      if (!c.session_params.empty()) w.sp().text(c.session_params);
      w.end();
    }
    // Each rtpmap followed by the fmtps of its payload type (the first rtpmap of a number takes
    // them), then fmtps whose number has no rtpmap.
    auto write_fmtp = [&](const Fmtp& f) {
      w.line('a').text("fmtp:").num(static_cast<std::uint64_t>(f.pt));
      if (!f.params.empty()) w.sp().text(f.params);
      w.end();
    };
    for (std::size_t i = 0; i < m.rtpmaps.size(); ++i) {
      const Rtpmap& r = m.rtpmaps[i];
      w.line('a').text("rtpmap:").num(static_cast<std::uint64_t>(r.pt)).sp().text(r.encoding);
      out += '/' + std::to_string(r.clock_rate);
      if (r.channels != 1) out += '/' + std::to_string(r.channels);
      w.end();
      bool first = true;
      for (std::size_t j = 0; j < i; ++j)
        if (m.rtpmaps[j].pt == r.pt) first = false;
      if (first)
        for (const auto& f : m.fmtps)
          if (f.pt == r.pt) write_fmtp(f);
    }
    for (const auto& f : m.fmtps) {
      bool mapped = false;
      for (const auto& r : m.rtpmaps)
        if (r.pt == f.pt) mapped = true;
      if (!mapped) write_fmtp(f);
    }
    if (m.ptime) w.line('a').text("ptime:").num(*m.ptime).end();
    if (m.maxptime) w.line('a').text("maxptime:").num(*m.maxptime).end();
    for (const auto& c : m.candidates) w.attr("candidate", c);
    for (const auto& a : m.attributes) w.raw(a);
  }
  return out;
}

} // namespace sb::sdp
