#include "core/session_id.hpp"

#include "base/crypto.hpp"
#include "base/encoding.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

using namespace sb;
using namespace sb::core;

namespace {

constexpr std::string_view node_test_sid =
    "1_MX4xMjM0NTZ-flNhdCBNYXIgMTUgMTQ6NDI6MjMgUERUIDIwMTR-MC40OTAxMzAyNX4";

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  for (;;) {
    const auto i = s.find(sep);
    out.emplace_back(s.substr(0, i));
    if (i == std::string_view::npos) return out;
    s.remove_prefix(i + 1);
  }
}

std::string replace_all(std::string s, char from, char to) {
  for (char& c : s) {
    if (c == from) c = to;
  }
  return s;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// PHP's base64_decode() in its default non-strict mode: characters outside the standard alphabet
// are skipped, and a trailing partial quantum yields the whole bytes it holds.
std::string php_base64_decode(std::string_view s) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (const char c : s) {
    const int v = b64_value(c);
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

// .NET Convert.FromBase64String: standard alphabet only, length a multiple of 4 with padding.
std::optional<std::string> dotnet_from_base64(std::string_view s) {
  if (s.size() % 4 != 0) return std::nullopt;
  for (const char c : s) {
    if (b64_value(c) < 0 && c != '=') return std::nullopt;
  }
  return base64_decode(s);
}

// NODE lib/opentok.js decodeSessionId: drop two chars, -→+ _→/, Buffer.from(.., 'base64'),
// split on '~'.
std::vector<std::string> node_decode(std::string_view sid) {
  std::string b = replace_all(replace_all(std::string(sid.substr(2)), '-', '+'), '_', '/');
  return split(php_base64_decode(b), '~'); // Node's decoder is lenient the same way
}

// NET OpenTokUtils.GetPartnerIdFromSessionId: -→+, split on '_' into exactly 2 pieces,
// Decode64 (appends '=' up to three times until FromBase64String succeeds), split on '~',
// Convert.ToInt32(fields[1]) and require > 0.
std::optional<std::int64_t> net_partner_id(std::string_view sid) {
  const auto pieces = split(replace_all(std::string(sid), '-', '+'), '_');
  if (pieces.size() != 2) return std::nullopt;
  std::string enc = pieces[1];
  std::optional<std::string> dec;
  for (int i = 0; i < 4 && !dec; ++i) {
    dec = dotnet_from_base64(enc);
    enc += '=';
  }
  if (!dec) return std::nullopt;
  const auto fields = split(*dec, '~');
  if (fields.size() < 2 || fields[1].empty() || fields[1].size() > 10) return std::nullopt;
  std::int64_t v = 0;
  for (const char c : fields[1]) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > INT32_MAX || v <= 0) return std::nullopt;
  return v;
}

// PHP Validators::decodeSessionId: substr 2, explode on '-', base64_decode each piece, explode
// each on '~', merge.
std::vector<std::string> php_decode(std::string_view sid) {
  std::vector<std::string> data;
  for (const auto& piece : split(sid.substr(2), '-')) {
    for (auto& item : split(php_base64_decode(piece), '~')) data.push_back(std::move(item));
  }
  return data;
}

// Random API key: numeric (most projects) or any session-ID-safe printable ASCII.
std::string random_key(std::size_t i) {
  if (i % 2 == 0) return std::to_string(1 + (static_cast<unsigned char>(random_bytes(1)[0]) << 16) +
                                        i);
  std::string k;
  const std::string raw = random_bytes(1 + i % 40);
  for (const char c : raw) {
    const char p = static_cast<char>(0x20 + static_cast<unsigned char>(c) % 95);
    if (is_session_id_safe(std::string_view(&p, 1))) k += p;
  }
  return k.empty() ? "k" : k;
}

std::string random_location(std::size_t i) {
  switch (i % 4) {
  case 0: return "";
  case 1: return "10.1.2." + std::to_string(i % 256);
  case 2: return "2001:db8::" + std::to_string(i % 1000);
  default: return "localhost";
  }
}

} // namespace

TEST_CASE("the NODE test session ID decodes to its documented record") {
  const auto plain = base64_decode(node_test_sid.substr(2));
  REQUIRE(plain);
  CHECK(*plain == "1~123456~~Sat Mar 15 14:42:23 PDT 2014~0.49013025~");
  const auto info = parse_session_id(node_test_sid);
  REQUIRE(info.has_value());
  CHECK(info->version == "1");
  CHECK(info->api_key == "123456");
  CHECK(info->location == "");
  CHECK(info->created == "Sat Mar 15 14:42:23 PDT 2014");
}

TEST_CASE("generated session IDs follow the SPEC 5.1 record layout") {
  const std::string sid = make_session_id("123456", "10.0.0.1", 1726462588647);
  CHECK(sid.starts_with("1_"));
  CHECK(sid.find('=') == std::string::npos);
  const auto plain = base64_decode(std::string_view(sid).substr(2));
  REQUIRE(plain);
  const auto fields = split(*plain, '~');
  REQUIRE(fields.size() == 6);
  CHECK(fields[0] == "1");
  CHECK(fields[1] == "123456");
  CHECK(fields[2] == "10.0.0.1");
  CHECK(fields[3] == "1726462588647");
  CHECK(fields[4].size() == 24);
  CHECK(fields[5] == "");
  const auto info = parse_session_id(sid);
  REQUIRE(info.has_value());
  CHECK(info->api_key == "123456");
  CHECK(info->location == "10.0.0.1");
  CHECK(info->created == "1726462588647");
  CHECK(make_session_id("123456", "", 1) != make_session_id("123456", "", 1));
}

TEST_CASE("generated session IDs satisfy every SDK's decoder (property over random IDs)") {
  for (std::size_t i = 0; i < 3000; ++i) {
    const std::string key = random_key(i);
    const std::string loc = random_location(i);
    const std::int64_t created =
        1000000000000 + static_cast<std::int64_t>(static_cast<unsigned char>(random_bytes(1)[0])) *
                            9999991 +
        static_cast<std::int64_t>(i);
    const std::string sid = make_session_id(key, loc, created);
    CAPTURE(key);
    CAPTURE(sid);
    REQUIRE(sid.size() <= session_id_max_size);
    for (const char c : std::string_view(sid).substr(2)) {
      REQUIRE(b64_value(c == '-' ? '+' : c == '_' ? '/' : c) >= 0);
    }
    std::string expected_record = "1~" + key + "~" + loc + "~" + std::to_string(created) + "~";
    const auto true_fields = split(*base64_decode(std::string_view(sid).substr(2)), '~');

    // NODE: fields[1] === apiKey after -→+ _→/.
    const auto node = node_decode(sid);
    REQUIRE(node.size() >= 2);
    CHECK(node[1] == key);
    // PY: api_key in parts; JAVA: contains(apiKey); RUBY: substring.
    const auto plain = *base64_decode(std::string_view(sid).substr(2));
    CHECK(std::find(node.begin(), node.end(), key) != node.end());
    CHECK(plain.starts_with(expected_record));
    // NET: exactly two pieces around '_', and a numeric key comes back as a positive int32.
    CHECK(split(sid, '_').size() == 2);
    if (i % 2 == 0) {
      CHECK(net_partner_id(sid) == std::stoll(key));
    }
    // PHP: every '-' ends a quantum on a '~', so the pieces decode to exactly the fields.
    const auto php = php_decode(sid);
    CHECK(php == true_fields);
    CHECK(std::find(php.begin(), php.end(), key) != php.end());
    // Our own parser.
    const auto info = parse_session_id(sid);
    REQUIRE(info.has_value());
    CHECK(info->api_key == key);
    CHECK(info->location == loc);
  }
}

TEST_CASE("the NODE test session ID satisfies the NODE, NET and PHP decoders too") {
  CHECK(node_decode(node_test_sid)[1] == "123456");
  CHECK(net_partner_id(node_test_sid) == 123456);
  const auto php = php_decode(node_test_sid);
  CHECK(std::find(php.begin(), php.end(), "123456") != php.end());
}

TEST_CASE("unsafe bytes in the API key or location are dropped, never encoded") {
  CHECK(is_session_id_safe("123456"));
  CHECK(is_session_id_safe("10.0.0.1"));
  CHECK(is_session_id_safe(""));
  CHECK_FALSE(is_session_id_safe("a~b"));
  CHECK_FALSE(is_session_id_safe("a?b"));
  CHECK_FALSE(is_session_id_safe("a>b"));
  CHECK_FALSE(is_session_id_safe("a\x7f"));
  CHECK_FALSE(is_session_id_safe("a\nb"));
  CHECK_FALSE(is_session_id_safe("\xc3\xa9"));
  const std::string sid = make_session_id("12~34", "?>?>1.2.3.4~\xff", 5);
  const auto info = parse_session_id(sid);
  REQUIRE(info.has_value());
  CHECK(info->api_key == "1234");
  CHECK(info->location == "1.2.3.4");
  CHECK(split(sid, '_').size() == 2);
}

TEST_CASE("parse accepts the 2_ prefix, padding and the standard alphabet") {
  const std::string record = "1~29f760f8-abcd~~1726462588647~11xLa1bbhzPeGQGmXsmgxI0k~~~";
  for (const bool url : {false, true}) {
    for (const bool pad : {false, true}) {
      const auto info = parse_session_id("2_" + base64_encode(record, url, pad));
      REQUIRE(info.has_value());
      CHECK(info->version == "1");
      CHECK(info->api_key == "29f760f8-abcd");
      CHECK(info->created == "1726462588647");
    }
  }
  // Exactly three fields is enough; created is then empty.
  const auto three = parse_session_id("1_" + base64_encode("1~key~loc", true, false));
  REQUIRE(three.has_value());
  CHECK(three->location == "loc");
  CHECK(three->created == "");
}

TEST_CASE("parse rejects wrong prefixes, bad base64, short records and overlong IDs") {
  CHECK(parse_session_id("").error() == session_id_error::bad_prefix);
  CHECK(parse_session_id("1").error() == session_id_error::bad_prefix);
  CHECK(parse_session_id("3_MX4xMjM0NTZ-").error() == session_id_error::bad_prefix);
  CHECK(parse_session_id("1-MX4xMjM0NTZ-").error() == session_id_error::bad_prefix);
  CHECK(parse_session_id("1_MX4x MjM0").error() == session_id_error::bad_encoding);
  CHECK(parse_session_id("1_MX4xM").error() == session_id_error::bad_encoding);
  CHECK(parse_session_id("1_" + base64_encode("1~123456", true, false)).error() ==
        session_id_error::too_few_fields);
  CHECK(parse_session_id("1_").error() == session_id_error::too_few_fields);
  CHECK(parse_session_id("1_" + std::string(254, 'A')).error() == session_id_error::too_long);
  const auto msg = make_error_code(session_id_error::bad_encoding).message();
  CHECK(msg.find("base64") != std::string::npos);
}
