// SDP offer/answer for the SIP audio leg, RFC 3264. See negotiation.hpp.
#include "sdp/negotiation.hpp"

#include "base/text.hpp"

#include <array>
#include <stdexcept>

namespace sb::sdp {

// ---------------------------------------------------------------------------------------------
// Errors

namespace {

class NegotiationCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sdp.negotiation"; }
  std::string message(int ev) const override {
    switch (static_cast<negotiation_error>(ev)) {
      case negotiation_error::no_audio: return "SDP has no audio stream";
      case negotiation_error::rejected: return "audio stream rejected (port 0)";
      case negotiation_error::no_common_codec: return "no common audio codec";
      case negotiation_error::proto_mismatch: return "media transport profile does not match the offer";
      case negotiation_error::insecure_answer: return "secure media requested but the answer is not encrypted";
      case negotiation_error::crypto_mismatch: return "no acceptable SDES crypto attribute";
      case negotiation_error::dtls_mismatch: return "unusable DTLS setup or fingerprint";
      case negotiation_error::keying_changed: return "re-offer changes the SRTP keying";
      case negotiation_error::no_address: return "audio stream has no connection address";
    }
    return "unknown sdp.negotiation error";
  }
};

template <class T>
Result<T> fail(negotiation_error e) {
  Result<T> r;
  r.error = e;
  return r;
}

} // namespace

const std::error_category& negotiation_category() noexcept {
  static const NegotiationCategory category;
  return category;
}

std::error_code make_error_code(negotiation_error e) noexcept {
  return {static_cast<int>(e), negotiation_category()};
}

// ---------------------------------------------------------------------------------------------
// Codecs

namespace {

struct CodecInfo {
  Codec codec;
  std::string_view encoding; ///< rtpmap encoding name
  std::uint32_t clock_rate;  ///< RTP clock in SDP
  std::uint32_t channels;    ///< rtpmap channels we write
  int offer_pt;              ///< our payload number
  std::string_view fmtp;     ///< our fmtp, or empty
};

// RFC 7587 §7: opus is always "opus/48000/2" in SDP, whatever is actually encoded.
// RFC 3551 §4.5.2: G722/8000 (see sdp.hpp static_rtpmap).
constexpr std::array<CodecInfo, 4> k_codecs{{
    {Codec::opus, "opus", 48000, 2, k_opus_pt, k_opus_fmtp},
    {Codec::g722, "G722", 8000, 1, 9, {}},
    {Codec::pcmu, "PCMU", 8000, 1, 0, {}},
    {Codec::pcma, "PCMA", 8000, 1, 8, {}},
}};

const CodecInfo& info(Codec c) noexcept { return k_codecs[static_cast<std::size_t>(c)]; }

bool offers(const std::vector<Codec>& list, Codec c) noexcept {
  for (Codec x : list)
    if (x == c) return true;
  return false;
}

// Which of our codecs an rtpmap names (RFC 4855 §3: names are case-insensitive). Opus with a
// channel count other than 2 is still Opus (RFC 7587 §7 says 2, some stacks write 1 or none).
std::optional<Codec> codec_of(const Rtpmap& r) noexcept {
  for (const auto& ci : k_codecs)
    if (ascii_iequals(r.encoding, ci.encoding) && r.clock_rate == ci.clock_rate) return ci.codec;
  return std::nullopt;
}

bool is_telephone_event(const Rtpmap& r) noexcept { return ascii_iequals(r.encoding, "telephone-event"); }

} // namespace

std::string_view to_string(Codec c) noexcept { return info(c).encoding; }

std::string_view to_string(Keying k) noexcept {
  switch (k) {
    case Keying::none: return "none";
    case Keying::sdes: return "sdes";
    case Keying::dtls: return "dtls";
  }
  return "none";
}

std::uint32_t sample_rate(Codec c) noexcept {
  switch (c) {
    case Codec::opus: return 48000;
    case Codec::g722: return 16000; // RFC 3551 §4.5.2: 16 kHz audio, 8000 RTP clock
    case Codec::pcmu:
    case Codec::pcma: return 8000;
  }
  return 8000;
}

std::uint32_t rtp_clock_rate(Codec c) noexcept { return info(c).clock_rate; }

// ---------------------------------------------------------------------------------------------
// Shared checks

namespace {

/// Transport profile families (RFC 3551 AVP, RFC 3711 SAVP, RFC 4585/5124 the F variants,
/// RFC 5764 §8 UDP/TLS/RTP/SAVP[F]). The feedback variants are accepted in place of the plain
/// ones: AVPF endpoints interwork with AVP ones (RFC 4585 §3.2) and baresip answers SAVPF.
enum class Family { plain, sdes, dtls, other };

Family family_of(std::string_view proto) noexcept {
  if (proto == "RTP/AVP" || proto == "RTP/AVPF") return Family::plain;
  if (proto == "RTP/SAVP" || proto == "RTP/SAVPF") return Family::sdes;
  if (proto == "UDP/TLS/RTP/SAVP" || proto == "UDP/TLS/RTP/SAVPF") return Family::dtls;
  return Family::other;
}

Family family_of(Keying k) noexcept {
  switch (k) {
    case Keying::none: return Family::plain;
    case Keying::sdes: return Family::sdes;
    case Keying::dtls: return Family::dtls;
  }
  return Family::other;
}

std::string_view offer_proto(Keying k) noexcept {
  switch (k) {
    case Keying::none: return "RTP/AVP";
    case Keying::sdes: return "RTP/SAVP";
    case Keying::dtls: return "UDP/TLS/RTP/SAVP";
  }
  return "RTP/AVP";
}

const Media* first_audio(const Session& s) noexcept {
  for (const auto& m : s.media)
    if (ascii_iequals(m.type, "audio")) return &m;
  return nullptr;
}

/// How a crypto attribute's session parameters (RFC 4568 §6.3) sit with us.
enum class SessionParams { ok, insecure, unsupported };

SessionParams check_session_params(std::string_view params) noexcept {
  std::size_t b = 0;
  while (b < params.size()) {
    std::size_t e = params.find(' ', b);
    if (e == std::string_view::npos) e = params.size();
    const std::string_view p = params.substr(b, e - b);
    b = e + 1;
    if (p.empty()) continue;
    // RFC 4568 §6.3.5-6.3.7: switch encryption or authentication off — never "secure".
    if (p == "UNENCRYPTED_SRTP" || p == "UNENCRYPTED_SRTCP" || p == "UNAUTHENTICATED_SRTP")
      return SessionParams::insecure;
    // RFC 4568 §6.3.8 WSH (replay window size hint) is only a hint. KDR (§6.3.1) and FEC_ORDER/
    // FEC_KEY (§6.3.3-6.3.4) change how packets are processed; libsrtp supports none of them.
    if (p.substr(0, 4) != "WSH=") return SessionParams::unsupported;
  }
  return SessionParams::ok;
}

/// Bytes in a fingerprint of this hash (RFC 8122 §5 allows the SHA family; MD2/MD5 are
/// withdrawn by RFC 8122 §5).
std::optional<std::size_t> fingerprint_bytes(std::string_view hash) noexcept {
  if (ascii_iequals(hash, "sha-1")) return 20;
  if (ascii_iequals(hash, "sha-224")) return 28;
  if (ascii_iequals(hash, "sha-256")) return 32;
  if (ascii_iequals(hash, "sha-384")) return 48;
  if (ascii_iequals(hash, "sha-512")) return 64;
  return std::nullopt;
}

bool usable_fingerprint(const Fingerprint& f) noexcept {
  const auto n = fingerprint_bytes(f.hash_func);
  // 2HEX *(":" 2HEX) (RFC 8122 §5): n bytes in 3n - 1 characters.
  if (!n || f.value.size() != 3 * *n - 1) return false;
  for (std::size_t i = 0; i < f.value.size(); ++i) {
    const char c = f.value[i];
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (i % 3 == 2 ? c != ':' : !hex) return false;
  }
  return true;
}

/// Where the stream goes and how RTCP travels, shared by answers and offers from the far end.
std::optional<negotiation_error> fill_transport(const Session& s, const Media& m,
                                                bool we_support_mux, Negotiated& n) {
  const Connection* c = effective_connection(s, m);
  if (!c || connection_host(*c).empty()) return negotiation_error::no_address;
  n.remote_address = std::string(connection_host(*c));
  n.remote_rtp_port = m.port;
  // RFC 5761 §5.1.1: multiplexing only when both sides said a=rtcp-mux.
  n.rtcp_mux = we_support_mux && m.rtcp_mux;
  n.remote_rtcp_address = n.remote_address;
  if (n.rtcp_mux) {
    n.remote_rtcp_port = m.port;
  } else if (m.rtcp) {
    // RFC 3605 §2.1: an explicit RTCP port, optionally on another address.
    n.remote_rtcp_port = m.rtcp->port;
    if (m.rtcp->connection) n.remote_rtcp_address = std::string(connection_host(*m.rtcp->connection));
  } else {
    // RFC 3550 §11: RTCP on the next higher port. 65535 has no next port: 0 (none).
    n.remote_rtcp_port = m.port == 65535 ? 0 : static_cast<std::uint16_t>(m.port + 1);
  }
  return std::nullopt;
}

/// The telephone-event format to use with `codec_clock`: the one at the codec's clock first
/// (RFC 4733 §2.1: events use the audio's timestamp clock), else one at 8000. `accept` says
/// which clock rates we can number (in offers we made, or any in offers we answer).
struct TeChoice {
  int pt;
  std::uint32_t clock_rate;
};
std::optional<TeChoice> pick_telephone_event(const Media& m, std::uint32_t codec_clock,
                                             bool accept_48k) {
  std::optional<TeChoice> fallback;
  for (const auto& f : m.formats) {
    const auto pt = payload_type(f);
    if (!pt) continue;
    const auto r = find_rtpmap(m, *pt);
    if (!r || !is_telephone_event(*r)) continue;
    if (r->clock_rate != 8000 && !(accept_48k && r->clock_rate == 48000)) continue;
    if (r->clock_rate == codec_clock) return TeChoice{*pt, r->clock_rate};
    if (!fallback && r->clock_rate == 8000) fallback = TeChoice{*pt, r->clock_rate};
  }
  return fallback;
}

void validate(const LocalMedia& local) {
  if (local.address.empty()) throw std::invalid_argument("sdp: LocalMedia has no address");
  if (local.codecs.empty()) throw std::invalid_argument("sdp: LocalMedia has no codec");
  if (local.keying == Keying::dtls && !usable_fingerprint({"sha-256", local.dtls_fingerprint_sha256}))
    throw std::invalid_argument("sdp: DTLS keying without a SHA-256 fingerprint");
  if (local.keying == Keying::sdes) {
    if (local.sdes_offers.empty()) throw std::invalid_argument("sdp: SDES keying without keys");
    for (const auto& c : local.sdes_offers)
      if (!decode_inline_key(c)) throw std::invalid_argument("sdp: unusable SDES key " + c.suite);
  }
}

Connection local_connection(const LocalMedia& local) {
  // RFC 4566 §5.7: IP6 addresses are written without brackets; any ':' means IPv6.
  const bool v6 = local.address.find(':') != std::string::npos;
  return Connection{v6 ? "IP6" : "IP4", local.address};
}

Session local_session_skeleton(const LocalMedia& local) {
  Session s;
  const Connection c = local_connection(local);
  s.origin = Origin{"-", std::to_string(local.session_id), local.session_version, "IN", c.addrtype,
                    local.address};
  s.name = "-";
  s.connection = c;
  s.times = {"0 0"}; // RFC 3264 §5
  return s;
}

void add_format(Media& m, int pt, std::string_view encoding, std::uint32_t clock,
                std::uint32_t channels, std::string_view fmtp) {
  m.formats.push_back(std::to_string(pt));
  m.rtpmaps.push_back(Rtpmap{pt, std::string(encoding), clock, channels});
  if (!fmtp.empty()) m.fmtps.push_back(Fmtp{pt, std::string(fmtp)});
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Our offer

Session offer_session(const LocalMedia& local) {
  validate(local);
  Session s = local_session_skeleton(local);
  Media m;
  m.type = "audio";
  m.port = local.rtp_port;
  m.proto = std::string(offer_proto(local.keying));
  bool seen[k_codecs.size()] = {};
  for (Codec c : local.codecs) {
    auto& done = seen[static_cast<std::size_t>(c)];
    if (done) continue;
    done = true;
    const auto& ci = info(c);
    add_format(m, ci.offer_pt, ci.encoding, ci.clock_rate, ci.channels, ci.fmtp);
  }
  if (local.telephone_event) {
    // RFC 4733 §2.1: the event clock should match the audio codec's; Opus runs at 48000.
    if (offers(local.codecs, Codec::opus))
      add_format(m, k_telephone_event_48k_pt, "telephone-event", 48000, 1, k_telephone_event_fmtp);
    add_format(m, k_telephone_event_pt, "telephone-event", 8000, 1, k_telephone_event_fmtp);
  }
  m.direction = local.direction;
  m.rtcp_mux = local.rtcp_mux_offer; // RFC 5761 §5.1.1
  m.ptime = local.ptime;
  if (local.keying == Keying::sdes) {
    m.cryptos = local.sdes_offers; // RFC 4568 §7.1.1: one line per key we offer, tags as given
  } else if (local.keying == Keying::dtls) {
    // RFC 5763 §5: the offerer uses setup:actpass and offers its certificate fingerprint.
    m.fingerprint = Fingerprint{"sha-256", local.dtls_fingerprint_sha256};
    m.setup = Setup::actpass;
  }
  s.media.push_back(std::move(m));
  return s;
}

std::string build_offer(const LocalMedia& local) { return serialize(offer_session(local)); }

// ---------------------------------------------------------------------------------------------
// The far end's answer

Result<Negotiated> apply_answer(const LocalMedia& offer, const Session& answer) {
  using R = Result<Negotiated>;
  const Media* m = first_audio(answer);
  if (!m) return fail<Negotiated>(negotiation_error::no_audio);
  // RFC 3264 §6: port 0 in the answer rejects the stream — our only one.
  if (m->port == 0) return fail<Negotiated>(negotiation_error::rejected);

  // The answer's transport profile must be the one we offered (RFC 3264 §6). A secure offer
  // answered with RTP/AVP is the "in the clear" case: never a fallback (INTEROP.md).
  const Family fam = family_of(m->proto);
  if (offer.keying != Keying::none && fam == Family::plain)
    return fail<Negotiated>(negotiation_error::insecure_answer);
  if (fam != family_of(offer.keying)) return fail<Negotiated>(negotiation_error::proto_mismatch);

  Negotiated n;
  n.keying = offer.keying;

  // Codec: the first format of the answer that we offered (RFC 3264 §6.1: the answer lists the
  // formats in the answerer's preference order), numbered as the answer numbers it (§5.1: we
  // send with the numbers the answerer will receive).
  bool found = false;
  for (const auto& f : m->formats) {
    const auto pt = payload_type(f);
    if (!pt) continue;
    const auto r = find_rtpmap(*m, *pt);
    if (!r) continue;
    const auto c = codec_of(*r);
    if (!c || !offers(offer.codecs, *c)) continue;
    n.codec = *c;
    n.payload_type = *pt;
    n.local_payload_type = info(*c).offer_pt;
    n.clock_rate = r->clock_rate;
    n.channels = r->channels;
    found = true;
    break;
  }
  if (!found) return fail<Negotiated>(negotiation_error::no_common_codec);

  if (offer.telephone_event) {
    const bool offered_48k = offers(offer.codecs, Codec::opus);
    if (const auto te = pick_telephone_event(*m, n.clock_rate, offered_48k)) {
      n.telephone_event_pt = te->pt;
      n.telephone_event_clock_rate = te->clock_rate;
      n.local_telephone_event_pt = te->clock_rate == 48000 ? k_telephone_event_48k_pt
                                                           : k_telephone_event_pt;
    }
  }

  if (const auto e = fill_transport(answer, *m, offer.rtcp_mux_offer, n)) return fail<Negotiated>(*e);

  // Directions (RFC 3264 §6.1 seen from the offerer): we send only if we offered to send and
  // the answerer receives, and receive only if we offered to and the answerer sends. Nothing
  // can be sent to the RFC 2543 hold address.
  const Connection* c = effective_connection(answer, *m);
  const bool null_addr = c && is_null_address(*c);
  n.remote_direction = m->direction;
  n.local_direction = make_direction(sends(offer.direction) && receives(m->direction) && !null_addr,
                                     receives(offer.direction) && sends(m->direction));
  n.on_hold = !receives(m->direction) || null_addr;
  n.ptime = m->ptime.value_or(offer.ptime);

  if (offer.keying == Keying::sdes) {
    // RFC 4568 §7.1.2-7.1.3: the answer holds one crypto line, for a tag we offered, with the
    // suite of that tag, and the answerer's own key.
    if (m->cryptos.empty()) return fail<Negotiated>(negotiation_error::insecure_answer);
    const Crypto* theirs = nullptr;
    const Crypto* ours = nullptr;
    for (const auto& a : m->cryptos) {
      for (const auto& o : offer.sdes_offers)
        if (o.tag == a.tag) {
          theirs = &a;
          ours = &o;
          break;
        }
      if (theirs) break;
    }
    if (!theirs || !ascii_iequals(theirs->suite, ours->suite))
      return fail<Negotiated>(negotiation_error::crypto_mismatch);
    switch (check_session_params(theirs->session_params)) {
      case SessionParams::ok: break;
      case SessionParams::insecure: return fail<Negotiated>(negotiation_error::insecure_answer);
      case SessionParams::unsupported: return fail<Negotiated>(negotiation_error::crypto_mismatch);
    }
    if (!decode_inline_key(*theirs)) return fail<Negotiated>(negotiation_error::crypto_mismatch);
    n.remote_crypto = *theirs;
    n.local_crypto = *ours;
    n.crypto_tag = theirs->tag;
  } else if (offer.keying == Keying::dtls) {
    const Fingerprint* fp = effective_fingerprint(answer, *m);
    if (!fp) return fail<Negotiated>(negotiation_error::insecure_answer);
    if (!usable_fingerprint(*fp)) return fail<Negotiated>(negotiation_error::dtls_mismatch);
    // RFC 4145 §4.1: an answer without a=setup means passive. RFC 5763 §5: the answerer is
    // active or passive; actpass in an answer is tolerated as passive (we then connect, which
    // an endpoint willing to do either accepts). holdconn opens nothing: unusable.
    const Setup setup = effective_setup(answer, *m).value_or(Setup::passive);
    if (setup == Setup::holdconn) return fail<Negotiated>(negotiation_error::dtls_mismatch);
    n.remote_fingerprint = *fp;
    n.remote_setup = setup;
    n.dtls_active = setup != Setup::active;
  }
  R r;
  r.value = std::move(n);
  return r;
}

// ---------------------------------------------------------------------------------------------
// The far end's (re-)offer

Result<Answer> answer_offer(const LocalMedia& local, const Session& offer, const Negotiated* current,
                            std::span<const Crypto> sdes_keys) {
  validate(local);
  // RFC 3264 §6: one answer m-line per offered m-line, same order. We accept the first audio
  // stream and refuse every other one with port 0.
  const Media* audio = first_audio(offer);
  if (!audio) return fail<Answer>(negotiation_error::no_audio);

  Answer ans;
  ans.session = local_session_skeleton(local);
  Negotiated& n = ans.negotiated;
  Media out;
  out.type = audio->type;
  out.proto = audio->proto;

  const Keying keying = current ? current->keying : local.keying;

  if (audio->port == 0) {
    // A disabled stream (RFC 3264 §8.2) inside a call: the far end holds the call. Nothing to
    // negotiate; the answer disables the stream too (§6: port 0, the offered formats kept).
    if (!current) return fail<Answer>(negotiation_error::rejected);
    n = *current;
    n.remote_rtp_port = 0;
    n.remote_rtcp_port = 0;
    n.remote_direction = audio->direction;
    n.local_direction = Direction::inactive;
    n.on_hold = true;
    out.port = 0;
    out.formats = audio->formats;
    out.direction = Direction::inactive;
  } else {
    // Keying stays what the call started with: a re-offer that drops SRTP (or switches between
    // SDES and DTLS) is refused rather than followed.
    const Family fam = family_of(audio->proto);
    if (fam == Family::other) return fail<Answer>(negotiation_error::proto_mismatch);
    if (fam != family_of(keying)) return fail<Answer>(negotiation_error::keying_changed);
    n.keying = keying;

    // Codec: the current one if it is still offered, else the first offered one we support
    // (the offer lists formats in preference order, RFC 3264 §5.1).
    struct Pick {
      Codec codec;
      int pt;
      Rtpmap map;
    };
    std::optional<Pick> first, kept;
    for (const auto& f : audio->formats) {
      const auto pt = payload_type(f);
      if (!pt) continue;
      auto r = find_rtpmap(*audio, *pt);
      if (!r) continue;
      const auto c = codec_of(*r);
      if (!c || !offers(local.codecs, *c)) continue;
      if (!first) first = Pick{*c, *pt, *r};
      if (current && *c == current->codec && !kept) kept = Pick{*c, *pt, *r};
    }
    if (!first) return fail<Answer>(negotiation_error::no_common_codec);
    const Pick& pick = kept ? *kept : *first;
    n.codec = pick.codec;
    // RFC 3264 §6.1: the answer uses the offer's numbers, so both directions share them.
    n.payload_type = pick.pt;
    n.local_payload_type = pick.pt;
    n.clock_rate = pick.map.clock_rate;
    n.channels = pick.map.channels;
    // Our rtpmap repeats the offer's encoding text (case and channels as the far end wrote).
    add_format(out, pick.pt, pick.map.encoding, pick.map.clock_rate, pick.map.channels,
               info(pick.codec).fmtp);

    if (local.telephone_event) {
      if (const auto te = pick_telephone_event(*audio, n.clock_rate, true)) {
        n.telephone_event_pt = te->pt;
        n.local_telephone_event_pt = te->pt;
        n.telephone_event_clock_rate = te->clock_rate;
        // RFC 4733 §7.1.1: the answer lists the events it will receive, within the offered ones.
        const Fmtp* f = find_fmtp(*audio, te->pt);
        add_format(out, te->pt, "telephone-event", te->clock_rate, 1,
                   f && !f->params.empty() ? std::string_view(f->params) : k_telephone_event_fmtp);
      }
    }

    if (const auto e = fill_transport(offer, *audio, local.rtcp_mux_offer, n))
      return fail<Answer>(*e);

    // RFC 3264 §6.1: sendonly → recvonly, recvonly → sendonly, inactive → inactive, within what
    // we want to do. c=0.0.0.0 (RFC 2543 hold, RFC 3264 §8.4) means "do not send to me".
    const Connection* c = effective_connection(offer, *audio);
    const bool null_addr = c && is_null_address(*c);
    n.remote_direction = audio->direction;
    n.local_direction = make_direction(receives(audio->direction) && sends(local.direction) && !null_addr,
                                       sends(audio->direction) && receives(local.direction));
    n.on_hold = !receives(audio->direction) || null_addr;
    n.ptime = audio->ptime.value_or(local.ptime);

    out.port = local.rtp_port;
    out.direction = n.local_direction;
    out.rtcp_mux = n.rtcp_mux;
    out.ptime = local.ptime;

    if (keying == Keying::sdes) {
      // RFC 4568 §7.1.2: choose one offered crypto line, answer it with the same tag and suite
      // and our own key. The call's current suite is preferred so a plain hold/resume does not
      // change ciphers.
      std::span<const Crypto> keys = sdes_keys.empty() ? std::span<const Crypto>(local.sdes_offers)
                                                       : sdes_keys;
      const Crypto* chosen = nullptr;
      const Crypto* mine = nullptr;
      bool insecure_only = !audio->cryptos.empty();
      for (int pass = 0; pass < 2 && !chosen; ++pass) {
        if (pass == 0 && !(current && current->keying == Keying::sdes && current->local_crypto))
          continue;
        for (const auto& o : audio->cryptos) {
          const SessionParams sp = check_session_params(o.session_params);
          if (sp != SessionParams::insecure) insecure_only = false;
          if (sp != SessionParams::ok || !decode_inline_key(o)) continue;
          if (pass == 0 && !ascii_iequals(o.suite, current->local_crypto->suite)) continue;
          for (const auto& k : keys)
            if (ascii_iequals(k.suite, o.suite)) {
              mine = &k;
              break;
            }
          if (mine) {
            chosen = &o;
            break;
          }
        }
      }
      if (audio->cryptos.empty() || insecure_only)
        return fail<Answer>(negotiation_error::insecure_answer);
      if (!chosen) return fail<Answer>(negotiation_error::crypto_mismatch);
      Crypto reply{chosen->tag, chosen->suite, mine->key_params, {}};
      out.cryptos.push_back(reply);
      n.remote_crypto = *chosen;
      n.local_crypto = std::move(reply);
      n.crypto_tag = chosen->tag;
    } else if (keying == Keying::dtls) {
      const Fingerprint* fp = effective_fingerprint(offer, *audio);
      if (!fp) return fail<Answer>(negotiation_error::insecure_answer);
      if (!usable_fingerprint(*fp)) return fail<Answer>(negotiation_error::dtls_mismatch);
      // RFC 4145 §4.1: no a=setup in an offer means active.
      const Setup theirs = effective_setup(offer, *audio).value_or(Setup::active);
      bool we_active = false;
      switch (theirs) {
        case Setup::actpass: {
          // RFC 5763 §5: setup:active is RECOMMENDED for the answerer. Inside a call whose
          // association stays (same fingerprint), keep the role we have (RFC 8842 §5).
          const bool same = current && current->keying == Keying::dtls && current->remote_fingerprint &&
                            ascii_iequals(current->remote_fingerprint->hash_func, fp->hash_func) &&
                            ascii_iequals(current->remote_fingerprint->value, fp->value);
          we_active = same ? current->dtls_active : true;
          break;
        }
        case Setup::active: we_active = false; break;
        case Setup::passive: we_active = true; break;
        case Setup::holdconn: return fail<Answer>(negotiation_error::dtls_mismatch);
      }
      n.remote_fingerprint = *fp;
      n.remote_setup = theirs;
      n.dtls_active = we_active;
      out.fingerprint = Fingerprint{"sha-256", local.dtls_fingerprint_sha256};
      out.setup = we_active ? Setup::active : Setup::passive;
    }
  }

  // Every m-line of the offer, in order: ours for the audio stream, port 0 for the rest.
  for (const auto& m : offer.media) {
    if (&m == audio) {
      ans.session.media.push_back(out);
      continue;
    }
    Media rej;
    rej.type = m.type;
    rej.port = 0;
    rej.proto = m.proto;
    rej.formats = m.formats; // RFC 3264 §6: at least one format, even when rejected
    rej.direction = Direction::inactive;
    ans.session.media.push_back(std::move(rej));
  }
  ans.sdp = serialize(ans.session);
  Result<Answer> r;
  r.value = std::move(ans);
  return r;
}

} // namespace sb::sdp
