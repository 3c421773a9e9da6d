// The session operations behind REST dial and force-disconnect (src/http/session_ops.cpp), against
// the in-process server and a far end that never answers: which webhooks a refused dial leaves
// behind, and what a forced hang-up tells session monitoring.
#include "http/shard_services.hpp"
#include "runtime/load_meter.hpp"
#include "runtime/runtime.hpp"
#include "support/sip_fixture.hpp"

#include <doctest/doctest.h>

#include <future>
#include <functional>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

// A UDP socket on 127.0.0.1 that takes INVITEs and never answers (nor lets the kernel send ICMP
// port-unreachable): a call to it stays in its INVITE transaction until Timer B (64*T1).
struct SilentPeer {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  std::uint16_t port = 0;
  SilentPeer() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~SilentPeer() { ::close(fd); }
  std::string uri() const { return fmt::format("sip:nobody@127.0.0.1:{};transport=udp", port); }
};

// Every event of the fixture's receiver must belong to this one call (its ID, connection, stream).
void check_only_call(Fixture& f, const json::object& call) {
  int created = 0, destroyed = 0;
  for (auto& e : f.hooks.events()) {
    const std::string_view name = e.at("event").as_string();
    CAPTURE(name);
    if (name.starts_with("call")) {
      CHECK(e.at("call").as_object().at("id").as_string() == call.at("id").as_string());
      created += name == "callCreated";
      destroyed += name == "callDestroyed";
    } else if (name.starts_with("connection")) {
      CHECK(e.at("connection").as_object().at("id").as_string() == call.at("connectionId").as_string());
    } else if (name.starts_with("stream")) {
      CHECK(e.at("stream").as_object().at("id").as_string() == call.at("streamId").as_string());
    }
  }
  CHECK(created == 1);
  CHECK(destroyed == 1);
}

}  // namespace

TEST_CASE("a dial refused at the shard's call limit answers 503 and leaves no webhook for its call") {
  SilentPeer far;
  // T1 = 50 ms: the first call gives up after Timer B = 3.2 s.
  Fixture f(50ms, [](app::Config& c) { c.sip.max_calls_per_shard = 1; });
  auto first = f.dial(far.uri());
  REQUIRE_MESSAGE(first.status == 200, first.body);
  auto call = json::parse(first.body).as_object();
  auto refused = f.dial(far.uri());
  CHECK(refused.status == 503);
  // Session-monitoring and call events share the receiver's one ordered queue: once the first
  // call's callDestroyed is in, anything queued for the refused dial would be in as well.
  REQUIRE(f.wait_destroyed(15s));
  check_only_call(f, call);
}

TEST_CASE("a dial refused for want of an RTP port answers 503 and leaves no webhook for its call") {
  SilentPeer far;
  // One shard, one RTP/RTCP port pair: room for one leg.
  Fixture f(50ms, [](app::Config& c) {
    c.media.rtp_port_min = 47310;
    c.media.rtp_port_max = 47311;
  });
  auto first = f.dial(far.uri());
  REQUIRE_MESSAGE(first.status == 200, first.body);
  auto call = json::parse(first.body).as_object();
  auto refused = f.dial(far.uri());
  CHECK(refused.status == 503);
  REQUIRE(f.wait_destroyed(15s));
  check_only_call(f, call);
}

TEST_CASE("a dial to a saturated shard is refused with 503 (overload), and accepted once it has room") {
  SilentPeer far;
  Fixture f(50ms, [](app::Config& c) { c.limits.shard_busy_percent = 80; });
  auto& shard = f.server->app.shard(0);
  auto& svc = f.server->app.services(0);
  // The shard's load meter reads its thread's CPU through an injectable source: make the thread
  // look fully busy (CPU time advancing with the wall clock), on the shard's own thread — real
  // busy-spinning would depend on how much of a core the machine lends the test.
  auto on_shard = [&](std::function<void()> fn) {
    std::promise<void> p;
    boost::asio::post(shard.executor(), [&] {
      fn();
      p.set_value();
    });
    p.get_future().wait();
  };
  on_shard([&] {
    svc.thread_cpu = [start = std::chrono::steady_clock::now(), base = runtime::thread_cpu_now()] {
      return base + std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
    };
  });
  std::this_thread::sleep_for(1500ms);  // a whole window of "busy" samples
  auto refused = f.dial(far.uri());
  CHECK(refused.status == 503);
  CHECK(refused.body.find("busy") != std::string::npos);
  auto metrics = f.server->call(verb::get, "/metrics", "", {}, "").body;
  CHECK(metrics.find("\nswitchboard_dials_refused_busy_total 1\n") != std::string::npos);
  // Back to the real thread CPU: within a second of quiet the shard takes calls again.
  on_shard([&] { svc.thread_cpu = runtime::thread_cpu_now; });
  std::this_thread::sleep_for(1500ms);
  auto accepted = f.dial(far.uri());
  CHECK_MESSAGE(accepted.status == 200, accepted.body);
}

namespace {
// The destroy reason session monitoring gave for this call's connection and stream.
std::pair<std::string, std::string> destroy_reasons(Fixture& f) {
  std::pair<std::string, std::string> out;
  for (auto& e : f.hooks.events()) {
    const std::string_view name = e.at("event").as_string();
    if (name == "connectionDestroyed") out.first = e.at("reason").as_string();
    if (name == "streamDestroyed") out.second = e.at("reason").as_string();
  }
  return out;
}
}  // namespace

TEST_CASE("interop: REST force-disconnect of an answered SIP connection: session monitoring says forceDisconnected") {
  Sipp uas("uas_answer_wait_bye.xml");
  Fixture f;
  auto r = f.dial(uri_for(uas));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  REQUIRE(f.wait_state("ACTIVE"));
  CHECK(f.force_disconnect(call.at("connectionId").as_string()).status == 204);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(f.call_events().back() == "callDestroyed:700");  // BYE: the call itself ended normally
  CHECK(destroy_reasons(f) == std::pair<std::string, std::string>{"forceDisconnected", "forceDisconnected"});
}

TEST_CASE("interop: REST force-disconnect of an unanswered SIP connection: forceDisconnected once the INVITE gives up") {
  SilentPeer far;
  Fixture f(50ms);  // Timer B = 3.2 s: the call cannot be CANCELled (no provisional) and times out
  auto r = f.dial(far.uri());
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  CHECK(f.force_disconnect(call.at("connectionId").as_string()).status == 204);
  REQUIRE(f.wait_destroyed(15s));
  CHECK(f.call_events().back() == "callDestroyed:487");
  CHECK(destroy_reasons(f) == std::pair<std::string, std::string>{"forceDisconnected", "forceDisconnected"});
}

TEST_CASE("interop: a SIP call that ends by itself: session monitoring says clientDisconnected") {
  Sipp uas("uas_answer_bye.xml");  // the far end hangs up
  Fixture f;
  REQUIRE(f.dial(uri_for(uas)).status == 200);
  REQUIRE(f.wait_destroyed());
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(destroy_reasons(f) == std::pair<std::string, std::string>{"clientDisconnected", "clientDisconnected"});
}

TEST_CASE("a full webhook queue never refuses a call's callDestroyed; a dial without room for it is refused") {
  SilentPeer far;
  // Room for 3 events on the shard; a receiver that takes 2 s per answer, so the queue fills.
  // The call gives up on its INVITE at Timer B (3.2 s) and ends with 408.
  Fixture f(50ms, [](app::Config& c) { c.webhooks.queue_limit = 3; });
  f.hooks.set_answer_delay(2s);
  auto r = f.dial(far.uri());
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto call = json::parse(r.body).as_object();
  // The first call holds room for its callDestroyed: no room is left for another call's pair.
  auto refused = f.dial(far.uri());
  CHECK(refused.status == 503);
  CHECK(refused.body.find("Webhook queue full") != std::string::npos);
  // Session events and callUpdated overflow while the call runs and ends; callDestroyed does not.
  REQUIRE(f.wait_destroyed(20s));
  auto events = f.hooks.events();
  CHECK(events.back().at("call").as_object().at("id").as_string() == call.at("id").as_string());
  auto metrics = f.server->call(verb::get, "/metrics", "", {}, "");
  CHECK(metrics.body.find("switchboard_webhook_dropped_total{cause=\"overflow\"} 0") == std::string::npos);
}
