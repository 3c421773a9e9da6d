// SIP Digest authentication for a UAC: RFC 3261 §22 (§22.2 UAS, §22.3 proxy, §22.4 Digest) with
// the Digest computation of RFC 2617 §3.2.2 / RFC 7616 §3.4 and the SIP algorithm rules of
// RFC 8760 (MD5, SHA-256, and their -sess variants).
//
// Layer: above message (it reads header values and HeaderIds), below the call layer that resends
// the challenged request. Sans-I/O: it reads challenge header values and hands back credential
// header values; the call layer puts them on the next request (MessageWriter) and sends it.
//
//   401 Unauthorized        carries WWW-Authenticate    → answer with Authorization
//   407 Proxy Auth Required carries Proxy-Authenticate  → answer with Proxy-Authorization
//
// Three levels of API:
//   parse_challenge / choose_challenge   one header value / the best of several → DigestChallenge
//   authorization_value                  the pure Digest computation (tests pin it to the RFCs)
//   DigestSession                        per call: cached challenges, nc, cnonce, retry policy
//
// Nothing here throws on network input; failures are `auth_error` codes (category "sip.auth").
// SHA-512-256 (RFC 8760 §2.3, RFC 7616 §6.1) is not implemented: a challenge offering only it is
// `unsupported_algorithm`, and one offering it next to SHA-256 or MD5 is answered with those.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "sip/message.hpp"

namespace sb::sip {

// ---------------------------------------------------------------------------------------------
// Errors

/// Error values of the Digest layer, for std::error_code (category "sip.auth").
enum class auth_error {
  malformed = 1,         ///< the challenge breaks the auth-param syntax (RFC 3261 §25.1)
  too_large,             ///< a challenge value longer than k_max_challenge_size
  not_digest,            ///< the scheme is not Digest (Basic, Bearer, NTLM, …)
  unsupported_algorithm, ///< algorithm= is none of MD5, MD5-sess, SHA-256, SHA-256-sess
  unsupported_qop,       ///< qop offers neither auth nor auth-int, or -sess comes without qop
  missing_realm,         ///< no realm= (RFC 7616 §3.3: required)
  missing_nonce,         ///< no nonce= (RFC 7616 §3.3: required)
  duplicate_param,       ///< realm, nonce, opaque, algorithm, qop or stale given twice
  no_challenge,          ///< a 401/407 without any WWW-/Proxy-Authenticate value
  no_credentials,        ///< the call has no username: nothing to answer a challenge with
  wrong_credentials,     ///< the realm challenged again, not stale, after we answered it
  too_many_rounds,       ///< the per-request challenge round cap was reached
  unsafe_value,          ///< a value to be sent holds CR, LF or another CTL (header injection)
};

const std::error_category& auth_category() noexcept;
std::error_code make_error_code(auth_error e) noexcept;

// ---------------------------------------------------------------------------------------------
// Challenges

/// Digest algorithms for SIP (RFC 8760 §2.3; RFC 7616 §3.3 for the -sess forms).
enum class Algorithm : std::uint8_t {
  md5,         ///< "MD5", the default when algorithm= is absent (RFC 2617 §3.2.1)
  md5_sess,    ///< "MD5-sess": HA1 also covers nonce and cnonce (RFC 2617 §3.2.2.2)
  sha256,      ///< "SHA-256" (RFC 7616 §3.3, RFC 8760 §2.3)
  sha256_sess, ///< "SHA-256-sess"
};

/// "MD5", "MD5-sess", "SHA-256", "SHA-256-sess": the spelling sent back in algorithm=.
std::string_view to_string(Algorithm a) noexcept;
/// True for the -sess variants.
constexpr bool is_sess(Algorithm a) noexcept {
  return a == Algorithm::md5_sess || a == Algorithm::sha256_sess;
}

/// One parsed Digest challenge (RFC 7616 §3.3). Values are unquoted (escapes removed).
struct DigestChallenge {
  std::string realm;
  std::string nonce;
  std::string opaque;                  ///< echoed back verbatim when has_opaque (RFC 7616 §3.4)
  Algorithm algorithm = Algorithm::md5;
  bool has_opaque = false;             ///< opaque= was present (possibly empty)
  bool qop_auth = false;               ///< qop offered "auth"
  bool qop_auth_int = false;           ///< qop offered "auth-int"
  bool stale = false;                  ///< stale=TRUE: the nonce expired, the password was fine
  bool proxy = false;                  ///< from Proxy-Authenticate (407), else WWW-Authenticate
};

/// Longest challenge value accepted; message.hpp's Limits::max_header_line is the same bound.
inline constexpr std::size_t k_max_challenge_size = 8192;

/// Parses one WWW-Authenticate (proxy = false) or Proxy-Authenticate (proxy = true) value:
///   Digest realm="…", nonce="…", opaque="…", algorithm=SHA-256, qop="auth,auth-int", stale=TRUE
/// Scheme, parameter names and the algorithm/qop/stale tokens are case-insensitive; values may be
/// quoted-strings (with backslash escapes) or tokens; folded lines are accepted; unknown
/// parameters (domain, charset, userhash, …) are ignored. `out` is written only on success.
std::error_code parse_challenge(std::string_view value, bool proxy, DigestChallenge& out);

/// Picks the challenge to answer among the values of one response's WWW-Authenticate (or
/// Proxy-Authenticate) headers, in wire order. RFC 8760 §2.4: a server sends one header per
/// algorithm, most preferred first, and the UAC answers the topmost it supports unless local
/// policy says otherwise. Ours: the strongest hash wins (SHA-256 over MD5), then the topmost.
/// Values that do not parse or are not Digest are skipped. With none usable the error is that of
/// the first Digest value (not_digest if there was none, no_challenge if the span is empty).
std::error_code choose_challenge(std::span<const std::string_view> header_values, bool proxy,
                                 DigestChallenge& out);

// ---------------------------------------------------------------------------------------------
// Credentials

/// What `sip.auth` (SPEC §2.1) gives a call.
struct Credentials {
  std::string username;
  std::string password;
};

/// The Authorization / Proxy-Authorization value answering `ch` (RFC 7616 §3.4, RFC 3261 §22.4):
///   Digest username="…", realm="…", nonce="…", uri="…", response="…", algorithm=…,
///          cnonce="…", opaque="…", qop=auth, nc=00000001
/// qop=auth when offered, else auth-int (HA2 then covers H(body)); with no qop offered the
/// RFC 2069 form is produced (no cnonce, qop or nc; RFC 2617 §3.2.2). opaque appears only when
/// the challenge had one. `request_uri` must be the Request-URI of the request that carries the
/// header (RFC 2617 §3.2.2 digest-uri; RFC 3261 §22.4 quotes it). `nc` is the nonce count (1 for
/// the first use of a nonce).
/// Returns "" if username, method, request_uri, cnonce or a challenge field holds CR, LF or
/// another CTL, so a hostile value can never inject a header; the password is only hashed.
std::string authorization_value(const DigestChallenge& ch, const Credentials& creds,
                                std::string_view method, std::string_view request_uri,
                                std::string_view body, std::uint32_t nc, std::string_view cnonce);

// ---------------------------------------------------------------------------------------------
// Per-call state and retry policy

/// A header the next request must carry.
struct CredentialsHeader {
  HeaderId id = HeaderId::authorization; ///< authorization or proxy_authorization
  std::string value;
};

/// Digest state for one call (one dialog and the requests that set it up).
///
/// Use:
///   DigestSession auth{creds};
///   send(request + auth.authorize(...))            // nothing cached yet: no headers
///   on 401/407: if (auth.on_challenge(resp) == DigestSession::Next::retry)
///                 resend (new CSeq, same Call-ID) with auth.authorize(...)
///               else fail the call (auth.last_error() says why)
///   before each new request (not a retry): auth.start_request()
///
/// Policy (RFC 3261 §22.2/§22.3, RFC 7616 §3.3 stale):
///   * a realm challenging for the first time in this request: retry;
///   * the same realm again, after we answered it in this request:
///       stale=TRUE  → retry with the new nonce (not a failure),
///       otherwise   → give_up (the password is wrong; never loop);
///   * a new realm (another proxy, or proxy then UAS): retry;
///   * at most `max_rounds` challenged responses per request, stale ones included: give_up after;
///   * no username: give_up.
/// Challenges are cached per (proxy/WWW, realm) and answered again on later requests with nc+1
/// (RFC 3261 §22.3 lets a UA reuse credentials in a call); a cached answer that a later request
/// gets challenged for counts as "not yet answered in this request", so it gets one retry.
class DigestSession {
 public:
  enum class Next : std::uint8_t {
    retry,   ///< resend the request with authorize()'s headers
    give_up, ///< fail the request; last_error() says why
  };

  /// RFC 3261 does not bound rounds; 3 covers proxy + UAS + one stale nonce.
  static constexpr int k_default_max_rounds = 3;
  /// Realms remembered at once; a response naming more is answered for the first ones only.
  static constexpr std::size_t k_max_realms = 8;

  explicit DigestSession(Credentials creds, int max_rounds = k_default_max_rounds);

  /// A 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) answering the current request.
  /// Any other status gives give_up with no_challenge.
  Next on_challenge(const Message& response);
  /// The same from the raw challenge values of one response, in wire order.
  Next on_challenge(std::span<const std::string_view> header_values, bool proxy);

  /// Marks the start of a new request (not a retry): resets the round counter and makes every
  /// cached challenge count as not yet answered in this request. Cached challenges stay.
  void start_request() noexcept;

  /// The Authorization / Proxy-Authorization headers for the request about to be sent, one per
  /// cached realm, each with its nonce count advanced. Empty `out` when nothing is cached.
  std::error_code authorize(std::string_view method, std::string_view request_uri,
                            std::string_view body, std::vector<CredentialsHeader>& out);

  /// Why the last on_challenge gave up (or failed to parse anything); empty after a retry.
  std::error_code last_error() const noexcept { return last_error_; }
  /// Challenged responses seen in the current request.
  int rounds() const noexcept { return rounds_; }
  /// Number of cached (proxy/WWW, realm) challenges.
  std::size_t cached_realms() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    DigestChallenge challenge;
    std::uint32_t nc = 0;       ///< nonce count last sent with challenge.nonce (RFC 7616 §3.4)
    std::string sess_cnonce;    ///< -sess: the cnonce HA1 was built with, kept per nonce
    bool fresh = false;         ///< challenge received during the current request
    bool answered = false;      ///< credentials for it sent since it arrived
  };
  Entry* find(bool proxy, std::string_view realm) noexcept;

  Credentials creds_;             ///< owned; the password never leaves this object unhashed
  int max_rounds_;
  int rounds_ = 0;                ///< challenged responses in the current request
  std::vector<Entry> entries_;    ///< one per (proxy, realm), first-challenged first
  std::error_code last_error_;
};

} // namespace sb::sip

template <>
struct std::is_error_code_enum<sb::sip::auth_error> : std::true_type {};
