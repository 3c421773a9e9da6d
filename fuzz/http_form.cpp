// libFuzzer target for the REST request bodies that our own code decodes outside POST /dial:
// application/x-www-form-urlencoded (WHATWG URL §5) as POST /session/create sends it, and the
// RFC 3986 §2.1 percent-decoding of path segments (src/base/encoding.{hpp,cpp}: form_parse,
// form_encode_component, percent_decode).
//
// Not here: the small JSON bodies of signal, play-dtmf, mute and callback registration, and the
// /session/create field rules. They are validated inline in RestApi's coroutine handlers
// (src/http/rest_api.cpp, anonymous namespace, Asio + Beast) and cannot be called alone; their JSON
// goes through Boost.JSON, which http_dial_request and signaling_raptor already feed.
//
// Invariants: form_parse refuses exactly the bodies with a bad `%XX`; what it accepts re-encodes
// with form_encode_component into a canonical body that parses to the same pairs and encodes back
// to itself; a piece count never exceeds the `&`-separated pieces; percent_decode never grows its
// input, and decoding the encoding of any bytes gives them back.
#include "fuzz_support.hpp"

#include "base/encoding.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using sb::fuzz::require;

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string encode(const Pairs& pairs) {
  std::string out;
  for (const auto& [name, value] : pairs) {
    if (!out.empty()) out += '&';
    out += sb::form_encode_component(name);
    out += '=';
    out += sb::form_encode_component(value);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  const auto plain = sb::percent_decode(in, false);
  const auto plus = sb::percent_decode(in, true);
  require(plain.has_value() == plus.has_value(), "'+' never decides validity");
  if (plain) require(plain->size() <= in.size() && plus->size() == plain->size(), "decoding never grows");
  require(sb::percent_decode(sb::form_encode_component(in), true) == std::string(in), "component round trip");

  const auto form = sb::form_parse(in);
  // A piece fails only on its `%XX`; the `&` and `=` split never does.
  require(form.has_value() == plus.has_value(), "form refuses exactly a bad %XX");
  if (!form) return 0;
  require(form->size() <= static_cast<std::size_t>(std::count(in.begin(), in.end(), '&')) + 1, "piece count");
  const std::string canonical = encode(*form);
  const auto again = sb::form_parse(canonical);
  require(again.has_value() && *again == *form, "form round trip");
  require(encode(*again) == canonical, "canonical encoding is stable");
  return 0;
}
