// libFuzzer target for src/http/project_auth.{hpp,cpp}: the X-OPENTOK-AUTH check (SPEC §1) every
// authenticated REST request passes, with one project ("46000001") and a fixed clock.
//
// Input: one flags byte (bit 0: the route has a `:apiKey` segment; bit 1: it names another
// project; bits 2-7: the skew in minutes), then either "<header json>\n<payload json>", signed
// with the project's secret and, separately, with a wrong one, or (no newline) a raw token.
// Invariants: a refusal has a message; a token signed with the wrong secret is never accepted;
// an accepted token names the project (and the path's key), verifies with its secret, carries no
// client-token claims, says ist "project" or nothing, and its iat/exp (and nbf) put the clock
// inside the allowed window with a lifetime of at most 300 s + skew.
#include "fuzz_support.hpp"

#include "core/jwt.hpp"
#include "http/project_auth.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

using sb::fuzz::require;

namespace {

constexpr std::string_view kKey = "46000001";
constexpr std::string_view kSecret = "5b0a7f9c3e1d4a2b8c6e0f1a2b3c4d5e6f708192";
constexpr std::int64_t kNow = 1700000000;

std::optional<std::string> lookup(std::string_view key) {
  if (key == kKey) return std::string(kSecret);
  return std::nullopt;
}

bool ist_ok(const boost::json::object& o) {
  const auto* v = o.if_contains("ist");
  return !v || v->is_null() || (v->is_string() && v->get_string() == "project");
}

void check(std::string_view token, std::optional<std::string_view> path_key, std::int64_t skew, bool must_fail) {
  const auto r = sb::http::verify_project_jwt(token, path_key, lookup, kNow, skew);
  if (!r) {
    require(!r.error().message().empty(), "a refusal has a message");
    return;
  }
  require(!must_fail, "a token signed with another secret is refused");
  require(*r == kKey && (!path_key || *path_key == *r), "accepted key is the project's and the path's");
  const auto jwt = sb::core::jwt_decode_hs256(token, kSecret);
  require(jwt.has_value(), "an accepted token verifies with the project's secret");
  const auto& p = jwt->payload;
  require(!p.contains("scope") && !p.contains("session_id"), "no client-token claims");
  require(ist_ok(p) && ist_ok(jwt->header), "ist is project or absent");
  const auto iat = sb::core::jwt_int_claim(p, "iat"), exp = sb::core::jwt_int_claim(p, "exp");
  require(iat && exp && *iat <= *exp, "iat and exp present and ordered");
  // Written so that no claim value (attacker-chosen int64s) meets arithmetic before it is bounded.
  require(*iat <= kNow + skew && kNow - skew <= *exp, "clock inside [iat - skew, exp + skew]");
  require(*exp - *iat <= sb::http::project_jwt_max_lifetime_s + skew, "lifetime bounded");
  if (const auto nbf = sb::core::jwt_int_claim(p, "nbf")) require(*nbf <= kNow + skew, "nbf honoured");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  std::optional<std::string_view> path_key;
  if (flags & 1) path_key = (flags & 2) ? std::string_view("46000002") : kKey;
  const std::int64_t skew = (flags >> 2) * 60;

  const auto nl = in.find('\n');
  if (nl == std::string_view::npos) {
    check(in, path_key, skew, false);
    return 0;
  }
  const auto header = in.substr(0, nl), payload = in.substr(nl + 1);
  check(sb::core::jwt_sign_hs256_raw(header, payload, kSecret), path_key, skew, false);
  check(sb::core::jwt_sign_hs256_raw(header, payload, "another secret, 40 bytes long........."), path_key, skew,
        true);
  return 0;
}
