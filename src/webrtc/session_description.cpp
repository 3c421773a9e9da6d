// JSEP descriptions for the SFU's browser legs: see session_description.hpp.
#include "webrtc/session_description.hpp"

#include "base/crypto.hpp"
#include "base/text.hpp"
#include "sdp/sdp.hpp"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace sb::webrtc {

namespace {

class DescriptionCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "webrtc.description"; }
  std::string message(int ev) const override {
    switch (static_cast<description_error>(ev)) {
    case description_error::missing_ice_credentials: return "no ice-ufrag/ice-pwd";
    case description_error::missing_fingerprint: return "no DTLS fingerprint";
    case description_error::bad_setup: return "DTLS setup role not usable";
    case description_error::no_acceptable_media: return "no media section we can accept";
    }
    return "unknown description error";
  }
};

/// The bounds of the header (session_description.hpp) as sdp::parse takes them.
constexpr sdp::Limits k_limits{.max_size = k_max_description_size,
                               .max_media = k_max_description_media,
                               .max_attributes = k_max_section_attributes,
                               .require_media = true};

/// RFC 8445 §5.1.2.1 with type preference 126 (host), local preference 65535, component 1.
constexpr std::uint32_t k_host_priority = (126u << 24) | (65535u << 8) | (256u - 1u);

/// cname written for a track whose publisher gave none (RFC 3550 §6.5.1 only asks it be stable).
constexpr std::string_view k_default_cname = "switchboard";
/// The one header extension forwarded: abs-send-time (the 24-bit 6.18 fixed-point send time
/// that receive-side bandwidth estimation reads; webrtc.org's RTP header extension list).
constexpr std::string_view k_abs_send_time_uri = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";

template <class T>
Result<T> fail(std::error_code ec) {
  return {std::nullopt, ec};
}

using sb::ascii_lower;
char ascii_upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
constexpr auto iequals = sb::ascii_iequals;

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// Splits off the first whitespace-delimited token of `s` (leading blanks skipped).
std::string_view next_token(std::string_view& s) noexcept {
  s = trim(s);
  const std::size_t end = s.find_first_of(" \t");
  const std::string_view tok = s.substr(0, end);
  s = end == std::string_view::npos ? std::string_view{} : s.substr(end);
  return tok;
}

std::optional<std::uint32_t> parse_u32(std::string_view s) noexcept {
  std::uint32_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

/// A value for one SDP line: CR, LF and NUL dropped, so nothing can start a line of its own.
std::string clean(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v)
    if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
  return out;
}

/// An msid token (RFC 8830 §2: 1*64 token-char): blanks and control characters dropped too.
std::string clean_token(std::string_view v) {
  std::string out;
  for (const char c : v)
    if (static_cast<unsigned char>(c) > 0x20 && c != 0x7f) out.push_back(c);
  return out;
}

std::string_view addrtype(std::string_view address) noexcept {
  return address.find(':') == std::string_view::npos ? "IP4" : "IP6";
}

/// The session-level value of an attribute sdp keeps raw (session-level ice-ufrag / ice-pwd).
const sdp::Attribute* session_attribute(const sdp::Session& s, std::string_view name) noexcept {
  for (const auto& a : s.attributes)
    if (a.has_value && iequals(a.name, name)) return &a;
  return nullptr;
}

bool has_property(const sdp::Media& m, std::string_view name) noexcept {
  return std::any_of(m.attributes.begin(), m.attributes.end(),
                     [&](const sdp::Attribute& a) { return iequals(a.name, name); });
}

/// RFC 8843 §6: a bundle-only section has port 0 yet is part of the bundle.
bool is_live(const sdp::Media& m) noexcept { return m.port != 0 || has_property(m, "bundle-only"); }

/// RFC 5764 §8: DTLS-SRTP media is "UDP/TLS/RTP/SAVP(F)"; Chrome once wrote "RTP/SAVPF" (RFC
/// 5124) for the same thing, so any RTP proto with a secure profile is taken.
bool is_secure_rtp(std::string_view proto) noexcept {
  return sdp::is_rtp_proto(proto) && (proto.ends_with("/SAVP") || proto.ends_with("/SAVPF"));
}

// -- SSRCs (RFC 5576) ----------------------------------------------------------------------------

/// The media SSRCs of a section, in a=ssrc order, minus the repair streams: every SSRC after the
/// first of an a=ssrc-group:FID (RTX, RFC 4588 §8) or FEC-FR (RFC 5956 §4.3) group. The cname is
/// the first media SSRC's.
void read_ssrcs(const sdp::Media& m, Track& t) {
  std::vector<std::uint32_t> all;
  std::unordered_set<std::uint32_t> repair;
  for (const auto& a : m.attributes) {
    if (!a.has_value) continue;
    std::string_view rest = a.value;
    if (iequals(a.name, "ssrc")) {
      if (const auto ssrc = parse_u32(next_token(rest)); ssrc && std::find(all.begin(), all.end(), *ssrc) == all.end())
        all.push_back(*ssrc);
    } else if (iequals(a.name, "ssrc-group")) {
      const std::string_view semantics = next_token(rest);
      const bool is_repair = iequals(semantics, "FID") || iequals(semantics, "FEC-FR");
      bool first = true;
      for (std::string_view tok = next_token(rest); !tok.empty(); tok = next_token(rest)) {
        const auto ssrc = parse_u32(tok);
        if (!ssrc) break;
        if (!first && is_repair) repair.insert(*ssrc);
        if (std::find(all.begin(), all.end(), *ssrc) == all.end()) all.push_back(*ssrc);
        first = false;
      }
    }
  }
  for (const std::uint32_t s : all)
    if (!repair.contains(s) && t.ssrcs.size() < k_max_track_ssrcs) t.ssrcs.push_back(s);
  if (t.ssrcs.empty()) return;
  for (const auto& a : m.attributes) {
    if (!a.has_value || !iequals(a.name, "ssrc")) continue;
    std::string_view rest = a.value;
    if (parse_u32(next_token(rest)) != t.ssrcs.front()) continue;
    rest = trim(rest);
    const std::size_t colon = rest.find(':');
    if (colon != std::string_view::npos && iequals(rest.substr(0, colon), "cname")) {
      if (const std::string_view cname = trim(rest.substr(colon + 1)); cname.size() <= k_max_cname) t.cname = std::string(cname);
      return;
    }
  }
}

// -- Codecs --------------------------------------------------------------------------------------

/// The section's a=extmap id for abs-send-time (RFC 8285 §5: "<id>[/<direction>] <uri>"), when it
/// is a one-byte-header id (1–14); 0 otherwise.
int abs_send_time_id(const sdp::Media& m) {
  for (const auto& a : m.attributes) {
    if (!a.has_value || !iequals(a.name, "extmap")) continue;
    std::string_view rest = a.value;
    std::string_view id = next_token(rest);
    id = id.substr(0, id.find('/'));
    if (next_token(rest) != k_abs_send_time_uri) continue;
    const auto v = parse_u32(id);
    if (v && *v >= 1 && *v <= 14) return static_cast<int>(*v);
  }
  return 0;
}

/// The value of `name` in an fmtp parameter list ("a=1;b=2"), "" if absent.
std::string_view fmtp_param(std::string_view params, std::string_view name) {
  while (!params.empty()) {
    const std::size_t semi = params.find(';');
    std::string_view item = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
    const std::size_t eq = item.find('=');
    if (eq != std::string_view::npos && iequals(trim(item.substr(0, eq)), name)) return trim(item.substr(eq + 1));
  }
  return {};
}

/// H.264 that every subscribing browser can decode: non-interleaved packetization (RFC 6184
/// §6.3, mode 1: FU-A and STAP-A, what browsers send) and a Baseline-family profile_idc (0x42,
/// RFC 6184 §8.1 profile-level-id; Constrained Baseline is what every WebRTC stack implements).
bool is_forwardable_h264(std::string_view fmtp) {
  const auto plid = fmtp_param(fmtp, "profile-level-id");
  return fmtp_param(fmtp, "packetization-mode") == "1" && plid.size() == 6 &&
         iequals(plid.substr(0, 2), "42");
}

bool is_wanted_codec(std::string_view kind, const sdp::Rtpmap& r, std::string_view fmtp) noexcept {
  // RFC 7587 §7: Opus is always "opus/48000/2", whatever is actually sent.
  if (kind == "audio") return iequals(r.encoding, "opus") && r.clock_rate == 48000 && r.channels == 2;
  if (kind != "video" || r.clock_rate != 90000) return false;
  // RFC 7741 §6.1: VP8/90000. RFC 6184 §8.1: H264/90000, forwarded as the publisher packetizes it.
  return iequals(r.encoding, "VP8") || (iequals(r.encoding, "H264") && is_forwardable_h264(fmtp));
}

/// The section's first (most preferred, RFC 3264 §5.1) payload type of the codec we forward.
std::optional<Track> pick_track(const sdp::Media& m) {
  for (const auto& f : m.formats) {
    const auto pt = sdp::payload_type(f);
    if (!pt) continue;
    const auto rtpmap = sdp::find_rtpmap(m, *pt);
    const auto* fmtp = sdp::find_fmtp(m, *pt);
    if (!rtpmap || !is_wanted_codec(m.type, *rtpmap, fmtp ? std::string_view(fmtp->params) : std::string_view()))
      continue;
    Track t;
    t.mid = *m.mid;
    t.kind = m.type;
    t.pt = *pt;
    t.codec = rtpmap->encoding;
    t.clock_rate = rtpmap->clock_rate;
    t.channels = rtpmap->channels;
    if (fmtp) t.fmtp = fmtp->params;
    read_ssrcs(m, t);
    if (t.kind == "video") t.abs_send_time_id = abs_send_time_id(m);
    return t;
  }
  return std::nullopt;
}

// -- Transport -----------------------------------------------------------------------------------

/// ICE credentials, fingerprint and setup of the bundle, read from section `ref` (the first
/// accepted one, which carries the bundle's transport), else the session level, else any section.
std::error_code read_transport(const sdp::Session& s, std::size_t ref, RemoteDescription& d) {
  const sdp::Media& rm = s.media[ref];
  const auto ice = [&](auto member, std::string_view name) -> std::optional<std::string> {
    if (rm.*member) return *(rm.*member);
    if (const auto* a = session_attribute(s, name)) return a->value;
    for (const auto& m : s.media)
      if (m.*member) return *(m.*member);
    return std::nullopt;
  };
  const auto ufrag = ice(&sdp::Media::ice_ufrag, "ice-ufrag");
  const auto pwd = ice(&sdp::Media::ice_pwd, "ice-pwd");
  if (!ufrag || !pwd || ufrag->empty() || pwd->empty()) return description_error::missing_ice_credentials;
  d.ice_ufrag = *ufrag;
  d.ice_pwd = *pwd;

  const sdp::Fingerprint* fp = sdp::effective_fingerprint(s, rm);
  for (std::size_t i = 0; !fp && i < s.media.size(); ++i)
    if (s.media[i].fingerprint) fp = &*s.media[i].fingerprint;
  if (!fp || fp->value.empty()) return description_error::missing_fingerprint;
  d.fingerprint_alg.clear();
  for (const char c : fp->hash_func) d.fingerprint_alg.push_back(ascii_lower(c));
  d.fingerprint.clear();
  for (const char c : fp->value) d.fingerprint.push_back(ascii_upper(c));

  if (const auto setup = sdp::effective_setup(s, rm)) d.setup = std::string(sdp::to_string(*setup));
  return {};
}

// -- Writing -------------------------------------------------------------------------------------

/// Lines of one description, CRLF-terminated (RFC 4566 §5), every value cleaned.
class Writer {
 public:
  Writer& line(char type, std::string_view value) {
    out_.push_back(type);
    out_.push_back('=');
    out_ += clean(value);
    out_ += "\r\n";
    return *this;
  }
  Writer& attr(std::string_view name) { return line('a', name); }
  Writer& attr(std::string_view name, std::string_view value) {
    return line('a', std::string(name) + ":" + std::string(value));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

/// o=, s=, t= and a=ice-lite (RFC 8839 §5.3: session level). sess-id: random, below 2^63 (RFC
/// 4566 §5.2 suggests an NTP timestamp; RFC 8829 §5.2.1 a random 62-bit number, as here).
void write_session_head(Writer& w, std::string_view address, const std::vector<std::string>& bundle) {
  const std::string bytes = random_bytes(8);
  std::uint64_t id = 0;
  for (const char c : bytes) id = (id << 8) | static_cast<unsigned char>(c);
  id >>= 2;
  w.line('v', "0");
  w.line('o', "- " + std::to_string(id) + " 2 IN " + std::string(addrtype(address)) + " " + std::string(address));
  w.line('s', "-");
  w.line('t', "0 0");
  w.attr("ice-lite");
  if (!bundle.empty()) {
    std::string group = "BUNDLE";
    for (const auto& mid : bundle) group += " " + mid;
    w.attr("group", group);
  }
}

std::string rtpmap_value(const Track& t) {
  std::string v = std::to_string(t.pt) + " " + t.codec + "/" + std::to_string(t.clock_rate);
  if (t.kind == "audio" && t.channels > 1) v += "/" + std::to_string(t.channels);
  return v;
}

/// c=, ICE, DTLS and rtcp-mux lines of an accepted section (after m=, a=mid and the direction).
void write_transport(Writer& w, const LocalIce& local, std::string_view setup) {
  w.attr("ice-ufrag", local.ufrag);
  w.attr("ice-pwd", local.pwd);
  w.attr("fingerprint", "sha-256 " + local.fingerprint);
  w.attr("setup", setup);
  w.attr("rtcp-mux");
}

void write_codec(Writer& w, const Track& t) {
  w.attr("rtpmap", rtpmap_value(t));
  if (!t.fmtp.empty()) w.attr("fmtp", std::to_string(t.pt) + " " + t.fmtp);
}

/// RFC 8839 §5.1 host candidate, then RFC 8840 §4.1 end-of-candidates: we gather nothing else.
void write_candidate(Writer& w, const LocalIce& local) {
  w.attr("candidate", "1 1 udp " + std::to_string(k_host_priority) + " " + local.address + " " +
                          std::to_string(local.port) + " typ host");
  w.attr("end-of-candidates");
}

void write_media_line(Writer& w, std::string_view type, std::uint16_t port, std::string_view proto,
                      std::string_view fmt, std::string_view address) {
  w.line('m', std::string(type) + " " + std::to_string(port) + " " + std::string(proto) + " " + std::string(fmt));
  w.line('c', "IN " + std::string(addrtype(address)) + " " + std::string(address));
}

/// REMB (draft-alvestrand-rmcat-remb) and the abs-send-time extension it is computed from, with
/// the publisher's extension id on both legs: packets are forwarded unchanged, extension and all.
void write_remb(Writer& w, const Track& t) {
  if (!t.remb || t.abs_send_time_id == 0) return;
  w.attr("rtcp-fb", std::to_string(t.pt) + " goog-remb");
  w.attr("extmap", std::to_string(t.abs_send_time_id) + " " + std::string(k_abs_send_time_uri));
}

/// The feedback we keep for video (RFC 4585 §4.2: NACK and PLI; RFC 5104 §7.1: FIR); none for
/// audio. goog-remb is written by write_remb; transport-cc is left out (it needs the
/// transport-wide sequence extension and per-packet feedback we do not generate).
constexpr std::string_view k_video_feedback[] = {"nack", "nack pli", "ccm fir"};

/// Whether the offer asked for feedback `fb` on payload type `pt` (or on every one, "*").
bool offered_feedback(const sdp::Media& m, int pt, std::string_view fb) {
  for (const auto& a : m.attributes) {
    if (!a.has_value || !iequals(a.name, "rtcp-fb")) continue;
    std::string_view rest = a.value;
    const std::string_view target = next_token(rest);
    if (target != "*" && sdp::payload_type(target) != pt) continue;
    // Compare token by token, so "nack  pli" and "nack pli" match.
    std::string_view want = fb;
    bool same = true;
    for (;;) {
      const std::string_view x = next_token(rest), y = next_token(want);
      if (x.empty() && y.empty()) break;
      if (!iequals(x, y)) { same = false; break; }
    }
    if (same) return true;
  }
  return false;
}

}  // namespace

const std::error_category& description_category() noexcept {
  static const DescriptionCategory category;
  return category;
}

std::error_code make_error_code(description_error e) noexcept {
  return {static_cast<int>(e), description_category()};
}

Result<RemoteDescription> parse_publisher_offer(std::string_view text) {
  auto parsed = sdp::parse(text, k_limits);
  if (!parsed) return fail<RemoteDescription>(parsed.error);
  const sdp::Session& s = *parsed.session;

  RemoteDescription d;
  std::optional<std::size_t> ref;
  bool have_audio = false, have_video = false;
  std::unordered_set<std::string> seen_mids;
  for (std::size_t i = 0; i < s.media.size(); ++i) {
    const sdp::Media& m = s.media[i];
    d.mids.push_back(m.mid.value_or(""));
    bool& have = m.type == "audio" ? have_audio : have_video;
    // RFC 9143 §7.2: only a section with a (unique) mid can be bundled; the browser must send in it.
    if ((m.type != "audio" && m.type != "video") || have || !m.mid || m.mid->empty() ||
        !seen_mids.insert(*m.mid).second || !is_live(m) || !is_secure_rtp(m.proto) || !sdp::sends(m.direction))
      continue;
    auto track = pick_track(m);
    if (!track) continue;
    track->remb = track->abs_send_time_id != 0 && offered_feedback(m, track->pt, "goog-remb");
    if (!track->remb) track->abs_send_time_id = 0;  // the extension is of no use without REMB
    have = true;
    if (!ref) ref = i;
    d.tracks.push_back(std::move(*track));
  }
  if (!ref) return fail<RemoteDescription>(description_error::no_acceptable_media);
  if (const auto ec = read_transport(s, *ref, d)) return fail<RemoteDescription>(ec);
  // RFC 8842 §5.2: an offer is actpass; a passive offerer makes us the client, as we want anyway.
  if (d.setup.empty()) d.setup = "actpass";
  if (d.setup != "actpass" && d.setup != "passive") return fail<RemoteDescription>(description_error::bad_setup);
  return {std::move(d), {}};
}

std::string build_publisher_answer(std::string_view offer_sdp, const RemoteDescription& offer, const LocalIce& local) {
  const auto parsed = sdp::parse(offer_sdp, k_limits);
  if (!parsed) return {};
  const sdp::Session& s = *parsed.session;

  // Which section answers which track: the first section with the track's mid.
  std::vector<const Track*> answer_track(s.media.size(), nullptr);
  std::vector<std::string> bundle;
  for (const Track& t : offer.tracks) {
    for (std::size_t i = 0; i < s.media.size(); ++i) {
      if (s.media[i].mid == t.mid && !answer_track[i]) {
        answer_track[i] = &t;
        break;
      }
    }
  }
  for (std::size_t i = 0; i < s.media.size(); ++i)
    if (answer_track[i]) bundle.push_back(answer_track[i]->mid);

  Writer w;
  write_session_head(w, local.address, bundle);
  for (std::size_t i = 0; i < s.media.size(); ++i) {
    const sdp::Media& m = s.media[i];
    const Track* t = answer_track[i];
    if (!t) {
      // RFC 3264 §6: a rejected stream keeps its place with port 0; RFC 9143 §7.3.3 keeps its mid
      // (and leaves it out of the group). An m= line needs one format: the offer's first.
      write_media_line(w, m.type, 0, m.proto, m.formats.empty() ? "0" : m.formats.front(), "0.0.0.0");
      if (m.mid) w.attr("mid", *m.mid);
      continue;
    }
    write_media_line(w, m.type, local.port, m.proto, std::to_string(t->pt), local.address);
    w.attr("mid", t->mid);
    w.attr("recvonly");
    write_transport(w, local, "active");  // RFC 5763 §5: active = DTLS client
    write_codec(w, *t);
    if (t->kind == "video") {
      for (const std::string_view fb : k_video_feedback)
        if (offered_feedback(m, t->pt, fb)) w.attr("rtcp-fb", std::to_string(t->pt) + " " + std::string(fb));
      write_remb(w, *t);
    }
    write_candidate(w, local);
  }
  return w.take();
}

std::string build_subscriber_offer(const std::vector<Track>& tracks, const LocalIce& local, std::string_view stream_label) {
  const std::string label = clean_token(stream_label);
  std::vector<std::string> mids;
  for (std::size_t i = 0; i < tracks.size(); ++i) mids.push_back(std::to_string(i));

  Writer w;
  write_session_head(w, local.address, mids);
  // RFC 8830 §2 predecessor: Chrome before Unified Plan looked for the stream here.
  w.attr("msid-semantic", " WMS " + label);
  for (std::size_t i = 0; i < tracks.size(); ++i) {
    const Track& t = tracks[i];
    const std::string kind = clean_token(t.kind);
    const std::string msid = label + " " + kind + "-" + label;
    write_media_line(w, kind, local.port, "UDP/TLS/RTP/SAVPF", std::to_string(t.pt), local.address);
    w.attr("mid", mids[i]);
    w.attr("sendonly");
    // Our actpass becomes passive in OpenTok.js (OPENTOK-CLIENT.md §6.1 step 3): we end up server.
    write_transport(w, local, "actpass");
    write_codec(w, t);
    if (kind == "video") {
      for (const std::string_view fb : k_video_feedback) w.attr("rtcp-fb", std::to_string(t.pt) + " " + std::string(fb));
      write_remb(w, t);
    }
    w.attr("msid", msid);
    // RFC 5576 §4.1 source attributes: the browser maps the forwarded SSRC to this track.
    const std::string cname = t.cname.empty() ? std::string(k_default_cname) : clean_token(t.cname);
    for (const std::uint32_t ssrc : t.ssrcs) {
      w.attr("ssrc", std::to_string(ssrc) + " cname:" + cname);
      w.attr("ssrc", std::to_string(ssrc) + " msid:" + msid);
    }
    write_candidate(w, local);
  }
  return w.take();
}

Result<RemoteDescription> parse_subscriber_answer(std::string_view text) {
  auto parsed = sdp::parse(text, k_limits);
  if (!parsed) return fail<RemoteDescription>(parsed.error);
  const sdp::Session& s = *parsed.session;

  RemoteDescription d;
  std::optional<std::size_t> ref;
  for (std::size_t i = 0; i < s.media.size(); ++i) {
    const sdp::Media& m = s.media[i];
    d.mids.push_back(m.mid.value_or(""));
    if (!is_live(m)) continue;  // RFC 3264 §6: port 0 rejects the stream
    Track t;
    t.mid = m.mid.value_or("");
    t.kind = m.type;
    if (const auto pt = m.formats.empty() ? std::nullopt : sdp::payload_type(m.formats.front())) {
      t.pt = *pt;
      if (const auto r = sdp::find_rtpmap(m, *pt)) {
        t.codec = r->encoding;
        t.clock_rate = r->clock_rate;
        t.channels = r->channels;
      }
      if (const auto* f = sdp::find_fmtp(m, *pt)) t.fmtp = f->params;
    }
    read_ssrcs(m, t);
    if (!ref) ref = i;
    d.tracks.push_back(std::move(t));
  }
  if (!ref) return fail<RemoteDescription>(description_error::no_acceptable_media);
  if (const auto ec = read_transport(s, *ref, d)) return fail<RemoteDescription>(ec);
  // RFC 4145 §4: no a=setup means active. RFC 5763 §5: an answer must not be actpass.
  if (d.setup.empty()) d.setup = "active";
  if (d.setup != "active" && d.setup != "passive") return fail<RemoteDescription>(description_error::bad_setup);
  return {std::move(d), {}};
}

}  // namespace sb::webrtc
