// One browser client (OpenTok.js) on its Rumor WebSocket: the Raptor v2 state machine of
// ../shared/OPENTOK-CLIENT.md §3-§7, between the socket and the session model. Sans-I/O: frames
// come in through `on_frame`, frames go out through a Sink the WebSocket layer implements
// (bounded queue, src/signaling/websocket.cpp), so tests drive it without sockets.
//
// A Client lives on the shard that owns its session and touches only that shard's objects. The
// session's events (connections, streams, signals, mutes, from REST, SIP or other clients) reach
// it as a core::Session listener and leave as Raptor messages; relayed (P2P) sessions' JSEP
// messages are forwarded client to client through the shard's ClientHub.
#pragma once
#include "core/session.hpp"
#include "http/shard_services.hpp"
#include "signaling/raptor.hpp"
#include "signaling/rumor.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sb::webrtc { class Router; }

namespace sb::signaling {

struct ClientOptions {
  // The Rumor address of "the server" (anvil's symphony_address). The client hides connections
  // whose id starts with `symphony.` (OPENTOK-CLIENT.md §2).
  std::string symphony_address = "symphony.switchboard";
  // Server-to-client JSEP candidates a P2P publisher sends before its offer are held (the
  // subscriber would drop them, §6.2 step 4) up to this many per subscription.
  std::size_t max_held_candidates = 64;
  // Requests a client may make per second (bursts up to twice that); beyond: STATUS 429.
  unsigned requests_per_second = 100;
};

struct ClientStats {
  std::uint64_t connects = 0, connect_failures = 0, frames_in = 0, frames_out = 0, malformed = 0;
  std::uint64_t requests = 0, request_errors = 0, rate_limited = 0, jsep_relayed = 0, logging_posts = 0;
  std::uint64_t slow_consumers = 0;
};

class Client;
class SessionAudio;

// Per shard: the clients of each session on this shard and the P2P relays between a publisher
// and each subscriber. Only the shard's thread touches it.
class ClientHub {
 public:
  struct Relay {  // one P2P subscription (relayed sessions, §6.2)
    std::string stream_id, subscriber_id, publisher_conn, subscriber_conn, uri;
    bool offer_forwarded = false;
    std::vector<std::string> held;  // the publisher's candidates that came before its offer
  };

  void add(const std::string& session_id, const std::string& connection_id, Client* c);
  void remove(const std::string& session_id, const std::string& connection_id);
  Client* find(std::string_view session_id, std::string_view connection_id) const;
  std::size_t size() const { return count_; }

  Relay* relay(std::string_view session_id, std::string_view subscriber_id);
  Relay& add_relay(const std::string& session_id, Relay r);
  void erase_relay(std::string_view session_id, std::string_view subscriber_id);
  // Every relay of the session for which `pred` holds is passed to `fn` and erased.
  template <class Pred, class Fn>
  void erase_relays_if(std::string_view session_id, Pred pred, Fn fn);

  // Drain: every client leaves (networkDisconnected to the others) and its socket closes.
  void close_all();

  ClientStats stats;
  // The shard's SFU for routed sessions; null when routed media is off.
  webrtc::Router* router = nullptr;
  // Where the SFU meets the session mix (browsers ↔ SIP parties); null without routed media.
  SessionAudio* audio = nullptr;

 private:
  std::map<std::string, std::map<std::string, Client*, std::less<>>, std::less<>> clients_;
  std::map<std::string, std::map<std::string, Relay, std::less<>>, std::less<>> relays_;
  std::size_t count_ = 0;
};

class Client {
 public:
  struct Sink {
    virtual ~Sink() = default;
    virtual void send(std::string frame) = 0;         // queue one Rumor frame
    virtual void close(std::uint16_t ws_code) = 0;    // send what is queued, then close
  };

  // `session_id`: the session named by the socket's URL; every request must be about it.
  Client(http::ShardServices& svc, ClientHub& hub, Sink& sink, std::string session_id, ClientOptions opts,
         std::int64_t (*now_ms)() = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One frame from the socket.
  void on_frame(const RumorFrame& f);
  // A frame that did not parse: counted and dropped (the socket stays up).
  void on_malformed();
  // The socket is gone. `clean`: the client said DISCONNECT or closed normally
  // (clientDisconnected); otherwise networkDisconnected. Idempotent.
  void on_closed(bool clean);
  // Drain: leave the session and close the socket.
  void shut_down();

  // Bound on one client's routed subscriptions (each is a peer connection on the SFU).
  static constexpr std::size_t kMaxSubscriptions = 64;

  bool connected() const { return connected_; }
  const std::string& connection_id() const { return connection_id_; }
  const std::string& session_id() const { return session_id_; }

  // A message another client (through the hub) or the server sends to this client.
  void send_message(std::string_view from, std::string_view payload);

 private:
  void handle_message(const RumorFrame& f);
  void reply(std::string_view transaction_id, unsigned status, std::string_view payload = {});
  void fail(std::string_view transaction_id, unsigned status, std::string_view reason);
  void on_session_event(const core::Session& ses, const core::SessionEvent& ev);
  void leave(core::DestroyReason reason);
  bool take_token();

  void connect(std::string_view tid, const RaptorUri& u, const RumorFrame& f, const RaptorMessage& m);
  void publish(std::string_view tid, const RaptorUri& u, const RaptorMessage& m);
  void unpublish(std::string_view tid, const RaptorUri& u);
  void update_channel(std::string_view tid, const RaptorUri& u, const RaptorMessage& m);
  void subscribe(std::string_view tid, const RaptorUri& u, const RaptorMessage& m);
  void unsubscribe(std::string_view tid, const RaptorUri& u);
  void jsep(std::string_view tid, const RaptorUri& u, const RaptorMessage& m, std::string_view payload);
  void signal(std::string_view tid, const RaptorUri& u, const RaptorMessage& m);
  void mute(std::string_view tid, const RaptorUri& u, const RaptorMessage& m);

  core::Session* session() const;
  // Routed sessions (the SFU): the publisher's offer, the subscriber's answer.
  void routed_offer(std::string_view tid, const RaptorUri& u, const RaptorMessage& m);
  void routed_answer(std::string_view tid, const RaptorUri& u, const RaptorMessage& m);
  void drop_media();
  std::string rkey(std::string_view id) const;

  http::ShardServices& svc_;
  ClientHub& hub_;
  Sink& sink_;
  std::string session_id_;
  ClientOptions opts_;
  std::int64_t (*now_ms_)();

  std::string unique_id_;      // CONNECT's uniqueId header
  std::string connection_id_;  // set by a successful connect
  std::string api_key_;
  core::Role role_ = core::Role::subscriber;
  bool connected_ = false, closed_ = false;
  std::uint64_t listener_ = 0;
  // Routed media this client owns: streams it publishes (pending until their media connects)
  // and its subscriptions (subscriber id → stream id).
  std::map<std::string, core::Stream, std::less<>> pending_streams_;
  std::set<std::string, std::less<>> routed_streams_;
  std::map<std::string, std::string, std::less<>> routed_subs_;
  std::set<std::string, std::less<>> published_;  // streams whose offer the SFU accepted
  std::size_t relays_ = 0;                         // P2P subscriptions made (bounded)
  // Token bucket for requests (opts_.requests_per_second).
  double tokens_ = 0;
  std::int64_t last_refill_ms_ = 0;
};

template <class Pred, class Fn>
void ClientHub::erase_relays_if(std::string_view session_id, Pred pred, Fn fn) {
  auto it = relays_.find(session_id);
  if (it == relays_.end()) return;
  for (auto r = it->second.begin(); r != it->second.end();) {
    if (pred(r->second)) {
      Relay gone = std::move(r->second);
      r = it->second.erase(r);
      fn(gone);
    } else {
      ++r;
    }
  }
  if (it->second.empty()) relays_.erase(it);
}

}  // namespace sb::signaling
