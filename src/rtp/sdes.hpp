// SDES keying (RFC 4568) → SRTP: turns the a=crypto attribute that offer/answer settled on into
// the suite and master key||salt an SrtpContext is created from. Parsing stays in src/sdp
// (sdp::Crypto, sdp::decode_inline_key); this file only maps the result onto libsrtp2's terms.
#pragma once

#include "rtp/srtp.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace sb::sdp {
struct Crypto;
}

namespace sb::rtp {

struct SdesKey {
  SrtpSuite suite;
  std::vector<std::uint8_t> key_salt;  ///< master key || master salt
};

/// The suite and key of one a=crypto line. Nullopt when the suite is not one SrtpContext runs,
/// when sdp::decode_inline_key refuses the key (another key method, bad base64, wrong length),
/// or when the key carries an MKI (RFC 4568 §9.1 "|MKI:len"): the far end would then prefix
/// every tag with the MKI, which these single-key contexts do not configure. A lifetime is
/// accepted and not enforced (libsrtp2 enforces the RFC 3711 §9.2 2^48 packet limit itself).
/// Session parameters (KDR, UNENCRYPTED_SRTP, …) are sdp::answer_offer's to refuse.
std::optional<SdesKey> sdes_key(const sdp::Crypto& c);

/// sdes_key + SrtpContext::create; nullptr on either failure.
std::unique_ptr<SrtpContext> make_sdes_context(const sdp::Crypto& c, SrtpContext::Direction dir);

}  // namespace sb::rtp
