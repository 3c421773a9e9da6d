// The headers the gateway writes into its dial-out INVITE itself (sip::Call::build_invite), and
// therefore the ones a dial's `sip.headers` may not carry (SPEC §2.1 "refuse to overwrite core
// headers"): one list, read by the REST validation (src/http/dial_request.cpp) and by the INVITE
// builder, so a header is never sent twice. Header-only and sans-I/O: the fuzz build links the
// dial validation without Asio.
#pragma once
#include "base/text.hpp"
#include "sip/message.hpp"

#include <string_view>

namespace sb::sip {

/// Written by the gateway on every INVITE: X-OpenTok-SessionId names the session actually dialled
/// (SPEC §7; a far end may route on it, so it is never a caller's choice).
inline constexpr std::string_view kSessionIdHeader = "X-OpenTok-SessionId";

/// Header ids the INVITE builder writes, or that would break the dialog or the body framing if a
/// caller set them.
inline constexpr HeaderId kGatewayHeaders[] = {
    // RFC 3261 §8.1.1: the request's identity and routing.
    HeaderId::via, HeaderId::max_forwards, HeaderId::from, HeaderId::to, HeaderId::call_id, HeaderId::cseq,
    HeaderId::contact,
    // Route is ours from the dialog's route set (§12.2.1.1); Record-Route is only ever added by
    // proxies (§16.6), never by a UAC.
    HeaderId::route, HeaderId::record_route,
    // What we support: Allow (§20.5), RFC 4028 §7.1 session timer offer, and our User-Agent.
    HeaderId::allow, HeaderId::supported, HeaderId::session_expires, HeaderId::min_se, HeaderId::user_agent,
    // Digest answers (RFC 3261 §22.2) from the dial's sip.auth.
    HeaderId::authorization, HeaderId::proxy_authorization,
    // The SDP body is ours (§7.4, §20.15); every Content-* is refused by prefix below as well.
    HeaderId::content_type, HeaderId::content_length, HeaderId::content_encoding, HeaderId::content_disposition,
    HeaderId::content_language, HeaderId::mime_version,
};

/// True when `name` (any case, long or compact form, RFC 3261 §7.3.3) is a header the gateway
/// writes itself: sip.headers naming it is refused at validation (400), never sent twice.
[[nodiscard]] inline bool gateway_writes_header(std::string_view name) noexcept {
  const HeaderId id = header_id(name);
  for (const HeaderId g : kGatewayHeaders)
    if (id == g) return true;
  if (sb::ascii_iequals(name, kSessionIdHeader)) return true;
  // SPEC §2.1 "Content-*": an extension Content- header would still describe our body.
  return sb::ascii_istarts_with(name, "Content-");
}

}  // namespace sb::sip
