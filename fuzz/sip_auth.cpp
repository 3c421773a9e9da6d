// libFuzzer target for src/sip/auth.{hpp,cpp}.
//
// The input is split at NUL bytes into up to four challenge header values. Each is parsed alone;
// whatever parses is answered with authorization_value, and the answer must be a Digest value
// without CR/LF that message.hpp's parser reads back with the same realm, nonce and uri.
// choose_challenge and a DigestSession (the stateful layer) then run over the whole set, so the
// retry policy is exercised with hostile challenges too: it must end within its round cap.
//
// Build and run (one command per line, wrapped here; no trailing backslashes, -Wcomment):
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
//       fuzz/sip_auth.cpp src/sip/auth.cpp src/sip/message.cpp src/sip/uri.cpp
//       src/base/crypto.cpp src/base/encoding.cpp -lcrypto -o /tmp/fuzz_sip_auth
//   /tmp/fuzz_sip_auth -dict=fuzz/dict/sip.dict fuzz/corpus/sip_auth
#include "fuzz_support.hpp"
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sip/auth.hpp"
#include "sip/message.hpp"

namespace {

using namespace sb::sip;

using sb::fuzz::require;

/// The unquoted value of one auth-param of a credentials value, read with message.hpp.
std::string param(std::string_view value, std::string_view name) {
  const auto a = parse_auth(value);
  require(a.has_value(), "our credentials parse as an auth header");
  const auto p = find_auth_param(a->params, name);
  require(p.has_value(), "credentials carry every mandatory parameter");
  std::string out;
  if (p->quoted) {
    require(append_unquoted(out, p->value), "quoted values unquote");
  } else {
    out.assign(p->value);
  }
  return out;
}

void check_answer(const DigestChallenge& ch) {
  const Credentials creds{"user\"\\name", "pw"};
  const std::string v =
      authorization_value(ch, creds, "INVITE", "sip:bob@biloxi.com", "body", 1, "0a4f113b");
  require(!v.empty(), "a parsed challenge is always answerable");
  require(v.find_first_of("\r\n") == std::string::npos, "no CR/LF in a header value");
  require(v.rfind("Digest ", 0) == 0, "credentials start with the scheme");
  require(param(v, "realm") == ch.realm, "realm round-trips");
  require(param(v, "nonce") == ch.nonce, "nonce round-trips");
  require(param(v, "username") == creds.username, "username round-trips");
  require(param(v, "uri") == "sip:bob@biloxi.com", "uri is the Request-URI");
  const std::size_t hex = (ch.algorithm == Algorithm::md5 || ch.algorithm == Algorithm::md5_sess)
                              ? 32
                              : 64;
  require(param(v, "response").size() == hex, "response is one digest in hex");
  if (ch.has_opaque) require(param(v, "opaque") == ch.opaque, "opaque round-trips");
  if (ch.qop_auth || ch.qop_auth_int) require(param(v, "nc") == "00000001", "nc is 8LHEX");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> values;
  std::size_t start = 0;
  while (values.size() < 4) {
    const auto nul = input.find('\0', start);
    values.push_back(input.substr(start, nul == std::string_view::npos ? nul : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }

  for (const auto v : values) {
    for (const bool proxy : {false, true}) {
      DigestChallenge ch;
      const auto ec = parse_challenge(v, proxy, ch);
      if (ec) {
        require(ec.category() == auth_category(), "errors are sip.auth errors");
        continue;
      }
      require(ch.proxy == proxy, "proxy flag kept");
      require(!is_sess(ch.algorithm) || ch.qop_auth || ch.qop_auth_int, "-sess implies qop");
      check_answer(ch);
    }
  }

  DigestChallenge chosen;
  if (!choose_challenge(values, false, chosen)) check_answer(chosen);

  // The retry policy must terminate: at most k_default_max_rounds retries per request.
  DigestSession session({"alice", "secret"});
  int retries = 0;
  for (int round = 0; round < 10; ++round) {
    if (session.on_challenge(values, round % 2 == 1) == DigestSession::Next::give_up) break;
    ++retries;
    std::vector<CredentialsHeader> out;
    require(!session.authorize("INVITE", "sip:bob@biloxi.com", "", out), "authorize succeeds");
    require(!out.empty() && out.size() <= DigestSession::k_max_realms, "headers per realm");
  }
  require(retries <= DigestSession::k_default_max_rounds, "round cap holds");
  return 0;
}
