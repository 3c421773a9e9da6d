// SRTP/SRTCP contexts over libsrtp2 (RFC 3711, RFC 7714). See srtp.hpp.
#include "rtp/srtp.hpp"

#include "base/encoding.hpp"
#include "base/log.hpp"
#include "rtp/srtp_hmac.hpp"

#include <srtp2/srtp.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <climits>
#include <mutex>

namespace sb::rtp {

namespace {

/// Everything Switchboard needs to know about one suite. Tag lengths are what protect appends:
/// AES-CM 80/32-bit HMAC-SHA1 tags (RFC 3711 §4.2, RFC 4568 §6.2), 16-byte GCM tags (RFC 7714
/// §13.1). SRTCP adds its 4-byte E||index word (RFC 3711 §3.4) and, for _32, keeps the 80-bit
/// tag (RFC 4568 §6.2.2, RFC 5764 §4.1.2: "SRTCP auth tag 80 bits").
struct SuiteInfo {
  SrtpSuite suite;
  std::string_view sdes;
  std::uint16_t profile;
  std::size_t key, salt, rtp_tag, rtcp_tag;
};

constexpr std::array<SuiteInfo, 4> k_suites{{
    {SrtpSuite::aes_cm_128_hmac_sha1_80, "AES_CM_128_HMAC_SHA1_80", 0x0001, 16, 14, 10, 10},
    {SrtpSuite::aes_cm_128_hmac_sha1_32, "AES_CM_128_HMAC_SHA1_32", 0x0002, 16, 14, 4, 10},
    {SrtpSuite::aead_aes_128_gcm, "AEAD_AES_128_GCM", 0x0007, 16, 12, 16, 16},
    {SrtpSuite::aead_aes_256_gcm, "AEAD_AES_256_GCM", 0x0008, 32, 12, 16, 16},
}};

constexpr std::size_t k_srtcp_index = 4;  // RFC 3711 §3.4: E flag + 31-bit SRTCP index

// libsrtp2 writes at most SRTP_MAX_TRAILER_LEN after an RTP packet and 4 more after RTCP; the
// public constant promises callers that much room is always enough.
static_assert(srtp_max_trailer >= SRTP_MAX_TRAILER_LEN + k_srtcp_index);

const SuiteInfo& info(SrtpSuite s) noexcept {
  for (const auto& i : k_suites)
    if (i.suite == s) return i;
  return k_suites[0];  // unreachable for valid enum values
}


/// srtp_init() must run once per process before any other call (libsrtp2 srtp.h); it sets up
/// the crypto kernel, which is then read-only and shared by every context on every shard. Our
/// HMAC-SHA1 replaces libsrtp2's there (srtp_hmac.hpp: no allocation per packet); should
/// libsrtp2 refuse it, its own stays and SRTP works as before, only slower.
bool library_ready() noexcept {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] {
    ok = srtp_init() == srtp_err_status_ok;
    if (ok && !install_srtp_hmac()) log::warn("srtp", "own HMAC-SHA1 refused by libsrtp2: using its own");
  });
  return ok;
}

}  // namespace

std::optional<SrtpSuite> suite_from_sdes_name(std::string_view name) noexcept {
  // Case-insensitive like sdp::srtp_key_salt_length, so the two never disagree on a name.
  for (const auto& i : k_suites)
    if (sb::ascii_iequals(i.sdes, name)) return i.suite;
  return std::nullopt;
}

std::string_view sdes_name(SrtpSuite s) noexcept { return info(s).sdes; }

std::optional<SrtpSuite> suite_from_dtls_profile(std::uint16_t profile) noexcept {
  for (const auto& i : k_suites)
    if (i.profile == profile) return i.suite;
  return std::nullopt;
}

std::uint16_t dtls_profile(SrtpSuite s) noexcept { return info(s).profile; }
std::size_t master_key_length(SrtpSuite s) noexcept { return info(s).key; }
std::size_t master_salt_length(SrtpSuite s) noexcept { return info(s).salt; }

struct SrtpContext::Impl {
  srtp_t session = nullptr;  ///< owned; srtp_dealloc in ~SrtpContext
  /// libsrtp2 would happily protect with an inbound template too; refusing it keeps one key from
  /// ever encrypting in both directions (a two-time pad, RFC 3711 §9.1).
  Direction dir = Direction::outbound;
  std::size_t rtp_trailer = 0;
  std::size_t rtcp_trailer = 0;
};

SrtpContext::SrtpContext(SrtpSuite s, std::unique_ptr<Impl> impl) : suite_(s), impl_(std::move(impl)) {}

SrtpContext::~SrtpContext() {
  if (impl_ && impl_->session) srtp_dealloc(impl_->session);
}

std::unique_ptr<SrtpContext> SrtpContext::create(SrtpSuite suite, std::span<const std::uint8_t> key_salt,
                                                 Direction dir) {
  const SuiteInfo& si = info(suite);
  if (key_salt.size() != si.key + si.salt) return nullptr;
  if (!library_ready()) return nullptr;

  srtp_policy_t policy{};
  switch (suite) {
    case SrtpSuite::aes_cm_128_hmac_sha1_80:
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case SrtpSuite::aes_cm_128_hmac_sha1_32:
      // RFC 4568 §6.2.2 / RFC 5764 §4.1.2: only SRTP uses the 32-bit tag; SRTCP keeps 80 bits.
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&policy.rtp);
      srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
      break;
    case SrtpSuite::aead_aes_128_gcm:
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
      break;
    case SrtpSuite::aead_aes_256_gcm:
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
      srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
      break;
  }
  // libsrtp2 reads exactly cipher_key_len bytes (key || salt) from policy.key.
  if (static_cast<std::size_t>(policy.rtp.cipher_key_len) != key_salt.size()) return nullptr;

  // A wildcard SSRC: one context serves whatever SSRC the far end picks (and re-picks after a
  // collision, RFC 3550 §8.2). Inbound streams are only instantiated after a packet
  // authenticates, so a forged SSRC cannot make libsrtp2 allocate.
  policy.ssrc.type = dir == Direction::inbound ? ssrc_any_inbound : ssrc_any_outbound;
  // RFC 3711 §3.3.2 minimum replay window is 64; libsrtp2's default is 128, which covers 2.5 s
  // of 20 ms audio reordering — far more than a jitter buffer keeps.
  policy.window_size = 128;
  policy.allow_repeat_tx = 0;  // a repeated (seq, key) would reuse the key stream (RFC 3711 §9.1)
  std::array<unsigned char, SRTP_MAX_KEY_LEN> key{};
  std::copy(key_salt.begin(), key_salt.end(), key.begin());
  policy.key = key.data();
  policy.next = nullptr;

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->rtp_trailer = si.rtp_tag;
  impl->rtcp_trailer = si.rtcp_tag + k_srtcp_index;
  const srtp_err_status_t st = srtp_create(&impl->session, &policy);
  OPENSSL_cleanse(key.data(), key.size());  // libsrtp2 keeps its own derived session keys
  if (st != srtp_err_status_ok) {
    if (impl->session) srtp_dealloc(impl->session);
    return nullptr;
  }
  return std::unique_ptr<SrtpContext>(new SrtpContext(suite, std::move(impl)));
}

namespace {

using ProcessFn = srtp_err_status_t (*)(srtp_t, void*, int*);

/// Runs one libsrtp2 packet function in place after checking the buffer: `room` is what the
/// operation may append (0 for unprotect, which only shrinks the packet).
int run(ProcessFn fn, srtp_t session, std::span<std::uint8_t> buf, std::size_t len, std::size_t room) noexcept {
  if (len == 0 || len > buf.size() || buf.size() - len < room) return -1;
  if (len > static_cast<std::size_t>(INT_MAX) - room) return -1;
  int n = static_cast<int>(len);
  if (fn(session, buf.data(), &n) != srtp_err_status_ok) return -1;
  if (n < 0 || static_cast<std::size_t>(n) > buf.size()) return -1;
  return n;
}

}  // namespace

int SrtpContext::protect_rtp(std::span<std::uint8_t> buf, std::size_t len) noexcept {
  if (impl_->dir != Direction::outbound) return -1;
  return run(srtp_protect, impl_->session, buf, len, impl_->rtp_trailer);
}

int SrtpContext::protect_rtcp(std::span<std::uint8_t> buf, std::size_t len) noexcept {
  if (impl_->dir != Direction::outbound) return -1;
  return run(srtp_protect_rtcp, impl_->session, buf, len, impl_->rtcp_trailer);
}

int SrtpContext::unprotect_rtp(std::span<std::uint8_t> buf, std::size_t len) noexcept {
  if (impl_->dir != Direction::inbound) return -1;
  return run(srtp_unprotect, impl_->session, buf, len, 0);
}

int SrtpContext::unprotect_rtcp(std::span<std::uint8_t> buf, std::size_t len) noexcept {
  if (impl_->dir != Direction::inbound) return -1;
  return run(srtp_unprotect_rtcp, impl_->session, buf, len, 0);
}

}  // namespace sb::rtp
