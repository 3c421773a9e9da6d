#include "rtp/receive_mux.hpp"

#include "base/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <optional>
#include <string>

namespace sb::rtp {

namespace asio = boost::asio;
using udp = asio::ip::udp;

asio::execution_context::id ReceiveMux::id;

namespace {
// What the exception being handled says (inside a catch block only).
std::string current_exception_text() noexcept {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "not a std::exception";
  }
}
}  // namespace

struct ReceiveMux::Impl {
  static constexpr std::size_t k_slot = k_max_datagram + k_headroom;

  struct Slot {
    std::shared_ptr<Sink> sink;  // empty: free
    int fd = -1;
    int channel = 0;
    std::uint32_t gen = 1;  // bumped on remove, so a stale handle or a ready event finds nothing
    bool queued = false;    // in `again`: its next turn is booked (never twice)
  };

  int epfd = -1;
  std::optional<asio::posix::stream_descriptor> set;  // epfd as the io_context sees it
  bool started = false, stopping = false;
  bool broken = false;  // the set can no longer be waited on: add() refuses, every sink was told
  std::vector<Slot> slots;
  std::vector<std::uint32_t> free_slots;
  std::vector<Handle> again, round;  // sockets that had more waiting than one turn takes
  Stats stats;

  // recvmmsg's vectors, reused for every call.
  std::vector<std::uint8_t> bufs = std::vector<std::uint8_t>(k_batch * k_slot);
  std::array<mmsghdr, k_batch> msgs{};
  std::array<iovec, k_batch> iov{};
  std::array<sockaddr_storage, k_batch> addrs{};

  Impl() {
    epfd = ::epoll_create1(EPOLL_CLOEXEC);
    for (unsigned i = 0; i < k_batch; ++i) {
      iov[i].iov_base = bufs.data() + i * k_slot;
      iov[i].iov_len = k_max_datagram;  // the headroom stays free for the sink
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &addrs[i];
    }
    again.reserve(64);
    round.reserve(64);
  }
  ~Impl() {
    if (!set && epfd >= 0) ::close(epfd);  // once watched, shutdown() closed it with `set`
  }

  static Handle handle(std::uint32_t index, std::uint32_t gen) {
    return (static_cast<Handle>(gen) << 32) | (static_cast<Handle>(index) + 1);
  }
  Slot* find(Handle h) {
    const auto index = static_cast<std::uint32_t>(h & 0xffffffffu);
    if (index == 0 || index > slots.size()) return nullptr;
    Slot& s = slots[index - 1];
    return s.sink && s.gen == static_cast<std::uint32_t>(h >> 32) ? &s : nullptr;
  }

  void remove(Handle h) noexcept {
    Slot* s = find(h);
    if (!s) return;
    ::epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, nullptr);  // fails only if the fd is gone already
    auto sink = std::move(s->sink);  // released last: its destructor may remove other handles
    s->fd = -1;
    s->queued = false;
    ++s->gen;
    free_slots.push_back(static_cast<std::uint32_t>(h & 0xffffffffu) - 1);
    --stats.sockets;
  }

  // Tells a sink about an error; false (and the socket removed) when it does not carry on, or
  // throws: a sink's failure never reaches the loop, which serves the shard's other sockets.
  bool report(Handle h, const std::shared_ptr<Sink>& sink, int channel, const boost::system::error_code& ec) noexcept {
    bool carry_on = false;
    try {
      carry_on = sink->on_receive_error(channel, ec);
    } catch (...) {
      log::error("rtp", "media receive: an error handler threw");
    }
    if (!carry_on) remove(h);
    return carry_on;
  }

  // Reads what `h` has waiting, at most k_max_per_wake datagrams. False when it may have more.
  bool drain(Handle h) {
    unsigned taken = 0;
    while (taken < k_max_per_wake) {
      Slot* s = find(h);
      if (!s) return true;
      std::shared_ptr<Sink> sink = s->sink;  // alive through its callbacks, even if it stops
      const int channel = s->channel;
      for (auto& m : msgs) {
        m.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        m.msg_hdr.msg_flags = 0;
        m.msg_len = 0;
      }
      const int r = ::recvmmsg(s->fd, msgs.data(), k_batch, MSG_DONTWAIT, nullptr);
      ++stats.recv_calls;
      if (r < 0) {
        const int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) return true;
        if (e == EINTR) continue;
        ++taken;  // an error that repeats (ICMP reports) still ends the turn
        if (!report(h, sink, channel, boost::system::error_code(e, boost::system::system_category()))) return true;
        continue;
      }
      for (int i = 0; i < r; ++i) {
        if (!find(h)) return true;  // the sink stopped on an earlier datagram: drop the rest
        const auto& hdr = msgs[i].msg_hdr;
        if (hdr.msg_flags & MSG_TRUNC) {
          if (!report(h, sink, channel, asio::error::message_size)) return true;
          continue;
        }
        udp::endpoint from;
        const std::size_t len = std::min<std::size_t>(hdr.msg_namelen, from.capacity());
        std::memcpy(from.data(), &addrs[i], len);
        from.resize(len);
        ++stats.datagrams;
        // A sink must not throw (the packet path never does by design); if one does anyway (no
        // memory), only that socket stops: its sink hears why, the shard's other legs go on.
        try {
          sink->on_receive(std::span<std::uint8_t>(bufs.data() + i * k_slot, k_slot), msgs[i].msg_len, from, channel);
        } catch (...) {
          log::error("rtp", "media receive: a datagram's handler threw: {}", current_exception_text());
          report(h, sink, channel, boost::system::errc::make_error_code(boost::system::errc::state_not_recoverable));
          remove(h);  // even if its error handler would carry on
          return true;
        }
      }
      taken += static_cast<unsigned>(r);
      if (r < static_cast<int>(k_batch)) return true;  // fewer than asked: the socket is empty
    }
    return false;
  }

  // One turn for `h`; if it has more waiting it books its next turn (once) in `again`. A socket
  // whose next turn is already booked waits for it.
  void turn(Handle h) {
    if (Slot* s = find(h); !s || s->queued) return;
    if (drain(h)) return;
    if (Slot* s = find(h)) {
      s->queued = true;
      again.push_back(h);
    }
  }

  // Every socket epoll reports ready, each once; those with more waiting go to `again`.
  void poll_ready() {
    std::array<epoll_event, k_events> ev;
    for (;;) {
      const int n = ::epoll_wait(epfd, ev.data(), k_events, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      for (int i = 0; i < n; ++i) turn(ev[i].data.u64);
      if (n < k_events) return;
    }
  }

  asio::awaitable<void> run(asio::any_io_executor ex) {
    while (!stopping) {
      // Asio waits on the set with EPOLL_CTL_MOD, which re-reads its readiness: a datagram that
      // came after the last epoll_wait above still wakes us (no lost edge).
      auto [ec] = co_await set->async_wait(asio::posix::stream_descriptor::wait_read,
                                           asio::as_tuple(asio::use_awaitable));
      if (stopping) co_return;
      if (ec) {
        fail_all(ec);
        co_return;
      }
      ++stats.wakeups;
      poll_ready();
      // A socket that had more than a turn's worth waits for the rest of the shard's work (SIP,
      // timers, the mix tick) and for every socket that turned ready meanwhile (polled first in
      // each round), so one flooded socket delays the others by one turn at most.
      while (!again.empty() && !stopping) {
        co_await asio::post(ex, asio::use_awaitable);
        if (stopping) co_return;
        round.swap(again);
        for (Handle h : round)
          if (Slot* s = find(h)) s->queued = false;
        poll_ready();
        for (Handle h : round) {
          ++stats.requeued;
          turn(h);
        }
        round.clear();
      }
    }
  }

  // The set cannot be waited on any more (never seen; the kernel would have to refuse epoll):
  // every leg hears it as a receive failure (and ends its call) rather than going deaf.
  void fail_all(const boost::system::error_code& ec) {
    log::error("rtp", "media receive set failed: {}", ec.message());
    broken = true;
    for (std::uint32_t i = 0; i < slots.size(); ++i)
      if (slots[i].sink) {
        const Handle h = handle(i, slots[i].gen);
        const auto sink = slots[i].sink;  // a copy: the callback may grow `slots`
        report(h, sink, slots[i].channel, ec);
        remove(h);
      }
  }

  void start(const asio::any_io_executor& ex) {
    if (started || epfd < 0) return;
    started = true;
    boost::system::error_code ec;
    set.emplace(ex);
    set->assign(epfd, ec);
    if (ec) {
      log::error("rtp", "cannot watch the media receive set: {}", ec.message());
      set.reset();
      return;
    }
    asio::co_spawn(ex, run(ex), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log::error("rtp", "media receive loop ended: {}", x.what());
      }
    });
  }
};

ReceiveMux::ReceiveMux(asio::execution_context& ctx)
    : asio::execution_context::service(ctx), impl_(std::make_unique<Impl>()) {}

ReceiveMux::~ReceiveMux() = default;

ReceiveMux& ReceiveMux::of(const asio::any_io_executor& ex) {
  auto& mux = asio::use_service<ReceiveMux>(asio::query(ex, asio::execution::context));
  mux.impl_->start(ex);
  return mux;
}

ReceiveMux::Handle ReceiveMux::add(int fd, std::shared_ptr<Sink> sink, int channel, boost::system::error_code& ec) {
  auto& m = *impl_;
  ec.clear();
  if (m.epfd < 0 || !m.set || m.stopping || m.broken) {
    ec = asio::error::bad_descriptor;
    return 0;
  }
  std::uint32_t index;
  if (!m.free_slots.empty()) {
    index = m.free_slots.back();
    m.free_slots.pop_back();
  } else {
    index = static_cast<std::uint32_t>(m.slots.size());
    m.slots.emplace_back();
  }
  auto& s = m.slots[index];
  const Handle h = Impl::handle(index, s.gen);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;  // edge: each datagram that arrives reports the socket once
  ev.data.u64 = h;
  if (::epoll_ctl(m.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ec.assign(errno, boost::system::system_category());
    m.free_slots.push_back(index);
    return 0;
  }
  s.sink = std::move(sink);
  s.fd = fd;
  s.channel = channel;
  ++m.stats.sockets;
  // Datagrams queued before now are not lost to the edge trigger: EPOLL_CTL_ADD polls the socket
  // and reports it at once if it is readable.
  return h;
}

void ReceiveMux::remove(Handle h) noexcept { impl_->remove(h); }

void ReceiveMux::inject_error(Handle h, boost::system::error_code ec) {
  if (!impl_->set) return;
  asio::post(impl_->set->get_executor(), [this, h, ec] {
    auto& m = *impl_;
    auto* s = m.find(h);
    if (!s) return;
    auto sink = s->sink;
    m.report(h, sink, s->channel, ec);
  });
}

ReceiveMux::Stats ReceiveMux::stats() const noexcept { return impl_->stats; }

void ReceiveMux::shutdown() {
  auto& m = *impl_;
  m.stopping = true;
  if (m.set) {
    // Closed now, while every service of the io_context still exists (the reactor may be
    // destroyed before this service is).
    boost::system::error_code ignored;
    m.set->close(ignored);
    m.set.reset();
    m.epfd = -1;
  }
  // Release the sinks (legs still registered when their io_context goes) outside the table.
  std::vector<std::shared_ptr<Sink>> sinks;
  for (auto& s : m.slots)
    if (s.sink) sinks.push_back(std::move(s.sink));
  m.slots.clear();
  m.free_slots.clear();
  m.stats.sockets = 0;
  sinks.clear();
}

}  // namespace sb::rtp
