// libFuzzer target for SDES keying: src/sdp a=crypto parsing and decode_inline_key, then
// src/rtp/sdes.{hpp,cpp} and SrtpContext::create (src/rtp/srtp.{hpp,cpp}).
//
// Each input is one or more a=crypto values (one per line, without "a=crypto:"), put into a
// minimal SDP body and parsed. Every parsed crypto line goes to decode_inline_key, sdes_key and
// SrtpContext; a context that is created must round-trip a packet, and must refuse the raw input
// as an SRTP/SRTCP packet unless it happens to authenticate. The input is also split by hand
// (tag, suite, key-params) so decode_inline_key sees values the SDP grammar would refuse.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//       -Isrc -I.deps/srtp/include fuzz/sdp_crypto.cpp src/rtp/sdes.cpp src/rtp/srtp.cpp \
//       src/sdp/sdp.cpp src/base/encoding.cpp .deps/srtp/lib/libsrtp2.a -lssl -lcrypto \
//       -o /tmp/fuzz_sdp_crypto
//   /tmp/fuzz_sdp_crypto fuzz/corpus/sdp_crypto
#include "fuzz_support.hpp"
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "rtp/sdes.hpp"
#include "rtp/srtp.hpp"
#include "sdp/sdp.hpp"

namespace {

using namespace sb;

using sb::fuzz::require;

void exercise(const sdp::Crypto& c, std::string_view raw) {
  const auto inline_key = sdp::decode_inline_key(c);
  const auto key = rtp::sdes_key(c);
  if (!key) return;
  require(inline_key.has_value() && inline_key->mki.empty(), "sdes_key only where decode_inline_key agrees");
  require(rtp::sdes_name(key->suite).size() == c.suite.size(), "suite from the crypto line");
  require(key->key_salt.size() == rtp::master_key_length(key->suite) + rtp::master_salt_length(key->suite),
          "key length per suite");
  auto out = rtp::make_sdes_context(c, rtp::SrtpContext::Direction::outbound);
  auto in = rtp::SrtpContext::create(key->suite, key->key_salt, rtp::SrtpContext::Direction::inbound);
  require(out && in, "a valid key makes contexts");

  std::array<std::uint8_t, 64 + rtp::srtp_max_trailer> pkt{};
  pkt[0] = 0x80;
  pkt[3] = 1;
  pkt[11] = 7;
  const int n = out->protect_rtp(pkt, 64);
  require(n > 64, "protect");
  require(in->unprotect_rtp(pkt, static_cast<std::size_t>(n)) == 64, "round trip");

  // The raw input as a received SRTP and SRTCP packet: anything but a crash.
  std::vector<std::uint8_t> junk(raw.begin(), raw.end());
  (void)in->unprotect_rtp(junk, junk.size());
  junk.assign(raw.begin(), raw.end());
  (void)in->unprotect_rtcp(junk, junk.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);

  std::string body =
      "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n";
  std::string_view rest = raw;
  while (!rest.empty()) {
    const std::size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    body.append("a=crypto:").append(line).append("\r\n");
  }
  if (const auto parsed = sdp::parse(body))
    for (const auto& m : parsed.session->media)
      for (const auto& c : m.cryptos) exercise(c, raw);

  // By hand: "<tag> <suite> <key-params>" with no grammar checks.
  sdp::Crypto c;
  std::string_view line = raw.substr(0, raw.find('\n'));
  const std::size_t a = line.find(' ');
  if (a != std::string_view::npos) {
    const std::size_t b = line.find(' ', a + 1);
    c.suite = std::string(line.substr(a + 1, b == std::string_view::npos ? std::string_view::npos : b - a - 1));
    if (b != std::string_view::npos) c.key_params = std::string(line.substr(b + 1));
    exercise(c, raw);
  }
  return 0;
}
