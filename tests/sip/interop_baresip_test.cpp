// REST dial against a real SIP user agent: baresip 1.0.0 (tests/support/baresip.hpp), started by
// the test on free ports, auto-answering. Each test checks the call-monitoring webhook sequence,
// the session events around the call, and the wire as baresip logged it (its SIP trace and its
// call log lines).
#include "support/baresip.hpp"
#include "support/sip_fixture.hpp"

#include <doctest/doctest.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <thread>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
using verb = boost::beast::http::verb;
namespace json = boost::json;

namespace {

const std::vector<std::string> kAnsweredThenHungUp{"callCreated", "callUpdated:DIALING", "callUpdated:ACTIVE",
                                                   "callUpdated:HANGUP", "callDestroyed:700"};

// Call events with the optional RINGING (baresip sends 180 before its automatic 200) taken out;
// RINGING, when present, must come right after DIALING.
std::vector<std::string> call_events_no_ringing(Fixture& f) {
  auto ev = f.call_events();
  auto it = std::find(ev.begin(), ev.end(), "callUpdated:RINGING");
  if (it != ev.end()) {
    CHECK(it - ev.begin() == 2);
    ev.erase(it);
  }
  CHECK(std::count(ev.begin(), ev.end(), "callUpdated:RINGING") == 0);
  return ev;
}

bool wait_state(Fixture& f, std::string_view state, std::chrono::milliseconds t = 10s) {
  return f.hooks.wait_for(
      [&](const auto& ev) {
        for (auto& e : ev)
          if (auto* s = e.if_contains("state"); s && s->as_string() == state) return true;
        return false;
      },
      t);
}

bool saw_state(Fixture& f, std::string_view state) {
  auto ev = f.call_events();
  return std::find(ev.begin(), ev.end(), "callUpdated:" + std::string(state)) != ev.end();
}

// baresip's SIP trace (`-s`) heads each message with its hop, "TCP 127.0.0.1:A -> 127.0.0.1:B":
// the hop of the first message that starts with `start_line`, "" if there is none.
std::string hop_of(const std::string& log, std::string_view start_line) {
  auto at = log.find(std::string("\n") + std::string(start_line));
  if (at == std::string::npos || at == 0) return {};
  auto begin = log.rfind('\n', at - 1);
  begin = begin == std::string::npos ? 0 : begin + 1;
  auto hop = log.substr(begin, at - begin);
  if (!hop.empty() && hop.back() == '\r') hop.pop_back();
  return hop;
}

HttpReply force_disconnect(Fixture& f, const json::object& call) {
  return f.server->call(verb::delete_, fmt::format("/v2/project/{}/session/{}/connection/{}", kKey, f.sid,
                                                   std::string(call.at("connectionId").as_string())));
}

// Session events bracket the call: connection and stream created first, destroyed before the
// final callDestroyed; every call event names this call.
void check_session_events(Fixture& f, const json::object& call) {
  auto names = f.hooks.names();
  auto events = f.hooks.events();
  REQUIRE(names.size() >= 5);
  CHECK(names[0] == "connectionCreated");
  CHECK(names[1] == "streamCreated");
  CHECK(events[0].at("connection").as_object().at("id").as_string() == call.at("connectionId").as_string());
  CHECK(events[1].at("stream").as_object().at("id").as_string() == call.at("streamId").as_string());
  CHECK(names[names.size() - 3] == "streamDestroyed");
  CHECK(names[names.size() - 2] == "connectionDestroyed");
  CHECK(names.back().starts_with("callDestroyed"));
  for (auto& e : events)
    if (e.at("event").as_string().starts_with("call"))
      CHECK(e.at("call").as_object().at("id").as_string() == call.at("id").as_string());
  auto list = f.server->call(verb::get, fmt::format("/v2/project/{}/session/{}/stream", kKey, f.sid));
  CHECK(json::parse(list.body).as_object().at("count").as_int64() == 0);
}

// Dials `uri`, waits for ACTIVE and baresip's "Call established", force-disconnects through
// REST (the gateway sends BYE), and checks the whole call: webhooks, session events, and that
// baresip saw the BYE and ended its call.
// (Counts, not mere presence, in baresip's log: one baresip may serve several calls.)
void answered_then_disconnected(Baresip& uas, Fixture& f, const std::string& uri) {
  const auto established = uas.count("Call established");
  const auto closed = uas.count("session closed: Connection reset by peer");
  const auto byes = uas.count("BYE sip:");
  auto r = f.dial(uri);
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE_MESSAGE(wait_state(f, "ACTIVE"), fmt::format("{}", fmt::join(f.hooks.names(), ",")), "\n", uas.log());
  CHECK(uas.wait_log("Call established", 5s, established + 1));
  CHECK(force_disconnect(f, call).status == 204);
  REQUIRE(f.wait_destroyed(10s));
  CHECK(call_events_no_ringing(f) == kAnsweredThenHungUp);
  check_session_events(f, call);
  // baresip received our BYE and ended its side of the call.
  CHECK_MESSAGE(uas.wait_log("session closed: Connection reset by peer", 5s, closed + 1), uas.log());
  CHECK(uas.count("BYE sip:") >= byes + 1);  // more if a UDP retransmission crossed its 200
}

}  // namespace

TEST_CASE("interop: interop_baresip: UDP, baresip auto-answers, force disconnect sends BYE, 700") {
  Baresip uas;
  Fixture f;
  answered_then_disconnected(uas, f, uas.uri("uas", "udp"));
  // The wire as baresip saw it: our INVITE and BYE came over UDP, from our one SIP port.
  auto log = uas.log();
  CHECK(log.find("Via: SIP/2.0/UDP") != std::string::npos);
  CHECK(log.find("Via: SIP/2.0/TCP") == std::string::npos);
  auto invite = hop_of(log, "INVITE sip:uas@");
  CHECK(invite == fmt::format("UDP 127.0.0.1:{} -> 127.0.0.1:{}", f.server->app.sip_ports(0)[0], uas.port()));
  CHECK(hop_of(log, "BYE sip:uas-") == invite);
}

TEST_CASE("interop: interop_baresip: TCP, auto-answer, force disconnect sends BYE on the connection, 700") {
  Baresip uas;
  Fixture f;
  answered_then_disconnected(uas, f, uas.uri("uas", "tcp"));
  auto log = uas.log();
  CHECK(log.find("Via: SIP/2.0/TCP") != std::string::npos);
  CHECK(log.find("Via: SIP/2.0/UDP") == std::string::npos);
  // INVITE and BYE came over one TCP connection (same source port).
  auto invite = hop_of(log, "INVITE sip:uas@");
  CHECK(invite.starts_with("TCP 127.0.0.1:"));
  CHECK(hop_of(log, "BYE sip:uas-") == invite);
}

TEST_CASE("interop: interop_baresip: TLS with the certificate verified against the configured CA, 700") {
  Baresip uas;
  const std::string ca = uas.ca_file(), key = uas.key_file();
  Fixture f(500ms, [&](app::Config& c) {
    c.sip.tls_ca = ca;
    // A TLS listener of our own, so our Via and Contact carry a real TLS port (without one, see
    // the skipped test below). Its certificate (also our client certificate) is baresip's:
    // any will do, baresip does not ask for one.
    c.sip.tls_cert = ca;
    c.sip.tls_key = key;
  });
  answered_then_disconnected(uas, f, uas.uri("uas", "tls"));
  auto log = uas.log();
  CHECK(log.find("Via: SIP/2.0/TLS 127.0.0.1:" + std::to_string(f.server->app.sip_ports(0)[2])) != std::string::npos);
  CHECK(log.find("Via: SIP/2.0/UDP") == std::string::npos);
  CHECK(log.find("Via: SIP/2.0/TCP") == std::string::npos);
  auto invite = hop_of(log, "INVITE sip:uas@");
  CHECK(invite.starts_with("TLS 127.0.0.1:"));
  CHECK(hop_of(log, "BYE sip:uas-") == invite);
}

TEST_CASE("interop: interop_baresip: TLS dial-out without a TLS listener of our own") {
  Baresip uas;
  const std::string ca = uas.ca_file();
  Fixture f(500ms, [&](app::Config& c) { c.sip.tls_ca = ca; });
  answered_then_disconnected(uas, f, uas.uri("uas", "tls"));
  auto log = uas.log();
  CHECK(log.find("Via: SIP/2.0/TLS") != std::string::npos);
  CHECK(log.find("Via: SIP/2.0/TLS 127.0.0.1:0;") == std::string::npos);
  CHECK(log.find("127.0.0.1:0;transport=tls") == std::string::npos);
}

TEST_CASE("interop: interop_baresip: TLS to a certificate the gateway does not trust never reaches baresip") {
  Baresip uas;
  Fixture f;  // the system store: baresip's self-signed certificate is not in it
  REQUIRE(f.dial(uas.uri("uas", "tls")).status == 200);
  REQUIRE(f.wait_destroyed(10s));
  auto ev = f.call_events();
  REQUIRE(ev.size() == 3);
  CHECK(ev[0] == "callCreated");
  CHECK(ev[1] == "callUpdated:DIALING");
  CHECK(ev[2] == "callDestroyed:503");
  CHECK(uas.log().find("INVITE sip:uas@") == std::string::npos);
}

TEST_CASE("interop: interop_baresip: baresip hangs up first (end of its audio file): far-end BYE, 700") {
  // aufile does not loop: at end of file `menu` hangs the call up, about 1–2 s after the answer.
  Baresip::Options o;
  o.source_seconds = 1;
  Baresip uas(o);
  Fixture f;
  auto r = f.dial(uas.uri("uas", "udp"));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE_MESSAGE(f.wait_destroyed(10s), uas.log());
  CHECK(call_events_no_ringing(f) == kAnsweredThenHungUp);
  check_session_events(f, call);
  // baresip ran out of audio, sent the BYE (to our Contact), and got our 200 for it.
  CHECK(uas.log().find("menu: audio error (0,end of file)") != std::string::npos);
  CHECK_MESSAGE(uas.wait_log_until(
                    [](const std::string& log) {
                      auto bye = log.find("BYE sip:switchboard@127.0.0.1");
                      return bye != std::string::npos && log.find("SIP/2.0 200 OK", bye) != std::string::npos;
                    },
                    5s),
                uas.log());
}

TEST_CASE("interop: interop_baresip: secure media, SDES (srtp-mand) answer is accepted and the call is ACTIVE") {
  Baresip::Options o;
  o.accounts = {{"srtp", ";mediaenc=srtp-mand"}};
  Baresip uas(o);
  Fixture f;
  auto r = f.dial(uas.uri("srtp", "udp"), R"(,"secure":true)");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE_MESSAGE(wait_state(f, "ACTIVE"), fmt::format("{}", fmt::join(f.hooks.names(), ",")), "\n", uas.log());
  auto log = uas.log();
  // Our offer was RTP/SAVP with crypto lines; baresip chose one and runs SRTP with it.
  CHECK(uas.count("RTP/SAVP ") == 2);  // our offer and its answer
  CHECK(log.find("SRTP is Enabled (cryptosuite=") != std::string::npos);
  CHECK(force_disconnect(f, call).status == 204);
  REQUIRE(f.wait_destroyed(10s));
  CHECK(call_events_no_ringing(f) == kAnsweredThenHungUp);
  check_session_events(f, call);
}

TEST_CASE("interop: interop_baresip: secure media against a plain-RTP far end: baresip refuses with 488, never ACTIVE") {
  Baresip::Options o;
  o.accounts = {{"plain", ""}};
  Baresip uas(o);
  Fixture f;
  auto r = f.dial(uas.uri("plain", "udp"), R"(,"secure":true)");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE_MESSAGE(f.wait_destroyed(10s), uas.log());
  CHECK_FALSE(saw_state(f, "ACTIVE"));
  CHECK(call_events_no_ringing(f) == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:488"});
  check_session_events(f, call);
  // baresip 1.0.0 without mediaenc refuses an RTP/SAVP offer itself.
  auto log = uas.log();
  CHECK(log.find("SIP/2.0 488 Not Acceptable Here") != std::string::npos);
  CHECK(log.find("SIP/2.0 200 ") == std::string::npos);
}

TEST_CASE("interop: interop_baresip: secure media on the default config reaches a DTLS-only far end by re-INVITE") {
  // baresip 1.0.0 with mediaenc=dtls_srtp answers the default SDES offer 200 with no keying at
  // all. The gateway ACKs, re-offers DTLS-SRTP by re-INVITE in the same dialog (the phone rang
  // once and stays answered), and the call becomes ACTIVE on DTLS keys — never in the clear.
  Baresip::Options o;
  o.accounts = {{"dtls", ";mediaenc=dtls_srtp"}};
  Baresip uas(o);
  Fixture f;  // media.keying: the default (SDES)
  auto r = f.dial(uas.uri("dtls", "udp"), R"(,"secure":true)");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE_MESSAGE(wait_state(f, "ACTIVE"), fmt::format("{}", fmt::join(f.hooks.names(), ",")), "\n", uas.log());
  // The keys are DTLS's: the call's media stats say so once the handshake is done.
  std::string stats;
  for (int i = 0; i < 50; ++i) {
    stats = f.server->call(verb::get, fmt::format("/v2/project/{}/call/{}/stats", kKey,
                                                  std::string(call.at("id").as_string()))).body;
    if (stats.find(R"("packetsReceived":0,)") == std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  CHECK_MESSAGE(stats.find(R"("keying":"dtls")") != std::string::npos, stats);
  CHECK_MESSAGE(stats.find(R"("packetsReceived":0,)") == std::string::npos, stats);
  CHECK(force_disconnect(f, call).status == 204);
  REQUIRE(f.wait_destroyed(10s));
  CHECK(call_events_no_ringing(f) == kAnsweredThenHungUp);
  check_session_events(f, call);
  auto log = uas.log();
  // One initial INVITE (SDES, answered in the clear), then the re-INVITE offering DTLS in the
  // same dialog (its To carries baresip's tag), answered with a fingerprint.
  const auto first = log.find("INVITE sip:dtls@");
  REQUIRE(first != std::string::npos);
  const auto ok = log.find("SIP/2.0 200 ", first);
  REQUIRE(ok != std::string::npos);
  const auto reinvite = log.find("INVITE sip:dtls-", ok);  // to its Contact: in the dialog
  REQUIRE_MESSAGE(reinvite != std::string::npos, log);
  CHECK(log.find("a=crypto:", first) < ok);                            // our first offer: SDES;
  CHECK(log.find("a=crypto:", ok) == std::string::npos);               // no crypto since then;
  CHECK(log.find("UDP/TLS/RTP/SAVP", reinvite) != std::string::npos);  // the re-offer is DTLS
  CHECK(log.find("a=fingerprint:", log.find("SIP/2.0 200 ", reinvite)) != std::string::npos);
  CHECK(log.find("DTLS-SRTP complete (audio/RTP)", reinvite) != std::string::npos);
  CHECK(uas.count("INVITE sip:") == 2);
  CHECK_MESSAGE(uas.wait_log("session closed: Connection reset by peer", 5s), uas.log());
}

TEST_CASE("interop: interop_baresip: secure media, keying fallback off: a 200 without crypto is refused (BYE, 488)") {
  // The same far end with `media.keying_fallback: false`: nothing else may be offered, so the
  // call that was answered in the clear is hung up and reported 488 — never carried in the clear.
  Baresip::Options o;
  o.accounts = {{"dtls", ";mediaenc=dtls_srtp"}};
  Baresip uas(o);
  Fixture f(500ms, [](app::Config& c) { c.media.keying_fallback = false; });
  auto r = f.dial(uas.uri("dtls", "udp"), R"(,"secure":true)");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE_MESSAGE(f.wait_destroyed(10s), uas.log());
  CHECK_FALSE(saw_state(f, "ACTIVE"));
  auto ev = call_events_no_ringing(f);
  CHECK(ev == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:488"});
  check_session_events(f, call);
  CHECK_MESSAGE(uas.wait_log("session closed: Connection reset by peer", 5s), uas.log());
  auto log = uas.log();
  auto ok = log.find("SIP/2.0 200 ");
  REQUIRE(ok != std::string::npos);
  CHECK(log.find("a=crypto:", ok) == std::string::npos);  // the answer really is unencrypted
  CHECK(log.find("ACK sip:dtls-", ok) != std::string::npos);
  CHECK(log.find("BYE sip:dtls-", ok) != std::string::npos);
  CHECK(uas.count("INVITE sip:") == 1);
}

TEST_CASE("interop: interop_baresip: each codec baresip is limited to (PCMU, PCMA, G.722, Opus) gets ACTIVE") {
  struct Case {
    const char* user;
    const char* codecs;
    const char* encoder;  // baresip's log line once the call's codec is chosen
  };
  const Case cases[] = {{"pcmu", "pcmu", "Set audio encoder: PCMU 8000Hz"},
                        {"pcma", "pcma", "Set audio encoder: PCMA 8000Hz"},
                        {"g722", "g722/16000/1", "Set audio encoder: G722 16000Hz"},
                        {"opus", "opus/48000/2", "Set audio encoder: opus 48000Hz"}};
  Baresip::Options o;
  o.accounts.clear();
  for (const auto& c : cases) o.accounts.push_back({c.user, std::string(";audio_codecs=") + c.codecs});
  Baresip uas(o);
  for (const auto& c : cases) {
    CAPTURE(c.user);
    Fixture f;
    answered_then_disconnected(uas, f, uas.uri(c.user, "udp"));
    CHECK_MESSAGE(uas.count(c.encoder) == 1, uas.log());
  }
  // Every INVITE (retransmissions included) offered all four, Opus first, then RFC 4733 events
  // at 48 and 8 kHz.
  CHECK(uas.count("\nINVITE sip:") >= std::size(cases));
  CHECK(uas.count(" RTP/AVP 111 9 0 8 110 101\r\n") == uas.count("\nINVITE sip:"));
}
