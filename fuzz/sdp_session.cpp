// libFuzzer target for src/sdp/sdp.{hpp,cpp} and src/sdp/negotiation.{hpp,cpp}.
//
// Each input is parsed as an SDP body. Whatever parses is serialised and parsed again: the
// reparse must succeed, say the same thing, and serialise to the same bytes (stable output).
// Then the body is used as the far end's answer to our plain, SDES and DTLS offers and as the
// far end's (re-)offer, with and without a call in progress; every answer we write must parse
// back to the Session we built, and a secure offer must never be negotiated in the clear.
// Any broken invariant aborts, so libFuzzer reports it.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/sdp_session.cpp \
//       src/sdp/sdp.cpp src/sdp/negotiation.cpp src/base/encoding.cpp -o /tmp/fuzz_sdp_session
//   /tmp/fuzz_sdp_session fuzz/corpus/sdp_session
#include "fuzz_support.hpp"
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "sdp/negotiation.hpp"
#include "sdp/sdp.hpp"

namespace {

using namespace sb::sdp;

using sb::fuzz::require;

LocalMedia make_local(Keying k) {
  LocalMedia l;
  l.address = "192.0.2.1";
  l.rtp_port = 20000;
  l.keying = k;
  l.session_id = 1;
  l.session_version = 2;
  if (k == Keying::sdes)
    l.sdes_offers = {make_crypto(1, "AES_CM_128_HMAC_SHA1_80", std::string(30, '\x01')),
                     make_crypto(2, "AES_CM_128_HMAC_SHA1_32", std::string(30, '\x02')),
                     make_crypto(3, "AEAD_AES_128_GCM", std::string(28, '\x03')),
                     make_crypto(4, "AEAD_AES_256_GCM", std::string(44, '\x04'))};
  if (k == Keying::dtls)
    l.dtls_fingerprint_sha256 =
        "2D:71:16:42:B7:26:B0:44:01:62:7C:A9:FB:AC:32:F5:C8:53:0F:B1:90:3C:C4:DB:02:25:87:17:92:1A:48:81";
  return l;
}

const std::vector<LocalMedia>& locals() {
  static const std::vector<LocalMedia> l = [] {
    std::vector<LocalMedia> v{make_local(Keying::none), make_local(Keying::sdes),
                              make_local(Keying::dtls)};
    // A narrower one: PCMA only, no DTMF, no rtcp-mux, recvonly.
    LocalMedia n = make_local(Keying::none);
    n.codecs = {Codec::pcma};
    n.telephone_event = false;
    n.rtcp_mux_offer = false;
    n.direction = Direction::recvonly;
    v.push_back(n);
    return v;
  }();
  return l;
}

// p2 must say what p1 said. The one allowed difference: fmtps are regrouped under their
// rtpmaps, so they compare as a multiset.
void check_same(Session a, Session b) {
  require(a.media.size() == b.media.size(), "round trip media count");
  for (std::size_t i = 0; i < a.media.size(); ++i) {
    auto key = [](const Fmtp& f) { return std::tie(f.pt, f.params); };
    auto less = [&](const Fmtp& x, const Fmtp& y) { return key(x) < key(y); };
    std::stable_sort(a.media[i].fmtps.begin(), a.media[i].fmtps.end(), less);
    std::stable_sort(b.media[i].fmtps.begin(), b.media[i].fmtps.end(), less);
  }
  require(a == b, "round trip says the same thing");
}

void check_negotiated(const LocalMedia& l, const Negotiated& n) {
  // Secure media requested: never negotiated in the clear (INTEROP.md, baresip note).
  require(n.keying == l.keying, "negotiated keying is the offered keying");
  if (n.keying == Keying::sdes) {
    require(n.remote_crypto && n.local_crypto, "SDES has both keys");
    require(decode_inline_key(*n.remote_crypto).has_value(), "remote SDES key decodes");
    require(n.remote_crypto->tag == n.crypto_tag && n.local_crypto->tag == n.crypto_tag, "SDES tags");
  }
  if (n.keying == Keying::dtls) require(n.remote_fingerprint.has_value(), "DTLS has a fingerprint");
  require(n.payload_type >= 0 && n.payload_type <= 127, "payload type range");
  // On hold the far end does not take our media: we must not send.
  if (n.on_hold) require(!sends(n.local_direction), "no sending while on hold");
}

void check_answer(const LocalMedia& l, const Session& offer, const Negotiated* current) {
  const auto r = answer_offer(l, offer, current);
  if (!r) {
    require(static_cast<bool>(r.error), "failure carries an error");
    return;
  }
  require(r->session.media.size() == offer.media.size(), "one answer m-line per offered m-line");
  Limits relaxed;
  relaxed.max_size = 1 << 20;
  relaxed.max_attributes = 1024;
  const auto back = parse(r->sdp, relaxed);
  require(back.session.has_value(), "our answer parses");
  require(*back.session == r->session, "our answer parses to what we built");
  require(serialize(*back.session) == r->sdp, "our answer is stable");
  if (r->negotiated.remote_rtp_port != 0) check_negotiated(l, r->negotiated);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ParseResult p1 = parse(text);
  require(p1.session.has_value() != static_cast<bool>(p1.error), "ok xor error");
  if (!p1) return 0;
  const Session& s1 = *p1.session;

  // Round trip. Serialising adds CRs, "t=0 0", "s= " and explicit directions, so the reparse
  // gets room beyond the default size; it removes duplicate a=rtcp-mux lines.
  const std::string w1 = serialize(s1);
  Limits relaxed;
  relaxed.max_size = 4 * size + 4096;
  relaxed.max_attributes = 2 * Limits{}.max_attributes + 2;
  const ParseResult p2 = parse(w1, relaxed);
  require(p2.session.has_value(), "serialised SDP parses");
  check_same(s1, *p2.session);
  require(serialize(*p2.session) == w1, "serialisation is stable");

  // The body as the far end's answer to each of our offers, then as its re-offer.
  for (const LocalMedia& l : locals()) {
    const auto a = apply_answer(l, s1);
    if (a) check_negotiated(l, *a);
    check_answer(l, s1, nullptr);
    if (a) check_answer(l, s1, &*a);
  }
  return 0;
}
