// DTLS-SRTP (RFC 5763/5764) over OpenSSL 3, sans-I/O. See dtls.hpp.
//
// I/O: each association has one custom BIO (read and write) instead of a pair of BIO_s_mem.
// A memory BIO is a byte stream: records written in one SSL call would run together and the
// datagram boundaries the far end needs would be lost. OpenSSL 3.0 has no datagram memory BIO
// (BIO_s_dgram_mem is 3.2), so the BIO here keeps them: OpenSSL packs records into the pending
// datagram while BIO_wpending says there is room under the MTU, and a BIO_flush (end of a
// flight, an alert) or the end of our SSL call closes the datagram and queues it. Reading hands
// OpenSSL exactly one datagram, like recvfrom.
//
// Timers: OpenSSL's DTLS retransmission timer runs on the wall clock internally and cannot be
// driven by another clock. So the retransmission *durations* are ours (DTLS_set_timer_cb:
// Options::initial_retransmit doubling to 60 s, RFC 6347 §4.2.4.1), and after every call
// next_timer() maps OpenSSL's remaining time (DTLSv1_get_timeout) onto the caller's clock. When
// on_timer runs, DTLSv1_handle_timeout retransmits if OpenSSL agrees the timer expired (it counts
// anything under 15 ms as expired); if the caller's clock ran ahead of the wall clock nothing is
// sent and next_timer() moves to the remaining time. The whole-handshake deadline is purely on
// the caller's clock, so a stepped test clock drives it exactly.
#include "base/encoding.hpp"
#include "rtp/dtls.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <deque>
#include <stdexcept>

namespace sb::rtp {

namespace {

/// Datagram size we send (records packed up to it). 1200 keeps a flight unfragmented on any
/// path that carries IPv6's minimum 1280 MTU plus IP/UDP headers (the same bound WebRTC uses).
constexpr long k_mtu = 1200;
/// RFC 6347 §4.2.4.1: "doubling the value at each retransmission, up to no less than the RFC
/// 6298 maximum of 60 seconds".
constexpr unsigned k_max_retransmit_us = 60'000'000;
/// OpenSSL treats a remaining time under 15 ms as expired; a shorter initial timer would make
/// every read look like a timeout and retransmit spuriously.
constexpr unsigned k_min_retransmit_us = 20'000;
/// Largest datagram handed to OpenSSL: one maximal record (2^14 plaintext + 2048 expansion,
/// RFC 6347 §4.1 / RFC 5246 §6.2.3) plus its 13-byte header. Bigger is garbage.
constexpr std::size_t k_max_datagram = 16384 + 2048 + 13;
constexpr std::size_t k_record_header = 13;  // RFC 6347 §4.1 DTLSPlaintext header
/// RFC 5764 §4.1.2 / RFC 7714 §14.2 profile names, our preference first (AEAD before AES-CM; a
/// server picks from its own order).
constexpr const char* k_srtp_profiles =
    "SRTP_AEAD_AES_256_GCM:SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32";
constexpr std::string_view k_exporter_label = "EXTRACTOR-dtls_srtp";  // RFC 5764 §4.2
constexpr int k_cert_days = 30;
/// process() replaces its identity this long after generating it, so a long-running server never
/// presents an expired certificate (a call keeps the identity it started with).
constexpr auto k_identity_rotation = std::chrono::hours(24 * (k_cert_days - 1));


/// RFC 8122 §5 hash-func names (the md2/md5 entries are not supported: RFC 8122 says they must
/// not be used).
const EVP_MD* digest_for(std::string_view alg) noexcept {
  if (sb::ascii_iequals(alg, "sha-256")) return EVP_sha256();
  if (sb::ascii_iequals(alg, "sha-1")) return EVP_sha1();
  if (sb::ascii_iequals(alg, "sha-384")) return EVP_sha384();
  if (sb::ascii_iequals(alg, "sha-512")) return EVP_sha512();
  if (sb::ascii_iequals(alg, "sha-224")) return EVP_sha224();
  return nullptr;
}

/// RFC 8122 §5: fingerprint = 2UHEX *(":" 2UHEX), uppercase.
std::string fingerprint_of(X509* cert, const EVP_MD* md) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, md, buf, &n) != 1) return {};
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(n * 3);
  for (unsigned i = 0; i < n; ++i) {
    if (i) out.push_back(':');
    out.push_back(k_hex[buf[i] >> 4]);
    out.push_back(k_hex[buf[i] & 0xF]);
  }
  return out;
}

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

/// A datagram is only handed to OpenSSL if it is a whole sequence of DTLS records (RFC 6347
/// §4.1: type, version {254, x}, epoch, sequence, length; several records may share a datagram).
/// Everything else — RTP that slipped past the demux, truncated records, junk — is counted and
/// dropped without touching the association.
bool whole_dtls_records(std::span<const std::uint8_t> d) noexcept {
  if (d.empty() || d.size() > k_max_datagram) return false;
  while (!d.empty()) {
    if (d.size() < k_record_header) return false;
    // DTLS 1.2 content types (RFC 6347 §4.1, RFC 9146 for 25): change_cipher_spec 20, alert 21,
    // handshake 22, application_data 23, heartbeat 24, tls12_cid 25. The rest of RFC 7983's
    // 20..63 range (DTLS 1.3 unified headers) is not for this stack.
    if (d[0] < 20 || d[0] > 25) return false;
    if (d[1] != 254) return false;             // DTLS major version (1.0 = 254.255, 1.2 = 254.253)
    const std::size_t len = (std::size_t{d[11]} << 8) | d[12];
    if (d.size() - k_record_header < len) return false;
    d = d.subspan(k_record_header + len);
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Identity

struct DtlsIdentity::Impl {
  EVP_PKEY* key = nullptr;  ///< owned
  X509* cert = nullptr;     ///< owned
  SSL_CTX* ctx = nullptr;   ///< owned; shared by every association using this identity
  ~Impl() {
    SSL_CTX_free(ctx);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

namespace {
int verify_peer_certificate(X509_STORE_CTX* store, void*);
}

DtlsIdentity::~DtlsIdentity() = default;

std::shared_ptr<const DtlsIdentity> DtlsIdentity::generate() { return generate_at(std::chrono::steady_clock::now()); }

std::shared_ptr<const DtlsIdentity> DtlsIdentity::generate_at(std::chrono::steady_clock::time_point made) {
  ERR_clear_error();
  auto impl = std::make_unique<Impl>();
  auto fail = [](const char* what) {
    ERR_clear_error();
    throw std::runtime_error(std::string("DTLS identity: ") + what);
  };
  // ECDSA P-256: what browsers generate for WebRTC, cheap to make and to sign with.
  impl->key = EVP_EC_gen("P-256");
  if (!impl->key) fail("P-256 key generation failed");

  X509* x = impl->cert = X509_new();
  if (!x || X509_set_version(x, X509_VERSION_3) != 1) fail("X509_new failed");
  // A random positive 63-bit serial: peers that cache certificates by issuer+serial never see
  // two of ours collide.
  unsigned char serial[8];
  if (RAND_bytes(serial, sizeof serial) != 1) fail("RAND_bytes failed");
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  if (!serial_ok) fail("serial");
  // Valid from a day ago (peer clock skew) for k_cert_days.
  if (!X509_gmtime_adj(X509_getm_notBefore(x), -24L * 3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(x), long{k_cert_days} * 24 * 3600))
    fail("validity");
  X509_NAME* name = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("switchboard"), -1, -1, 0) != 1 ||
      X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, impl->key) != 1)
    fail("subject");
  if (X509_sign(x, impl->key, EVP_sha256()) <= 0) fail("X509_sign failed");

  SSL_CTX* ctx = impl->ctx = SSL_CTX_new(DTLS_method());
  if (!ctx) fail("SSL_CTX_new failed");
  // DTLS 1.0 is deprecated (RFC 8996); every WebRTC and SIP DTLS-SRTP stack speaks 1.2.
  SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, impl->key) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1)
    fail("certificate/key");
  // RFC 5763 §5: both sides present a certificate (the server asks for the client's) and each is
  // accepted only by its SDP fingerprint, never by a CA chain.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_cert_verify_callback(ctx, verify_peer_certificate, nullptr);
  // RFC 5764 §4.1.1 use_srtp extension. Note the inverted convention: 0 is success.
  if (SSL_CTX_set_tlsext_use_srtp(ctx, k_srtp_profiles) != 0) fail("use_srtp profiles");
  // MTU is set per SSL, never probed (there is no socket); no renegotiation (keys exported once,
  // RFC 5764 §4.2) and no session resumption (each association is keyed by a fresh handshake and
  // checked against its own SDP fingerprint).
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

  std::string fp = fingerprint_of(x, EVP_sha256());
  if (fp.empty()) fail("fingerprint");
  ERR_clear_error();
  std::shared_ptr<DtlsIdentity> id(new DtlsIdentity());
  id->impl_ = std::move(impl);
  id->fingerprint_ = std::move(fp);
  id->made_ = made;
  return id;
}

std::shared_ptr<const DtlsIdentity> DtlsIdentity::process() { return process(std::chrono::steady_clock::now()); }

std::shared_ptr<const DtlsIdentity> DtlsIdentity::process(std::chrono::steady_clock::time_point now) {
  // Shard threads call this for every DTLS call, so no lock is taken: the current identity is an
  // atomic pointer, and making a new one (a P-256 key and a signature, about a millisecond) runs
  // outside any lock. During a rotation one caller makes the next identity while the others keep
  // returning the current one, whose certificate stays valid another day (k_cert_days).
  static std::atomic<std::shared_ptr<const DtlsIdentity>> current;
  static std::atomic<bool> rotating{false};
  auto id = current.load();
  if (id && now - id->made_ < k_identity_rotation) return id;
  if (id && rotating.exchange(true)) return id;  // another caller is making the next one
  std::shared_ptr<const DtlsIdentity> fresh;
  try {
    fresh = generate_at(now);
  } catch (...) {
    if (!id) throw;  // first use: there is nothing to fall back on (a setup error)
    rotating = false;  // the current one still serves; the next caller tries again
    return id;
  }
  // First use may race: every caller makes one, the first stored wins and the others use it.
  auto expected = id;
  if (!current.compare_exchange_strong(expected, fresh)) fresh = std::move(expected);
  if (id) rotating = false;
  return fresh;
}

// ---------------------------------------------------------------------------------------------
// Association

namespace {

/// What the OpenSSL callbacks (BIO, verify, timer) see of an association. They reach it through
/// the BIO's data pointer and SSL_get_app_data; DtlsSrtp::Impl adds the state machine on top.
struct Link {
  DtlsSrtp::Options opt;
  const EVP_MD* md = nullptr;         ///< the far end's a=fingerprint hash
  std::string expected;               ///< the far end's a=fingerprint value, uppercase
  bool fingerprint_mismatch = false;  ///< set by the verify callback

  // Datagram BIO: `in` is the datagram OpenSSL may read (empty once read), `pending` the
  // datagram being packed, `out` the finished ones waiting for take_outgoing.
  std::span<const std::uint8_t> in;
  std::vector<std::uint8_t> pending;
  std::deque<std::vector<std::uint8_t>> out;

  bool peer_matches(X509* cert) const { return cert && md && sb::ascii_iequals(fingerprint_of(cert, md), expected); }

  /// Ends the pending datagram. Drop-oldest at the bound: a newer flight supersedes an older one,
  /// and a retransmission repeats whatever was lost.
  void flush() {
    if (pending.empty()) return;
    const std::size_t bound = std::max<std::size_t>(opt.max_outgoing, 1);
    while (out.size() >= bound) out.pop_front();
    out.push_back(std::move(pending));
    pending.clear();
  }
};

Link* link_of(SSL* ssl) { return static_cast<Link*>(SSL_get_app_data(ssl)); }

/// Replaces OpenSSL's chain verification (SSL_CTX_set_cert_verify_callback): the leaf's digest
/// must equal the SDP fingerprint (RFC 5763 §5, RFC 8122 §5). Rejecting here, during the
/// handshake, makes OpenSSL send a bad_certificate alert so the far end fails too.
int verify_peer_certificate(X509_STORE_CTX* store, void*) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  Link* l = ssl ? link_of(ssl) : nullptr;
  if (l && l->peer_matches(X509_STORE_CTX_get0_cert(store))) return 1;
  if (l) l->fingerprint_mismatch = true;
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

/// RFC 6347 §4.2.4.1 timer values: `previous_us` is 0 when a flight starts its timer, else the
/// value that just expired (doubled, capped at 60 s).
unsigned int retransmit_timer(SSL* ssl, unsigned int previous_us) {
  if (previous_us == 0) {
    const Link* l = link_of(ssl);
    const long long us =
        l ? std::chrono::duration_cast<std::chrono::microseconds>(l->opt.initial_retransmit).count() : 1'000'000;
    return static_cast<unsigned>(std::clamp<long long>(us, k_min_retransmit_us, k_max_retransmit_us));
  }
  return previous_us >= k_max_retransmit_us / 2 ? k_max_retransmit_us : previous_us * 2;
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

int bio_destroy(BIO*) { return 1; }

int bio_write(BIO* b, const char* data, std::size_t len, std::size_t* written) {
  auto* l = static_cast<Link*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (!l) return 0;
  // OpenSSL sizes each record to what BIO_wpending leaves under the MTU; this is only a guard.
  if (!l->pending.empty() && l->pending.size() + len > static_cast<std::size_t>(k_mtu)) l->flush();
  const auto* p = reinterpret_cast<const std::uint8_t*>(data);
  l->pending.insert(l->pending.end(), p, p + len);
  *written = len;
  return 1;
}

int bio_read(BIO* b, char* data, std::size_t len, std::size_t* read) {
  auto* l = static_cast<Link*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (!l || l->in.empty()) {
    BIO_set_retry_read(b);  // "would block": OpenSSL reports SSL_ERROR_WANT_READ
    *read = 0;
    return 0;
  }
  // Datagram semantics: one read returns one datagram; a truncated tail is lost, as with recvfrom.
  const std::size_t n = std::min(len, l->in.size());
  std::memcpy(data, l->in.data(), n);
  l->in = {};
  *read = n;
  return 1;
}

long bio_ctrl(BIO* b, int cmd, long, void*) {
  auto* l = static_cast<Link*>(BIO_get_data(b));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      if (l) l->flush();
      return 1;
    case BIO_CTRL_WPENDING:
      return l ? static_cast<long>(l->pending.size()) : 0;
    case BIO_CTRL_PENDING:
      return l ? static_cast<long>(l->in.size()) : 0;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
      return k_mtu;
    default:  // incl. GET_MTU_OVERHEAD: SSL_set_mtu already is the UDP payload size
      return 0;
  }
}

BIO_METHOD* bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "switchboard dtls datagram");
    if (!m) return m;
    BIO_meth_set_write_ex(m, bio_write);
    BIO_meth_set_read_ex(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    BIO_meth_set_destroy(m, bio_destroy);
    return m;
  }();
  return method;
}

/// The most specific reason OpenSSL queued (a received alert reads "sslv3 alert bad
/// certificate", …); then the queue is emptied so it never reaches another association.
std::string openssl_reason(std::string_view prefix) {
  std::string msg(prefix);
  if (const unsigned long e = ERR_peek_last_error()) {
    if (const char* r = ERR_reason_error_string(e)) msg.append(": ").append(r);
  }
  ERR_clear_error();
  return msg;
}

constexpr std::string_view k_mismatch = "fingerprint mismatch (RFC 5763 §5)";

}  // namespace

struct DtlsSrtp::Impl : Link {
  explicit Impl(DtlsSrtp& s) : self(s) {}
  ~Impl() { SSL_free(ssl); }  // frees the BIO too
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  DtlsSrtp& self;                          ///< the owner; its state_/error_/keys_ are set here
  std::shared_ptr<const DtlsIdentity> id;  ///< keeps the SSL_CTX alive
  SSL* ssl = nullptr;                      ///< owned
  Role role = Role::client;
  Clock::time_point deadline;                      ///< handshake deadline, caller's clock
  std::optional<Clock::time_point> retransmit_at;  ///< OpenSSL's timer on the caller's clock
  bool started = false;

  void fail(std::string why) {
    self.state_ = State::failed;
    self.error_ = std::move(why);
    self.keys_.reset();
    retransmit_at.reset();
    flush();  // a fatal alert OpenSSL queued still goes out
  }

  /// Runs OpenSSL on whatever input is in the BIO, then queues what it wrote.
  void drive(Clock::time_point now) {
    ERR_clear_error();
    if (self.state_ == State::handshaking) {
      const int r = SSL_do_handshake(ssl);
      if (r == 1) {
        handshake_done();
      } else {
        const int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN)
          fail("peer closed during the handshake");
        else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
          fail(fingerprint_mismatch ? (ERR_clear_error(), std::string(k_mismatch))
                                    : openssl_reason("handshake failed"));
      }
    }
    if (self.state_ == State::connected) read_records();
    flush();
    update_timer(now);
    ERR_clear_error();
  }

  void handshake_done() {
    // The verify callback already checked the certificate; checking again here also covers any
    // path that skips it (OpenSSL does not call it for a resumed session).
    if (!peer_matches(SSL_get0_peer_certificate(ssl))) {
      SSL_shutdown(ssl);
      fail(std::string(k_mismatch));
      return;
    }
    // RFC 5764 §4.1.1: without an agreed use_srtp profile there is nothing to key.
    const SRTP_PROTECTION_PROFILE* profile = SSL_get_selected_srtp_profile(ssl);
    const auto suite = profile && profile->id <= 0xFFFF
                           ? suite_from_dtls_profile(static_cast<std::uint16_t>(profile->id))
                           : std::nullopt;
    if (!suite) {
      SSL_shutdown(ssl);
      fail("no common SRTP protection profile (RFC 5764 §4.1.1)");
      return;
    }
    // RFC 5764 §4.2: 2 * (key + salt) bytes from the exporter, laid out
    //   client_write_SRTP_master_key | server_write_SRTP_master_key |
    //   client_write_SRTP_master_salt | server_write_SRTP_master_salt
    const std::size_t k = master_key_length(*suite);
    const std::size_t s = master_salt_length(*suite);
    std::vector<std::uint8_t> m(2 * (k + s));
    if (SSL_export_keying_material(ssl, m.data(), m.size(), k_exporter_label.data(), k_exporter_label.size(),
                                   nullptr, 0, 0) != 1) {
      fail(openssl_reason("keying material export failed"));
      return;
    }
    auto key_salt = [&](bool client) {
      std::vector<std::uint8_t> v;
      v.reserve(k + s);
      const std::uint8_t* key = m.data() + (client ? 0 : k);
      const std::uint8_t* salt = m.data() + 2 * k + (client ? 0 : s);
      v.insert(v.end(), key, key + k);
      v.insert(v.end(), salt, salt + s);
      return v;
    };
    const bool client = role == Role::client;  // we protect with our own side's write key
    self.keys_ = DtlsSrtpKeys{*suite, key_salt(client), key_salt(!client)};
    OPENSSL_cleanse(m.data(), m.size());
    self.state_ = State::connected;
    retransmit_at.reset();
  }

  void read_records() {
    // After the handshake OpenSSL still needs the records: a retransmitted Finished from the far
    // end makes it resend our last flight (RFC 6347 §4.2.4), and close_notify ends the
    // association. Application data has no use in DTLS-SRTP and is discarded.
    unsigned char buf[2048];
    for (;;) {
      const int r = SSL_read(ssl, buf, sizeof buf);
      if (r > 0) continue;
      const int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
      if (e == SSL_ERROR_ZERO_RETURN) {
        SSL_shutdown(ssl);  // answer close_notify with ours (RFC 5246 §7.2.1)
        self.state_ = State::closed;
      } else {
        self.state_ = State::closed;
        self.error_ = openssl_reason("DTLS association ended");
      }
      break;
    }
    OPENSSL_cleanse(buf, sizeof buf);
  }

  void update_timer(Clock::time_point now) {
    retransmit_at.reset();
    if (self.state_ != State::handshaking || !ssl) return;
    timeval tv{};
    if (DTLSv1_get_timeout(ssl, &tv) == 1)
      retransmit_at = now + std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  }
};

DtlsSrtp::DtlsSrtp(std::shared_ptr<const DtlsIdentity> id, Role role, std::string fingerprint_alg,
                   std::string fingerprint, Options opt, Clock::time_point now)
    : impl_(std::make_unique<Impl>(*this)) {
  Impl& im = *impl_;
  im.id = std::move(id);
  im.role = role;
  im.opt = opt;
  im.deadline = now + opt.handshake_timeout;
  im.md = digest_for(fingerprint_alg);
  im.expected = upper(std::move(fingerprint));
  if (!im.id) {
    im.fail("no DTLS identity");
    return;
  }
  if (!im.md) {
    im.fail("unsupported fingerprint hash: " + fingerprint_alg);
    return;
  }
  ERR_clear_error();
  BIO_METHOD* method = bio_method();
  im.ssl = SSL_new(im.id->impl().ctx);
  BIO* bio = method ? BIO_new(method) : nullptr;
  if (!im.ssl || !bio) {
    BIO_free(bio);
    im.fail(openssl_reason("DTLS setup failed"));
    return;
  }
  Link* link = &im;
  BIO_set_data(bio, link);
  SSL_set_bio(im.ssl, bio, bio);  // one BIO for both directions; the SSL takes its one reference
  SSL_set_app_data(im.ssl, link);
  SSL_set_mtu(im.ssl, k_mtu);
  DTLS_set_timer_cb(im.ssl, retransmit_timer);
  if (role == Role::client)
    SSL_set_connect_state(im.ssl);
  else
    SSL_set_accept_state(im.ssl);
  ERR_clear_error();
}

DtlsSrtp::~DtlsSrtp() = default;

void DtlsSrtp::start(Clock::time_point now) {
  if (state_ != State::handshaking || impl_->started) return;
  impl_->started = true;
  // The client speaks first (ClientHello); a server's first SSL call would only find no input.
  if (impl_->role == Role::client) impl_->drive(now);
}

void DtlsSrtp::receive(std::span<const std::uint8_t> datagram, Clock::time_point now) {
  Impl& im = *impl_;
  if (state_ == State::handshaking && now >= im.deadline) im.fail("handshake timeout");
  if ((state_ != State::handshaking && state_ != State::connected) || !whole_dtls_records(datagram)) {
    ++ignored_;
    return;
  }
  im.in = datagram;
  im.drive(now);
  im.in = {};
}

std::vector<std::vector<std::uint8_t>> DtlsSrtp::take_outgoing() {
  std::vector<std::vector<std::uint8_t>> v;
  v.reserve(impl_->out.size());
  for (auto& d : impl_->out) v.push_back(std::move(d));
  impl_->out.clear();
  return v;
}

std::optional<DtlsSrtp::Clock::time_point> DtlsSrtp::next_timer() const {
  if (state_ != State::handshaking) return std::nullopt;
  if (impl_->retransmit_at) return std::min(impl_->deadline, *impl_->retransmit_at);
  return impl_->deadline;
}

void DtlsSrtp::on_timer(Clock::time_point now) {
  Impl& im = *impl_;
  if (state_ != State::handshaking) return;
  if (now >= im.deadline) {
    im.fail("handshake timeout");
    return;
  }
  if (!im.retransmit_at || now < *im.retransmit_at) return;
  ERR_clear_error();
  // RFC 6347 §4.2.4: resend the whole last flight. A no-op if OpenSSL's wall clock says the
  // timer has not expired yet; update_timer then reschedules on the remaining time.
  if (DTLSv1_handle_timeout(im.ssl) < 0) im.fail(openssl_reason("handshake failed"));
  im.flush();
  im.update_timer(now);
  ERR_clear_error();
}

void DtlsSrtp::close() {
  Impl& im = *impl_;
  if (state_ == State::connected) {
    ERR_clear_error();
    SSL_shutdown(im.ssl);  // queues close_notify (RFC 5246 §7.2.1)
    im.flush();
    ERR_clear_error();
  }
  if (state_ == State::handshaking || state_ == State::connected) state_ = State::closed;
  im.retransmit_at.reset();
}

}  // namespace sb::rtp
