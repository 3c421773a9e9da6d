#include "base/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

namespace sb {
namespace {

// OpenSSL treats a NULL key pointer specially in some 3.x releases; an empty key must still be a
// valid (zero-length) key, as RFC 2104 allows.
const unsigned char* key_ptr(std::string_view key) {
  static const unsigned char empty = 0;
  return key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data());
}

const unsigned char* data_ptr(std::string_view data) {
  static const unsigned char empty = 0;
  return data.empty() ? &empty : reinterpret_cast<const unsigned char*>(data.data());
}

[[noreturn]] void crypto_fatal(const char* what) {
  // Reached only when OpenSSL itself is broken (no entropy source, allocation failure inside
  // libcrypto). Continuing would mean predictable session IDs or unsigned tokens.
  std::fprintf(stderr, "switchboard: fatal OpenSSL failure in %s\n", what);
  std::abort();
}

std::string digest(const EVP_MD* md, std::string_view data);

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  if (key.size() > static_cast<std::size_t>(INT_MAX)) {
    // HMAC's key length is an int. RFC 2104 §2 hashes any key longer than the block size first,
    // so doing that here gives the same MAC.
    const std::string hashed = digest(md, key);
    return hmac(md, hashed, data);
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(md, key_ptr(key), static_cast<int>(key.size()), data_ptr(data), data.size(), out,
           &len) == nullptr) {
    crypto_fatal("HMAC");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data_ptr(data), data.size(), out, &len, md, nullptr) != 1) {
    crypto_fatal("EVP_Digest");
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

} // namespace

std::string hmac_sha1(std::string_view key, std::string_view data) {
  return hmac(EVP_sha1(), key, data);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  return hmac(EVP_sha256(), key, data);
}

std::string sha256(std::string_view data) { return digest(EVP_sha256(), data); }

std::string md5(std::string_view data) { return digest(EVP_md5(), data); }

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  // RAND_bytes takes an int length; fill in chunks so any size_t works.
  std::size_t done = 0;
  while (done < n) {
    const std::size_t chunk = std::min<std::size_t>(n - done, 1u << 20);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done), static_cast<int>(chunk)) !=
        1) {
      crypto_fatal("RAND_bytes");
    }
    done += chunk;
  }
  return out;
}

std::uint32_t random_u32() {
  const auto b = random_bytes(4);
  std::uint32_t v = 0;
  for (const unsigned char c : b) v = (v << 8) | c;
  return v;
}

std::string random_alnum(std::size_t n) {
  constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // 248 = 4 * 62: bytes >= 248 are rejected so each of the 62 symbols has exactly 4 preimages.
  constexpr unsigned limit = 4 * alphabet.size();
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    // Ask for a little more than needed: about 3% of bytes are rejected.
    const std::string pool = random_bytes((n - out.size()) + 8);
    for (const char c : pool) {
      const auto b = static_cast<unsigned char>(c);
      if (b >= limit) continue;
      out += alphabet[b % alphabet.size()];
      if (out.size() == n) break;
    }
  }
  return out;
}

std::string uuid_v4() {
  std::string b = random_bytes(16);
  // RFC 9562 §5.4: version 4 in the high nibble of octet 6, variant 10xx in octet 8.
  b[6] = static_cast<char>((static_cast<unsigned char>(b[6]) & 0x0F) | 0x40);
  b[8] = static_cast<char>((static_cast<unsigned char>(b[8]) & 0x3F) | 0x80);
  constexpr std::string_view digits = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    const auto v = static_cast<unsigned char>(b[i]);
    out += digits[v >> 4];
    out += digits[v & 15];
  }
  return out;
}

} // namespace sb
