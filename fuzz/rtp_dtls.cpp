// libFuzzer target for src/rtp/dtls.{hpp,cpp} (DTLS-SRTP association) behind the RFC 7983
// first-byte demux of src/rtp/packet.hpp.
//
// Input: one role byte (bit 0: 0 = we are the server, 1 = the client, which starts with a
// ClientHello), then datagrams, each a 2-byte big-endian length and that many bytes (the last
// one may be short). A zero length steps the clock by one second and runs on_timer instead.
// Every datagram goes through classify(); non-DTLS ones must be counted as ignored, DTLS ones may
// do anything but crash, leak or break the invariants below.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//       -Isrc -I.deps/srtp/include fuzz/rtp_dtls.cpp src/rtp/dtls.cpp src/rtp/srtp.cpp \
//       src/rtp/packet.cpp .deps/srtp/lib/libsrtp2.a -lssl -lcrypto -o /tmp/fuzz_rtp_dtls
//   /tmp/fuzz_rtp_dtls fuzz/corpus/rtp_dtls
#include "fuzz_support.hpp"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>

#include "rtp/dtls.hpp"
#include "rtp/packet.hpp"

namespace {

using namespace sb::rtp;
using namespace std::chrono_literals;

using sb::fuzz::require;

// Generating an identity per input would dominate the run; one pair serves every input.
const std::shared_ptr<const DtlsIdentity>& ours() {
  static const auto id = DtlsIdentity::generate();
  return id;
}
const std::shared_ptr<const DtlsIdentity>& theirs() {
  static const auto id = DtlsIdentity::generate();
  return id;
}

void check(const DtlsSrtp& d) {
  const bool handshaking = d.state() == DtlsSrtp::State::handshaking;
  require(d.next_timer().has_value() == handshaking, "a timer exactly while handshaking");
  if (d.state() == DtlsSrtp::State::connected) {
    require(d.keys().has_value(), "connected means keys");
    const auto& k = *d.keys();
    const std::size_t n = master_key_length(k.suite) + master_salt_length(k.suite);
    require(k.local_key_salt.size() == n && k.remote_key_salt.size() == n, "key lengths");
  }
  if (d.state() == DtlsSrtp::State::failed) require(!d.error().empty(), "a failure says why");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool client = data[0] & 1;
  std::span<const std::uint8_t> in(data + 1, size - 1);

  DtlsSrtp::Options opt;
  opt.max_outgoing = 8;
  auto now = DtlsSrtp::Clock::time_point{} + 1000s;
  DtlsSrtp d(ours(), client ? DtlsSrtp::Role::client : DtlsSrtp::Role::server, "sha-256",
             theirs()->fingerprint_sha256(), opt, now);
  d.start(now);

  while (in.size() >= 2) {
    const std::size_t want = (std::size_t{in[0]} << 8) | in[1];
    in = in.subspan(2);
    if (want == 0) {
      now += 1s;
      d.on_timer(now);
    } else {
      const auto dg = in.first(std::min(want, in.size()));
      in = in.subspan(dg.size());
      const auto before = d.ignored_datagrams();
      const bool dtls = !dg.empty() && classify(dg[0]) == PacketKind::dtls;
      if (!dtls && !dg.empty() && classify(dg[0]) == PacketKind::rtp_or_rtcp) {
        (void)parse_rtp(dg);  // what the media leg would do with it instead
        (void)looks_like_rtcp(dg);
      }
      d.receive(dg, now);
      if (!dtls) require(d.ignored_datagrams() == before + 1, "non-DTLS datagrams are ignored");
    }
    const auto out = d.take_outgoing();
    require(out.size() <= opt.max_outgoing, "outgoing queue bound");
    for (const auto& o : out) {
      require(!o.empty() && o.size() <= 1200, "datagrams within the MTU");
      require(classify(o[0]) == PacketKind::dtls, "we only send DTLS");
    }
    check(d);
  }
  d.close();
  require(d.state() == DtlsSrtp::State::closed || d.state() == DtlsSrtp::State::failed, "close ends it");
  (void)d.take_outgoing();
  return 0;
}
