// JSEP descriptions of the SFU's browser legs: tests for src/webrtc/session_description.{hpp,cpp}.
//
// The Chrome bodies are written for this file in the shape OPENTOK-CLIENT.md §6.1 describes
// (Chrome's publisher offer: BUNDLE 0 1, audio then video, every codec Chrome has, extmaps, rtcp-fb,
// msid, SSRCs with an RTX FID group, actpass, trickle, no candidates; its answer to our subscriber
// offer: active, recvonly). Credentials, fingerprints and SSRCs are made up.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <ostream> // doctest prints std::error_code
#include <string>
#include <string_view>
#include <vector>

#include "sdp/sdp.hpp"
#include "webrtc/session_description.hpp"

using namespace sb::webrtc;
using namespace std::literals;

namespace {

/// Joins lines with CRLF (or LF), one line end after each.
std::string body(std::initializer_list<std::string_view> lines, std::string_view eol = "\r\n") {
  std::string s;
  for (auto l : lines) s.append(l).append(eol);
  return s;
}

constexpr std::string_view k_browser_fp =
    "4f:2A:9C:11:0D:77:E3:5B:60:8E:12:F4:A9:3C:D0:7B:55:1E:C8:29:6A:04:BB:93:7F:E2:18:C5:3D:80:A6:4e";

std::vector<std::string_view> chrome_session_head() {
  return {
      "v=0",
      "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
      "s=-",
      "t=0 0",
      "a=group:BUNDLE 0 1",
      "a=extmap-allow-mixed",
      "a=msid-semantic: WMS 3f1c2b7e-stream",
  };
}

std::vector<std::string_view> chrome_audio(std::string_view mid = "a=mid:0") {
  return {
      "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
      "c=IN IP4 0.0.0.0",
      "a=rtcp:9 IN IP4 0.0.0.0",
      "a=ice-ufrag:Zx9q",
      "a=ice-pwd:p0Lk3vJ8sQwE1rT6yU2iO9aZ",
      "a=ice-options:trickle",
      "a=fingerprint:sha-256 4f:2A:9C:11:0D:77:E3:5B:60:8E:12:F4:A9:3C:D0:7B:55:1E:C8:29:6A:04:BB:93:7F:E2:18:C5:3D:80:A6:4e",
      "a=setup:actpass",
      mid,
      "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
      "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
      "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
      "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
      "a=sendrecv",
      "a=msid:3f1c2b7e-stream a1b2c3d4-audio",
      "a=rtcp-mux",
      "a=rtcp-rsize",
      "a=rtpmap:111 opus/48000/2",
      "a=rtcp-fb:111 transport-cc",
      "a=fmtp:111 minptime=10;useinbandfec=1;stereo=0",
      "a=rtpmap:63 red/48000/2",
      "a=fmtp:63 111/111",
      "a=rtpmap:9 G722/8000",
      "a=rtpmap:0 PCMU/8000",
      "a=rtpmap:8 PCMA/8000",
      "a=rtpmap:13 CN/8000",
      "a=rtpmap:110 telephone-event/48000",
      "a=rtpmap:126 telephone-event/8000",
      "a=ssrc:1001 cname:Qw3rTy7uIoP9aSdF",
      "a=ssrc:1001 msid:3f1c2b7e-stream a1b2c3d4-audio",
  };
}

std::vector<std::string_view> chrome_video_vp8(std::string_view mid = "a=mid:1") {
  return {
      "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 112 113 116 117 118",
      "c=IN IP4 0.0.0.0",
      "a=rtcp:9 IN IP4 0.0.0.0",
      "a=ice-ufrag:Zx9q",
      "a=ice-pwd:p0Lk3vJ8sQwE1rT6yU2iO9aZ",
      "a=ice-options:trickle",
      "a=fingerprint:sha-256 4f:2A:9C:11:0D:77:E3:5B:60:8E:12:F4:A9:3C:D0:7B:55:1E:C8:29:6A:04:BB:93:7F:E2:18:C5:3D:80:A6:4e",
      "a=setup:actpass",
      mid,
      "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
      "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
      "a=extmap:13 urn:3gpp:video-orientation",
      "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
      "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
      "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
      "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
      "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space",
      "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
      "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
      "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
      "a=sendrecv",
      "a=msid:3f1c2b7e-stream e5f6a7b8-video",
      "a=rtcp-mux",
      "a=rtcp-rsize",
      "a=rtpmap:96 VP8/90000",
      "a=rtcp-fb:96 goog-remb",
      "a=rtcp-fb:96 transport-cc",
      "a=rtcp-fb:96 ccm fir",
      "a=rtcp-fb:96 nack",
      "a=rtcp-fb:96 nack pli",
      "a=rtpmap:97 rtx/90000",
      "a=fmtp:97 apt=96",
      "a=rtpmap:102 H264/90000",
      "a=rtcp-fb:102 goog-remb",
      "a=rtcp-fb:102 transport-cc",
      "a=rtcp-fb:102 ccm fir",
      "a=rtcp-fb:102 nack",
      "a=rtcp-fb:102 nack pli",
      "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
      "a=rtpmap:103 rtx/90000",
      "a=fmtp:103 apt=102",
      "a=rtpmap:104 H264/90000",
      "a=rtcp-fb:104 nack pli",
      "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f",
      "a=rtpmap:105 rtx/90000",
      "a=fmtp:105 apt=104",
      "a=rtpmap:106 H264/90000",
      "a=rtcp-fb:106 nack pli",
      "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
      "a=rtpmap:107 rtx/90000",
      "a=fmtp:107 apt=106",
      "a=rtpmap:108 H264/90000",
      "a=rtcp-fb:108 nack pli",
      "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
      "a=rtpmap:109 rtx/90000",
      "a=fmtp:109 apt=108",
      "a=rtpmap:127 H264/90000",
      "a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
      "a=rtpmap:125 rtx/90000",
      "a=fmtp:125 apt=127",
      "a=rtpmap:39 H264/90000",
      "a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f",
      "a=rtpmap:40 rtx/90000",
      "a=fmtp:40 apt=39",
      "a=rtpmap:45 AV1/90000",
      "a=rtcp-fb:45 nack pli",
      "a=fmtp:45 level-idx=5;profile=0;tier=0",
      "a=rtpmap:46 rtx/90000",
      "a=fmtp:46 apt=45",
      "a=rtpmap:98 VP9/90000",
      "a=rtcp-fb:98 nack pli",
      "a=fmtp:98 profile-id=0",
      "a=rtpmap:99 rtx/90000",
      "a=fmtp:99 apt=98",
      "a=rtpmap:100 VP9/90000",
      "a=fmtp:100 profile-id=2",
      "a=rtpmap:101 rtx/90000",
      "a=fmtp:101 apt=100",
      "a=rtpmap:112 H264/90000",
      "a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f",
      "a=rtpmap:113 rtx/90000",
      "a=fmtp:113 apt=112",
      "a=rtpmap:116 red/90000",
      "a=rtpmap:117 rtx/90000",
      "a=fmtp:117 apt=116",
      "a=rtpmap:118 ulpfec/90000",
      "a=ssrc-group:FID 2002 2003",
      "a=ssrc:2003 cname:Qw3rTy7uIoP9aSdF",
      "a=ssrc:2003 msid:3f1c2b7e-stream e5f6a7b8-video",
      "a=ssrc:2002 cname:Qw3rTy7uIoP9aSdF",
      "a=ssrc:2002 msid:3f1c2b7e-stream e5f6a7b8-video",
  };
}

/// A video section of a browser that publishes H.264 only (vp8:false in the publisher options).
std::vector<std::string_view> chrome_video_h264_only() {
  return {
      "m=video 9 UDP/TLS/RTP/SAVPF 102 103",
      "c=IN IP4 0.0.0.0",
      "a=ice-ufrag:Zx9q",
      "a=ice-pwd:p0Lk3vJ8sQwE1rT6yU2iO9aZ",
      "a=fingerprint:sha-256 4f:2A:9C:11:0D:77:E3:5B:60:8E:12:F4:A9:3C:D0:7B:55:1E:C8:29:6A:04:BB:93:7F:E2:18:C5:3D:80:A6:4e",
      "a=setup:actpass",
      "a=mid:1",
      "a=sendrecv",
      "a=rtcp-mux",
      "a=rtpmap:102 H264/90000",
      "a=rtcp-fb:102 nack pli",
      "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
      "a=rtpmap:103 rtx/90000",
      "a=fmtp:103 apt=102",
      "a=ssrc-group:FID 3002 3003",
      "a=ssrc:3002 cname:Qw3rTy7uIoP9aSdF",
      "a=ssrc:3003 cname:Qw3rTy7uIoP9aSdF",
  };
}

std::string join(std::initializer_list<std::vector<std::string_view>> parts, std::string_view eol = "\r\n") {
  std::string s;
  for (const auto& p : parts)
    for (auto l : p) s.append(l).append(eol);
  return s;
}

std::string chrome_offer(std::string_view eol = "\r\n") {
  return join({chrome_session_head(), chrome_audio(), chrome_video_vp8()}, eol);
}

/// Removes every line that starts with one of `prefixes`.
std::string without(std::string text, std::initializer_list<std::string_view> prefixes) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    end = end == std::string::npos ? text.size() : end + 1;
    const std::string_view line = std::string_view(text).substr(pos, end - pos);
    if (std::none_of(prefixes.begin(), prefixes.end(), [&](std::string_view p) { return line.starts_with(p); }))
      out.append(line);
    pos = end;
  }
  return out;
}

LocalIce local_ice() {
  LocalIce l;
  l.ufrag = "sbUfrag1";
  l.pwd = "sbPassword0123456789abcd";
  l.fingerprint = "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9";
  l.address = "127.0.0.1";
  l.port = 40000;
  return l;
}

RemoteDescription must_parse_offer(std::string_view text) {
  auto r = parse_publisher_offer(text);
  INFO("error: " << r.error.message());
  REQUIRE(r);
  return *r;
}

sb::sdp::Session must_parse_sdp(std::string_view text) {
  auto r = sb::sdp::parse(text, {.max_size = 64 * 1024, .max_media = 16, .max_attributes = 512});
  INFO("error: " << r.error.message() << " at line " << r.line << "\n" << text);
  REQUIRE(r);
  return *r.session;
}

std::vector<std::string> attr_values(const sb::sdp::Media& m, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& a : m.attributes)
    if (a.name == name) out.push_back(a.value);
  return out;
}

bool has_attr(const sb::sdp::Media& m, std::string_view name) {
  return std::any_of(m.attributes.begin(), m.attributes.end(), [&](const auto& a) { return a.name == name; });
}

bool has_session_attr(const sb::sdp::Session& s, std::string_view name, std::string_view value) {
  return std::any_of(s.attributes.begin(), s.attributes.end(),
                     [&](const auto& a) { return a.name == name && a.value == value; });
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

} // namespace

// -------------------------------------------------------------------------------------------------
// Publisher offer

TEST_CASE("Chrome publisher offer: Opus 111 and VP8 96 kept, with fmtp, primary SSRC and cname") {
  const auto d = must_parse_offer(chrome_offer());
  CHECK(d.ice_ufrag == "Zx9q");
  CHECK(d.ice_pwd == "p0Lk3vJ8sQwE1rT6yU2iO9aZ");
  CHECK(d.fingerprint_alg == "sha-256");
  // Normalised to uppercase so it compares with a computed certificate digest.
  CHECK(d.fingerprint == "4F:2A:9C:11:0D:77:E3:5B:60:8E:12:F4:A9:3C:D0:7B:55:1E:C8:29:6A:04:BB:93:7F:E2:18:C5:3D:80:A6:4E");
  CHECK(d.setup == "actpass");
  CHECK(d.mids == std::vector<std::string>{"0", "1"});
  REQUIRE(d.tracks.size() == 2);

  const Track& a = d.tracks[0];
  CHECK(a.mid == "0");
  CHECK(a.kind == "audio");
  CHECK(a.pt == 111);
  CHECK(a.codec == "opus");
  CHECK(a.clock_rate == 48000);
  CHECK(a.channels == 2);
  CHECK(a.fmtp == "minptime=10;useinbandfec=1;stereo=0");
  CHECK(a.ssrcs == std::vector<std::uint32_t>{1001});
  CHECK(a.cname == "Qw3rTy7uIoP9aSdF");

  const Track& v = d.tracks[1];
  CHECK(v.mid == "1");
  CHECK(v.kind == "video");
  CHECK(v.pt == 96);
  CHECK(v.codec == "VP8");
  CHECK(v.clock_rate == 90000);
  CHECK(v.fmtp.empty());
  // The a=ssrc lines list the RTX SSRC first; the FID group says which one is media.
  CHECK(v.ssrcs == std::vector<std::uint32_t>{2002});
  CHECK(v.cname == "Qw3rTy7uIoP9aSdF");
}

TEST_CASE("a publisher's SSRCs are capped at 8 media SSRCs a track, and a cname longer than an SDES item is dropped") {
  // Found by fuzz_webrtc_session_description: a video section listing dozens of SSRCs (a=ssrc and
  // ssrc-group lines) made the track carry all of them — each a lookup per forwarded packet.
  std::string many = "a=ssrc-group:SIM";
  for (int i = 1; i <= 40; ++i) many += " " + std::to_string(5000 + i);
  const std::string long_cname(300, 'c');
  std::string text = join({{"v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1"}, chrome_audio(),
                           chrome_video_vp8()});
  text += many + "\r\n";
  text = without(text, {"a=ssrc:1001 cname:Qw3rTy7uIoP9aSdF"});
  const auto at = text.find("a=ssrc:1001 msid");
  REQUIRE(at != std::string::npos);
  text.insert(at, "a=ssrc:1001 cname:" + long_cname + "\r\n");
  const auto d = must_parse_offer(text);
  REQUIRE(d.tracks.size() == 2);
  CHECK(d.tracks[0].ssrcs == std::vector<std::uint32_t>{1001});
  CHECK(d.tracks[0].cname.empty());  // 300 octets: not an SDES item; the default is written
  CHECK(d.tracks[1].ssrcs.size() == 8);
  CHECK(d.tracks[1].ssrcs.front() == 2002);
}

TEST_CASE("publisher offer with LF line ends and session-level credentials parses the same") {
  // ICE and DTLS attributes moved to the session level (legal per RFC 8839 / RFC 8122).
  std::string text = join({{"v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
                            "a=ice-ufrag:SeSs", "a=ice-pwd:sessionLevelPassword012345",
                            "a=fingerprint:SHA-256 AA:BB:CC", "a=setup:actpass"},
                           chrome_audio(), chrome_video_vp8()},
                          "\n");
  text = without(text, {"a=ice-ufrag:Zx9q", "a=ice-pwd:p0Lk", "a=fingerprint:sha-256 4f", "a=setup:actpass\n"});
  const auto d = must_parse_offer(text);
  CHECK(d.ice_ufrag == "SeSs");
  CHECK(d.ice_pwd == "sessionLevelPassword012345");
  CHECK(d.fingerprint_alg == "sha-256");
  CHECK(d.fingerprint == "AA:BB:CC");
  CHECK(d.tracks.size() == 2);
}

TEST_CASE("media-level ICE credentials win over session-level ones") {
  const std::string text = join({{"v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=ice-ufrag:SeSs",
                                  "a=ice-pwd:sessionLevelPassword012345"},
                                 chrome_audio()});
  const auto d = must_parse_offer(text);
  CHECK(d.ice_ufrag == "Zx9q");
  CHECK(d.ice_pwd == "p0Lk3vJ8sQwE1rT6yU2iO9aZ");
}

TEST_CASE("publisher offer with only H.264 video: H.264 forwarded as offered, RTX left out") {
  const std::string text = join({chrome_session_head(), chrome_audio(), chrome_video_h264_only()});
  const auto d = must_parse_offer(text);
  REQUIRE(d.tracks.size() == 2);
  CHECK(d.tracks[1].kind == "video");
  CHECK(d.tracks[1].codec == "H264");
  CHECK(d.tracks[1].pt == 102);
  CHECK(d.tracks[1].fmtp == "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");
  CHECK(d.tracks[1].ssrcs == std::vector<std::uint32_t>{3002});

  const auto s = must_parse_sdp(build_publisher_answer(text, d, local_ice()));
  REQUIRE(s.media.size() == 2);
  CHECK(s.media[1].port == 40000);
  CHECK(s.media[1].formats == std::vector<std::string>{"102"});
  CHECK(has_session_attr(s, "group", "BUNDLE 0 1"));
  const auto sub = must_parse_sdp(build_subscriber_offer(d.tracks, local_ice(), "S"));
  REQUIRE(sub.media.size() == 2);
  REQUIRE(sub.media[1].rtpmaps.size() == 1);
  CHECK(sub.media[1].rtpmaps[0].encoding == "H264");
}

TEST_CASE("H.264 that not every browser decodes is declined: packetization-mode 0, High profile") {
  auto video = chrome_video_h264_only();
  for (auto& l : video)
    if (l.starts_with("a=fmtp:102")) l = "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f";
  auto d = must_parse_offer(join({chrome_session_head(), chrome_audio(), video}));
  CHECK(d.tracks.size() == 1);
  for (auto& l : video)
    if (l.starts_with("a=fmtp:102")) l = "a=fmtp:102 packetization-mode=1;profile-level-id=64001f";
  d = must_parse_offer(join({chrome_session_head(), chrome_audio(), video}));
  CHECK(d.tracks.size() == 1);
}

TEST_CASE("Chrome's full offer lists VP8 first: VP8 is kept, not the H.264 further down") {
  const auto d = must_parse_offer(chrome_offer());
  REQUIRE(d.tracks.size() == 2);
  CHECK(d.tracks[1].codec == "VP8");
}

TEST_CASE("publisher offer: only the first audio and first video sections are accepted") {
  const auto d = must_parse_offer(
      join({chrome_session_head(), chrome_audio("a=mid:0"), chrome_video_vp8("a=mid:1"), chrome_audio("a=mid:2")}));
  CHECK(d.mids == std::vector<std::string>{"0", "1", "2"});
  REQUIRE(d.tracks.size() == 2);
  CHECK(d.tracks[0].mid == "0");
  CHECK(d.tracks[1].mid == "1");
}

TEST_CASE("publisher offer: a section the browser does not send in is not accepted") {
  std::string text = chrome_offer();
  const auto at = text.find("a=sendrecv", text.find("m=video"));
  text.replace(at, "a=sendrecv"sv.size(), "a=recvonly");
  const auto d = must_parse_offer(text);
  REQUIRE(d.tracks.size() == 1);
  CHECK(d.tracks[0].kind == "audio");
}

TEST_CASE("publisher offer errors: garbage, empty, no ICE, no fingerprint, nothing to accept, active") {
  CHECK_FALSE(parse_publisher_offer(""));
  CHECK_FALSE(parse_publisher_offer("hello world\r\n"));
  CHECK(parse_publisher_offer("v=0\r\n").error);

  const auto no_ice = parse_publisher_offer(without(chrome_offer(), {"a=ice-ufrag", "a=ice-pwd"}));
  CHECK_FALSE(no_ice);
  CHECK(no_ice.error == make_error_code(description_error::missing_ice_credentials));
  CHECK(parse_publisher_offer(without(chrome_offer(), {"a=ice-pwd"})).error ==
        make_error_code(description_error::missing_ice_credentials));

  const auto no_fp = parse_publisher_offer(without(chrome_offer(), {"a=fingerprint"}));
  CHECK(no_fp.error == make_error_code(description_error::missing_fingerprint));

  // Video in a codec we do not forward (VP9 only), and no audio: nothing to accept.
  auto vp9 = chrome_video_h264_only();
  for (auto& l : vp9) {
    if (l.starts_with("a=rtpmap:102")) l = "a=rtpmap:102 VP9/90000";
    if (l.starts_with("a=fmtp:102")) l = "a=fmtp:102 profile-id=0";
  }
  const auto only_vp9 = parse_publisher_offer(join({chrome_session_head(), vp9}));
  CHECK(only_vp9.error == make_error_code(description_error::no_acceptable_media));

  // Without a mid nothing can be bundled.
  const auto no_mid = parse_publisher_offer(without(chrome_offer(), {"a=mid"}));
  CHECK(no_mid.error == make_error_code(description_error::no_acceptable_media));

  // Plain RTP/AVP (no DTLS-SRTP) is not WebRTC.
  std::string avp = chrome_offer();
  for (std::size_t at; (at = avp.find("UDP/TLS/RTP/SAVPF")) != std::string::npos;)
    avp.replace(at, "UDP/TLS/RTP/SAVPF"sv.size(), "RTP/AVP");
  CHECK(parse_publisher_offer(avp).error == make_error_code(description_error::no_acceptable_media));

  // The answer is always setup:active; an active offerer would leave no DTLS server.
  std::string active = chrome_offer();
  for (std::size_t at; (at = active.find("a=setup:actpass")) != std::string::npos;)
    active.replace(at, "a=setup:actpass"sv.size(), "a=setup:active");
  CHECK(parse_publisher_offer(active).error == make_error_code(description_error::bad_setup));
}

// -------------------------------------------------------------------------------------------------
// Publisher answer

TEST_CASE("answer to Chrome's offer: ice-lite, BUNDLE, active, recvonly, one codec, only abs-send-time for REMB") {
  const std::string offer_text = chrome_offer();
  const auto offer = must_parse_offer(offer_text);
  const LocalIce local = local_ice();
  const std::string answer = build_publisher_answer(offer_text, offer, local);

  // CRLF throughout, no LF alone.
  for (std::size_t i = 0; i < answer.size(); ++i)
    if (answer[i] == '\n') REQUIRE((i > 0 && answer[i - 1] == '\r'));
  CHECK_FALSE(contains(answer, "transport-cc"));
  CHECK_FALSE(contains(answer, "a=extmap:3 "));

  const auto s = must_parse_sdp(answer);
  CHECK(s.name == "-");
  CHECK(s.times == std::vector<std::string>{"0 0"});
  CHECK(s.origin.sess_id != "4611731400430051336"); // ours, not the offer's
  CHECK(std::all_of(s.origin.sess_id.begin(), s.origin.sess_id.end(), [](char c) { return c >= '0' && c <= '9'; }));
  CHECK(has_session_attr(s, "group", "BUNDLE 0 1"));
  CHECK(std::any_of(s.attributes.begin(), s.attributes.end(), [](const auto& a) { return a.name == "ice-lite"; }));

  REQUIRE(s.media.size() == 2);
  const int pts[] = {111, 96};
  const char* codecs[] = {"opus", "VP8"};
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& m = s.media[i];
    CAPTURE(i);
    CHECK(m.mid == std::to_string(i));
    CHECK(m.port == 40000);
    CHECK(m.proto == "UDP/TLS/RTP/SAVPF");
    CHECK(m.formats == std::vector<std::string>{std::to_string(pts[i])});
    CHECK(m.direction == sb::sdp::Direction::recvonly);
    CHECK(m.rtcp_mux);
    CHECK(m.ice_ufrag == "sbUfrag1");
    CHECK(m.ice_pwd == "sbPassword0123456789abcd");
    REQUIRE(m.fingerprint);
    CHECK(m.fingerprint->hash_func == "sha-256");
    CHECK(m.fingerprint->value == local.fingerprint);
    CHECK(m.setup == sb::sdp::Setup::active);
    REQUIRE(m.rtpmaps.size() == 1);
    CHECK(m.rtpmaps[0].pt == pts[i]);
    CHECK(m.rtpmaps[0].encoding == codecs[i]);
    REQUIRE(m.candidates.size() == 1);
    CHECK(m.candidates[0] == "1 1 udp 2130706431 127.0.0.1 40000 typ host");
    CHECK(has_attr(m, "end-of-candidates"));
    CHECK_FALSE(has_attr(m, "ssrc"));
  }
  // Audio: no extension. Video: abs-send-time with the offer's id, for REMB.
  CHECK_FALSE(has_attr(s.media[0], "extmap"));
  CHECK(attr_values(s.media[1], "extmap") ==
        std::vector<std::string>{"2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"});
  CHECK(s.media[0].rtpmaps[0].clock_rate == 48000);
  CHECK(s.media[0].rtpmaps[0].channels == 2);
  REQUIRE(s.media[0].fmtps.size() == 1);
  CHECK(s.media[0].fmtps[0].params == "minptime=10;useinbandfec=1;stereo=0");
  CHECK(attr_values(s.media[0], "rtcp-fb").empty());
  CHECK(s.media[1].fmtps.empty());
  CHECK(attr_values(s.media[1], "rtcp-fb") == std::vector<std::string>{"96 nack", "96 nack pli", "96 ccm fir", "96 goog-remb"});
}

TEST_CASE("REMB is negotiated only with both goog-remb and abs-send-time offered, on both legs") {
  const auto full = must_parse_offer(chrome_offer());
  REQUIRE(full.tracks.size() == 2);
  CHECK(full.tracks[1].remb);
  CHECK(full.tracks[1].abs_send_time_id == 2);
  CHECK_FALSE(full.tracks[0].remb);  // audio: never
  CHECK(full.tracks[0].abs_send_time_id == 0);
  const std::string sub = build_subscriber_offer(full.tracks, local_ice(), "S");
  const auto ss = must_parse_sdp(sub);
  CHECK(attr_values(ss.media[1], "extmap") ==
        std::vector<std::string>{"2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"});
  CHECK(contains(sub, "a=rtcp-fb:96 goog-remb"));
  CHECK_FALSE(has_attr(ss.media[0], "extmap"));

  // Without goog-remb in the offer: neither the feedback nor the extension.
  std::string text = chrome_offer();
  const auto at = text.find("a=rtcp-fb:96 goog-remb\r\n");
  REQUIRE(at != std::string::npos);
  text.erase(at, std::string_view("a=rtcp-fb:96 goog-remb\r\n").size());
  const auto no_remb = must_parse_offer(text);
  CHECK_FALSE(no_remb.tracks[1].remb);
  CHECK(no_remb.tracks[1].abs_send_time_id == 0);
  const std::string answer = build_publisher_answer(text, no_remb, local_ice());
  CHECK_FALSE(contains(answer, "a=extmap"));
  CHECK_FALSE(contains(answer, "goog-remb"));
  CHECK_FALSE(contains(build_subscriber_offer(no_remb.tracks, local_ice(), "S"), "a=extmap"));
}

TEST_CASE("answer keeps a rejected section's place: port 0, same mid, first format, nothing else") {
  const std::string offer_text =
      join({chrome_session_head(), chrome_audio("a=mid:0"), chrome_video_vp8("a=mid:1"), chrome_audio("a=mid:2")});
  const auto offer = must_parse_offer(offer_text);
  const auto s = must_parse_sdp(build_publisher_answer(offer_text, offer, local_ice()));
  REQUIRE(s.media.size() == 3);
  CHECK(has_session_attr(s, "group", "BUNDLE 0 1"));
  const auto& r = s.media[2];
  CHECK(r.type == "audio");
  CHECK(r.port == 0);
  CHECK(r.formats == std::vector<std::string>{"111"});
  CHECK(r.mid == "2");
  CHECK(r.rtpmaps.empty());
  CHECK(r.candidates.empty());
  CHECK_FALSE(r.setup);
  CHECK(r.attributes.empty());
}

TEST_CASE("answer offers only the video feedback the offer asked for") {
  const std::string offer_text = without(chrome_offer(), {"a=rtcp-fb:96 ccm fir", "a=rtcp-fb:96 nack\r"});
  const auto offer = must_parse_offer(offer_text);
  const auto s = must_parse_sdp(build_publisher_answer(offer_text, offer, local_ice()));
  REQUIRE(s.media.size() == 2);
  CHECK(attr_values(s.media[1], "rtcp-fb") == std::vector<std::string>{"96 nack pli", "96 goog-remb"});
}

TEST_CASE("answer with an IPv6 candidate address writes IP6 in c=") {
  const std::string offer_text = chrome_offer();
  const auto offer = must_parse_offer(offer_text);
  LocalIce local = local_ice();
  local.address = "::1";
  const auto s = must_parse_sdp(build_publisher_answer(offer_text, offer, local));
  REQUIRE(s.media[0].connection);
  CHECK(s.media[0].connection->addrtype == "IP6");
  CHECK(s.media[0].candidates[0] == "1 1 udp 2130706431 ::1 40000 typ host");
}

TEST_CASE("answer values cannot inject SDP lines") {
  const std::string offer_text = chrome_offer();
  const auto offer = must_parse_offer(offer_text);
  LocalIce local = local_ice();
  local.ufrag = "ab\r\na=evil";
  const std::string answer = build_publisher_answer(offer_text, offer, local);
  CHECK_FALSE(contains(answer, "\na=evil"));
  CHECK(must_parse_sdp(answer).media[0].ice_ufrag == "aba=evil");
}

TEST_CASE("answer to an unparseable offer text is empty") {
  CHECK(build_publisher_answer("garbage", RemoteDescription{}, local_ice()).empty());
}

// -------------------------------------------------------------------------------------------------
// Subscriber offer and answer

TEST_CASE("subscriber offer: sendonly, actpass, ice-lite, BUNDLE, SSRCs with cname and msid") {
  const auto pub = must_parse_offer(chrome_offer());
  const std::string text = build_subscriber_offer(pub.tracks, local_ice(), "STREAM-1");
  CHECK_FALSE(contains(text, "transport-wide-cc"));
  const auto s = must_parse_sdp(text);
  CHECK(has_session_attr(s, "group", "BUNDLE 0 1"));
  CHECK(std::any_of(s.attributes.begin(), s.attributes.end(), [](const auto& a) { return a.name == "ice-lite"; }));
  REQUIRE(s.media.size() == 2);

  const auto& a = s.media[0];
  CHECK(a.type == "audio");
  CHECK(a.mid == "0");
  CHECK(a.port == 40000);
  CHECK(a.proto == "UDP/TLS/RTP/SAVPF");
  CHECK(a.formats == std::vector<std::string>{"111"});
  CHECK(a.direction == sb::sdp::Direction::sendonly);
  CHECK(a.setup == sb::sdp::Setup::actpass);
  CHECK(a.rtcp_mux);
  CHECK(a.ice_ufrag == "sbUfrag1");
  CHECK(a.ice_pwd == "sbPassword0123456789abcd");
  REQUIRE(a.fingerprint);
  CHECK(a.fingerprint->hash_func == "sha-256");
  REQUIRE(a.rtpmaps.size() == 1);
  CHECK(a.rtpmaps[0] == sb::sdp::Rtpmap{111, "opus", 48000, 2});
  REQUIRE(a.fmtps.size() == 1);
  CHECK(a.fmtps[0].params == "minptime=10;useinbandfec=1;stereo=0");
  CHECK(attr_values(a, "rtcp-fb").empty());
  CHECK(attr_values(a, "msid") == std::vector<std::string>{"STREAM-1 audio-STREAM-1"});
  CHECK(attr_values(a, "ssrc") ==
        std::vector<std::string>{"1001 cname:Qw3rTy7uIoP9aSdF", "1001 msid:STREAM-1 audio-STREAM-1"});
  REQUIRE(a.candidates.size() == 1);
  CHECK(a.candidates[0] == "1 1 udp 2130706431 127.0.0.1 40000 typ host");
  CHECK(has_attr(a, "end-of-candidates"));

  const auto& v = s.media[1];
  CHECK(v.type == "video");
  CHECK(v.mid == "1");
  CHECK(v.formats == std::vector<std::string>{"96"});
  CHECK(v.direction == sb::sdp::Direction::sendonly);
  CHECK(v.setup == sb::sdp::Setup::actpass);
  REQUIRE(v.rtpmaps.size() == 1);
  CHECK(v.rtpmaps[0] == sb::sdp::Rtpmap{96, "VP8", 90000, 1});
  CHECK(attr_values(v, "rtcp-fb") == std::vector<std::string>{"96 nack", "96 nack pli", "96 ccm fir", "96 goog-remb"});
  // Only the media SSRC: the RTX one (2003) is not forwarded.
  CHECK(attr_values(v, "ssrc") ==
        std::vector<std::string>{"2002 cname:Qw3rTy7uIoP9aSdF", "2002 msid:STREAM-1 video-STREAM-1"});
  CHECK(attr_values(v, "msid") == std::vector<std::string>{"STREAM-1 video-STREAM-1"});
}

TEST_CASE("subscriber offer for an audio-only (SIP) stream has only m=audio, default cname") {
  Track t;
  t.mid = "0";
  t.kind = "audio";
  t.pt = 111;
  t.codec = "opus";
  t.clock_rate = 48000;
  t.channels = 2;
  t.fmtp = "minptime=10;useinbandfec=1";
  t.ssrcs = {0xDEADBEEF};
  const auto s = must_parse_sdp(build_subscriber_offer({t}, local_ice(), "sip-stream"));
  CHECK(has_session_attr(s, "group", "BUNDLE 0"));
  REQUIRE(s.media.size() == 1);
  CHECK(s.media[0].type == "audio");
  CHECK(s.media[0].mid == "0");
  CHECK(attr_values(s.media[0], "ssrc") ==
        std::vector<std::string>{"3735928559 cname:switchboard", "3735928559 msid:sip-stream audio-sip-stream"});
}

TEST_CASE("subscriber offer renumbers mids from the publisher's") {
  auto pub = must_parse_offer(chrome_offer());
  pub.tracks[0].mid = "audio";
  pub.tracks[1].mid = "video";
  const auto s = must_parse_sdp(build_subscriber_offer(pub.tracks, local_ice(), "x"));
  REQUIRE(s.media.size() == 2);
  CHECK(s.media[0].mid == "0");
  CHECK(s.media[1].mid == "1");
}

namespace {

std::string chrome_subscriber_answer(std::string_view video_port = "9") {
  const std::string video_m = "m=video " + std::string(video_port) + " UDP/TLS/RTP/SAVPF 96";
  return body({
      "v=0",
      "o=- 8122471309855513473 2 IN IP4 127.0.0.1",
      "s=-",
      "t=0 0",
      "a=group:BUNDLE 0 1",
      "a=extmap-allow-mixed",
      "a=msid-semantic: WMS",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111",
      "c=IN IP4 0.0.0.0",
      "a=rtcp:9 IN IP4 0.0.0.0",
      "a=ice-ufrag:sUbS",
      "a=ice-pwd:subscriberPassword01234",
      "a=ice-options:trickle",
      "a=fingerprint:sha-256 9E:8D:7C:6B:5A:49:38:27:16:05:F4:E3:D2:C1:B0:A9:98:87:76:65:54:43:32:21:10:0F:FE:ED:DC:CB:BA:A9",
      "a=setup:active",
      "a=mid:0",
      "a=recvonly",
      "a=rtcp-mux",
      "a=rtpmap:111 opus/48000/2",
      "a=fmtp:111 minptime=10;useinbandfec=1",
      video_m,
      "c=IN IP4 0.0.0.0",
      "a=rtcp:9 IN IP4 0.0.0.0",
      "a=ice-ufrag:sUbS",
      "a=ice-pwd:subscriberPassword01234",
      "a=ice-options:trickle",
      "a=fingerprint:sha-256 9E:8D:7C:6B:5A:49:38:27:16:05:F4:E3:D2:C1:B0:A9:98:87:76:65:54:43:32:21:10:0F:FE:ED:DC:CB:BA:A9",
      "a=setup:active",
      "a=mid:1",
      "a=recvonly",
      "a=rtcp-mux",
      "a=rtpmap:96 VP8/90000",
      "a=rtcp-fb:96 ccm fir",
      "a=rtcp-fb:96 nack",
      "a=rtcp-fb:96 nack pli",
  });
}

} // namespace

TEST_CASE("Chrome's answer to our subscriber offer: credentials, fingerprint, active, both mids") {
  const auto r = parse_subscriber_answer(chrome_subscriber_answer());
  INFO(r.error.message());
  REQUIRE(r);
  CHECK(r->ice_ufrag == "sUbS");
  CHECK(r->ice_pwd == "subscriberPassword01234");
  CHECK(r->fingerprint_alg == "sha-256");
  CHECK(r->fingerprint ==
        "9E:8D:7C:6B:5A:49:38:27:16:05:F4:E3:D2:C1:B0:A9:98:87:76:65:54:43:32:21:10:0F:FE:ED:DC:CB:BA:A9");
  CHECK(r->setup == "active");
  CHECK(r->mids == std::vector<std::string>{"0", "1"});
  REQUIRE(r->tracks.size() == 2);
  CHECK(r->tracks[0].mid == "0");
  CHECK(r->tracks[0].pt == 111);
  CHECK(r->tracks[0].codec == "opus");
  CHECK(r->tracks[1].mid == "1");
  CHECK(r->tracks[1].pt == 96);
  CHECK(r->tracks[1].codec == "VP8");
}

TEST_CASE("subscriber answer that rejects video (port 0) lists only the audio track") {
  const auto r = parse_subscriber_answer(chrome_subscriber_answer("0"));
  REQUIRE(r);
  CHECK(r->mids == std::vector<std::string>{"0", "1"});
  REQUIRE(r->tracks.size() == 1);
  CHECK(r->tracks[0].mid == "0");
}

TEST_CASE("subscriber answer errors: garbage, no ICE, no fingerprint, actpass, all rejected") {
  CHECK_FALSE(parse_subscriber_answer(""));
  CHECK_FALSE(parse_subscriber_answer("v=0\nthis is not sdp\n"));
  CHECK(parse_subscriber_answer(without(chrome_subscriber_answer(), {"a=ice-ufrag"})).error ==
        make_error_code(description_error::missing_ice_credentials));
  CHECK(parse_subscriber_answer(without(chrome_subscriber_answer(), {"a=fingerprint"})).error ==
        make_error_code(description_error::missing_fingerprint));

  std::string actpass = chrome_subscriber_answer();
  for (std::size_t at; (at = actpass.find("a=setup:active")) != std::string::npos;)
    actpass.replace(at, "a=setup:active"sv.size(), "a=setup:actpass");
  CHECK(parse_subscriber_answer(actpass).error == make_error_code(description_error::bad_setup));

  std::string none = chrome_subscriber_answer("0");
  none.replace(none.find("m=audio 9"), "m=audio 9"sv.size(), "m=audio 0");
  CHECK(parse_subscriber_answer(none).error == make_error_code(description_error::no_acceptable_media));
}

TEST_CASE("subscriber answer without a=setup is active (RFC 4145 default)") {
  const auto r = parse_subscriber_answer(without(chrome_subscriber_answer(), {"a=setup"}));
  REQUIRE(r);
  CHECK(r->setup == "active");
}

TEST_CASE("full round trip: publisher offer → answer, subscriber offer → Chrome answer") {
  const std::string offer_text = chrome_offer("\n");
  const auto offer = must_parse_offer(offer_text);
  const std::string answer = build_publisher_answer(offer_text, offer, local_ice());
  // Our own answer read back as if it were a browser's: the transport is ours.
  const auto back = parse_subscriber_answer(answer);
  REQUIRE(back);
  CHECK(back->ice_ufrag == "sbUfrag1");
  CHECK(back->setup == "active");
  CHECK(back->tracks.size() == 2);

  const std::string sub = build_subscriber_offer(offer.tracks, local_ice(), "s");
  // Our sendonly offer reads back as a publisher offer with the same tracks: forwarding is lossless.
  const auto sub_back = parse_publisher_offer(sub);
  REQUIRE(sub_back);
  REQUIRE(sub_back->tracks.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(sub_back->tracks[i].pt == offer.tracks[i].pt);
    CHECK(sub_back->tracks[i].fmtp == offer.tracks[i].fmtp);
    CHECK(sub_back->tracks[i].ssrcs == offer.tracks[i].ssrcs);
    CHECK(sub_back->tracks[i].cname == offer.tracks[i].cname);
  }
  CHECK(sub_back->setup == "actpass");
}
