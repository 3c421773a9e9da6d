// STUN codec: tests for src/webrtc/stun.{hpp,cpp}, anchored on the RFC 5769 test vectors.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <ostream> // doctest prints std::error_code
#include <string_view>
#include <utility>
#include <vector>

#include "base/bytes.hpp"
#include "webrtc/stun.hpp"

using namespace sb::webrtc;

namespace {

using Bytes = std::vector<std::uint8_t>;

// RFC 5769 §2: the short-term password and the transaction ID all three samples share.
constexpr std::string_view k_rfc_password = "VOkJxbRl1RmTxUk/WvJxBt";
constexpr TransactionId k_rfc_tid{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                  0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

// RFC 5769 §2.1 Sample Request: SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME "evtj:h6vY",
// MESSAGE-INTEGRITY, FINGERPRINT (padding bytes are 0x20).
const Bytes k_sample_request{
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf};

// RFC 5769 §2.2 Sample IPv4 Response: SOFTWARE "test vector", XOR-MAPPED-ADDRESS
// 192.0.2.1:32853, MESSAGE-INTEGRITY, FINGERPRINT.
const Bytes k_sample_v4_response{
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

// RFC 5769 §2.3 Sample IPv6 Response: XOR-MAPPED-ADDRESS
// [2001:db8:1234:5678:11:2233:4455:6677]:32853.
const Bytes k_sample_v6_response{
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c};

StunAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
  StunAddress s;
  s.ip = {a, b, c, d};
  s.port = port;
  return s;
}

const StunAddress k_rfc_v6{true,
                           {0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78, 0x00, 0x11, 0x22, 0x33,
                            0x44, 0x55, 0x66, 0x77},
                           32853};

// A message of `type` with these attributes (padded, length set); no integrity.
Bytes message(std::uint16_t type, const std::vector<std::pair<std::uint16_t, Bytes>>& attrs) {
  Bytes m(20, 0);
  sb::put16(m.data(), type);
  sb::put32(m.data() + 4, k_magic_cookie);
  for (const auto& [t, v] : attrs) {
    m.resize(m.size() + 4);
    sb::put16(m.data() + m.size() - 4, t);
    sb::put16(m.data() + m.size() - 2, static_cast<std::uint16_t>(v.size()));
    m.insert(m.end(), v.begin(), v.end());
    m.resize((m.size() + 3) & ~std::size_t{3}, 0);
  }
  sb::put16(m.data() + 2, static_cast<std::uint16_t>(m.size() - 20));
  return m;
}

constexpr std::uint16_t k_binding_request = stun_type(k_method_binding, StunClass::request);

} // namespace

TEST_CASE("STUN message type interleaves the class bits with the method bits") {
  CHECK(stun_type(k_method_binding, StunClass::request) == 0x0001);
  CHECK(stun_type(k_method_binding, StunClass::indication) == 0x0011);
  CHECK(stun_type(k_method_binding, StunClass::success) == 0x0101);
  CHECK(stun_type(k_method_binding, StunClass::error) == 0x0111);
  CHECK(stun_type(0xFFF, StunClass::request) == 0x3EEF);
}

TEST_CASE("CRC-32 gives the standard check value") {
  const std::string_view check = "123456789";
  CHECK(crc32({reinterpret_cast<const std::uint8_t*>(check.data()), check.size()}) == 0xCBF43926);
  CHECK(crc32({}) == 0);
}

TEST_CASE("RFC 5769 sample request parses with its ICE attributes and authenticates") {
  const auto m = parse_stun(k_sample_request);
  REQUIRE(m);
  CHECK(m->method == k_method_binding);
  CHECK(m->cls == StunClass::request);
  CHECK(m->transaction_id == k_rfc_tid);
  REQUIRE(m->username);
  CHECK(*m->username == "evtj:h6vY");
  CHECK(reinterpret_cast<const std::uint8_t*>(m->username->data()) == k_sample_request.data() + 64);
  CHECK(m->priority == 0x6e0001ffu);
  CHECK(m->ice_controlled == 0x932ff9b151263b36u);
  CHECK_FALSE(m->ice_controlling);
  CHECK_FALSE(m->use_candidate);
  CHECK(m->bad_attribute == 0);
  CHECK(m->unknown_count == 0);
  CHECK(m->integrity_at == 76u);
  CHECK(m->fingerprint_at == 100u);
  CHECK(verify_fingerprint(*m, k_sample_request));
  CHECK(verify_integrity(*m, k_sample_request, k_rfc_password));
  CHECK_FALSE(verify_integrity(*m, k_sample_request, "VOkJxbRl1RmTxUk/WvJxBu"));
  CHECK(looks_like_stun(k_sample_request));
  CHECK(stun_username_local_part(k_sample_request) == "evtj");
}

TEST_CASE("RFC 5769 sample responses decode XOR-MAPPED-ADDRESS for IPv4 and IPv6") {
  const auto r4 = parse_stun(k_sample_v4_response);
  REQUIRE(r4);
  CHECK(r4->cls == StunClass::success);
  CHECK(r4->xor_mapped_address == v4(192, 0, 2, 1, 32853));
  CHECK(verify_integrity(*r4, k_sample_v4_response, k_rfc_password));
  CHECK(verify_fingerprint(*r4, k_sample_v4_response));

  const auto r6 = parse_stun(k_sample_v6_response);
  REQUIRE(r6);
  CHECK(r6->xor_mapped_address == k_rfc_v6);
  CHECK(verify_integrity(*r6, k_sample_v6_response, k_rfc_password));
  CHECK(verify_fingerprint(*r6, k_sample_v6_response));
}

TEST_CASE("a flipped bit anywhere in an authenticated message fails parsing or verification") {
  for (const Bytes* sample : {&k_sample_request, &k_sample_v4_response, &k_sample_v6_response}) {
    for (std::size_t i = 0; i < sample->size(); ++i) {
      Bytes b = *sample;
      b[i] ^= 0x01;
      const auto m = parse_stun(b);
      CHECK_FALSE((m && verify_fingerprint(*m, b) && verify_integrity(*m, b, k_rfc_password)));
      // Before MESSAGE-INTEGRITY, the HMAC alone catches it (76 = the request's M-I offset).
      if (sample == &k_sample_request && i >= 20 && i < 76 && m)
        CHECK_FALSE(verify_integrity(*m, b, k_rfc_password));
    }
  }
}

TEST_CASE("every truncation of a valid message is rejected without reading past it") {
  for (std::size_t n = 0; n < k_sample_request.size(); ++n) {
    const Bytes cut(k_sample_request.begin(), k_sample_request.begin() + static_cast<long>(n));
    CHECK_FALSE(parse_stun(cut));
    CHECK_FALSE(looks_like_stun(cut));
    // Even with the length field made to agree, a cut attribute is rejected.
    if (n >= 20 && n % 4 == 0) {
      Bytes fixed = cut;
      sb::put16(fixed.data() + 2, static_cast<std::uint16_t>(n - 20));
      const auto m = parse_stun(fixed);
      const bool on_boundary = n == 20 || n == 40 || n == 48 || n == 60 || n == 76 || n == 100;
      CHECK(static_cast<bool>(m) == on_boundary);
      // Cut just after MESSAGE-INTEGRITY, the HMAC still holds (it never covered FINGERPRINT).
      if (m) CHECK(verify_integrity(*m, fixed, k_rfc_password) == (n == 100));
    }
  }
}

TEST_CASE("header and attribute framing errors are told apart") {
  CHECK(parse_stun(Bytes(19, 0)).error == stun_error::too_short);
  Bytes b = k_sample_request;
  b[0] |= 0x40;
  CHECK(parse_stun(b).error == stun_error::not_stun);
  b = k_sample_request;
  b[5] ^= 0xFF;
  CHECK(parse_stun(b).error == stun_error::bad_cookie);
  b = k_sample_request;
  b[3] = 0x57; // not a multiple of 4
  CHECK(parse_stun(b).error == stun_error::bad_length);
  b = k_sample_request;
  b[63] = 0xFF; // USERNAME length 0x00FF runs past the end
  CHECK(parse_stun(b).error == stun_error::bad_attribute);
  b = k_sample_request;
  b[62] = 0xFF; // 0xFF09
  CHECK(parse_stun(b).error == stun_error::bad_attribute);
  Bytes big = message(k_binding_request, {{0x8022, Bytes(k_max_stun_size, 'x')}});
  CHECK(parse_stun(big).error == stun_error::too_large);
  CHECK_FALSE(looks_like_stun(big));
}

TEST_CASE("FINGERPRINT must be last; attributes after MESSAGE-INTEGRITY are ignored") {
  Bytes after_fp = k_sample_request;
  for (int x : {0x80, 0x22, 0x00, 0x00}) after_fp.push_back(static_cast<std::uint8_t>(x));
  sb::put16(after_fp.data() + 2, static_cast<std::uint16_t>(after_fp.size() - 20));
  CHECK(parse_stun(after_fp).error == stun_error::bad_fingerprint);

  const auto m = parse_stun(message(
      k_binding_request, {{attr::message_integrity, Bytes(20, 0)}, {attr::priority, {0, 0, 0, 7}},
                          {0x0777, {}}, {attr::use_candidate, {}}}));
  REQUIRE(m);
  CHECK(m->integrity_at == 20u);
  CHECK_FALSE(m->priority);
  CHECK_FALSE(m->use_candidate);
  CHECK(m->unknown_count == 0);
}

TEST_CASE("a malformed known attribute is flagged and unknown required ones are listed") {
  const auto m = parse_stun(message(k_binding_request,
                                    {{attr::priority, {1, 2, 3}},
                                     {0x0042, {}},
                                     {0xC057, {0, 1, 0, 0}}, // comprehension-optional: ignored
                                     {attr::use_candidate, {1}},
                                     {attr::xor_mapped_address, {0, 3, 0, 0, 1, 2, 3, 4}},
                                     {attr::error_code, {0, 0, 7, 0}}}));
  REQUIRE(m);
  CHECK(m->bad_attribute == attr::priority);
  CHECK_FALSE(m->priority);
  CHECK_FALSE(m->use_candidate);
  CHECK_FALSE(m->xor_mapped_address);
  CHECK(m->error_code == 0);
  CHECK(m->unknown_count == 1);
  CHECK(m->unknown[0] == 0x0042);
  const Bytes long_user = message(k_binding_request, {{attr::username, Bytes(509, 'a')}});
  CHECK(parse_stun(long_user)->bad_attribute == attr::username);
}

TEST_CASE("only the first occurrence of a repeated attribute counts") {
  const Bytes b = message(k_binding_request, {{attr::priority, {0, 0, 0, 1}},
                                              {attr::priority, {0, 0, 0, 2}},
                                              {attr::username, {'a', ':', 'b'}},
                                              {attr::username, {'c', ':', 'd'}}});
  const auto m = parse_stun(b); // views into b
  REQUIRE(m);
  CHECK(m->priority == 1u);
  CHECK(m->username == "a:b");
}

TEST_CASE("looks_like_stun demultiplexes by first byte, cookie and length (RFC 7983)") {
  CHECK(looks_like_stun(k_sample_v4_response));
  Bytes b = k_sample_request;
  b[0] = 22; // DTLS handshake
  CHECK_FALSE(looks_like_stun(b));
  b[0] = 0x80; // RTP
  CHECK_FALSE(looks_like_stun(b));
  b = k_sample_request;
  b.push_back(0);
  CHECK_FALSE(looks_like_stun(b));
  CHECK_FALSE(stun_username_local_part(b));
  CHECK_FALSE(stun_username_local_part(message(k_binding_request, {{attr::username, {'a', 'b'}}})));
}

TEST_CASE("built success response matches RFC 5769's XOR-MAPPED-ADDRESS and verifies") {
  std::array<std::uint8_t, k_max_reply_size> out{};
  const auto mapped = v4(192, 0, 2, 1, 32853);
  const std::size_t n = build_binding_success(out, k_rfc_tid, mapped, k_rfc_password);
  REQUIRE(n == 20 + 12 + 24 + 8);
  const Bytes xma(out.begin() + 24, out.begin() + 32);
  CHECK(xma == Bytes(k_sample_v4_response.begin() + 40, k_sample_v4_response.begin() + 48));
  const auto reply = std::span<const std::uint8_t>(out).first(n);
  const auto m = parse_stun(reply);
  REQUIRE(m);
  CHECK(m->type == 0x0101);
  CHECK(m->transaction_id == k_rfc_tid);
  CHECK(m->xor_mapped_address == mapped);
  CHECK(verify_integrity(*m, reply, k_rfc_password));
  CHECK(verify_fingerprint(*m, reply));
  CHECK(build_binding_success(std::span(out).first(n - 1), k_rfc_tid, mapped, "pw") == 0);

  const std::size_t n6 = build_binding_success(out, k_rfc_tid, k_rfc_v6, k_rfc_password);
  REQUIRE(n6 == 20 + 24 + 24 + 8);
  CHECK(Bytes(out.begin() + 20, out.begin() + 44) ==
        Bytes(k_sample_v6_response.begin() + 36, k_sample_v6_response.begin() + 60));
  const auto m6 = parse_stun(std::span(out).first(n6));
  REQUIRE(m6);
  CHECK(m6->xor_mapped_address == k_rfc_v6);
  CHECK(verify_integrity(*m6, std::span(out).first(n6), k_rfc_password));
}

TEST_CASE("built error responses carry code, reason, unknown types; integrity if authenticated") {
  std::array<std::uint8_t, k_max_reply_size> out{};
  const std::array<std::uint16_t, 2> unknown{0x0042, 0x7777};
  std::size_t n = build_binding_error(out, k_rfc_tid, 420, "secret", unknown);
  REQUIRE(n > 0);
  auto m = parse_stun(std::span(out).first(n));
  REQUIRE(m);
  CHECK(m->cls == StunClass::error);
  CHECK(m->error_code == 420);
  CHECK(m->error_reason == "Unknown Attribute");
  CHECK(verify_integrity(*m, std::span(out).first(n), "secret"));
  CHECK(verify_fingerprint(*m, std::span(out).first(n)));
  // ERROR-CODE is 4 + 4 + "Unknown Attribute" (17, padded to 20) bytes; then the list.
  CHECK(sb::get16(out.data() + 20 + 28) == attr::unknown_attributes);
  CHECK(sb::get16(out.data() + 20 + 30) == 4);
  CHECK(sb::get16(out.data() + 20 + 32) == 0x0042);
  CHECK(sb::get16(out.data() + 20 + 34) == 0x7777);

  n = build_binding_error(out, k_rfc_tid, 401, "");
  m = parse_stun(std::span(out).first(n));
  REQUIRE(m);
  CHECK(m->error_code == 401);
  CHECK(m->error_reason == "Unauthenticated");
  CHECK_FALSE(m->integrity_at);
  CHECK(verify_fingerprint(*m, std::span(out).first(n)));
  CHECK(build_binding_error(out, k_rfc_tid, 200, "") == 0);
}

TEST_CASE("built request round-trips every ICE attribute") {
  std::array<std::uint8_t, k_max_reply_size> out{};
  const BindingRequestParams p{.username = "abcd:wxyz", .password = "0123456789abcdefghijkl",
                               .priority = 0x7e7fffff, .controlling = true,
                               .tie_breaker = 0x0102030405060708, .use_candidate = true};
  const std::size_t n = build_binding_request(out, k_rfc_tid, p);
  REQUIRE(n == 20 + 16 + 8 + 12 + 4 + 24 + 8);
  const auto m = parse_stun(std::span(out).first(n));
  REQUIRE(m);
  CHECK(m->type == k_binding_request);
  CHECK(m->username == "abcd:wxyz");
  CHECK(m->priority == 0x7e7fffffu);
  CHECK(m->ice_controlling == 0x0102030405060708u);
  CHECK_FALSE(m->ice_controlled);
  CHECK(m->use_candidate);
  CHECK(verify_integrity(*m, std::span(out).first(n), p.password));
  CHECK(verify_fingerprint(*m, std::span(out).first(n)));
  CHECK(stun_username_local_part(std::span(out).first(n)) == "abcd");
}
