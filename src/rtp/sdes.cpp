// SDES a=crypto → SRTP suite and key. See sdes.hpp.
#include "rtp/sdes.hpp"

#include "sdp/sdp.hpp"

#include <openssl/crypto.h>

namespace sb::rtp {

std::optional<SdesKey> sdes_key(const sdp::Crypto& c) {
  const auto suite = suite_from_sdes_name(c.suite);
  if (!suite) return std::nullopt;
  auto key = sdp::decode_inline_key(c);
  if (!key || !key->mki.empty()) {
    if (key) OPENSSL_cleanse(key->key_salt.data(), key->key_salt.size());
    return std::nullopt;
  }
  // decode_inline_key checked the length against sdp::srtp_key_salt_length; check it against
  // this layer's table too so the two can never drift apart silently.
  const std::size_t want = master_key_length(*suite) + master_salt_length(*suite);
  std::optional<SdesKey> out;
  if (key->key_salt.size() == want)
    out = SdesKey{*suite, std::vector<std::uint8_t>(key->key_salt.begin(), key->key_salt.end())};
  OPENSSL_cleanse(key->key_salt.data(), key->key_salt.size());
  return out;
}

std::unique_ptr<SrtpContext> make_sdes_context(const sdp::Crypto& c, SrtpContext::Direction dir) {
  auto key = sdes_key(c);
  if (!key) return nullptr;
  auto ctx = SrtpContext::create(key->suite, key->key_salt, dir);
  OPENSSL_cleanse(key->key_salt.data(), key->key_salt.size());
  return ctx;
}

}  // namespace sb::rtp
