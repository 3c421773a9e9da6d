#pragma once
// HS256 JSON Web Tokens in JWS compact serialization (RFC 7519 §3, RFC 7515 §3.1, §7.1):
//   BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(HMAC-SHA256(secret, first two parts))
// Used for the project auth header X-OPENTOK-AUTH (SPEC §1) and JWT client tokens (SPEC §5.3).
// Only HS256 exists here: the OpenTok SDKs sign both with the API secret, and accepting any other
// `alg` (notably "none", RFC 7518 §3.6) would let a token choose how it is checked.

#include <boost/json/object.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace sb::core {

enum class jwt_error {
  malformed = 1,   ///< Not three `.`-separated base64url parts, or the header/payload is empty.
  bad_json,        ///< The header or payload is not a JSON object (or not valid UTF-8 JSON).
  unsupported_alg, ///< `alg` is not exactly "HS256", or the header lists `crit` extensions.
  bad_signature,   ///< The HMAC does not match the secret.
  too_large,       ///< The token is longer than jwt_max_token_size.
};

const boost::system::error_category& jwt_category() noexcept;
boost::system::error_code make_error_code(jwt_error e) noexcept;

// Real tokens are a few hundred bytes. The worst legitimate case is a client token carrying 1024
// characters of non-ASCII connection_data that PY's json.dumps writes as \uXXXX escapes (6 KiB,
// 8 KiB once base64url-encoded). The cap bounds the JSON parser's work on unauthenticated input.
inline constexpr std::size_t jwt_max_token_size = 16 * 1024;

struct Jwt {
  boost::json::object header;
  boost::json::object payload;
};

// Header {"alg":"HS256","typ":"JWT"} followed by extra_header's members (an extra `typ` replaces
// the default one; `alg` is always HS256). Parts are base64url without padding (RFC 7515 §2).
std::string jwt_encode_hs256(const boost::json::object& payload, std::string_view secret,
                             const boost::json::object& extra_header = {});

// Signs the given header and payload JSON texts byte for byte. For tests and tools that must
// reproduce an SDK's exact token bytes (member order, a header without `typ`, ...).
std::string jwt_sign_hs256_raw(std::string_view header_json, std::string_view payload_json,
                               std::string_view secret);

// Verifies and decodes. Checks in order: size, shape (exactly three parts, header and payload
// non-empty, base64url alphabet only, no padding), header JSON, `alg` == "HS256" and no `crit`,
// the signature in constant time, then the payload JSON. The payload is therefore only parsed
// once authenticated. `typ` is not checked (RFC 7519 §5.1 makes it optional). Duplicate JSON
// members keep the last value, as RFC 7515 §4 permits.
boost::system::result<Jwt> jwt_decode_hs256(std::string_view token, std::string_view secret);

// Decodes without verifying anything but shape and JSON. Only for reading `iss` to find which
// secret to verify with (SPEC §1); nothing from it may be trusted before jwt_decode_hs256.
boost::system::result<Jwt> jwt_decode_unverified(std::string_view token);

// An integer claim (RFC 7519 §2 NumericDate and friends): an int64, a uint64 that fits, or a
// double with an integral value in range (some JSON encoders write 1.7e9). Absent, null, strings,
// fractions and other types give nullopt.
std::optional<std::int64_t> jwt_int_claim(const boost::json::object& claims, std::string_view name);

} // namespace sb::core

namespace boost::system {
template <>
struct is_error_code_enum<sb::core::jwt_error> : std::true_type {};
} // namespace boost::system
