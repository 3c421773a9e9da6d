// Locating SIP servers, RFC 3263 §4: NAPTR → SRV → A/AAAA over the DNS wire format of sip/dns.hpp,
// asynchronous on the caller's executor.
//
// Ownership and threading
//   Each shard owns one Resolver and calls it from that shard's io_context only: no locks, no
//   blocking calls, no getaddrinfo. Queries, the cache and the in-flight table belong to the
//   Resolver. `resolve` is a member coroutine: the Resolver must outlive every resolve it started.
//   Structured shutdown: call stop(), which makes every pending resolve complete promptly with
//   resolve_error::stopped, let them finish (`pending()` reaches 0), then destroy the Resolver.
//
// Queries (RFC 1035 §4.2, RFC 5452)
//   Over UDP from a fresh socket per query, so each query gets a new ephemeral source port, which
//   Linux picks at random (RFC 6056 §3.3.1), and a CSPRNG 16-bit ID (RFC 5452 §9.2). The socket
//   is connected to the server, so only its datagrams arrive; a datagram is accepted only when its
//   ID and question match (others are ignored and counted, and the wait goes on until the deadline).
//   Each try has `timeout`; tries go round the servers, `attempts` times over, so a query takes at
//   most attempts × servers × timeout. An answer with TC=1 is asked again over TCP to the same
//   server with 2-octet length framing (RFC 1035 §4.2.2, RFC 7766). SERVFAIL, REFUSED, NOTIMP,
//   FORMERR and malformed answers move on to the next server.
//
// Cache
//   Per (name, type), for the smallest TTL of the records used (capped by max_ttl; TTL 0 is not
//   cached, RFC 1035 §3.2.1); NXDOMAIN and NODATA for the SOA's negative TTL when there is one,
//   capped by negative_ttl, else negative_ttl (the RFC 2308 idea). At most cache_limit entries;
//   the oldest inserted goes first. Concurrent lookups of the same (name, type) share one query.
//
// Failover is the caller's job: `resolve` returns every target in the order RFC 3263 §4.3 wants
// them tried; the SIP layer moves to the next on a transport error or a 503 (RFC 3263 §4.3).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "sip/dns.hpp"
#include "sip/uri.hpp" // Transport: the resolver handles udp, tcp and tls

namespace sb::sip {

/// Why `resolve` found nothing to try (category "sb.sip.resolver").
enum class resolve_error {
  invalid_host = 1,      ///< empty host, or not a valid DNS name / IP literal
  unsupported_transport, ///< not udp/tcp/tls, or UDP for a sips: URI (RFC 3261 §26.2.2)
  not_found,             ///< the names exist, but no NAPTR/SRV/A/AAAA gave an address
  nxdomain,              ///< the domain does not exist (RCODE 3)
  timeout,               ///< no server answered a query within attempts × servers × timeout
  server_failure,        ///< servers answered SERVFAIL/REFUSED/NOTIMP/FORMERR or garbage
  stopped,               ///< stop() was called
};

const boost::system::error_category& resolver_category() noexcept;
boost::system::error_code make_error_code(resolve_error e) noexcept;

/// One place to send a request to, in try order.
struct Target {
  boost::asio::ip::address address;
  std::uint16_t port = 0;
  Transport transport = Transport::udp; ///< udp, tcp or tls
  /// The URI's host (brackets removed): the name to present in SNI and to verify the server
  /// certificate against, RFC 5922 §4 (the URI's domain, not the SRV target).
  std::string host;
  bool operator==(const Target&) const = default;
};

struct ResolverOptions {
  /// Recursive servers, tried in order. Empty: the `nameserver` lines of /etc/resolv.conf, else
  /// 127.0.0.1:53. Any port is allowed.
  std::vector<boost::asio::ip::udp::endpoint> servers;
  std::chrono::milliseconds timeout{1000}; ///< per try
  int attempts = 2;                        ///< rounds over `servers`
  std::size_t cache_limit = 4096;          ///< cached (name, type) answers; oldest evicted
  std::chrono::seconds max_ttl{3600};      ///< cap on positive caching
  std::chrono::seconds negative_ttl{30};   ///< NXDOMAIN/NODATA caching (cap, or value without SOA)
  /// Among A and AAAA addresses of one host, IPv6 first. Off by default: a dead IPv6 path costs
  /// a whole transaction timeout before failover.
  bool prefer_ipv6 = false;
  /// RFC 2782 weighted selection draws: uniform in [0, upper]. Empty: a per-Resolver mt19937
  /// seeded from std::random_device. Query IDs never use this (they come from the CSPRNG).
  dns::UniformRandom srv_random;
  /// Cache clock. Empty: std::chrono::steady_clock::now. Tests step it to expire entries.
  std::function<std::chrono::steady_clock::time_point()> now;
};

/// `nameserver` lines of a resolv.conf text (at most 3, like glibc's MAXNS), port 53.
std::vector<boost::asio::ip::udp::endpoint> parse_resolv_conf(std::string_view text);

/// Counters, for logs, metrics and tests.
struct ResolverStats {
  std::uint64_t resolves = 0;          ///< resolve() calls
  std::uint64_t queries = 0;           ///< (name, type) lookups that went to the network
  std::uint64_t udp_sent = 0;          ///< UDP datagrams sent (tries included)
  std::uint64_t tcp_queries = 0;       ///< TC=1 answers repeated over TCP
  std::uint64_t timeouts = 0;          ///< tries that hit their deadline
  std::uint64_t ignored_responses = 0; ///< datagrams with a wrong ID/question, or malformed
  std::uint64_t server_failures = 0;   ///< SERVFAIL/REFUSED/… answers and socket errors
  std::uint64_t cache_hits = 0;
  std::uint64_t coalesced = 0; ///< lookups that waited for an identical one in flight
  std::uint64_t evictions = 0;
};

class Resolver {
 public:
  using Result = boost::system::result<std::vector<Target>>;

  Resolver(boost::asio::any_io_executor ex, ResolverOptions options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// The ordered targets for a SIP URI's host part, RFC 3263 §4.1–4.2:
  /// - numeric host (IPv4, IPv6 with or without brackets): that address; port as given, else 5060
  ///   (5061 for TLS); transport as given, else UDP (TLS for sips);
  /// - explicit port: A/AAAA only; transport as given, else UDP (TLS for sips);
  /// - explicit transport: SRV for it (_sip._udp, _sip._tcp, _sips._tcp), then A/AAAA with the
  ///   transport's default port;
  /// - otherwise NAPTR (SIP+D2U, SIP+D2T, SIPS+D2T; only SIPS+D2T for sips), ordered by order then
  ///   preference, each followed by its SRV; without usable NAPTR, SRV for _sip._udp, _sip._tcp,
  ///   _sips._tcp (sips: _sips._tcp only); without SRV, A/AAAA on 5060/UDP (5061/TLS for sips).
  /// SRV targets are ordered by RFC 2782. Duplicate (address, port, transport) entries are dropped.
  boost::asio::awaitable<Result> resolve(std::string host, std::optional<std::uint16_t> port,
                                         std::optional<Transport> transport, bool sips);

  /// Completes every pending resolve with resolve_error::stopped and refuses new ones.
  void stop();

  const ResolverStats& stats() const noexcept { return stats_; }
  const ResolverOptions& options() const noexcept { return options_; }
  std::size_t cache_size() const noexcept { return cache_.size(); }
  /// resolve() coroutines currently running (the owner waits for 0 after stop()).
  std::size_t pending() const noexcept { return pending_; }

  /// The cached answer for one (name, type) lookup: the records of the answer section and of the
  /// additional section, and the RCODE. Exposed for tests and diagnostics.
  struct Answer {
    dns::Rcode rcode = dns::Rcode::noerror;
    std::vector<dns::Record> records;
  };
  using AnswerPtr = std::shared_ptr<const Answer>;

 private:
  struct CacheEntry {
    AnswerPtr answer;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator order; ///< position in insertion_order_
  };
  struct Inflight; // a lookup others wait for (coalescing)
  class Deadline;  // a timer registered for stop()
  /// Records of one type for a name, after following CNAMEs (RFC 1034 §3.6.2).
  struct Found {
    dns::Rcode rcode = dns::Rcode::noerror;
    std::vector<dns::Record> records; ///< of the asked type, owned by the canonical name
    AnswerPtr answer;                 ///< the last answer, whose additional section may help
  };
  /// The targets of one SRV name, and whether the name had SRV records at all.
  struct SrvOutcome {
    bool had_records = false;
    std::vector<Target> targets;
  };

  using LookupResult = boost::system::result<AnswerPtr>;
  using Addresses = std::vector<boost::asio::ip::address>;

  boost::asio::awaitable<Result> resolve_name(std::string host, std::optional<std::uint16_t> port,
                                              std::optional<Transport> transport, bool sips);
  /// The host's own A/AAAA records at `port` (RFC 3263 §4.2).
  boost::asio::awaitable<Result> host_targets(std::string name, std::uint16_t port, Transport transport);
  boost::asio::awaitable<boost::system::result<SrvOutcome>> srv_targets(std::string service,
                                                                        Transport transport,
                                                                        std::string uri_host, AnswerPtr hint);
  boost::asio::awaitable<boost::system::result<Addresses>> addresses(std::string name, AnswerPtr hint);
  boost::asio::awaitable<boost::system::result<Found>> lookup_chain(std::string name, dns::RType type);
  boost::asio::awaitable<LookupResult> lookup(std::string name, dns::RType type);
  boost::asio::awaitable<boost::system::result<dns::Response>> query(std::string name, dns::RType type);
  boost::asio::awaitable<boost::system::result<dns::Response>> query_udp(
      boost::asio::ip::udp::endpoint server, std::string name, dns::RType type);
  boost::asio::awaitable<boost::system::result<dns::Response>> query_tcp(
      boost::asio::ip::udp::endpoint server, std::string name, dns::RType type);

  std::chrono::steady_clock::time_point now() const;
  AnswerPtr cache_find(const std::string& key);
  void cache_store(const std::string& key, AnswerPtr answer, std::chrono::seconds ttl);
  std::uint32_t srv_draw(std::uint32_t upper);
  std::uint16_t random_id();

  boost::asio::any_io_executor ex_;
  ResolverOptions options_;
  ResolverStats stats_;
  bool stopped_ = false;
  std::size_t pending_ = 0;
  std::mt19937 rng_; ///< default srv_random, seeded from std::random_device
  /// Cache: key "type/lower-case name" → entry; insertion_order_ oldest first, for eviction.
  std::unordered_map<std::string, CacheEntry> cache_;
  std::list<std::string> insertion_order_;
  /// Lookups on the wire, by cache key; followers wait on the entry's timer.
  std::unordered_map<std::string, std::shared_ptr<Inflight>> inflight_;
  /// Every deadline timer of a query in progress; stop() cancels them.
  std::unordered_set<boost::asio::steady_timer*> deadlines_;
};

} // namespace sb::sip

namespace boost::system {
template <>
struct is_error_code_enum<sb::sip::resolve_error> : std::true_type {};
} // namespace boost::system
