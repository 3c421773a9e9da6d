#include "sip/dns.hpp"

#include "base/text.hpp"

#include <algorithm>

namespace sb::sip::dns {
namespace {

class DnsCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sb.sip.dns"; }
  std::string message(int ev) const override {
    switch (static_cast<dns_error>(ev)) {
      case dns_error::invalid_name: return "invalid DNS name";
      case dns_error::short_message: return "DNS message ends early";
      case dns_error::bad_label: return "bad DNS label or name too long";
      case dns_error::bad_pointer: return "bad DNS compression pointer";
      case dns_error::bad_rdata: return "DNS RDATA length does not match its contents";
      case dns_error::not_response: return "DNS message is not a response to a query";
      case dns_error::id_mismatch: return "DNS response ID does not match the query";
      case dns_error::question_mismatch: return "DNS response question does not match the query";
      case dns_error::too_many_records: return "DNS message holds too many records";
    }
    return "unknown DNS error";
  }
};

constexpr std::uint16_t class_in = 1;     // RFC 1035 §3.2.4
constexpr std::uint16_t flag_qr = 0x8000; // RFC 1035 §4.1.1
constexpr std::uint16_t flag_aa = 0x0400;
constexpr std::uint16_t flag_tc = 0x0200;
constexpr std::uint16_t flag_rd = 0x0100;
constexpr std::uint16_t opcode_mask = 0x7800;
constexpr std::uint16_t rcode_mask = 0x000F;

using Bytes = std::span<const std::uint8_t>;

std::uint16_t be16(Bytes m, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}
std::uint32_t be32(Bytes m, std::size_t at) noexcept {
  return (std::uint32_t{m[at]} << 24) | (std::uint32_t{m[at + 1]} << 16) | (std::uint32_t{m[at + 2]} << 8) |
         std::uint32_t{m[at + 3]};
}

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xFF));
}

std::string_view strip_root(std::string_view name) noexcept {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name;
}

// Presentation form of one label octet, RFC 1035 §5.1: '.', '\' and anything outside printable
// ASCII (space included) become \DDD so that a decoded name can never be mistaken for another.
void append_label_octet(std::string& out, std::uint8_t c) {
  if (c <= 0x20 || c >= 0x7F || c == '.' || c == '\\') {
    out.push_back('\\');
    out.push_back(static_cast<char>('0' + c / 100));
    out.push_back(static_cast<char>('0' + (c / 10) % 10));
    out.push_back(static_cast<char>('0' + c % 10));
  } else {
    out.push_back(static_cast<char>(c));
  }
}

// Decodes the (possibly compressed) name at `pos`, RFC 1035 §4.1.4. `end` receives the offset just
// past the name's inline part (the first pointer, or the root label), which is where the next
// field starts. Loop protection: the first pointer must point before `pos`, and every later one
// before the target of the previous one, so offsets strictly decrease and every chain ends; the
// jump count is bounded besides.
dns_error decode_name(Bytes m, std::size_t pos, std::string& out, std::size_t& end) {
  out.clear();
  std::size_t p = pos;
  std::size_t limit = pos;
  std::size_t wire = 0;
  bool jumped = false;
  int jumps = 0;
  for (;;) {
    if (p >= m.size()) return dns_error::short_message;
    const std::uint8_t len = m[p];
    switch (len & 0xC0) {
      case 0xC0: {
        if (p + 1 >= m.size()) return dns_error::short_message;
        const std::size_t target = (std::size_t{len & 0x3Fu} << 8) | m[p + 1];
        if (!jumped) {
          end = p + 2;
          jumped = true;
        }
        if (target >= limit || ++jumps > max_pointer_jumps) return dns_error::bad_pointer;
        limit = target;
        p = target;
        continue;
      }
      case 0x00: break;
      default: // 0x40 (EDNS extended label types, RFC 6891 §5) and 0x80 are not names we can read
        return dns_error::bad_label;
    }
    if (len == 0) {
      if (!jumped) end = p + 1;
      return dns_error{};
    }
    if (p + 1 + len > m.size()) return dns_error::short_message;
    wire += 1u + len;
    if (wire + 1 > max_name_wire) return dns_error::bad_label; // + 1 for the root label
    if (!out.empty()) out.push_back('.');
    for (std::size_t i = 0; i < len; ++i) append_label_octet(out, m[p + 1 + i]);
    p += 1u + len;
  }
}

// A <character-string>, RFC 1035 §3.3: one length octet, then that many octets, inside [p, end).
dns_error read_character_string(Bytes m, std::size_t& p, std::size_t end, std::string& out) {
  if (p >= end) return dns_error::bad_rdata;
  const std::size_t len = m[p];
  if (p + 1 + len > end) return dns_error::bad_rdata;
  out.assign(reinterpret_cast<const char*>(m.data() + p + 1), len);
  p += 1 + len;
  return dns_error{};
}

// The name inside RDATA must end exactly where RDATA ends (its compressed tail may point anywhere
// before it, but its inline part may not run into the next record).
dns_error read_rdata_name(Bytes m, std::size_t p, std::size_t rdata_end, std::string& out) {
  std::size_t end = 0;
  if (const auto e = decode_name(m, p, out, end); e != dns_error{}) return e;
  return end == rdata_end ? dns_error{} : dns_error::bad_rdata;
}

struct Header {
  std::uint16_t id, flags, qd, an, ns, ar;
};

Header read_header(Bytes m) noexcept {
  return {be16(m, 0), be16(m, 2), be16(m, 4), be16(m, 6), be16(m, 8), be16(m, 10)};
}

// The first question: name, type, class. `p` moves past it.
dns_error read_question(Bytes m, std::size_t& p, Question& q) {
  std::size_t end = 0;
  if (const auto e = decode_name(m, p, q.name, end); e != dns_error{}) return e;
  if (end + 4 > m.size()) return dns_error::short_message;
  q.type = be16(m, end);
  q.klass = be16(m, end + 2);
  p = end + 4;
  return dns_error{};
}

// Decodes one RR's RDATA for the types we keep. Returns false (with no error) for a record that is
// skipped: another class, another type, or a type that does not belong in its section.
dns_error read_rdata(Bytes m, std::size_t p, std::size_t rdlen, std::uint16_t type, Section section,
                     Rdata& out, bool& keep) {
  const std::size_t end = p + rdlen;
  keep = true;
  if (section == Section::authority) {
    keep = type == static_cast<std::uint16_t>(RType::soa);
    if (!keep) return dns_error{};
  }
  switch (static_cast<RType>(type)) {
    case RType::a: {
      if (rdlen != 4) return dns_error::bad_rdata;
      A a;
      std::copy_n(m.begin() + static_cast<std::ptrdiff_t>(p), 4, a.bytes.begin());
      out = a;
      return dns_error{};
    }
    case RType::aaaa: {
      if (rdlen != 16) return dns_error::bad_rdata; // RFC 3596 §2.2
      Aaaa a;
      std::copy_n(m.begin() + static_cast<std::ptrdiff_t>(p), 16, a.bytes.begin());
      out = a;
      return dns_error{};
    }
    case RType::cname: {
      Cname c;
      if (const auto e = read_rdata_name(m, p, end, c.target); e != dns_error{}) return e;
      out = std::move(c);
      return dns_error{};
    }
    case RType::srv: {
      // RFC 2782: priority, weight, port (16 bits each), then target. RFC 2782 forbids compressing
      // the target, but RFC 3597 §4 asks receivers to decompress it anyway.
      if (rdlen < 7) return dns_error::bad_rdata;
      Srv s;
      s.priority = be16(m, p);
      s.weight = be16(m, p + 2);
      s.port = be16(m, p + 4);
      if (const auto e = read_rdata_name(m, p + 6, end, s.target); e != dns_error{}) return e;
      out = std::move(s);
      return dns_error{};
    }
    case RType::naptr: {
      // RFC 3403 §4.1: ORDER, PREFERENCE, FLAGS, SERVICES, REGEXP, REPLACEMENT.
      if (rdlen < 4 + 3 + 1) return dns_error::bad_rdata;
      Naptr n;
      n.order = be16(m, p);
      n.preference = be16(m, p + 2);
      std::size_t q = p + 4;
      for (std::string* s : {&n.flags, &n.services, &n.regexp})
        if (const auto e = read_character_string(m, q, end, *s); e != dns_error{}) return e;
      if (const auto e = read_rdata_name(m, q, end, n.replacement); e != dns_error{}) return e;
      out = std::move(n);
      return dns_error{};
    }
    case RType::soa: {
      // RFC 1035 §3.3.13: MNAME, RNAME, SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM.
      std::string name;
      std::size_t q = 0;
      if (const auto e = decode_name(m, p, name, q); e != dns_error{}) return e;
      if (q > end) return dns_error::bad_rdata;
      std::size_t r = 0;
      if (const auto e = decode_name(m, q, name, r); e != dns_error{}) return e;
      if (r + 20 != end) return dns_error::bad_rdata;
      out = Soa{be32(m, r + 16)};
      return dns_error{};
    }
  }
  keep = false; // RFC 3597: unknown types are skipped by length
  return dns_error{};
}

std::uint32_t read_ttl(Bytes m, std::size_t at) noexcept {
  const std::uint32_t ttl = be32(m, at);
  return (ttl & 0x80000000u) ? 0 : ttl; // RFC 2181 §8
}

} // namespace

const boost::system::error_category& dns_category() noexcept {
  static const DnsCategory category;
  return category;
}

boost::system::error_code make_error_code(dns_error e) noexcept {
  return {static_cast<int>(e), dns_category()};
}

std::string to_string(RType t) {
  switch (t) {
    case RType::a: return "A";
    case RType::cname: return "CNAME";
    case RType::soa: return "SOA";
    case RType::aaaa: return "AAAA";
    case RType::srv: return "SRV";
    case RType::naptr: return "NAPTR";
  }
  return "TYPE" + std::to_string(static_cast<unsigned>(t));
}

bool valid_name(std::string_view name) noexcept {
  name = strip_root(name);
  if (name.empty() || name.size() > max_name_text) return false;
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) return false; // empty label, RFC 1035 §2.3.1
      label = 0;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '\\') return false;
    if (++label > max_label) return false;
  }
  return label != 0;
}

bool name_equals(std::string_view a, std::string_view b) noexcept {
  a = strip_root(a);
  b = strip_root(b);
  return ascii_iequals(a, b);  // RFC 4343: DNS names compare ASCII case-insensitively
}

boost::system::result<std::string> build_query(std::uint16_t id, std::string_view name, RType type) {
  if (!valid_name(name)) return make_error_code(dns_error::invalid_name);
  name = strip_root(name);
  std::string q;
  q.reserve(header_size + name.size() + 2 + 4);
  put16(q, id);
  put16(q, flag_rd); // QR=0, OPCODE=QUERY, RD=1: ask the server to recurse (RFC 1035 §4.1.1)
  put16(q, 1);       // QDCOUNT
  put16(q, 0);
  put16(q, 0);
  put16(q, 0);
  while (!name.empty()) {
    const auto dot = name.find('.');
    const auto label = name.substr(0, dot);
    q.push_back(static_cast<char>(label.size()));
    q.append(label);
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  q.push_back('\0');
  put16(q, static_cast<std::uint16_t>(type));
  put16(q, class_in);
  return q;
}

boost::system::result<Question> parse_question(std::span<const std::uint8_t> m) {
  if (m.size() < header_size) return make_error_code(dns_error::short_message);
  const Header h = read_header(m);
  if (h.qd == 0) return make_error_code(dns_error::question_mismatch);
  Question q;
  q.id = h.id;
  q.flags = h.flags;
  std::size_t p = header_size;
  if (const auto e = read_question(m, p, q); e != dns_error{}) return make_error_code(e);
  return q;
}

boost::system::result<Response> parse_response(std::span<const std::uint8_t> m, std::uint16_t expected_id,
                                               std::string_view expected_name, RType expected_type) {
  // RFC 5452 §9.1: accept only a response with our ID and our question; check the cheap header
  // fields before decoding anything.
  if (m.size() < header_size) return make_error_code(dns_error::short_message);
  const Header h = read_header(m);
  if (h.id != expected_id) return make_error_code(dns_error::id_mismatch);
  if (!(h.flags & flag_qr) || (h.flags & opcode_mask) != 0) return make_error_code(dns_error::not_response);
  if (h.qd != 1) return make_error_code(dns_error::question_mismatch);
  Question q;
  std::size_t p = header_size;
  if (const auto e = read_question(m, p, q); e != dns_error{}) return make_error_code(e);
  if (!name_equals(q.name, expected_name) || q.type != static_cast<std::uint16_t>(expected_type) ||
      q.klass != class_in)
    return make_error_code(dns_error::question_mismatch);

  Response r;
  r.id = h.id;
  r.rcode = static_cast<Rcode>(h.flags & rcode_mask);
  r.authoritative = (h.flags & flag_aa) != 0;
  r.truncated = (h.flags & flag_tc) != 0;
  // RFC 2181 §9: a truncated answer is to be repeated over TCP, not used; its record sections
  // may be cut anywhere, so they are not even read.
  if (r.truncated) return r;
  if (std::size_t{h.an} + h.ns + h.ar > max_records) return make_error_code(dns_error::too_many_records);

  std::string owner;
  const std::pair<Section, std::uint16_t> sections[] = {
      {Section::answer, h.an}, {Section::authority, h.ns}, {Section::additional, h.ar}};
  for (const auto& [section, count] : sections) {
    for (std::uint16_t i = 0; i < count; ++i) {
      // RFC 1035 §4.1.3: NAME, TYPE, CLASS, TTL, RDLENGTH, RDATA.
      std::size_t end = 0;
      if (const auto e = decode_name(m, p, owner, end); e != dns_error{}) return make_error_code(e);
      if (end + 10 > m.size()) return make_error_code(dns_error::short_message);
      const std::uint16_t type = be16(m, end);
      const std::uint16_t klass = be16(m, end + 2);
      const std::uint32_t ttl = read_ttl(m, end + 4);
      const std::size_t rdlen = be16(m, end + 8);
      const std::size_t rdata = end + 10;
      if (rdata + rdlen > m.size()) return make_error_code(dns_error::short_message);
      p = rdata + rdlen;
      if (klass != class_in) continue;
      Rdata data;
      bool keep = false;
      if (const auto e = read_rdata(m, rdata, rdlen, type, section, data, keep); e != dns_error{})
        return make_error_code(e);
      if (!keep) continue;
      if (section == Section::authority) {
        // RFC 2308 §5: the negative TTL is the smaller of the SOA's own TTL and its MINIMUM.
        if (!r.negative_ttl) r.negative_ttl = std::min(ttl, std::get<Soa>(data).minimum);
        continue;
      }
      Record rec{owner, static_cast<RType>(type), ttl, section, std::move(data)};
      (section == Section::answer ? r.answers : r.additional).push_back(std::move(rec));
    }
  }
  return r;
}

std::vector<Srv> order_srv(std::vector<Srv> records, const UniformRandom& random) {
  // RFC 2782 "Usage rules": order by priority, lowest first; within a priority, repeatedly pick
  // a record at random with probability proportional to its weight, after placing weight-0
  // records at the start so that a draw of 0 can select them.
  std::stable_sort(records.begin(), records.end(),
                   [](const Srv& a, const Srv& b) { return a.priority < b.priority; });
  std::vector<Srv> out;
  out.reserve(records.size());
  auto group = records.begin();
  while (group != records.end()) {
    const auto group_end =
        std::find_if(group, records.end(), [&](const Srv& s) { return s.priority != group->priority; });
    std::vector<Srv> left(std::make_move_iterator(group), std::make_move_iterator(group_end));
    std::stable_partition(left.begin(), left.end(), [](const Srv& s) { return s.weight == 0; });
    while (!left.empty()) {
      std::uint64_t sum = 0;
      for (const Srv& s : left) sum += s.weight;
      // A parsed message holds at most 512 records (512 × 65535 < 2^32); clamp for other callers.
      const auto upper = static_cast<std::uint32_t>(std::min<std::uint64_t>(sum, UINT32_MAX));
      const std::uint64_t draw = random ? std::min(random(upper), upper) : 0;
      std::uint64_t running = 0;
      std::size_t pick = left.size() - 1;
      for (std::size_t i = 0; i < left.size(); ++i) {
        running += left[i].weight;
        if (running >= draw) {
          pick = i;
          break;
        }
      }
      out.push_back(std::move(left[pick]));
      left.erase(left.begin() + static_cast<std::ptrdiff_t>(pick));
    }
    group = group_end;
  }
  return out;
}

} // namespace sb::sip::dns
