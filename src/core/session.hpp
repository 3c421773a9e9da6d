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
  std::string id;  // uuid (a browser client chooses its own, OPENTOK-CLIENT.md §4.2)
  ConnectionKind kind = ConnectionKind::client;
  Role role = Role::publisher;
  std::string data;  // the token's connection_data
  std::int64_t created_ms = 0;
};

// What a role may do, as the client checks it (OPENTOK-CLIENT.md §5): lower-case names.
// subscriber = subscribe; publisher/publisheronly = publish (+ subscribe for publisher);
// moderator = everything.
std::vector<std::string_view> permissions_of(Role r);
bool may_publish(Role r);
bool may_subscribe(Role r);
bool may_moderate(Role r);  // forceDisconnect, forceUnpublish, forceMute

// One media channel of a stream, as OpenTok.js describes it in stream#created (`channel[]`) and
// changes it with stream_channel updates (publishAudio/Video, video dimensions).
struct StreamChannel {
  std::string id;    // "audio1", "video1", "caption1"
  std::string type;  // "audio", "video", "data"
  bool active = true;
  int width = 0, height = 0, orientation = 0;
  double frame_rate = 0;
  std::string source;    // video: "camera" | "screen" | "custom"
  std::string fit_mode;  // video: "cover" | "contain"
};

// Which attributes of a channel an update changed (the echo repeats exactly those).
enum ChannelField : unsigned {
  ch_active = 1, ch_width = 2, ch_height = 4, ch_orientation = 8, ch_frame_rate = 16, ch_source = 32, ch_fit_mode = 64,
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
  std::vector<StreamChannel> channels;  // SIP: one active "audio1"
  bool publisher_audio_fallback = false, subscriber_audio_fallback = false;
  const StreamChannel* channel(std::string_view id) const;
};

// Why a connection went away, as OpenTok clients see it in connectionDestroyed.
enum class DestroyReason { client_disconnected, force_disconnected, network_disconnected, call_ended, force_unpublished };
std::string_view to_string(DestroyReason);

struct SessionEvent {
  enum class Type {
    connection_created, connection_destroyed, stream_created, stream_destroyed,
    stream_channel_updated,  // `stream`, `channel`, `changed` (ChannelField bits)
    signal,                  // signal_*: from "" = the server (REST), to "" = everyone
    mute,                    // force mute: `stream` (nullptr = the whole session, minus `mute_excluded`)
  };
  Type type;
  const Connection* connection = nullptr;  // valid during the callback only
  const Stream* stream = nullptr;          // valid during the callback only
  DestroyReason reason = DestroyReason::client_disconnected;
  std::string_view signal_type, signal_data, signal_to, signal_from;
  const StreamChannel* channel = nullptr;
  unsigned changed = 0;
  bool mute_active = true;
  const std::vector<std::string>* mute_excluded = nullptr;
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

  // nullptr when a bound is hit or `id` is already taken. An empty id gets a fresh uuid.
  const Connection* add_connection(ConnectionKind kind, Role role, std::string data, std::int64_t now_ms,
                                   std::string id = {});
  // Destroys the connection's streams first (streamDestroyed), then the connection.
  bool remove_connection(std::string_view connection_id, DestroyReason reason);
  const Stream* add_stream(std::string_view connection_id, Stream s);
  bool remove_stream(std::string_view stream_id, DestroyReason reason);
  // Applies `patch`'s fields named by `changed` to the stream's channel `channel_id` and
  // announces the change; false when either is unknown.
  bool update_channel(std::string_view stream_id, std::string_view channel_id, const StreamChannel& patch,
                      unsigned changed);
  // from "" = the server (REST); to "" = every connection.
  void signal(std::string_view to_connection, std::string_view type, std::string_view data,
              std::string_view from_connection = {});
  // Force mute (SPEC §4.x mute, OPENTOK-CLIENT.md §7): asks the owner of `stream_id` (or of every
  // stream but `excluded` when stream_id is empty) to mute its audio. The session remembers a
  // session-wide mute so streams published later start muted (mute-on-entry).
  bool force_mute(std::string_view stream_id, bool active, const std::vector<std::string>& excluded = {});
  bool muted_on_entry() const { return mute_on_entry_; }

  const Connection* find_connection(std::string_view id) const;
  const Stream* find_stream(std::string_view id) const;
  // Streams in creation order.
  std::vector<const Stream*> streams() const;
  std::size_t connection_count() const { return connections_.size(); }
  template <class F>
  void for_each_connection(F&& f) const {
    for (const auto& [id, c] : connections_) f(c);
  }

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
  bool mute_on_entry_ = false;
};

// The sessions of one shard. Bounded: when full, an idle session (no connections) is evicted —
// the oldest of the project that holds the most sessions, so a project creating sessions in a
// loop evicts its own, never another project's while it has idle ones of its own; if every
// session is in use, creation is refused. `project_limit` (0: none) caps one project's sessions
// on the shard: at the cap its own oldest idle session goes, or creation is refused.
class SessionTable {
 public:
  explicit SessionTable(std::size_t limit = 100000, std::size_t project_limit = 0)
      : limit_(limit), project_limit_(project_limit) {}
  enum class Refusal { none, full, project_full };
  // nullptr when the table (or the project's share) is full of sessions in use; refusal() says
  // which.
  Session* create(std::string id, std::string api_key, MediaMode mode, ArchiveMode archive, std::string location,
                  std::int64_t created_ms);
  Refusal refusal() const { return refusal_; }
  std::size_t project_sessions(std::string_view api_key) const;
  Session* find(std::string_view id);
  std::size_t size() const { return sessions_.size(); }
  std::size_t evicted() const { return evicted_; }
  template <class F>
  void for_each(F&& f) {
    for (auto& [id, s] : sessions_) f(*s);
  }

 private:
  // Evicts the oldest idle session of `api_key` (any project when empty); false if none.
  bool evict_idle(std::string_view api_key);

  std::size_t limit_, project_limit_;
  std::size_t evicted_ = 0;
  Refusal refusal_ = Refusal::none;
  std::map<std::string, std::unique_ptr<Session>, std::less<>> sessions_;
  std::vector<std::string> order_;  // creation order, for eviction
  std::map<std::string, std::size_t, std::less<>> per_project_;  // api key → sessions held
};

}  // namespace sb::core
