// RFC 4566 SDP parse/serialise: tests for src/sdp/sdp.{hpp,cpp}.
//
// The "real-world" bodies below are written for this file in the shape each peer produces
// (baresip 1.0 with and without SRTP, sipp's default PCMU answer, a Chrome offer, Asterisk and
// FreeSWITCH answers); keys, fingerprints and addresses are made up.
#include <doctest/doctest.h>

#include <initializer_list>
#include <ostream> // doctest prints std::error_code
#include <string>
#include <string_view>

#include "sdp/sdp.hpp"

using namespace sb::sdp;
using namespace std::literals;

namespace {

/// Joins lines with CRLF (or LF), one line end after each.
std::string body(std::initializer_list<std::string_view> lines, std::string_view eol = "\r\n") {
  std::string s;
  for (auto l : lines) s.append(l).append(eol);
  return s;
}

Session must_parse(std::string_view text) {
  auto r = parse(text);
  INFO("error: " << r.error.message() << " at line " << r.line);
  REQUIRE(r);
  return *r.session;
}

void expect_error(std::string_view text, sdp_error e, std::size_t line = static_cast<std::size_t>(-1),
                  const Limits& lim = {}) {
  const auto r = parse(text, lim);
  INFO(text);
  CHECK_FALSE(r);
  CHECK(r.error == make_error_code(e));
  if (line != static_cast<std::size_t>(-1)) CHECK(r.line == line);
}

/// parse → serialize → parse must give the same Session and the same bytes again.
void check_round_trip(const Session& s) {
  const std::string once = serialize(s);
  const Session again = must_parse(once);
  CHECK(again == s);
  CHECK(serialize(again) == once);
}

const std::string k_baresip_avp = body({
    "v=0",
    "o=- 1608235410 3826281391 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "a=tool:baresip 1.0.0",
    "m=audio 32040 RTP/AVP 111 9 0 101",
    "b=AS:96",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 stereo=1;sprop-stereo=1",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=sendrecv",
    "a=label:1",
    "a=rtcp-rsize",
    "a=ssrc:2718352316 cname:sip:uas@127.0.0.1",
    "a=ptime:20",
});

const std::string k_baresip_savp = body({
    "v=0",
    "o=- 2209475221 2411920432 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "a=tool:baresip 1.0.0",
    "m=audio 34602 RTP/SAVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "a=sendrecv",
    "a=label:1",
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:UlWbKCPdNZPcPKf6DRxjhey53QLRR5pqEGRdbztw",
    "a=ptime:20",
});

// baresip's dtls_srtp puts the fingerprint at session level and answers setup:active.
const std::string k_baresip_dtls = body({
    "v=0",
    "o=- 3461912405 1234807741 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "a=tool:baresip 1.0.0",
    "a=fingerprint:sha-256 A1:FC:E4:36:38:54:FF:88:8C:FF:4B:8E:78:75:D6:00:C2:68:23:90:41:2A:8C:F7:9B:37:D0:B1:11:48:B0:FA",
    "m=audio 38882 UDP/TLS/RTP/SAVPF 111 101",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 stereo=1;sprop-stereo=1",
    "a=rtpmap:101 telephone-event/48000",
    "a=fmtp:101 0-15",
    "a=sendrecv",
    "a=setup:active",
    "a=rtcp-mux",
    "a=ptime:20",
});

// sipp's uac/uas scenarios: "m=audio [media_port] RTP/AVP 0" and one rtpmap.
const std::string k_sipp_pcmu = body({
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
});

const std::string k_chrome_offer = body({
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS 7cbbd6b9-6b1a-4c1f-8e6a-1a8b9a3c2d11",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:1467250027 1 udp 2122260223 192.168.1.20 46243 typ host generation 0 network-id 1",
    "a=candidate:1467250027 2 udp 2122260222 192.168.1.20 47920 typ host generation 0 network-id 1",
    "a=ice-ufrag:Xq3N",
    "a=ice-pwd:1PmD0e8hOqZ3rZdV7Ny9sFmR",
    "a=ice-options:trickle",
    "a=fingerprint:sha-256 2D:71:16:42:B7:26:B0:44:01:62:7C:A9:FB:AC:32:F5:C8:53:0F:B1:90:3C:C4:DB:02:25:87:17:92:1A:48:81",
    "a=setup:actpass",
    "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=sendrecv",
    "a=msid:7cbbd6b9-6b1a-4c1f-8e6a-1a8b9a3c2d11 3c2b8d3e-1f0a-4b7e-9a55-0f3b7c4d2e19",
    "a=rtcp-mux",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:1001 cname:f3Qk2pVb9L1mZ7xA",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 0.0.0.0",
    "a=ice-ufrag:Xq3N",
    "a=ice-pwd:1PmD0e8hOqZ3rZdV7Ny9sFmR",
    "a=fingerprint:sha-256 2D:71:16:42:B7:26:B0:44:01:62:7C:A9:FB:AC:32:F5:C8:53:0F:B1:90:3C:C4:DB:02:25:87:17:92:1A:48:81",
    "a=setup:actpass",
    "a=mid:1",
    "a=sctp-port:5000",
    "a=max-message-size:262144",
});

// Asterisk puts a call on hold the RFC 2543 way on some trunks: c=0.0.0.0 plus sendonly.
const std::string k_asterisk_hold = body({
    "v=0",
    "o=- 1838297744 1838297746 IN IP4 192.0.2.10",
    "s=Asterisk",
    "c=IN IP4 0.0.0.0",
    "t=0 0",
    "m=audio 17062 RTP/AVP 8 101",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:30",
    "a=maxptime:150",
    "a=sendonly",
});

const std::string k_freeswitch = body({
    "v=0",
    "o=FreeSWITCH 1700000000 1700000001 IN IP4 198.51.100.7",
    "s=FreeSWITCH",
    "c=IN IP4 198.51.100.7",
    "t=0 0",
    "m=audio 24580 RTP/AVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=sendonly",
    "a=rtcp:24581 IN IP4 198.51.100.7",
});

} // namespace

// ---------------------------------------------------------------------------------------------
// Real-world bodies

TEST_CASE("baresip RTP/AVP offer: codecs, static payload types, unknown attributes kept raw") {
  const Session s = must_parse(k_baresip_avp);
  CHECK(s.origin.username == "-");
  CHECK(s.origin.sess_id == "1608235410");
  CHECK(s.origin.sess_version == 3826281391u);
  CHECK(s.origin.address == "127.0.0.1");
  CHECK(s.name == "-");
  REQUIRE(s.connection);
  CHECK(s.connection->addrtype == "IP4");
  CHECK(s.connection->address == "127.0.0.1");
  CHECK(s.times == std::vector<std::string>{"0 0"});
  REQUIRE(s.attributes.size() == 1);
  CHECK(s.attributes[0] == Attribute{"tool", "baresip 1.0.0", true});
  REQUIRE(s.media.size() == 1);
  const Media& m = s.media[0];
  CHECK(m.type == "audio");
  CHECK(m.port == 32040);
  CHECK(m.proto == "RTP/AVP");
  CHECK(m.formats == std::vector<std::string>{"111", "9", "0", "101"});
  CHECK(m.bandwidths == std::vector<std::string>{"AS:96"});
  CHECK(m.direction == Direction::sendrecv);
  CHECK(m.ptime == 20u);
  REQUIRE(m.rtpmaps.size() == 4);
  CHECK(m.rtpmaps[0] == Rtpmap{111, "opus", 48000, 2});
  CHECK(m.rtpmaps[3] == Rtpmap{101, "telephone-event", 8000, 1});
  REQUIRE(m.fmtps.size() == 2);
  CHECK(m.fmtps[0] == Fmtp{111, "stereo=1;sprop-stereo=1"});
  CHECK(find_fmtp(m, 101)->params == "0-15");
  CHECK(find_fmtp(m, 9) == nullptr);
  // label, rtcp-rsize, ssrc: raw, in order; a value-less attribute stays value-less.
  REQUIRE(m.attributes.size() == 3);
  CHECK(m.attributes[0] == Attribute{"label", "1", true});
  CHECK(m.attributes[1] == Attribute{"rtcp-rsize", "", false});
  CHECK(m.attributes[2].value == "2718352316 cname:sip:uas@127.0.0.1");
  check_round_trip(s);
}

TEST_CASE("baresip RTP/SAVP answer: a=crypto with tag, suite and inline key") {
  const Session s = must_parse(k_baresip_savp);
  const Media& m = s.media.at(0);
  CHECK(m.proto == "RTP/SAVP");
  REQUIRE(m.cryptos.size() == 1);
  const Crypto& c = m.cryptos[0];
  CHECK(c.tag == 2);
  CHECK(c.suite == "AES_CM_128_HMAC_SHA1_32");
  CHECK(c.key_params == "inline:UlWbKCPdNZPcPKf6DRxjhey53QLRR5pqEGRdbztw");
  CHECK(c.session_params.empty());
  const auto key = decode_inline_key(c);
  REQUIRE(key);
  CHECK(key->key_salt.size() == 30);
  CHECK(key->lifetime.empty());
  CHECK(key->mki.empty());
  check_round_trip(s);
}

TEST_CASE("baresip DTLS answer: session-level fingerprint, media-level setup:active, rtcp-mux") {
  const Session s = must_parse(k_baresip_dtls);
  const Media& m = s.media.at(0);
  CHECK(m.proto == "UDP/TLS/RTP/SAVPF");
  CHECK_FALSE(m.fingerprint);
  REQUIRE(s.fingerprint);
  CHECK(s.fingerprint->hash_func == "sha-256");
  CHECK(s.fingerprint->value.size() == 95);
  REQUIRE(effective_fingerprint(s, m) != nullptr);
  CHECK(effective_fingerprint(s, m)->value == s.fingerprint->value);
  CHECK(m.setup == Setup::active);
  CHECK(effective_setup(s, m) == Setup::active);
  CHECK(m.rtcp_mux);
  CHECK(find_rtpmap(m, 101)->clock_rate == 48000);
  check_round_trip(s);
}

TEST_CASE("sipp's default answer: PCMU only") {
  const Session s = must_parse(k_sipp_pcmu);
  REQUIRE(s.media.size() == 1);
  CHECK(s.media[0].formats == std::vector<std::string>{"0"});
  CHECK(find_rtpmap(s.media[0], 0) == Rtpmap{0, "PCMU", 8000, 1});
  check_round_trip(s);
}

TEST_CASE("Chrome offer: ICE, BUNDLE, rtcp-fb, candidates, data channel") {
  const Session s = must_parse(k_chrome_offer);
  CHECK(s.origin.sess_id == "4611731400430051336");
  CHECK_FALSE(s.connection);
  REQUIRE(s.attributes.size() == 3);
  CHECK(s.attributes[2] == Attribute{"msid-semantic", " WMS 7cbbd6b9-6b1a-4c1f-8e6a-1a8b9a3c2d11", true});
  REQUIRE(s.media.size() == 2);
  const Media& a = s.media[0];
  CHECK(a.port == 9);
  CHECK(a.connection->address == "0.0.0.0");
  REQUIRE(a.rtcp);
  CHECK(a.rtcp->port == 9);
  CHECK(a.rtcp->connection == Connection{"IP4", "0.0.0.0"});
  CHECK(a.candidates.size() == 2);
  CHECK(a.candidates[0].starts_with("1467250027 1 udp"));
  CHECK(a.ice_ufrag == "Xq3N"s);
  CHECK(a.ice_pwd == "1PmD0e8hOqZ3rZdV7Ny9sFmR"s);
  CHECK(a.mid == "0"s);
  CHECK(a.setup == Setup::actpass);
  CHECK(a.rtcp_mux);
  CHECK(a.rtpmaps.size() == 8);
  CHECK(find_fmtp(a, 63)->params == "111/111");
  CHECK(find_rtpmap(a, 13) == Rtpmap{13, "CN", 8000, 1});
  const Media& d = s.media[1];
  CHECK(d.type == "application");
  CHECK(d.proto == "UDP/DTLS/SCTP");
  CHECK(d.formats == std::vector<std::string>{"webrtc-datachannel"});
  CHECK_FALSE(is_rtp_proto(d.proto));
  CHECK(d.mid == "1"s);
  check_round_trip(s);
}

TEST_CASE("Asterisk hold answer: c=0.0.0.0, sendonly, ptime 30, maxptime") {
  const Session s = must_parse(k_asterisk_hold);
  const Media& m = s.media.at(0);
  CHECK(m.direction == Direction::sendonly);
  CHECK(m.ptime == 30u);
  CHECK(m.maxptime == 150u);
  REQUIRE(effective_connection(s, m));
  CHECK(is_null_address(*effective_connection(s, m)));
  CHECK(find_rtpmap(m, 8)->encoding == "PCMA");
  check_round_trip(s);
}

TEST_CASE("FreeSWITCH answer: a=rtcp with an address, sendonly") {
  const Session s = must_parse(k_freeswitch);
  const Media& m = s.media.at(0);
  CHECK(m.direction == Direction::sendonly);
  REQUIRE(m.rtcp);
  CHECK(m.rtcp->port == 24581);
  CHECK(m.rtcp->connection == Connection{"IP4", "198.51.100.7"});
  check_round_trip(s);
}

// ---------------------------------------------------------------------------------------------
// Tolerance

TEST_CASE("LF-only line ends, no final line end, trailing blank lines and spaces are accepted") {
  const std::string lf = body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0",
                               "m=audio 4000 RTP/AVP 0"},
                              "\n");
  const Session a = must_parse(lf);
  const Session b = must_parse(lf.substr(0, lf.size() - 1)); // no final LF
  const Session c = must_parse(lf + "\r\n\n");                // trailing blank lines
  CHECK(a == b);
  CHECK(a == c);
  const Session d = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=- ", "c=IN IP4 10.0.0.1 \t",
                                     "t=0 0", "m=audio  4000\tRTP/AVP   0 "}));
  CHECK(d == a);
}

TEST_CASE("unknown line types are skipped, unknown attributes kept") {
  const Session s = must_parse(body({
      "v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=call", "i=session info", "u=http://example.com/",
      "e=ops@example.com", "p=+1 555 0100", "c=IN IP4 10.0.0.1", "t=0 0", "r=604800 3600 0 90000",
      "z=2882844526 -1h", "k=prompt", "y=0123456789", "a=x-custom", "m=audio 4000 RTP/AVP 0",
      "i=audio", "k=clear:secret", "x=vendor", "a=x-media:1"}));
  CHECK(s.name == "call");
  CHECK(s.attributes == std::vector<Attribute>{{"x-custom", "", false}});
  CHECK(s.media.at(0).attributes == std::vector<Attribute>{{"x-media", "1", true}});
}

TEST_CASE("a missing t= line is supplied as t=0 0") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1",
                                     "m=audio 4000 RTP/AVP 0"}));
  CHECK(s.times == std::vector<std::string>{"0 0"});
  CHECK(serialize(s).find("t=0 0\r\nm=audio") != std::string::npos);
}

TEST_CASE("direction: media level wins, else session level, else sendrecv (RFC 4566 §6)") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1",
                                     "t=0 0", "a=sendonly", "m=audio 4000 RTP/AVP 0",
                                     "m=audio 4002 RTP/AVP 0", "a=recvonly", "m=audio 4004 RTP/AVP 0",
                                     "a=inactive", "a=sendrecv"}));
  CHECK(s.direction == Direction::sendonly);
  CHECK(s.media[0].direction == Direction::sendonly);
  CHECK(s.media[1].direction == Direction::recvonly);
  // The first direction attribute counts; a second one is kept raw.
  CHECK(s.media[2].direction == Direction::inactive);
  CHECK(s.media[2].attributes == std::vector<Attribute>{{"sendrecv", "", false}});
  const Session none = must_parse(k_sipp_pcmu);
  CHECK_FALSE(none.direction);
  CHECK(none.media[0].direction == Direction::sendrecv);
  check_round_trip(s);
}

TEST_CASE("media-level c= overrides the session's; port 0 media may lack c=") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP6 2001:db8::1", "s=-",
                                     "c=IN IP6 2001:db8::1", "t=0 0", "m=audio 4000 RTP/AVP 0",
                                     "c=IN IP4 192.0.2.1", "m=video 0 RTP/AVP 96"}));
  CHECK(effective_connection(s, s.media[0])->address == "192.0.2.1");
  CHECK(effective_connection(s, s.media[1])->addrtype == "IP6");
  const Session r = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "t=0 0",
                                     "m=audio 4000 RTP/AVP 0", "c=IN IP4 10.0.0.1",
                                     "m=video 0 RTP/AVP 96"}));
  CHECK(effective_connection(r, r.media[1]) == nullptr);
}

TEST_CASE("a multicast c= keeps its TTL suffix; connection_host drops it") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-",
                                     "c=IN IP4 224.2.36.42/127", "t=0 0", "m=audio 4000 RTP/AVP 0"}));
  CHECK(s.connection->address == "224.2.36.42/127");
  CHECK(connection_host(*s.connection) == "224.2.36.42");
}

TEST_CASE("m= with a port count, and RTP payload numbers written canonically") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1",
                                     "t=0 0", "m=audio 4000/2 RTP/AVP 08 000"}));
  CHECK(s.media[0].port_count == 2);
  CHECK(s.media[0].formats == std::vector<std::string>{"8", "0"});
  CHECK(serialize(s).find("m=audio 4000/2 RTP/AVP 8 0\r\n") != std::string::npos);
}

TEST_CASE("ptime with a decimal fraction is truncated to whole ms") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1",
                                     "t=0 0", "m=audio 4000 RTP/AVP 0", "a=ptime:20.0"}));
  CHECK(s.media[0].ptime == 20u);
}

TEST_CASE("an empty s= is kept empty and written as 's= ' (RFC 4566 §5.3)") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=", "c=IN IP4 10.0.0.1",
                                     "t=0 0", "m=audio 4000 RTP/AVP 0"}));
  CHECK(s.name.empty());
  CHECK(serialize(s).find("\r\ns= \r\n") != std::string::npos);
  check_round_trip(s);
}

TEST_CASE("sessions without media parse only when Limits::require_media is off") {
  const std::string t = body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "t=0 0"});
  expect_error(t, sdp_error::missing_media, 0);
  Limits lim;
  lim.require_media = false;
  const auto r = parse(t, lim);
  REQUIRE(r);
  CHECK(r.session->media.empty());
}

// ---------------------------------------------------------------------------------------------
// Static payload types (RFC 3551 §6)

TEST_CASE("static payload types resolve without an rtpmap; G.722's clock is 8000") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1",
                                     "t=0 0", "m=audio 4000 RTP/AVP 0 8 9 18 13 96"}));
  const Media& m = s.media[0];
  CHECK(m.rtpmaps.empty());
  CHECK(find_rtpmap(m, 0) == Rtpmap{0, "PCMU", 8000, 1});
  CHECK(find_rtpmap(m, 8) == Rtpmap{8, "PCMA", 8000, 1});
  CHECK(find_rtpmap(m, 9) == Rtpmap{9, "G722", 8000, 1}); // RFC 3551 §4.5.2 quirk
  CHECK(find_rtpmap(m, 18) == Rtpmap{18, "G729", 8000, 1});
  CHECK(find_rtpmap(m, 13) == Rtpmap{13, "CN", 8000, 1});
  CHECK_FALSE(find_rtpmap(m, 96)); // dynamic, no rtpmap
  CHECK(static_rtpmap(10) == Rtpmap{10, "L16", 44100, 2});
  CHECK_FALSE(static_rtpmap(2));
  CHECK_FALSE(static_rtpmap(127));
}

TEST_CASE("an explicit rtpmap wins over the static assignment") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1",
                                     "t=0 0", "m=audio 4000 RTP/AVP 9", "a=rtpmap:9 G722/8000/1"}));
  CHECK(find_rtpmap(s.media[0], 9) == Rtpmap{9, "G722", 8000, 1});
  CHECK(serialize(s).find("a=rtpmap:9 G722/8000\r\n") != std::string::npos);
}

TEST_CASE("payload_type accepts 0-127 written in at most three digits") {
  CHECK(payload_type("0") == 0);
  CHECK(payload_type("127") == 127);
  CHECK(payload_type("007") == 7);
  CHECK_FALSE(payload_type("128"));
  CHECK_FALSE(payload_type("-1"));
  CHECK_FALSE(payload_type("0008"));
  CHECK_FALSE(payload_type(""));
  CHECK_FALSE(payload_type("9a"));
}

// ---------------------------------------------------------------------------------------------
// SDES keys (RFC 4568)

TEST_CASE("inline keys decode with the suite's key||salt length") {
  Crypto c{1, "AES_CM_128_HMAC_SHA1_80", "inline:LVAmoW7IyjWyZ9eWKiuN7iAjua0NGwVn9SEEJD6n", ""};
  REQUIRE(decode_inline_key(c));
  CHECK(decode_inline_key(c)->key_salt.size() == 30);

  c.key_params = "inline:LVAmoW7IyjWyZ9eWKiuN7iAjua0NGwVn9SEEJD6n|2^20|1:4";
  const auto k = decode_inline_key(c);
  REQUIRE(k);
  CHECK(k->lifetime == "2^20");
  CHECK(k->mki == "1:4");
  c.key_params = "inline:LVAmoW7IyjWyZ9eWKiuN7iAjua0NGwVn9SEEJD6n|1:4";
  CHECK(decode_inline_key(c)->mki == "1:4");
  c.key_params = "inline:LVAmoW7IyjWyZ9eWKiuN7iAjua0NGwVn9SEEJD6n|1:4|2^20"; // lifetime first
  CHECK_FALSE(decode_inline_key(c));
  c.key_params = "inline:LVAmoW7IyjWyZ9eWKiuN7iAjua0NGwVn9SEEJD6n||";
  CHECK_FALSE(decode_inline_key(c));

  c.suite = "AES_CM_128_HMAC_SHA1_32";
  c.key_params = "inline:UlWbKCPdNZPcPKf6DRxjhey53QLRR5pqEGRdbztw";
  CHECK(decode_inline_key(c));

  c.suite = "AEAD_AES_128_GCM"; // 28 bytes (RFC 7714 §12)
  CHECK_FALSE(decode_inline_key(c));
  c.key_params = "inline:V6YnJUGSlLXfcYlSeipCg3VOnz8p+O9Dml0/Vg==";
  CHECK(decode_inline_key(c)->key_salt.size() == 28);

  c.suite = "AEAD_AES_256_GCM"; // 44 bytes
  CHECK_FALSE(decode_inline_key(c));
  c.key_params = "inline:kfIb7vieAby6tnUo+NGu9fgGfUknNA3GkavlqiJ9BkJFi5a0l+m22LAsxi4=";
  CHECK(decode_inline_key(c)->key_salt.size() == 44);

  c.suite = "AES_CM_128_HMAC_SHA1_80";
  c.key_params = "inline:OtL8NKuiElLduKfGtCyxRo9RjRRlmoe9RTH1SdQ="; // 29 bytes
  CHECK_FALSE(decode_inline_key(c));
  c.key_params = "inline:LVAmoW7IyjWyZ9eWKiuN7iAjua0NGwVn9SEEJD6!"; // not base64
  CHECK_FALSE(decode_inline_key(c));
  c.key_params = "uri:https://keys.example.com/1";
  CHECK_FALSE(decode_inline_key(c));
  c.suite = "F8_128_HMAC_SHA1_80"; // RFC 4568 suite Switchboard does not use
  c.key_params = "inline:LVAmoW7IyjWyZ9eWKiuN7iAjua0NGwVn9SEEJD6n";
  CHECK_FALSE(decode_inline_key(c));
}

TEST_CASE("srtp_key_salt_length knows the four suites Switchboard offers") {
  CHECK(srtp_key_salt_length("AES_CM_128_HMAC_SHA1_80") == 30u);
  CHECK(srtp_key_salt_length("AES_CM_128_HMAC_SHA1_32") == 30u);
  CHECK(srtp_key_salt_length("AEAD_AES_128_GCM") == 28u);
  CHECK(srtp_key_salt_length("AEAD_AES_256_GCM") == 44u);
  CHECK(srtp_key_salt_length("aes_cm_128_hmac_sha1_80") == 30u);
  CHECK_FALSE(srtp_key_salt_length("NULL_HMAC_SHA1_80"));
}

TEST_CASE("make_crypto writes an inline key that decodes to the same bytes") {
  const std::string key(44, '\x5a');
  const Crypto c = make_crypto(4, "AEAD_AES_256_GCM", key);
  CHECK(c.tag == 4);
  CHECK(c.key_params.starts_with("inline:"));
  REQUIRE(decode_inline_key(c));
  CHECK(decode_inline_key(c)->key_salt == key);
}

TEST_CASE("crypto session parameters and multiple key-params are kept raw") {
  const Session s = must_parse(body({
      "v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0",
      "m=audio 4000 RTP/SAVP 0",
      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:LVAmoW7IyjWyZ9eWKiuN7iAjua0NGwVn9SEEJD6n|2^20|1:4;inline:UlWbKCPdNZPcPKf6DRxjhey53QLRR5pqEGRdbztw|2^20|2:4 KDR=1  WSH=64"}));
  const Crypto& c = s.media[0].cryptos.at(0);
  CHECK(c.session_params == "KDR=1 WSH=64");
  CHECK(decode_inline_key(c)->mki == "1:4");
  check_round_trip(s);
}

// ---------------------------------------------------------------------------------------------
// Serialising

TEST_CASE("serialize writes CRLF lines in the documented order") {
  Session s;
  s.origin = Origin{"-", "42", 7, "IN", "IP4", "192.0.2.5"};
  s.connection = Connection{"IP4", "192.0.2.5"};
  s.attributes.push_back({"tool", "switchboard", true});
  Media m;
  m.port = 5004;
  m.proto = "RTP/SAVP";
  m.formats = {"96", "0", "101"};
  m.direction = Direction::recvonly;
  m.fmtps = {{101, "0-16"}, {96, "minptime=10;useinbandfec=1"}};
  m.rtpmaps = {{96, "opus", 48000, 2}, {0, "PCMU", 8000, 1}, {101, "telephone-event", 8000, 1}};
  m.ptime = 20;
  m.rtcp_mux = true;
  m.cryptos.push_back(make_crypto(1, "AES_CM_128_HMAC_SHA1_80", std::string(30, 'k')));
  m.attributes.push_back({"label", "1", true});
  m.mid = "audio";
  s.media.push_back(m);
  CHECK(serialize(s) ==
        "v=0\r\n"
        "o=- 42 7 IN IP4 192.0.2.5\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.5\r\n"
        "t=0 0\r\n"
        "a=tool:switchboard\r\n"
        "m=audio 5004 RTP/SAVP 96 0 101\r\n"
        "a=mid:audio\r\n"
        "a=recvonly\r\n"
        "a=rtcp-mux\r\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tr\r\n"
        "a=rtpmap:96 opus/48000/2\r\n"
        "a=fmtp:96 minptime=10;useinbandfec=1\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=ptime:20\r\n"
        "a=label:1\r\n");
  // Stable from the first round on, even though the fmtps were not in rtpmap order.
  const Session again = must_parse(serialize(s));
  CHECK(serialize(again) == serialize(s));
}

TEST_CASE("serialize drops CR, LF and NUL from values: no SDP line injection") {
  Session s;
  s.origin.address = "10.0.0.1";
  s.name = "x\r\na=injected";
  s.connection = Connection{"IP4", "10.0.0.1\na=evil"};
  Media m;
  m.port = 4000;
  m.formats = {"0"};
  m.attributes.push_back({"label", std::string("a\0b", 3), true});
  s.media.push_back(m);
  const std::string out = serialize(s);
  CHECK(out.find("\r\na=injected") == std::string::npos);
  CHECK(out.find("\na=evil") == std::string::npos);
  CHECK(out.find('\0') == std::string::npos);
  const Session back = must_parse(out);
  CHECK(back.media.size() == 1);
  CHECK(back.name == "xa=injected");
}

TEST_CASE("a second copy of a single-valued attribute is kept raw and the order is stable") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1",
                                     "t=0 0", "m=audio 4000 RTP/AVP 0", "a=ptime:20", "a=ptime:30",
                                     "a=mid:a", "a=mid:b", "a=rtcp-mux", "a=rtcp-mux"}));
  const Media& m = s.media[0];
  CHECK(m.ptime == 20u);
  CHECK(m.mid == "a"s);
  CHECK(m.attributes == std::vector<Attribute>{{"ptime", "30", true}, {"mid", "b", true}});
  check_round_trip(s);
}

TEST_CASE("non-RTP media keep rtpmap and fmtp as raw attributes") {
  const Session s = must_parse(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1",
                                     "t=0 0", "m=application 5000 TCP/MSRP *", "a=rtpmap:999 x/1",
                                     "a=fmtp:abc y"}));
  CHECK(s.media[0].rtpmaps.empty());
  CHECK(s.media[0].attributes.size() == 2);
  check_round_trip(s);
}

// ---------------------------------------------------------------------------------------------
// Malformed input, each with its error

namespace {
const std::string k_head = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n";
} // namespace

TEST_CASE("v=0 must be the first line") {
  expect_error("", sdp_error::missing_version, 0);
  expect_error("hello", sdp_error::missing_version, 1);
  expect_error("v=1\r\n", sdp_error::missing_version, 1);
  expect_error("\r\nv=0\r\n", sdp_error::missing_version, 1);
  expect_error("o=- 1 1 IN IP4 10.0.0.1\r\nv=0\r\n", sdp_error::missing_version, 1);
  expect_error(k_head + "v=0\r\nm=audio 4000 RTP/AVP 0\r\n", sdp_error::malformed_line, 6);
}

TEST_CASE("o= and s= are required before the first m=") {
  expect_error(body({"v=0", "s=-", "c=IN IP4 10.0.0.1", "t=0 0", "m=audio 4000 RTP/AVP 0"}),
               sdp_error::missing_origin, 5);
  expect_error(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "c=IN IP4 10.0.0.1", "t=0 0",
                     "m=audio 4000 RTP/AVP 0"}),
               sdp_error::missing_session_name, 5);
  expect_error(body({"v=0", "s=-"}), sdp_error::missing_origin, 0);
  expect_error(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1"}), sdp_error::missing_session_name, 0);
  // Out of place or twice.
  expect_error(k_head + "m=audio 4000 RTP/AVP 0\r\no=- 1 1 IN IP4 10.0.0.1\r\n",
               sdp_error::malformed_line, 7);
  expect_error(k_head + "s=again\r\nm=audio 4000 RTP/AVP 0\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + "m=audio 4000 RTP/AVP 0\r\nt=0 0\r\n", sdp_error::malformed_line, 7);
}

TEST_CASE("malformed o= and c= lines") {
  expect_error(body({"v=0", "o=- 1 IN IP4 10.0.0.1", "s=-"}), sdp_error::malformed_line, 2);
  expect_error(body({"v=0", "o=- 1 x IN IP4 10.0.0.1", "s=-"}), sdp_error::malformed_line, 2);
  expect_error(body({"v=0", "o=- 1 99999999999999999999 IN IP4 10.0.0.1", "s=-"}),
               sdp_error::malformed_line, 2);
  expect_error(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP5 10.0.0.1"}),
               sdp_error::malformed_line, 4);
  expect_error(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=ATM NSAP 47.0005"}),
               sdp_error::malformed_line, 4);
  expect_error(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "c=IN IP4"}), sdp_error::malformed_line, 4);
}

TEST_CASE("a media section needs a connection address") {
  expect_error(body({"v=0", "o=- 1 1 IN IP4 10.0.0.1", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 0"}),
               sdp_error::missing_connection, 0);
}

TEST_CASE("lines that are not <letter>=<value>") {
  expect_error(k_head + "garbage\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + "=0\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + "ab=0\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + "1=0\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + "a\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + "a=\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + "a=bad name\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + "a=x\ry\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + std::string("a=x\0y\r\n", 7), sdp_error::malformed_line, 6);
  expect_error(k_head + "\r\nm=audio 4000 RTP/AVP 0\r\n", sdp_error::malformed_line, 7);
  expect_error(k_head + "m=audio 4000 RTP/AVP\r\n", sdp_error::malformed_line, 6);
  expect_error(k_head + "m=audio 4000\r\n", sdp_error::malformed_line, 6);
}

TEST_CASE("bad ports") {
  expect_error(k_head + "m=audio 70000 RTP/AVP 0\r\n", sdp_error::bad_port, 6);
  expect_error(k_head + "m=audio -1 RTP/AVP 0\r\n", sdp_error::bad_port, 6);
  expect_error(k_head + "m=audio 4000/0 RTP/AVP 0\r\n", sdp_error::bad_port, 6);
  expect_error(k_head + "m=audio 4000/ RTP/AVP 0\r\n", sdp_error::bad_port, 6);
  expect_error(k_head + "m=audio x RTP/AVP 0\r\n", sdp_error::bad_port, 6);
  expect_error(k_head + "m=audio 4000 RTP/AVP 0\r\na=rtcp:65536\r\n", sdp_error::bad_port, 7);
}

TEST_CASE("bad payload numbers") {
  expect_error(k_head + "m=audio 4000 RTP/AVP 128\r\n", sdp_error::bad_payload_type, 6);
  expect_error(k_head + "m=audio 4000 RTP/AVP 0 x\r\n", sdp_error::bad_payload_type, 6);
  expect_error(k_head + "m=audio 4000 RTP/AVP 0\r\na=rtpmap:200 foo/8000\r\n",
               sdp_error::bad_payload_type, 7);
  expect_error(k_head + "m=audio 4000 RTP/AVP 0\r\na=fmtp:abc x=1\r\n", sdp_error::bad_payload_type, 7);
}

TEST_CASE("malformed values of interpreted attributes") {
  const std::string m = k_head + "m=audio 4000 RTP/SAVP 0\r\n";
  for (const char* a : {"a=rtpmap:96 opus", "a=rtpmap:96 opus/", "a=rtpmap:96 opus/0",
                        "a=rtpmap:96 opus/48000/0", "a=rtpmap:96 opus/48000/x", "a=rtpmap:96",
                        "a=ptime:", "a=ptime:0", "a=ptime:x", "a=maxptime:20x", "a=rtcp:",
                        "a=rtcp:5001 IN IP4", "a=rtcp:5001 IN IP7 10.0.0.1", "a=crypto:1 AES",
                        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 nokey",
                        "a=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:x",
                        "a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:x", "a=fingerprint:sha-256",
                        "a=fingerprint:sha-256 XYZ", "a=fingerprint:sha-256 AB:CD:",
                        "a=fingerprint:sha-256 ABC:D", "a=setup:maybe", "a=setup"}) {
    CAPTURE(a);
    expect_error(m + a + "\r\n", sdp_error::bad_attribute, 7);
  }
  expect_error(k_head + "a=fingerprint:sha-256 Z\r\nm=audio 4000 RTP/AVP 0\r\n", sdp_error::bad_attribute, 6);
}

TEST_CASE("limits: size, media sections, attributes per section") {
  std::string big = k_head + "m=audio 4000 RTP/AVP 0\r\n";
  big += "a=x:" + std::string(16 * 1024, 'y') + "\r\n";
  expect_error(big, sdp_error::too_large, 0);

  std::string many = k_head;
  for (int i = 0; i < 17; ++i) many += "m=audio 4000 RTP/AVP 0\r\n";
  expect_error(many, sdp_error::too_large, 6 + 16);
  std::string sixteen = k_head;
  for (int i = 0; i < 16; ++i) sixteen += "m=audio 4000 RTP/AVP 0\r\n";
  CHECK(parse(sixteen));

  std::string attrs = k_head + "m=audio 4000 RTP/AVP 0\r\n";
  for (int i = 0; i < 64; ++i) attrs += "a=x" + std::to_string(i) + "\r\n";
  CHECK(parse(attrs));
  expect_error(attrs + "a=one-too-many\r\n", sdp_error::too_large, 6 + 1 + 64);

  std::string session_attrs = k_head;
  for (int i = 0; i < 65; ++i) session_attrs += "a=x\r\n";
  expect_error(session_attrs + "m=audio 4000 RTP/AVP 0\r\n", sdp_error::too_large, 6 + 64);

  Limits lim;
  lim.max_size = 64;
  expect_error(k_sipp_pcmu, sdp_error::too_large, 0, lim);
}

TEST_CASE("error codes carry the sdp category and a message") {
  const std::error_code ec = sdp_error::bad_port;
  CHECK(ec.category().name() == "sdp"s);
  CHECK(ec.message() == "SDP port out of range");
  CHECK(make_error_code(sdp_error::too_large).message().find("limit") != std::string::npos);
}

TEST_CASE("direction and setup helpers") {
  CHECK(reverse(Direction::sendonly) == Direction::recvonly);
  CHECK(reverse(Direction::recvonly) == Direction::sendonly);
  CHECK(reverse(Direction::inactive) == Direction::inactive);
  CHECK(reverse(Direction::sendrecv) == Direction::sendrecv);
  CHECK(make_direction(false, false) == Direction::inactive);
  CHECK(to_string(Direction::recvonly) == "recvonly");
  CHECK(setup_from_string("ACTPASS") == Setup::actpass);
  CHECK(to_string(Setup::holdconn) == "holdconn");
  CHECK(is_rtp_proto("UDP/TLS/RTP/SAVPF"));
  CHECK(is_rtp_proto("RTP/AVP"));
  CHECK_FALSE(is_rtp_proto("UDP/DTLS/SCTP"));
  CHECK_FALSE(is_rtp_proto("udp"));
  CHECK(is_null_address(Connection{"IP6", "::"}));
  CHECK_FALSE(is_null_address(Connection{"IP4", "10.0.0.1"}));
}
