#include "rtp/udp_socket.hpp"

#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <utility>

namespace sb::rtp {

UdpSocket& UdpSocket::operator=(UdpSocket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void UdpSocket::open_bind(const boost::asio::ip::udp::endpoint& at, const Options& opt,
                          boost::system::error_code& ec) noexcept {
  close();
  ec.clear();
  const int fd = ::socket(at.protocol().family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec.assign(errno, boost::system::system_category());
    return;
  }
  const int one = 1;
  if (opt.reuse_address) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (opt.buffer_bytes > 0) {  // best effort, as the kernel's limits allow
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opt.buffer_bytes, sizeof opt.buffer_bytes);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt.buffer_bytes, sizeof opt.buffer_bytes);
  }
  if (::bind(fd, at.data(), static_cast<socklen_t>(at.size())) != 0) {
    ec.assign(errno, boost::system::system_category());
    ::close(fd);
    return;
  }
  fd_ = fd;
}

std::uint16_t UdpSocket::local_port() const noexcept {
  if (fd_ < 0) return 0;
  boost::asio::ip::udp::endpoint ep;
  socklen_t len = static_cast<socklen_t>(ep.capacity());
  if (::getsockname(fd_, ep.data(), &len) != 0) return 0;
  ep.resize(len);
  return ep.port();
}

void UdpSocket::close() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

void UdpSocket::send_to(std::span<const std::uint8_t> data, const boost::asio::ip::udp::endpoint& to,
                        boost::system::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = boost::asio::error::bad_descriptor;
    return;
  }
  // MSG_NOSIGNAL is moot for UDP; EINTR cannot happen on a non-blocking send but is retried once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::sendto(fd_, data.data(), data.size(), 0, to.data(), static_cast<socklen_t>(to.size())) >= 0) return;
    if (errno != EINTR) break;
  }
  ec.assign(errno, boost::system::system_category());
}

std::uint64_t UdpSocket::kernel_drops() const noexcept {
  if (fd_ < 0) return 0;
  std::array<std::uint32_t, SK_MEMINFO_VARS> m{};
  socklen_t len = sizeof m;
  if (::getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, m.data(), &len) != 0) return 0;
  return m[SK_MEMINFO_DROPS];
}

}  // namespace sb::rtp
