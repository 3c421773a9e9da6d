// libFuzzer target: client token validation (SPEC §5.2 T1, §5.3 JWT) with a fixed project.
// Input forms (so the fuzzer gets past the HMAC and into the field parsing):
//   "T1DATA:<data string>"   -> a T1 token around <data string>, correctly signed
//   "JWTPAYLOAD:<json>"      -> an HS256 JWT with payload <json>, correctly signed
//   anything else            -> validated as the token itself
#include "core/client_token.hpp"

#include "base/crypto.hpp"
#include "base/encoding.hpp"
#include "core/jwt.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view api_key = "123456";
constexpr std::string_view api_secret = "1234567890abcdef1234567890abcdef1234567890";
constexpr std::string_view session_id =
    "1_MX4xMjM0NTZ-flNhdCBNYXIgMTUgMTQ6NDI6MjMgUERUIDIwMTR-MC40OTAxMzAyNX4";
constexpr std::int64_t now_s = 1700000100;

void check(std::string_view token) {
  const auto r = sb::core::validate_client_token(token, api_key, api_secret, session_id, now_s);
  if (r.has_value()) {
    // Invariants of an accepted token.
    if (r->connection_data.size() > 4 * sb::core::client_token_max_data) __builtin_trap();
    if (r->expire_time <= now_s) __builtin_trap();
    if (r->expire_time - r->create_time > sb::core::client_token_max_lifetime_s) __builtin_trap();
    for (const auto& c : r->layout_classes) {
      if (c.empty() || c.find(' ') != std::string::npos) __builtin_trap();
    }
  } else {
    (void)r.error().message();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view t1_mode = "T1DATA:";
  constexpr std::string_view jwt_mode = "JWTPAYLOAD:";
  if (in.starts_with(t1_mode)) {
    const std::string_view body = in.substr(t1_mode.size());
    std::string plain = "partner_id=" + std::string(api_key) +
                        "&sig=" + sb::to_hex(sb::hmac_sha1(api_secret, body)) + ":";
    plain += body;
    check("T1==" + sb::base64_encode(plain, size % 2 == 0, size % 3 != 0));
  } else if (in.starts_with(jwt_mode)) {
    check(sb::core::jwt_sign_hs256_raw(R"({"alg":"HS256","typ":"JWT"})", in.substr(jwt_mode.size()),
                                       api_secret));
  } else {
    check(in);
  }
  return 0;
}
