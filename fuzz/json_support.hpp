// JSON helpers for the targets whose round trips go through Boost.JSON (app_config,
// signaling_raptor). Boost.JSON 1.81 parses doubles imprecisely: serialize → parse may give back a
// neighbouring double (6e46 → 5.999999999999999E46 → 5.999999999999998E46), so round trips
// compare doubles with a relative tolerance. It also parses an out-of-range number to infinity
// (1e400) or even NaN (0e400), then serializes them as `Infinity` / `NaN`, which are not JSON:
// targets detect that case with has_nonfinite and treat it as the known limitation it is.
#pragma once
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

namespace sb::fuzz {

inline bool json_near(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double(), y = b.get_double(), d = std::fabs(x - y);
    return x == y || d <= 1e-14 * std::max(std::fabs(x), std::fabs(y)) || d < 1e-300;
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &x = a.get_array(), &y = b.get_array();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!json_near(x[i], y[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const auto &x = a.get_object(), &y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      const auto* other = y.if_contains(kv.key());
      if (!other || !json_near(kv.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

inline bool has_nonfinite(const boost::json::value& v) {
  if (v.is_double()) return !std::isfinite(v.get_double());
  if (v.is_array()) return std::any_of(v.get_array().begin(), v.get_array().end(), has_nonfinite);
  if (v.is_object())
    return std::any_of(v.get_object().begin(), v.get_object().end(),
                       [](const auto& kv) { return has_nonfinite(kv.value()); });
  return false;
}

}  // namespace sb::fuzz
