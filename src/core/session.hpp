// The session model: a session (SPEC §4.2) with its connections and streams. A session lives on
// exactly one shard and is only ever touched from that shard's thread. Changes are announced to
// listeners (the client signaling channel, webhooks, the mixer) as SessionEvents, synchronously
// and in the order they happen.
#pragma once
#include "core/client_token.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sb::core {

enum class MediaMode { routed, relayed };
enum class ArchiveMode { manual, always };

enum class ConnectionKind {
  client,  // a browser/SDK client on the signaling channel
  sip,     // a dial-out SIP party (SPEC §2.2)
};

struct Connection {
  std::string id;  // uuid
  ConnectionKind kind = ConnectionKind::client;
  Role role = Role::publisher;
  std::string data;  // the token's connection_data
  std::int64_t created_ms = 0;
};

struct Stream {
  std::string id;  // uuid
  std::string connection_id;
  std::string name;
  std::string video_type;  // "camera" | "screen" | "" for audio-only (SIP) streams
  bool has_audio = true;
  bool has_video = false;
  std::vector<std::string> layout_classes;
  std::int64_t created_ms = 0;
};

// Why a connection went away, as OpenTok clients see it in connectionDestroyed.
enum class DestroyReason { client_disconnected, force_disconnected, network_disconnected, call_ended };
std::string_view to_string(DestroyReason);

struct SessionEvent {
  enum class Type { connection_created, connection_destroyed, stream_created, stream_destroyed, signal };
  Type type;
  const Connection* connection = nullptr;  // valid during the callback only
  const Stream* stream = nullptr;          // valid during the callback only
  DestroyReason reason = DestroyReason::client_disconnected;
  // signal: type/data and the target connection ("" = everyone)
  std::string_view signal_type, signal_data, signal_to;
};

class Session;
using SessionListener = std::function<void(const Session&, const SessionEvent&)>;

class Session {
 public:
  Session(std::string id, std::string api_key, MediaMode mode, ArchiveMode archive, std::string location,
          std::int64_t created_ms);

  const std::string& id() const { return id_; }
  const std::string& api_key() const { return api_key_; }
  MediaMode media_mode() const { return mode_; }
  ArchiveMode archive_mode() const { return archive_; }
  const std::string& location() const { return location_; }
  std::int64_t created_ms() const { return created_ms_; }

  // Bounds that keep one session from exhausting a shard.
  static constexpr std::size_t kMaxConnections = 10000;
  static constexpr std::size_t kMaxStreamsPerConnection = 4;

  // nullptr when a bound is hit.
  const Connection* add_connection(ConnectionKind kind, Role role, std::string data, std::int64_t now_ms);
  // Destroys the connection's streams first (streamDestroyed), then the connection.
  bool remove_connection(std::string_view connection_id, DestroyReason reason);
  const Stream* add_stream(std::string_view connection_id, Stream s);
  bool remove_stream(std::string_view stream_id, DestroyReason reason);
  void signal(std::string_view to_connection, std::string_view type, std::string_view data);

  const Connection* find_connection(std::string_view id) const;
  const Stream* find_stream(std::string_view id) const;
  // Streams in creation order.
  std::vector<const Stream*> streams() const;
  std::size_t connection_count() const { return connections_.size(); }

  // Returns a handle for unsubscribe. Listeners may (un)subscribe from inside a callback.
  std::uint64_t subscribe(SessionListener l);
  void unsubscribe(std::uint64_t handle);

 private:
  void emit(const SessionEvent& ev) const;

  std::string id_, api_key_;
  MediaMode mode_;
  ArchiveMode archive_;
  std::string location_;
  std::int64_t created_ms_;
  std::map<std::string, Connection, std::less<>> connections_;
  std::vector<Stream> streams_;  // creation order; few per session
  std::vector<std::pair<std::uint64_t, std::shared_ptr<SessionListener>>> listeners_;
  std::uint64_t next_listener_ = 1;
};

// The sessions of one shard. Bounded: when full, the oldest session without connections is
// evicted; if every session is in use, creation is refused.
class SessionTable {
 public:
  explicit SessionTable(std::size_t limit = 100000) : limit_(limit) {}
  // nullptr when the table is full of sessions in use.
  Session* create(std::string id, std::string api_key, MediaMode mode, ArchiveMode archive, std::string location,
                  std::int64_t created_ms);
  Session* find(std::string_view id);
  std::size_t size() const { return sessions_.size(); }
  std::size_t evicted() const { return evicted_; }
  template <class F>
  void for_each(F&& f) {
    for (auto& [id, s] : sessions_) f(*s);
  }

 private:
  std::size_t limit_;
  std::size_t evicted_ = 0;
  std::map<std::string, std::unique_ptr<Session>, std::less<>> sessions_;
  std::vector<std::string> order_;  // creation order, for eviction
};

}  // namespace sb::core
