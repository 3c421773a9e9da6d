// A UDP impairment relay for RTP tests, and a SIP relay that steers a call's audio through it.
//
// UdpRelay: one socket on 127.0.0.1. Datagrams from the target go to the client; datagrams from
// anyone else go to the target (and, unless the client was set, that sender becomes the client:
// latching). Both ways it sends from its own socket, so to each side the relay *is* the peer
// (symmetric RTP works through it). Each direction has its own impairment: random loss, a fixed
// delay and a random extra delay of 0..jitter ms per packet (so packets reorder), from a seeded
// generator (the same seed gives the same drops for the same packet sequence). At most
// `max_queue` packets wait at once; beyond that new ones are dropped and counted. It runs on its
// own thread; the destructor stops and joins it.
//
// Why a SIP relay too: each side sends RTP where the other's SDP says, so an RTP relay is in
// the path only if the SDP names it. (Kernel impairment is not available here: `unshare -n`
// works as root, but this kernel has no `netem` qdisc and there is no iptables/nft; see
// docs/testing.md.) SdpRelay is a UdpRelay for SIP over UDP whose rewrite hook replaces the port
// of the first `m=audio` line with the RTP relay's port (fixing Content-Length) and tells the
// RTP relay where each side really listens: the caller dials the SIP relay instead of the
// callee, and both directions of audio cross the RTP relay. Requests inside the dialog (ACK,
// BYE) go to the Contact directly and bypass it, so a re-INVITE would take the media back:
// fine for baresip, which sends none. RTCP (m-port + 1 without rtcp-mux) is not relayed.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sb::test {

// What happens to packets going one way through a UdpRelay.
struct Impairment {
  double loss = 0;    // probability that a packet is dropped, 0..1
  int delay_ms = 0;   // fixed delay added to every packet
  int jitter_ms = 0;  // plus a uniform random 0..jitter_ms each (packets may reorder)
};

class UdpRelay {
 public:
  struct Options {
    std::uint16_t port = 0;          // listening port on 127.0.0.1; 0 = any free port
    std::uint16_t target_port = 0;   // 127.0.0.1:target_port; 0 = not yet known (see set_target)
    Impairment to_target, to_client;
    std::uint32_t seed = 1;
    std::size_t max_queue = 2048;    // packets waiting at once; overflow drops the new packet
    // Runs on the relay thread for every packet before it is impaired; may rewrite it.
    std::function<void(std::string& packet, bool from_target)> rewrite;
  };
  struct Counters {
    std::uint64_t to_target = 0, to_client = 0;  // sent on
    std::uint64_t lost = 0;                       // dropped by the loss setting
    std::uint64_t overflow = 0;                   // dropped: queue full
    std::uint64_t stray = 0;                      // dropped: no target/client yet, or an unknown sender
    std::uint64_t reordered = 0;                  // sent before a packet that arrived earlier (same way)
  };

  explicit UdpRelay(Options o) : opts_(std::move(o)), rng_(opts_.seed) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("udp relay: socket");
    sockaddr_in a = loopback(opts_.port);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      throw std::runtime_error("udp relay: bind " + std::to_string(opts_.port));
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    if (opts_.target_port) target_ = opts_.target_port;
    thread_ = std::thread([this] { run(); });
  }
  ~UdpRelay() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  std::uint16_t port() const { return port_; }
  // Where packets from anyone but the target go (127.0.0.1:port).
  void set_target(std::uint16_t port) { target_ = port; }
  // Fixes the client (no latching): packets from other senders are dropped as strays.
  void set_client(std::uint16_t port) {
    client_ = port;
    client_fixed_ = true;
  }
  std::uint16_t target() const { return target_; }
  std::uint16_t client() const { return client_; }
  Counters counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    Clock::time_point due;
    std::uint64_t seq;  // arrival order: ties keep it
    bool to_target;
    std::uint16_t port;
    std::string data;
    bool operator>(const Pending& o) const { return due != o.due ? due > o.due : seq > o.seq; }
  };

  static sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
  }

  void run() {
    std::vector<char> buf(65536);
    std::uint64_t seq = 0, last_sent_seq[2] = {0, 0};
    while (!stop_) {
      int timeout = 20;  // also bounds how long stopping takes
      if (!queue_.empty()) {
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(queue_.top().due - Clock::now()).count();
        timeout = int(std::clamp<long long>(wait, 0, 20));
      }
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, timeout);
      for (;;) {  // drain the socket
        sockaddr_in from{};
        socklen_t len = sizeof from;
        auto n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) break;
        accept(std::string(buf.data(), std::size_t(n)), ntohs(from.sin_port), ++seq);
      }
      const auto now = Clock::now();
      while (!queue_.empty() && queue_.top().due <= now) {
        const Pending& top = queue_.top();
        sockaddr_in to = loopback(top.port);
        ::sendto(fd_, top.data.data(), top.data.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
        {
          std::lock_guard lock(mutex_);
          (top.to_target ? counters_.to_target : counters_.to_client)++;
          auto& last = last_sent_seq[top.to_target ? 1 : 0];
          if (top.seq < last) counters_.reordered++;
          last = std::max(last, top.seq);
        }
        queue_.pop();
      }
    }
  }

  void accept(std::string data, std::uint16_t from, std::uint64_t seq) {
    const std::uint16_t target = target_;
    const bool from_target = target != 0 && from == target;
    if (!from_target) {
      if (!client_fixed_) client_ = from;
      else if (from != client_) return count(&Counters::stray);
    }
    const std::uint16_t to = from_target ? client_.load() : target;
    if (to == 0) return count(&Counters::stray);
    if (opts_.rewrite) opts_.rewrite(data, from_target);
    const Impairment& imp = from_target ? opts_.to_client : opts_.to_target;
    if (imp.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < imp.loss) return count(&Counters::lost);
    int delay = imp.delay_ms;
    if (imp.jitter_ms > 0) delay += std::uniform_int_distribution<int>(0, imp.jitter_ms)(rng_);
    if (queue_.size() >= opts_.max_queue) return count(&Counters::overflow);
    queue_.push({Clock::now() + std::chrono::milliseconds(delay), seq, !from_target, to, std::move(data)});
  }

  void count(std::uint64_t Counters::*field) {
    std::lock_guard lock(mutex_);
    counters_.*field += 1;
  }

  Options opts_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<std::uint16_t> target_{0}, client_{0};
  std::atomic<bool> client_fixed_{false}, stop_{false};
  // Owned by the relay thread.
  std::mt19937 rng_;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> queue_;
  mutable std::mutex mutex_;  // guards counters_
  Counters counters_;
  std::thread thread_;  // last: starts after everything it uses exists
};

// A SIP-over-UDP relay in front of `sip_target_port` that routes the call's audio through an
// impairing RTP relay (see the top of this file). Dial 127.0.0.1:sip_port() instead of the
// callee; `rtp()` counts what crossed.
class SdpRelay {
 public:
  struct Options {
    std::uint16_t sip_target_port = 0;
    Impairment to_callee, to_caller;  // RTP impairment each way
    std::uint32_t seed = 1;
  };

  explicit SdpRelay(Options o)
      : rtp_(UdpRelay::Options{.to_target = o.to_callee, .to_client = o.to_caller, .seed = o.seed}),
        sip_(UdpRelay::Options{.target_port = o.sip_target_port,
                               .rewrite = [this](std::string& p, bool from_callee) { rewrite(p, from_callee); }}) {}

  std::uint16_t sip_port() const { return sip_.port(); }
  std::uint16_t rtp_port() const { return rtp_.port(); }
  UdpRelay::Counters rtp() const { return rtp_.counters(); }
  UdpRelay::Counters sip() const { return sip_.counters(); }
  // The RTP ports the two sides' SDP named (0 until seen).
  std::uint16_t caller_rtp_port() const { return rtp_.client(); }
  std::uint16_t callee_rtp_port() const { return rtp_.target(); }

  // Replaces the port of the first "m=audio PORT" line in a SIP message's body by `port` and
  // fixes Content-Length; returns the port it replaced, or nothing when there is no such line.
  static std::optional<std::uint16_t> rewrite_audio_port(std::string& msg, std::uint16_t port) {
    const auto body = msg.find("\r\n\r\n");
    if (body == std::string::npos) return std::nullopt;
    const auto m = msg.find("\nm=audio ", body);
    if (m == std::string::npos) return std::nullopt;
    const auto digits = m + 9, end = msg.find(' ', digits);
    if (end == std::string::npos || end == digits || end - digits > 5) return std::nullopt;
    const unsigned long old = std::stoul(msg.substr(digits, end - digits));
    msg.replace(digits, end - digits, std::to_string(port));
    const auto length = msg.size() - (body + 4);
    // Content-Length (or its compact form "l") in the header.
    for (std::size_t at = 0; at < body;) {
      const auto eol = msg.find("\r\n", at);
      std::string_view line(msg.data() + at, eol - at);
      auto colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        while (!name.empty() && name.back() == ' ') name.pop_back();
        for (auto& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
        if (name == "content-length" || name == "l") {
          msg.replace(at, eol - at, "Content-Length: " + std::to_string(length));
          break;
        }
      }
      at = eol + 2;
    }
    return std::uint16_t(old);
  }

 private:
  // On the SIP relay's thread: the callee's SDP names where it receives (the RTP relay's
  // target); the caller's names the client.
  void rewrite(std::string& packet, bool from_callee) {
    if (auto real = rewrite_audio_port(packet, rtp_.port())) {
      if (from_callee) rtp_.set_target(*real);
      else rtp_.set_client(*real);
    }
  }

  UdpRelay rtp_;
  UdpRelay sip_;  // after rtp_: its thread uses rtp_
};

}  // namespace sb::test
