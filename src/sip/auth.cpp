// SIP Digest authentication for a UAC, RFC 3261 §22 / RFC 7616 / RFC 8760. See auth.hpp.
#include "sip/auth.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <utility>

#include "base/crypto.hpp"
#include "base/encoding.hpp"
#include "sip/uri.hpp"

namespace sb::sip {


// ---------------------------------------------------------------------------------------------
// Errors

namespace {

class AuthCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sip.auth"; }
  std::string message(int ev) const override {
    switch (static_cast<auth_error>(ev)) {
      case auth_error::malformed: return "malformed Digest challenge";
      case auth_error::too_large: return "challenge value too large";
      case auth_error::not_digest: return "authentication scheme is not Digest";
      case auth_error::unsupported_algorithm: return "unsupported Digest algorithm";
      case auth_error::unsupported_qop: return "no usable qop (auth, auth-int) in the challenge";
      case auth_error::missing_realm: return "Digest challenge without realm";
      case auth_error::missing_nonce: return "Digest challenge without nonce";
      case auth_error::duplicate_param: return "Digest challenge repeats a parameter";
      case auth_error::no_challenge: return "no WWW-Authenticate or Proxy-Authenticate challenge";
      case auth_error::no_credentials: return "challenged, but no credentials are configured";
      case auth_error::wrong_credentials: return "credentials rejected (challenged again)";
      case auth_error::too_many_rounds: return "too many authentication rounds for one request";
      case auth_error::unsafe_value: return "value holds CR, LF or a control character";
    }
    return "unknown sip.auth error";
  }
};

} // namespace

const std::error_category& auth_category() noexcept {
  static const AuthCategory category;
  return category;
}

std::error_code make_error_code(auth_error e) noexcept {
  return {static_cast<int>(e), auth_category()};
}

// ---------------------------------------------------------------------------------------------
// Helpers

namespace {

constexpr bool is_wsp(char c) noexcept { return c == ' ' || c == '\t'; }

/// CTLs other than HTAB (RFC 3261 §25.1: qdtext admits LWS but no other control character).
bool has_ctl(std::string_view s) noexcept {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

std::string_view trim_wsp(std::string_view s) noexcept {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

/// The leading token of a header value (the auth-scheme), LWS skipped.
std::string_view leading_token(std::string_view s) noexcept {
  std::size_t b = 0;
  while (b < s.size() && (is_wsp(s[b]) || s[b] == '\r' || s[b] == '\n')) ++b;
  std::size_t e = b;
  while (e < s.size() && detail::is(s[e], detail::cc_token)) ++e;
  return s.substr(b, e - b);
}

/// RFC 7616 §3.3 algorithm tokens; ABNF literals are case-insensitive (RFC 5234 §2.3).
bool algorithm_from_string(std::string_view s, Algorithm& out) noexcept {
  static constexpr std::array<std::pair<std::string_view, Algorithm>, 4> k_names{{
      {"MD5", Algorithm::md5},
      {"MD5-sess", Algorithm::md5_sess},
      {"SHA-256", Algorithm::sha256},
      {"SHA-256-sess", Algorithm::sha256_sess},
  }};
  for (const auto& [name, alg] : k_names) {
    if (ascii_iequals(s, name)) {
      out = alg;
      return true;
    }
  }
  return false;
}

/// Local preference between algorithms a server offers (RFC 8760 §2.4 allows a local policy):
/// the hash decides, not the -sess flag.
int strength(Algorithm a) noexcept {
  return (a == Algorithm::sha256 || a == Algorithm::sha256_sess) ? 2 : 1;
}

/// H(data) of RFC 7616 §3.4.2 (RFC 2617 §3.2.1): the digest as lowercase hex.
std::string hash_hex(Algorithm a, std::string_view data) {
  return to_hex(strength(a) == 2 ? sha256(data) : md5(data));
}

/// a ":" b ":" … — the concatenations every Digest formula is made of.
std::string colon_join(std::initializer_list<std::string_view> parts) {
  std::size_t n = parts.size();
  for (const auto p : parts) n += p.size();
  std::string s;
  s.reserve(n);
  bool first = true;
  for (const auto p : parts) {
    if (!first) s.push_back(':');
    first = false;
    s.append(p);
  }
  return s;
}

/// Appends `name="value"` with '"' and '\' escaped as quoted-pairs (RFC 3261 §25.1,
/// RFC 7616 §3.4: a username holding a quote is sent escaped).
void append_quoted(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append("=\"");
  for (const char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

/// A fresh client nonce: 128 random bits as 32 hex digits (RFC 7616 §3.4: cnonce is an opaque
/// string chosen by the client; it defeats chosen-plaintext attacks only if unpredictable).
std::string make_cnonce() { return to_hex(random_bytes(16)); }

} // namespace

std::string_view to_string(Algorithm a) noexcept {
  switch (a) {
    case Algorithm::md5: return "MD5";
    case Algorithm::md5_sess: return "MD5-sess";
    case Algorithm::sha256: return "SHA-256";
    case Algorithm::sha256_sess: return "SHA-256-sess";
  }
  return "MD5";
}

// ---------------------------------------------------------------------------------------------
// Challenges

std::error_code parse_challenge(std::string_view value, bool proxy, DigestChallenge& out) {
  if (value.size() > k_max_challenge_size) return auth_error::too_large;
  // A folded value (RFC 3261 §7.3.1) becomes one line first, so no CR or LF can reach a value
  // that is later echoed into our own header.
  std::string text;
  text.reserve(value.size());
  append_unfolded(text, value);

  // challenge = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge (RFC 3261 §25.1)
  const auto hdr = parse_auth(text);
  if (!ascii_iequals(leading_token(text), "Digest"))
    return leading_token(text).empty() ? auth_error::malformed : auth_error::not_digest;
  if (!hdr || hdr->params.empty()) return auth_error::malformed; // token68 is not Digest syntax

  DigestChallenge ch;
  ch.proxy = proxy;
  bool seen_realm = false, seen_nonce = false, seen_alg = false, seen_qop = false,
       seen_stale = false, alg_ok = true, qop_tokens = false;
  std::string v;
  AuthParamCursor cur(hdr->params);
  while (const auto p = cur.next()) {
    v.clear();
    if (p->quoted) {
      if (!append_unquoted(v, p->value)) return auth_error::malformed;
    } else {
      v.assign(p->value);
    }
    // quoted-pair admits any octet but CR and LF (RFC 3261 §25.1); a NUL or other CTL is not
    // something a realm, nonce or opaque can sensibly hold, and would be echoed back.
    if (has_ctl(v)) return auth_error::malformed;

    const auto once = [](bool& seen) {
      const bool dup = seen;
      seen = true;
      return !dup;
    };
    if (ascii_iequals(p->name, "realm")) {
      if (!once(seen_realm)) return auth_error::duplicate_param;
      ch.realm = v;
    } else if (ascii_iequals(p->name, "nonce")) {
      if (!once(seen_nonce)) return auth_error::duplicate_param;
      ch.nonce = v;
    } else if (ascii_iequals(p->name, "opaque")) {
      if (!once(ch.has_opaque)) return auth_error::duplicate_param;
      ch.opaque = v;
    } else if (ascii_iequals(p->name, "algorithm")) {
      // RFC 7616 §3.3: a token; some servers quote it anyway, which costs nothing to accept.
      if (!once(seen_alg)) return auth_error::duplicate_param;
      alg_ok = algorithm_from_string(trim_wsp(v), ch.algorithm);
    } else if (ascii_iequals(p->name, "qop")) {
      // qop-options = "qop" EQUAL LDQUOT qop-value *("," qop-value) RDQUOT (RFC 3261 §25.1);
      // a bare token is accepted as a one-element list. Unknown qop-values are ignored.
      if (!once(seen_qop)) return auth_error::duplicate_param;
      std::string_view list = v;
      while (!list.empty()) {
        const auto comma = list.find(',');
        const auto item = trim_wsp(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (item.empty()) continue;
        qop_tokens = true;
        if (ascii_iequals(item, "auth")) ch.qop_auth = true;
        if (ascii_iequals(item, "auth-int")) ch.qop_auth_int = true;
      }
    } else if (ascii_iequals(p->name, "stale")) {
      // RFC 2617 §3.2.1: TRUE (case-insensitive) means stale; FALSE or anything else does not.
      if (!once(seen_stale)) return auth_error::duplicate_param;
      ch.stale = ascii_iequals(trim_wsp(v), "true");
    }
    // domain, charset, userhash and extensions: ignored (RFC 7616 §3.3, RFC 2617 auth-param).
  }
  if (cur.malformed()) return auth_error::malformed;
  // RFC 2617 §3.2.1: "If the algorithm is not understood, the challenge should be ignored".
  if (!alg_ok) return auth_error::unsupported_algorithm;
  if (!seen_realm) return auth_error::missing_realm;
  if (!seen_nonce) return auth_error::missing_nonce;
  // Offered qop-values we cannot produce, or -sess without qop: HA1 would need a cnonce that the
  // RFC 2069 form may not carry (RFC 2617 §3.2.2: no cnonce unless qop was sent).
  if (qop_tokens && !ch.qop_auth && !ch.qop_auth_int) return auth_error::unsupported_qop;
  if (is_sess(ch.algorithm) && !ch.qop_auth && !ch.qop_auth_int)
    return auth_error::unsupported_qop;
  out = std::move(ch);
  return {};
}

std::error_code choose_challenge(std::span<const std::string_view> header_values, bool proxy,
                                 DigestChallenge& out) {
  if (header_values.empty()) return auth_error::no_challenge;
  std::error_code first_error;
  bool found = false;
  DigestChallenge best;
  for (const auto value : header_values) {
    DigestChallenge c;
    const auto ec = parse_challenge(value, proxy, c);
    if (ec) {
      if (!first_error || (first_error == auth_error::not_digest && ec != auth_error::not_digest))
        first_error = ec;
      continue;
    }
    // Strictly stronger replaces; equal strength keeps the topmost (RFC 8760 §2.4).
    if (!found || strength(c.algorithm) > strength(best.algorithm)) {
      best = std::move(c);
      found = true;
    }
  }
  if (!found) return first_error;
  out = std::move(best);
  return {};
}

// ---------------------------------------------------------------------------------------------
// Credentials

std::string authorization_value(const DigestChallenge& ch, const Credentials& creds,
                                std::string_view method, std::string_view request_uri,
                                std::string_view body, std::uint32_t nc, std::string_view cnonce) {
  for (const std::string_view s : {std::string_view(creds.username), std::string_view(ch.realm),
                                   std::string_view(ch.nonce), std::string_view(ch.opaque),
                                   method, request_uri, cnonce})
    if (has_ctl(s)) return {};

  const Algorithm alg = ch.algorithm;
  // RFC 7616 §3.4.2: A1 = unq(username) ":" unq(realm) ":" passwd; for -sess
  // A1 = H(unq(username) ":" unq(realm) ":" passwd) ":" unq(nonce) ":" unq(cnonce).
  std::string ha1 = hash_hex(alg, colon_join({creds.username, ch.realm, creds.password}));
  if (is_sess(alg)) ha1 = hash_hex(alg, colon_join({ha1, ch.nonce, cnonce}));

  // RFC 7616 §3.4.3: A2 = Method ":" request-uri, or for auth-int
  // A2 = Method ":" request-uri ":" H(entity-body). auth is preferred when both are offered: it
  // survives a middlebox that rewrites the body (an SBC touching SDP), auth-int does not.
  const std::string_view qop = ch.qop_auth ? "auth" : ch.qop_auth_int ? "auth-int" : "";
  const std::string ha2 =
      qop == "auth-int"
          ? hash_hex(alg, colon_join({method, request_uri, hash_hex(alg, body)}))
          : hash_hex(alg, colon_join({method, request_uri}));

  // nc-value = 8LHEX (RFC 7616 §3.4, RFC 3261 §25.1).
  std::array<char, 9> nc_hex{};
  std::snprintf(nc_hex.data(), nc_hex.size(), "%08x", static_cast<unsigned>(nc));
  const std::string_view nc_text(nc_hex.data(), 8);

  // RFC 7616 §3.4.1: response = KD(H(A1), unq(nonce) ":" nc ":" unq(cnonce) ":" unq(qop) ":"
  // H(A2)), KD(secret, data) = H(secret ":" data); without qop (RFC 2069, RFC 2617 §3.2.2.1)
  // response = KD(H(A1), unq(nonce) ":" H(A2)).
  const std::string response =
      qop.empty() ? hash_hex(alg, colon_join({ha1, ch.nonce, ha2}))
                  : hash_hex(alg, colon_join({ha1, ch.nonce, nc_text, cnonce, qop, ha2}));

  std::string out = "Digest ";
  append_quoted(out, "username", creds.username);
  append_quoted(out.append(", "), "realm", ch.realm);
  append_quoted(out.append(", "), "nonce", ch.nonce);
  append_quoted(out.append(", "), "uri", request_uri);
  append_quoted(out.append(", "), "response", response);
  // RFC 7616 §3.4: algorithm and opaque echo the challenge's. algorithm is always sent (SIP UAs
  // commonly do); MD5 is what an absent algorithm means anyway (RFC 2617 §3.2.1).
  out.append(", algorithm=").append(to_string(alg));
  if (!qop.empty()) append_quoted(out.append(", "), "cnonce", cnonce);
  if (ch.has_opaque) append_quoted(out.append(", "), "opaque", ch.opaque);
  if (!qop.empty()) out.append(", qop=").append(qop).append(", nc=").append(nc_text);
  return out;
}

// ---------------------------------------------------------------------------------------------
// DigestSession

DigestSession::DigestSession(Credentials creds, int max_rounds)
    : creds_(std::move(creds)), max_rounds_(max_rounds) {}

DigestSession::Entry* DigestSession::find(bool proxy, std::string_view realm) noexcept {
  for (auto& e : entries_)
    if (e.challenge.proxy == proxy && e.challenge.realm == realm) return &e;
  return nullptr;
}

DigestSession::Next DigestSession::on_challenge(const Message& response) {
  HeaderId id;
  bool proxy;
  // RFC 3261 §22.2: 401 carries WWW-Authenticate; §22.3: 407 carries Proxy-Authenticate.
  if (response.status_code == 401) {
    id = HeaderId::www_authenticate;
    proxy = false;
  } else if (response.status_code == 407) {
    id = HeaderId::proxy_authenticate;
    proxy = true;
  } else {
    last_error_ = auth_error::no_challenge;
    return Next::give_up;
  }
  std::vector<std::string_view> values;
  for (const Header& h : response.find_all(id)) values.push_back(h.value);
  return on_challenge(values, proxy);
}

DigestSession::Next DigestSession::on_challenge(std::span<const std::string_view> header_values,
                                                bool proxy) {
  last_error_.clear();
  if (creds_.username.empty()) {
    last_error_ = auth_error::no_credentials;
    return Next::give_up;
  }
  // Counted before anything else, so even a server that only ever says stale=TRUE ends.
  if (++rounds_ > max_rounds_) {
    last_error_ = auth_error::too_many_rounds;
    return Next::give_up;
  }

  // The best challenge per realm: a 407 after forking may hold several realms (RFC 3261 §22.3),
  // and a server may offer one realm with several algorithms (RFC 8760 §2.4).
  std::vector<DigestChallenge> best;
  std::error_code first_error;
  if (header_values.empty()) first_error = auth_error::no_challenge;
  for (const auto value : header_values) {
    DigestChallenge c;
    if (const auto ec = parse_challenge(value, proxy, c)) {
      if (!first_error || (first_error == auth_error::not_digest && ec != auth_error::not_digest))
        first_error = ec;
      continue;
    }
    auto it = std::find_if(best.begin(), best.end(),
                           [&](const DigestChallenge& b) { return b.realm == c.realm; });
    if (it == best.end()) {
      if (best.size() < k_max_realms) best.push_back(std::move(c));
    } else if (strength(c.algorithm) > strength(it->algorithm)) {
      *it = std::move(c);
    }
  }
  if (best.empty()) {
    last_error_ = first_error;
    return Next::give_up;
  }

  // RFC 2617 §3.2.1 stale: "If stale is FALSE ... the username and/or password are invalid".
  // A realm we answered in this request that challenges again without stale rejected us:
  // retrying would send the same password again, so stop (and never loop).
  for (const auto& c : best) {
    const Entry* e = find(proxy, c.realm);
    if (e != nullptr && e->fresh && e->answered && !c.stale) {
      last_error_ = auth_error::wrong_credentials;
      return Next::give_up;
    }
  }

  for (auto& c : best) {
    Entry* e = find(proxy, c.realm);
    if (e == nullptr) {
      if (entries_.size() >= k_max_realms) {
        // Bounded cache: forget the oldest entry not challenged in this request (else the
        // oldest). Worst case a forgotten realm gets one more retry; the round cap still holds.
        auto victim = std::find_if(entries_.begin(), entries_.end(),
                                   [](const Entry& x) { return !x.fresh; });
        entries_.erase(victim == entries_.end() ? entries_.begin() : victim);
      }
      e = &entries_.emplace_back();
    }
    // A new nonce starts its count at 1 again (RFC 7616 §3.4 nc); the same nonce keeps counting,
    // since a server rejects a repeated nc as a replay.
    if (e->challenge.nonce != c.nonce || e->challenge.algorithm != c.algorithm ||
        e->nc == 0) {
      e->nc = 0;
      e->sess_cnonce = is_sess(c.algorithm) ? make_cnonce() : std::string{};
    }
    e->challenge = std::move(c);
    e->fresh = true;
    e->answered = false;
  }
  return Next::retry;
}

void DigestSession::start_request() noexcept {
  rounds_ = 0;
  last_error_.clear();
  for (auto& e : entries_) e.fresh = false;
}

std::error_code DigestSession::authorize(std::string_view method, std::string_view request_uri,
                                         std::string_view body,
                                         std::vector<CredentialsHeader>& out) {
  out.clear();
  if (entries_.empty()) return {};
  if (creds_.username.empty()) return auth_error::no_credentials;
  for (auto& e : entries_) {
    // nc never wraps back to a used value; at the top the server will answer stale and a fresh
    // nonce restarts the count.
    if (e.nc != std::numeric_limits<std::uint32_t>::max()) ++e.nc;
    // -sess: HA1 is bound to the cnonce of the first request after the challenge (RFC 2617
    // §3.2.2.2), so that cnonce is kept for the nonce's lifetime; otherwise a fresh one each time.
    const std::string cnonce = is_sess(e.challenge.algorithm) ? e.sess_cnonce : make_cnonce();
    std::string value =
        authorization_value(e.challenge, creds_, method, request_uri, body, e.nc, cnonce);
    if (value.empty()) {
      out.clear();
      return auth_error::unsafe_value;
    }
    out.push_back({e.challenge.proxy ? HeaderId::proxy_authorization : HeaderId::authorization,
                   std::move(value)});
    e.answered = true;
  }
  return {};
}

} // namespace sb::sip
