#include "rtp/srtp_hmac.hpp"

// SHA1_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, whose per-use context
// handling is what this file avoids; they remain exported and run the same assembly.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <srtp2/auth.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace sb::rtp {

namespace {

struct HmacState {
  SHA_CTX inner;  // after K ⊕ ipad: where every message starts
  SHA_CTX outer;  // after K ⊕ opad
  SHA_CTX work;   // the message being authenticated
};

extern const srtp_auth_type_t k_hmac;

srtp_err_status_t hmac_alloc(srtp_auth_t** a, int key_len, int out_len) {
  if (out_len < 0 || out_len > SHA_DIGEST_LENGTH || key_len < 0) return srtp_err_status_bad_param;
  auto* auth = static_cast<srtp_auth_t*>(std::calloc(1, sizeof(srtp_auth_t)));
  auto* state = static_cast<HmacState*>(std::calloc(1, sizeof(HmacState)));
  if (!auth || !state) {
    std::free(auth);
    std::free(state);
    *a = nullptr;
    return srtp_err_status_alloc_fail;
  }
  auth->type = &k_hmac;
  auth->state = state;
  auth->out_len = out_len;
  auth->key_len = key_len;
  auth->prefix_len = 0;
  *a = auth;
  return srtp_err_status_ok;
}

srtp_err_status_t hmac_dealloc(srtp_auth_t* a) {
  if (!a) return srtp_err_status_ok;
  if (a->state) {
    OPENSSL_cleanse(a->state, sizeof(HmacState));  // the states are as good as the key
    std::free(a->state);
  }
  std::free(a);
  return srtp_err_status_ok;
}

// RFC 2104 §2: a key longer than the block is hashed first; shorter ones are zero-padded.
srtp_err_status_t hmac_init(void* state, const std::uint8_t* key, int key_len) {
  auto& s = *static_cast<HmacState*>(state);
  if (key_len < 0) return srtp_err_status_bad_param;
  std::array<std::uint8_t, SHA_CBLOCK> k{}, pad{};
  if (key_len > SHA_CBLOCK) {
    SHA1(key, static_cast<std::size_t>(key_len), k.data());
  } else if (key_len > 0) {
    std::memcpy(k.data(), key, static_cast<std::size_t>(key_len));
  }
  for (std::size_t i = 0; i < k.size(); ++i) pad[i] = k[i] ^ 0x36;
  SHA1_Init(&s.inner);
  SHA1_Update(&s.inner, pad.data(), pad.size());
  for (std::size_t i = 0; i < k.size(); ++i) pad[i] = k[i] ^ 0x5c;
  SHA1_Init(&s.outer);
  SHA1_Update(&s.outer, pad.data(), pad.size());
  s.work = s.inner;
  OPENSSL_cleanse(k.data(), k.size());
  OPENSSL_cleanse(pad.data(), pad.size());
  return srtp_err_status_ok;
}

srtp_err_status_t hmac_start(void* state) {
  auto& s = *static_cast<HmacState*>(state);
  s.work = s.inner;
  return srtp_err_status_ok;
}

srtp_err_status_t hmac_update(void* state, const std::uint8_t* msg, int len) {
  if (len < 0) return srtp_err_status_bad_param;
  SHA1_Update(&static_cast<HmacState*>(state)->work, msg, static_cast<std::size_t>(len));
  return srtp_err_status_ok;
}

// The rest of the message, then H(K ⊕ opad || H(K ⊕ ipad || message)), truncated to tag_len.
srtp_err_status_t hmac_compute(void* state, const std::uint8_t* msg, int len, int tag_len, std::uint8_t* tag) {
  auto& s = *static_cast<HmacState*>(state);
  if (len < 0 || tag_len < 0 || tag_len > SHA_DIGEST_LENGTH) return srtp_err_status_bad_param;
  std::array<std::uint8_t, SHA_DIGEST_LENGTH> h;
  SHA1_Update(&s.work, msg, static_cast<std::size_t>(len));
  SHA1_Final(h.data(), &s.work);
  SHA_CTX outer = s.outer;
  SHA1_Update(&outer, h.data(), h.size());
  SHA1_Final(h.data(), &outer);
  std::memcpy(tag, h.data(), static_cast<std::size_t>(tag_len));
  return srtp_err_status_ok;
}

// RFC 2202 §3, test case 2 ("Jefe"): a key shorter than SRTP's 20 bytes. libsrtp2 also runs its
// own case (a 20-byte key) against this implementation before taking it.
constexpr std::uint8_t k_test_key[] = {'J', 'e', 'f', 'e'};
constexpr std::uint8_t k_test_data[] = "what do ya want for nothing?";
constexpr std::uint8_t k_test_tag[] = {0xef, 0xfc, 0xdf, 0x6a, 0xe5, 0xeb, 0x2f, 0xa2, 0xd2, 0x74,
                                       0x16, 0xd5, 0xf1, 0x84, 0xdf, 0x9c, 0x25, 0x9a, 0x7c, 0x79};
const srtp_auth_test_case_t k_test{
    sizeof k_test_key, k_test_key, sizeof k_test_data - 1, k_test_data, sizeof k_test_tag, k_test_tag, nullptr};

const srtp_auth_type_t k_hmac{hmac_alloc,  hmac_dealloc, hmac_init,      hmac_compute,
                              hmac_update, hmac_start,   "HMAC-SHA1 (Switchboard: precomputed pads)",
                              &k_test,     SRTP_HMAC_SHA1};

}  // namespace

bool install_srtp_hmac() noexcept { return srtp_replace_auth_type(&k_hmac, SRTP_HMAC_SHA1) == srtp_err_status_ok; }

}  // namespace sb::rtp
