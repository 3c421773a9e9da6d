#include "base/crypto.hpp"
#include "base/encoding.hpp"

#include <doctest/doctest.h>

#include <array>
#include <set>
#include <string>

using namespace sb;

namespace {

std::string rep(char c, std::size_t n) { return std::string(n, c); }

std::string key_0x01_to_0x19() {
  std::string k;
  for (int i = 1; i <= 0x19; ++i) k += static_cast<char>(i);
  return k;
}

} // namespace

TEST_CASE("HMAC-SHA1 matches the RFC 2202 test cases") {
  CHECK(to_hex(hmac_sha1(rep('\x0b', 20), "Hi There")) ==
        "b617318655057264e28bc0b6fb378c8ef146be00");
  CHECK(to_hex(hmac_sha1("Jefe", "what do ya want for nothing?")) ==
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  CHECK(to_hex(hmac_sha1(rep('\xaa', 20), rep('\xdd', 50))) ==
        "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
  CHECK(to_hex(hmac_sha1(key_0x01_to_0x19(), rep('\xcd', 50))) ==
        "4c9007f4026250c6bc8414f9bf50c86c2d7235da");
  CHECK(to_hex(hmac_sha1(rep('\x0c', 20), "Test With Truncation")) ==
        "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04");
  CHECK(to_hex(hmac_sha1(rep('\xaa', 80),
                         "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "aa4ae5e15272d00e95705637ce8a3b55ed402112");
  CHECK(to_hex(hmac_sha1(
            rep('\xaa', 80),
            "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data")) ==
        "e8e99d0f45237d786d6bbaa7965c7808bbff1a91");
  CHECK(hmac_sha1("k", "d").size() == 20);
}

TEST_CASE("HMAC-SHA256 matches the RFC 4231 test cases") {
  CHECK(to_hex(hmac_sha256(rep('\x0b', 20), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(to_hex(hmac_sha256(rep('\xaa', 20), rep('\xdd', 50))) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  CHECK(to_hex(hmac_sha256(key_0x01_to_0x19(), rep('\xcd', 50))) ==
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  // Test case 5 compares only the first 128 bits.
  CHECK(to_hex(hmac_sha256(rep('\x0c', 20), "Test With Truncation")).substr(0, 32) ==
        "a3b6167473100ee06e0c796c2955552b");
  CHECK(to_hex(hmac_sha256(rep('\xaa', 131),
                           "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(to_hex(hmac_sha256(rep('\xaa', 131),
                           "This is a test using a larger than block-size key and a larger than "
                           "block-size data. The key needs to be hashed before being used by the "
                           "HMAC algorithm.")) ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("HMAC accepts an empty key and empty data") {
  CHECK(to_hex(hmac_sha256("", "")) ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  CHECK(to_hex(hmac_sha1("", "")) == "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d");
}

TEST_CASE("SHA-256 and MD5 match the FIPS 180-2 and RFC 1321 examples") {
  CHECK(to_hex(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(to_hex(md5("")) == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(to_hex(md5("abc")) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(to_hex(md5("message digest")) == "f96b697d7cb7938d525a2f31aaf161d0");
}

TEST_CASE("constant_time_equal compares contents and treats a length mismatch as unequal") {
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "abcd"));
  CHECK_FALSE(constant_time_equal("", "a"));
  CHECK(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  CHECK_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST_CASE("random_bytes returns the requested length and differs between calls") {
  CHECK(random_bytes(0).empty());
  CHECK(random_bytes(1).size() == 1);
  const auto a = random_bytes(32);
  const auto b = random_bytes(32);
  CHECK(a.size() == 32);
  CHECK(a != b);
}

TEST_CASE("random_alnum uses only [A-Za-z0-9] and covers the alphabet evenly") {
  CHECK(random_alnum(0).empty());
  const std::string s = random_alnum(62 * 1000);
  REQUIRE(s.size() == 62 * 1000);
  std::array<int, 256> counts{};
  for (const char c : s) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    REQUIRE(alnum);
    ++counts[static_cast<unsigned char>(c)];
  }
  // Expected 1000 each; +-25% is over 7 standard deviations, so this never flakes.
  int distinct = 0;
  for (const int n : counts) {
    if (n == 0) continue;
    ++distinct;
    CHECK(n > 750);
    CHECK(n < 1250);
  }
  CHECK(distinct == 62);
}

TEST_CASE("uuid_v4 is lowercase 8-4-4-4-12 with version 4 and the RFC variant") {
  std::set<std::string> seen;
  for (int i = 0; i < 500; ++i) {
    const std::string u = uuid_v4();
    REQUIRE(u.size() == 36);
    for (std::size_t j = 0; j < u.size(); ++j) {
      if (j == 8 || j == 13 || j == 18 || j == 23) {
        CHECK(u[j] == '-');
      } else {
        CHECK(((u[j] >= '0' && u[j] <= '9') || (u[j] >= 'a' && u[j] <= 'f')));
      }
    }
    CHECK(u[14] == '4');
    CHECK(std::string_view("89ab").find(u[19]) != std::string_view::npos);
    seen.insert(u);
  }
  CHECK(seen.size() == 500);
}
