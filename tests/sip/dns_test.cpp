// RFC 1035 DNS messages and RFC 2782 SRV ordering: tests for src/sip/dns.{hpp,cpp}.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "sip/dns.hpp"

using namespace sb::sip::dns;
using namespace std::literals;

namespace {

// Hand-assembles DNS messages octet by octet.
struct Packet {
  std::vector<std::uint8_t> b;

  Packet& u8(unsigned v) {
    b.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  Packet& u16(unsigned v) { return u8(v >> 8).u8(v & 0xFF); }
  Packet& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xFFFF); }
  Packet& bytes(std::string_view s) {
    for (char c : s) u8(static_cast<unsigned char>(c));
    return *this;
  }
  // A <character-string>: length octet, then the octets (RFC 1035 §3.3).
  Packet& str(std::string_view s) { return u8(static_cast<unsigned>(s.size())).bytes(s); }
  // Uncompressed labels, then the root label unless `terminate` is false (a pointer follows).
  Packet& name(std::string_view dotted, bool terminate = true) {
    while (!dotted.empty()) {
      const auto dot = dotted.find('.');
      const auto label = dotted.substr(0, dot);
      u8(static_cast<unsigned>(label.size())).bytes(label);
      dotted = dot == std::string_view::npos ? ""sv : dotted.substr(dot + 1);
    }
    if (terminate) u8(0);
    return *this;
  }
  Packet& ptr(unsigned offset) { return u16(0xC000 | offset); }
  Packet& header(unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  Packet& question(std::string_view qname, RType t) {
    return name(qname).u16(static_cast<unsigned>(t)).u16(1);
  }
  // Owner, type, class IN, TTL; the caller writes RDLENGTH and RDATA (or uses rdata()).
  Packet& rr_head(unsigned owner_ptr, RType t, std::uint32_t ttl) {
    return ptr(owner_ptr).u16(static_cast<unsigned>(t)).u16(1).u32(ttl);
  }
  std::size_t size() const { return b.size(); }
  void patch16(std::size_t at, unsigned v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v & 0xFF);
  }
  std::span<const std::uint8_t> span() const { return b; }
};

constexpr unsigned response_flags = 0x8180; // QR, RD, RA, NOERROR
constexpr unsigned qname_offset = 12;

// _sip._udp.example.test SRV: two SRV records (target compressed against the question), and the
// A record of one target in the additional section, as dnsmasq sends it.
Packet srv_response(unsigned id = 0x1234) {
  Packet p;
  p.header(id, response_flags, 1, 2, 0, 1);
  p.question("_sip._udp.example.test", RType::srv);
  // "example.test" starts 10 octets into the question name ("\4_sip\4_udp" = 10 octets).
  const unsigned example = qname_offset + 10;
  p.rr_head(qname_offset, RType::srv, 300);
  const auto rdlen1 = p.size();
  p.u16(0).u16(10).u16(60).u16(5060);
  const auto target1 = p.size();
  p.name("pbx1", false).ptr(example);
  p.patch16(rdlen1, static_cast<unsigned>(p.size() - rdlen1 - 2));
  p.rr_head(qname_offset, RType::srv, 120);
  const auto rdlen2 = p.size();
  p.u16(0).u16(20).u16(0).u16(5070);
  p.name("pbx2.example.test");
  p.patch16(rdlen2, static_cast<unsigned>(p.size() - rdlen2 - 2));
  p.rr_head(static_cast<unsigned>(target1), RType::a, 60).u16(4).u8(192).u8(0).u8(2).u8(1);
  return p;
}

dns_error error_of(const boost::system::result<Response>& r) {
  REQUIRE_FALSE(r.has_value());
  REQUIRE(r.error().category() == dns_category());
  return static_cast<dns_error>(r.error().value());
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Queries

TEST_CASE("a query asks for recursion with one IN question in plain labels") {
  const auto q = build_query(0xBEEF, "Example.COM.", RType::naptr);
  REQUIRE(q.has_value());
  const std::string expected =
      "\xBE\xEF\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
      "\x07"
      "Example\x03"
      "COM\x00\x00\x23\x00\x01"s;
  CHECK(*q == expected);

  const auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(q->data()), q->size());
  const auto parsed = parse_question(bytes);
  REQUIRE(parsed.has_value());
  CHECK(parsed->id == 0xBEEF);
  CHECK(parsed->flags == 0x0100);
  CHECK(parsed->name == "Example.COM");
  CHECK(parsed->type == 35);
  CHECK(parsed->klass == 1);
}

TEST_CASE("query names are limited to 63-octet labels, 253 characters and no empty label") {
  const std::string label63(63, 'a');
  CHECK(build_query(1, label63 + ".test", RType::a).has_value());
  CHECK_FALSE(build_query(1, label63 + "a.test", RType::a).has_value());

  std::string name253; // 4 × 63 + 3 dots = 255 > 253; build exactly 253
  name253 = std::string(63, 'a') + '.' + std::string(63, 'b') + '.' + std::string(63, 'c') + '.' +
            std::string(61, 'd');
  REQUIRE(name253.size() == 253);
  const auto ok = build_query(1, name253, RType::a);
  REQUIRE(ok.has_value());
  CHECK(ok->size() == 12 + 255 + 4); // 253 characters are 255 octets on the wire
  CHECK(build_query(1, name253 + ".", RType::a).has_value());
  CHECK_FALSE(build_query(1, name253 + "d", RType::a).has_value());

  for (const auto bad : {""sv, "."sv, ".."sv, "a..b"sv, ".a"sv, "a b.test"sv, "a\\.b"sv, "tab\t.test"sv,
                         "\x7f.test"sv, "caf\xc3\xa9.test"sv}) {
    INFO("name: ", std::string(bad));
    const auto r = build_query(1, bad, RType::a);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == make_error_code(dns_error::invalid_name));
    CHECK_FALSE(valid_name(bad));
  }
  CHECK(valid_name("_sips._tcp.example.test"));
}

TEST_CASE("names compare case-insensitively, ignoring a trailing dot") {
  CHECK(name_equals("ExAmple.TEST", "example.test."));
  CHECK_FALSE(name_equals("example.test", "example.tes"));
  CHECK_FALSE(name_equals("a-example.test", "b-example.test"));
}

// ---------------------------------------------------------------------------------------------
// Responses

TEST_CASE("an SRV answer follows compression pointers and keeps additional A records") {
  const auto p = srv_response();
  const auto r = parse_response(p.span(), 0x1234, "_sip._udp.example.test", RType::srv);
  REQUIRE(r.has_value());
  CHECK(r->id == 0x1234);
  CHECK(r->rcode == Rcode::noerror);
  CHECK_FALSE(r->truncated);
  CHECK_FALSE(r->negative_ttl);
  REQUIRE(r->answers.size() == 2);

  const auto& first = r->answers[0];
  CHECK(first.name == "_sip._udp.example.test");
  CHECK(first.type == RType::srv);
  CHECK(first.ttl == 300);
  CHECK(first.section == Section::answer);
  const auto* s1 = std::get_if<Srv>(&first.data);
  REQUIRE(s1);
  CHECK(*s1 == Srv{10, 60, 5060, "pbx1.example.test"});

  const auto* s2 = std::get_if<Srv>(&r->answers[1].data);
  REQUIRE(s2);
  CHECK(r->answers[1].ttl == 120);
  CHECK(*s2 == Srv{20, 0, 5070, "pbx2.example.test"});

  REQUIRE(r->additional.size() == 1);
  const auto& add = r->additional[0];
  CHECK(add.name == "pbx1.example.test"); // owner is a pointer into the first SRV's RDATA
  CHECK(add.section == Section::additional);
  CHECK(add.ttl == 60);
  const auto* a = std::get_if<A>(&add.data);
  REQUIRE(a);
  CHECK(a->bytes == std::array<std::uint8_t, 4>{192, 0, 2, 1});
}

TEST_CASE("NAPTR, CNAME and AAAA records decode field by field") {
  Packet p;
  p.header(7, response_flags | 0x0400, 1, 4, 0, 0);
  p.question("example.test", RType::naptr);
  p.rr_head(qname_offset, RType::naptr, 3600);
  const auto len = p.size();
  p.u16(0).u16(10).u16(50).str("S").str("SIP+D2T").str("").name("_sip._tcp", false).ptr(qname_offset);
  p.patch16(len, static_cast<unsigned>(p.size() - len - 2));
  p.rr_head(qname_offset, RType::naptr, 3600);
  const auto len2 = p.size();
  p.u16(0).u16(20).u16(10).str("u").str("E2U+sip").str("!^.*$!sip:info@x.test!").u8(0);
  p.patch16(len2, static_cast<unsigned>(p.size() - len2 - 2));
  // A CNAME and an AAAA in the answer section are kept too (the resolver filters by owner/type).
  p.rr_head(qname_offset, RType::cname, 10);
  const auto len3 = p.size();
  p.u16(0).name("alias", false).ptr(qname_offset);
  p.patch16(len3, static_cast<unsigned>(p.size() - len3 - 2));
  p.rr_head(qname_offset, RType::aaaa, 0x80000000u).u16(16);
  for (int i = 0; i < 15; ++i) p.u8(0);
  p.u8(1);

  const auto r = parse_response(p.span(), 7, "EXAMPLE.test", RType::naptr);
  REQUIRE(r.has_value());
  CHECK(r->authoritative);
  REQUIRE(r->answers.size() == 4);
  const auto* n = std::get_if<Naptr>(&r->answers[0].data);
  REQUIRE(n);
  CHECK(n->order == 10);
  CHECK(n->preference == 50);
  CHECK(n->flags == "S");
  CHECK(n->services == "SIP+D2T");
  CHECK(n->regexp.empty());
  CHECK(n->replacement == "_sip._tcp.example.test");
  const auto* u = std::get_if<Naptr>(&r->answers[1].data);
  REQUIRE(u);
  CHECK(u->regexp == "!^.*$!sip:info@x.test!");
  CHECK(u->replacement.empty()); // "." is the root
  const auto* c = std::get_if<Cname>(&r->answers[2].data);
  REQUIRE(c);
  CHECK(c->target == "alias.example.test");
  CHECK(r->answers[2].ttl == 10);
  const auto* six = std::get_if<Aaaa>(&r->answers[3].data);
  REQUIRE(six);
  CHECK(six->bytes[15] == 1);
  CHECK(r->answers[3].ttl == 0); // RFC 2181 §8: a TTL with the top bit set is 0
}

TEST_CASE("NXDOMAIN with an SOA gives the RFC 2308 negative TTL") {
  Packet p;
  p.header(9, response_flags | 3, 1, 0, 1, 0);
  p.question("nope.test", RType::a);
  p.rr_head(qname_offset + 5, RType::soa, 900); // owner "test"
  const auto len = p.size();
  p.u16(0).name("ns", false).ptr(qname_offset + 5).name("hostmaster", false).ptr(qname_offset + 5);
  p.u32(2024).u32(7200).u32(900).u32(86400).u32(300);
  p.patch16(len, static_cast<unsigned>(p.size() - len - 2));
  const auto r = parse_response(p.span(), 9, "nope.test", RType::a);
  REQUIRE(r.has_value());
  CHECK(r->rcode == Rcode::nxdomain);
  CHECK(r->answers.empty());
  REQUIRE(r->negative_ttl);
  CHECK(*r->negative_ttl == 300); // min(SOA TTL 900, MINIMUM 300)
}

TEST_CASE("labels outside printable ASCII come back escaped, never confused with dots") {
  Packet p;
  p.header(1, response_flags, 1, 1, 0, 0);
  p.question("x.test", RType::cname);
  p.rr_head(qname_offset, RType::cname, 5);
  const auto len = p.size();
  p.u16(0).u8(3).bytes("a.b").u8(2).u8(0).u8(' ').u8(1).bytes("\\").u8(0);
  p.patch16(len, static_cast<unsigned>(p.size() - len - 2));
  const auto r = parse_response(p.span(), 1, "x.test", RType::cname);
  REQUIRE(r.has_value());
  REQUIRE(r->answers.size() == 1);
  CHECK(std::get<Cname>(r->answers[0].data).target == "a\\046b.\\000\\032.\\092");
}

TEST_CASE("records of other types and classes are skipped by their length") {
  Packet p;
  p.header(2, response_flags, 1, 3, 0, 0);
  p.question("a.test", RType::a);
  p.ptr(qname_offset)
      .u16(16)
      .u16(1)
      .u32(60)
      .u16(4)
      .bytes(
          "\x03"
          "abc");                                                   // TXT
  p.ptr(qname_offset).u16(1).u16(3).u32(60).u16(4).u32(0x0A000001); // A in class CH
  p.rr_head(qname_offset, RType::a, 60).u16(4).u32(0x0A000002);
  const auto r = parse_response(p.span(), 2, "a.test", RType::a);
  REQUIRE(r.has_value());
  REQUIRE(r->answers.size() == 1);
  CHECK(std::get<A>(r->answers[0].data).bytes[3] == 2);
}

TEST_CASE("answers to someone else's query are told apart from malformed ones") {
  const auto p = srv_response(0x1234);
  CHECK(error_of(parse_response(p.span(), 0x1235, "_sip._udp.example.test", RType::srv)) ==
        dns_error::id_mismatch);
  CHECK(error_of(parse_response(p.span(), 0x1234, "_sip._tcp.example.test", RType::srv)) ==
        dns_error::question_mismatch);
  CHECK(error_of(parse_response(p.span(), 0x1234, "_sip._udp.example.test", RType::naptr)) ==
        dns_error::question_mismatch);
  CHECK(parse_response(p.span(), 0x1234, "_SIP._UDP.Example.Test.", RType::srv).has_value()); // RFC 4343

  auto query = p;
  query.patch16(2, 0x0100); // QR = 0: a query, not a response
  CHECK(error_of(parse_response(query.span(), 0x1234, "_sip._udp.example.test", RType::srv)) ==
        dns_error::not_response);
  auto notify = p;
  notify.patch16(2, 0x8000 | (4 << 11)); // OPCODE 4 (NOTIFY)
  CHECK(error_of(parse_response(notify.span(), 0x1234, "_sip._udp.example.test", RType::srv)) ==
        dns_error::not_response);
  auto two = p;
  two.patch16(4, 2);
  CHECK(error_of(parse_response(two.span(), 0x1234, "_sip._udp.example.test", RType::srv)) ==
        dns_error::question_mismatch);
  auto chaos = p;
  const auto qclass = 12 + 24 + 2; // the question name is 24 octets
  chaos.patch16(qclass, 3);
  CHECK(error_of(parse_response(chaos.span(), 0x1234, "_sip._udp.example.test", RType::srv)) ==
        dns_error::question_mismatch);
}

TEST_CASE("every truncation of a response is rejected without reading past the end") {
  const auto p = srv_response();
  for (std::size_t n = 0; n < p.size(); ++n) {
    INFO("prefix length ", n);
    // A heap copy of exactly n octets, so ASan catches any read beyond it.
    const std::vector<std::uint8_t> cut(p.b.begin(), p.b.begin() + static_cast<std::ptrdiff_t>(n));
    const auto r = parse_response(cut, 0x1234, "_sip._udp.example.test", RType::srv);
    CHECK_FALSE(r.has_value());
  }
  CHECK(error_of(parse_response(std::span(p.b.data(), 11), 0x1234, "x", RType::srv)) ==
        dns_error::short_message);
}

TEST_CASE("compression pointers must point strictly backwards and cannot loop") {
  auto with_answer_owner = [](auto write_owner) {
    Packet p;
    p.header(5, response_flags, 1, 1, 0, 0);
    p.question("loop.test", RType::a);
    write_owner(p);
    p.u16(1).u16(1).u32(1).u16(4).u32(0);
    return p;
  };
  // A pointer to itself.
  auto self = with_answer_owner([](Packet& p) { p.ptr(static_cast<unsigned>(p.size())); });
  CHECK(error_of(parse_response(self.span(), 5, "loop.test", RType::a)) == dns_error::bad_pointer);
  // A forward pointer (to the TYPE field after it).
  auto forward = with_answer_owner([](Packet& p) { p.ptr(static_cast<unsigned>(p.size() + 2)); });
  CHECK(error_of(parse_response(forward.span(), 5, "loop.test", RType::a)) == dns_error::bad_pointer);
  // "a" then a pointer back to that same "a": backwards from the pointer, but a loop.
  auto loop = with_answer_owner([](Packet& p) {
    const auto start = p.size();
    p.u8(1).bytes("a").ptr(static_cast<unsigned>(start));
  });
  CHECK(error_of(parse_response(loop.span(), 5, "loop.test", RType::a)) == dns_error::bad_pointer);
  // Two names pointing at each other: the second name's pointer leads to the first, whose
  // pointer leads forward again.
  Packet mutual;
  mutual.header(5, response_flags, 1, 2, 0, 0);
  mutual.question("loop.test", RType::a);
  const auto first = mutual.size();
  mutual.u8(1).bytes("x").ptr(static_cast<unsigned>(first + 4 + 10 + 4)); // to the second owner
  mutual.u16(1).u16(1).u32(1).u16(4).u32(0);
  mutual.u8(1).bytes("y").ptr(static_cast<unsigned>(first));
  mutual.u16(1).u16(1).u32(1).u16(4).u32(0);
  CHECK(error_of(parse_response(mutual.span(), 5, "loop.test", RType::a)) == dns_error::bad_pointer);
  // A pointer in the question itself, to the header.
  Packet q;
  q.header(5, response_flags, 1, 0, 0, 0).ptr(0).u16(1).u16(1);
  CHECK_FALSE(parse_response(q.span(), 5, "loop.test", RType::a).has_value());
}

TEST_CASE("a long backwards chain of pointers is bounded") {
  // An opaque (TXT) record holds `links` names, each "z" plus a pointer to the previous one; an A
  // record's owner points at the last. Every pointer is legal on its own; only the jump bound
  // (max_pointer_jumps = 64) stops the longer chain. 100 links are 200 octets: under 255.
  auto chain = [](int links) {
    Packet p;
    p.header(5, response_flags, 1, 2, 0, 0);
    p.question("q.test", RType::a);
    p.ptr(qname_offset).u16(16).u16(1).u32(1);
    const auto len = p.size();
    p.u16(0);
    std::size_t prev = qname_offset;
    for (int i = 0; i < links; ++i) {
      const auto here = p.size();
      p.u8(1).bytes("z").ptr(static_cast<unsigned>(prev));
      prev = here;
    }
    p.patch16(len, static_cast<unsigned>(p.size() - len - 2));
    p.ptr(static_cast<unsigned>(prev)).u16(1).u16(1).u32(1).u16(4).u32(0);
    return p;
  };
  const auto short_chain = chain(50);
  const auto ok = parse_response(short_chain.span(), 5, "q.test", RType::a);
  REQUIRE(ok.has_value());
  REQUIRE(ok->answers.size() == 1);
  CHECK(ok->answers[0].name.size() == 50 * 2 + 6);
  const auto long_chain = chain(100);
  CHECK(error_of(parse_response(long_chain.span(), 5, "q.test", RType::a)) == dns_error::bad_pointer);
}

TEST_CASE("lengths that disagree with the message are errors") {
  SUBCASE("RDLENGTH beyond the end") {
    Packet p;
    p.header(3, response_flags, 1, 1, 0, 0).question("a.test", RType::a);
    p.rr_head(qname_offset, RType::a, 1).u16(40).u32(0);
    CHECK(error_of(parse_response(p.span(), 3, "a.test", RType::a)) == dns_error::short_message);
  }
  SUBCASE("an A record of 5 octets") {
    Packet p;
    p.header(3, response_flags, 1, 1, 0, 0).question("a.test", RType::a);
    p.rr_head(qname_offset, RType::a, 1).u16(5).u32(0).u8(0);
    CHECK(error_of(parse_response(p.span(), 3, "a.test", RType::a)) == dns_error::bad_rdata);
  }
  SUBCASE("an AAAA record of 4 octets") {
    Packet p;
    p.header(3, response_flags, 1, 1, 0, 0).question("a.test", RType::aaaa);
    p.rr_head(qname_offset, RType::aaaa, 1).u16(4).u32(0);
    CHECK(error_of(parse_response(p.span(), 3, "a.test", RType::aaaa)) == dns_error::bad_rdata);
  }
  SUBCASE("an SRV target running past its RDATA into the next record") {
    Packet p;
    p.header(3, response_flags, 1, 2, 0, 0).question("s.test", RType::srv);
    p.rr_head(qname_offset, RType::srv, 1).u16(8).u16(0).u16(0).u16(5060).u8(3).bytes("a");
    p.bytes("bc").u8(0).u16(1).u16(1).u32(1).u16(0); // the rest of the "name", then junk
    CHECK_FALSE(parse_response(p.span(), 3, "s.test", RType::srv).has_value());
  }
  SUBCASE("an SRV shorter than its fixed fields") {
    Packet p;
    p.header(3, response_flags, 1, 1, 0, 0).question("s.test", RType::srv);
    p.rr_head(qname_offset, RType::srv, 1).u16(5).u16(0).u16(0).u8(0);
    CHECK(error_of(parse_response(p.span(), 3, "s.test", RType::srv)) == dns_error::bad_rdata);
  }
  SUBCASE("a NAPTR character-string longer than its RDATA") {
    Packet p;
    p.header(3, response_flags, 1, 1, 0, 0).question("n.test", RType::naptr);
    p.rr_head(qname_offset, RType::naptr, 1).u16(9).u16(1).u16(1).u8(200).bytes("SIP").u8(0);
    CHECK(error_of(parse_response(p.span(), 3, "n.test", RType::naptr)) == dns_error::bad_rdata);
  }
  SUBCASE("a reserved label type") {
    Packet p;
    p.header(3, response_flags, 1, 0, 0, 0).u8(0x41).bytes("x").u8(0).u16(1).u16(1);
    CHECK(error_of(parse_response(p.span(), 3, "x", RType::a)) == dns_error::bad_label);
  }
  SUBCASE("a name over 255 octets") {
    Packet p;
    p.header(3, response_flags, 1, 0, 0, 0);
    for (int i = 0; i < 5; ++i) p.u8(60).bytes(std::string(60, 'a'));
    p.u8(0).u16(1).u16(1);
    CHECK(error_of(parse_response(p.span(), 3, "x", RType::a)) == dns_error::bad_label);
  }
  SUBCASE("more records than the bound") {
    Packet p;
    p.header(3, response_flags, 1, 600, 0, 0).question("a.test", RType::a);
    CHECK(error_of(parse_response(p.span(), 3, "a.test", RType::a)) == dns_error::too_many_records);
  }
  SUBCASE("more records announced than present") {
    Packet p;
    p.header(3, response_flags, 1, 2, 0, 0).question("a.test", RType::a);
    p.rr_head(qname_offset, RType::a, 1).u16(4).u32(0);
    CHECK(error_of(parse_response(p.span(), 3, "a.test", RType::a)) == dns_error::short_message);
  }
}

TEST_CASE("a truncated (TC) answer is reported without its records") {
  Packet p;
  p.header(4, response_flags | 0x0200, 1, 30, 0, 0).question("big.test", RType::srv);
  p.rr_head(qname_offset, RType::srv, 1).u16(100); // cut in the middle of a record
  const auto r = parse_response(p.span(), 4, "big.test", RType::srv);
  REQUIRE(r.has_value());
  CHECK(r->truncated);
  CHECK(r->answers.empty());
}

TEST_CASE("errors have a category and messages") {
  CHECK(std::string(dns_category().name()) == "sb.sip.dns");
  for (int e = 1; e <= static_cast<int>(dns_error::too_many_records); ++e)
    CHECK(make_error_code(static_cast<dns_error>(e)).message() != "unknown DNS error");
  CHECK(to_string(RType::naptr) == "NAPTR");
  CHECK(to_string(static_cast<RType>(99)) == "TYPE99");
}

// ---------------------------------------------------------------------------------------------
// RFC 2782 ordering

TEST_CASE("SRV ordering respects priority strictly and weights statistically") {
  std::mt19937 rng(20240601);
  const UniformRandom random = [&rng](std::uint32_t upper) {
    return std::uniform_int_distribution<std::uint32_t>(0, upper)(rng);
  };
  const std::vector<Srv> records = {
      {20, 0, 1, "backup"}, {10, 60, 1, "a"}, {10, 30, 1, "b"}, {10, 10, 1, "c"}, {30, 5, 1, "last"},
  };
  std::map<std::string, int> first;
  constexpr int draws = 10000;
  for (int i = 0; i < draws; ++i) {
    const auto o = order_srv(records, random);
    REQUIRE(o.size() == 5);
    for (std::size_t k = 1; k < o.size(); ++k) REQUIRE(o[k - 1].priority <= o[k].priority);
    CHECK(o[3].target == "backup");
    CHECK(o[4].target == "last");
    ++first[o[0].target];
  }
  // Expected 6000/3000/1000; binomial σ ≈ 49/46/30, so ±300 is over 6σ.
  CHECK(first["a"] == doctest::Approx(6000).epsilon(0.05));
  CHECK(first["b"] == doctest::Approx(3000).epsilon(0.10));
  CHECK(first["c"] == doctest::Approx(1000).epsilon(0.20));
  CHECK(first["a"] + first["b"] + first["c"] == draws);
}

TEST_CASE("weight-0 SRV records get a small chance, and all-zero groups keep their order") {
  std::mt19937 rng(7);
  const UniformRandom random = [&rng](std::uint32_t upper) {
    return std::uniform_int_distribution<std::uint32_t>(0, upper)(rng);
  };
  int zero_first = 0;
  for (int i = 0; i < 10000; ++i)
    if (order_srv({{1, 100, 1, "heavy"}, {1, 0, 1, "zero"}}, random)[0].target == "zero") ++zero_first;
  // Chosen first only on a draw of 0 out of [0, 100]: about 1 in 101.
  CHECK(zero_first > 30);
  CHECK(zero_first < 200);

  const auto same = order_srv({{5, 0, 1, "x"}, {5, 0, 2, "y"}, {5, 0, 3, "z"}}, random);
  CHECK(same[0].target == "x");
  CHECK(same[1].target == "y");
  CHECK(same[2].target == "z");
}

TEST_CASE("SRV selection follows RFC 2782's running sums exactly") {
  // Weights 60/30/10: running sums 60, 90, 100. A draw of 61 selects the 30 (sum 90 ≥ 61); then
  // 60/10 remain (sums 60, 70) and a draw of 65 selects the 10; the 60 is last.
  std::vector<std::uint32_t> draws = {61, 65, 0};
  std::size_t next = 0;
  std::vector<std::uint32_t> uppers;
  const UniformRandom scripted = [&](std::uint32_t upper) {
    uppers.push_back(upper);
    return draws[next++];
  };
  const auto o = order_srv({{1, 60, 1, "a"}, {1, 30, 1, "b"}, {1, 10, 1, "c"}}, scripted);
  CHECK(o[0].target == "b");
  CHECK(o[1].target == "c");
  CHECK(o[2].target == "a");
  CHECK(uppers == std::vector<std::uint32_t>{100, 70, 60});
}
