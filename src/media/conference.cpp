#include "media/conference.hpp"

#include "base/log.hpp"

#include <boost/asio.hpp>

#include <algorithm>

namespace sb::media {
namespace asio = boost::asio;
using Clock = mix::Participant::Clock;

Conference::Conference(asio::any_io_executor ex, std::string session_id, ConferenceOptions opt)
    : ex_(ex), session_id_(std::move(session_id)), opt_(opt) {}

Conference::~Conference() = default;

std::uint32_t Conference::join(mix::Participant* p, std::string key, bool anchor, std::string stream) {
  const std::uint32_t id = next_id_++;
  if (stream.empty()) stream = key;
  end_relay();  // a third voice needs the mix (re-checked at the next tick)
  parts_.push_back(Part{id, p, std::move(key), anchor, {}, nullptr, std::move(stream)});
  hears_stale_ = true;
  return id;
}

void Conference::leave(std::uint32_t id) {
  // The tap is destroyed after the participant is gone from parts_: its owner may act on that
  // (unpublish the stream it fed) without finding a half-erased vector.
  Tap gone;
  end_relay();  // before the leaver goes: its peer must stop forwarding to it
  for (auto it = parts_.begin(); it != parts_.end(); ++it) {
    if (it->id != id) continue;
    gone = std::move(it->tap);
    parts_.erase(it);
    hears_stale_ = true;
    break;
  }
}

bool Conference::anchored() const {
  return std::any_of(parts_.begin(), parts_.end(), [](const Part& p) { return p.anchor; });
}

Conference::Part* Conference::find(std::string_view key) {
  auto it = std::find_if(parts_.begin(), parts_.end(), [&](const Part& p) { return p.key == key; });
  return it == parts_.end() ? nullptr : &*it;
}

const Conference::Part* Conference::find(std::string_view key) const {
  auto it = std::find_if(parts_.begin(), parts_.end(), [&](const Part& p) { return p.key == key; });
  return it == parts_.end() ? nullptr : &*it;
}

bool Conference::set_tap(std::string_view key, Tap tap, mix::RelaySink* relay_sink) {
  auto* p = find(key);
  if (!p) return false;
  end_relay();  // the tap needs the decoded audio, or its sink takes over (re-checked next tick)
  p->tap = std::move(tap);
  p->tap_sink = p->tap ? relay_sink : nullptr;
  return true;
}

bool Conference::set_subset(std::string_view key, std::vector<std::string> streams) {
  auto* p = find(key);
  if (!p) return false;
  std::sort(streams.begin(), streams.end());
  streams.erase(std::unique(streams.begin(), streams.end()), streams.end());
  p->subset = 0;
  if (!streams.empty()) {
    // Equal lists get the same key, so their listeners share a mix (and an encode).
    p->subset = subsets_.try_emplace(streams, static_cast<std::uint32_t>(subsets_.size() + 1)).first->second;
  }
  p->hears = std::move(streams);
  hears_stale_ = true;
  end_relay();
  return true;
}

bool Conference::set_muted(std::string_view key, bool muted) {
  auto* p = find(key);
  if (!p) return false;
  p->muted = muted;
  if (muted) end_relay();  // at once: not one more packet of its audio goes through
  return true;
}

bool Conference::muted(std::string_view key) const {
  const auto* p = find(key);
  return p && p->muted;
}

bool Conference::has_tap(std::string_view key) const {
  const auto* p = find(key);
  return p && p->tap;
}

// Which participants each subset listener hears, by id: recomputed only when someone joins,
// leaves or changes its subset, not every tick.
void Conference::resolve_subsets() {
  for (auto& part : parts_) {
    part.hears_ids.clear();
    if (part.subset == 0) continue;
    for (const auto& q : parts_)
      if (q.id != part.id && std::binary_search(part.hears.begin(), part.hears.end(), q.stream))
        part.hears_ids.push_back(q.id);
  }
  hears_stale_ = false;
}

std::uint32_t Conference::codec_key(const mix::CodecConfig& c) {
  for (std::size_t i = 0; i < configs_.size(); ++i)
    if (configs_[i] == c) return static_cast<std::uint32_t>(i + 1);
  configs_.push_back(c);
  return static_cast<std::uint32_t>(configs_.size());
}

Conference::Pairing Conference::relay_possible(Clock::time_point now) const {
  if (!opt_.relay || parts_.size() != 2) return Pairing::none;
  for (const auto& part : parts_)
    if (part.muted || part.subset != 0) return Pairing::none;
  const auto a = parts_[0].p->relay_format(now), b = parts_[1].p->relay_format(now);
  if (!a || !b || *a != *b) return Pairing::none;
  const auto& x = parts_[0];
  const auto& y = parts_[1];
  if (x.anchor && y.anchor) return x.tap || y.tap ? Pairing::none : Pairing::sip_sip;
  if (x.anchor == y.anchor) return Pairing::none;  // two browsers: they hear each other through the SFU
  // A SIP leg and a browser: the browser sends 20 ms Opus packets (WebRTC's default ptime), so
  // the leg must send Opus at 20 ms too; what the leg receives goes to its tap's sink as it is.
  const auto& sip = x.anchor ? x : y;
  const auto* cfg = sip.p->send_config();
  if (a->codec != mix::CodecId::opus || !cfg || cfg->id != mix::CodecId::opus || cfg->frame_ms != 20)
    return Pairing::none;
  if (sip.tap && !sip.tap_sink) return Pairing::none;
  return Pairing::sip_browser;
}

void Conference::start_relay(Pairing how) {
  relaying_ = true;
  ++stats_.relay_starts;
  if (how == Pairing::sip_sip) {
    parts_[0].p->relay_to(parts_[1].p);
    parts_[1].p->relay_to(parts_[0].p);
    return;
  }
  auto& sip = parts_[0].anchor ? parts_[0] : parts_[1];
  auto& browser = parts_[0].anchor ? parts_[1] : parts_[0];
  browser.p->relay_to(sip.p);
  if (sip.tap_sink) sip.tap_sink->relay_begin();
  sip.p->relay_to(sip.tap_sink ? sip.tap_sink : &discard_);
}

void Conference::end_relay() {
  if (!relaying_) return;
  relaying_ = false;
  for (auto& part : parts_) part.p->relay_to(nullptr);
  next_relay_check_ = {};  // the next tick mixes
}

void Conference::on_clock(Clock::time_point now) {
  if (relaying_ && now < next_relay_check_) return;
  tick(now);
  if (relaying_) next_relay_check_ = now + opt_.relay_check;
}

void Conference::tick(Clock::time_point now) {
  const auto cpu0 = Clock::now();
  ++stats_.ticks;
  if (const auto how = relay_possible(now); how != Pairing::none) {
    if (!relaying_) start_relay(how);
    ++stats_.relay_ticks;
    for (auto& part : parts_) part.p->relay_tick(now);
    last_listeners_ = parts_.size();
    stats_.last_tick_cpu = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - cpu0);
    return;
  }
  end_relay();
  if (hears_stale_) resolve_subsets();
  inputs_.clear();
  listeners_.clear();
  listener_part_.clear();
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    auto& part = parts_[i];
    // A muted participant is still pulled (its jitter buffer keeps pace with the far end), but
    // its audio goes nowhere.
    const bool got = part.p->pull(now, part.frame) && !part.muted;
    if (part.tap) part.tap(got ? &part.frame : nullptr);
    if (got) {
      // Talker gate: quiet frames (line noise, a muted microphone, PLC fading out) do not enter
      // the mix, so a silent listener can share the full-mix encode with the other silent ones.
      if (mix::level_dbfs(part.frame) > opt_.gate_dbfs) part.talked = now;
      if (part.talked != Clock::time_point{} && now - part.talked <= opt_.hangover) {
        inputs_.push_back({part.id, &part.frame});
        ++stats_.contributions;
      }
    }
    if (const auto* cfg = part.p->send_config()) {
      mix::MixListener l{part.id, codec_key(*cfg)};
      if (part.subset != 0) {
        l.subset = part.subset;
        l.hears = part.hears_ids;
      }
      listeners_.push_back(l);
      listener_part_.push_back(i);
    }
  }
  last_listeners_ = listeners_.size();
  if (!listeners_.empty()) {
    std::array<std::uint8_t, mix::max_encoded_bytes> out;
    for (const auto& g : mixer_.mix(inputs_, listeners_)) {
      auto* leader = parts_[listener_part_[g.listeners.front()]].p;
      const int n = leader->encode(g.pcm, out);
      if (n < 0) {
        ++stats_.encode_errors;
        continue;
      }
      ++stats_.encodes;
      const std::span<const std::uint8_t> payload(out.data(), static_cast<std::size_t>(n));
      for (std::size_t k = 0; k < g.listeners.size(); ++k) {
        auto* p = parts_[listener_part_[g.listeners[k]]].p;
        if (k > 0) p->adopt_encoder_state(*leader);
        p->send(payload);
        ++stats_.sends;
      }
    }
  }
  const auto cpu = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - cpu0);
  stats_.last_tick_cpu = cpu;
  stats_.max_tick_cpu = std::max(stats_.max_tick_cpu, cpu);
}

ConferenceTable::ConferenceTable(asio::any_io_executor ex, ConferenceOptions opt) : ex_(ex), opt_(opt), timer_(ex) {}

ConferenceTable::~ConferenceTable() {
  *alive_ = false;
  timer_.cancel();
}

// The shard's media clock: start + k·tick. Runs while there is a room; a shard more than max_lag
// behind skips the missed ticks (counted in every room) rather than bursting them out.
asio::awaitable<void> ConferenceTable::clock(std::shared_ptr<bool> alive) {
  if (!*alive) co_return;
  auto next = Clock::now() + opt_.tick;
  while (*alive && !rooms_.empty()) {
    timer_.expires_at(next);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!*alive) co_return;
    const auto now = Clock::now();
    std::uint64_t missed = 0;
    if (now - next > opt_.max_lag) {
      missed = static_cast<std::uint64_t>((now - next) / opt_.tick);
      next += opt_.tick * static_cast<long>(missed);
    }
    // A room may go while others tick (a tap's owner reacting): tick a snapshot.
    ticking_.clear();
    for (auto& [id, room] : rooms_) ticking_.push_back(room);
    for (auto& room : ticking_) {
      if (missed) room->note_skipped(missed);
      // One room's failure (a tap's owner throwing) must not stop every room of the shard.
      try {
        room->on_clock(now);
      } catch (const std::exception& e) {
        ++tick_errors_;
        log::error("media", "conference {} tick failed: {}", room->session_id(), e.what());
      }
    }
    ticking_.clear();
    next += opt_.tick;
  }
  if (*alive) clock_running_ = false;  // the next room starts it again
}

std::shared_ptr<Conference> ConferenceTable::get_or_create(const std::string& session_id) {
  auto it = rooms_.find(session_id);
  if (it != rooms_.end()) return it->second;
  auto c = std::make_shared<Conference>(ex_, session_id, opt_);
  rooms_.emplace(session_id, c);
  if (!clock_running_) {
    clock_running_ = true;
    asio::co_spawn(ex_, clock(alive_), [this, alive = alive_](std::exception_ptr e) {
      if (!e) return;
      if (*alive) clock_running_ = false;  // the next room starts it again
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        log::error("media", "shard media clock ended: {}", x.what());
      }
    });
  }
  if (on_create) on_create(session_id, *c);
  return c;
}

std::shared_ptr<Conference> ConferenceTable::find(const std::string& session_id) const {
  auto it = rooms_.find(session_id);
  return it == rooms_.end() ? nullptr : it->second;
}

void ConferenceTable::release_if_empty(const std::string& session_id) {
  auto it = rooms_.find(session_id);
  if (it == rooms_.end() || it->second->anchored()) return;
  auto room = it->second;
  if (on_release && !room->empty()) on_release(session_id);
  skipped_released_ += room->stats().skipped_ticks;
  rooms_.erase(session_id);
}

std::size_t ConferenceTable::relaying() const {
  return static_cast<std::size_t>(
      std::count_if(rooms_.begin(), rooms_.end(), [](const auto& e) { return e.second->relaying(); }));
}

std::uint64_t ConferenceTable::skipped_ticks() const {
  std::uint64_t n = skipped_released_;
  for (const auto& [id, c] : rooms_) n += c->stats().skipped_ticks;
  return n;
}

}  // namespace sb::media
