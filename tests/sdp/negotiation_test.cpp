// RFC 3264 offer/answer for the SIP audio leg: tests for src/sdp/negotiation.{hpp,cpp}.
//
// The negotiation table: our offer (plain, SDES, DTLS) × the far end's answer → chosen codec,
// payload numbers, crypto, DTLS role, direction, hold; then the far end's re-offers inside a call
// (hold, resume, codec change, keying change, extra m-lines) → our answer and its meaning.
#include <doctest/doctest.h>

#include <initializer_list>
#include <optional>
#include <ostream> // doctest prints std::error_code
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "sdp/negotiation.hpp"
#include "sdp/sdp.hpp"

using namespace sb::sdp;
using namespace std::literals;

namespace {

constexpr std::string_view k_fp_ours =
    "2D:71:16:42:B7:26:B0:44:01:62:7C:A9:FB:AC:32:F5:C8:53:0F:B1:90:3C:C4:DB:02:25:87:17:92:1A:48:81";
constexpr std::string_view k_fp_theirs =
    "A1:FC:E4:36:38:54:FF:88:8C:FF:4B:8E:78:75:D6:00:C2:68:23:90:41:2A:8C:F7:9B:37:D0:B1:11:48:B0:FA";
constexpr std::string_view k_fp_sha1 = "95:CB:0B:FD:29:77:C7:61:29:8D:96:24:E4:B4:D4:C7:2A:39:97:4A";

// Far-end keys (valid lengths per suite).
constexpr std::string_view k_key30a = "inline:LVAmoW7IyjWyZ9eWKiuN7iAjua0NGwVn9SEEJD6n";
constexpr std::string_view k_key30b = "inline:UlWbKCPdNZPcPKf6DRxjhey53QLRR5pqEGRdbztw";
constexpr std::string_view k_key28 = "inline:V6YnJUGSlLXfcYlSeipCg3VOnz8p+O9Dml0/Vg==";
constexpr std::string_view k_key44 = "inline:kfIb7vieAby6tnUo+NGu9fgGfUknNA3GkavlqiJ9BkJFi5a0l+m22LAsxi4=";

LocalMedia plain() {
  LocalMedia l;
  l.address = "192.0.2.1";
  l.rtp_port = 20000;
  l.keying = Keying::none;
  l.session_id = 1234;
  l.session_version = 1;
  return l;
}

LocalMedia sdes() {
  LocalMedia l = plain();
  l.keying = Keying::sdes;
  // Tags 1..4 in our preference order, one key per suite.
  l.sdes_offers = {make_crypto(1, "AES_CM_128_HMAC_SHA1_80", std::string(30, '\x01')),
                   make_crypto(2, "AES_CM_128_HMAC_SHA1_32", std::string(30, '\x02')),
                   make_crypto(3, "AEAD_AES_128_GCM", std::string(28, '\x03')),
                   make_crypto(4, "AEAD_AES_256_GCM", std::string(44, '\x04'))};
  return l;
}

LocalMedia dtls() {
  LocalMedia l = plain();
  l.keying = Keying::dtls;
  l.dtls_fingerprint_sha256 = std::string(k_fp_ours);
  return l;
}

/// An SDP from the far end: session lines with c=IN IP4 198.51.100.9, then `media` lines.
std::string far(std::initializer_list<std::string_view> media, std::string_view session_extra = {}) {
  std::string s = "v=0\r\no=- 99 7 IN IP4 198.51.100.9\r\ns=-\r\nc=IN IP4 198.51.100.9\r\nt=0 0\r\n";
  if (!session_extra.empty()) s.append(session_extra).append("\r\n");
  for (auto l : media) s.append(l).append("\r\n");
  return s;
}

Session must_parse(std::string_view text) {
  auto r = parse(text);
  INFO(text);
  INFO("error: " << r.error.message() << " at line " << r.line);
  REQUIRE(r);
  return *r.session;
}

Negotiated must_apply(const LocalMedia& l, std::string_view answer) {
  auto r = apply_answer(l, must_parse(answer));
  INFO(answer);
  INFO("error: " << r.error.message());
  REQUIRE(r);
  return *r;
}

void expect_apply_error(const LocalMedia& l, std::string_view answer, negotiation_error e) {
  const auto r = apply_answer(l, must_parse(answer));
  INFO(answer);
  CHECK_FALSE(r);
  CHECK(r.error == make_error_code(e));
}

Answer must_answer(const LocalMedia& l, std::string_view offer, const Negotiated* current,
                   std::span<const Crypto> keys = {}) {
  auto r = answer_offer(l, must_parse(offer), current, keys);
  INFO(offer);
  INFO("error: " << r.error.message());
  REQUIRE(r);
  // Whatever we answer must parse with our own parser.
  const auto back = parse(r->sdp);
  REQUIRE(back);
  CHECK(*back.session == r->session);
  return *r;
}

void expect_answer_error(const LocalMedia& l, std::string_view offer, const Negotiated* current,
                         negotiation_error e) {
  const auto r = answer_offer(l, must_parse(offer), current);
  INFO(offer);
  CHECK_FALSE(r);
  CHECK(r.error == make_error_code(e));
}

bool has_line(std::string_view sdp, std::string_view line) {
  return sdp.find("\r\n"s + std::string(line) + "\r\n") != std::string_view::npos;
}

/// A plain call in progress on PCMU, as apply_answer left it.
Negotiated established(const LocalMedia& l, std::string_view answer) { return must_apply(l, answer); }

} // namespace

// ---------------------------------------------------------------------------------------------
// Our offer

TEST_CASE("plain offer: Opus, G.722, PCMU, PCMA, telephone-event on RTP/AVP") {
  CHECK(build_offer(plain()) ==
        "v=0\r\n"
        "o=- 1234 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 20000 RTP/AVP 111 9 0 8 110 101\r\n"
        "a=sendrecv\r\n"
        "a=rtcp-mux\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
        "a=rtpmap:9 G722/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:110 telephone-event/48000\r\n"
        "a=fmtp:110 0-16\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=ptime:20\r\n");
}

TEST_CASE("SDES offer: RTP/SAVP with one a=crypto per suite, tags as given") {
  const std::string o = build_offer(sdes());
  const Session s = must_parse(o);
  const Media& m = s.media.at(0);
  CHECK(m.proto == "RTP/SAVP");
  REQUIRE(m.cryptos.size() == 4);
  CHECK(m.cryptos[0].tag == 1);
  CHECK(m.cryptos[0].suite == "AES_CM_128_HMAC_SHA1_80");
  CHECK(m.cryptos[1].suite == "AES_CM_128_HMAC_SHA1_32");
  CHECK(m.cryptos[2].suite == "AEAD_AES_128_GCM");
  CHECK(m.cryptos[3].suite == "AEAD_AES_256_GCM");
  for (const auto& c : m.cryptos) CHECK(decode_inline_key(c));
  CHECK_FALSE(m.fingerprint);
}

TEST_CASE("DTLS offer: UDP/TLS/RTP/SAVP, a=fingerprint:sha-256, a=setup:actpass") {
  const std::string o = build_offer(dtls());
  CHECK(o.find("m=audio 20000 UDP/TLS/RTP/SAVP 111 9 0 8 110 101\r\n") != std::string::npos);
  CHECK(has_line(o, "a=fingerprint:sha-256 "s + std::string(k_fp_ours)));
  CHECK(has_line(o, "a=setup:actpass"));
  CHECK(o.find("a=crypto") == std::string::npos);
}

TEST_CASE("offer variants: IPv6, no Opus, no telephone-event, no rtcp-mux, recvonly, ptime") {
  LocalMedia l = plain();
  l.address = "2001:db8::7";
  l.codecs = {Codec::pcma, Codec::pcmu, Codec::pcma};
  l.telephone_event = false;
  l.rtcp_mux_offer = false;
  l.direction = Direction::recvonly;
  l.ptime = 30;
  const std::string o = build_offer(l);
  CHECK(has_line(o, "o=- 1234 1 IN IP6 2001:db8::7"));
  CHECK(has_line(o, "c=IN IP6 2001:db8::7"));
  CHECK(has_line(o, "m=audio 20000 RTP/AVP 8 0")); // duplicates dropped
  CHECK(has_line(o, "a=recvonly"));
  CHECK(has_line(o, "a=ptime:30"));
  CHECK(o.find("telephone-event") == std::string::npos);
  CHECK(o.find("rtcp-mux") == std::string::npos);
  CHECK(o.find("opus") == std::string::npos);

  LocalMedia g = plain();
  g.codecs = {Codec::g722, Codec::pcmu};
  const std::string og = build_offer(g);
  CHECK(has_line(og, "m=audio 20000 RTP/AVP 9 0 101")); // telephone-event/48000 only with Opus
}

TEST_CASE("an unusable LocalMedia is a programmer error") {
  LocalMedia l = plain();
  l.address.clear();
  CHECK_THROWS_AS(build_offer(l), std::invalid_argument);
  l = plain();
  l.codecs.clear();
  CHECK_THROWS_AS(build_offer(l), std::invalid_argument);
  l = sdes();
  l.sdes_offers.clear();
  CHECK_THROWS_AS(build_offer(l), std::invalid_argument);
  l = sdes();
  l.sdes_offers[0].key_params = "inline:AAAA";
  CHECK_THROWS_AS(build_offer(l), std::invalid_argument);
  l = dtls();
  l.dtls_fingerprint_sha256 = "AB:CD";
  CHECK_THROWS_AS(build_offer(l), std::invalid_argument);
  CHECK_THROWS_AS(answer_offer(l, must_parse(far({"m=audio 4000 RTP/AVP 0"})), nullptr),
                  std::invalid_argument);
}

TEST_CASE("our own offer, taken as an answer, negotiates Opus 111") {
  const LocalMedia l = plain();
  const Negotiated n = must_apply(l, build_offer(l));
  CHECK(n.codec == Codec::opus);
  CHECK(n.payload_type == 111);
  CHECK(n.telephone_event_pt == 110); // telephone-event at Opus's clock
  CHECK(n.rtcp_mux);
}

// ---------------------------------------------------------------------------------------------
// The negotiation table: plain offer × answers

TEST_CASE("answer table: codec, payload numbers and telephone-event") {
  struct Row {
    const char* name;
    std::vector<std::string_view> media;
    Codec codec;
    int pt;
    int local_pt;
    std::uint32_t clock;
    std::uint32_t channels;
    std::optional<int> te;
    std::optional<int> local_te;
  };
  const std::vector<Row> rows = {
      {"subset: G.722 and PCMU",
       {"m=audio 4000 RTP/AVP 9 0 101", "a=rtpmap:101 telephone-event/8000"},
       Codec::g722, 9, 9, 8000, 1, 101, 101},
      {"Opus answered as 96 (dynamic numbers differ)",
       {"m=audio 4000 RTP/AVP 96 101", "a=rtpmap:96 opus/48000/2", "a=fmtp:96 useinbandfec=1",
        "a=rtpmap:101 telephone-event/8000"},
       Codec::opus, 96, 111, 48000, 2, 101, 101},
      {"Opus 96 with telephone-event/48000 as 97",
       {"m=audio 4000 RTP/AVP 96 97 101", "a=rtpmap:96 OPUS/48000/2",
        "a=rtpmap:97 telephone-event/48000", "a=rtpmap:101 telephone-event/8000"},
       Codec::opus, 96, 111, 48000, 2, 97, 110},
      {"PCMU only (sipp)", {"m=audio 6000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"},
       Codec::pcmu, 0, 0, 8000, 1, std::nullopt, std::nullopt},
      {"telephone-event listed first, then PCMA",
       {"m=audio 4000 RTP/AVP 101 8", "a=rtpmap:101 telephone-event/8000"},
       Codec::pcma, 8, 8, 8000, 1, 101, 101},
      {"static PCMA without rtpmap, CN ignored", {"m=audio 4000 RTP/AVP 13 8"},
       Codec::pcma, 8, 8, 8000, 1, std::nullopt, std::nullopt},
      {"answerer's preference order wins", {"m=audio 4000 RTP/AVP 8 0 9"},
       Codec::pcma, 8, 8, 8000, 1, std::nullopt, std::nullopt},
      {"dynamic number remapping a static codec", {"m=audio 4000 RTP/AVP 98", "a=rtpmap:98 G722/8000"},
       Codec::g722, 98, 9, 8000, 1, std::nullopt, std::nullopt},
      {"telephone-event at 16000 is not ours", {"m=audio 4000 RTP/AVP 0 102", "a=rtpmap:102 telephone-event/16000"},
       Codec::pcmu, 0, 0, 8000, 1, std::nullopt, std::nullopt},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    std::string text = far({});
    for (auto l : row.media) text.append(l).append("\r\n");
    const Negotiated n = must_apply(plain(), text);
    CHECK(n.codec == row.codec);
    CHECK(n.payload_type == row.pt);
    CHECK(n.local_payload_type == row.local_pt);
    CHECK(n.clock_rate == row.clock);
    CHECK(n.channels == row.channels);
    CHECK(n.telephone_event_pt == row.te);
    CHECK(n.local_telephone_event_pt == row.local_te);
    CHECK(n.keying == Keying::none);
  }
}

TEST_CASE("answer: a codec we did not offer is not chosen") {
  LocalMedia l = plain();
  l.codecs = {Codec::pcma};
  expect_apply_error(l, far({"m=audio 4000 RTP/AVP 0 9"}), negotiation_error::no_common_codec);
  expect_apply_error(plain(), far({"m=audio 4000 RTP/AVP 18 101", "a=rtpmap:101 telephone-event/8000"}),
                     negotiation_error::no_common_codec);
  // G.722 at 16000 is not RFC 3551's G722 (whose RTP clock is 8000).
  expect_apply_error(plain(), far({"m=audio 4000 RTP/AVP 96", "a=rtpmap:96 G722/16000"}),
                     negotiation_error::no_common_codec);
}

TEST_CASE("answer: no telephone-event when we did not offer it") {
  LocalMedia l = plain();
  l.telephone_event = false;
  const Negotiated n = must_apply(l, far({"m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"}));
  CHECK_FALSE(n.telephone_event_pt);
}

TEST_CASE("answer: ptime from the answer, else ours") {
  CHECK(must_apply(plain(), far({"m=audio 4000 RTP/AVP 0", "a=ptime:30"})).ptime == 30);
  CHECK(must_apply(plain(), far({"m=audio 4000 RTP/AVP 0"})).ptime == 20);
}

TEST_CASE("answer: rtcp-mux vs a separate a=rtcp port vs RTP port + 1") {
  Negotiated n = must_apply(plain(), far({"m=audio 4000 RTP/AVP 0", "a=rtcp-mux", "a=rtcp:4000"}));
  CHECK(n.rtcp_mux);
  CHECK(n.remote_rtcp_port == 4000);

  n = must_apply(plain(), far({"m=audio 4000 RTP/AVP 0", "a=rtcp:4005"}));
  CHECK_FALSE(n.rtcp_mux);
  CHECK(n.remote_rtcp_port == 4005);
  CHECK(n.remote_rtcp_address == "198.51.100.9");

  n = must_apply(plain(), far({"m=audio 4000 RTP/AVP 0", "a=rtcp:5001 IN IP4 203.0.113.4"}));
  CHECK(n.remote_rtcp_port == 5001);
  CHECK(n.remote_rtcp_address == "203.0.113.4");

  n = must_apply(plain(), far({"m=audio 4000 RTP/AVP 0"}));
  CHECK_FALSE(n.rtcp_mux);
  CHECK(n.remote_rtcp_port == 4001);

  LocalMedia no_mux = plain();
  no_mux.rtcp_mux_offer = false;
  n = must_apply(no_mux, far({"m=audio 4000 RTP/AVP 0", "a=rtcp-mux"}));
  CHECK_FALSE(n.rtcp_mux); // RFC 5761: only if both
  CHECK(n.remote_rtcp_port == 4001);
}

TEST_CASE("answer: c= at media level overrides the session's") {
  const Negotiated n = must_apply(plain(), far({"m=audio 4000 RTP/AVP 0", "c=IN IP4 203.0.113.77"}));
  CHECK(n.remote_address == "203.0.113.77");
  CHECK(n.remote_rtp_port == 4000);
  const Negotiated s = must_apply(plain(), far({"m=audio 4000 RTP/AVP 0"}));
  CHECK(s.remote_address == "198.51.100.9");
}

TEST_CASE("answer: port 0 rejects the call's only stream") {
  expect_apply_error(plain(), far({"m=audio 0 RTP/AVP 0"}), negotiation_error::rejected);
}

TEST_CASE("answer: no audio m-line") {
  expect_apply_error(plain(), far({"m=video 4000 RTP/AVP 96", "a=rtpmap:96 VP8/90000"}),
                     negotiation_error::no_audio);
}

TEST_CASE("answer: the first audio m-line is used") {
  const Negotiated n = must_apply(plain(), far({"m=video 0 RTP/AVP 96", "m=audio 4000 RTP/AVP 8",
                                                "m=audio 4002 RTP/AVP 0"}));
  CHECK(n.codec == Codec::pcma);
  CHECK(n.remote_rtp_port == 4000);
}

TEST_CASE("answer table: directions and hold") {
  struct Row {
    const char* name;
    std::vector<std::string_view> media;
    Direction remote;
    Direction local;
    bool hold;
  };
  const std::vector<Row> rows = {
      {"sendrecv", {"m=audio 4000 RTP/AVP 0"}, Direction::sendrecv, Direction::sendrecv, false},
      {"sendonly", {"m=audio 4000 RTP/AVP 0", "a=sendonly"}, Direction::sendonly, Direction::recvonly, true},
      {"recvonly", {"m=audio 4000 RTP/AVP 0", "a=recvonly"}, Direction::recvonly, Direction::sendonly, false},
      {"inactive", {"m=audio 4000 RTP/AVP 0", "a=inactive"}, Direction::inactive, Direction::inactive, true},
      {"c=0.0.0.0", {"m=audio 4000 RTP/AVP 0", "c=IN IP4 0.0.0.0"}, Direction::sendrecv, Direction::recvonly, true},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    std::string text = far({});
    for (auto l : row.media) text.append(l).append("\r\n");
    const Negotiated n = must_apply(plain(), text);
    CHECK(n.remote_direction == row.remote);
    CHECK(n.local_direction == row.local);
    CHECK(n.on_hold == row.hold);
  }
  // A session-level direction applies to the m-line.
  const Negotiated s = must_apply(plain(), far({"m=audio 4000 RTP/AVP 0"}, "a=sendonly"));
  CHECK(s.remote_direction == Direction::sendonly);
  CHECK(s.on_hold);
  // We offered recvonly: even a sendrecv answer does not make us send.
  LocalMedia l = plain();
  l.direction = Direction::recvonly;
  CHECK(must_apply(l, far({"m=audio 4000 RTP/AVP 0"})).local_direction == Direction::recvonly);
}

// ---------------------------------------------------------------------------------------------
// Secure offers × answers

TEST_CASE("a secure offer answered in the clear is an error, never a fallback") {
  // baresip 1.0.0 with a DTLS-only account answers an SDES offer like this (INTEROP.md).
  expect_apply_error(sdes(), far({"m=audio 4000 RTP/AVP 0"}), negotiation_error::insecure_answer);
  expect_apply_error(sdes(), far({"m=audio 4000 RTP/AVPF 0"}), negotiation_error::insecure_answer);
  expect_apply_error(sdes(), far({"m=audio 4000 RTP/SAVP 0"}), negotiation_error::insecure_answer);
  expect_apply_error(dtls(), far({"m=audio 4000 RTP/AVP 0"}), negotiation_error::insecure_answer);
  expect_apply_error(dtls(), far({"m=audio 4000 UDP/TLS/RTP/SAVP 0", "a=setup:active"}),
                     negotiation_error::insecure_answer);
  // SDES answer that switches encryption off (RFC 4568 §6.3).
  expect_apply_error(sdes(),
                     far({"m=audio 4000 RTP/SAVP 0",
                          "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a) + " UNENCRYPTED_SRTP"}),
                     negotiation_error::insecure_answer);
}

TEST_CASE("the answer's transport profile must be the offered one") {
  expect_apply_error(plain(), far({"m=audio 4000 RTP/SAVP 0",
                                   "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a)}),
                     negotiation_error::proto_mismatch);
  expect_apply_error(sdes(), far({"m=audio 4000 UDP/TLS/RTP/SAVP 0",
                                  "a=fingerprint:sha-256 "s + std::string(k_fp_theirs)}),
                     negotiation_error::proto_mismatch);
  expect_apply_error(dtls(), far({"m=audio 4000 RTP/SAVP 0",
                                  "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a)}),
                     negotiation_error::proto_mismatch);
  expect_apply_error(plain(), far({"m=audio 4000 TCP/RTP/AVP 0"}), negotiation_error::proto_mismatch);
  // The feedback profile in place of the plain one is accepted.
  CHECK(must_apply(plain(), far({"m=audio 4000 RTP/AVPF 0"})).codec == Codec::pcmu);
}

TEST_CASE("SDES answer table: tag and suite matching") {
  struct Row {
    const char* name;
    std::string crypto;
    std::optional<std::uint32_t> tag; ///< nullopt: error
    negotiation_error error;
    std::string_view suite;
  };
  const std::vector<Row> rows = {
      {"tag 1 AES_CM_128_HMAC_SHA1_80", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a), 1u, {},
       "AES_CM_128_HMAC_SHA1_80"},
      {"tag 2 AES_CM_128_HMAC_SHA1_32 (baresip)", "a=crypto:2 AES_CM_128_HMAC_SHA1_32 "s + std::string(k_key30b),
       2u, {}, "AES_CM_128_HMAC_SHA1_32"},
      {"tag 3 AEAD_AES_128_GCM", "a=crypto:3 AEAD_AES_128_GCM "s + std::string(k_key28), 3u, {}, "AEAD_AES_128_GCM"},
      {"tag 4 AEAD_AES_256_GCM", "a=crypto:4 AEAD_AES_256_GCM "s + std::string(k_key44), 4u, {}, "AEAD_AES_256_GCM"},
      {"lifetime and window hint accepted",
       "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a) + "|2^31 WSH=128", 1u, {},
       "AES_CM_128_HMAC_SHA1_80"},
      {"unknown tag", "a=crypto:9 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a), std::nullopt,
       negotiation_error::crypto_mismatch, {}},
      {"tag 1 with another suite", "a=crypto:1 AES_CM_128_HMAC_SHA1_32 "s + std::string(k_key30a), std::nullopt,
       negotiation_error::crypto_mismatch, {}},
      {"key of the wrong length", "a=crypto:3 AEAD_AES_128_GCM "s + std::string(k_key30a), std::nullopt,
       negotiation_error::crypto_mismatch, {}},
      {"KDR is not supported", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a) + " KDR=24",
       std::nullopt, negotiation_error::crypto_mismatch, {}},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    const std::string text = far({"m=audio 4000 RTP/SAVP 0", row.crypto});
    if (row.tag) {
      const Negotiated n = must_apply(sdes(), text);
      CHECK(n.keying == Keying::sdes);
      CHECK(n.crypto_tag == *row.tag);
      REQUIRE(n.remote_crypto);
      REQUIRE(n.local_crypto);
      CHECK(n.remote_crypto->suite == row.suite);
      CHECK(n.local_crypto->suite == row.suite);
      CHECK(n.local_crypto->tag == *row.tag);
      CHECK(n.local_crypto == sdes().sdes_offers[*row.tag - 1]);
      CHECK(decode_inline_key(*n.remote_crypto));
    } else {
      expect_apply_error(sdes(), text, row.error);
    }
  }
}

TEST_CASE("SDES answer: the first crypto line with one of our tags counts; SAVPF accepted") {
  const Negotiated n = must_apply(
      sdes(), far({"m=audio 4000 RTP/SAVPF 0", "a=crypto:7 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a),
                   "a=crypto:2 AES_CM_128_HMAC_SHA1_32 "s + std::string(k_key30b)}));
  CHECK(n.crypto_tag == 2);
}

TEST_CASE("DTLS answer table: setup and fingerprint") {
  struct Row {
    const char* name;
    std::vector<std::string> lines;
    std::string session_extra;
    bool ok;
    negotiation_error error;
    Setup remote_setup;
    bool we_active;
  };
  const std::string fp = "a=fingerprint:sha-256 "s + std::string(k_fp_theirs);
  const std::vector<Row> rows = {
      {"setup:active + fingerprint (baresip)", {"m=audio 4000 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", fp, "a=setup:active"},
       "", true, {}, Setup::active, false},
      {"setup:passive: we connect", {"m=audio 4000 UDP/TLS/RTP/SAVP 0", fp, "a=setup:passive"},
       "", true, {}, Setup::passive, true},
      {"no setup: passive by RFC 4145 default", {"m=audio 4000 UDP/TLS/RTP/SAVP 0", fp},
       "", true, {}, Setup::passive, true},
      {"actpass in an answer: tolerated, we connect", {"m=audio 4000 UDP/TLS/RTP/SAVP 0", fp, "a=setup:actpass"},
       "", true, {}, Setup::actpass, true},
      {"session-level fingerprint", {"m=audio 4000 UDP/TLS/RTP/SAVPF 0", "a=setup:active"},
       fp, true, {}, Setup::active, false},
      {"sha-1 fingerprint", {"m=audio 4000 UDP/TLS/RTP/SAVP 0", "a=fingerprint:SHA-1 "s + std::string(k_fp_sha1), "a=setup:active"},
       "", true, {}, Setup::active, false},
      {"holdconn", {"m=audio 4000 UDP/TLS/RTP/SAVP 0", fp, "a=setup:holdconn"},
       "", false, negotiation_error::dtls_mismatch, {}, false},
      {"fingerprint length does not fit the hash",
       {"m=audio 4000 UDP/TLS/RTP/SAVP 0", "a=fingerprint:sha-256 "s + std::string(k_fp_sha1), "a=setup:active"},
       "", false, negotiation_error::dtls_mismatch, {}, false},
      {"unknown hash", {"m=audio 4000 UDP/TLS/RTP/SAVP 0", "a=fingerprint:md5 AB:CD", "a=setup:active"},
       "", false, negotiation_error::dtls_mismatch, {}, false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    std::string text = far({}, row.session_extra);
    for (const auto& l : row.lines) text.append(l).append("\r\n");
    if (row.ok) {
      const Negotiated n = must_apply(dtls(), text);
      CHECK(n.keying == Keying::dtls);
      CHECK(n.remote_setup == row.remote_setup);
      CHECK(n.dtls_active == row.we_active);
      REQUIRE(n.remote_fingerprint);
      CHECK_FALSE(n.remote_crypto);
    } else {
      expect_apply_error(dtls(), text, row.error);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Re-offers from the far end

namespace {
const std::string k_pcmu_answer = far({"m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000"});
} // namespace

TEST_CASE("re-offer sendonly: we answer recvonly, the call is on hold") {
  LocalMedia l = plain();
  const Negotiated cur = established(l, k_pcmu_answer);
  l.session_version = 2; // the caller bumps o= version for each new SDP we send
  const Answer a = must_answer(l, far({"m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000",
                                       "a=sendonly"}),
                               &cur);
  CHECK(has_line(a.sdp, "a=recvonly"));
  CHECK(a.sdp.find("a=sendrecv") == std::string::npos);
  CHECK(a.sdp.find("a=sendonly") == std::string::npos);
  // A fresh answer, not our cached offer echoed back.
  CHECK(a.sdp != build_offer(l));
  CHECK(has_line(a.sdp, "o=- 1234 2 IN IP4 192.0.2.1"));
  CHECK(has_line(a.sdp, "m=audio 20000 RTP/AVP 0 101"));
  CHECK(a.negotiated.on_hold);
  CHECK(a.negotiated.remote_direction == Direction::sendonly);
  CHECK(a.negotiated.local_direction == Direction::recvonly);
  CHECK(a.negotiated.codec == Codec::pcmu);
}

TEST_CASE("re-offer table: direction answered per RFC 3264 §6.1") {
  struct Row {
    const char* name;
    std::vector<std::string_view> extra;
    std::string_view answer_attr;
    Direction local;
    bool hold;
  };
  const std::vector<Row> rows = {
      {"sendonly → recvonly", {"a=sendonly"}, "a=recvonly", Direction::recvonly, true},
      {"recvonly → sendonly", {"a=recvonly"}, "a=sendonly", Direction::sendonly, false},
      {"inactive → inactive", {"a=inactive"}, "a=inactive", Direction::inactive, true},
      {"sendrecv → sendrecv (resume)", {"a=sendrecv"}, "a=sendrecv", Direction::sendrecv, false},
      {"c=0.0.0.0 → recvonly (RFC 2543 hold)", {"c=IN IP4 0.0.0.0"}, "a=recvonly", Direction::recvonly, true},
  };
  const LocalMedia l = plain();
  const Negotiated cur = established(l, k_pcmu_answer);
  for (const auto& row : rows) {
    CAPTURE(row.name);
    std::string text = far({"m=audio 4000 RTP/AVP 0"});
    for (auto e : row.extra) text.append(e).append("\r\n");
    const Answer a = must_answer(l, text, &cur);
    CHECK(has_line(a.sdp, row.answer_attr));
    CHECK(a.negotiated.local_direction == row.local);
    CHECK(a.negotiated.on_hold == row.hold);
  }
}

TEST_CASE("re-offer with port 0: our answer has port 0 and the call is on hold") {
  const LocalMedia l = plain();
  const Negotiated cur = established(l, k_pcmu_answer);
  const Answer a = must_answer(l, far({"m=audio 0 RTP/AVP 0 101"}), &cur);
  CHECK(has_line(a.sdp, "m=audio 0 RTP/AVP 0 101"));
  CHECK(a.negotiated.on_hold);
  CHECK(a.negotiated.remote_rtp_port == 0);
  CHECK(a.negotiated.local_direction == Direction::inactive);
  CHECK(a.negotiated.codec == cur.codec);
  CHECK(a.negotiated.payload_type == cur.payload_type);
  // Without a call to hold, a disabled audio stream cannot be answered.
  expect_answer_error(l, far({"m=audio 0 RTP/AVP 0"}), nullptr, negotiation_error::rejected);
}

TEST_CASE("hold then resume: sendrecv again with our address and port") {
  const LocalMedia l = plain();
  const Negotiated cur = established(l, k_pcmu_answer);
  const Answer held = must_answer(l, far({"m=audio 4000 RTP/AVP 0", "a=inactive"}), &cur);
  REQUIRE(held.negotiated.on_hold);
  const Answer resumed = must_answer(l, far({"m=audio 4000 RTP/AVP 0", "a=sendrecv"}), &held.negotiated);
  CHECK_FALSE(resumed.negotiated.on_hold);
  CHECK(resumed.negotiated.local_direction == Direction::sendrecv);
  CHECK(has_line(resumed.sdp, "a=sendrecv"));
  CHECK(has_line(resumed.sdp, "c=IN IP4 192.0.2.1"));
  CHECK(has_line(resumed.sdp, "m=audio 20000 RTP/AVP 0"));
}

TEST_CASE("re-offer codec choice: current codec kept if offered, else the first common one") {
  const LocalMedia l = plain();
  const Negotiated cur = established(l, k_pcmu_answer);
  // PCMU still offered (not first): kept.
  Answer a = must_answer(l, far({"m=audio 4000 RTP/AVP 8 0"}), &cur);
  CHECK(a.negotiated.codec == Codec::pcmu);
  CHECK(has_line(a.sdp, "m=audio 20000 RTP/AVP 0"));
  // PCMU gone: codec change to PCMA.
  a = must_answer(l, far({"m=audio 4000 RTP/AVP 18 8"}), &cur);
  CHECK(a.negotiated.codec == Codec::pcma);
  CHECK(a.negotiated.payload_type == 8);
  // No current call: the offer's first supported codec.
  a = must_answer(l, far({"m=audio 4000 RTP/AVP 18 9 0"}), nullptr);
  CHECK(a.negotiated.codec == Codec::g722);
  expect_answer_error(l, far({"m=audio 4000 RTP/AVP 18"}), &cur, negotiation_error::no_common_codec);
}

TEST_CASE("re-offer payload numbers: the offer's numbers are used in our answer") {
  const LocalMedia l = plain();
  const Answer a = must_answer(l, far({"m=audio 4000 RTP/AVP 96 100", "a=rtpmap:96 opus/48000/2",
                                       "a=rtpmap:100 telephone-event/48000", "a=fmtp:100 0-15"}),
                               nullptr);
  CHECK(a.negotiated.codec == Codec::opus);
  CHECK(a.negotiated.payload_type == 96);
  CHECK(a.negotiated.local_payload_type == 96);
  CHECK(a.negotiated.telephone_event_pt == 100);
  CHECK(a.negotiated.telephone_event_clock_rate == 48000);
  CHECK(a.sdp ==
        "v=0\r\n"
        "o=- 1234 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "m=audio 20000 RTP/AVP 96 100\r\n"
        "a=sendrecv\r\n"
        "a=rtpmap:96 opus/48000/2\r\n"
        "a=fmtp:96 minptime=10;useinbandfec=1\r\n"
        "a=rtpmap:100 telephone-event/48000\r\n"
        "a=fmtp:100 0-15\r\n"
        "a=ptime:20\r\n");
}

TEST_CASE("re-offer rtcp-mux: answered only when offered") {
  const LocalMedia l = plain();
  Answer a = must_answer(l, far({"m=audio 4000 RTP/AVP 0", "a=rtcp-mux"}), nullptr);
  CHECK(has_line(a.sdp, "a=rtcp-mux"));
  CHECK(a.negotiated.rtcp_mux);
  a = must_answer(l, far({"m=audio 4000 RTP/AVP 0"}), nullptr);
  CHECK(a.sdp.find("rtcp-mux") == std::string::npos);
  CHECK(a.negotiated.remote_rtcp_port == 4001);
}

TEST_CASE("re-offer with a video m-line: video answered with port 0, order kept") {
  const LocalMedia l = plain();
  const Negotiated cur = established(l, k_pcmu_answer);
  const Answer a = must_answer(l, far({"m=video 5000 RTP/AVP 96 97", "a=rtpmap:96 VP8/90000",
                                       "a=rtpmap:97 H264/90000", "m=audio 4000 RTP/AVP 0",
                                       "m=audio 4002 RTP/AVP 8"}),
                               &cur);
  REQUIRE(a.session.media.size() == 3);
  CHECK(a.session.media[0].type == "video");
  CHECK(a.session.media[0].port == 0);
  CHECK(has_line(a.sdp, "m=video 0 RTP/AVP 96 97"));
  CHECK(a.session.media[1].port == 20000);
  CHECK(a.session.media[2].port == 0); // a second audio stream is refused too
  CHECK(a.negotiated.remote_rtp_port == 4000);
}

TEST_CASE("re-offer without audio, or changing keying, is refused (488)") {
  const Negotiated cur = established(plain(), k_pcmu_answer);
  expect_answer_error(plain(), far({"m=video 5000 RTP/AVP 96"}), &cur, negotiation_error::no_audio);
  // Plain call, SRTP re-offer.
  expect_answer_error(plain(),
                      far({"m=audio 4000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a)}),
                      &cur, negotiation_error::keying_changed);
  // SDES call, re-offer in the clear or with DTLS.
  const Negotiated sc = must_apply(
      sdes(), far({"m=audio 4000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a)}));
  expect_answer_error(sdes(), far({"m=audio 4000 RTP/AVP 0"}), &sc, negotiation_error::keying_changed);
  expect_answer_error(sdes(),
                      far({"m=audio 4000 UDP/TLS/RTP/SAVP 0", "a=fingerprint:sha-256 "s + std::string(k_fp_theirs)}),
                      &sc, negotiation_error::keying_changed);
  expect_answer_error(plain(), far({"m=audio 4000 TCP/RTP/AVP 0"}), &cur, negotiation_error::proto_mismatch);
}

TEST_CASE("SDES re-offer: one crypto line for an offered tag, our fresh key, current suite first") {
  const LocalMedia l = sdes();
  const Negotiated cur = must_apply(
      l, far({"m=audio 4000 RTP/SAVP 0", "a=crypto:2 AES_CM_128_HMAC_SHA1_32 "s + std::string(k_key30b)}));
  REQUIRE(cur.local_crypto);
  const std::vector<Crypto> fresh = {make_crypto(0, "AES_CM_128_HMAC_SHA1_80", std::string(30, 'a')),
                                     make_crypto(0, "AES_CM_128_HMAC_SHA1_32", std::string(30, 'b'))};
  const std::string offer = far({"m=audio 4000 RTP/SAVP 0",
                                 "a=crypto:5 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a),
                                 "a=crypto:6 AES_CM_128_HMAC_SHA1_32 "s + std::string(k_key30b)});
  Answer a = must_answer(l, offer, &cur, fresh);
  REQUIRE(a.session.media[0].cryptos.size() == 1);
  CHECK(a.session.media[0].cryptos[0].tag == 6);
  CHECK(a.session.media[0].cryptos[0].suite == "AES_CM_128_HMAC_SHA1_32");
  CHECK(a.session.media[0].cryptos[0].key_params == fresh[1].key_params);
  CHECK(a.negotiated.crypto_tag == 6);
  CHECK(a.negotiated.remote_crypto->key_params == k_key30b);
  CHECK(a.negotiated.keying == Keying::sdes);
  CHECK(has_line(a.sdp, "m=audio 20000 RTP/SAVP 0"));

  // No current call: the first offered tag we have a key for; keys from LocalMedia.
  a = must_answer(l, offer, nullptr);
  CHECK(a.negotiated.crypto_tag == 5);
  CHECK(a.negotiated.local_crypto->key_params == l.sdes_offers[0].key_params);

  // An offered suite we have no key for is skipped.
  a = must_answer(l, far({"m=audio 4000 RTP/SAVP 0", "a=crypto:1 F8_128_HMAC_SHA1_80 "s + std::string(k_key30a),
                          "a=crypto:2 AEAD_AES_256_GCM "s + std::string(k_key44)}),
                  nullptr);
  CHECK(a.negotiated.crypto_tag == 2);
  CHECK(a.negotiated.local_crypto->suite == "AEAD_AES_256_GCM");
}

TEST_CASE("SDES re-offer errors: nothing usable, or encryption switched off") {
  const LocalMedia l = sdes();
  expect_answer_error(l, far({"m=audio 4000 RTP/SAVP 0", "a=crypto:1 F8_128_HMAC_SHA1_80 "s + std::string(k_key30a)}),
                      nullptr, negotiation_error::crypto_mismatch);
  expect_answer_error(l, far({"m=audio 4000 RTP/SAVP 0"}), nullptr, negotiation_error::insecure_answer);
  expect_answer_error(l,
                      far({"m=audio 4000 RTP/SAVP 0",
                           "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "s + std::string(k_key30a) + " UNENCRYPTED_SRTP"}),
                      nullptr, negotiation_error::insecure_answer);
}

TEST_CASE("DTLS re-offer table: our setup answers theirs") {
  const LocalMedia l = dtls();
  const std::string fp = "a=fingerprint:sha-256 "s + std::string(k_fp_theirs);
  // A call where the far end answered setup:active (we are passive, the DTLS server).
  const Negotiated cur = must_apply(l, far({"m=audio 4000 UDP/TLS/RTP/SAVPF 0", fp, "a=setup:active"}));
  REQUIRE_FALSE(cur.dtls_active);
  struct Row {
    const char* name;
    std::string setup;
    std::string fingerprint;
    const Negotiated* current;
    std::string_view answer_setup;
    bool we_active;
  };
  const std::string other_fp = "a=fingerprint:sha-256 "s + std::string(k_fp_ours);
  const std::vector<Row> rows = {
      {"actpass, no call → active", "a=setup:actpass", fp, nullptr, "a=setup:active", true},
      {"actpass, same association → keep passive", "a=setup:actpass", fp, &cur, "a=setup:passive", false},
      {"actpass, new fingerprint → active", "a=setup:actpass", other_fp, &cur, "a=setup:active", true},
      {"active → passive", "a=setup:active", fp, nullptr, "a=setup:passive", false},
      {"passive → active", "a=setup:passive", fp, &cur, "a=setup:active", true},
      {"no setup (active by default) → passive", "a=x-none", fp, nullptr, "a=setup:passive", false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    const Answer a = must_answer(l, far({"m=audio 4000 UDP/TLS/RTP/SAVPF 0", row.fingerprint, row.setup}),
                                 row.current);
    CHECK(has_line(a.sdp, row.answer_setup));
    CHECK(has_line(a.sdp, "a=fingerprint:sha-256 "s + std::string(k_fp_ours)));
    CHECK(has_line(a.sdp, "m=audio 20000 UDP/TLS/RTP/SAVPF 0"));
    CHECK(a.negotiated.dtls_active == row.we_active);
    CHECK(a.negotiated.keying == Keying::dtls);
  }
  expect_answer_error(l, far({"m=audio 4000 UDP/TLS/RTP/SAVP 0", fp, "a=setup:holdconn"}), nullptr,
                      negotiation_error::dtls_mismatch);
  expect_answer_error(l, far({"m=audio 4000 UDP/TLS/RTP/SAVP 0", "a=setup:actpass"}), nullptr,
                      negotiation_error::insecure_answer);
}

TEST_CASE("negotiation errors carry their own category") {
  const std::error_code ec = negotiation_error::insecure_answer;
  CHECK(ec.category().name() == "sdp.negotiation"s);
  CHECK(ec.message().find("not encrypted") != std::string::npos);
  CHECK(ec != make_error_code(sdp_error::malformed_line));
}

TEST_CASE("codec names and rates") {
  CHECK(to_string(Codec::opus) == "opus");
  CHECK(to_string(Codec::g722) == "G722");
  CHECK(sample_rate(Codec::g722) == 16000);
  CHECK(rtp_clock_rate(Codec::g722) == 8000);
  CHECK(rtp_clock_rate(Codec::opus) == 48000);
  CHECK(to_string(Keying::dtls) == "dtls");
}
