#include "signaling/raptor.hpp"
#include "signaling/rumor.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <string>

using namespace sb::signaling;

TEST_CASE("rumor: a frame written with addresses, headers and payload parses back to the same views") {
  std::string out;
  const std::string_view addrs[] = {"symphony.example", "abc"};
  const RumorHeader hdrs[] = {{"TRANSACTION-ID", "t-1"}, {"Content-Type", kRaptorContentType}, {"empty", ""}};
  write_rumor(out, RumorType::message, addrs, hdrs, R"({"method":"create"})");
  auto p = parse_rumor(out);
  REQUIRE(p);
  CHECK(p.frame.type == RumorType::message);
  CHECK(p.frame.frame_size == out.size());
  REQUIRE(p.frame.address_count == 2);
  CHECK(p.frame.addresses[0] == "symphony.example");
  CHECK(p.frame.addresses[1] == "abc");
  CHECK(p.frame.header("TRANSACTION-ID") == "t-1");
  CHECK(p.frame.header("Content-Type") == kRaptorContentType);
  CHECK(p.frame.has_header("empty"));
  CHECK(p.frame.header("empty").empty());
  CHECK_FALSE(p.frame.has_header("transaction-id"));  // names compare exactly, as the client's do
  CHECK(p.frame.payload == R"({"method":"create"})");
  // The length field counts the bytes after itself.
  CHECK((std::uint8_t(out[2]) << 8 | std::uint8_t(out[3])) == out.size() - 4);
}

TEST_CASE("rumor: a PONG is nine bytes (no addresses, no headers, no payload)") {
  std::string out;
  write_rumor(out, RumorType::pong, {}, {}, {});
  CHECK(out.size() == 9);
  CHECK(out == std::string("\0\0\0\x05\0\0\x08\0\0", 9));
}

TEST_CASE("rumor: every truncation of a frame is need_more, never a crash or a bogus frame") {
  std::string out;
  const std::string_view addrs[] = {"a"};
  const RumorHeader hdrs[] = {{"k", "v"}};
  write_rumor(out, RumorType::status, addrs, hdrs, "{}");
  for (std::size_t n = 0; n < out.size(); ++n) CHECK(parse_rumor(std::string_view(out).substr(0, n)).error == RumorError::need_more);
  CHECK(parse_rumor(out));
}

TEST_CASE("rumor: counts and lengths that run past the frame are malformed") {
  std::string out;
  const RumorHeader hdrs[] = {{"key", "value"}};
  write_rumor(out, RumorType::message, {}, hdrs, "");
  // Layout: length(4) reserved(2) type(1) nAddr(1) nHdr(1), then the key's u16 length at 9..10.
  std::string overrun = out;
  overrun[10] = '\x10';  // the key claims 16 bytes; fewer are left in the frame
  CHECK(parse_rumor(overrun).error == RumorError::malformed);
  std::string reserved = out;
  reserved[4] = 1;
  CHECK(parse_rumor(reserved).error == RumorError::malformed);
  std::string type = out;
  type[6] = 5;  // no such frame type
  CHECK(parse_rumor(type).error == RumorError::malformed);
  std::string huge = out;
  huge[0] = 1;  // 16 MiB announced
  CHECK(parse_rumor(huge).error == RumorError::too_large);
  std::string many;
  std::vector<std::string_view> lots(kMaxRumorAddresses + 1, "x");
  write_rumor(many, RumorType::message, lots, {}, "");
  CHECK(parse_rumor(many).error == RumorError::too_many);
}

TEST_CASE("raptor: uris name their resource the way the client does") {
  auto u = parse_raptor_uri("/v2/partner/123/session/S/stream/st1/channel/audio1");
  REQUIRE(u);
  CHECK(u->partner == "123");
  CHECK(u->session == "S");
  CHECK(u->stream == "st1");
  CHECK(u->channel == "audio1");
  CHECK(u->resource == "stream_channel");
  u = parse_raptor_uri("/v2/partner/123/session/S/stream/st1/subscriber/sub/channel/video1");
  REQUIRE(u);
  CHECK(u->resource == "subscriber_channel");
  CHECK(u->subscriber == "sub");
  u = parse_raptor_uri("/v2/partner/123/session/S/connection/c1/signal/x");
  REQUIRE(u);
  CHECK(u->resource == "signal");
  CHECK(u->connection == "c1");
  u = parse_raptor_uri("/v2/partner/123/session/S");
  REQUIRE(u);
  CHECK(u->resource == "session");
  CHECK_FALSE(parse_raptor_uri("/v1/partner/123/session/S"));
  CHECK_FALSE(parse_raptor_uri("/v2/partner/123"));                      // no session
  CHECK_FALSE(parse_raptor_uri("/v2/partner/123/session/S/stream/"));    // empty id
  CHECK_FALSE(parse_raptor_uri("/v2/partner/123/session/S/bogus/1"));    // unknown key
  CHECK_FALSE(parse_raptor_uri("/v2/partner/1/session/S/stream/a/stream/b"));  // repeated key
  CHECK_FALSE(parse_raptor_uri("/v2/partner/1/session/" + std::string(kMaxRaptorId + 1, 'x')));
}

TEST_CASE("raptor: messages need a string method and uri; content must be an object") {
  auto m = parse_raptor(R"({"method":"signal","uri":"/v2/partner/1/session/S/signal/1","content":{"type":"a","data":"b"}})");
  REQUIRE(m);
  CHECK(m->method == "signal");
  CHECK(m->content.at("type").as_string() == "a");
  CHECK(parse_raptor(R"({"method":"delete","uri":"/x","reason":"r"})")->reason == "r");
  std::string why;
  CHECK_FALSE(parse_raptor("not json", &why));
  CHECK_FALSE(parse_raptor(R"([1,2])", &why));
  CHECK_FALSE(parse_raptor(R"({"method":1,"uri":"/x"})", &why));
  CHECK_FALSE(parse_raptor(R"({"method":"x","uri":"/x","content":[1]})", &why));
  std::string deep(100, '[');
  CHECK_FALSE(parse_raptor(R"({"method":"x","uri":"/x","content":{"a":)" + deep + "}}", &why));
  auto text = serialize_raptor("deleted", "/v2/partner/1/session/S/connection/c", boost::json::object{}, "clientDisconnected");
  auto back = parse_raptor(text);
  REQUIRE(back);
  CHECK(back->reason == "clientDisconnected");
  CHECK(back->method == "deleted");
}
