// REST dial through a real authenticating, Record-Routing proxy: kamailio 5.6 (auth_db over
// sqlite, 407 with qop=auth, record_route, loose_route) in front of a sipp UAS. The proxy checks
// the gateway's Proxy-Authorization digest for real (sipp cannot verify a 407 digest), and the
// in-dialog requests must follow the route set the proxy recorded (RFC 3261 §12.2.1.1, §16.12).
#include "support/kamailio.hpp"
#include "support/sip_fixture.hpp"

#include <doctest/doctest.h>

#include <sstream>
#include <thread>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
using verb = boost::beast::http::verb;
namespace json = boost::json;

namespace {

// The messages sipp logged as received (-trace_msg), whole, in order.
std::vector<std::string> received_messages(const std::string& log) {
  std::vector<std::string> out;
  const std::string sep = "-----------------------------------------------";
  std::size_t pos = 0;
  while ((pos = log.find(sep, pos)) != std::string::npos) {
    auto next = log.find(sep, pos + sep.size());
    auto block = log.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    pos = next == std::string::npos ? log.size() : next;
    if (block.find("message received") == std::string::npos) continue;
    auto body = block.find("\n\n");
    if (body != std::string::npos) out.push_back(block.substr(body + 2));
  }
  return out;
}

// The first received message whose start line begins with `start` ("" if none).
std::string received(const Sipp& s, std::string_view start) {
  for (auto& m : received_messages(s.messages()))
    if (m.rfind(start, 0) == 0) return m;
  return {};
}

// Every value of header `name` in a message, one per line as sent (case-sensitive name).
std::vector<std::string> header_values(const std::string& msg, std::string_view name) {
  std::vector<std::string> out;
  std::istringstream in(msg);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;  // end of headers
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 && line[name.size()] == ':') {
      auto v = line.substr(name.size() + 1);
      v.erase(0, v.find_first_not_of(' '));
      out.push_back(v);
    }
  }
  return out;
}

bool wait_state(Fixture& f, std::string_view state, std::chrono::milliseconds t) {
  return f.hooks.wait_for([&](const auto& ev) {
    for (auto& e : ev)
      if (auto* s = e.if_contains("state"); s && s->as_string() == state) return true;
    return false;
  }, t);
}

HttpReply force_disconnect(Fixture& f, const json::object& call) {
  return f.server->call(verb::delete_, fmt::format("/v2/project/{}/session/{}/connection/{}", kKey, f.sid,
                                                   std::string(call.at("connectionId").as_string())));
}

// Dials `uri` with alice's credentials, waits for ACTIVE, force-disconnects (the gateway sends
// BYE) and waits for the call's end.
void call_and_hang_up(Fixture& f, const Kamailio& kam, const std::string& uri) {
  auto r = f.dial(uri, R"(,"auth":{"username":"alice","password":"s3cret"})");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE(wait_state(f, "ACTIVE", 10s));
  // The ACK and the BYE both cross kamailio, whose UDP workers may relay them out of order; sipp
  // aborts on a BYE before the ACK. Hang up once kamailio has relayed the ACK (bounded wait).
  for (auto until = std::chrono::steady_clock::now() + 5s; kam.count("ACK") == 0 && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(50ms);
  CHECK(force_disconnect(f, call).status == 204);
  REQUIRE(f.wait_destroyed(10s));
}

}  // namespace

TEST_CASE("interop: interop_proxy: kamailio challenges 407, the digest passes, and BYE follows the Record-Route") {
  Sipp uas("proxied_answer_wait_bye.xml");
  // The gateway's default From is sip:switchboard@127.0.0.1: the proxy's realm is $fd = 127.0.0.1.
  Kamailio kam({.next_hop_port = uas.port, .subscribers = {{"alice", "127.0.0.1", "s3cret"}}});
  Fixture f;
  auto r = f.dial(kam.uri(), R"(,"auth":{"username":"alice","password":"s3cret"})");
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE_MESSAGE(wait_state(f, "ACTIVE", 10s), kam.log());
  // As in call_and_hang_up: a BYE overtaking the ACK inside kamailio makes sipp abort.
  for (auto until = std::chrono::steady_clock::now() + 5s; kam.count("ACK") == 0 && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(50ms);
  CHECK(force_disconnect(f, call).status == 204);
  REQUIRE(f.wait_destroyed(10s));
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callUpdated:RINGING",
                                                    "callUpdated:ACTIVE", "callUpdated:HANGUP", "callDestroyed:700"});

  // The proxy: one INVITE without credentials (challenged), one with (authorized), and the
  // dialog's ACK and BYE, each with the Route the proxy recorded.
  auto gw_port = f.server->app.sip_ports(0)[0];
  // kamailio's record_route(): <sip:IP:PORT;lr;ftag=FROM-TAG> (rr's append_fromtag).
  const std::string rr = fmt::format("<sip:127.0.0.1:{};lr;ftag=", kam.port);
  INFO("kamailio requests:\n" << kam.request_lines());
  CHECK(kam.count("INVITE") == 2);
  CHECK(kam.count("INVITE", "pauth=[<null>]") == 1);
  CHECK(kam.count("INVITE", R"(pauth=[Digest username="alice", realm="127.0.0.1")") == 1);
  CHECK(kam.lines_after("SB-CHALLENGE ").size() == 1);
  CHECK(kam.lines_after("SB-AUTHORIZED ") == std::vector<std::string>{"INVITE user=alice"});
  CHECK(kam.count("ACK", "route=[" + rr) == 1);
  CHECK(kam.count("BYE", fmt::format("src=udp:127.0.0.1:{} ", gw_port)) == 1);
  CHECK(kam.count("BYE", "route=[" + rr) == 1);
  CHECK(kam.count("BYE", fmt::format("ruri=sip:uas@127.0.0.1:{};transport=UDP", uas.port)) == 1);

  // The far end: the INVITE came through the proxy with a Record-Route and without the
  // consumed credentials; the BYE came through the proxy too (its Via on top, ours below), its
  // Route used up by the proxy.
  auto invite = received(uas, "INVITE ");
  REQUIRE(!invite.empty());
  auto record_route = header_values(invite, "Record-Route");
  REQUIRE(record_route.size() == 1);
  CHECK(record_route[0].starts_with(rr));
  CHECK(header_values(invite, "Proxy-Authorization").empty());
  auto bye = received(uas, "BYE ");
  REQUIRE_MESSAGE(!bye.empty(), uas.messages());
  auto vias = header_values(bye, "Via");
  INFO("BYE Vias: " << (vias.size() > 1 ? vias[0] + " | " + vias[1] : std::string()));
  REQUIRE(vias.size() == 2);
  CHECK(vias[0].starts_with(fmt::format("SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK", kam.port)));
  CHECK(vias[1].starts_with(fmt::format("SIP/2.0/UDP 127.0.0.1:{};", gw_port)));  // ours, with received/rport
  CHECK(header_values(bye, "Route").empty());
  auto ack = received(uas, "ACK ");
  REQUIRE(!ack.empty());
  auto ack_vias = header_values(ack, "Via");
  REQUIRE(!ack_vias.empty());
  CHECK(ack_vias[0].starts_with(fmt::format("SIP/2.0/UDP 127.0.0.1:{};", kam.port)));
}

TEST_CASE("interop: interop_proxy: a wrong password is answered once and ends the call with 407, nothing relayed") {
  // A bound UDP socket as the next hop: nothing may reach it.
  boost::asio::io_context io;
  boost::asio::ip::udp::socket sink(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  Kamailio kam({.next_hop_port = sink.local_endpoint().port(), .subscribers = {{"alice", "127.0.0.1", "s3cret"}}});
  Fixture f;
  REQUIRE(f.dial(kam.uri(), R"(,"auth":{"username":"alice","password":"wrong"})").status == 200);
  REQUIRE(f.wait_destroyed(10s));
  CHECK(f.call_events() == std::vector<std::string>{"callCreated", "callUpdated:DIALING", "callDestroyed:407"});
  CHECK(f.hooks.events().back().at("reason_message").as_string() == "Proxy Authentication Required");
  // A third INVITE would come at once after the second 407; give it time to show up.
  std::this_thread::sleep_for(500ms);
  INFO("kamailio requests:\n" << kam.request_lines());
  CHECK(kam.count("INVITE") == 2);  // the first, and exactly one retry with credentials
  CHECK(kam.count("INVITE", R"(pauth=[Digest username="alice")") == 1);
  CHECK(kam.lines_after("SB-CHALLENGE ").size() == 2);
  CHECK(kam.lines_after("SB-AUTHORIZED ").empty());
  sink.non_blocking(true);
  std::array<char, 4096> buf;
  boost::system::error_code ec;
  CHECK(sink.receive(boost::asio::buffer(buf), 0, ec) == 0);
}

TEST_CASE("interop: interop_proxy: over TCP the proxy double-Record-Routes and the BYE goes back over TCP") {
  Sipp uas("proxied_answer_wait_bye.xml");
  Kamailio kam({.next_hop_port = uas.port, .subscribers = {{"alice", "127.0.0.1", "s3cret"}}});
  Fixture f;
  call_and_hang_up(f, kam, kam.uri("uas", "tcp"));
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:700");
  INFO("kamailio requests:\n" << kam.request_lines());
  CHECK(kam.count("INVITE", "src=tcp:") == 2);
  // TCP in, UDP out: kamailio records both sides (r2=on); the UAC's route set starts with the
  // TCP one, so ACK and BYE go to the proxy over TCP (RFC 3261 §12.2.1.1, RFC 5658).
  CHECK(kam.count("ACK", "src=tcp:") == 1);
  CHECK(kam.count("BYE", "src=tcp:") == 1);
  CHECK(kam.count("BYE", fmt::format("route=[<sip:127.0.0.1:{};transport=tcp;r2=on;lr;ftag=", kam.port)) == 1);
  auto bye = received(uas, "BYE ");
  REQUIRE_MESSAGE(!bye.empty(), uas.messages());
  auto vias = header_values(bye, "Via");
  INFO("BYE Vias: " << (vias.size() > 1 ? vias[0] + " | " + vias[1] : std::string()));
  REQUIRE(vias.size() == 2);
  CHECK(vias[0].starts_with(fmt::format("SIP/2.0/UDP 127.0.0.1:{};", kam.port)));
  CHECK(vias[1].starts_with("SIP/2.0/TCP 127.0.0.1:"));
  CHECK(header_values(bye, "Route").empty());
}

TEST_CASE("interop: interop_proxy: the BYE follows a Record-Route that names another address of the proxy") {
  Sipp uas("proxied_answer_wait_bye.xml");
  Kamailio kam({.next_hop_port = uas.port, .subscribers = {{"alice", "127.0.0.1", "s3cret"}}, .record_second = true});
  Fixture f;
  call_and_hang_up(f, kam, kam.uri());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:700");
  INFO("kamailio requests:\n" << kam.request_lines());
  CHECK(kam.count("INVITE", fmt::format("dst={} ", kam.port)) == 2);
  // In the dialog the route set decides the next hop (RFC 3261 §12.2.1.1): the recorded address.
  CHECK(kam.count("BYE", fmt::format("dst={} ", kam.second_port)) == 1);
}

TEST_CASE("interop: interop_proxy: the 2xx ACK follows the route set, not the INVITE's destination") {
  Sipp uas("proxied_answer_wait_bye.xml");
  Kamailio kam({.next_hop_port = uas.port, .subscribers = {{"alice", "127.0.0.1", "s3cret"}}, .record_second = true});
  Fixture f;
  call_and_hang_up(f, kam, kam.uri());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  INFO("kamailio requests:\n" << kam.request_lines());
  CHECK(kam.count("ACK", fmt::format("dst={} ", kam.second_port)) == 1);
  CHECK(kam.count("ACK", fmt::format("dst={} ", kam.port)) == 0);
}

TEST_CASE("interop: interop_proxy: the 2xx ACK carries the INVITE's Proxy-Authorization") {
  Sipp uas("proxied_answer_wait_bye.xml");
  Kamailio kam({.next_hop_port = uas.port, .subscribers = {{"alice", "127.0.0.1", "s3cret"}}});
  Fixture f;
  call_and_hang_up(f, kam, kam.uri());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  INFO("kamailio requests:\n" << kam.request_lines());
  auto pauth = [](const std::string& line) { return line.substr(line.find("pauth=[")); };
  std::string invite_creds, ack_creds;
  for (auto& r : kam.requests()) {
    if (r.starts_with("INVITE ") && r.find("pauth=[Digest") != std::string::npos) invite_creds = pauth(r);
    if (r.starts_with("ACK ")) ack_creds = pauth(r);
  }
  REQUIRE(!invite_creds.empty());
  CHECK(ack_creds == invite_creds);
}

TEST_CASE("interop: interop_proxy: a challenge without qop (RFC 2069 digest) is answered too") {
  Sipp uas("proxied_answer_wait_bye.xml");
  Kamailio kam({.next_hop_port = uas.port, .subscribers = {{"alice", "127.0.0.1", "s3cret"}}, .challenge_flags = "0"});
  Fixture f;
  call_and_hang_up(f, kam, kam.uri());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:700");
  INFO("kamailio requests:\n" << kam.request_lines());
  CHECK(kam.lines_after("SB-AUTHORIZED ") == std::vector<std::string>{"INVITE user=alice"});
  CHECK(kam.count("INVITE", "qop=") == 0);
}
