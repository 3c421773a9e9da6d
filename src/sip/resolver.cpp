#include "sip/resolver.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "base/crypto.hpp"
#include "base/log.hpp"
#include "base/text.hpp"

// GCC 12 at -O1 and above reports -Wmismatched-new-delete on Asio 1.81's recycled awaitable frames
// (aligned_alloc paired with the frame's operator delete, which does free()): a known false
// positive (as in src/http/webhook.cpp), silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace sb::sip {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view log_component = "sip.dns";

/// CNAME links followed for one lookup (RFC 1034 §3.6.2 asks resolvers to bound chains).
constexpr int max_cname_chain = 8;
/// UDP receive buffer. Without EDNS(0) a server sends at most 512 octets (RFC 1035 §4.2.1); a
/// larger datagram is someone else's and fails to parse.
constexpr std::size_t udp_buffer_size = 4096;

class ResolverCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sb.sip.resolver"; }
  std::string message(int ev) const override {
    switch (static_cast<resolve_error>(ev)) {
      case resolve_error::invalid_host: return "host is not a valid DNS name or IP address";
      case resolve_error::unsupported_transport: return "transport not supported for this URI";
      case resolve_error::not_found: return "no SIP server address found";
      case resolve_error::nxdomain: return "domain does not exist";
      case resolve_error::timeout: return "DNS servers did not answer in time";
      case resolve_error::server_failure: return "DNS servers failed to answer";
      case resolve_error::stopped: return "resolver stopped";
    }
    return "unknown resolver error";
  }
};

bool is_fatal(const error_code& ec) {
  // A query that exhausted every server and attempt, or a stop, ends the whole resolve: trying
  // further names would only multiply the wait (each query is bounded on its own).
  return ec == resolve_error::timeout || ec == resolve_error::stopped;
}

std::uint16_t default_port(Transport t) { return t == Transport::tls ? 5061 : 5060; }

/// RFC 3263 §4.1/§4.2 SRV service labels; TLS uses "_sips._tcp" for sip: URIs too.
std::string_view srv_prefix(Transport t) {
  switch (t) {
    case Transport::udp: return "_sip._udp.";
    case Transport::tcp: return "_sip._tcp.";
    default: return "_sips._tcp.";
  }
}

std::string lower_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

std::string cache_key(std::string_view name, dns::RType type) {
  return dns::to_string(type) + '/' + lower_name(name);
}

/// RFC 3263 §4.1: the NAPTR services a SIP client understands, and their transports.
std::optional<Transport> naptr_transport(std::string_view services, bool sips) {
  if (ascii_iequals(services, "SIPS+D2T")) return Transport::tls;
  if (sips) return std::nullopt; // a sips: URI may only use TLS
  if (ascii_iequals(services, "SIP+D2U")) return Transport::udp;
  if (ascii_iequals(services, "SIP+D2T")) return Transport::tcp;
  return std::nullopt; // SCTP, WS, E2U, … are not ours
}

asio::ip::address to_address(const dns::Rdata& d) {
  if (const auto* a = std::get_if<dns::A>(&d)) return asio::ip::address_v4(a->bytes);
  return asio::ip::address_v6(std::get<dns::Aaaa>(d).bytes);
}

void append_unique(std::vector<Target>& out, std::vector<Target> more) {
  for (auto& t : more)
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
}

std::string describe(const std::vector<Target>& ts) {
  std::string s;
  for (const auto& t : ts) {
    if (!s.empty()) s += ' ';
    s += t.address.to_string() + ':' + std::to_string(t.port) + '/' + std::string(to_string(t.transport));
  }
  return s;
}

} // namespace

// ---------------------------------------------------------------------------------------------

const boost::system::error_category& resolver_category() noexcept {
  static const ResolverCategory category;
  return category;
}

boost::system::error_code make_error_code(resolve_error e) noexcept {
  return {static_cast<int>(e), resolver_category()};
}

std::vector<asio::ip::udp::endpoint> parse_resolv_conf(std::string_view text) {
  std::vector<asio::ip::udp::endpoint> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line) && out.size() < 3) { // glibc MAXNS
    std::istringstream words(line);
    std::string keyword, address;
    if (!(words >> keyword >> address) || keyword != "nameserver") continue;
    error_code ec;
    const auto a = asio::ip::make_address(address, ec);
    if (!ec) out.emplace_back(a, 53);
  }
  return out;
}

/// One lookup on the wire that identical lookups wait for: they sleep on `done` (expiring never)
/// and the leader cancels it once `outcome` is set. stop() cancels it with no outcome.
struct Resolver::Inflight {
  explicit Inflight(const asio::any_io_executor& ex) : done(ex, Clock::time_point::max()) {}
  asio::steady_timer done;
  std::optional<LookupResult> outcome;
};

/// The deadline of one try, registered so that stop() can cut every wait short.
class Resolver::Deadline {
 public:
  explicit Deadline(Resolver& r) : timer(r.ex_), owner_(r) {
    timer.expires_after(r.options_.timeout);
    owner_.deadlines_.insert(&timer);
  }
  ~Deadline() { owner_.deadlines_.erase(&timer); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  asio::steady_timer timer;

 private:
  Resolver& owner_;
};

Resolver::Resolver(asio::any_io_executor ex, ResolverOptions options)
    : ex_(std::move(ex)), options_(std::move(options)), rng_(std::random_device{}()) {
  if (options_.servers.empty()) {
    // Setup time, not the packet path: reading the file once here is the only blocking call.
    std::ifstream f("/etc/resolv.conf");
    std::stringstream text;
    text << f.rdbuf();
    options_.servers = parse_resolv_conf(text.str());
  }
  if (options_.servers.empty()) options_.servers.emplace_back(asio::ip::make_address_v4("127.0.0.1"), 53);
  options_.attempts = std::max(options_.attempts, 1);
  if (options_.timeout <= std::chrono::milliseconds::zero())
    options_.timeout = std::chrono::milliseconds(1000);
}

Resolver::~Resolver() {
  if (pending_ != 0)
    sb::log::error(log_component, "resolver destroyed with {} resolve(s) pending; call stop() and wait",
                   pending_);
}

void Resolver::stop() {
  stopped_ = true;
  for (auto* t : deadlines_) t->cancel();
  for (auto& [key, f] : inflight_) f->done.cancel();
}

Clock::time_point Resolver::now() const { return options_.now ? options_.now() : Clock::now(); }

std::uint32_t Resolver::srv_draw(std::uint32_t upper) {
  if (options_.srv_random) return options_.srv_random(upper);
  return std::uniform_int_distribution<std::uint32_t>(0, upper)(rng_);
}

std::uint16_t Resolver::random_id() {
  // RFC 5452 §9.2: the ID must be unpredictable; it comes from the CSPRNG, not from rng_.
  const std::string b = sb::random_bytes(2);
  return static_cast<std::uint16_t>((static_cast<unsigned char>(b[0]) << 8) |
                                    static_cast<unsigned char>(b[1]));
}

// ---------------------------------------------------------------------------------------------
// Cache

Resolver::AnswerPtr Resolver::cache_find(const std::string& key) {
  const auto it = cache_.find(key);
  if (it == cache_.end()) return nullptr;
  if (now() >= it->second.expires) {
    insertion_order_.erase(it->second.order);
    cache_.erase(it);
    return nullptr;
  }
  return it->second.answer;
}

void Resolver::cache_store(const std::string& key, AnswerPtr answer, std::chrono::seconds ttl) {
  // TTL 0: use once, never cache (RFC 1035 §3.2.1).
  if (options_.cache_limit == 0 || ttl <= std::chrono::seconds::zero()) return;
  if (const auto it = cache_.find(key); it != cache_.end()) {
    insertion_order_.erase(it->second.order);
    cache_.erase(it);
  }
  while (cache_.size() >= options_.cache_limit && !insertion_order_.empty()) {
    cache_.erase(insertion_order_.front());
    insertion_order_.pop_front();
    ++stats_.evictions;
  }
  insertion_order_.push_back(key);
  cache_.emplace(key, CacheEntry{std::move(answer), now() + ttl, std::prev(insertion_order_.end())});
}

// ---------------------------------------------------------------------------------------------
// RFC 3263 §4

asio::awaitable<Resolver::Result> Resolver::resolve(std::string host, std::optional<std::uint16_t> port,
                                                    std::optional<Transport> transport, bool sips) {
  ++stats_.resolves;
  ++pending_;
  struct PendingGuard {
    std::size_t& n;
    ~PendingGuard() { --n; }
  } guard{pending_};

  if (stopped_) co_return make_error_code(resolve_error::stopped);
  if (transport) {
    // RFC 3261 §19.1.1/§26.2.2: transport=tcp on a sips: URI means TLS; UDP cannot be secured.
    if (sips && *transport == Transport::tcp) transport = Transport::tls;
    if (*transport != Transport::udp && *transport != Transport::tcp && *transport != Transport::tls)
      co_return make_error_code(resolve_error::unsupported_transport);
    if (sips && *transport == Transport::udp) co_return make_error_code(resolve_error::unsupported_transport);
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) co_return make_error_code(resolve_error::invalid_host);

  // RFC 3263 §4.1/§4.2: a numeric host is used as it is, with the transport's default port.
  error_code ec;
  const auto numeric = asio::ip::make_address(host, ec);
  if (!ec) {
    const Transport t = transport.value_or(sips ? Transport::tls : Transport::udp);
    co_return std::vector<Target>{Target{numeric, port.value_or(default_port(t)), t, host}};
  }
  if (!dns::valid_name(host)) co_return make_error_code(resolve_error::invalid_host);
  if (host.back() == '.') host.pop_back();

  const auto started = Clock::now();
  auto r = co_await resolve_name(host, port, transport, sips);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  if (r)
    sb::log::debug(log_component, "resolved {} in {} ms: {}", host, ms, describe(*r));
  else
    sb::log::info(log_component, "resolving {} failed after {} ms: {}", host, ms, r.error().message());
  co_return r;
}

asio::awaitable<Resolver::Result> Resolver::resolve_name(std::string host, std::optional<std::uint16_t> port,
                                                         std::optional<Transport> transport, bool sips) {
  const Transport fallback = sips ? Transport::tls : Transport::udp;
  std::vector<Target> out;
  error_code soft; // a server failure seen on the way, reported if nothing is found

  if (port) {
    // RFC 3263 §4.1/§4.2: an explicit port means no NAPTR and no SRV, only A/AAAA.
    const Transport t = transport.value_or(fallback);
    auto r = co_await host_targets(host, *port, t);
    if (r && r->empty()) co_return make_error_code(resolve_error::not_found);
    co_return r;
  }

  if (transport) {
    // RFC 3263 §4.2: an explicit transport skips NAPTR; SRV for that transport only, then A/AAAA
    // with the transport's default port.
    auto s = co_await srv_targets(std::string(srv_prefix(*transport)) + host, *transport, host, nullptr);
    if (!s) {
      if (is_fatal(s.error())) co_return s.error();
      soft = s.error();
    } else if (s->had_records) {
      if (s->targets.empty()) co_return make_error_code(resolve_error::not_found);
      co_return std::move(s->targets);
    }
    auto r = co_await host_targets(host, default_port(*transport), *transport);
    if (r && r->empty()) co_return soft ? soft : make_error_code(resolve_error::not_found);
    co_return r;
  }

  // RFC 3263 §4.1: NAPTR first.
  auto naptr = co_await lookup_chain(host, dns::RType::naptr);
  if (!naptr) {
    if (is_fatal(naptr.error())) co_return naptr.error();
    soft = naptr.error();
  } else if (naptr->rcode == dns::Rcode::nxdomain) {
    // NXDOMAIN says no name exists at or below `host` (RFC 8020 §2): no SRV, no A to ask for.
    co_return make_error_code(resolve_error::nxdomain);
  } else {
    struct Usable {
      dns::Naptr record;
      Transport transport;
    };
    std::vector<Usable> usable;
    for (const auto& rec : naptr->records) {
      const auto& n = std::get<dns::Naptr>(rec.data);
      // RFC 3263 §4.1: SIP uses terminal "S" records whose replacement is an SRV name; records
      // for services we do not speak are discarded.
      if (!ascii_iequals(n.flags, "s") || n.replacement.empty()) continue;
      if (const auto t = naptr_transport(n.services, sips)) usable.push_back({n, *t});
    }
    // RFC 3403 §4.1 / RFC 3263 §4.1: lowest order first, then lowest preference.
    std::stable_sort(usable.begin(), usable.end(), [](const Usable& a, const Usable& b) {
      return a.record.order != b.record.order ? a.record.order < b.record.order
                                              : a.record.preference < b.record.preference;
    });
    if (!usable.empty()) {
      for (const auto& u : usable) {
        // The NAPTR answer's additional section may already hold the SRV records (RFC 3403 §4.1).
        auto s = co_await srv_targets(u.record.replacement, u.transport, host, naptr->answer);
        if (!s) {
          if (is_fatal(s.error())) co_return s.error();
          soft = s.error();
          continue;
        }
        append_unique(out, std::move(s->targets));
      }
      if (out.empty()) co_return soft ? soft : make_error_code(resolve_error::not_found);
      co_return out;
    }
  }

  // RFC 3263 §4.1: no usable NAPTR: SRV for each transport the client supports, in preference
  // order (UDP, TCP, TLS; a sips: URI only TLS).
  bool any_srv = false;
  const std::vector<Transport> order =
      sips ? std::vector<Transport>{Transport::tls}
           : std::vector<Transport>{Transport::udp, Transport::tcp, Transport::tls};
  for (const Transport t : order) {
    auto s = co_await srv_targets(std::string(srv_prefix(t)) + host, t, host, nullptr);
    if (!s) {
      if (is_fatal(s.error())) co_return s.error();
      soft = s.error();
      continue;
    }
    any_srv = any_srv || s->had_records;
    append_unique(out, std::move(s->targets));
  }
  if (any_srv) {
    if (out.empty()) co_return soft ? soft : make_error_code(resolve_error::not_found);
    co_return out;
  }

  // RFC 3263 §4.2: no SRV either: the host's A/AAAA records, default port, UDP (TLS for sips).
  auto r = co_await host_targets(host, default_port(fallback), fallback);
  if (r && r->empty()) co_return soft ? soft : make_error_code(resolve_error::not_found);
  co_return r;
}

asio::awaitable<Resolver::Result> Resolver::host_targets(std::string name, std::uint16_t port,
                                                         Transport transport) {
  auto a = co_await addresses(name, nullptr);
  if (!a) co_return a.error();
  std::vector<Target> out;
  for (const auto& addr : *a) out.push_back(Target{addr, port, transport, name});
  co_return out;
}

asio::awaitable<boost::system::result<Resolver::SrvOutcome>> Resolver::srv_targets(std::string service,
                                                                                   Transport transport,
                                                                                   std::string uri_host,
                                                                                   AnswerPtr hint) {
  SrvOutcome out;
  if (!dns::valid_name(service)) co_return out; // a long host plus "_sips._tcp." may not fit
  std::vector<dns::Srv> srvs;
  AnswerPtr from = hint;
  if (hint) {
    for (const auto& rec : hint->records)
      if (rec.section == dns::Section::additional && rec.type == dns::RType::srv &&
          dns::name_equals(rec.name, service))
        srvs.push_back(std::get<dns::Srv>(rec.data));
  }
  if (srvs.empty()) {
    auto found = co_await lookup_chain(service, dns::RType::srv);
    if (!found) co_return found.error();
    for (const auto& rec : found->records) srvs.push_back(std::get<dns::Srv>(rec.data));
    from = found->answer;
  }
  out.had_records = !srvs.empty();
  // RFC 2782: a single record with target "." means the service is decidedly not available.
  if (srvs.size() == 1 && srvs.front().target.empty()) co_return out;

  const auto ordered =
      dns::order_srv(std::move(srvs), [this](std::uint32_t upper) { return srv_draw(upper); });
  for (const auto& s : ordered) {
    if (s.target.empty() || s.port == 0) continue;
    auto a = co_await addresses(s.target, from);
    if (!a) {
      if (is_fatal(a.error())) co_return a.error();
      continue; // this target has no usable address; the others may
    }
    for (const auto& addr : *a) out.targets.push_back(Target{addr, s.port, transport, uri_host});
  }
  co_return out;
}

asio::awaitable<boost::system::result<Resolver::Addresses>> Resolver::addresses(std::string name,
                                                                                AnswerPtr hint) {
  Addresses v4, v6;
  // RFC 2782 "Usage rules": the additional section of the SRV answer may hold the targets'
  // addresses. Only records owned by the very name we need are taken from it.
  if (hint) {
    for (const auto& rec : hint->records) {
      if (rec.section != dns::Section::additional || !dns::name_equals(rec.name, name)) continue;
      if (rec.type == dns::RType::a) v4.push_back(to_address(rec.data));
      if (rec.type == dns::RType::aaaa) v6.push_back(to_address(rec.data));
    }
  }
  if (v4.empty() && v6.empty()) {
    // A and AAAA in parallel; each is bounded by its own deadlines.
    auto [a, aaaa] = co_await (lookup_chain(name, dns::RType::a) && lookup_chain(name, dns::RType::aaaa));
    if (!a && !aaaa) co_return a.error();
    if ((!a && is_fatal(a.error())) || (!aaaa && is_fatal(aaaa.error()))) {
      if (stopped_) co_return make_error_code(resolve_error::stopped);
      sb::log::warn(log_component, "{}: one address family timed out, using the other", name);
    }
    const bool nx_a = !a || a->rcode == dns::Rcode::nxdomain;
    const bool nx_aaaa = !aaaa || aaaa->rcode == dns::Rcode::nxdomain;
    if (a && aaaa && nx_a && nx_aaaa) co_return make_error_code(resolve_error::nxdomain);
    if (a)
      for (const auto& rec : a->records) v4.push_back(to_address(rec.data));
    if (aaaa)
      for (const auto& rec : aaaa->records) v6.push_back(to_address(rec.data));
  }
  Addresses out;
  auto& first = options_.prefer_ipv6 ? v6 : v4;
  auto& second = options_.prefer_ipv6 ? v4 : v6;
  out.insert(out.end(), first.begin(), first.end());
  out.insert(out.end(), second.begin(), second.end());
  co_return out;
}

asio::awaitable<boost::system::result<Resolver::Found>> Resolver::lookup_chain(std::string name,
                                                                               dns::RType type) {
  std::string current = name;
  AnswerPtr answer;
  for (int hop = 0; hop < max_cname_chain; ++hop) {
    auto r = co_await lookup(current, type);
    if (!r) co_return r.error();
    answer = *r;
    // RFC 1034 §3.6.2: follow CNAMEs inside the answer, then take the records of the asked type
    // owned by the canonical name.
    std::string owner = current;
    for (int i = 0; i < max_cname_chain; ++i) {
      const auto next =
          std::find_if(answer->records.begin(), answer->records.end(), [&](const dns::Record& rec) {
            return rec.section == dns::Section::answer && rec.type == dns::RType::cname &&
                   dns::name_equals(rec.name, owner);
          });
      if (next == answer->records.end()) break;
      owner = std::get<dns::Cname>(next->data).target;
    }
    Found f;
    f.rcode = answer->rcode;
    f.answer = answer;
    for (const auto& rec : answer->records)
      if (rec.section == dns::Section::answer && rec.type == type && dns::name_equals(rec.name, owner))
        f.records.push_back(rec);
    // The chain ends inside this answer, or the server said what it knows: done. Otherwise the
    // alias points at a name this answer holds no data for, so ask for that name.
    if (!f.records.empty() || dns::name_equals(owner, current) || answer->rcode != dns::Rcode::noerror ||
        !dns::valid_name(owner))
      co_return f;
    current = owner;
  }
  sb::log::info(log_component, "{}: CNAME chain longer than {}", name, max_cname_chain);
  Found f;
  f.answer = answer;
  co_return f;
}

asio::awaitable<Resolver::LookupResult> Resolver::lookup(std::string name, dns::RType type) {
  const std::string key = cache_key(name, type);
  for (;;) {
    if (stopped_) co_return make_error_code(resolve_error::stopped);
    if (auto hit = cache_find(key)) {
      ++stats_.cache_hits;
      co_return hit;
    }
    const auto it = inflight_.find(key);
    if (it == inflight_.end()) break;
    // The same (name, type) is on the wire already: wait for its outcome instead of asking twice.
    ++stats_.coalesced;
    const auto f = it->second;
    co_await f->done.async_wait(use_tuple);
    if (f->outcome) co_return *f->outcome;
    // No outcome: stop(), or the leader was cancelled by its own caller. Ask again (or stop).
  }

  const auto f = std::make_shared<Inflight>(ex_);
  inflight_.emplace(key, f);
  // Whatever ends this frame (a result, or an exception when the caller cancels the resolve),
  // the entry leaves the table and its followers wake up.
  struct Release {
    Resolver& self;
    const std::string& key;
    const std::shared_ptr<Inflight>& f;
    ~Release() {
      if (const auto it = self.inflight_.find(key); it != self.inflight_.end() && it->second == f)
        self.inflight_.erase(it);
      f->done.cancel();
    }
  } release{*this, key, f};
  ++stats_.queries;

  auto r = co_await query(name, type);
  if (!r) {
    f->outcome = LookupResult(r.error());
    co_return r.error();
  }
  auto answer = std::make_shared<Answer>();
  answer->rcode = r->rcode;
  answer->records = std::move(r->answers);
  answer->records.insert(answer->records.end(), std::make_move_iterator(r->additional.begin()),
                         std::make_move_iterator(r->additional.end()));
  const bool positive =
      answer->rcode == dns::Rcode::noerror &&
      std::any_of(answer->records.begin(), answer->records.end(),
                  [](const dns::Record& rec) { return rec.section == dns::Section::answer; });
  std::chrono::seconds ttl = options_.max_ttl;
  if (positive) {
    // The smallest TTL of what we keep, additional records included (they are used too).
    for (const auto& rec : answer->records) ttl = std::min(ttl, std::chrono::seconds(rec.ttl));
  } else {
    // RFC 2308 §5: NXDOMAIN/NODATA for the SOA-derived TTL, capped; without SOA, the cap.
    if (r->negative_ttl) ttl = std::min(ttl, std::chrono::seconds(*r->negative_ttl));
    ttl = std::min(ttl, options_.negative_ttl);
  }
  AnswerPtr shared = std::move(answer);
  cache_store(key, shared, ttl);
  f->outcome = LookupResult(shared);
  co_return shared;
}

// ---------------------------------------------------------------------------------------------
// The wire

asio::awaitable<boost::system::result<dns::Response>> Resolver::query(std::string name, dns::RType type) {
  // RFC 1035 §4.2.1 / RFC 1536: every server once per round, `attempts` rounds.
  bool answered = false;
  for (int attempt = 0; attempt < options_.attempts; ++attempt) {
    for (const auto& server : options_.servers) {
      if (stopped_) co_return make_error_code(resolve_error::stopped);
      auto r = co_await query_udp(server, name, type);
      if (r && r->truncated) {
        // RFC 1035 §4.2.2, RFC 7766 §5: the answer did not fit in 512 octets; ask again over TCP.
        ++stats_.tcp_queries;
        sb::log::debug(log_component, "{} {}: truncated over UDP, retrying over TCP", name,
                       dns::to_string(type));
        r = co_await query_tcp(server, name, type);
      }
      if (!r) {
        if (r.error() == resolve_error::stopped || r.error() == resolve_error::invalid_host)
          co_return r.error();
        answered = answered || r.error() == resolve_error::server_failure;
        continue;
      }
      if (r->rcode == dns::Rcode::noerror || r->rcode == dns::Rcode::nxdomain) co_return r;
      // SERVFAIL, REFUSED, NOTIMP, FORMERR…: this server cannot help; try the next one.
      ++stats_.server_failures;
      answered = true;
      sb::log::debug(log_component, "{} {}: {} answered RCODE {}", name, dns::to_string(type),
                     server.address().to_string(), static_cast<int>(r->rcode));
    }
  }
  if (!answered)
    sb::log::warn(log_component, "{} {}: no answer from {} server(s) in {} attempt(s) of {} ms", name,
                  dns::to_string(type), options_.servers.size(), options_.attempts, options_.timeout.count());
  co_return make_error_code(answered ? resolve_error::server_failure : resolve_error::timeout);
}

asio::awaitable<boost::system::result<dns::Response>> Resolver::query_udp(asio::ip::udp::endpoint server,
                                                                          std::string name, dns::RType type) {
  const std::uint16_t id = random_id();
  auto q = dns::build_query(id, name, type);
  if (!q) co_return make_error_code(resolve_error::invalid_host);

  // A fresh socket per query: a fresh random source port (RFC 5452 §9.2). Connecting it makes the
  // kernel drop datagrams from other peers and report ICMP port-unreachable as an error.
  asio::ip::udp::socket sock(ex_);
  error_code ec;
  sock.open(server.protocol(), ec);
  if (!ec) sock.connect(server, ec);
  if (ec) {
    ++stats_.server_failures;
    sb::log::debug(log_component, "udp socket to {}: {}", server.address().to_string(), ec.message());
    co_return make_error_code(resolve_error::server_failure);
  }
  Deadline deadline(*this);
  auto sent = co_await (sock.async_send(asio::buffer(*q), use_tuple) || deadline.timer.async_wait(use_tuple));
  if (stopped_) co_return make_error_code(resolve_error::stopped);
  if (sent.index() == 1) {
    ++stats_.timeouts;
    co_return make_error_code(resolve_error::timeout);
  }
  if (const auto [send_ec, n] = std::get<0>(sent); send_ec) {
    ++stats_.server_failures;
    co_return make_error_code(resolve_error::server_failure);
  }
  ++stats_.udp_sent;

  std::vector<std::uint8_t> buf(udp_buffer_size);
  for (;;) {
    auto got =
        co_await (sock.async_receive(asio::buffer(buf), use_tuple) || deadline.timer.async_wait(use_tuple));
    if (stopped_) co_return make_error_code(resolve_error::stopped);
    if (got.index() == 1) {
      ++stats_.timeouts;
      sb::log::debug(log_component, "{} {}: no answer from {}:{} in {} ms", name, dns::to_string(type),
                     server.address().to_string(), server.port(), options_.timeout.count());
      co_return make_error_code(resolve_error::timeout);
    }
    const auto [recv_ec, n] = std::get<0>(got);
    if (recv_ec) {
      // Typically ICMP port unreachable (connection_refused): nobody serves DNS there.
      ++stats_.server_failures;
      sb::log::debug(log_component, "{} {}: {}:{}: {}", name, dns::to_string(type),
                     server.address().to_string(), server.port(), recv_ec.message());
      co_return make_error_code(resolve_error::server_failure);
    }
    auto parsed = dns::parse_response(std::span<const std::uint8_t>(buf.data(), n), id, name, type);
    if (parsed) co_return parsed;
    // RFC 5452 §9.1: a datagram that does not answer our question (wrong ID, wrong question, or
    // garbage) is dropped, and the wait for the real answer goes on until the deadline.
    ++stats_.ignored_responses;
    sb::log::debug(log_component, "{} {}: ignored a datagram: {}", name, dns::to_string(type),
                   parsed.error().message());
  }
}

asio::awaitable<boost::system::result<dns::Response>> Resolver::query_tcp(asio::ip::udp::endpoint server,
                                                                          std::string name, dns::RType type) {
  const std::uint16_t id = random_id();
  auto q = dns::build_query(id, name, type);
  if (!q) co_return make_error_code(resolve_error::invalid_host);
  // RFC 1035 §4.2.2: each message is prefixed with its length as two octets.
  std::string framed;
  framed.push_back(static_cast<char>(q->size() >> 8));
  framed.push_back(static_cast<char>(q->size() & 0xFF));
  framed += *q;

  asio::ip::tcp::socket sock(ex_);
  Deadline deadline(*this); // one deadline for connect, write and read
  auto fail = [&](std::string_view step, const error_code& ec) {
    ++stats_.server_failures;
    sb::log::debug(log_component, "{} {}: TCP {} to {}: {}", name, dns::to_string(type), step,
                   server.address().to_string(), ec.message());
    return make_error_code(resolve_error::server_failure);
  };
  auto expired = [&] {
    if (stopped_) return make_error_code(resolve_error::stopped);
    ++stats_.timeouts;
    return make_error_code(resolve_error::timeout);
  };

  const asio::ip::tcp::endpoint ep(server.address(), server.port());
  auto c = co_await (sock.async_connect(ep, use_tuple) || deadline.timer.async_wait(use_tuple));
  if (c.index() == 1 || stopped_) co_return expired();
  if (const auto [ec] = std::get<0>(c); ec) co_return fail("connect", ec);

  auto w = co_await (asio::async_write(sock, asio::buffer(framed), use_tuple) ||
                     deadline.timer.async_wait(use_tuple));
  if (w.index() == 1 || stopped_) co_return expired();
  if (const auto [ec, n] = std::get<0>(w); ec) co_return fail("write", ec);

  std::array<std::uint8_t, 2> len{};
  auto h =
      co_await (asio::async_read(sock, asio::buffer(len), use_tuple) || deadline.timer.async_wait(use_tuple));
  if (h.index() == 1 || stopped_) co_return expired();
  if (const auto [ec, n] = std::get<0>(h); ec) co_return fail("read", ec);
  const std::size_t size = (std::size_t{len[0]} << 8) | len[1];
  if (size < dns::header_size) co_return fail("read", make_error_code(dns::dns_error::short_message));

  std::vector<std::uint8_t> body(size);
  auto b = co_await (asio::async_read(sock, asio::buffer(body), use_tuple) ||
                     deadline.timer.async_wait(use_tuple));
  if (b.index() == 1 || stopped_) co_return expired();
  if (const auto [ec, n] = std::get<0>(b); ec) co_return fail("read", ec);

  auto parsed = dns::parse_response(body, id, name, type);
  // On a connection of our own a mismatch is not a spoof to wait out but a broken server.
  if (!parsed) co_return fail("answer", parsed.error());
  if (parsed->truncated) co_return fail("answer", make_error_code(dns::dns_error::short_message));
  co_return parsed;
}

} // namespace sb::sip
