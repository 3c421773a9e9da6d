// The Raptor state machine of one browser client, driven frame by frame with an in-memory sink
// (no sockets): what OpenTok.js would see for each request and session event.
#include "signaling/client.hpp"

#include "base/clock.hpp"
#include "core/client_token.hpp"
#include "core/session_id.hpp"
#include "http/session_ops.hpp"
#include "runtime/runtime.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <deque>

using namespace sb;
using namespace sb::signaling;
namespace json = boost::json;

namespace {

constexpr const char* kKey = "123456";
constexpr const char* kSecret = "1234567890abcdef1234567890abcdef1234567890";

// A received frame, owned.
struct Sent {
  RumorType type;
  std::map<std::string, std::string> headers;
  std::string payload;
  json::object msg() const { return json::parse(payload).as_object(); }
  std::string method() const { return std::string(msg().at("method").as_string()); }
  std::string uri() const { return std::string(msg().at("uri").as_string()); }
};

struct FakeSink : Client::Sink {
  std::deque<Sent> frames;
  int closed_with = 0;
  void send(std::string frame) override {
    auto p = parse_rumor(frame);
    REQUIRE(p);
    Sent s{p.frame.type, {}, std::string(p.frame.payload)};
    for (std::size_t i = 0; i < p.frame.header_count; ++i)
      s.headers[std::string(p.frame.headers[i].key)] = std::string(p.frame.headers[i].value);
    frames.push_back(std::move(s));
  }
  void close(std::uint16_t code) override { closed_with = code; }
  // The next MESSAGE whose method is `method` (dropping others before it), or nullopt.
  std::optional<Sent> next(std::string_view method) {
    while (!frames.empty()) {
      Sent s = std::move(frames.front());
      frames.pop_front();
      if (s.type == RumorType::message && s.method() == method) return s;
    }
    return std::nullopt;
  }
  std::optional<Sent> status(std::string_view tid) {
    for (auto it = frames.begin(); it != frames.end(); ++it)
      if (it->type == RumorType::status && it->headers["TRANSACTION-ID"] == tid) {
        Sent s = *it;
        frames.erase(it);
        return s;
      }
    return std::nullopt;
  }
};

struct Fixture {
  runtime::Shard shard{0};
  http::ShardServices svc{shard, [] {
                            core::ProjectTable t;
                            t.add(core::Project{kKey, kSecret, "", {}});
                            return t;
                          }(),
                          100, http::WebhookOptions{}};
  ClientHub hub;
  std::string sid;
  core::Session* session = nullptr;
  int tids = 0;

  explicit Fixture(core::MediaMode mode = core::MediaMode::relayed) {
    sid = core::make_session_id(kKey, "", unix_ms());
    session = svc.sessions.create(sid, kKey, mode, core::ArchiveMode::manual, "", unix_ms());
  }
  std::string token(core::Role role, std::string data = "") {
    const auto now = unix_ms() / 1000;
    return core::make_jwt_token(kKey, kSecret, sid, role, now, now + 3600, data, "n");
  }
  std::string base() const { return session_uri(kKey, sid); }

  // Sends one MESSAGE; returns its transaction id.
  std::string request(Client& c, const std::string& method, const std::string& uri, json::object content = {},
                      std::string token = {}) {
    std::string tid = "t" + std::to_string(++tids), out;
    std::vector<RumorHeader> hdrs{{"TRANSACTION-ID", tid}, {"Content-Type", kRaptorContentType}};
    if (!token.empty()) hdrs.push_back({"X-TB-TOKEN-AUTH", token});
    write_rumor(out, RumorType::message, {}, hdrs, serialize_raptor(method, uri, content));
    auto p = parse_rumor(out);
    c.on_frame(p.frame);
    return tid;
  }
  void frame(Client& c, RumorType t, std::vector<RumorHeader> hdrs = {}) {
    std::string out;
    write_rumor(out, t, {}, hdrs, "");
    c.on_frame(parse_rumor(out).frame);
  }
};

struct Party {
  FakeSink sink;
  std::unique_ptr<Client> client;
  std::string id;
  Party(Fixture& f, std::string cid) : id(std::move(cid)) {
    client = std::make_unique<Client>(f.svc, f.hub, sink, f.sid, ClientOptions{});
  }
  // CONNECT, SUBSCRIBE, connections.create (OPENTOK-CLIENT.md §3.3); returns the STATUS.
  Sent connect(Fixture& f, core::Role role, std::string data = "") {
    f.frame(*client, RumorType::connect, {{"uniqueId", id}, {"TRANSACTION-ID", "c"}});
    f.frame(*client, RumorType::subscribe);
    auto tid = f.request(*client, "create", f.base() + "/connection/" + id, {}, f.token(role, data));
    auto st = sink.status(tid);
    REQUIRE(st);
    return *st;
  }
};

}  // namespace

TEST_CASE("client: connect answers the session state and announces the connection to everyone, itself included") {
  Fixture f;
  Party a(f, "aaaa-1"), b(f, "bbbb-2");
  auto st = a.connect(f, core::Role::moderator, "name=A");
  CHECK(st.headers["STATUS"] == "200");
  auto state = json::parse(st.payload).as_object();
  CHECK(state.at("stream").is_array());   // without these two the client hangs (§5)
  CHECK(state.at("archive").is_array());
  auto self = a.sink.next("created");
  REQUIRE(self);
  CHECK(self->uri() == f.base() + "/connection/aaaa-1");
  CHECK(self->msg().at("content").at("data") == "name=A");
  CHECK(self->msg().at("content").at("permissions").as_array().size() == 5);

  st = b.connect(f, core::Role::publisher);
  CHECK(st.headers["STATUS"] == "200");
  // B's state lists A; A hears of B.
  auto conns = json::parse(st.payload).at("connection").as_array();
  CHECK(conns.size() == 2);
  auto seen = a.sink.next("created");
  REQUIRE(seen);
  CHECK(seen->uri() == f.base() + "/connection/bbbb-2");
  CHECK(seen->msg().at("content").at("permissions") == json::array{"publish", "subscribe"});
  CHECK(f.session->find_connection("bbbb-2"));
}

TEST_CASE("client: a bad token, a foreign uniqueId or a taken id is refused with an error STATUS and no connection") {
  Fixture f;
  Party a(f, "aaaa-1");
  f.frame(*a.client, RumorType::connect, {{"uniqueId", "aaaa-1"}});
  auto tid = f.request(*a.client, "create", f.base() + "/connection/aaaa-1", {}, "T1==garbage");
  auto st = a.sink.status(tid);
  REQUIRE(st);
  CHECK(st->headers["STATUS"] == "403");
  CHECK(json::parse(st->payload).at("reason").as_string().starts_with("Invalid token"));
  tid = f.request(*a.client, "create", f.base() + "/connection/other", {}, f.token(core::Role::publisher));
  CHECK(a.sink.status(tid)->headers["STATUS"] == "400");
  CHECK(f.session->connection_count() == 0);
  // Requests before connecting are refused.
  tid = f.request(*a.client, "signal", f.base() + "/signal/1", {{"type", "x"}, {"data", "y"}});
  CHECK(a.sink.status(tid)->headers["STATUS"] == "403");

  Party b(f, "bbbb-2"), b2(f, "bbbb-2");
  CHECK(b.connect(f, core::Role::publisher).headers["STATUS"] == "200");
  CHECK(b2.connect(f, core::Role::publisher).headers["STATUS"] == "409");
}

TEST_CASE("client: every PING is answered with a PONG") {
  Fixture f;
  Party a(f, "a");
  f.frame(*a.client, RumorType::ping);
  REQUIRE(a.sink.frames.size() == 1);
  CHECK(a.sink.frames[0].type == RumorType::pong);
}

TEST_CASE("client: signals reach everyone (sender included) or one connection, from the sender or from the server") {
  Fixture f;
  Party a(f, "a"), b(f, "b"), c(f, "c");
  a.connect(f, core::Role::publisher);
  b.connect(f, core::Role::publisher);
  c.connect(f, core::Role::publisher);
  auto tid = f.request(*a.client, "signal", f.base() + "/signal/s1", {{"type", "chat"}, {"data", "hi"}});
  CHECK(a.sink.status(tid)->headers["STATUS"] == "200");
  for (auto* p : {&a, &b, &c}) {
    auto s = p->sink.next("signal");
    REQUIRE(s);
    CHECK(s->headers["X-TB-FROM-ADDRESS"] == "a");
    CHECK(s->msg().at("content").at("type") == "chat");
    CHECK(s->msg().at("content").at("data") == "hi");
  }
  tid = f.request(*a.client, "signal", f.base() + "/connection/b/signal/s2", {{"type", "dm"}, {"data", "psst"}});
  CHECK(a.sink.status(tid)->headers["STATUS"] == "200");
  CHECK(b.sink.next("signal"));
  CHECK_FALSE(a.sink.next("signal"));
  CHECK_FALSE(c.sink.next("signal"));
  // From REST: the from-address header is present and empty, so the client says from = null.
  REQUIRE(http::send_signal(f.svc, *f.session, "", "", "news", "x").ok());
  auto s = c.sink.next("signal");
  REQUIRE(s);
  REQUIRE(s->headers.count("X-TB-FROM-ADDRESS"));
  CHECK(s->headers["X-TB-FROM-ADDRESS"].empty());
  // Limits and target checks.
  tid = f.request(*a.client, "signal", f.base() + "/signal/s3", {{"type", "bad type!"}, {"data", ""}});
  CHECK(a.sink.status(tid)->headers["STATUS"] == "400");
  tid = f.request(*a.client, "signal", f.base() + "/signal/s4", {{"type", "t"}, {"data", std::string(8193, 'x')}});
  CHECK(a.sink.status(tid)->headers["STATUS"] == "413");
  tid = f.request(*a.client, "signal", f.base() + "/connection/nobody/signal/s5", {{"type", "t"}, {"data", ""}});
  CHECK(a.sink.status(tid)->headers["STATUS"] == "404");
}

namespace {
json::object camera_stream(const std::string& id) {
  return json::object{{"id", id},
                      {"name", "cam"},
                      {"channel", json::array{json::object{{"id", "audio1"}, {"type", "audio"}, {"active", true}},
                                              json::object{{"id", "video1"}, {"type", "video"}, {"active", true},
                                                           {"width", 640}, {"height", 480}, {"source", "camera"}}}}};
}
}  // namespace

TEST_CASE("client: relayed publish and subscribe relay the JSEP between the two browsers, early candidates held") {
  Fixture f;
  Party pub(f, "pub"), sub(f, "sub");
  pub.connect(f, core::Role::publisher);
  sub.connect(f, core::Role::subscriber);
  auto tid = f.request(*pub.client, "create", f.base() + "/stream/st1", camera_stream("st1"));
  CHECK(pub.sink.status(tid)->headers["STATUS"] == "200");
  // connection#created for both parties first, then stream#created completes the publish.
  auto created = pub.sink.next("created");
  while (created && created->uri() != f.base() + "/stream/st1") created = pub.sink.next("created");
  REQUIRE(created);
  CHECK(created->uri() == f.base() + "/stream/st1");
  CHECK(created->msg().at("content").at("channel").as_array().size() == 2);
  CHECK(sub.sink.next("created"));

  const std::string suri = f.base() + "/stream/st1/subscriber/sb1";
  tid = f.request(*sub.client, "create", suri, {{"id", "sb1"}, {"channel", json::array{}}});
  CHECK(sub.sink.status(tid)->headers["STATUS"] == "200");
  auto gen = pub.sink.next("generateoffer");
  REQUIRE(gen);
  CHECK(gen->uri() == suri);
  CHECK(gen->headers["X-TB-FROM-ADDRESS"] == "sub");
  CHECK(gen->msg().at("content").at("sourceStreamId") == "P2P");

  // The publisher trickles candidates before its offer: the subscriber gets them after the offer.
  f.request(*pub.client, "candidate", suri, {{"candidate", "c1"}});
  f.request(*pub.client, "candidate", suri, {{"candidate", "c2"}});
  CHECK_FALSE(sub.sink.next("candidate"));
  f.request(*pub.client, "offer", suri, {{"type", "offer"}, {"sdp", "v=0"}});
  auto offer = sub.sink.next("offer");
  REQUIRE(offer);
  CHECK(offer->headers["X-TB-FROM-ADDRESS"] == "pub");
  CHECK(sub.sink.next("candidate"));
  CHECK(sub.sink.next("candidate"));
  f.request(*sub.client, "answer", suri, {{"type", "answer"}, {"sdp", "v=0"}});
  auto answer = pub.sink.next("answer");
  REQUIRE(answer);
  CHECK(answer->headers["X-TB-FROM-ADDRESS"] == "sub");
  // Unsubscribing tells the publisher to drop that peer connection.
  tid = f.request(*sub.client, "delete", suri);
  CHECK(sub.sink.status(tid)->headers["STATUS"] == "200");
  auto gone = pub.sink.next("deleted");
  REQUIRE(gone);
  CHECK(gone->uri() == suri);
}

TEST_CASE("client: moderation — forceDisconnect, forceUnpublish and forceMute need the moderator role") {
  Fixture f;
  Party mod(f, "mod"), pub(f, "pub");
  mod.connect(f, core::Role::moderator);
  pub.connect(f, core::Role::publisher);
  f.request(*pub.client, "create", f.base() + "/stream/st1", camera_stream("st1"));
  pub.sink.frames.clear();
  mod.sink.frames.clear();

  // A publisher may not moderate.
  auto tid = f.request(*pub.client, "delete", f.base() + "/connection/mod");
  CHECK(pub.sink.status(tid)->headers["STATUS"] == "403");

  tid = f.request(*mod.client, "update", f.base() + "/stream/st1",
                  {{"reason", "mute"}, {"active", true}, {"channels", json::array{"audio"}}});
  CHECK(mod.sink.status(tid)->headers["STATUS"] == "200");
  auto mute = pub.sink.next("update");
  REQUIRE(mute);
  CHECK(mute->uri() == f.base() + "/stream/st1");
  CHECK(mute->msg().at("content").at("reason") == "mute");
  // The publisher obeys with its own channel update, echoed to everyone.
  f.request(*pub.client, "update", f.base() + "/stream/st1/channel/audio1", {{"active", false}});
  auto echo = mod.sink.next("updated");
  REQUIRE(echo);
  CHECK(echo->uri() == f.base() + "/stream/st1/channel/audio1");
  CHECK(echo->msg().at("content") == json::object{{"active", false}});
  CHECK_FALSE(f.session->find_stream("st1")->has_audio);

  tid = f.request(*mod.client, "delete", f.base() + "/stream/st1");
  CHECK(mod.sink.status(tid)->headers["STATUS"] == "200");
  auto unpub = pub.sink.next("deleted");
  REQUIRE(unpub);
  CHECK(unpub->msg().at("reason") == "forceUnpublished");

  tid = f.request(*mod.client, "delete", f.base() + "/connection/pub");
  CHECK(mod.sink.status(tid)->headers["STATUS"] == "200");
  auto kicked = pub.sink.next("deleted");
  REQUIRE(kicked);
  CHECK(kicked->uri() == f.base() + "/connection/pub");
  CHECK(kicked->msg().at("reason") == "forceDisconnected");
  CHECK(pub.sink.closed_with == 1000);
  CHECK_FALSE(f.session->find_connection("pub"));
  CHECK(mod.sink.next("deleted"));  // the moderator sees it go too
}

TEST_CASE("client: DISCONNECT or a lost socket removes the client's streams, then its connection") {
  Fixture f;
  Party a(f, "a"), b(f, "b");
  a.connect(f, core::Role::publisher);
  b.connect(f, core::Role::publisher);
  f.request(*a.client, "create", f.base() + "/stream/st1", camera_stream("st1"));
  b.sink.frames.clear();
  f.frame(*a.client, RumorType::disconnect, {{"reconnect", ""}});
  auto s = b.sink.next("deleted");
  REQUIRE(s);
  CHECK(s->uri() == f.base() + "/stream/st1");
  auto c = b.sink.next("deleted");
  REQUIRE(c);
  CHECK(c->uri() == f.base() + "/connection/a");
  CHECK(c->msg().at("reason") == "clientDisconnected");
  CHECK(f.hub.size() == 1);

  Party d(f, "d");
  d.connect(f, core::Role::publisher);
  b.sink.frames.clear();
  d.client->on_closed(/*clean=*/false);
  auto n = b.sink.next("deleted");
  REQUIRE(n);
  CHECK(n->msg().at("reason") == "networkDisconnected");
}

TEST_CASE("client: routed publishing is refused plainly when the server has no SFU (routed media off)") {
  Fixture f(core::MediaMode::routed);
  Party a(f, "a");
  a.connect(f, core::Role::publisher);
  auto tid = f.request(*a.client, "create", f.base() + "/stream/st1", camera_stream("st1"));
  auto st = a.sink.status(tid);
  REQUIRE(st);
  CHECK(st->headers["STATUS"] == "501");
  CHECK_FALSE(f.session->find_stream("st1"));
}

TEST_CASE("client: a flood of requests is refused past the rate limit; malformed messages get 400") {
  Fixture f;
  Party a(f, "a");
  a.connect(f, core::Role::publisher);
  int limited = 0;
  for (int i = 0; i < 400; ++i) {
    auto tid = f.request(*a.client, "signal", f.base() + "/signal/x", {{"type", "t"}, {"data", ""}});
    if (a.sink.status(tid)->headers["STATUS"] == "429") ++limited;
  }
  CHECK(limited > 100);
  CHECK(f.hub.stats.rate_limited == static_cast<std::uint64_t>(limited));
}
