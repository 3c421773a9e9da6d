#include "runtime/runtime.hpp"

#include "base/log.hpp"

#include <pthread.h>
#include <sched.h>

namespace sb::runtime {
namespace {
thread_local Shard* t_current = nullptr;
}

Shard::Shard(unsigned id) : id_(id), ctx_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO) {}

bool Shard::is_current() const { return t_current == this; }

Runtime::Runtime(unsigned shards) {
  if (shards == 0) shards = 1;
  for (unsigned i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>(i));
}

Runtime::~Runtime() {
  stop();
  join();
}

unsigned Runtime::shard_index(std::string_view key, unsigned shards) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<unsigned>(h % (shards ? shards : 1));
}

void Runtime::start(bool pin) {
  std::vector<int> cpus;
  if (pin) {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof allowed, &allowed) == 0)
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  }
  for (auto& s : shards_) {
    s->guard_.emplace(s->ctx_.get_executor());
    threads_.emplace_back([shard = s.get()] {
      t_current = shard;
      log::set_thread_shard(static_cast<int>(shard->id()));
      for (;;) {
        try {
          shard->ctx_.run();
          break;
        } catch (const std::exception& e) {
          // A handler threw: that is a bug, but one bad request must not take the shard down.
          log::error("runtime", "uncaught exception on shard {}: {}", shard->id(), e.what());
        }
      }
      t_current = nullptr;
    });
    if (!cpus.empty()) {
      const int cpu = cpus[s->id() % cpus.size()];
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      if (const int e = ::pthread_setaffinity_np(threads_.back().native_handle(), sizeof one, &one); e != 0)
        log::warn("runtime", "shard {}: cannot pin to CPU {} (error {})", s->id(), cpu, e);
      else
        log::info("runtime", "shard {} pinned to CPU {}", s->id(), cpu);
    }
  }
}

void Runtime::stop() {
  for (auto& s : shards_) {
    s->guard_.reset();
    s->ctx_.stop();
  }
}

void Runtime::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

Shard* Runtime::current() { return t_current; }

}  // namespace sb::runtime
