// libFuzzer target for src/webrtc/session_description: a browser's SDP, taken both as a
// publisher's offer and as a subscriber's answer. Whatever the SFU accepts, what it writes back
// must be SDP that parses: the publisher answer keeps one m-line per offered m-line with the same
// mids (BUNDLE and RFC 3264 §6 require it), and the subscriber offer built from the accepted
// tracks parses and carries one m-line per track. Any broken invariant aborts.
#include "fuzz_support.hpp"

#include "sdp/sdp.hpp"
#include "webrtc/session_description.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace sb;
using sb::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  webrtc::LocalIce local{"Ab12", "0123456789abcdefghijklmn",
                         "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
                         "127.0.0.1", 40000};
  if (auto offer = webrtc::parse_publisher_offer(text); offer) {
    require(!offer->tracks.empty(), "an accepted offer with no track");
    const std::string answer = webrtc::build_publisher_answer(text, *offer, local);
    auto parsed = sdp::parse(answer);
    require(bool(parsed), "our publisher answer does not parse");
    require(parsed.session->media.size() == offer->mids.size(), "answer m-lines differ from the offer's");
    for (const auto& t : offer->tracks) {
      require(t.kind == "audio" || t.kind == "video", "a track of another kind");
      require(t.pt >= 0 && t.pt <= 127, "a payload type out of range");
      require(answer.find("a=mid:" + t.mid) != std::string::npos, "an accepted mid missing from the answer");
    }
    for (const auto& t : offer->tracks) {
      require(t.ssrcs.size() <= webrtc::k_max_track_ssrcs, "a track keeps more media SSRCs than the cap");
      require(t.cname.size() <= webrtc::k_max_cname, "a cname longer than an SDES item");
    }
    // As the router offers them (Router::subscribe): one SSRC of ours per track. Parsed
    // with the limits the SFU itself reads a browser's SDP with.
    auto tracks = offer->tracks;
    for (auto& t : tracks) t.ssrcs = {0x5b5b5b5bu};
    const std::string sub = webrtc::build_subscriber_offer(tracks, local, "stream-label");
    auto sub_parsed = sdp::parse(sub, sdp::Limits{.max_size = webrtc::k_max_description_size,
                                                   .max_media = webrtc::k_max_description_media,
                                                   .max_attributes = webrtc::k_max_section_attributes});
    require(bool(sub_parsed), "our subscriber offer does not parse");
    require(sub_parsed.session->media.size() == offer->tracks.size(), "subscriber offer m-lines differ from tracks");
  }
  if (auto ans = webrtc::parse_subscriber_answer(text); ans) {
    require(!ans->ice_ufrag.empty() && !ans->ice_pwd.empty(), "an answer without ICE credentials accepted");
    require(!ans->fingerprint.empty(), "an answer without a fingerprint accepted");
    require(ans->setup == "active" || ans->setup == "passive", "an answer with an unusable setup role accepted");
  }
  return 0;
}
