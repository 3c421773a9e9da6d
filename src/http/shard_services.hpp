// What one shard owns for the HTTP layer: its copy of the project table, its sessions, its
// webhook sender and its counters. Only the shard's own thread touches it.
#pragma once
#include "runtime/load_meter.hpp"
#include "core/project.hpp"
#include "core/session.hpp"
#include "http/webhook.hpp"
#include "runtime/runtime.hpp"
#include "sip/user_agent.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sb::http {

struct RestCounters {
  std::uint64_t requests = 0;
  std::uint64_t by_class[6] = {};  // 1xx..5xx answers, index = status / 100
  std::uint64_t auth_failures = 0;
  // The "auth rejected" log line is written at most once a second per shard (a flood of bad JWTs
  // must not become a flood of log lines); the next one says how many went unlogged.
  std::int64_t auth_logged_ms = -1000000;
  std::uint64_t auth_unlogged = 0;
  std::uint64_t sessions_created = 0;
  std::uint64_t dial_requests = 0;
  std::uint64_t dial_rejected = 0;
  std::uint64_t dials_refused_busy = 0;  ///< 503: the shard's CPU was saturated (limits.shardBusyPercent)
  std::uint64_t signals = 0;
  std::uint64_t force_disconnects = 0;
  std::uint64_t calls_by_outcome[3] = {};  // [0] answered then ended normally, [1] failed, [2] other
};

// What a new SIP leg's media needs to know: whether it must be encrypted, and which session's
// conference (mixer) it joins.
struct MediaRequest {
  bool secure = false;
  std::string session_id;
  std::string call_id;
  std::string stream_id;             // the SIP party's stream (other legs' `streams` name it)
  std::vector<std::string> streams;  // sip.streams: the streams this party hears; empty = all
  bool muted = false;                // starts force-muted (observeForceMute in a muted session)
};
// The shard's media counters for /metrics: live legs and rooms, and packet totals (legs that
// ended included). Filled by the app layer, which owns the legs' registry.
struct MediaTotals {
  std::uint64_t legs = 0, conferences = 0;
  std::uint64_t packets_in = 0, packets_out = 0, bytes_in = 0, bytes_out = 0, rtcp_in = 0, rtcp_out = 0;
  std::uint64_t lost = 0, concealed = 0, fec_recovered = 0;
  std::uint64_t srtp_failures = 0, unauthenticated = 0, foreign_source = 0, malformed = 0, unknown_pt = 0;
  std::uint64_t skipped_ticks = 0;
  std::uint64_t relaying = 0, relayed = 0, socket_drops = 0;
  MediaTotals& operator+=(const MediaTotals& o) {
    legs += o.legs, conferences += o.conferences, packets_in += o.packets_in, packets_out += o.packets_out;
    bytes_in += o.bytes_in, bytes_out += o.bytes_out, rtcp_in += o.rtcp_in, rtcp_out += o.rtcp_out;
    lost += o.lost, concealed += o.concealed, fec_recovered += o.fec_recovered;
    srtp_failures += o.srtp_failures, unauthenticated += o.unauthenticated, foreign_source += o.foreign_source;
    malformed += o.malformed, unknown_pt += o.unknown_pt, skipped_ticks += o.skipped_ticks;
    relaying += o.relaying, relayed += o.relayed, socket_drops += o.socket_drops;
    return *this;
  }
};

// Builds the media side of a new SIP leg (the rtp layer's AudioLeg, joined to the session's
// conference); null when no port is free.
using MediaFactory = std::function<std::unique_ptr<sip::CallMedia>(const MediaRequest&)>;

struct ShardServices {
  ShardServices(runtime::Shard& s, core::ProjectTable projects, std::size_t session_limit, WebhookOptions wopts,
                std::size_t project_session_limit = 0)
      : shard(s), projects(std::move(projects)), sessions(session_limit, project_session_limit),
        webhooks(s.executor(), std::move(wopts)) {}
  runtime::Shard& shard;
  core::ProjectTable projects;
  core::SessionTable sessions;
  WebhookSender webhooks;
  RestCounters counters;
  bool draining = false;

  // SIP dial-out (issue 3): this shard's user agent, the media factory, and which call each SIP
  // connection carries (force-disconnect of the connection hangs the call up).
  std::unique_ptr<sip::UserAgent> sip;
  MediaFactory make_media;
  // Force mute of a SIP leg's audio in its session's mix (observeForceMute); empty = no media
  // layer. False when the call has no media there (any more).
  std::function<bool(const std::string& session_id, const std::string& call_id, bool muted)> mute_media;
  // Call limits from configuration, copied into every call (SPEC §7 defaults).
  std::chrono::seconds max_call_duration{6 * 3600}, max_inactive{300}, ring_timeout{180};
  std::shared_ptr<void> rtp_ports;  // the shard's RTP port allocator, owned here
  std::shared_ptr<void> conferences;  // the shard's media::ConferenceTable, owned here
  // Overload: the shard's own CPU share over the last second; at or above busy_limit (0..1, 0 =
  // off) new dials are refused with 503, so the calls already up keep their quality.
  std::shared_ptr<runtime::LoadMeter> load;
  double busy_limit = 0;
  std::function<std::chrono::nanoseconds()> thread_cpu = runtime::thread_cpu_now;  // injectable (tests)
  std::function<MediaTotals()> media_totals;  // for /metrics; empty = no media layer
  std::map<std::string, std::string, std::less<>> call_of_connection;  // connection id → call id
  // SIP connections being hung up on request (REST or moderator force-disconnect) → the reason
  // their connection is destroyed with once the call has ended; absent: call_ended.
  std::map<std::string, core::DestroyReason, std::less<>> sip_hangup_reason;
};

}  // namespace sb::http
