#include "core/session.hpp"

#include "base/crypto.hpp"

#include <algorithm>

namespace sb::core {

std::string_view to_string(DestroyReason r) {
  switch (r) {
    case DestroyReason::client_disconnected: return "clientDisconnected";
    case DestroyReason::force_disconnected: return "forceDisconnected";
    case DestroyReason::network_disconnected: return "networkDisconnected";
    case DestroyReason::call_ended: return "clientDisconnected";
    case DestroyReason::force_unpublished: return "forceUnpublished";
  }
  return "clientDisconnected";
}

Session::Session(std::string id, std::string api_key, MediaMode mode, ArchiveMode archive, std::string location,
                 std::int64_t created_ms)
    : id_(std::move(id)), api_key_(std::move(api_key)), mode_(mode), archive_(archive),
      location_(std::move(location)), created_ms_(created_ms) {}

std::vector<std::string_view> permissions_of(Role r) {
  switch (r) {
    case Role::subscriber: return {"subscribe"};
    case Role::publisheronly: return {"publish"};
    case Role::publisher: return {"publish", "subscribe"};
    case Role::moderator: return {"publish", "subscribe", "forceunpublish", "forcedisconnect", "forcemute"};
  }
  return {};
}
bool may_publish(Role r) { return r != Role::subscriber; }
bool may_subscribe(Role r) { return r != Role::publisheronly; }
bool may_moderate(Role r) { return r == Role::moderator; }

const StreamChannel* Stream::channel(std::string_view cid) const {
  for (const auto& c : channels)
    if (c.id == cid) return &c;
  return nullptr;
}

const Connection* Session::add_connection(ConnectionKind kind, Role role, std::string data, std::int64_t now_ms,
                                          std::string id) {
  if (connections_.size() >= kMaxConnections) return nullptr;
  Connection c{id.empty() ? uuid_v4() : std::move(id), kind, role, std::move(data), now_ms};
  auto [it, ok] = connections_.emplace(c.id, std::move(c));
  if (!ok) return nullptr;
  SessionEvent ev{SessionEvent::Type::connection_created};
  ev.connection = &it->second;
  emit(ev);
  return &it->second;
}

bool Session::remove_connection(std::string_view connection_id, DestroyReason reason) {
  auto it = connections_.find(connection_id);
  if (it == connections_.end()) return false;
  // Streams go first, as clients expect streamDestroyed before connectionDestroyed.
  std::vector<std::string> owned;
  for (const auto& s : streams_)
    if (s.connection_id == connection_id) owned.push_back(s.id);
  for (const auto& sid : owned) remove_stream(sid, reason);
  it = connections_.find(connection_id);  // listeners may have changed the map
  if (it == connections_.end()) return true;
  Connection gone = std::move(it->second);
  connections_.erase(it);
  SessionEvent ev{SessionEvent::Type::connection_destroyed};
  ev.connection = &gone;
  ev.reason = reason;
  emit(ev);
  return true;
}

const Stream* Session::add_stream(std::string_view connection_id, Stream s) {
  auto c = connections_.find(connection_id);
  if (c == connections_.end()) return nullptr;
  auto owned = std::count_if(streams_.begin(), streams_.end(),
                             [&](const Stream& x) { return x.connection_id == connection_id; });
  if (static_cast<std::size_t>(owned) >= kMaxStreamsPerConnection) return nullptr;
  if (s.id.empty()) s.id = uuid_v4();
  s.connection_id = std::string(connection_id);
  streams_.push_back(std::move(s));
  // Copy for the event: a listener adding a stream would reallocate the vector under us.
  Stream copy = streams_.back();
  SessionEvent ev{SessionEvent::Type::stream_created};
  ev.stream = &copy;
  ev.connection = &c->second;
  emit(ev);
  return find_stream(copy.id);
}

bool Session::remove_stream(std::string_view stream_id, DestroyReason reason) {
  auto it = std::find_if(streams_.begin(), streams_.end(), [&](const Stream& s) { return s.id == stream_id; });
  if (it == streams_.end()) return false;
  Stream gone = std::move(*it);
  streams_.erase(it);
  SessionEvent ev{SessionEvent::Type::stream_destroyed};
  ev.stream = &gone;
  ev.connection = find_connection(gone.connection_id);
  ev.reason = reason;
  emit(ev);
  return true;
}

bool Session::update_channel(std::string_view stream_id, std::string_view channel_id, const StreamChannel& patch,
                             unsigned changed) {
  auto it = std::find_if(streams_.begin(), streams_.end(), [&](const Stream& s) { return s.id == stream_id; });
  if (it == streams_.end()) return false;
  auto ch = std::find_if(it->channels.begin(), it->channels.end(), [&](const StreamChannel& c) { return c.id == channel_id; });
  if (ch == it->channels.end()) return false;
  if (changed & ch_active) ch->active = patch.active;
  if (changed & ch_width) ch->width = patch.width;
  if (changed & ch_height) ch->height = patch.height;
  if (changed & ch_orientation) ch->orientation = patch.orientation;
  if (changed & ch_frame_rate) ch->frame_rate = patch.frame_rate;
  if (changed & ch_source) ch->source = patch.source;
  if (changed & ch_fit_mode) ch->fit_mode = patch.fit_mode;
  if (ch->type == "audio") it->has_audio = ch->active;
  if (ch->type == "video") it->has_video = ch->active;
  // Copies for the event: a listener may change the stream list.
  Stream copy = *it;
  StreamChannel ch_copy = *ch;
  SessionEvent ev{SessionEvent::Type::stream_channel_updated};
  ev.stream = &copy;
  ev.connection = find_connection(copy.connection_id);
  ev.channel = &ch_copy;
  ev.changed = changed;
  emit(ev);
  return true;
}

void Session::signal(std::string_view to_connection, std::string_view type, std::string_view data,
                     std::string_view from_connection) {
  SessionEvent ev{SessionEvent::Type::signal};
  ev.signal_type = type;
  ev.signal_data = data;
  ev.signal_to = to_connection;
  ev.signal_from = from_connection;
  emit(ev);
}

bool Session::force_mute(std::string_view stream_id, bool active, const std::vector<std::string>& excluded) {
  SessionEvent ev{SessionEvent::Type::mute};
  ev.mute_active = active;
  ev.mute_excluded = &excluded;
  if (!stream_id.empty()) {
    const Stream* s = find_stream(stream_id);
    if (!s) return false;
    Stream copy = *s;
    ev.stream = &copy;
    ev.connection = find_connection(copy.connection_id);
    emit(ev);
    return true;
  }
  mute_on_entry_ = active;
  emit(ev);
  return true;
}

const Connection* Session::find_connection(std::string_view id) const {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : &it->second;
}

const Stream* Session::find_stream(std::string_view id) const {
  for (const auto& s : streams_)
    if (s.id == id) return &s;
  return nullptr;
}

std::vector<const Stream*> Session::streams() const {
  std::vector<const Stream*> out;
  out.reserve(streams_.size());
  for (const auto& s : streams_) out.push_back(&s);
  return out;
}

std::uint64_t Session::subscribe(SessionListener l) {
  auto h = next_listener_++;
  listeners_.emplace_back(h, std::make_shared<SessionListener>(std::move(l)));
  return h;
}

void Session::unsubscribe(std::uint64_t handle) {
  std::erase_if(listeners_, [&](const auto& p) { return p.first == handle; });
}

void Session::emit(const SessionEvent& ev) const {
  // Snapshot: a listener may unsubscribe itself or others while we iterate.
  auto snapshot = listeners_;
  for (const auto& [h, l] : snapshot) (*l)(*this, ev);
}

std::size_t SessionTable::project_sessions(std::string_view api_key) const {
  auto it = per_project_.find(api_key);
  return it == per_project_.end() ? 0 : it->second;
}

bool SessionTable::evict_idle(std::string_view api_key) {
  auto victim = std::find_if(order_.begin(), order_.end(), [&](const std::string& sid) {
    auto it = sessions_.find(sid);
    return it != sessions_.end() && it->second->connection_count() == 0 &&
           (api_key.empty() || it->second->api_key() == api_key);
  });
  if (victim == order_.end()) return false;
  auto it = sessions_.find(*victim);
  auto pp = per_project_.find(it->second->api_key());
  if (pp != per_project_.end() && --pp->second == 0) per_project_.erase(pp);
  sessions_.erase(it);
  order_.erase(victim);
  ++evicted_;
  return true;
}

Session* SessionTable::create(std::string id, std::string api_key, MediaMode mode, ArchiveMode archive,
                              std::string location, std::int64_t created_ms) {
  refusal_ = Refusal::none;
  if (project_limit_ != 0 && project_sessions(api_key) >= project_limit_) {
    if (!evict_idle(api_key)) {
      refusal_ = Refusal::project_full;
      return nullptr;
    }
  } else if (sessions_.size() >= limit_) {
    // The heaviest project gives up its oldest idle session; sessions with connections are
    // never evicted.
    std::string_view heaviest;
    std::size_t most = 0;
    for (const auto& [key, n] : per_project_)
      if (n > most) most = n, heaviest = key;
    if (!evict_idle(heaviest) && !evict_idle({})) {
      refusal_ = Refusal::full;
      return nullptr;
    }
  }
  auto s = std::make_unique<Session>(id, api_key, mode, archive, std::move(location), created_ms);
  auto* raw = s.get();
  if (!sessions_.emplace(id, std::move(s)).second) {
    refusal_ = Refusal::full;
    return nullptr;
  }
  order_.push_back(std::move(id));
  ++per_project_[std::move(api_key)];
  return raw;
}

Session* SessionTable::find(std::string_view id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

}  // namespace sb::core
