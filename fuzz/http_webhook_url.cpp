// libFuzzer target for parse_webhook_url (src/http/webhook.{hpp,cpp}): callback URLs come from
// POST /v2/project/{k}/callback and the config file, and end up in a request line, a Host field,
// a resolver query and a TLS SNI.
//
// Invariants for an accepted URL: host non-empty (a lowercase DNS name, or an IP literal without
// brackets), port 1..65535, no CR, LF, space or NUL in host, Host field or target (they are written
// into the HTTP/1.1 request as they are), target in origin-form; and the URL rebuilt from its
// parts (scheme://host_header target) parses to the same target.
#include "fuzz_support.hpp"

#include "http/webhook.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using sb::fuzz::require;

namespace {

bool clean(std::string_view s) { return s.find_first_of(std::string_view("\r\n \0", 4)) == std::string_view::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto t = sb::http::parse_webhook_url(in);
  if (!t) return 0;
  require(!t->host.empty() && t->port != 0, "host and port set");
  require(clean(t->host) && clean(t->host_header) && clean(t->target), "no CR, LF, SP or NUL on the wire");
  require(!t->target.empty() && t->target.front() == '/', "origin-form target");
  require(t->host.find_first_of("[]") == std::string::npos, "host without brackets");
  if (!t->host_is_ip)
    for (char c : t->host) require(!(c >= 'A' && c <= 'Z'), "DNS names lowercase");
  const std::string rebuilt = std::string(t->tls ? "https://" : "http://") + t->host_header + t->target;
  const auto again = sb::http::parse_webhook_url(rebuilt);
  require(again.has_value(), "rebuilt URL parses");
  require(again->tls == t->tls && again->host == t->host && again->port == t->port &&
              again->host_is_ip == t->host_is_ip && again->host_header == t->host_header && again->target == t->target,
          "URL round trip");
  return 0;
}
