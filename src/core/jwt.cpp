#include "core/jwt.hpp"

#include "base/crypto.hpp"
#include "base/encoding.hpp"

#include <boost/json.hpp>

#include <cmath>

namespace sb::core {
namespace {

class jwt_category_impl final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "sb.jwt"; }
  std::string message(int ev) const override {
    switch (static_cast<jwt_error>(ev)) {
    case jwt_error::malformed: return "JWT is not three non-empty base64url parts";
    case jwt_error::bad_json: return "JWT header or payload is not a JSON object";
    case jwt_error::unsupported_alg: return "JWT algorithm is not HS256 or has critical extensions";
    case jwt_error::bad_signature: return "JWT signature does not verify";
    case jwt_error::too_large: return "JWT is too large";
    }
    return "unknown JWT error";
  }
};

// Nesting real tokens never approach; bounds the parser's recursion on hostile input.
constexpr std::size_t max_json_depth = 16;

// JWS compact serialization uses base64url without padding (RFC 7515 §2, Appendix C). Every SDK's
// JWT library writes exactly that, so `+`, `/` and `=` are refused here even though
// base64_decode would take them: one spelling per token.
bool is_base64url(std::string_view s) {
  for (const char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

struct Parts {
  std::string_view header, payload, signature, signing_input;
};

boost::system::result<Parts> split(std::string_view token) {
  if (token.size() > jwt_max_token_size) return jwt_error::too_large;
  const std::size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) return jwt_error::malformed;
  const std::size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return jwt_error::malformed;
  if (token.find('.', d2 + 1) != std::string_view::npos) return jwt_error::malformed;
  Parts p{token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1),
          token.substr(0, d2)};
  if (p.header.empty() || p.payload.empty()) return jwt_error::malformed;
  if (!is_base64url(p.header) || !is_base64url(p.payload) || !is_base64url(p.signature)) {
    return jwt_error::malformed;
  }
  return p;
}

boost::system::result<boost::json::object> decode_object(std::string_view part) {
  const auto text = base64_decode(part);
  if (!text) return jwt_error::malformed;
  boost::json::parse_options opts;
  opts.max_depth = max_json_depth;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*text, ec, {}, opts);
  if (ec || !v.is_object()) return jwt_error::bad_json;
  return std::move(v.as_object());
}

std::string b64url(std::string_view bytes) { return base64_encode(bytes, true, false); }

} // namespace

const boost::system::error_category& jwt_category() noexcept {
  static const jwt_category_impl cat;
  return cat;
}

boost::system::error_code make_error_code(jwt_error e) noexcept {
  return {static_cast<int>(e), jwt_category()};
}

std::string jwt_sign_hs256_raw(std::string_view header_json, std::string_view payload_json,
                               std::string_view secret) {
  std::string input = b64url(header_json);
  input += '.';
  input += b64url(payload_json);
  const std::string mac = hmac_sha256(secret, input);
  input += '.';
  input += b64url(mac);
  return input;
}

std::string jwt_encode_hs256(const boost::json::object& payload, std::string_view secret,
                             const boost::json::object& extra_header) {
  boost::json::object header;
  header["alg"] = "HS256";
  header["typ"] = "JWT";
  for (const auto& kv : extra_header) header[kv.key()] = kv.value();
  header["alg"] = "HS256";
  return jwt_sign_hs256_raw(boost::json::serialize(header), boost::json::serialize(payload), secret);
}

boost::system::result<Jwt> jwt_decode_unverified(std::string_view token) {
  auto parts = split(token);
  if (!parts) return parts.error();
  auto header = decode_object(parts->header);
  if (!header) return header.error();
  auto payload = decode_object(parts->payload);
  if (!payload) return payload.error();
  return Jwt{std::move(*header), std::move(*payload)};
}

boost::system::result<Jwt> jwt_decode_hs256(std::string_view token, std::string_view secret) {
  auto parts = split(token);
  if (!parts) return parts.error();
  auto header = decode_object(parts->header);
  if (!header) return header.error();

  // RFC 7515 §4.1.1 / RFC 8725 §3.1: the algorithm is fixed by us, never chosen by the token.
  const boost::json::value* alg = header->if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->get_string() != "HS256") {
    return jwt_error::unsupported_alg;
  }
  // RFC 7515 §4.1.11: a recipient that does not understand a listed extension must reject.
  if (header->contains("crit")) return jwt_error::unsupported_alg;

  const auto sig = base64_decode(parts->signature);
  if (!sig) return jwt_error::malformed;
  if (!constant_time_equal(*sig, hmac_sha256(secret, parts->signing_input))) {
    return jwt_error::bad_signature;
  }

  auto payload = decode_object(parts->payload);
  if (!payload) return payload.error();
  return Jwt{std::move(*header), std::move(*payload)};
}

std::optional<std::int64_t> jwt_int_claim(const boost::json::object& claims, std::string_view name) {
  const boost::json::value* v = claims.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) {
    const std::uint64_t u = v->get_uint64();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v->is_double()) {
    const double d = v->get_double();
    // [-2^63, 2^63): the conversion below is only defined inside this range.
    if (!std::isfinite(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) {
      return std::nullopt;
    }
    if (std::trunc(d) != d) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

} // namespace sb::core
