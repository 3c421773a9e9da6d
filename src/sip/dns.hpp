// DNS messages, RFC 1035 §4 (wire format), sans-I/O: the queries and answers the RFC 3263
// resolver (sip/resolver.hpp) needs, and nothing else.
//
// Building
//   `build_query` writes one standard query (RFC 1035 §4.1.1: QR=0, OPCODE=0, RD=1, one question,
//   class IN) after validating the name: labels of 1–63 octets (§2.3.4), at most 253 characters
//   without the trailing dot (255 octets on the wire), printable ASCII without '\\'. No EDNS(0):
//   answers above 512 octets come back with TC=1 and the resolver repeats the query over TCP
//   (RFC 1035 §4.2.2, RFC 7766 §5).
//
// Parsing
//   `parse_response` checks that a datagram answers *our* query (ID, QR, one question with the same
//   name, type and class; RFC 5452 §9.1) before it trusts anything else, then decodes the records
//   of the types SIP server location uses: A, AAAA, CNAME, SRV (RFC 2782), NAPTR (RFC 3403) from the
//   answer section, the same from the additional section (servers put the A/AAAA of SRV targets
//   there, RFC 2782 "Usage rules"), and the SOA of the authority section for the negative-caching
//   TTL (RFC 2308 §5). Other types and classes are skipped after their lengths are checked.
//
//   Every length is checked against the message before it is read. Compression pointers
//   (RFC 1035 §4.1.4) are followed only backwards, each one strictly before the start of the label
//   run that led to it, so a chain always ends; the number of jumps is bounded too. A decoded name
//   is limited to 255 octets (RFC 1035 §2.3.4).
//
//   Names come back in presentation form without the trailing dot, with '.', '\\', and octets
//   outside printable ASCII written as \DDD (RFC 1035 §5.1). Names are copied into std::string
//   because compression makes them non-contiguous in the message; the packet path allocates those
//   strings and the record vectors, nothing else, and never throws on any input.
//
// SRV ordering
//   `order_srv` implements the RFC 2782 selection algorithm with an injectable random source, so
//   tests can check the weighting statistically with a seeded generator.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace sb::sip::dns {

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a message was not built or not accepted (category "sb.sip.dns").
enum class dns_error {
  invalid_name = 1,  ///< build_query: empty label, label over 63, name over 253, bad character
  short_message,     ///< the message ends before a header, name, record or RDATA it announces
  bad_label,         ///< reserved label type (0x40/0x80, RFC 6891 §5), or a name over 255 octets
  bad_pointer,       ///< compression pointer not strictly backwards, or too many jumps
  bad_rdata,         ///< RDATA length disagrees with what the record type holds
  not_response,      ///< QR=0, or an OPCODE other than QUERY
  id_mismatch,       ///< the ID is not the one of our query (RFC 5452 §9.1)
  question_mismatch, ///< not exactly one question, or another name/type/class than ours
  too_many_records,  ///< more records than `max_records`
};

const boost::system::error_category& dns_category() noexcept;
boost::system::error_code make_error_code(dns_error e) noexcept;

// ---------------------------------------------------------------------------------------------
// Constants (RFC 1035 §2.3.4, §4.1.1, §4.2.1)

inline constexpr std::size_t max_label = 63;        ///< octets per label
inline constexpr std::size_t max_name_text = 253;   ///< characters without the trailing dot
inline constexpr std::size_t max_name_wire = 255;   ///< octets on the wire, root label included
inline constexpr std::size_t max_udp_message = 512; ///< without EDNS(0), RFC 1035 §4.2.1
inline constexpr std::size_t header_size = 12;
/// Records parsed per message, all sections together. A 64 KiB TCP answer could hold ~6000 tiny
/// records; no SIP domain needs a fraction of this, and the bound caps the work per message.
inline constexpr std::size_t max_records = 512;
/// Compression pointers followed per name. Pointers must go strictly backwards, which already
/// ends every chain; this bounds the work on a hostile message to a constant.
inline constexpr int max_pointer_jumps = 64;

/// Resource record types this layer decodes (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 3403).
enum class RType : std::uint16_t {
  a = 1,
  cname = 5,
  soa = 6,
  aaaa = 28,
  srv = 33,
  naptr = 35,
};

/// "A", "AAAA", "SRV", …, or "TYPE<n>" (RFC 3597 §5).
std::string to_string(RType t);

/// RCODE values, RFC 1035 §4.1.1.
enum class Rcode : std::uint8_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5,
};

// ---------------------------------------------------------------------------------------------
// Records

struct A {
  std::array<std::uint8_t, 4> bytes{}; ///< network order
};
struct Aaaa {
  std::array<std::uint8_t, 16> bytes{}; ///< network order (RFC 3596 §2.2)
};
struct Cname {
  std::string target;
};
/// RFC 2782. A target of "" is the root ("."): the service is decidedly not available.
struct Srv {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;
  bool operator==(const Srv&) const = default;
};
/// RFC 3403 §4.1. Character-strings are kept as received (no escaping); replacement "" is ".".
struct Naptr {
  std::uint16_t order = 0;
  std::uint16_t preference = 0;
  std::string flags;
  std::string services;
  std::string regexp;
  std::string replacement;
};
/// Only what negative caching needs (RFC 2308 §5): the TTL of the SOA record itself and MINIMUM.
struct Soa {
  std::uint32_t minimum = 0;
};

using Rdata = std::variant<A, Aaaa, Cname, Srv, Naptr, Soa>;

enum class Section : std::uint8_t { answer, authority, additional };

struct Record {
  std::string name; ///< owner, presentation form, no trailing dot, case as received
  RType type = RType::a;
  std::uint32_t ttl = 0; ///< seconds; values with the top bit set read as 0 (RFC 2181 §8)
  Section section = Section::answer;
  Rdata data;
};

/// A response accepted as the answer to one query.
struct Response {
  std::uint16_t id = 0;
  Rcode rcode = Rcode::noerror;   ///< raw values above 5 are kept as they are
  bool truncated = false;         ///< TC: records were dropped; repeat over TCP (RFC 2181 §9)
  bool authoritative = false;     ///< AA
  std::vector<Record> answers;    ///< answer section, known types only
  std::vector<Record> additional; ///< additional section, known types only
  /// RFC 2308 §5: min(SOA TTL, SOA MINIMUM) when the authority section carries an SOA.
  std::optional<std::uint32_t> negative_ttl;
};

// ---------------------------------------------------------------------------------------------
// Names

/// True if `name` can be queried: see build_query. A single trailing dot is allowed.
bool valid_name(std::string_view name) noexcept;

/// ASCII case-insensitive name comparison (RFC 4343 §3), ignoring one trailing dot on either side.
bool name_equals(std::string_view a, std::string_view b) noexcept;

// ---------------------------------------------------------------------------------------------
// Messages

/// A standard recursive query for (name, type, IN), RFC 1035 §4.1. Errors: invalid_name.
boost::system::result<std::string> build_query(std::uint16_t id, std::string_view name, RType type);

/// Accepts `message` only as the answer to the query (expected_id, expected_name, expected_type):
/// not_response, id_mismatch and question_mismatch mean "someone else's datagram" and a resolver
/// keeps waiting (RFC 5452 §9.1); the other errors mean a malformed message. With TC=1 only the
/// header and question are checked and no records are returned (RFC 2181 §9).
boost::system::result<Response> parse_response(std::span<const std::uint8_t> message,
                                               std::uint16_t expected_id, std::string_view expected_name,
                                               RType expected_type);

/// What the header and question of any message say, without matching them to a query: for
/// fuzzing, logging, and tests that inspect the queries build_query writes.
struct Question {
  std::uint16_t id = 0;
  std::uint16_t flags = 0; ///< the raw second header word
  std::string name;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
};
boost::system::result<Question> parse_question(std::span<const std::uint8_t> message);

// ---------------------------------------------------------------------------------------------
// SRV selection, RFC 2782 "Usage rules"

/// A uniform random integer in [0, upper], both ends included (RFC 2782: "a random number between
/// 0 and the sum").
using UniformRandom = std::function<std::uint32_t(std::uint32_t upper)>;

/// Orders SRV records for trying: ascending priority; within one priority, repeated weighted
/// random selection, with weight-0 records placed first in each draw so that they are chosen only
/// when the draw is 0 (a small chance, RFC 2782). Records stay in their given relative order
/// otherwise, so an all-zero-weight group keeps the server's order.
std::vector<Srv> order_srv(std::vector<Srv> records, const UniformRandom& random);

} // namespace sb::sip::dns

namespace boost::system {
template <>
struct is_error_code_enum<sb::sip::dns::dns_error> : std::true_type {};
} // namespace boost::system
