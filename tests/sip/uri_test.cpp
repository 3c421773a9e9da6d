// RFC 3261 §19.1 SIP/SIPS URIs: tests for src/sip/uri.{hpp,cpp}.
#include <doctest/doctest.h>

#include <array>
#include <string>

#include "sip/uri.hpp"

using namespace sb::sip;
using namespace std::literals;

namespace {

Uri must_parse(std::string_view text) {
  std::string_view why;
  const auto u = parse_uri(text, &why);
  INFO("uri: ", std::string(text), " reason: ", std::string(why));
  REQUIRE(u.has_value());
  return *u;
}

bool rejects(std::string_view text) { return !parse_uri(text).has_value(); }

} // namespace

TEST_CASE("a SIP URI splits into user, password, host, port, params and headers") {
  const Uri u = must_parse("sip:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=hi&priority=urgent");
  CHECK(u.scheme == Scheme::sip);
  CHECK(u.user == "alice");
  CHECK(u.has_password);
  CHECK(u.password == "secret");
  CHECK(u.host == "atlanta.example.com");
  CHECK(u.host_kind == HostKind::hostname);
  CHECK(u.port == 5061);
  CHECK(u.params == "transport=tcp;lr");
  CHECK(u.transport_param == "tcp");
  CHECK(u.lr);
  CHECK(u.headers == "subject=hi&priority=urgent");
  CHECK(u.transport() == Transport::tcp);

  UriHeaderCursor hc(u.headers);
  auto h = hc.next();
  REQUIRE(h);
  CHECK(h->name == "subject");
  CHECK(h->value == "hi");
  h = hc.next();
  REQUIRE(h);
  CHECK(h->name == "priority");
  CHECK(h->value == "urgent");
  CHECK_FALSE(hc.next());
}

TEST_CASE("the scheme is case-insensitive and serialised in lower case") {
  const Uri u = must_parse("SIPS:Bob@Biloxi.Example.COM");
  CHECK(u.scheme == Scheme::sips);
  CHECK(u.secure());
  CHECK(u.user == "Bob");
  CHECK(to_string(u) == "sips:Bob@Biloxi.Example.COM");
}

TEST_CASE("a URI without userinfo has an empty user and no password") {
  const Uri u = must_parse("sip:example.com");
  CHECK(u.user.empty());
  CHECK_FALSE(u.has_password);
  CHECK(u.host == "example.com");
  CHECK_FALSE(u.port);
  CHECK(u.params.empty());
  CHECK(u.headers.empty());
}

TEST_CASE("an empty password after ':' is kept as present") {
  const Uri u = must_parse("sip:alice:@example.com");
  CHECK(u.has_password);
  CHECK(u.password.empty());
  CHECK(to_string(u) == "sip:alice:@example.com");
}

TEST_CASE("the default transport is UDP for sip: and TLS for sips:") {
  CHECK(must_parse("sip:a@example.com").transport() == Transport::udp);
  CHECK(must_parse("sips:a@example.com").transport() == Transport::tls);
  CHECK(must_parse("sip:a@example.com;transport=TCP").transport() == Transport::tcp);
  CHECK(must_parse("sips:a@example.com;transport=tcp").transport() == Transport::tls);
  CHECK(must_parse("sip:a@example.com;transport=sctp").transport() == Transport::sctp);
  CHECK(must_parse("sips:a@example.com;transport=sctp").transport() == Transport::tls_sctp);
  CHECK(must_parse("sip:a@example.com;transport=tls").transport() == Transport::tls);
  CHECK(must_parse("sip:a@example.com;transport=ws").transport() == Transport::ws);
  CHECK(must_parse("sips:a@example.com;transport=ws").transport() == Transport::wss);
  CHECK(must_parse("sip:a@example.com;transport=wss").transport() == Transport::wss);
  CHECK(must_parse("sip:a@example.com;transport=quic").transport() == Transport::other);
  CHECK(to_string(Transport::tls_sctp) == "TLS-SCTP");
  CHECK(to_string(Transport::other).empty());
}

TEST_CASE("effective_port is the explicit port only, so RFC 3263 decides otherwise") {
  CHECK_FALSE(must_parse("sip:a@example.com").effective_port());
  CHECK_FALSE(must_parse("sips:a@example.com").effective_port());
  CHECK(must_parse("sip:a@example.com:5080").effective_port() == 5080);
}

TEST_CASE("ports outside 1-65535 or without digits are rejected") {
  CHECK(must_parse("sip:h.example.com:1").port == 1);
  CHECK(must_parse("sip:h.example.com:65535").port == 65535);
  CHECK(rejects("sip:h.example.com:0"));
  CHECK(rejects("sip:h.example.com:65536"));
  CHECK(rejects("sip:h.example.com:99999999999999999999"));
  CHECK(rejects("sip:h.example.com:"));
  CHECK(rejects("sip:h.example.com:50x"));
}

TEST_CASE("IPv6 references are validated and keep their brackets") {
  const Uri u = must_parse("sip:carol@[2001:db8::10]:5060;transport=udp");
  CHECK(u.is_ipv6());
  CHECK(u.host == "[2001:db8::10]");
  CHECK(u.host_address() == "2001:db8::10");
  CHECK(u.port == 5060);
  CHECK(to_string(u) == "sip:carol@[2001:db8::10]:5060;transport=udp");

  CHECK(must_parse("sip:[::1]").is_ipv6());
  CHECK(must_parse("sip:[::]").is_ipv6());
  CHECK(must_parse("sip:[1:2:3:4:5:6:7:8]").is_ipv6());
  CHECK(must_parse("sip:[::ffff:192.0.2.1]").is_ipv6());
  CHECK(must_parse("sip:[2001:db8:0:0:0:0:192.0.2.33]").is_ipv6());
  CHECK(must_parse("sip:[fe80::]").is_ipv6());

  CHECK(rejects("sip:[::1"));              // unterminated
  CHECK(rejects("sip:[]"));
  CHECK(rejects("sip:[:::]"));
  CHECK(rejects("sip:[1::2::3]"));         // two "::"
  CHECK(rejects("sip:[12345::]"));         // 5 hex digits
  CHECK(rejects("sip:[1:2:3:4:5:6:7:8:9]")); // 9 groups
  CHECK(rejects("sip:[1:2:3:4:5:6:7]"));   // 7 groups, no "::"
  CHECK(rejects("sip:[1:2:3:4:5:6:7:]"));
  CHECK(rejects("sip:[::ffff:192.0.2.256]"));
  CHECK(rejects("sip:[fe80::1%25eth0]"));  // zone ids are not RFC 3261 syntax
  CHECK(rejects("sip:[::1]x"));
  CHECK(rejects("sip:::1"));
}

TEST_CASE("IPv4 addresses and hostnames follow RFC 3261 host syntax") {
  CHECK(must_parse("sip:192.0.2.1").host_kind == HostKind::ipv4);
  CHECK(must_parse("sip:255.255.255.255").host_kind == HostKind::ipv4);
  CHECK(must_parse("sip:123.example.com").host_kind == HostKind::hostname);
  CHECK(must_parse("sip:a-b.example.com.").host_kind == HostKind::hostname); // trailing dot
  CHECK(must_parse("sip:localhost").host_kind == HostKind::hostname);
  CHECK(rejects("sip:192.0.2.256"));   // not IPv4, and a toplabel cannot start with a digit
  CHECK(rejects("sip:1.2.3"));
  CHECK(rejects("sip:-bad.example.com"));
  CHECK(rejects("sip:bad-.example.com"));
  CHECK(rejects("sip:a..example.com"));
  CHECK(rejects("sip:under_score.example.com"));
  CHECK(rejects("sip:user@"));
  CHECK(rejects("sip:"));
  CHECK(is_ipv4_address("0.0.0.0"));
  CHECK_FALSE(is_ipv4_address("01234.0.0.0"));
  CHECK(is_ipv6_address("::"));
  CHECK_FALSE(is_ipv6_address(":"));
}

TEST_CASE("tel: and other schemes are rejected with a reason") {
  std::string_view why;
  CHECK_FALSE(parse_uri("tel:+1-201-555-0123", &why));
  CHECK(why.find("RFC 3966") != std::string_view::npos);
  CHECK_FALSE(parse_uri("http://www.example.com", &why));
  CHECK(why.find("scheme") != std::string_view::npos);
  CHECK_FALSE(parse_uri("example.com", &why));
  CHECK(why == "no scheme");
  CHECK_FALSE(parse_uri(":x", &why));
}

TEST_CASE("escaped characters are validated and kept escaped in the views") {
  // RFC 4475 esc01 request-URI: another URI escaped into the user part.
  const Uri u = must_parse("sip:sips%3Auser%40example.com@example.net");
  CHECK(u.user == "sips%3Auser%40example.com");
  CHECK(u.host == "example.net");
  std::array<char, 64> buf{};
  CHECK(unescape(u.user, buf) == "sips:user@example.com");

  // RFC 4475 escnull: %00 is a legal escape.
  const Uri n = must_parse("sip:null-%00-null@example.com");
  std::string out;
  CHECK(append_unescaped(out, n.user));
  CHECK(out == "null-\0-null"s);

  CHECK(rejects("sip:bad%2@example.com"));
  CHECK(rejects("sip:bad%zz@example.com"));
  CHECK(rejects("sip:bad%@example.com"));
  CHECK(rejects("sip:sp ace@example.com"));
}

TEST_CASE("well-known parameters are found by their unescaped names") {
  // RFC 4475 esc01 Contact: ";%6C%72" is lr, and "v%61lue%25%34%31" decodes once to "value%41".
  const Uri u = must_parse("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
  CHECK(u.lr);
  const auto p = find_uri_param(u.params, "name");
  REQUIRE(p);
  std::array<char, 32> buf{};
  CHECK(unescape(p->value, buf) == "value%41"); // never recursive (RFC 3986 §2.4)
  CHECK(escaped_iequals("%6C%72", "LR"));
  CHECK_FALSE(escaped_iequals("%6C%72", "l"));
  CHECK_FALSE(escaped_iequals("lr", "lrx"));
}

TEST_CASE("maddr, ttl, user and method parameters are recognised and validated") {
  const Uri u = must_parse("sip:+15555550100@gw.example.com;user=phone;maddr=239.255.255.1;ttl=15;method=INVITE");
  CHECK(u.user_param == "phone");
  CHECK(u.maddr_param == "239.255.255.1");
  CHECK(u.ttl == 15);
  CHECK(u.method_param == "INVITE");
  CHECK(must_parse("sip:h.example.com;maddr=[2001:db8::1]").maddr_param == "[2001:db8::1]");
  CHECK(must_parse("sip:h.example.com;lr=on").lr); // RFC 2543-era form
  CHECK(rejects("sip:h.example.com;ttl=256"));
  CHECK(rejects("sip:h.example.com;ttl=1234"));
  CHECK(rejects("sip:h.example.com;ttl"));
  CHECK(rejects("sip:h.example.com;maddr=bad_host"));
  CHECK(rejects("sip:h.example.com;transport"));
  CHECK(rejects("sip:h.example.com;;lr"));
  CHECK(rejects("sip:h.example.com;lr;"));
  CHECK(rejects("sip:h.example.com;"));
  CHECK(rejects("sip:h.example.com;a=b=c"));
  CHECK(rejects("sip:h.example.com;a="));
}

TEST_CASE("URI headers need name=value pairs separated by '&'") {
  CHECK(must_parse("sip:h.example.com?to=a%40b&empty=").headers == "to=a%40b&empty=");
  CHECK(rejects("sip:h.example.com?"));
  CHECK(rejects("sip:h.example.com?novalue"));
  CHECK(rejects("sip:h.example.com?=v"));
  CHECK(rejects("sip:h.example.com?a=b&"));
  CHECK(rejects("sip:h.example.com?a=b&&c=d"));
  CHECK(rejects("sip:h.example.com?a=<b>"));
}

TEST_CASE("the user part may hold ';', '?' and '/' because '@' ends the userinfo") {
  // RFC 4475 semiuri: the ';' belongs to the user.
  const Uri s = must_parse("sip:user;par=u%40example.net@example.com");
  CHECK(s.user == "user;par=u%40example.net");
  CHECK(s.host == "example.com");
  CHECK(s.params.empty());

  // RFC 4475 intmeth: a user and password full of unusual but legal characters.
  const Uri i = must_parse(
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
  CHECK(i.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  CHECK(i.has_password);
  CHECK(i.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  CHECK(i.host == "example.com");
  CHECK(rejects("sip:us:er:x@example.com")); // ':' is not a password character
  CHECK(rejects("sip:@example.com"));
  CHECK(rejects("sip::pw@example.com"));
}

TEST_CASE("to_string round-trips every field") {
  for (std::string_view text :
       {"sip:alice@atlanta.example.com"sv, "sips:bob:pw@[2001:db8::2]:5061;transport=tcp;lr?h=v"sv,
        "sip:example.com;maddr=192.0.2.7;ttl=3"sv, "sip:%61lice@example.com;x=%41"sv}) {
    const Uri u = must_parse(text);
    const std::string s = to_string(u);
    CHECK(s == text);
    const Uri again = must_parse(s);
    CHECK(again.user == u.user);
    CHECK(again.host == u.host);
    CHECK(again.port == u.port);
    CHECK(again.params == u.params);
    CHECK(again.headers == u.headers);
  }
}

TEST_CASE("UriParamCursor walks every parameter in order") {
  const Uri u = must_parse("sip:h.example.com;a=1;b;c=3");
  UriParamCursor c(u.params);
  auto p = c.next();
  REQUIRE(p);
  CHECK((p->name == "a" && p->value == "1" && p->has_value));
  p = c.next();
  REQUIRE(p);
  CHECK((p->name == "b" && !p->has_value));
  p = c.next();
  REQUIRE(p);
  CHECK((p->name == "c" && p->value == "3"));
  CHECK_FALSE(c.next());
  CHECK_FALSE(find_uri_param(u.params, "d"));
}

TEST_CASE("generic absolute URIs are recognised for non-SIP schemes") {
  CHECK(is_absolute_uri("tel:+12015550123"));
  CHECK(is_absolute_uri("soap.beep://192.0.2.103:3002"));
  CHECK(is_absolute_uri("nobodyKnowsThisScheme:totallyopaquecontent"));
  CHECK_FALSE(is_absolute_uri("<sip:user@example.com>"));
  CHECK_FALSE(is_absolute_uri("sip:user@example.com x"));
  CHECK_FALSE(is_absolute_uri("sip:"));
  CHECK_FALSE(is_absolute_uri("1sip:x"));
  CHECK_FALSE(is_absolute_uri("sip:a\"b"));
}

TEST_CASE("unescape refuses small buffers and truncated escapes") {
  std::array<char, 2> small{};
  CHECK_FALSE(unescape("abc", small));
  CHECK_FALSE(unescape("%4", small));
  std::string out;
  CHECK_FALSE(append_unescaped(out, "a%4"));
}
