#pragma once
// Project authentication for the REST API (SPEC §1 "Auth"): every request carries
// `X-OPENTOK-AUTH: <JWT>`, HS256-signed with the secret of the project named in `iss`.
// Sans-I/O: the router hands the header value, the `:apiKey` path segment and a secret lookup.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace sb::http {

// Every value maps to HTTP 403 (SPEC §2.3 "Authentication failed").
enum class project_auth_error {
  missing = 1,       ///< No X-OPENTOK-AUTH value.
  malformed,         ///< Not an HS256 JWT, or iss/iat/exp missing or of the wrong type.
  unknown_issuer,    ///< No project has the API key in `iss`.
  issuer_mismatch,   ///< `iss` differs from the `:apiKey` path segment.
  bad_signature,     ///< The HMAC does not verify with that project's secret.
  expired,           ///< now > exp + skew.
  not_yet_valid,     ///< now < iat - skew (or nbf - skew).
  lifetime_too_long, ///< exp - iat > 300 s + skew.
  wrong_type,        ///< `ist` present and not "project", or a client token (scope/session_id).
};

const boost::system::error_category& project_auth_category() noexcept;
boost::system::error_code make_error_code(project_auth_error e) noexcept;

// REST docs: "the maximum allowed expiration time range is 5 minutes".
inline constexpr std::int64_t project_jwt_max_lifetime_s = 300;

// Looks up a project's API secret by API key; nullopt when there is no such project.
using ProjectSecretLookup = std::function<std::optional<std::string>(std::string_view api_key)>;

// SPEC §1 gateway rule. Reads `iss` from the still-unverified payload to pick the secret, then
// verifies HS256 and the claims:
//   - `iss` a string, or an integer written as a number (PHP and NODE accept int API keys); it
//     must equal path_api_key when the route has one;
//   - `ist` may sit in the payload (NODE, PY, JAVA, PHP, NET), in the JOSE header (RUBY) or be
//     absent; wherever present it must be "project";
//   - `iat` and `exp` required, exp - iat <= 300 + skew_s, now_s within [iat - skew_s, exp + skew_s]
//     (and not before nbf - skew_s if an nbf is given);
//   - `jti` (PY float, JAVA/PHP strings) and `sub` (older PHP: the session ID) are ignored.
// Returns the authenticated API key.
boost::system::result<std::string> verify_project_jwt(std::string_view token,
                                                      std::optional<std::string_view> path_api_key,
                                                      const ProjectSecretLookup& secret_of,
                                                      std::int64_t now_s, std::int64_t skew_s = 60);

} // namespace sb::http

namespace boost::system {
template <>
struct is_error_code_enum<sb::http::project_auth_error> : std::true_type {};
} // namespace boost::system
