// The shard runtime: pinning shard threads to CPUs (Runtime::start(pin)).
#include "runtime/load_meter.hpp"
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

TEST_CASE("load meter: a thread's CPU share over the last second, from its samples") {
  using namespace std::chrono;
  runtime::LoadMeter m;
  const auto t0 = steady_clock::time_point{} + hours(1);
  CHECK(m.busy() == 0);  // no window yet
  m.sample(t0, 0ms);
  CHECK(m.busy() == 0);
  // 250 ms periods: 100 ms of CPU in each → 40 %.
  for (int i = 1; i <= 4; ++i) m.sample(t0 + i * 250ms, i * 100ms);
  CHECK(m.busy() == doctest::Approx(0.4));
  // Then a second fully busy: the window (the last 4 periods) forgets the quiet start.
  for (int i = 5; i <= 8; ++i) m.sample(t0 + i * 250ms, 400ms + (i - 4) * 250ms);
  CHECK(m.busy() == doctest::Approx(1.0));
  // A sample late by a long busy stretch (the thread could not sample while it ran) counts it.
  m.sample(t0 + 8 * 250ms + 3s, 1400ms + 3s);
  CHECK(m.busy() > 0.9);
  // Readings never exceed a whole core (clock granularity) nor go below zero.
  m.sample(t0 + 8 * 250ms + 3s + 10ms, 1400ms + 3s + 50ms);
  CHECK(m.busy() <= 1.0);
}

TEST_CASE("load meter: thread_cpu_now counts this thread's own work only") {
  const auto a = runtime::thread_cpu_now();
  volatile double x = 0;
  for (int i = 0; i < 20'000'000; ++i) x = x + i * 0.5;
  const auto used = runtime::thread_cpu_now() - a;
  CHECK(used > std::chrono::milliseconds(1));
  std::thread idle([] { std::this_thread::sleep_for(std::chrono::milliseconds(50)); });
  const auto before = runtime::thread_cpu_now();
  idle.join();  // waiting costs (almost) nothing
  CHECK(runtime::thread_cpu_now() - before < std::chrono::milliseconds(20));
}
