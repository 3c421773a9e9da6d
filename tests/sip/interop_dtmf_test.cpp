// DTMF against real peers. In: sipp plays RFC 4733 events (a pcap this test writes from the
// project's own sender) and sends INFO application/dtmf-relay and application/dtmf; every digit
// must come out as one `dtmf` call webhook, in order. Out: play-dtmf through REST to baresip,
// whose own log must show the digits in order.
#include "rtp/dtmf.hpp"
#include "rtp/packet.hpp"
#include "support/baresip.hpp"
#include "support/sip_fixture.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
using verb = boost::beast::http::verb;
namespace json = boost::json;

namespace {

// A libpcap file (Ethernet/IPv4/UDP) of the telephone-event packets our own RFC 4733 sender
// makes for `digits` at 8 kHz, payload type 101, one packet per 20 ms tick (audio ticks left
// out: sipp sends only these). sipp's play_pcap_audio re-addresses them and keeps the timing.
void write_dtmf_pcap(const std::string& path, std::string_view digits) {
  rtp::DtmfSender tx(rtp::DtmfSenderConfig{8000, 101, 20, {}});
  REQUIRE(tx.enqueue(digits));
  std::ofstream out(path, std::ios::binary);
  auto put = [&](const void* p, std::size_t n) { out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); };
  auto u16be = [](std::uint8_t* p, std::uint16_t v) { p[0] = v >> 8, p[1] = v & 0xFF; };
  const std::uint32_t hdr[] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};  // v2.4, Ethernet
  put(hdr, sizeof hdr);
  std::uint16_t seq = 1000;
  std::uint32_t ts = 160000, sec = 1000, usec = 0;
  for (int tick = 0; tick < 200 && !tx.idle(); ++tick, ts += 160, usec += 20000) {
    if (usec >= 1000000) usec -= 1000000, ++sec;
    const auto p = tx.next(ts);
    if (!p) continue;
    rtp::RtpHeader h;
    h.payload_type = p->payload_type;
    h.marker = p->marker;
    h.seq = seq++;
    h.timestamp = p->timestamp;
    h.ssrc = 0x5EED0001;
    std::array<std::uint8_t, 64> rtp_buf{};
    const auto rtp_len = rtp::write_rtp(rtp_buf, h, p->payload);
    REQUIRE(rtp_len == 16);
    std::array<std::uint8_t, 14 + 20 + 8> l2{};
    l2[12] = 0x08;  // IPv4
    auto* ip = l2.data() + 14;
    ip[0] = 0x45;
    u16be(ip + 2, static_cast<std::uint16_t>(20 + 8 + rtp_len));
    ip[8] = 64, ip[9] = 17;  // TTL, UDP
    ip[12] = 127, ip[15] = 1, ip[16] = 127, ip[19] = 1;
    auto* udp = ip + 20;
    u16be(udp, 4000), u16be(udp + 2, 4002), u16be(udp + 4, static_cast<std::uint16_t>(8 + rtp_len));
    const std::uint32_t rec[] = {sec, usec, static_cast<std::uint32_t>(l2.size() + rtp_len),
                                 static_cast<std::uint32_t>(l2.size() + rtp_len)};
    put(rec, sizeof rec);
    put(l2.data(), l2.size());
    put(rtp_buf.data(), rtp_len);
  }
  REQUIRE(tx.idle());
}

std::vector<json::object> dtmf_events(Fixture& f) {
  std::vector<json::object> out;
  for (auto& e : f.hooks.events())
    if (e.at("event").as_string() == "dtmf") out.push_back(e);
  return out;
}

}  // namespace

TEST_CASE("interop: sipp's RFC 4733 *6 and INFO digits each become one dtmf webhook, in order") {
  // sipp reads the pcap at start-up from its working directory (Sipp's, made here first).
  const auto dir = std::filesystem::temp_directory_path() / ("sb-sipp-" + std::to_string(::getpid()) + "-uas_dtmf.xml");
  std::filesystem::create_directories(dir);
  write_dtmf_pcap((dir / "dtmf.pcap").string(), "*6");
  Sipp uas("uas_dtmf.xml");
  Fixture f;
  auto r = f.dial(uri_for(uas), R"(,"observeForceMute":true)");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  const auto call = json::parse(r.body).as_object();
  REQUIRE(f.wait_destroyed(15s));
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  const auto ev = dtmf_events(f);
  std::string digits, methods;
  for (auto& e : ev) {
    digits += std::string(e.at("digit").as_string());
    methods += std::string(e.at("method").as_string()) + ",";
    CHECK(e.at("call").as_object().at("id").as_string() == call.at("id").as_string());
    CHECK(e.at("call").as_object().at("connectionId").as_string() == call.at("connectionId").as_string());
    CHECK(e.at("sessionId").as_string() == f.sid);
  }
  CHECK_MESSAGE(digits == "*65#", fmt::format("{}", fmt::join(f.hooks.names(), ",")));
  CHECK(methods == "rfc4733,rfc4733,info,info,");
  REQUIRE(ev.size() == 4);
  CHECK(ev[0].at("duration").as_int64() == 100);  // the sender's 100 ms tone, from the end packet
  CHECK(ev[2].at("duration").as_int64() == 160);  // INFO's Duration
  CHECK(ev[3].at("duration").as_int64() == 0);    // application/dtmf has none
  // In order with the call's other events: after ACTIVE, before the end; every INFO got a 200.
  const auto names = f.hooks.names();
  const auto first = std::find(names.begin(), names.end(), "dtmf") - names.begin();
  const auto active = std::find(names.begin(), names.end(), "callUpdated:ACTIVE") - names.begin();
  const auto hangup = std::find(names.begin(), names.end(), "callUpdated:HANGUP") - names.begin();
  CHECK(active < first);
  CHECK(first + 4 <= hangup);
  // observeForceMute: the RFC 4733 `*6` muted the party (muteForced after the `6`); the INFO
  // digits that follow (`5#`) toggle nothing (SPEC §7: RFC 4733 only).
  const auto muted = std::find(names.begin(), names.end(), "muteForced") - names.begin();
  CHECK(std::count(names.begin(), names.end(), "muteForced") == 1);
  CHECK(muted > first + 1);
  CHECK(muted < hangup);
}

TEST_CASE("interop: play-dtmf reaches baresip as RFC 4733 events, digits in order, across two requests") {
  Baresip uas(Baresip::Options{.accounts = {Baresip::Account{"uas", ";audio_codecs=pcmu"}}, .record = false,
                               .verbose = true});
  Fixture f;
  auto r = f.dial(uas.uri());
  REQUIRE_MESSAGE(r.status == 200, r.body);
  const auto call = json::parse(r.body).as_object();
  REQUIRE(f.wait_state("ACTIVE"));
  const auto base = fmt::format("/v2/project/{}/session/{}", kKey, f.sid);
  const auto cid = std::string(call.at("connectionId").as_string());
  // One leg by connection, then the whole session: the second request is appended.
  auto a = f.server->call(verb::post, base + "/connection/" + cid + "/play-dtmf", R"({"digits":"1*9"})");
  CHECK(a.status == 200);
  CHECK(a.body == "{}");
  CHECK(f.server->call(verb::post, base + "/play-dtmf", R"({"digits":"p#0"})").status == 200);
  // 5 digits of 100 + 80 ms and a 500 ms pause: about 1.4 s.
  const bool all = uas.wait_log_until([](const std::string& log) { return log.find("'0' (end=1)") != std::string::npos; }, 5s);
  CHECK_MESSAGE(all, uas.log());
  // baresip logs each event's packets; take the digit of each event's end.
  std::string got;
  const auto log = uas.log();
  constexpr std::string_view kEnd = "(end=1)";
  for (auto at = log.find(kEnd); at != std::string::npos; at = log.find(kEnd, at + 1)) {
    const auto q = log.rfind("event: '", at);
    if (q != std::string::npos && q + 8 < log.size()) got += log[q + 8];
  }
  CHECK(got == "1*9#0");
  CHECK(f.force_disconnect(cid).status == 204);
  REQUIRE(f.wait_destroyed(10s));
  // The leg is gone: the connection is no longer a connected SIP leg.
  CHECK(f.server->call(verb::post, base + "/connection/" + cid + "/play-dtmf", R"({"digits":"1"})").status == 404);
}
