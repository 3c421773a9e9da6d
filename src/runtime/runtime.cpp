#include "runtime/runtime.hpp"

#include "base/log.hpp"

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

void Runtime::start() {
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
