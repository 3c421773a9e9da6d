// libFuzzer target for src/sip/dns.{hpp,cpp}: arbitrary bytes as DNS responses.
//
// parse_response must never read outside its input, whatever the lengths and compression pointers
// say. To get past the ID/question check (RFC 5452 §9.1) and into the record sections, each input
// is also parsed as the answer to its own question. What is accepted must respect the layer's
// bounds; SRV records found are ordered (RFC 2782) and must come back as a priority-sorted
// permutation. The input is also tried as a query name: a name build_query accepts must read back
// unchanged through parse_question.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
//       fuzz/sip_dns.cpp src/sip/dns.cpp -o /tmp/fuzz_sip_dns
//   /tmp/fuzz_sip_dns fuzz/corpus/sip_dns
//
// Seeds in fuzz/corpus/sip_dns/: answers captured from dnsmasq 2.90 serving the zone of
// tests/sip/resolver_test.cpp (NAPTR, SRV with additional A/AAAA, A, AAAA, CNAME, NXDOMAIN, NODATA,
// REFUSED, a TC=1 UDP answer and the 25-record TCP answer that follows it), plus hand-made
// pointer loops.
#include "fuzz_support.hpp"
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "sip/dns.hpp"

namespace {

using namespace sb::sip::dns;

using sb::fuzz::require;

// A presentation-form name: at most 255 wire octets, each written as at most 4 characters.
bool bounded(const std::string& name) { return name.size() <= max_name_wire * 4; }

void check_response(const Response& r) {
  require(static_cast<unsigned>(r.rcode) <= 15, "RCODE is 4 bits");
  if (r.truncated) require(r.answers.empty() && r.additional.empty(), "TC answers carry no records");
  require(r.answers.size() + r.additional.size() <= max_records, "record bound");
  std::vector<Srv> srvs;
  for (const auto* section : {&r.answers, &r.additional}) {
    for (const Record& rec : *section) {
      require(bounded(rec.name), "owner name bound");
      require(rec.ttl <= 0x7FFFFFFFu, "RFC 2181 §8 TTL");
      require(rec.section == (section == &r.answers ? Section::answer : Section::additional), "section tag");
      switch (rec.type) {
        case RType::a: require(std::holds_alternative<A>(rec.data), "A data"); break;
        case RType::aaaa: require(std::holds_alternative<Aaaa>(rec.data), "AAAA data"); break;
        case RType::cname: require(bounded(std::get<Cname>(rec.data).target), "CNAME bound"); break;
        case RType::srv:
          require(bounded(std::get<Srv>(rec.data).target), "SRV bound");
          srvs.push_back(std::get<Srv>(rec.data));
          break;
        case RType::naptr: {
          const auto& n = std::get<Naptr>(rec.data);
          require(n.flags.size() <= 255 && n.services.size() <= 255 && n.regexp.size() <= 255,
                  "character-strings are at most 255 octets");
          require(bounded(n.replacement), "NAPTR bound");
          break;
        }
        case RType::soa: require(std::holds_alternative<Soa>(rec.data), "SOA data"); break;
      }
    }
  }
  // RFC 2782 ordering with a deterministic draw: a permutation, sorted by priority.
  std::uint32_t state = 2463534242u;
  const auto ordered = order_srv(srvs, [&state](std::uint32_t upper) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return upper == UINT32_MAX ? state : state % (upper + 1);
  });
  require(ordered.size() == srvs.size(), "order_srv keeps every record");
  for (std::size_t i = 1; i < ordered.size(); ++i)
    require(ordered[i - 1].priority <= ordered[i].priority, "priority order");
  for (const Srv& s : srvs)
    require(std::count(ordered.begin(), ordered.end(), s) == std::count(srvs.begin(), srvs.end(), s),
            "order_srv is a permutation");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);

  // As an answer to a fixed query: mostly rejected early, as a resolver would.
  const std::uint16_t id = size >= 2 ? static_cast<std::uint16_t>((data[0] << 8) | data[1]) : 0;
  if (const auto r = parse_response(bytes, id, "_sip._udp.example.test", RType::srv)) check_response(*r);

  // As the answer to its own question, so the record sections are reached.
  if (const auto q = parse_question(bytes)) {
    require(bounded(q->name), "question name bound");
    if (const auto r = parse_response(bytes, q->id, q->name, static_cast<RType>(q->type))) {
      require(r->id == q->id, "ID");
      check_response(*r);
    }
  }

  // As a query name.
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  const auto query = build_query(0x4242, name, RType::naptr);
  require(query.has_value() == valid_name(name), "build_query validates with valid_name");
  if (query) {
    require(query->size() <= header_size + max_name_wire + 4, "query size");
    const auto q =
        parse_question(std::span(reinterpret_cast<const std::uint8_t*>(query->data()), query->size()));
    require(q.has_value(), "a built query parses");
    require(q->id == 0x4242 && q->type == static_cast<std::uint16_t>(RType::naptr) && q->klass == 1,
            "question fields");
    std::string_view expected = name;
    if (!expected.empty() && expected.back() == '.') expected.remove_suffix(1);
    require(q->name == expected, "query name round trip");
  }
  return 0;
}
