// DTLS-SRTP (RFC 5763/5764) over OpenSSL, sans-I/O: datagrams in, datagrams out, time as a
// parameter. The media leg demultiplexes DTLS records off its RTP socket (RFC 7983: first byte
// 20..63), feeds them to `receive`, sends whatever `take_outgoing` returns to the far end, calls
// `on_timer` at `next_timer()` for handshake retransmission (RFC 6347 §4.2.4), and once
// `state()` is connected builds its two SrtpContexts from `keys()`.
//
// Identity: one self-signed ECDSA P-256 certificate per process at a time
// (DtlsIdentity::process()), its SHA-256 fingerprint in our SDP (RFC 8122). The far end's
// certificate is accepted only if its digest equals the fingerprint its SDP announced (RFC 5763
// §5); no CA chain is involved. The identity is replaced before its certificate expires: a user
// keeps the identity object whose fingerprint it offered and hands that same object to DtlsSrtp,
// so a rotation between offer and handshake cannot make the two disagree.
#pragma once

#include "rtp/srtp.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sb::rtp {

class DtlsIdentity {
 public:
  /// The process-wide identity, generated on first use (thread-safe, lock-free). Its certificate
  /// is valid 30 days; a new identity replaces it after 29, made by one caller outside any lock
  /// while the others keep the current one. Each call returns an identity to keep, not a
  /// handle that may change: offer its fingerprint and handshake with that same object.
  static std::shared_ptr<const DtlsIdentity> process();
  /// The same as of `now` (a clock tests can step to force a rotation).
  static std::shared_ptr<const DtlsIdentity> process(std::chrono::steady_clock::time_point now);
  /// A fresh identity (tests).
  static std::shared_ptr<const DtlsIdentity> generate();
  ~DtlsIdentity();
  /// "AB:CD:…" uppercase hex of the DER certificate's SHA-256 (RFC 8122 §5).
  const std::string& fingerprint_sha256() const noexcept { return fingerprint_; }

  struct Impl;
  const Impl& impl() const noexcept { return *impl_; }

 private:
  DtlsIdentity() = default;
  static std::shared_ptr<const DtlsIdentity> generate_at(std::chrono::steady_clock::time_point made);
  std::unique_ptr<Impl> impl_;
  std::string fingerprint_;
  std::chrono::steady_clock::time_point made_;  ///< when process() made it: rotation is due from here
};

/// The keys a connected association exports (RFC 5764 §4.2): ours protect what we send, theirs
/// unprotect what we receive. Each is master key || master salt.
struct DtlsSrtpKeys {
  SrtpSuite suite;
  std::vector<std::uint8_t> local_key_salt;
  std::vector<std::uint8_t> remote_key_salt;
};

class DtlsSrtp {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Role { client, server };  ///< a=setup:active = client (RFC 5763 §5)
  enum class State { handshaking, connected, failed, closed };

  struct Options {
    std::chrono::milliseconds handshake_timeout{10000};  ///< whole handshake deadline
    std::chrono::milliseconds initial_retransmit{1000};  ///< RFC 6347 §4.2.4.1 initial timer
    std::size_t max_outgoing = 32;                        ///< bound on queued datagrams
  };

  /// `fingerprint_alg` is the a=fingerprint hash name ("sha-256", "sha-1", "sha-384", "sha-512");
  /// `fingerprint` its "AB:CD:…" value. Suites offered: AEAD-GCM 256/128, AES-CM 80/32.
  DtlsSrtp(std::shared_ptr<const DtlsIdentity> id, Role role, std::string fingerprint_alg, std::string fingerprint,
           Options opt, Clock::time_point now);
  DtlsSrtp(std::shared_ptr<const DtlsIdentity> id, Role role, std::string fingerprint_alg, std::string fingerprint,
           Clock::time_point now)
      : DtlsSrtp(std::move(id), role, std::move(fingerprint_alg), std::move(fingerprint), Options{}, now) {}
  ~DtlsSrtp();
  DtlsSrtp(const DtlsSrtp&) = delete;
  DtlsSrtp& operator=(const DtlsSrtp&) = delete;

  /// A client queues its ClientHello here; a server waits for one.
  void start(Clock::time_point now);
  /// One datagram from the far end (one or more DTLS records). Garbage is ignored (counted).
  void receive(std::span<const std::uint8_t> datagram, Clock::time_point now);
  /// Datagrams to send now, oldest first; empties the queue.
  std::vector<std::vector<std::uint8_t>> take_outgoing();
  /// When on_timer must run next (retransmission or the handshake deadline); nullopt when idle.
  std::optional<Clock::time_point> next_timer() const;
  void on_timer(Clock::time_point now);
  /// Sends close_notify (queued) and moves to closed.
  void close();

  State state() const noexcept { return state_; }
  /// Why the handshake failed (fingerprint mismatch, timeout, alert, no SRTP profile).
  const std::string& error() const noexcept { return error_; }
  /// Valid once connected.
  const std::optional<DtlsSrtpKeys>& keys() const noexcept { return keys_; }
  std::uint64_t ignored_datagrams() const noexcept { return ignored_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  State state_ = State::handshaking;
  std::string error_;
  std::optional<DtlsSrtpKeys> keys_;
  std::uint64_t ignored_ = 0;
};

}  // namespace sb::rtp
