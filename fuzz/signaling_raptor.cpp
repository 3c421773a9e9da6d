// libFuzzer target for src/signaling/raptor.{hpp,cpp} on its own: a Raptor v2 MESSAGE payload as
// a browser sends it (signaling_rumor reaches it only through a valid Rumor frame).
//
// The whole input is a payload for parse_raptor and a uri for parse_raptor_uri. A message it
// accepts re-serializes with serialize_raptor and parses back to the same method, uri, content
// (doubles within Boost.JSON's parsing error, json_support.hpp) and reason. A uri it accepts has
// partner and session, ids of 1..kMaxRaptorId bytes with no `/`, a known resource, views inside
// the input, and rebuilt in canonical key order it parses to the same ids.
#include "fuzz_support.hpp"
#include "json_support.hpp"

#include "signaling/raptor.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

using namespace sb::signaling;
using sb::fuzz::require;

namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::array<std::pair<std::string_view, std::string_view>, 9> fields(const RaptorUri& u) {
  return {{{"partner", u.partner}, {"session", u.session}, {"connection", u.connection}, {"stream", u.stream},
           {"subscriber", u.subscriber}, {"channel", u.channel}, {"signal", u.signal}, {"data", u.data},
           {"archive", u.archive}}};
}

void check_uri(std::string_view uri) {
  const auto u = parse_raptor_uri(uri);
  if (!u) return;
  require(!u->partner.empty() && !u->session.empty(), "uri has partner and session");
  std::string rebuilt = "/v2";
  for (auto [key, value] : fields(*u)) {
    require(value.size() <= kMaxRaptorId && value.find('/') == std::string_view::npos, "ids bounded, no '/'");
    require(sb::fuzz::inside(bytes(value), bytes(uri)), "ids are views into the uri");
    if (!value.empty()) rebuilt.append("/").append(key).append("/").append(value);
  }
  static constexpr std::string_view kResources[] = {"partner", "session", "connection", "stream",
                                                    "subscriber", "stream_channel", "subscriber_channel",
                                                    "channel", "signal", "data", "archive", "migrate"};
  require(std::find(std::begin(kResources), std::end(kResources), u->resource) != std::end(kResources),
          "resource is known");
  const auto again = parse_raptor_uri(rebuilt);
  require(again.has_value(), "canonical uri parses");
  const auto a = fields(*u), b = fields(*again);
  for (std::size_t i = 0; i < a.size(); ++i) require(a[i].second == b[i].second, "uri round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check_uri(in);
  std::string why;
  const auto m = parse_raptor(in, &why);
  if (!m) {
    require(!why.empty(), "a refusal names its reason");
    return 0;
  }
  const std::string out = serialize_raptor(m->method, m->uri, m->content, m->reason);
  const auto again = parse_raptor(out);
  // Known: content with a number beyond double range serializes as `Infinity`/`NaN` (json_support.hpp);
  // the server never echoes a client's content as it is, so this stays a limitation, not a bug.
  require(again.has_value() || sb::fuzz::has_nonfinite(m->content), "serialized message parses");
  if (!again) return 0;
  require(again->method == m->method && again->uri == m->uri && sb::fuzz::json_near(again->content, m->content) &&
              again->reason == m->reason,
          "message round trip");
  check_uri(m->uri);
  return 0;
}
