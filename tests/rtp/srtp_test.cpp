// SRTP/SRTCP contexts and SDES keying: tests for src/rtp/srtp.{hpp,cpp} and src/rtp/sdes.{hpp,cpp}.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "rtp/sdes.hpp"
#include "rtp/srtp.hpp"
#include "rtp/srtp_hmac.hpp"
#include "sdp/sdp.hpp"

using namespace sb::rtp;
using Dir = SrtpContext::Direction;

namespace {

constexpr std::array k_all_suites{SrtpSuite::aes_cm_128_hmac_sha1_80, SrtpSuite::aes_cm_128_hmac_sha1_32,
                                  SrtpSuite::aead_aes_128_gcm, SrtpSuite::aead_aes_256_gcm};

std::vector<std::uint8_t> key_for(SrtpSuite s, std::uint8_t seed = 1) {
  std::vector<std::uint8_t> k(master_key_length(s) + master_salt_length(s));
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed * 31 + i * 7);
  return k;
}

// A 172-byte PCMU packet (12-byte header + 160 bytes = 20 ms at 8 kHz), buffer with trailer room.
std::vector<std::uint8_t> rtp_packet(std::uint16_t seq, std::uint32_t ssrc = 0x11223344) {
  std::vector<std::uint8_t> p(172 + srtp_max_trailer);
  p[0] = 0x80;
  p[1] = 0x00;
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  const std::uint32_t ts = seq * 160u;
  for (int i = 0; i < 4; ++i) {
    p[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
    p[8 + i] = static_cast<std::uint8_t>(ssrc >> (24 - 8 * i));
  }
  for (std::size_t i = 12; i < 172; ++i) p[i] = static_cast<std::uint8_t>(0xD5 ^ i);
  return p;
}

// An RTCP receiver report (RFC 3550 §6.4.2) with one report block: 32 bytes.
std::vector<std::uint8_t> rtcp_packet() {
  std::vector<std::uint8_t> p = {0x81, 0xC9, 0x00, 0x07, 0x11, 0x22, 0x33, 0x44, 0xAA, 0xBB, 0xCC,
                                 0xDD, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
                                 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  p.resize(p.size() + srtp_max_trailer);
  return p;
}

std::size_t rtp_tag(SrtpSuite s) {
  switch (s) {
    case SrtpSuite::aes_cm_128_hmac_sha1_80: return 10;
    case SrtpSuite::aes_cm_128_hmac_sha1_32: return 4;
    default: return 16;
  }
}

std::vector<std::uint8_t> hex(std::string_view h) {
  std::vector<std::uint8_t> v;
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    if (h[i] == ' ') { --i; continue; }
    v.push_back(static_cast<std::uint8_t>(nib(h[i]) << 4 | nib(h[i + 1])));
  }
  return v;
}

}  // namespace

TEST_CASE("SRTP suite names and DTLS profiles map both ways with RFC key and salt lengths") {
  CHECK(suite_from_sdes_name("AES_CM_128_HMAC_SHA1_80") == SrtpSuite::aes_cm_128_hmac_sha1_80);
  CHECK(suite_from_sdes_name("aes_cm_128_hmac_sha1_32") == SrtpSuite::aes_cm_128_hmac_sha1_32);
  CHECK(suite_from_sdes_name("AEAD_AES_128_GCM") == SrtpSuite::aead_aes_128_gcm);
  CHECK(suite_from_sdes_name("AEAD_AES_256_GCM") == SrtpSuite::aead_aes_256_gcm);
  CHECK_FALSE(suite_from_sdes_name("F8_128_HMAC_SHA1_80"));
  CHECK_FALSE(suite_from_sdes_name(""));
  CHECK(dtls_profile(SrtpSuite::aes_cm_128_hmac_sha1_80) == 0x0001);
  CHECK(dtls_profile(SrtpSuite::aes_cm_128_hmac_sha1_32) == 0x0002);
  CHECK(dtls_profile(SrtpSuite::aead_aes_128_gcm) == 0x0007);
  CHECK(dtls_profile(SrtpSuite::aead_aes_256_gcm) == 0x0008);
  CHECK_FALSE(suite_from_dtls_profile(0x0005));  // SRTP_NULL_HMAC_SHA1_80: never negotiated
  for (auto s : k_all_suites) {
    CHECK(suite_from_sdes_name(sdes_name(s)) == s);
    CHECK(suite_from_dtls_profile(dtls_profile(s)) == s);
    // Agrees with the SDP layer's table (RFC 4568 §6.2, RFC 7714 §12).
    CHECK(sb::sdp::srtp_key_salt_length(sdes_name(s)) == master_key_length(s) + master_salt_length(s));
  }
  CHECK(master_key_length(SrtpSuite::aead_aes_256_gcm) == 32);
  CHECK(master_salt_length(SrtpSuite::aead_aes_128_gcm) == 12);
  CHECK(master_salt_length(SrtpSuite::aes_cm_128_hmac_sha1_80) == 14);
}

TEST_CASE("SRTP protect then unprotect with the same key gives the RTP packet back, every suite") {
  for (auto s : k_all_suites) {
    CAPTURE(sdes_name(s));
    auto out = SrtpContext::create(s, key_for(s), Dir::outbound);
    auto in = SrtpContext::create(s, key_for(s), Dir::inbound);
    REQUIRE(out);
    REQUIRE(in);
    CHECK(out->suite() == s);
    for (std::uint16_t seq = 65530; seq != 10; ++seq) {  // across the 16-bit wrap (ROC)
      auto p = rtp_packet(seq);
      const auto plain = std::vector<std::uint8_t>(p.begin(), p.begin() + 172);
      const int n = out->protect_rtp(p, 172);
      REQUIRE(n == static_cast<int>(172 + rtp_tag(s)));
      CHECK(std::vector<std::uint8_t>(p.begin(), p.begin() + 12) == std::vector(plain.begin(), plain.begin() + 12));
      CHECK(std::vector<std::uint8_t>(p.begin() + 12, p.begin() + 172) != std::vector(plain.begin() + 12, plain.end()));
      const int m = in->unprotect_rtp(p, static_cast<std::size_t>(n));
      REQUIRE(m == 172);
      CHECK(std::vector<std::uint8_t>(p.begin(), p.begin() + 172) == plain);
    }
  }
}

TEST_CASE("SRTCP protect then unprotect gives the RTCP packet back, every suite") {
  for (auto s : k_all_suites) {
    CAPTURE(sdes_name(s));
    auto out = SrtpContext::create(s, key_for(s), Dir::outbound);
    auto in = SrtpContext::create(s, key_for(s), Dir::inbound);
    REQUIRE(out);
    REQUIRE(in);
    for (int i = 0; i < 3; ++i) {
      auto p = rtcp_packet();
      const auto plain = std::vector<std::uint8_t>(p.begin(), p.begin() + 32);
      const int n = out->protect_rtcp(p, 32);
      // RFC 3711 §3.4: E||SRTCP index word + tag; _32 keeps the 80-bit tag for SRTCP.
      const std::size_t tag = s == SrtpSuite::aes_cm_128_hmac_sha1_32 ? 10 : rtp_tag(s);
      REQUIRE(n == static_cast<int>(32 + 4 + tag));
      REQUIRE(in->unprotect_rtcp(p, static_cast<std::size_t>(n)) == 32);
      CHECK(std::vector<std::uint8_t>(p.begin(), p.begin() + 32) == plain);
    }
  }
}

TEST_CASE("SRTP rejects a flipped bit in the payload or in the tag") {
  for (auto s : k_all_suites) {
    CAPTURE(sdes_name(s));
    auto out = SrtpContext::create(s, key_for(s), Dir::outbound);
    auto in = SrtpContext::create(s, key_for(s), Dir::inbound);
    std::uint16_t seq = 100;
    for (std::size_t where : {std::size_t{40}, std::size_t{172 + rtp_tag(s) - 1}, std::size_t{2}}) {
      CAPTURE(where);
      auto p = rtp_packet(seq++);
      const int n = out->protect_rtp(p, 172);
      REQUIRE(n > 0);
      p[where] ^= 0x01;
      CHECK(in->unprotect_rtp(p, static_cast<std::size_t>(n)) == -1);
    }
    auto r = rtcp_packet();
    const int n = out->protect_rtcp(r, 32);
    REQUIRE(n > 0);
    r[20] ^= 0x80;
    CHECK(in->unprotect_rtcp(r, static_cast<std::size_t>(n)) == -1);
  }
}

TEST_CASE("SRTP rejects a replayed packet and an SRTCP replay") {
  for (auto s : k_all_suites) {
    CAPTURE(sdes_name(s));
    auto out = SrtpContext::create(s, key_for(s), Dir::outbound);
    auto in = SrtpContext::create(s, key_for(s), Dir::inbound);
    auto p = rtp_packet(7);
    const int n = out->protect_rtp(p, 172);
    auto copy = p;
    REQUIRE(in->unprotect_rtp(p, static_cast<std::size_t>(n)) == 172);
    CHECK(in->unprotect_rtp(copy, static_cast<std::size_t>(n)) == -1);

    auto r = rtcp_packet();
    const int m = out->protect_rtcp(r, 32);
    auto rcopy = r;
    REQUIRE(in->unprotect_rtcp(r, static_cast<std::size_t>(m)) == 32);
    CHECK(in->unprotect_rtcp(rcopy, static_cast<std::size_t>(m)) == -1);
  }
}

TEST_CASE("SRTP with the wrong key fails to unprotect") {
  for (auto s : k_all_suites) {
    CAPTURE(sdes_name(s));
    auto out = SrtpContext::create(s, key_for(s, 1), Dir::outbound);
    auto in = SrtpContext::create(s, key_for(s, 2), Dir::inbound);
    auto p = rtp_packet(1);
    const int n = out->protect_rtp(p, 172);
    REQUIRE(n > 0);
    CHECK(in->unprotect_rtp(p, static_cast<std::size_t>(n)) == -1);
    auto r = rtcp_packet();
    const int m = out->protect_rtcp(r, 32);
    CHECK(in->unprotect_rtcp(r, static_cast<std::size_t>(m)) == -1);
  }
}

TEST_CASE("SRTP context creation refuses a key of the wrong length") {
  for (auto s : k_all_suites) {
    auto k = key_for(s);
    k.push_back(0);
    CHECK_FALSE(SrtpContext::create(s, k, Dir::outbound));
    k.resize(k.size() - 2);
    CHECK_FALSE(SrtpContext::create(s, k, Dir::inbound));
    CHECK_FALSE(SrtpContext::create(s, {}, Dir::inbound));
  }
  // A 128-bit AEAD key is not a 256-bit one.
  CHECK_FALSE(SrtpContext::create(SrtpSuite::aead_aes_256_gcm, key_for(SrtpSuite::aead_aes_128_gcm), Dir::outbound));
}

TEST_CASE("SRTP protect needs room for the suite's trailer and rejects bad lengths") {
  for (auto s : k_all_suites) {
    CAPTURE(sdes_name(s));
    auto out = SrtpContext::create(s, key_for(s), Dir::outbound);
    auto in = SrtpContext::create(s, key_for(s), Dir::inbound);
    auto p = rtp_packet(3);
    // Exactly the tag's room is enough (an exactly sized vector: ASan sees any overrun).
    std::vector<std::uint8_t> exact(p.begin(), p.begin() + static_cast<long>(172 + rtp_tag(s)));
    CHECK(out->protect_rtp(std::span(exact).first(172 + rtp_tag(s) - 1), 172) == -1);
    const int n = out->protect_rtp(exact, 172);
    CHECK(n == static_cast<int>(exact.size()));
    CHECK(in->unprotect_rtp(exact, exact.size()) == 172);
    const std::size_t rtcp_room = 4 + (s == SrtpSuite::aes_cm_128_hmac_sha1_32 ? 10 : rtp_tag(s));
    auto r = rtcp_packet();
    std::vector<std::uint8_t> rexact(r.begin(), r.begin() + static_cast<long>(32 + rtcp_room));
    CHECK(out->protect_rtcp(rexact, 32) == static_cast<int>(rexact.size()));
    CHECK(in->unprotect_rtcp(rexact, rexact.size()) == 32);
    // Lengths past the buffer, empty and truncated packets.
    CHECK(out->protect_rtp(p, p.size() + 1) == -1);
    CHECK(out->protect_rtp(p, 0) == -1);
    CHECK(in->unprotect_rtp(p, 5) == -1);
    CHECK(in->unprotect_rtcp(p, 3) == -1);
    // An outbound context does not unprotect, an inbound one does not protect.
    auto q = rtp_packet(4);
    CHECK(in->protect_rtp(q, 172) == -1);
  }
}

// Known answers from libsrtp2's own validation (test/srtp_driver.c, srtp_validate and
// srtp_validate_gcm): the same key and plaintext must give these exact bytes.
TEST_CASE("SRTP AES_CM_128_HMAC_SHA1_80 matches libsrtp's known-answer packets") {
  const auto key = hex("e1f97a0d3e018be0d64fa32c06de4139" "0ec675ad498afeebb6960b3aabe6");
  auto out = SrtpContext::create(SrtpSuite::aes_cm_128_hmac_sha1_80, key, Dir::outbound);
  auto in = SrtpContext::create(SrtpSuite::aes_cm_128_hmac_sha1_80, key, Dir::inbound);
  REQUIRE(out);
  auto rtp = hex("800f1234decafbadcafebabe" "abababababababababababababababab");
  const auto rtp_plain = rtp;
  rtp.resize(rtp.size() + srtp_max_trailer);
  REQUIRE(out->protect_rtp(rtp, 28) == 38);
  CHECK(std::vector(rtp.begin(), rtp.begin() + 38) ==
        hex("800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb"));
  REQUIRE(in->unprotect_rtp(rtp, 38) == 28);
  CHECK(std::vector(rtp.begin(), rtp.begin() + 28) == rtp_plain);

  auto rtcp = hex("81c8000bcafebabe" "abababababababababababababababab");
  rtcp.resize(rtcp.size() + srtp_max_trailer);
  REQUIRE(out->protect_rtcp(rtcp, 24) == 38);
  CHECK(std::vector(rtcp.begin(), rtcp.begin() + 38) ==
        hex("81c8000bcafebabe7128035be487b9bdbef89041f977a5a880000001993e08cd54d6c1230798"));
  CHECK(in->unprotect_rtcp(rtcp, 38) == 24);
}

TEST_CASE("SRTP AEAD_AES_128_GCM matches libsrtp's known-answer packets") {
  const auto key = hex("000102030405060708090a0b0c0d0e0f" "a0a1a2a3a4a5a6a7a8a9aaab");
  auto out = SrtpContext::create(SrtpSuite::aead_aes_128_gcm, key, Dir::outbound);
  auto in = SrtpContext::create(SrtpSuite::aead_aes_128_gcm, key, Dir::inbound);
  REQUIRE(out);
  auto rtp = hex("800f1234decafbadcafebabe" "abababababababababababababababab");
  rtp.resize(rtp.size() + srtp_max_trailer);
  REQUIRE(out->protect_rtp(rtp, 28) == 44);
  CHECK(std::vector(rtp.begin(), rtp.begin() + 44) ==
        hex("800f1234decafbadcafebabec5002ede04cfdd2eb91159e0880aa06ed2976826f796b201df3131a127e8a392"));
  CHECK(in->unprotect_rtp(rtp, 44) == 28);

  auto rtcp = hex("81c8000bcafebabe" "abababababababababababababababab");
  rtcp.resize(rtcp.size() + srtp_max_trailer);
  REQUIRE(out->protect_rtcp(rtcp, 24) == 44);
  CHECK(std::vector(rtcp.begin(), rtcp.begin() + 44) ==
        hex("81c8000bcafebabec98b8b5df0392a55852b6c21ac8e7025c52c6fbea2b3b446ea31123ba88ce61e80000001"));
  CHECK(in->unprotect_rtcp(rtcp, 44) == 24);
}

TEST_CASE("SDES: an a=crypto inline key parsed from SDP keys working SRTP contexts") {
  // RFC 4568 §9.2's example key (without its MKI), in a whole SDP body.
  const std::string body =
      "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
      "m=audio 49170 RTP/SAVP 0\r\n"
      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20\r\n"
      "a=crypto:2 AEAD_AES_256_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis=\r\n";
  const auto parsed = sb::sdp::parse(body);
  REQUIRE(parsed);
  const auto& cryptos = parsed.session->media.at(0).cryptos;
  REQUIRE(cryptos.size() == 2);
  for (const auto& c : cryptos) {
    CAPTURE(c.suite);
    const auto key = sdes_key(c);
    REQUIRE(key);
    CHECK(sdes_name(key->suite) == c.suite);
    auto out = make_sdes_context(c, Dir::outbound);
    auto in = SrtpContext::create(key->suite, key->key_salt, Dir::inbound);
    REQUIRE(out);
    REQUIRE(in);
    auto p = rtp_packet(42);
    const int n = out->protect_rtp(p, 172);
    REQUIRE(n > 172);
    CHECK(in->unprotect_rtp(p, static_cast<std::size_t>(n)) == 172);
  }
  // Round trip through make_crypto, the form our own offers use.
  const auto k = key_for(SrtpSuite::aead_aes_128_gcm);
  const auto ours = sb::sdp::make_crypto(3, "AEAD_AES_128_GCM", std::string(k.begin(), k.end()));
  const auto back = sdes_key(ours);
  REQUIRE(back);
  CHECK(back->suite == SrtpSuite::aead_aes_128_gcm);
  CHECK(back->key_salt == k);
}

TEST_CASE("SDES: a key with an MKI, another suite or a bad key gives no SRTP key") {
  sb::sdp::Crypto c;
  c.tag = 1;
  c.suite = "AES_CM_128_HMAC_SHA1_80";
  c.key_params = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32";  // RFC 4568 §9.2
  CHECK_FALSE(sdes_key(c));
  CHECK_FALSE(make_sdes_context(c, Dir::inbound));
  c.key_params = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";
  CHECK(sdes_key(c));
  c.suite = "F8_128_HMAC_SHA1_80";
  CHECK_FALSE(sdes_key(c));
  c.suite = "AEAD_AES_128_GCM";  // 30 bytes is not 28
  CHECK_FALSE(sdes_key(c));
  c.suite = "AES_CM_128_HMAC_SHA1_32";
  c.key_params = "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB";  // bad base64 length
  CHECK_FALSE(sdes_key(c));
}

TEST_CASE("SRTP: libsrtp2 takes our HMAC-SHA1 (its self-tests and known answers pass against it)") {
  // A context first: srtp_init() runs and installs it (srtp.cpp). Installing again runs
  // libsrtp2's checks again and must succeed: a refusal would leave libsrtp2's own in place.
  const std::array<std::uint8_t, 30> key{};
  REQUIRE(SrtpContext::create(SrtpSuite::aes_cm_128_hmac_sha1_80, key, SrtpContext::Direction::outbound));
  CHECK(install_srtp_hmac());
}
