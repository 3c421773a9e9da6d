// libFuzzer target: HS256 JWT decoding (RFC 7515 compact form) and the base64 underneath it.
// Input forms:
//   "<header json>\n<payload json>" -> signed with the fixed secret, then decoded
//   and always: the input itself as a token, verified and unverified, plus base64 round trips.
#include "core/jwt.hpp"

#include "base/encoding.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view secret = "1234567890abcdef1234567890abcdef1234567890";

void inspect(const boost::system::result<sb::core::Jwt>& r) {
  if (!r.has_value()) {
    (void)r.error().message();
    return;
  }
  for (const auto& kv : r->payload) (void)sb::core::jwt_int_claim(r->payload, kv.key());
  (void)sb::core::jwt_int_claim(r->payload, "exp");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  inspect(sb::core::jwt_decode_hs256(in, secret));
  inspect(sb::core::jwt_decode_unverified(in));

  if (const auto nl = in.find('\n'); nl != std::string_view::npos) {
    const std::string token = sb::core::jwt_sign_hs256_raw(in.substr(0, nl), in.substr(nl + 1),
                                                           secret);
    const auto r = sb::core::jwt_decode_hs256(token, secret);
    inspect(r);
    // A token we signed ourselves never fails on the signature.
    if (!r.has_value() && r.error() == sb::core::jwt_error::bad_signature) __builtin_trap();
  }

  // base64: encode/decode round trip in every alphabet and padding; decoding is canonical.
  for (const bool url : {false, true}) {
    for (const bool pad : {false, true}) {
      if (sb::base64_decode(sb::base64_encode(in, url, pad)) != std::string(in)) __builtin_trap();
    }
  }
  if (const auto dec = sb::base64_decode(in)) {
    const bool pad = !in.empty() && in.back() == '=';
    const bool url = in.find_first_of("-_") != std::string_view::npos;
    const bool std_chars = in.find_first_of("+/") != std::string_view::npos;
    if (!(url && std_chars) && sb::base64_encode(*dec, url, pad) != in) __builtin_trap();
  }
  (void)sb::form_parse(in);
  return 0;
}
