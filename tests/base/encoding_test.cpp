#include "base/encoding.hpp"
#include "base/crypto.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace sb;

TEST_CASE("base64 encodes the RFC 4648 section 10 vectors, padded and unpadded") {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : vectors) {
    CHECK(base64_encode(plain) == enc);
    std::string unpadded(enc);
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    CHECK(base64_encode(plain, false, false) == unpadded);
    CHECK(base64_decode(enc) == std::string(plain));
    CHECK(base64_decode(unpadded) == std::string(plain));
  }
}

TEST_CASE("base64 URL-safe alphabet swaps + and / for - and _") {
  const std::string bytes("\xfb\xff\xfe", 3);
  CHECK(base64_encode(bytes) == "+//+");
  CHECK(base64_encode(bytes, true) == "-__-");
  CHECK(base64_encode(std::string("\xfb\xff", 2), true, false) == "-_8");
}

TEST_CASE("base64 decoding accepts both alphabets, with or without padding") {
  const std::string bytes("\xfb\xff", 2);
  CHECK(base64_decode("+/8=") == bytes);
  CHECK(base64_decode("+/8") == bytes);
  CHECK(base64_decode("-_8=") == bytes);
  CHECK(base64_decode("-_8") == bytes);
}

TEST_CASE("base64 decoding rejects foreign characters, bad padding and impossible lengths") {
  CHECK_FALSE(base64_decode("Zm9v\n"));
  CHECK_FALSE(base64_decode("Zm 9v"));
  CHECK_FALSE(base64_decode("Zm9*"));
  CHECK_FALSE(base64_decode("Zg="));    // padded but not whole quanta
  CHECK_FALSE(base64_decode("Zg==="));  // three pads
  CHECK_FALSE(base64_decode("Z=g="));   // pad in the middle
  CHECK_FALSE(base64_decode("=Zg="));
  CHECK_FALSE(base64_decode("Z"));      // one leftover sextet
  CHECK_FALSE(base64_decode("Zm9vY"));
  CHECK_FALSE(base64_decode("Zm9v="));  // pad after a whole quantum
  CHECK_FALSE(base64_decode("===="));
  CHECK_FALSE(base64_decode(std::string_view("Zg\0=", 4)));
}

TEST_CASE("base64 decoding rejects non-zero trailing bits so each byte string has one spelling") {
  CHECK(base64_decode("Zg==") == "f");
  CHECK_FALSE(base64_decode("Zh=="));
  CHECK_FALSE(base64_decode("Zh"));
  CHECK(base64_decode("Zm8=") == "fo");
  CHECK_FALSE(base64_decode("Zm9="));
}

TEST_CASE("base64 round-trips random bytes in every alphabet and padding combination") {
  for (std::size_t n = 0; n < 200; ++n) {
    const std::string bytes = random_bytes(n);
    for (const bool url : {false, true}) {
      for (const bool pad : {false, true}) {
        const auto enc = base64_encode(bytes, url, pad);
        CHECK(enc.size() == (pad ? (n + 2) / 3 * 4 : (n * 4 + 2) / 3));
        CHECK(base64_decode(enc) == bytes);
      }
    }
  }
}

TEST_CASE("to_hex writes two lowercase digits per byte") {
  CHECK(to_hex("") == "");
  CHECK(to_hex(std::string("\x00\x01\xab\xff", 4)) == "0001abff");
}

TEST_CASE("percent_decode decodes %XX in either case and optionally + as space") {
  CHECK(percent_decode("a%20b", false) == "a b");
  CHECK(percent_decode("%2b%2B", false) == "++");
  CHECK(percent_decode("a+b", false) == "a+b");
  CHECK(percent_decode("a+b", true) == "a b");
  CHECK(percent_decode("%00", false) == std::string(1, '\0'));
  CHECK(percent_decode("%C3%A9", false) == "\xC3\xA9");
  CHECK(percent_decode("", true) == "");
}

TEST_CASE("percent_decode rejects a percent sign without two hex digits") {
  CHECK_FALSE(percent_decode("%", true));
  CHECK_FALSE(percent_decode("%2", true));
  CHECK_FALSE(percent_decode("a%2", true));
  CHECK_FALSE(percent_decode("%zz", true));
  CHECK_FALSE(percent_decode("%%", true));
  CHECK_FALSE(percent_decode("%g0", true));
}

TEST_CASE("form_parse splits pairs, decodes both sides and keeps order and duplicates") {
  const auto f = form_parse("a=1&b=x+y&c%3D=%26&a=2");
  REQUIRE(f);
  REQUIRE(f->size() == 4);
  CHECK((*f)[0] == std::pair<std::string, std::string>{"a", "1"});
  CHECK((*f)[1] == std::pair<std::string, std::string>{"b", "x y"});
  CHECK((*f)[2] == std::pair<std::string, std::string>{"c=", "&"});
  CHECK((*f)[3] == std::pair<std::string, std::string>{"a", "2"});
}

TEST_CASE("form_parse skips empty pieces and treats a piece without = as an empty value") {
  const auto f = form_parse("&&flag&k=a=b&=v&");
  REQUIRE(f);
  REQUIRE(f->size() == 3);
  CHECK((*f)[0] == std::pair<std::string, std::string>{"flag", ""});
  CHECK((*f)[1] == std::pair<std::string, std::string>{"k", "a=b"});
  CHECK((*f)[2] == std::pair<std::string, std::string>{"", "v"});
  CHECK(form_parse("")->empty());
}

TEST_CASE("form_parse rejects a bad percent escape anywhere") {
  CHECK_FALSE(form_parse("a=1&b=%zz"));
  CHECK_FALSE(form_parse("a%=1"));
}

TEST_CASE("form_encode_component keeps unreserved characters and round-trips every byte") {
  CHECK(form_encode_component("AZaz09-._~") == "AZaz09-._~");
  CHECK(form_encode_component("a b&c=d+e%") == "a+b%26c%3Dd%2Be%25");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const auto pairs = form_parse("k=" + form_encode_component(all));
  REQUIRE(pairs);
  REQUIRE(pairs->size() == 1);
  CHECK((*pairs)[0].second == all);
}
