#pragma once
// OpenTok client tokens (SPEC §5.2, §5.3): what a client (here: the dial request's `token`, SPEC
// §2.1) presents to join a session. Two formats exist and both must be accepted:
//   - legacy T1:  "T1==" + base64("partner_id={apiKey}&sig={hex HMAC-SHA1}:{dataString}")
//   - HS256 JWT signed with the API secret (NODE ≥2.19, PY, JAVA, RUBY, PHP).
// Each SDK writes them a little differently; the validator accepts every variant SPEC §5.2/§5.3
// lists and nothing looser.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sb::core {

// SPEC §5.2: the roles a token can grant.
enum class Role { publisher, subscriber, moderator, publisheronly };

// Exact lowercase names as the SDKs write them; anything else is nullopt.
std::optional<Role> role_from_string(std::string_view s) noexcept;
std::string_view to_string(Role r) noexcept;

enum class client_token_error {
  malformed = 1,  ///< Not a decodable T1 or JWT token, a required field is missing or has the
                  ///< wrong type, or the lifetime exceeds 30 days.
  bad_signature,  ///< The HMAC does not verify with the project's secret.
  wrong_project,  ///< partner_id / iss is not the project's API key.
  wrong_session,  ///< The token was issued for another session.
  expired,        ///< now is at or past the expire time.
  invalid_role,   ///< role is not one of the four SPEC §5.2 roles.
  bad_scope,      ///< scope is present and is not "session.connect".
  data_too_large, ///< connection_data is longer than client_token_max_data bytes.
};

const boost::system::error_category& client_token_category() noexcept;
boost::system::error_code make_error_code(client_token_error e) noexcept;

// SPEC §5.2: connection_data ≤ 1000 chars in most SDKs, NODE allows 1024; the larger wins.
inline constexpr std::size_t client_token_max_data = 1024;
// SPEC §5.2: default lifetime 24 h, longest 30 days.
inline constexpr std::int64_t client_token_default_lifetime_s = 86400;
inline constexpr std::int64_t client_token_max_lifetime_s = 30 * 86400;

struct ClientToken {
  Role role = Role::publisher;
  std::string connection_data;            ///< Decoded; becomes the connection's data (§2.1).
  std::int64_t create_time = 0;           ///< Seconds since the epoch.
  std::int64_t expire_time = 0;           ///< Seconds; the default already applied.
  std::vector<std::string> layout_classes; ///< initial_layout_class_list, split on spaces.
  bool legacy_t1 = false;                 ///< True for a T1 token, false for a JWT.
};

// Validates `token` for joining `session_id` of the project (api_key, api_secret) at time now_s
// (seconds). A token starting with "T1==" takes the legacy path, anything else must be an HS256
// JWT (SPEC §5.3 gateway rule). Errors are client_token_error values.
boost::system::result<ClientToken> validate_client_token(std::string_view token,
                                                         std::string_view api_key,
                                                         std::string_view api_secret,
                                                         std::string_view session_id,
                                                         std::int64_t now_s);

// T1 token the way NODE's opentok-token writes it: standard padded base64, every value
// form-encoded, fields in the order session_id, create_time, expire_time, role, nonce,
// connection_data (only when non-empty), initial_layout_class_list. With empty connection data
// and no layout classes this reproduces the SPEC §5.2 test vector byte for byte.
std::string make_t1_token(std::string_view api_key, std::string_view api_secret,
                          std::string_view session_id, Role role, std::int64_t create_time,
                          std::int64_t expire_time, std::string_view connection_data,
                          std::string_view nonce,
                          const std::vector<std::string>& layout_classes = {});

// JWT client token with NODE's claim set (SPEC §5.3): iss, ist "project", iat = create_time,
// exp = expire_time, session_id, create_time, expire_time, nonce, role,
// initial_layout_class_list (space-joined), scope "session.connect", and connection_data when
// non-empty. nonce is written as a JSON number when it parses as one (NODE's Math.random()),
// otherwise as a string.
std::string make_jwt_token(std::string_view api_key, std::string_view api_secret,
                           std::string_view session_id, Role role, std::int64_t create_time,
                           std::int64_t expire_time, std::string_view connection_data,
                           std::string_view nonce,
                           const std::vector<std::string>& layout_classes = {});

} // namespace sb::core

namespace boost::system {
template <>
struct is_error_code_enum<sb::core::client_token_error> : std::true_type {};
} // namespace boost::system
