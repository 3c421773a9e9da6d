#include "core/session.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace sb::core;

namespace {
struct Recorder {
  std::vector<std::string> events;
  void attach(Session& s) {
    s.subscribe([this](const Session&, const SessionEvent& e) {
      switch (e.type) {
        case SessionEvent::Type::connection_created: events.push_back("connectionCreated"); break;
        case SessionEvent::Type::connection_destroyed: events.push_back("connectionDestroyed"); break;
        case SessionEvent::Type::stream_created: events.push_back("streamCreated"); break;
        case SessionEvent::Type::stream_destroyed: events.push_back("streamDestroyed"); break;
        case SessionEvent::Type::signal: events.push_back("signal:" + std::string(e.signal_type)); break;
        default: events.push_back("other"); break;
      }
    });
  }
};
}  // namespace

TEST_CASE("a connection's streams are destroyed before the connection, in event order") {
  Session s("sid", "123456", MediaMode::routed, ArchiveMode::manual, "", 1);
  Recorder r;
  r.attach(s);
  auto* c = s.add_connection(ConnectionKind::sip, Role::publisher, "phone", 10);
  REQUIRE(c);
  std::string cid = c->id;
  Stream st;
  st.name = "SIP";
  auto* stream = s.add_stream(cid, st);
  REQUIRE(stream);
  CHECK(stream->connection_id == cid);
  CHECK(s.streams().size() == 1);
  CHECK(s.remove_connection(cid, DestroyReason::force_disconnected));
  CHECK(r.events == std::vector<std::string>{"connectionCreated", "streamCreated", "streamDestroyed", "connectionDestroyed"});
  CHECK(s.streams().empty());
  CHECK_FALSE(s.remove_connection(cid, DestroyReason::force_disconnected));
}

TEST_CASE("a stream needs an existing connection and a bounded count per connection") {
  Session s("sid", "k", MediaMode::routed, ArchiveMode::manual, "", 1);
  CHECK(s.add_stream("nope", Stream{}) == nullptr);
  auto* c = s.add_connection(ConnectionKind::client, Role::publisher, "", 1);
  std::string cid = c->id;
  for (std::size_t i = 0; i < Session::kMaxStreamsPerConnection; ++i) CHECK(s.add_stream(cid, Stream{}));
  CHECK(s.add_stream(cid, Stream{}) == nullptr);
}

TEST_CASE("a listener may unsubscribe itself while an event is dispatched") {
  Session s("sid", "k", MediaMode::routed, ArchiveMode::manual, "", 1);
  int calls = 0;
  std::uint64_t h = 0;
  h = s.subscribe([&](const Session& ses, const SessionEvent&) {
    ++calls;
    const_cast<Session&>(ses).unsubscribe(h);
  });
  s.signal("", "a", "b");
  s.signal("", "a", "b");
  CHECK(calls == 1);
}

TEST_CASE("a full session table evicts the heaviest project's oldest idle session: a flood from one project never evicts another's") {
  SessionTable t(4);
  REQUIRE(t.create("other-1", "other", MediaMode::routed, ArchiveMode::manual, "", 1));
  REQUIRE(t.create("other-2", "other", MediaMode::routed, ArchiveMode::manual, "", 2));
  for (int i = 0; i < 100; ++i)
    REQUIRE(t.create("flood-" + std::to_string(i), "flooder", MediaMode::routed, ArchiveMode::manual, "", 3 + i));
  CHECK(t.find("other-1"));  // the oldest sessions of the table, idle, yet never evicted
  CHECK(t.find("other-2"));
  CHECK(t.project_sessions("flooder") == 2);
  CHECK(t.find("flood-99"));
  CHECK(t.evicted() == 98);
  // Once the flooder's sessions are in use, the next one takes the oldest idle session of any
  // project rather than fail.
  t.find("flood-98")->add_connection(ConnectionKind::client, Role::publisher, "", 1);
  t.find("flood-99")->add_connection(ConnectionKind::client, Role::publisher, "", 1);
  REQUIRE(t.create("flood-100", "flooder", MediaMode::routed, ArchiveMode::manual, "", 200));
  CHECK_FALSE(t.find("other-1"));
  CHECK(t.refusal() == SessionTable::Refusal::none);
}

TEST_CASE("sessionsPerProject: at its cap a project's own oldest idle session goes, and when all are in use it is refused (project_full)") {
  SessionTable t(100, 2);
  REQUIRE(t.create("a", "k", MediaMode::routed, ArchiveMode::manual, "", 1));
  REQUIRE(t.create("b", "k", MediaMode::routed, ArchiveMode::manual, "", 2));
  REQUIRE(t.create("x", "other", MediaMode::routed, ArchiveMode::manual, "", 3));
  REQUIRE(t.create("c", "k", MediaMode::routed, ArchiveMode::manual, "", 4));  // a, its oldest idle one, goes
  CHECK_FALSE(t.find("a"));
  CHECK(t.find("b"));
  CHECK(t.find("x"));
  CHECK(t.project_sessions("k") == 2);
  t.find("b")->add_connection(ConnectionKind::client, Role::publisher, "", 1);
  t.find("c")->add_connection(ConnectionKind::client, Role::publisher, "", 1);
  CHECK(t.create("d", "k", MediaMode::routed, ArchiveMode::manual, "", 5) == nullptr);
  CHECK(t.refusal() == SessionTable::Refusal::project_full);
  CHECK(t.create("y", "other", MediaMode::routed, ArchiveMode::manual, "", 6));  // another project is not affected
}

TEST_CASE("the session table evicts the oldest idle session at its limit and never a busy one") {
  SessionTable t(2);
  auto* a = t.create("a", "k", MediaMode::routed, ArchiveMode::manual, "", 1);
  REQUIRE(a);
  a->add_connection(ConnectionKind::client, Role::publisher, "", 1);
  REQUIRE(t.create("b", "k", MediaMode::routed, ArchiveMode::manual, "", 2));
  REQUIRE(t.create("c", "k", MediaMode::routed, ArchiveMode::manual, "", 3));  // evicts b (a is busy)
  CHECK(t.find("a"));
  CHECK_FALSE(t.find("b"));
  CHECK(t.find("c"));
  CHECK(t.evicted() == 1);
  t.find("c")->add_connection(ConnectionKind::client, Role::publisher, "", 1);
  CHECK(t.create("d", "k", MediaMode::routed, ArchiveMode::manual, "", 4) == nullptr);  // all busy
}
