#pragma once
// A media leg's UDP socket: a plain non-blocking descriptor that the shard's ReceiveMux drains
// (receive_mux.hpp). It is deliberately not an asio::ip::udp::socket: Asio registers every
// socket it opens with its reactor, which would then wake for each datagram only to find no
// receive waiting (the mux reads them). Sends are one sendto each, never blocking: a full send
// buffer is an error the caller counts, as a lost packet would be.
#include <boost/asio/ip/udp.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <span>

namespace sb::rtp {

class UdpSocket {
 public:
  UdpSocket() = default;
  ~UdpSocket() { close(); }
  UdpSocket(UdpSocket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  UdpSocket& operator=(UdpSocket&& o) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  struct Options {
    bool reuse_address = false;  ///< SO_REUSEADDR before bind
    int buffer_bytes = 0;        ///< SO_RCVBUF and SO_SNDBUF when > 0 (the kernel may cap it)
  };
  // Opens a non-blocking, close-on-exec socket of the endpoint's family bound to it. On error the
  // socket stays closed.
  void open_bind(const boost::asio::ip::udp::endpoint& at, boost::system::error_code& ec) noexcept {
    open_bind(at, {}, ec);
  }
  void open_bind(const boost::asio::ip::udp::endpoint& at, const Options& opt, boost::system::error_code& ec) noexcept;
  // The bound port (0 if closed or unknown).
  std::uint16_t local_port() const noexcept;
  void close() noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }
  int native_handle() const noexcept { return fd_; }
  // One datagram; would_block when the send buffer is full.
  void send_to(std::span<const std::uint8_t> data, const boost::asio::ip::udp::endpoint& to,
               boost::system::error_code& ec) noexcept;
  // Datagrams the kernel dropped because the receive buffer was full (SO_MEMINFO; 0 if closed).
  std::uint64_t kernel_drops() const noexcept;

 private:
  int fd_ = -1;
};

}  // namespace sb::rtp
