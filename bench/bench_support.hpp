// Shared by the REST benchmarks: the benchmark project, REST JWTs as the Node SDK signs them,
// and percentiles.
#pragma once
#include "base/clock.hpp"
#include "core/jwt.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace sb::bench {

inline constexpr const char* kKey = "123456";
inline constexpr const char* kSecret = "1234567890abcdef1234567890abcdef1234567890";

inline std::string auth() {
  auto iat = sb::unix_s();
  return sb::core::jwt_encode_hs256(
      boost::json::object{{"iss", kKey}, {"ist", "project"}, {"iat", iat}, {"exp", iat + 300}}, kSecret);
}

// The p-quantile (0..1) of the samples.
inline double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace sb::bench
