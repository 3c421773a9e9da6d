#pragma once
// One receive path for every media socket of a shard (issue 10, "lean per-leg I/O").
//
// Asio's async_receive_from costs two recvfrom calls per datagram on a socket that carries one
// packet every 20 ms: the one that succeeds, and the speculative one its next receive starts with,
// which finds the socket empty (EAGAIN) and only then waits in epoll. Per datagram it also
// resumes a coroutine through the scheduler's queue. A shard with a thousand legs does that
// 100,000 times a second.
//
// ReceiveMux instead keeps the shard's media sockets in an epoll set of its own (edge-triggered),
// registered with the shard's io_context as one descriptor. When it turns readable the mux asks
// it which sockets are ready and drains each with recvmmsg (up to k_batch datagrams per call), handing every
// datagram to the socket's Sink in place, on the shard's thread. One recvmmsg per ready socket
// per wake-up, and no empty read: a recvmmsg that returns fewer than it asked for emptied the
// socket, and edge-triggered epoll reports the next datagram that arrives.
//
// One per io_context (an Asio service: asio::use_service), so one per shard, and used only from
// that shard's thread (io_context concurrency hint UNSAFE_IO, runtime.hpp): nothing is locked.
// A socket's datagrams go to its sink in arrival order; a socket with more than
// k_max_per_wake waiting is put back at the end of the round, so one flooded socket cannot
// starve the others (each wake-up serves every ready socket before any gets a second turn).
//
// Error policy: EAGAIN ends a drain. Any other error is the sink's to judge (on_receive_error):
// it returns true to carry on (ICMP errors of earlier sends, no buffer for a moment), false to be
// removed. A datagram longer than the buffer (MSG_TRUNC) is reported as message_size and dropped.
// A sink that throws from on_receive (a bug, or no memory) is told state_not_recoverable and
// removed; the shard's other sockets are not affected.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace sb::rtp {

class ReceiveMux final : public boost::asio::execution_context::service {
 public:
  static boost::asio::execution_context::id id;

  // Largest datagram taken whole, and the spare bytes after it that a sink may write into
  // (SRTP's trailer when it re-protects the packet in place for a relay).
  static constexpr std::size_t k_max_datagram = 2048;
  static constexpr std::size_t k_headroom = 160;
  static constexpr unsigned k_batch = 16;          // datagrams per recvmmsg
  static constexpr unsigned k_max_per_wake = 64;   // per socket per turn, then the others' turn
  static constexpr int k_events = 64;              // ready sockets per epoll_wait

  class Sink {
   public:
    virtual ~Sink() = default;
    // buf spans k_max_datagram + k_headroom bytes of which the first n were received; it is the
    // mux's and valid only during the call. `channel` is the one given to add().
    virtual void on_receive(std::span<std::uint8_t> buf, std::size_t n, const boost::asio::ip::udp::endpoint& from,
                             int channel) = 0;
    // A receive error other than EAGAIN; true carries on, false removes the socket.
    virtual bool on_receive_error(int channel, const boost::system::error_code& ec) = 0;
  };

  // A registration. 0 is none.
  using Handle = std::uint64_t;

  explicit ReceiveMux(boost::asio::execution_context& ctx);
  ~ReceiveMux() override;
  ReceiveMux(const ReceiveMux&) = delete;
  ReceiveMux& operator=(const ReceiveMux&) = delete;

  // The mux of the io_context behind `ex` (made on first use).
  static ReceiveMux& of(const boost::asio::any_io_executor& ex);

  // Starts receiving on `fd` (a bound, non-blocking UDP socket of this shard) for `sink`, which
  // the mux keeps alive until remove(). The error is epoll's (or the mux's own set failing).
  Handle add(int fd, std::shared_ptr<Sink> sink, int channel, boost::system::error_code& ec);
  // Stops; datagrams already read for it are not delivered. Call before closing the socket.
  // Removing an unknown or already removed handle does nothing.
  void remove(Handle h) noexcept;
  // Test seam: delivers `ec` to the handle's sink as if its next receive had failed, through
  // the same path (posted, so from the shard's loop).
  void inject_error(Handle h, boost::system::error_code ec);

  struct Stats {
    std::uint64_t wakeups = 0;       ///< times the set turned readable
    std::uint64_t recv_calls = 0;    ///< recvmmsg calls
    std::uint64_t datagrams = 0;     ///< delivered
    std::uint64_t requeued = 0;      ///< sockets put back after k_max_per_wake
    std::size_t sockets = 0;         ///< registered now
  };
  Stats stats() const noexcept;

 private:
  struct Impl;
  void shutdown() override;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sb::rtp
