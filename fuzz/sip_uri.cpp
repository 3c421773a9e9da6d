// libFuzzer target for src/sip/uri.{hpp,cpp}.
//
// parse_uri must never read outside its input; what it accepts must serialise with to_string and
// parse back to the same fields, and must also pass the generic absolute-URI check.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
//       fuzz/sip_uri.cpp src/sip/uri.cpp -o /tmp/fuzz_sip_uri
//   /tmp/fuzz_sip_uri -dict=fuzz/dict/sip.dict fuzz/corpus/sip_uri
#include "fuzz_support.hpp"
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sip/uri.hpp"

namespace {

using namespace sb::sip;

using sb::fuzz::require;

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool same(const Uri& a, const Uri& b) {
  return a.scheme == b.scheme && a.user == b.user && a.password == b.password &&
         a.has_password == b.has_password && a.host == b.host && a.host_kind == b.host_kind &&
         a.port == b.port && a.params == b.params && a.headers == b.headers &&
         a.transport_param == b.transport_param && a.user_param == b.user_param &&
         a.method_param == b.method_param && a.maddr_param == b.maddr_param && a.ttl == b.ttl &&
         a.lr == b.lr;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string_view why;
  const auto u = parse_uri(text, &why);

  // Side helpers on raw input.
  (void)parse_host(text);
  (void)is_ipv4_address(text);
  (void)is_ipv6_address(text);
  (void)sb::is_sip_token(text);
  (void)escaped_iequals(text, "transport");
  char small[16];
  (void)unescape(text, small);

  if (!u) {
    require(!why.empty(), "a rejection has a reason");
    return 0;
  }
  for (std::string_view part : {u->user, u->password, u->host, u->params, u->headers,
                                u->transport_param, u->user_param, u->method_param, u->maddr_param})
    require(inside(part, text), "views inside the input");
  require(is_absolute_uri(text), "a SIP URI is an absolute URI");
  require(parse_host(u->host) == u->host_kind, "host kind");
  require(!u->port || *u->port != 0, "port is never 0");
  (void)u->transport();
  (void)u->host_address();

  UriParamCursor pc(u->params);
  while (auto p = pc.next()) {
    std::string decoded;
    require(append_unescaped(decoded, p->name), "accepted params unescape");
  }
  UriHeaderCursor hc(u->headers);
  while (auto h = hc.next()) require(!h->name.empty(), "accepted headers have names");
  std::string user;
  require(append_unescaped(user, u->user), "accepted user unescapes");

  const std::string again_text = to_string(*u);
  const auto again = parse_uri(again_text);
  require(again.has_value(), "to_string output parses");
  require(same(*u, *again), "round trip keeps every field");
  require(to_string(*again) == again_text, "to_string is stable");
  return 0;
}
