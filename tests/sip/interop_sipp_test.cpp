// REST dial against a real far end: sipp UAS scenarios (tests/sip/scenarios/*.xml) started by the
// test on a free port. Each test checks the SIP messages on the wire (the scenario's own checks
// and sipp's exit status), the call-monitoring webhook sequence, and the session events.
#include "support/sip_fixture.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
using verb = boost::beast::http::verb;
namespace json = boost::json;


TEST_CASE("interop: sipp answers then hangs up: ACTIVE, far-end BYE answered, 700, session events in order") {
  Sipp uas("uas_answer_bye.xml");
  Fixture f;
  auto r = f.dial(uri_for(uas));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callUpdated:RINGING",
                                                    "callUpdated:ACTIVE", "callUpdated:HANGUP", "callDestroyed:700"});
  // Session events bracket the call, and name its connection and stream.
  auto names = f.hooks.names();
  CHECK(names.front() == "connectionCreated");
  CHECK(names[1] == "streamCreated");
  auto events = f.hooks.events();
  CHECK(events[0].at("connection").as_object().at("id").as_string() == call.at("connectionId").as_string());
  CHECK(events[0].at("connection").as_object().at("data").as_string() == "who=sipp");
  CHECK(events[1].at("stream").as_object().at("id").as_string() == call.at("streamId").as_string());
  CHECK(names[names.size() - 3] == "streamDestroyed");
  CHECK(names[names.size() - 2] == "connectionDestroyed");
  CHECK(names.back() == "callDestroyed:700");
  for (auto& e : events)
    if (e.at("event").as_string().starts_with("call"))
      CHECK(e.at("call").as_object().at("id").as_string() == call.at("id").as_string());
  // The wire: our 200 to the far end's BYE, and the ACK to its 200.
  auto wire = uas.messages();
  CHECK(wire.find("ACK sip:uas@127.0.0.1") != std::string::npos);
  CHECK(wire.find("SIP/2.0 200 OK") != std::string::npos);
  // The connection and stream are gone from the session.
  auto list = f.server->call(verb::get, fmt::format("/v2/project/{}/session/{}/stream", kKey, f.sid));
  CHECK(json::parse(list.body).as_object().at("count").as_int64() == 0);
}

TEST_CASE("interop: sipp over TCP answers then hangs up on the same connection") {
  Sipp uas("uas_answer_bye.xml", true);
  Fixture f;
  REQUIRE(f.dial(uri_for(uas, "tcp")).status == 200);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:700");
  CHECK(uas.messages().find("SIP/2.0/TCP") != std::string::npos);
}

TEST_CASE("interop: a busy far end (486) ends the call with 486 after the ACK, never ACTIVE") {
  Sipp uas("uas_busy.xml");
  Fixture f;
  REQUIRE(f.dial(uri_for(uas)).status == 200);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:486"});
  auto destroyed = f.hooks.events().back();
  CHECK(destroyed.at("reason_message").as_string() == "Busy Here");
}

TEST_CASE("interop: 401 then 200: the INVITE is retried once with a valid digest (MD5, qop=auth)") {
  Sipp uas("uas_401.xml");
  Fixture f;
  REQUIRE(f.dial(uri_for(uas), R"(,"auth":{"username":"alice","password":"s3cret"})").status == 200);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callUpdated:ACTIVE",
                                                    "callUpdated:HANGUP", "callDestroyed:700"});
}

TEST_CASE("interop: 407 then 200: the INVITE is retried with Proxy-Authorization") {
  Sipp uas("uas_407.xml");
  Fixture f;
  REQUIRE(f.dial(uri_for(uas), R"(,"auth":{"username":"alice","password":"s3cret"})").status == 200);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:700");
}

TEST_CASE("interop: a wrong password is tried once: the second 401 ends the call with 401, no loop") {
  Sipp uas("uas_401_twice.xml");
  Fixture f;
  REQUIRE(f.dial(uri_for(uas), R"(,"auth":{"username":"alice","password":"wrong"})").status == 200);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());  // the scenario fails if a third INVITE comes
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:401"});
}

TEST_CASE("interop: force disconnect while ringing sends CANCEL, and the 487 ends the call") {
  Sipp uas("uas_ring_cancel.xml");
  Fixture f;
  auto r = f.dial(uri_for(uas));
  REQUIRE(r.status == 200);
  auto call = json::parse(r.body).as_object();
  REQUIRE(f.wait_state("RINGING"));
  auto del = f.force_disconnect(call.at("connectionId").as_string());
  CHECK(del.status == 204);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callUpdated:RINGING",
                                                    "callDestroyed:487"});
  CHECK(uas.messages().find("CANCEL sip:uas@127.0.0.1") != std::string::npos);
}

TEST_CASE("interop: force disconnect after the answer sends BYE and ends with 700") {
  Sipp uas("uas_answer_wait_bye.xml");
  Fixture f;
  auto r = f.dial(uri_for(uas));
  REQUIRE(r.status == 200);
  auto call = json::parse(r.body).as_object();
  REQUIRE(f.wait_state("ACTIVE"));
  auto del = f.force_disconnect(call.at("connectionId").as_string());
  CHECK(del.status == 204);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callUpdated:ACTIVE",
                                                    "callUpdated:HANGUP", "callDestroyed:700"});
  CHECK(uas.messages().find("BYE sip:uas@127.0.0.1") != std::string::npos);
}

TEST_CASE("interop: a sendonly re-INVITE is answered recvonly (ON_HOLD), sendrecv resumes (ACTIVE)") {
  Sipp uas("uas_hold.xml");
  Fixture f;
  REQUIRE(f.dial(uri_for(uas)).status == 200);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callUpdated:ACTIVE",
                                                    "callUpdated:ON_HOLD", "callUpdated:ACTIVE", "callUpdated:HANGUP",
                                                    "callDestroyed:700"});
}

TEST_CASE("interop: as session-timer refresher the gateway re-INVITEs within the interval (RFC 4028)") {
  Sipp uas("uas_session_timer.xml");
  Fixture f;
  REQUIRE(f.dial(uri_for(uas)).status == 200);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:700");
}

TEST_CASE("interop: no response at all: INVITE retransmitted with T1 doubling, then 408 by Timer B") {
  // A bound UDP socket that never answers stands in for a dead far end; it counts what arrives.
  boost::asio::io_context io;
  boost::asio::ip::udp::socket sink(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  Fixture f(50ms);  // T1 = 50 ms → Timer B = 3.2 s
  auto r = f.dial(fmt::format("sip:nobody@127.0.0.1:{}", sink.local_endpoint().port()));
  REQUIRE(r.status == 200);
  REQUIRE(f.wait_destroyed(10s));
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:408"});
  int invites = 0;
  sink.non_blocking(true);
  std::array<char, 4096> buf;
  boost::system::error_code ec;
  while (sink.receive(boost::asio::buffer(buf), 0, ec) > 0 && !ec) ++invites;
  // Sent at 0, 50, 150, 350, 750, 1550, 3150 ms: 7 copies before Timer B at 3200 ms.
  CHECK(invites == 7);
}

TEST_CASE("interop: the gateway answers no request outside its dialogs: an unsolicited INVITE is dropped and counted") {
  Fixture f;
  auto ports = f.server->app.sip_ports(0);
  boost::asio::io_context io;
  boost::asio::ip::udp::socket s(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  std::string invite =
      "INVITE sip:switchboard@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\n"
      "From: <sip:evil@x>;tag=1\r\nTo: <sip:switchboard@127.0.0.1>\r\nCall-ID: scan@x\r\nCSeq: 1 INVITE\r\n"
      "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
  s.send_to(boost::asio::buffer(invite), {boost::asio::ip::make_address("127.0.0.1"), ports[0]});
  s.send_to(boost::asio::buffer(std::string("garbage\r\n\r\n")), {boost::asio::ip::make_address("127.0.0.1"), ports[0]});
  std::this_thread::sleep_for(300ms);
  s.non_blocking(true);
  std::array<char, 2048> buf;
  boost::system::error_code ec;
  CHECK(s.receive(boost::asio::buffer(buf), 0, ec) == 0);  // nothing came back
  auto m = f.server->call(verb::get, "/metrics", "", {}, "");
  CHECK(m.body.find("switchboard_sip_dropped_total{reason=\"out_of_dialog\"} 1") != std::string::npos);
  CHECK(m.body.find("switchboard_sip_dropped_total{reason=\"malformed\"} 1") != std::string::npos);
}

TEST_CASE("interop: the maximum call duration ends an answered call with BYE and 705 Max Duration") {
  Sipp uas("uas_answer_wait_bye.xml");
  Fixture f(500ms, [](app::Config& c) { c.sip.max_call_duration = 2s; });
  REQUIRE(f.dial(uri_for(uas)).status == 200);
  REQUIRE(f.wait_destroyed(10s));
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:705");
  CHECK(f.hooks.events().back().at("reason_message").as_string() == "Max Duration");
}

TEST_CASE("interop: no media ever received ends the call with BYE and 704 Media Timeout") {
  Sipp uas("uas_answer_wait_bye.xml");  // sipp answers but sends no RTP
  Fixture f(500ms, [](app::Config& c) { c.sip.max_inactive = 2s; });
  REQUIRE(f.dial(uri_for(uas)).status == 200);
  REQUIRE(f.wait_destroyed(15s));
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:704");
}

TEST_CASE("interop: media that stops ends the call with 706 Max Inactive, not before the limit") {
  Sipp uas("uas_answer_wait_bye.xml");
  Fixture f(500ms, [](app::Config& c) { c.sip.max_inactive = 2s; });
  auto r = f.dial(uri_for(uas));
  REQUIRE(r.status == 200);
  REQUIRE(f.wait_state("ACTIVE"));
  // Send a few RTP packets to the gateway's RTP port (from its SDP offer, read off sipp's log).
  auto wire = uas.messages();
  auto m = wire.find("m=audio ");
  REQUIRE(m != std::string::npos);
  auto rtp_port = static_cast<std::uint16_t>(std::stoi(wire.substr(m + 8)));
  boost::asio::io_context io;
  boost::asio::ip::udp::socket s(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  std::array<unsigned char, 172> pkt{};
  pkt[0] = 0x80;  // RTP version 2, PT 0
  auto t0 = std::chrono::steady_clock::now();
  // From another port than sipp's SDP names (a NAT): the gateway accepts such a source after
  // three in-sequence packets (README "Media: latching"), so the sequence number counts up.
  for (int i = 0; i < 5; ++i) {
    pkt[3] = static_cast<unsigned char>(i);
    s.send_to(boost::asio::buffer(pkt), {boost::asio::ip::make_address("127.0.0.1"), rtp_port});
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(f.wait_destroyed(15s));
  CHECK(std::chrono::steady_clock::now() - t0 >= 2s);
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:706");
}

TEST_CASE("interop: observeForceMute: a session mute reaches the SIP party (muteForced), an unobserving one is left alone") {
  Sipp observing("uas_answer_wait_bye.xml"), deaf("uas_answer_wait_bye.xml");
  Fixture f;
  auto r1 = f.dial(uri_for(observing), R"(,"observeForceMute":true)");
  REQUIRE_MESSAGE(r1.status == 200, r1.body);
  auto r2 = f.dial(uri_for(deaf));
  REQUIRE_MESSAGE(r2.status == 200, r2.body);
  auto c1 = json::parse(r1.body).as_object(), c2 = json::parse(r2.body).as_object();
  REQUIRE(f.hooks.wait_for([](const auto& ev) {
    int active = 0;
    for (auto& e : ev)
      if (auto* s = e.if_contains("state"); s && s->as_string() == "ACTIVE") ++active;
    return active == 2;
  }, 10s));
  const auto mute_url = fmt::format("/v2/project/{}/session/{}/mute", kKey, f.sid);
  auto m = f.server->call(verb::post, mute_url, R"({"active":true,"excludedStreamIds":[]})");
  CHECK(m.status == 200);
  CHECK(m.body == "{}");
  REQUIRE(f.hooks.wait_for_event("muteForced", 5s));
  // Exactly one muteForced, naming the observing call.
  int muted = 0;
  for (auto& e : f.hooks.events())
    if (e.at("event").as_string() == "muteForced") {
      ++muted;
      CHECK(e.at("call").as_object().at("id").as_string() == c1.at("id").as_string());
    }
  CHECK(muted == 1);
  // Excluded streams are spared, and active:false lifts the mute (no second muteForced).
  auto un = f.server->call(verb::post, mute_url, R"({"active":false})");
  CHECK(un.status == 200);
  auto spared = f.server->call(verb::post, mute_url,
                               fmt::format(R"({{"excludedStreams":["{}"]}})", std::string(c1.at("streamId").as_string())));
  CHECK(spared.status == 200);
  // A stream mute of the observing party mutes it again.
  auto one = f.server->call(verb::post, fmt::format("/v2/project/{}/session/{}/stream/{}/mute", kKey, f.sid,
                                                    std::string(c1.at("streamId").as_string())), "");
  CHECK(one.status == 200);
  REQUIRE(f.hooks.wait_for([](const auto& ev) {
    int n = 0;
    for (auto& e : ev) n += e.at("event").as_string() == "muteForced";
    return n == 2;
  }, 5s));
  f.force_disconnect(c1.at("connectionId").as_string());
  f.force_disconnect(c2.at("connectionId").as_string());
  CHECK_MESSAGE(observing.finish() == 0, observing.errors());
  CHECK_MESSAGE(deaf.finish() == 0, deaf.errors());
}

TEST_CASE("interop: REST mute: unknown stream 404, bad bodies 400, empty body 200; dial streams must exist") {
  Fixture f;
  const auto base = fmt::format("/v2/project/{}/session/{}", kKey, f.sid);
  CHECK(f.server->call(verb::post, base + "/stream/nope/mute", "").status == 404);
  CHECK(f.server->call(verb::post, base + "/mute", R"({"active":"yes"})").status == 400);
  CHECK(f.server->call(verb::post, base + "/mute", R"({"excludedStreamIds":"x"})").status == 400);
  CHECK(f.server->call(verb::post, base + "/mute", "not json").status == 400);
  CHECK(f.server->call(verb::post, base + "/mute", "").status == 200);
  auto bad = f.dial("sip:uas@127.0.0.1:9", R"(,"streams":["no-such-stream"])");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("no-such-stream") != std::string::npos);
}
