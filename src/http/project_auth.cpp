#include "http/project_auth.hpp"

#include "core/jwt.hpp"

#include <boost/json.hpp>

#include <limits>

namespace sb::http {
namespace {

class project_auth_category_impl final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "sb.project_auth"; }
  std::string message(int ev) const override {
    switch (static_cast<project_auth_error>(ev)) {
    case project_auth_error::missing: return "X-OPENTOK-AUTH header is missing";
    case project_auth_error::malformed: return "X-OPENTOK-AUTH is not a valid HS256 JWT";
    case project_auth_error::unknown_issuer: return "Issuer not found";
    case project_auth_error::issuer_mismatch: return "JWT issuer does not match the project";
    case project_auth_error::bad_signature: return "JWT signature does not verify";
    case project_auth_error::expired: return "JWT has expired";
    case project_auth_error::not_yet_valid: return "JWT is not valid yet";
    case project_auth_error::lifetime_too_long:
      return "JWT lifetime exceeds the 5 minute maximum";
    case project_auth_error::wrong_type: return "JWT is not a project token";
    }
    return "unknown project auth error";
  }
};

// Saturating arithmetic: claim values are attacker-chosen int64s until checked.
std::int64_t sat_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

std::int64_t sat_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (!__builtin_sub_overflow(a, b, &r)) return r;
  return b < 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

std::optional<std::string> issuer_of(const boost::json::object& payload) {
  const boost::json::value* iss = payload.if_contains("iss");
  if (iss == nullptr) return std::nullopt;
  if (iss->is_string()) return std::string(iss->get_string());
  if (iss->is_int64()) return std::to_string(iss->get_int64());
  if (iss->is_uint64()) return std::to_string(iss->get_uint64());
  return std::nullopt;
}

// ist, where present (payload or header), must say "project". Absent or null is fine.
bool ist_ok(const boost::json::object& o) {
  const boost::json::value* ist = o.if_contains("ist");
  if (ist == nullptr || ist->is_null()) return true;
  return ist->is_string() && ist->get_string() == "project";
}

} // namespace

const boost::system::error_category& project_auth_category() noexcept {
  static const project_auth_category_impl cat;
  return cat;
}

boost::system::error_code make_error_code(project_auth_error e) noexcept {
  return {static_cast<int>(e), project_auth_category()};
}

boost::system::result<std::string> verify_project_jwt(std::string_view token,
                                                      std::optional<std::string_view> path_api_key,
                                                      const ProjectSecretLookup& secret_of,
                                                      std::int64_t now_s, std::int64_t skew_s) {
  if (token.empty()) return project_auth_error::missing;

  // Step 1: the unverified payload only tells us which secret to try.
  const auto peek = core::jwt_decode_unverified(token);
  if (!peek) return project_auth_error::malformed;
  auto iss = issuer_of(peek->payload);
  if (!iss || iss->empty()) return project_auth_error::malformed;
  // Checked before the lookup so a token for project A never costs an HMAC on route B.
  if (path_api_key && *path_api_key != *iss) return project_auth_error::issuer_mismatch;
  const auto secret = secret_of ? secret_of(*iss) : std::nullopt;
  if (!secret) return project_auth_error::unknown_issuer;

  // Step 2: verify; from here on the claims are the project's own.
  const auto jwt = core::jwt_decode_hs256(token, *secret);
  if (!jwt) {
    if (jwt.error() == core::jwt_error::bad_signature) return project_auth_error::bad_signature;
    return project_auth_error::malformed;
  }
  const boost::json::object& p = jwt->payload;

  // RUBY puts ist in the JOSE header, everyone else in the payload (SPEC §1).
  if (!ist_ok(p) || !ist_ok(jwt->header)) return project_auth_error::wrong_type;
  // Client tokens (SPEC §5.3) are signed with the same secret and also say ist "project", and
  // they are handed to end users. A short-lived one would otherwise pass as a project token, so
  // anything carrying a client token's scope or session_id is refused. No SDK's project token
  // has either claim.
  if (p.contains("scope") || p.contains("session_id")) return project_auth_error::wrong_type;

  const auto iat = core::jwt_int_claim(p, "iat");
  const auto exp = core::jwt_int_claim(p, "exp");
  if (!iat || !exp) return project_auth_error::malformed;
  if (*exp < *iat) return project_auth_error::malformed;
  if (sat_sub(*exp, *iat) > project_jwt_max_lifetime_s + skew_s) {
    return project_auth_error::lifetime_too_long;
  }
  if (now_s < sat_sub(*iat, skew_s)) return project_auth_error::not_yet_valid;
  // RFC 7519 §4.1.5: honour nbf if a generator ever sends one.
  if (const boost::json::value* v = p.if_contains("nbf"); v != nullptr && !v->is_null()) {
    const auto nbf = core::jwt_int_claim(p, "nbf");
    if (!nbf) return project_auth_error::malformed;
    if (now_s < sat_sub(*nbf, skew_s)) return project_auth_error::not_yet_valid;
  }
  if (now_s > sat_add(*exp, skew_s)) return project_auth_error::expired;
  return std::move(*iss);
}

} // namespace sb::http
