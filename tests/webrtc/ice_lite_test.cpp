// ICE-lite responder: tests for src/webrtc/ice_lite.{hpp,cpp}. A browser's checks are built with
// build_binding_request (or by hand, for requests it would never send) and fed to the agent.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "base/bytes.hpp"
#include "base/crypto.hpp"
#include "webrtc/ice_lite.hpp"

using namespace sb::webrtc;
using namespace std::chrono_literals;

namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::string_view k_ufrag = "sbUF";
constexpr std::string_view k_pwd = "sbPassword0123456789abc";
constexpr std::string_view k_browser_ufrag = "Br0w";

StunAddress addr(std::uint8_t last, std::uint16_t port) {
  StunAddress a;
  a.ip = {192, 168, 1, last};
  a.port = port;
  return a;
}

// What Chrome sends: USERNAME "ours:theirs", PRIORITY, ICE-CONTROLLING, maybe USE-CANDIDATE.
struct Check {
  std::string username = std::string(k_ufrag) + ":" + std::string(k_browser_ufrag);
  std::string password{k_pwd};
  bool controlling = true;
  bool use_candidate = false;
  std::uint8_t tid_byte = 1;

  Bytes build() const {
    std::array<std::uint8_t, 256> buf{};
    TransactionId tid{};
    tid.fill(tid_byte);
    const std::size_t n = build_binding_request(
        buf, tid,
        {.username = username, .password = password, .priority = 0x6e7f1eff,
         .controlling = controlling, .tie_breaker = 42, .use_candidate = use_candidate});
    REQUIRE(n > 0);
    return {buf.begin(), buf.begin() + static_cast<long>(n)};
  }
};

// A request with arbitrary attributes, then MESSAGE-INTEGRITY with `pwd` (RFC 8489 §14.5) and
// FINGERPRINT: for requests no browser sends (missing PRIORITY, unknown attributes).
Bytes signed_request(const std::vector<std::pair<std::uint16_t, Bytes>>& attrs,
                     std::string_view pwd = k_pwd) {
  Bytes m(20, 1);
  sb::put16(m.data(), 0x0001);
  sb::put32(m.data() + 4, k_magic_cookie);
  const auto add = [&](std::uint16_t t, const Bytes& v) {
    m.resize(m.size() + 4);
    sb::put16(m.data() + m.size() - 4, t);
    sb::put16(m.data() + m.size() - 2, static_cast<std::uint16_t>(v.size()));
    m.insert(m.end(), v.begin(), v.end());
    m.resize((m.size() + 3) & ~std::size_t{3}, 0);
    sb::put16(m.data() + 2, static_cast<std::uint16_t>(m.size() - 20));
  };
  for (const auto& [t, v] : attrs) add(t, v);
  sb::put16(m.data() + 2, static_cast<std::uint16_t>(m.size() + 24 - 20));
  const auto mac = sb::hmac_sha1(pwd, {reinterpret_cast<const char*>(m.data()), m.size()});
  add(attr::message_integrity, Bytes(mac.begin(), mac.end()));
  add(attr::fingerprint, Bytes(4, 0));
  sb::put32(m.data() + m.size() - 4,
            crc32(std::span(m).first(m.size() - 8)) ^ 0x5354554E);
  return m;
}

Bytes text(std::string_view s) { return {s.begin(), s.end()}; }

struct Leg {
  IceLiteAgent agent{std::string(k_ufrag), std::string(k_pwd)};
  std::array<std::uint8_t, k_max_reply_size> out{};
  IceTime t0{};

  IceOutcome feed(const Bytes& d, const StunAddress& from, IceTime now) {
    return agent.handle_request(d, from, now, out);
  }
  std::span<const std::uint8_t> reply(const IceOutcome& o) const {
    return std::span<const std::uint8_t>(out).first(o.reply_size);
  }
};

} // namespace

TEST_CASE("ICE-lite answers an authentic check with its source address, signed and fingerprinted") {
  Leg leg;
  leg.agent.set_remote(k_browser_ufrag);
  const auto from = addr(7, 50000);
  const auto o = leg.feed(Check{}.build(), from, leg.t0);
  REQUIRE(o.reply_size > 0);
  CHECK_FALSE(o.dropped);
  CHECK(o.error_code == 0);
  const auto r = parse_stun(leg.reply(o));
  REQUIRE(r);
  CHECK(r->cls == StunClass::success);
  CHECK(r->transaction_id == TransactionId{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  CHECK(r->xor_mapped_address == from);
  CHECK(verify_integrity(*r, leg.reply(o), k_pwd));
  CHECK(verify_fingerprint(*r, leg.reply(o)));
  // A valid pair, but nothing nominated yet: no consent clock either.
  REQUIRE(leg.agent.valid_pairs().size() == 1);
  CHECK(leg.agent.valid_pairs()[0] == from);
  CHECK_FALSE(leg.agent.selected());
  CHECK_FALSE(leg.agent.last_check());
  CHECK(leg.agent.stats().successes == 1);
}

TEST_CASE("USE-CANDIDATE selects the pair and later checks keep its consent fresh") {
  Leg leg;
  leg.agent.set_remote(k_browser_ufrag);
  const auto from = addr(7, 50000);
  Check nominate;
  nominate.use_candidate = true;
  const auto o = leg.feed(nominate.build(), from, leg.t0);
  CHECK(o.selected_changed);
  CHECK(leg.agent.selected() == from);
  CHECK(leg.agent.last_check() == leg.t0);
  CHECK(leg.agent.stats().nominations == 1);
  CHECK_FALSE(leg.agent.consent_expired(leg.t0 + 30s));
  CHECK(leg.agent.consent_expired(leg.t0 + 31s));

  // RFC 7675: the browser re-checks every ~5 s without USE-CANDIDATE.
  const auto again = leg.feed(Check{}.build(), from, leg.t0 + 25s);
  CHECK_FALSE(again.selected_changed);
  CHECK(leg.agent.last_check() == leg.t0 + 25s);
  CHECK_FALSE(leg.agent.consent_expired(leg.t0 + 50s));
  // Checks on another (non-selected) pair do not refresh consent for the selected one.
  leg.feed(Check{}.build(), addr(8, 50001), leg.t0 + 40s);
  CHECK(leg.agent.last_check() == leg.t0 + 25s);
  CHECK(leg.agent.consent_expired(leg.t0 + 56s));
}

TEST_CASE("a nomination from a new address moves the selected pair (roaming)") {
  Leg leg;
  Check nominate;
  nominate.use_candidate = true;
  leg.feed(nominate.build(), addr(7, 50000), leg.t0);
  const auto moved = leg.feed(nominate.build(), addr(9, 61000), leg.t0 + 1s);
  CHECK(moved.selected_changed);
  CHECK(leg.agent.selected() == addr(9, 61000));
  CHECK(leg.agent.stats().nominations == 2);
  CHECK(leg.agent.valid_pairs().size() == 2);
  // Renominating the same address is not a change.
  CHECK_FALSE(leg.feed(nominate.build(), addr(9, 61000), leg.t0 + 2s).selected_changed);
}

TEST_CASE("valid pairs are bounded and the oldest is forgotten first") {
  Leg leg;
  for (std::uint8_t i = 1; i <= k_max_valid_pairs + 1; ++i)
    leg.feed(Check{}.build(), addr(i, 1), leg.t0);
  leg.feed(Check{}.build(), addr(5, 1), leg.t0); // already known: not added again
  const auto pairs = leg.agent.valid_pairs();
  REQUIRE(pairs.size() == k_max_valid_pairs);
  CHECK(pairs.front() == addr(2, 1));
  CHECK(pairs.back() == addr(k_max_valid_pairs + 1, 1));
}

TEST_CASE("checks for another ufrag are dropped; the remote part is enforced once known") {
  Leg leg;
  Check other_local;
  other_local.username = "nope:" + std::string(k_browser_ufrag);
  auto o = leg.feed(other_local.build(), addr(7, 1), leg.t0);
  CHECK(o.dropped == IceDrop::unknown_username);
  CHECK(o.reply_size == 0);

  // Remote ufrag not known yet (the check raced our answer): any remote part is accepted.
  Check early;
  early.username = std::string(k_ufrag) + ":whatever";
  CHECK(leg.feed(early.build(), addr(7, 1), leg.t0).reply_size > 0);

  // Learnt from the browser's SDP: now the remote part must match.
  leg.agent.set_remote(k_browser_ufrag);
  CHECK(leg.feed(early.build(), addr(7, 1), leg.t0).dropped == IceDrop::unknown_username);
  CHECK(leg.feed(Check{}.build(), addr(7, 1), leg.t0).reply_size > 0);
  Check prefix; // "sbUF:Br0wX" must not match "Br0w"
  prefix.username += "X";
  CHECK(leg.feed(prefix.build(), addr(7, 1), leg.t0).dropped == IceDrop::unknown_username);
  CHECK(leg.agent.stats().drops(IceDrop::unknown_username) == 3);
}

TEST_CASE("a check signed with the wrong password is dropped silently") {
  Leg leg;
  Check forged;
  forged.password = "sbPassword0123456789abd";
  forged.use_candidate = true;
  const auto o = leg.feed(forged.build(), addr(7, 1), leg.t0);
  CHECK(o.dropped == IceDrop::bad_integrity);
  CHECK(o.reply_size == 0);
  CHECK_FALSE(leg.agent.selected());
  CHECK(leg.agent.valid_pairs().empty());
  CHECK(leg.agent.stats().drops(IceDrop::bad_integrity) == 1);
}

TEST_CASE("ICE-CONTROLLED from the browser is a role conflict answered 487") {
  Leg leg;
  Check controlled;
  controlled.controlling = false;
  controlled.use_candidate = true;
  const auto o = leg.feed(controlled.build(), addr(7, 1), leg.t0);
  CHECK(o.error_code == 487);
  const auto r = parse_stun(leg.reply(o));
  REQUIRE(r);
  CHECK(r->cls == StunClass::error);
  CHECK(r->error_code == 487);
  CHECK(verify_integrity(*r, leg.reply(o), k_pwd));
  CHECK_FALSE(leg.agent.selected());
  CHECK(leg.agent.stats().role_conflicts == 1);

  // RFC 5769 §2.1's request is a controlled agent's check: an agent with its credentials
  // authenticates it and answers 487.
  IceLiteAgent rfc("evtj", "VOkJxbRl1RmTxUk/WvJxBt");
  const Bytes sample{
      0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
      0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
      0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
      0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
      0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
      0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
      0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
      0x7a, 0x3b, 0xcf};
  rfc.set_remote("h6vY");
  CHECK(rfc.handle_request(sample, addr(1, 1), leg.t0, leg.out).error_code == 487);
}

TEST_CASE("authentic but malformed checks get 400, unknown required attributes 420") {
  Leg leg;
  const Bytes user = text(std::string(k_ufrag) + ":" + std::string(k_browser_ufrag));
  const Bytes controlling(8, 0);

  auto o = leg.feed(signed_request({{attr::username, user}, {attr::ice_controlling, controlling}}),
                    addr(7, 1), leg.t0);
  CHECK(o.error_code == 400); // no PRIORITY (RFC 8445 §7.1.1)
  REQUIRE(parse_stun(leg.reply(o)));
  CHECK(parse_stun(leg.reply(o))->error_reason == "Bad Request");

  o = leg.feed(signed_request({{attr::username, user}, {attr::priority, {1, 2, 3, 4}},
                               {attr::use_candidate, {0}}}),
               addr(7, 1), leg.t0);
  CHECK(o.error_code == 400); // USE-CANDIDATE with a value
  CHECK_FALSE(leg.agent.selected());

  o = leg.feed(signed_request({{attr::username, user}, {attr::priority, {1, 2, 3, 4}},
                               {0x0031, {}}}),
               addr(7, 1), leg.t0);
  CHECK(o.error_code == 420);
  const auto r = parse_stun(leg.reply(o));
  REQUIRE(r);
  CHECK(verify_integrity(*r, leg.reply(o), k_pwd));
  CHECK(leg.agent.stats().bad_requests == 2);
  CHECK(leg.agent.stats().unknown_attributes == 1);

  // The same requests signed with another password are not authentic: no answer at all.
  o = leg.feed(signed_request({{attr::username, user}}, "otherPassword0123456789"), addr(7, 1),
               leg.t0);
  CHECK(o.dropped == IceDrop::bad_integrity);
  o = leg.feed(signed_request({{attr::username, user}, {attr::priority, {1, 2, 3, 4}}}), addr(7, 1),
               leg.t0);
  CHECK(o.reply_size > 0); // hand-signed and well-formed: a success, so the helper is right
}

TEST_CASE("garbage, responses, indications, bad fingerprints and unsigned checks are dropped") {
  Leg leg;
  CHECK(leg.feed(Bytes{0x16, 0xfe, 0xfd}, addr(7, 1), leg.t0).dropped == IceDrop::malformed);

  std::array<std::uint8_t, k_max_reply_size> resp{};
  const auto n = build_binding_success(resp, TransactionId{}, addr(7, 1), k_pwd);
  CHECK(leg.feed(Bytes(resp.begin(), resp.begin() + static_cast<long>(n)), addr(7, 1), leg.t0)
            .dropped == IceDrop::not_binding_request);

  Bytes bad_fp = Check{}.build();
  bad_fp.back() ^= 1;
  CHECK(leg.feed(bad_fp, addr(7, 1), leg.t0).dropped == IceDrop::bad_fingerprint);

  Bytes unsigned_check(20, 0);
  sb::put16(unsigned_check.data(), 0x0001);
  sb::put32(unsigned_check.data() + 4, k_magic_cookie);
  const Bytes user = text(std::string(k_ufrag) + ":x");
  unsigned_check.insert(unsigned_check.end(), {0x00, 0x06, 0x00, 0x06});
  unsigned_check.insert(unsigned_check.end(), user.begin(), user.end());
  unsigned_check.insert(unsigned_check.end(), {0, 0});
  sb::put16(unsigned_check.data() + 2, 12);
  CHECK(leg.feed(unsigned_check, addr(7, 1), leg.t0).dropped == IceDrop::no_integrity);

  std::array<std::uint8_t, 40> tiny{};
  CHECK(leg.agent.handle_request(Check{}.build(), addr(7, 1), leg.t0, tiny).dropped ==
        IceDrop::no_room);

  const auto& s = leg.agent.stats();
  for (auto d : {IceDrop::malformed, IceDrop::not_binding_request, IceDrop::bad_fingerprint,
                 IceDrop::no_integrity, IceDrop::no_room})
    CHECK(s.drops(d) == 1);
  CHECK(s.successes == 0);
}

TEST_CASE("a demultiplexer finds the agent by the local part of USERNAME") {
  const Bytes check = Check{}.build();
  CHECK(stun_username_local_part(check) == k_ufrag);
}

TEST_CASE("generated ICE credentials meet RFC 8839 and bad local credentials are refused") {
  const auto a = IceLiteAgent::generate_credentials();
  const auto b = IceLiteAgent::generate_credentials();
  CHECK(a.ufrag.size() >= 4);
  CHECK(a.pwd.size() >= 22);
  CHECK(a.ufrag != b.ufrag);
  CHECK_NOTHROW(IceLiteAgent(a.ufrag, a.pwd));
  CHECK_THROWS_AS(IceLiteAgent("abc", a.pwd), std::invalid_argument);
  CHECK_THROWS_AS(IceLiteAgent("ab:cd", a.pwd), std::invalid_argument);
  CHECK_THROWS_AS(IceLiteAgent(a.ufrag, "short"), std::invalid_argument);
}
