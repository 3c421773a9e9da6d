// libFuzzer target for src/webrtc/stun.{hpp,cpp} and src/webrtc/ice_lite.{hpp,cpp}.
//
// Each input is used twice. As a datagram: parse_stun must never read outside it, views lie
// inside it, decoded addresses and error codes rebuild and parse back the same, and an ICE-lite
// agent fed it answers only with a well-formed, authenticated response. As the attribute list of
// a Binding request the target signs with the agent's password (MESSAGE-INTEGRITY + FINGERPRINT),
// so the fuzzer also reaches the authenticated paths: 400/420/487, nomination, valid pairs.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize=function \
//       -Isrc fuzz/webrtc_stun.cpp src/webrtc/stun.cpp src/webrtc/ice_lite.cpp \
//       src/base/crypto.cpp -o /tmp/fuzz_webrtc_stun -lssl -lcrypto
//   /tmp/fuzz_webrtc_stun -dict=fuzz/dict/webrtc.dict fuzz/corpus/webrtc_stun
#include "fuzz_support.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.hpp"
#include "base/crypto.hpp"
#include "webrtc/ice_lite.hpp"
#include "webrtc/stun.hpp"

namespace {

using namespace sb::webrtc;
using sb::fuzz::inside;
using sb::fuzz::require;

constexpr std::string_view k_ufrag = "sbUF";
constexpr std::string_view k_pwd = "sbPassword0123456789abc";

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

void check_parse(std::span<const std::uint8_t> in) {
  const auto m = parse_stun(in);
  if (!m) {
    require(static_cast<bool>(m.error), "a rejection has a reason");
    require(!stun_username_local_part(in), "no username from a non-message");
    return;
  }
  require(!m.error, "no error on success");
  require(m->size == in.size() && in.size() % 4 == 0, "size is the whole, aligned datagram");
  require(looks_like_stun(in) == (in[0] <= 3), "RFC 7983 class agrees with the parser");
  if (m->username) require(inside(bytes_of(*m->username), in), "USERNAME inside the input");
  require(inside(bytes_of(m->error_reason), in), "reason phrase inside the input");
  if (m->integrity_at) require(*m->integrity_at + 24 <= in.size(), "M-I inside");
  if (m->fingerprint_at) require(*m->fingerprint_at + 8 == in.size(), "FINGERPRINT is last");
  require(m->type == stun_type(m->method, m->cls), "type = method + class");
  (void)verify_integrity(*m, in, k_pwd);
  (void)verify_fingerprint(*m, in);
  if (const auto local = stun_username_local_part(in))
    require(m->username && m->username->starts_with(*local) &&
                (*m->username)[local->size()] == ':',
            "local part is the USERNAME up to ':'");

  std::array<std::uint8_t, k_max_reply_size> out{};
  if (m->xor_mapped_address) {
    const auto& mapped = *m->xor_mapped_address;
    const std::size_t n = build_binding_success(out, m->transaction_id, mapped, "pw");
    const auto r = parse_stun(std::span(out).first(n));
    require(n > 0 && r && r->xor_mapped_address == m->xor_mapped_address &&
                verify_integrity(*r, std::span(out).first(n), "pw") &&
                verify_fingerprint(*r, std::span(out).first(n)),
            "XOR-MAPPED-ADDRESS round trip");
  }
  if (m->error_code) {
    const std::size_t n = build_binding_error(out, m->transaction_id, m->error_code, "");
    const auto r = parse_stun(std::span(out).first(n));
    require(n > 0 && r && r->error_code == m->error_code && !r->integrity_at,
            "ERROR-CODE round trip");
  }
  if (m->username && m->priority) {
    std::array<std::uint8_t, k_max_stun_size> req{};
    const BindingRequestParams p{.username = *m->username, .password = k_pwd,
                                 .priority = *m->priority, .controlling = !m->ice_controlled,
                                 .tie_breaker = m->ice_controlled.value_or(0),
                                 .use_candidate = m->use_candidate};
    const std::size_t n = build_binding_request(req, m->transaction_id, p);
    const auto r = parse_stun(std::span(req).first(n));
    require(n > 0 && r && r->username == m->username && r->priority == m->priority &&
                r->use_candidate == m->use_candidate &&
                verify_integrity(*r, std::span(req).first(n), k_pwd) &&
                verify_fingerprint(*r, std::span(req).first(n)),
            "request round trip");
  }
}

// Feeds one datagram to the agent and checks what it answered.
void check_agent(IceLiteAgent& agent, std::span<const std::uint8_t> d, const StunAddress& from,
                 IceTime now) {
  std::array<std::uint8_t, k_max_reply_size> out{};
  const auto before = agent.stats();
  const auto o = agent.handle_request(d, from, now, out);
  require((o.reply_size == 0) == o.dropped.has_value(), "an answer or a drop reason");
  require(o.reply_size <= out.size(), "answer fits");
  if (o.dropped) {
    require(agent.stats().drops(*o.dropped) == before.drops(*o.dropped) + 1, "drops counted");
    return;
  }
  const auto reply = std::span<const std::uint8_t>(out).first(o.reply_size);
  const auto req = parse_stun(d);
  const auto r = parse_stun(reply);
  require(req && r && r->transaction_id == req->transaction_id && r->method == k_method_binding,
          "answer parses and matches the request");
  require(verify_integrity(*r, reply, k_pwd) && verify_fingerprint(*r, reply),
          "every answer is authenticated");
  if (o.error_code == 0) {
    require(r->cls == StunClass::success && r->xor_mapped_address == from, "success reflects");
    if (req->use_candidate) require(agent.selected() == from, "USE-CANDIDATE selects");
  } else {
    require(r->cls == StunClass::error && r->error_code == o.error_code, "error answer");
    require(o.error_code == 400 || o.error_code == 420 || o.error_code == 487, "known codes");
  }
  if (agent.selected()) require(agent.last_check().has_value(), "selected has a consent time");
}

// A Binding request with `attrs` as its attribute bytes (padded), signed with the agent's pwd.
std::vector<std::uint8_t> signed_request(std::span<const std::uint8_t> attrs) {
  std::vector<std::uint8_t> m(20, 0x5A);
  sb::put16(m.data(), stun_type(k_method_binding, StunClass::request));
  sb::put32(m.data() + 4, k_magic_cookie);
  m.insert(m.end(), attrs.begin(), attrs.end());
  m.resize((m.size() + 3) & ~std::size_t{3}, 0);
  const std::size_t at = m.size();
  sb::put16(m.data() + 2, static_cast<std::uint16_t>(at + 24 - 20));
  const auto mac = sb::hmac_sha1(k_pwd, {reinterpret_cast<const char*>(m.data()), at});
  m.resize(at + 32);
  sb::put16(m.data() + at, attr::message_integrity);
  sb::put16(m.data() + at + 2, 20);
  std::copy(mac.begin(), mac.end(), m.begin() + static_cast<std::ptrdiff_t>(at + 4));
  sb::put16(m.data() + 2, static_cast<std::uint16_t>(m.size() - 20));
  sb::put16(m.data() + at + 24, attr::fingerprint);
  sb::put16(m.data() + at + 26, 4);
  sb::put32(m.data() + at + 28, sb::webrtc::crc32(std::span(m).first(at + 24)) ^ 0x5354554E);
  return m;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  check_parse(in);

  IceLiteAgent agent{std::string(k_ufrag), std::string(k_pwd)};
  StunAddress from;
  from.v6 = size % 2;
  for (std::size_t i = 0; i < 16 && i < size; ++i) from.ip[i] = data[i];
  from.port = static_cast<std::uint16_t>(size * 31);
  IceTime now{};
  check_agent(agent, in, from, now);

  if (size + 52 <= k_max_stun_size) {
    // Unknown remote first, then learnt (from the USERNAME, when there is one), then again.
    const auto signed_req = signed_request(in);
    check_parse(signed_req);
    check_agent(agent, signed_req, from, now += std::chrono::seconds(1));
    if (const auto m = parse_stun(signed_req); m && m->username) {
      const auto colon = m->username->find(':');
      if (colon != std::string_view::npos) agent.set_remote(m->username->substr(colon + 1));
    }
    from.port ^= 1;
    check_agent(agent, signed_req, from, now += std::chrono::seconds(1));
  }
  return 0;
}
