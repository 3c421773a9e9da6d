// The SFU's side of JSEP offer/answer (RFC 8829) with a browser, sans-I/O: what a publishing
// browser's offer says, the answer we give it, the offer we make a subscribing browser and what
// its answer says. Text in, text out; built on the SDP parser (src/sdp/sdp.hpp), no sockets.
//
// What the browser sends and accepts is in OPENTOK-CLIENT.md §6.1 ("Routed sessions"). The shape
// of every description we write:
//   - ICE-lite (RFC 8445 §2.5, a=ice-lite at session level), one UDP host candidate per accepted
//     section followed by a=end-of-candidates (RFC 8838 §8.2): we never trickle.
//   - BUNDLE (RFC 9143) of every accepted section, rtcp-mux (RFC 5761 §5.1.1): one 5-tuple.
//   - DTLS-SRTP (RFC 5763/5764): a=fingerprint:sha-256 of our certificate. Publisher legs: we
//     answer a=setup:active (we are the DTLS client). Subscriber legs: we offer actpass, OpenTok.js
//     rewrites it to passive before applying it (§6.1 step 3), the browser answers active, and we
//     are the DTLS server.
//   - one payload type per section, Opus/48000/2, or VP8/90000 or H264/90000 (packetization-mode 1,
//     a Baseline-family profile), forwarded unchanged (same PT and
//     SSRC on both sides); one header extension at most: abs-send-time on video, with the
//     publisher's id on both legs, when the publisher offered it with goog-remb (receive-side
//     bandwidth estimation: subscribers send REMB, the router relays the lowest to the publisher).
//
// Liberal in what it reads: CRLF or LF, session- or media-level ice-ufrag/ice-pwd/fingerprint/
// setup (media-level wins; the first accepted section carries the bundle's transport, RFC 9143
// §7.1), unknown attributes ignored. Every value written is stripped of CR, LF and NUL.
#pragma once
#include "base/result.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sb::webrtc {

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a browser's description is unusable. A body sdp::parse refuses is reported with the
/// sdp_error it gave (category "sdp"), not with one of these.
enum class description_error {
  missing_ice_credentials = 1, ///< no a=ice-ufrag / a=ice-pwd at either level (RFC 8839 §5.4)
  missing_fingerprint,         ///< no a=fingerprint at either level (RFC 8122 §5)
  bad_setup,                   ///< a setup role we cannot take: offer "active"/"holdconn",
                               ///< answer "actpass"/"holdconn" (RFC 5763 §5, RFC 8842 §5)
  no_acceptable_media,         ///< offer: no sending audio with Opus nor video with VP8/H.264 over
                               ///< DTLS-SRTP with a mid; answer: every section rejected
};

const std::error_category& description_category() noexcept;
std::error_code make_error_code(description_error e) noexcept;

// ---------------------------------------------------------------------------------------------
// Bounds (what a browser's description may cost us; fuzz/webrtc_session_description.cpp checks them)

/// A browser's offer is a few KiB, but Chrome writes 60–100 a= lines in its video section (an
/// rtpmap, fmtp and up to five rtcp-fb per payload type), far over the SIP-sized default of 64.
/// The size bound is what keeps the work proportional to what we accept.
inline constexpr std::size_t k_max_description_size = 64 * 1024;
inline constexpr std::size_t k_max_description_media = 16;
inline constexpr std::size_t k_max_section_attributes = 512;
/// An SDES item holds at most 255 octets (RFC 3550 §6.5): a longer cname is not one a browser can
/// send in RTCP, so it is dropped (the default is written instead).
inline constexpr std::size_t k_max_cname = 255;
/// Media SSRCs kept per track (RTX/FEC repair SSRCs are not counted): Chrome's simulcast writes
/// three; more is not a browser, and each one costs a lookup per forwarded packet (router.cpp).
inline constexpr std::size_t k_max_track_ssrcs = 8;

// ---------------------------------------------------------------------------------------------
// Model

// One media section the SFU forwards: what the publishing browser sends, and what a subscribing
// browser is offered (same payload type; the router gives each subscriber leg SSRCs of its own, rewrite.hpp).
struct Track {
  std::string mid;                  // the publisher's a=mid ("0", "1")
  std::string kind;                 // "audio" | "video"
  int pt = -1;                      // the one payload type kept: Opus/48000/2 for audio, VP8 or H.264 for video
  std::string codec;                // "opus" | "VP8" | "H264" (rtpmap encoding name as written)
  std::uint32_t clock_rate = 0;
  std::uint32_t channels = 1;       // 2 for opus (rtpmap opus/48000/2)
  std::string fmtp;                 // the publisher's fmtp params for pt ("" if none)
  std::vector<std::uint32_t> ssrcs; // media SSRC first (from a=ssrc / a=ssrc-group:FID: only the primary, not RTX)
  std::string cname;                // a=ssrc:<ssrc> cname:… of the media SSRC, "" if absent
  // Receiver-side bandwidth estimation (video only): the publisher's abs-send-time header
  // extension id (1–14, 0 = not offered) and whether it offered goog-remb feedback. With both,
  // the answer accepts them, subscribers are offered the same, and their REMBs reach the
  // publisher (aggregated by the router) so its encoder follows what the receivers can take.
  int abs_send_time_id = 0;
  bool remb = false;
};

// What the SFU needs to know of a browser's description.
struct RemoteDescription {
  std::string ice_ufrag, ice_pwd;            // session- or first media-level
  std::string fingerprint_alg, fingerprint;  // e.g. "sha-256", "AB:CD:…" (alg lowercased, value uppercased)
  std::string setup;                         // "actpass" | "active" | "passive"
  std::vector<Track> tracks;                 // accepted sections only, in m-line order
  std::vector<std::string> mids;             // every m-line's mid in order (accepted or not; "" if none)
};

struct LocalIce {             // the SFU's side of the transport
  std::string ufrag, pwd;
  std::string fingerprint;    // sha-256, "AB:CD:…" uppercase
  std::string address;        // candidate address, e.g. "127.0.0.1" (IPv6 written as IP6)
  std::uint16_t port = 0;     // candidate port (the shard's WebRTC UDP port)
};

// ---------------------------------------------------------------------------------------------
// Publisher leg: the browser offers, we answer

// The publisher's offer (it sends; we receive). Accepts the first audio m-line that has Opus and
// the first video m-line that has VP8 or forwardable H.264 (whichever the browser lists first: its
// preference, RFC 3264 §5.1; VP9/AV1 are not forwarded yet); every other m-line is
// rejected in the answer (port 0, still listed, same mid, as RFC 3264 §6 and BUNDLE require).
// A section is accepted only if it also has a mid, a DTLS-SRTP proto (…/SAVP or …/SAVPF), a port
// other than 0 (unless a=bundle-only) and a direction in which the browser sends.
// A missing a=setup is taken as "actpass" (RFC 8842 §5.2 makes every offer actpass); "active"
// and "holdconn" are bad_setup, because the answer is always active.
// Errors: not parseable, no ICE credentials, no fingerprint, no BUNDLE-able media we accept.
Result<RemoteDescription> parse_publisher_offer(std::string_view sdp);

// Our answer to it: ice-lite, one host candidate (UDP, our address/port) + a=end-of-candidates in
// each accepted m-line, BUNDLE group of the accepted mids, rtcp-mux, a=setup:active (we are the DTLS
// client on publisher legs), a=fingerprint:sha-256, a=recvonly, only the kept pt per section with its
// rtpmap, the publisher's fmtp for it, and rtcp-fb for video "nack", "nack pli", "ccm fir" (each only
// if the offer had it for that pt or "*", RFC 4585 §4.2), plus "goog-remb" and the abs-send-time
// a=extmap when Track::remb; "transport-cc" is never included and no other extension is accepted.
// a=mid mirrors the offer. Rejected sections: "m=<type> 0 <proto> <first fmt>", c=IN IP4 0.0.0.0
// and a=mid and nothing else. The o= line is ours (sess-id random digits), s=-, t=0 0.
// `offer` is what parse_publisher_offer(offer_sdp) returned; "" if offer_sdp does not parse.
std::string build_publisher_answer(std::string_view offer_sdp, const RemoteDescription& offer, const LocalIce& local);

// ---------------------------------------------------------------------------------------------
// Subscriber leg: we offer, the browser answers

// Our offer to a subscribing browser for one published stream: one m-line per track, same order, mids
// "0", "1", …, BUNDLE, ice-lite, a=ice-ufrag/pwd, a=fingerprint:sha-256, a=setup:actpass, rtcp-mux,
// a=sendonly, the track's pt with rtpmap/fmtp, rtcp-fb (video: nack, nack pli, ccm fir, and goog-remb
// with the abs-send-time a=extmap when Track::remb; audio: none),
// a=ssrc:<each of the track's SSRCs (media only)> cname:<cname or "switchboard"> and
// a=ssrc:<ssrc> msid:<stream_label> <track kind>-<stream_label>, a=msid:<stream_label> <kind>-<stream_label>,
// one host candidate + end-of-candidates. proto "UDP/TLS/RTP/SAVPF".
std::string build_subscriber_offer(const std::vector<Track>& tracks, const LocalIce& local, std::string_view stream_label);

// The subscriber's answer to that: ICE credentials, fingerprint, setup (OpenTok.js forces our setup to
// passive, so the browser answers active: we are the DTLS server), and which mids it accepted (port != 0).
// A missing a=setup is "active" (RFC 4145 §4's default). "passive" is returned as such: the leg must
// then be the DTLS client. `tracks` holds the accepted sections with the answer's first payload type
// and its rtpmap/fmtp (and the browser's own SSRC, if it wrote one).
// Errors: not parseable, no ICE credentials, no fingerprint, bad_setup, every section rejected.
Result<RemoteDescription> parse_subscriber_answer(std::string_view sdp);

}  // namespace sb::webrtc

template <>
struct std::is_error_code_enum<sb::webrtc::description_error> : std::true_type {};
