#pragma once
// The body of POST /v2/project/{apiKey}/dial (and PHP's /call alias), SPEC §2.1: parsed and
// checked for shape only. Whether the session exists, is routed and the token is valid for it is
// decided later, on the session's shard (SPEC §2.1 "Server-side").

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sb::http {

struct DialRequest {
  std::string session_id; ///< `sessionId`, non-empty.
  std::string token;      ///< `token`: a T1 or JWT client token (SPEC §5), not yet validated.
  struct Sip {
    std::string uri;  ///< Request-URI, "sip:" or "sips:" with a host (SPEC §2.1).
    std::string from; ///< `sip.from`, empty when absent.
    /// Custom INVITE headers in body order; never a header the gateway writes itself
    /// (sip::gateway_writes_header).
    std::vector<std::pair<std::string, std::string>> headers;
    /// Digest credentials (username, password) for a 401/407 challenge (RFC 3261 §22.2).
    std::optional<std::pair<std::string, std::string>> auth;
    bool secure = false;             ///< SRTP media.
    bool video = false;              ///< Always false: `video: true` is refused (audio-only gateway).
    bool observe_force_mute = false; ///< Honour force-mute, `*6` toggles (SPEC §2.1).
    std::vector<std::string> streams; ///< Stream IDs to subscribe to; empty means all.
  } sip;
};

// All map to HTTP 400 with the detail message in the JSON error body (SPEC §1, §2.3).
enum class dial_request_error {
  bad_json = 1,  ///< Not valid UTF-8 JSON, or nested too deeply.
  not_object,    ///< The body (or `sip`) is not a JSON object.
  missing_field, ///< A required field is absent, null or empty.
  bad_type,      ///< A field has the wrong JSON type.
  bad_uri,       ///< `sip.uri` is not a usable sip:/sips: URI.
  bad_header,    ///< A custom header has a bad name or value, overrides a core header, or too many.
  bad_value,     ///< A field has the right type but an unacceptable value.
  too_large,     ///< The body exceeds dial_max_body_size.
};

const boost::system::error_category& dial_request_category() noexcept;
boost::system::error_code make_error_code(dial_request_error e) noexcept;

inline constexpr std::size_t dial_max_body_size = 64 * 1024;
inline constexpr std::size_t dial_max_uri_size = 1024;
inline constexpr std::size_t dial_max_from_size = 256;
inline constexpr std::size_t dial_max_headers = 32;
inline constexpr std::size_t dial_max_header_name_size = 128;
inline constexpr std::size_t dial_max_header_value_size = 1024;
inline constexpr std::size_t dial_max_token_size = 32 * 1024;
inline constexpr std::size_t dial_max_session_id_size = 255; // SPEC §5.1
inline constexpr std::size_t dial_max_streams = 256;
inline constexpr std::size_t dial_max_stream_id_size = 256;
inline constexpr std::size_t dial_max_auth_field_size = 256;

// Parses and validates a dial body. On error, *detail (when non-null) receives a short message
// for the 400 body, such as "sip.uri must be a sip: or sips: URI". Messages name the offending
// field and never echo its value, except a custom header's name once it has been checked to be a
// plain RFC 3261 token.
//
// Leniency the SDKs need (SPEC §2.1): unknown keys are ignored (PY merges caller dicts), JSON null
// counts as absent (NET omits nulls, others send them), secure/video/observeForceMute take
// true/false or the strings "true"/"false" (RUBY). `video: true` is a bad_value: video over SIP is
// not supported, and a request for it is refused rather than dialled as audio.
[[nodiscard]] boost::system::result<DialRequest> parse_dial_request(std::string_view body, std::string* detail);

} // namespace sb::http

namespace boost::system {
template <>
struct is_error_code_enum<sb::http::dial_request_error> : std::true_type {};
} // namespace boost::system
