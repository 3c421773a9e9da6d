// The shard runtime: one io_context per core, each run by exactly one thread (Seastar's model on
// Asio). A shard owns everything of the sessions hashed to it; nothing is shared between shards
// and nothing is locked. Work crosses shards only as posted, owned data (`on_shard` below).
#pragma once
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

namespace sb::runtime {

class Shard {
 public:
  explicit Shard(unsigned id);
  unsigned id() const { return id_; }
  boost::asio::io_context& context() { return ctx_; }
  boost::asio::any_io_executor executor() { return ctx_.get_executor(); }
  // True when called from this shard's own thread.
  bool is_current() const;

 private:
  friend class Runtime;
  unsigned id_;
  // Concurrency hint BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO: Asio drops the reactor's
  // per-descriptor locks (taken on every socket operation), keeping the scheduler's (other
  // shards post work here) and the registration lock (timers stay locked). Safe because every
  // socket of a shard is opened before the threads start (App::start binds the listeners, then
  // Runtime::start) or on the shard's own thread, and only that thread operates on it afterwards
  // (a WebSocket moving shards travels as a raw descriptor, adopted on its new shard; sockets
  // are destroyed after join()). A hint of 1 alone keeps every lock: it only tells the scheduler
  // that one thread runs it.
  boost::asio::io_context ctx_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
};

class Runtime {
 public:
  explicit Runtime(unsigned shards);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  unsigned size() const { return static_cast<unsigned>(shards_.size()); }
  Shard& shard(unsigned i) { return *shards_[i]; }
  // The shard that owns a session: a stable hash (FNV-1a) of its ID, so every request about a
  // session, from whichever shard it arrived on, lands on the same thread.
  Shard& owner_of(std::string_view session_id) { return *shards_[shard_index(session_id, size())]; }
  static unsigned shard_index(std::string_view key, unsigned shards);

  // Starts one thread per shard. Each keeps running until stop(). With `pin`, shard i's thread
  // is bound to the i-th CPU this process may use (sched_getaffinity; wrapping when there are
  // more shards than CPUs): no migrations, warm caches, and media ticks that do not wander —
  // for a machine dedicated to the server. A failure to pin is logged and the thread runs on.
  void start(bool pin = false);
  // Lets every io_context run out of work, then stops it; join() waits for the threads.
  void stop();
  void join();
  // The shard whose thread is calling, or nullptr from any other thread.
  static Shard* current();

 private:
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::thread> threads_;
};

// Runs `task` on `target` and resumes the caller on its own executor with the result: the one
// way a coroutine asks another shard to do work (the task owns its parameters by value).
template <class T>
boost::asio::awaitable<T> on_shard(Shard& target, boost::asio::awaitable<T> task) {
  co_return co_await boost::asio::co_spawn(target.executor(), std::move(task), boost::asio::use_awaitable);
}

}  // namespace sb::runtime
