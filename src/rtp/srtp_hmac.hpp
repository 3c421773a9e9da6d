#pragma once
// HMAC-SHA1 for SRTP's AES_CM_128_HMAC_SHA1_80/32 (RFC 3711 §4.2.1), put in libsrtp2's crypto
// kernel in place of its own (srtp_replace_auth_type). Why: libsrtp2 2.5 on OpenSSL 3 restarts
// its HMAC for every packet through EVP_MAC, which duplicates a digest context — two heap
// allocations and frees per packet, the bulk of an SDES-SRTP relay's crypto cost. This one
// keeps the inner and outer SHA-1 states that the key gives (RFC 2104 §2: K ⊕ ipad, K ⊕ opad)
// and copies them per packet: a struct copy, no allocation, the same SHA-1 code (OpenSSL's
// SHA1_* with its SHA-NI/AVX2 assembly). libsrtp2 checks it against its own known answers and
// RFC 2202's before it takes it.

namespace sb::rtp {

// Installs it (once per process; srtp_init() must have run). False: libsrtp2 refused it (a
// failed self-test) and keeps its own implementation.
bool install_srtp_hmac() noexcept;

}  // namespace sb::rtp
