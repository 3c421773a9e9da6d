// The operations on a session that both front doors perform: the REST API (server SDKs) and the
// browser clients' Raptor channel (src/signaling/). Each runs on the shard that owns the session
// and answers with a status the caller maps to its own wire form (an HTTP status and JSON error
// for REST, a Rumor STATUS frame for a client). Who may call what is the caller's business (REST:
// the project JWT; clients: the token's role); these functions check only the session's state.
#pragma once
#include "core/session.hpp"
#include "http/dial_request.hpp"
#include "http/shard_services.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace sb::http {

struct OpResult {
  unsigned status = 200;  // 200 done; 4xx/5xx refused, with `message`
  std::string message;
  std::string description;  // a longer explanation for REST error bodies (optional)
  std::string body;         // the success body, when the operation has one (JSON)
  bool ok() const { return status < 300; }
};

// Creates a session on this shard and wires its session-monitoring webhooks (SPEC §4.7:
// connection and stream created/destroyed to the project's callbacks of those groups).
// 503 when draining or every session slot is in use.
OpResult create_session(ShardServices& s, std::string id, std::string key, core::MediaMode mode,
                        core::ArchiveMode archive, std::string location, std::int64_t now_ms);

// Dials a SIP party into a session (SPEC §2): checks the session (404, 409 relayed) and the
// client token (400), then the shard's call limit and a free RTP port (503: nothing was made
// visible, no webhook names the call), adds the SIP connection and its audio-only stream at once,
// starts the call and sends callCreated; its progress and end become callUpdated/callDestroyed and
// its end removes the connection. `body` is the REST answer {id, connectionId, streamId, …}.
OpResult dial(ShardServices& s, const std::string& key, DialRequest d, std::int64_t now_s);

// Signal limits (SPEC §4.5, OPENTOK-CLIENT.md §7): type ≤ 128 characters of [A-Za-z0-9-._~],
// data ≤ 8192 characters.
inline constexpr std::size_t kSignalTypeMax = 128;
inline constexpr std::size_t kSignalDataMax = 8192;
// 400 for a type outside the allowed characters, 413 for sizes over the limits.
OpResult validate_signal(std::string_view type, std::string_view data);

// Ends a connection: a SIP leg hangs up (CANCEL before the answer, BYE after; its end destroys
// the connection and stream with `reason` and sends callDestroyed), any other connection is
// removed with `reason` (its streams first). 404 when there is no such connection.
OpResult disconnect_connection(ShardServices& s, core::Session& session, std::string_view connection_id,
                               core::DestroyReason reason);

// Sends a signal from `from` ("" = the server) to `to` ("" = everyone). 404 for an unknown target.
OpResult send_signal(ShardServices& s, core::Session& session, std::string_view from, std::string_view to,
                     std::string_view type, std::string_view data);

// Queues DTMF digits (SPEC §4.3: 0-9 * # and 'p', validated by the caller) on the session's
// connected SIP legs, or on the one whose connection is `connection_id`. 404 when that
// connection (or, session-wide, any connection) is not a connected SIP leg (answered, not
// ended); 413 when a leg's queue (rtp::k_dtmf_queue_max digits) has no room for all of them —
// nothing is queued anywhere then. 200 once queued: the digits play in order after any queued.
OpResult play_dtmf(ShardServices& s, core::Session& session, std::string_view connection_id, std::string_view digits);

// Removes another party's stream (moderation): reason forceUnpublished. 404 when unknown.
OpResult force_unpublish(ShardServices& s, core::Session& session, std::string_view stream_id);

// Asks a stream's owner to mute its audio (stream_id set), or every stream's owner except those
// in `excluded` (stream_id empty; `active` false lifts a session-wide mute). 404 for an unknown
// stream.
OpResult force_mute(ShardServices& s, core::Session& session, std::string_view stream_id, bool active,
                    const std::vector<std::string>& excluded);

}  // namespace sb::http
