// SDP offer/answer for the gateway's SIP audio leg, RFC 3264, with SRTP keyed by SDES (RFC 4568)
// or DTLS-SRTP (RFC 5763/5764). Sans-I/O: Sessions and strings in, Sessions and strings out.
//
// The gateway dials out (SPEC §7): it sends the initial offer (`build_offer`), applies the far
// end's answer (`apply_answer`), and answers the far end's re-offers inside the call — hold,
// resume, codec change (`answer_offer`). Every step returns a `Negotiated`: what the media leg
// must do now (codec and payload numbers, where to send, which keys, which direction).
//
// Security rule (INTEROP.md, baresip 1.0.0): when secure media was requested, an answer that is
// not encrypted — RTP/AVP, RTP/SAVP without a=crypto, DTLS without a=fingerprint, or a crypto
// line with UNENCRYPTED_SRTP — is an error, never a fallback. The caller then ends the call (ACK
// + BYE); for a re-offer it answers 488 Not Acceptable Here.
//
// Errors are `negotiation_error` codes (category "sdp.negotiation") carried in `Result<T>`.
// The functions do not throw for anything the far end sent; they throw std::invalid_argument
// only for an unusable LocalMedia (a programmer error: no address, no codec, no key).
#pragma once
#include "base/result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sdp/sdp.hpp"

namespace sb::sdp {

// ---------------------------------------------------------------------------------------------
// Errors and results

/// Why an answer or a re-offer cannot be used. For a re-offer every value means "answer 488"
/// (RFC 3261 §13.3.1.2, RFC 3264 §6); for the answer to our offer it means "ACK, then BYE".
enum class negotiation_error {
  no_audio = 1,    ///< no audio m-line
  rejected,        ///< the answer set our audio stream's port to 0 (RFC 3264 §6), or an initial
                   ///< offer has a disabled audio stream
  no_common_codec, ///< none of Opus/G.722/PCMU/PCMA that we offered (or support) is in the SDP
  proto_mismatch,  ///< the transport profile is not the one offered (RFC 3264 §6: the answer
                   ///< uses the offered proto), or an unknown one
  insecure_answer, ///< secure media was offered and the answer is in the clear (RTP/AVP, no
                   ///< a=crypto, no a=fingerprint, UNENCRYPTED_SRTP/SRTCP, UNAUTHENTICATED_SRTP)
  crypto_mismatch, ///< SDES: a tag we did not offer, another suite, a bad key, unsupported
                   ///< session parameters; or (re-offer) no offered suite we can answer
  dtls_mismatch,   ///< DTLS: unusable a=setup (holdconn) or fingerprint (unknown hash, length)
  keying_changed,  ///< a re-offer switches between plain RTP, SDES and DTLS (we refuse: 488)
  no_address,      ///< the stream has no connection address
};

const std::error_category& negotiation_category() noexcept;
std::error_code make_error_code(negotiation_error e) noexcept;

using sb::Result;  // base/result.hpp

// ---------------------------------------------------------------------------------------------
// Local media

/// Audio codecs the gateway's mixer encodes and decodes.
enum class Codec : std::uint8_t { opus, g722, pcmu, pcma };
/// How SRTP is keyed: none (RTP/AVP), SDES (RTP/SAVP + a=crypto), DTLS (UDP/TLS/RTP/SAVP).
enum class Keying : std::uint8_t { none, sdes, dtls };

std::string_view to_string(Codec c) noexcept; ///< "opus", "G722", "PCMU", "PCMA" (SDP names)
std::string_view to_string(Keying k) noexcept; ///< "none", "sdes", "dtls"
/// Audio sample rate of the codec: 48000, 16000 (G.722, although its RTP clock is 8000), 8000.
std::uint32_t sample_rate(Codec c) noexcept;
/// RTP clock rate in SDP: 48000 for Opus (RFC 7587 §4), 8000 for the others (RFC 3551 §4.5.2).
std::uint32_t rtp_clock_rate(Codec c) noexcept;

/// Payload numbers in our offers. Static types keep their RFC 3551 numbers (G.722 9, PCMU 0,
/// PCMA 8).
inline constexpr int k_opus_pt = 111;
inline constexpr int k_telephone_event_pt = 101;     ///< telephone-event/8000 (RFC 4733 §2.4.1)
inline constexpr int k_telephone_event_48k_pt = 110; ///< telephone-event/48000, only with Opus
/// Opus parameters we offer and answer with (RFC 7587 §6.1): 10 ms frames allowed, in-band FEC.
inline constexpr std::string_view k_opus_fmtp = "minptime=10;useinbandfec=1";
/// DTMF events 0–9, *, #, A–D and flash (RFC 4733 §3.2).
inline constexpr std::string_view k_telephone_event_fmtp = "0-16";

/// What our side of the audio stream looks like. The caller (sip::Call, from media::Leg) owns it
/// and keeps it for the life of the call; session_version is the caller's to increase before
/// each new offer or answer (RFC 3264 §8).
struct LocalMedia {
  std::string address;            ///< IP4 or IP6 literal for o= and c= (':' means IP6)
  std::uint16_t rtp_port = 0;
  bool rtcp_mux_offer = true;     ///< offer (and accept) RTP/RTCP on one port, RFC 5761
  Keying keying = Keying::none;
  /// SDES: our keys, one per suite, in preference order, tags 1.. (see make_crypto).
  std::vector<Crypto> sdes_offers;
  /// DTLS: our certificate's SHA-256 fingerprint, "AB:CD:…" (RFC 8122 §5).
  std::string dtls_fingerprint_sha256;
  std::vector<Codec> codecs = {Codec::opus, Codec::g722, Codec::pcmu, Codec::pcma};
  bool telephone_event = true;    ///< RFC 4733 DTMF
  std::uint32_t ptime = 20;       ///< ms
  Direction direction = Direction::sendrecv;
  std::uint64_t session_id = 0;
  std::uint64_t session_version = 0;
};

// ---------------------------------------------------------------------------------------------
// The outcome

/// What the media leg must do after an offer/answer exchange.
struct Negotiated {
  Codec codec = Codec::pcmu;
  int payload_type = 0;        ///< number we send with: the far end's number (RFC 3264 §5.1)
  int local_payload_type = 0;  ///< number we receive with: ours (in our offer or answer)
  std::uint32_t clock_rate = 8000; ///< RTP clock (8000 for G.722, RFC 3551 §4.5.2)
  std::uint32_t channels = 1;  ///< from the rtpmap (2 for Opus, RFC 7587 §7)
  std::optional<int> telephone_event_pt;       ///< far end's number for RFC 4733 events
  std::optional<int> local_telephone_event_pt; ///< our number for them
  std::uint32_t telephone_event_clock_rate = 8000;
  std::string remote_address;  ///< c= host (media level over session level), suffix removed
  std::uint16_t remote_rtp_port = 0;
  std::string remote_rtcp_address; ///< a=rtcp address (RFC 3605), else remote_address
  std::uint16_t remote_rtcp_port = 0; ///< a=rtcp port, else RTP port + 1 (RFC 3550 §11), or the
                                      ///< RTP port with rtcp-mux
  bool rtcp_mux = false;       ///< both sides said a=rtcp-mux (RFC 5761 §5.1.1)
  Direction remote_direction = Direction::sendrecv; ///< as the far end states it
  Direction local_direction = Direction::sendrecv;  ///< what we do: send and/or receive
  /// The far end does not want our media: port 0, inactive, sendonly, or c=0.0.0.0 (RFC 2543
  /// hold, RFC 3264 §8.4). SPEC §7: callUpdated ON_HOLD.
  bool on_hold = false;
  Keying keying = Keying::none;
  std::optional<Crypto> remote_crypto; ///< SDES: the far end's key (decode_inline_key)
  std::optional<Crypto> local_crypto;  ///< SDES: our key for the same tag and suite
  std::uint32_t crypto_tag = 0;        ///< SDES: the tag in use
  std::optional<Fingerprint> remote_fingerprint; ///< DTLS: verify the peer certificate with it
  std::optional<Setup> remote_setup;   ///< DTLS: the far end's a=setup (defaults applied)
  bool dtls_active = false;            ///< DTLS: we are the DTLS client (RFC 5763 §5)
  std::uint32_t ptime = 20;            ///< the far end's a=ptime, else ours
  bool operator==(const Negotiated&) const = default;
};

// ---------------------------------------------------------------------------------------------
// Offer/answer

/// Our initial offer as a Session: one audio m-line (RFC 3264 §5).
///   proto: RTP/AVP (none), RTP/SAVP + a=crypto* (SDES), UDP/TLS/RTP/SAVP + a=fingerprint:sha-256
///          + a=setup:actpass (DTLS, RFC 5763 §5);
///   formats: 111 opus/48000/2 (fmtp minptime=10;useinbandfec=1), 9 G722/8000, 0 PCMU/8000,
///            8 PCMA/8000 in `codecs` order, then 110 telephone-event/48000 (with Opus) and
///            101 telephone-event/8000 (fmtp 0-16);
///   a=rtcp-mux, a=ptime, the direction attribute.
/// @throws std::invalid_argument for an unusable LocalMedia (no address, no codec, SDES without
///         keys or with a key decode_inline_key refuses, DTLS without a fingerprint).
Session offer_session(const LocalMedia& local);
/// serialize(offer_session(local)).
std::string build_offer(const LocalMedia& local);

/// Applies the far end's answer to the offer `offer` describes (RFC 3264 §6 from the offerer's
/// side, §5.1 for payload numbers). Uses the first audio m-line. The codec is the first format
/// of the answer that we offered (matched by encoding name and clock rate, numbered as the
/// answer numbers it); see negotiation_error for what fails.
Result<Negotiated> apply_answer(const LocalMedia& offer, const Session& answer);

/// Our answer to a far-end (re-)offer, as text and as a Session, and what it means.
struct Answer {
  std::string sdp;
  Session session;
  Negotiated negotiated;
};

/// Answers a far-end offer, normally a re-INVITE inside the call (RFC 3264 §6, §8): hold,
/// resume, codec change. `current` is the call's Negotiated state (nullptr for an initial offer).
///  - Keeps our address, port and keying; a change of keying is keying_changed (answer 488).
///  - Codec: the current one if still offered, else the first offered one we support; payload
///    numbers as offered (RFC 3264 §6.1).
///  - Direction: sendonly → recvonly, recvonly → sendonly, inactive → inactive, sendrecv →
///    sendrecv (RFC 3264 §6.1), also limited by local.direction; c=0.0.0.0 counts as sendonly.
///  - Audio port 0: our m-line gets port 0 and `negotiated` is *current put on hold.
///  - SDES: one crypto line for the first offered tag whose suite we have a key for (the current
///    suite first); our key comes from `sdes_keys` (fresh keys, one per suite, tags ignored) or,
///    when that is empty, from local.sdes_offers.
///  - DTLS: a=setup:active to actpass (RFC 5763 §5) — or our current role while the far end's
///    fingerprint is unchanged, so the DTLS association and its roles stay (RFC 8842 §5) —,
///    active to passive, passive to active, nothing offered = active (RFC 4145 §4.1) to
///    passive; our fingerprint.
///  - Every other m-line (video, a second audio) is answered with port 0 (RFC 3264 §6).
/// o= carries local.session_id / local.session_version as given.
/// @throws std::invalid_argument for an unusable LocalMedia (see offer_session).
Result<Answer> answer_offer(const LocalMedia& local, const Session& offer,
                            const Negotiated* current, std::span<const Crypto> sdes_keys = {});

} // namespace sb::sdp

template <>
struct std::is_error_code_enum<sb::sdp::negotiation_error> : std::true_type {};
