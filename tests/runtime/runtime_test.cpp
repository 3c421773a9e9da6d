// The shard runtime: pinning shard threads to CPUs (Runtime::start(pin)).
#include "runtime/runtime.hpp"

#include <doctest/doctest.h>

#include <boost/asio/post.hpp>

#include <future>
#include <vector>

#include <pthread.h>
#include <sched.h>

using namespace sb;

namespace {
std::vector<int> cpus_of_this_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (::pthread_getaffinity_np(::pthread_self(), sizeof set, &set) != 0) return out;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) out.push_back(c);
  return out;
}
std::vector<int> shard_cpus(runtime::Runtime& rt, unsigned i) {
  std::promise<std::vector<int>> p;
  auto f = p.get_future();
  boost::asio::post(rt.shard(i).executor(), [&p] { p.set_value(cpus_of_this_thread()); });
  REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  return f.get();
}
}  // namespace

TEST_CASE("runtime: pinned shards run each on one CPU of those allowed, in order; unpinned ones may use them all") {
  const auto allowed = cpus_of_this_thread();
  REQUIRE_FALSE(allowed.empty());
  {
    runtime::Runtime rt(3);
    rt.start(true);
    for (unsigned i = 0; i < 3; ++i) CHECK(shard_cpus(rt, i) == std::vector<int>{allowed[i % allowed.size()]});
    rt.stop();
    rt.join();
  }
  runtime::Runtime rt(2);
  rt.start(false);
  CHECK(shard_cpus(rt, 1) == allowed);
  rt.stop();
  rt.join();
}
