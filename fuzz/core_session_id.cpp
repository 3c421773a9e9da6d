// libFuzzer target for src/core/session_id.{hpp,cpp} (SPEC §5.1): every REST route under
// /session/{sid}, the dial body and the browser's Rumor/Raptor uris hand an untrusted session ID
// to parse_session_id.
//
// Input: the whole input is parsed as an ID; an ID it accepts is at most 255 bytes and its fields
// hold no `~`. Then the input split at the first NUL is (api key, location) for make_session_id
// (created_ms from the first 8 bytes): the generated ID must parse back to "1", the key and
// location with is_session_id_safe's bytes dropped, and the decimal time; after "1_" it holds no
// `_` and every `-` ends a base64 quantum (what the NET and PHP SDK decoders rely on), and it fits
// in 255 bytes whenever key and location together stay under 140 bytes.
#include "fuzz_support.hpp"

#include "core/session_id.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

using sb::fuzz::require;

namespace {

std::string safe_only(std::string_view s) {
  std::string out;
  for (char c : s)
    if (sb::core::is_session_id_safe(std::string_view(&c, 1))) out += c;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto info = sb::core::parse_session_id(in)) {
    require(in.size() <= sb::core::session_id_max_size, "accepted IDs are bounded");
    for (auto* f : {&info->version, &info->api_key, &info->location, &info->created})
      require(f->find('~') == std::string::npos, "fields hold no separator");
  } else {
    (void)info.error().message();
  }

  const auto nul = in.find('\0');
  const std::string_view key = in.substr(0, nul);
  const std::string_view location = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  std::int64_t created_ms = 0;
  if (size) std::memcpy(&created_ms, data, std::min<std::size_t>(size, sizeof created_ms));
  const std::string id = sb::core::make_session_id(key, location, created_ms);
  const auto back = sb::core::parse_session_id(id);
  if (key.size() + location.size() < 140) {
    require(id.size() <= sb::core::session_id_max_size, "generated ID fits in 255 bytes");
    require(back.has_value(), "a generated ID parses");
  }
  if (back) {
    require(back->version == "1" && back->api_key == safe_only(key) && back->location == safe_only(location) &&
                back->created == std::to_string(created_ms),
            "generated ID round trip");
  }
  for (std::size_t i = 2; i < id.size(); ++i) {
    require(id[i] != '_', "no '_' after the prefix");
    if (id[i] == '-') require((i - 2) % 4 == 3, "'-' only at the end of a quantum");
  }
  return 0;
}
