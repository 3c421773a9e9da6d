// libFuzzer target: the POST /dial body parser (SPEC §2.1). Every accepted request must satisfy
// the invariants the SIP layer relies on (no CR/LF anywhere it copies into the INVITE).
#include "http/dial_request.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::string detail;
  const auto r = sb::http::parse_dial_request(body, &detail);
  if (!r.has_value()) {
    if (detail.empty()) __builtin_trap(); // every refusal explains itself
    (void)r.error().message();
    return 0;
  }
  const auto& sip = r->sip;
  if (r->session_id.empty() || r->token.empty() || sip.uri.empty()) __builtin_trap();
  if (has_crlf(sip.uri) || has_crlf(sip.from)) __builtin_trap();
  if (sip.headers.size() > sb::http::dial_max_headers) __builtin_trap();
  for (const auto& [name, value] : sip.headers) {
    if (name.empty() || has_crlf(name) || has_crlf(value) || name.find(':') != std::string::npos) {
      __builtin_trap();
    }
  }
  if (sip.auth && (sip.auth->first.empty() || has_crlf(sip.auth->first))) __builtin_trap();
  return 0;
}
