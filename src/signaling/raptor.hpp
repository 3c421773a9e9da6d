// Raptor v2: the JSON messages OpenTok.js carries in Rumor MESSAGE and STATUS payloads
// (../shared/OPENTOK-CLIENT.md §4). An envelope {method, uri, content, reason}; the uri names the
// resource as key/value path pairs after `/v2`:
//
//   /v2/partner/{apiKey}/session/{sessionId}[/connection/{id}]
//        [/stream/{id}[/subscriber/{id}][/channel/{id}[/data/{id}]]][/signal/{id}]
//
// The resource is the last key, except that a channel under a stream is `stream_channel` and
// under a subscriber `subscriber_channel` (the client's own naming, §4.1).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace sb::signaling {

/// A parsed Raptor uri: views into the string it was parsed from.
struct RaptorUri {
  std::string_view partner, session, connection, stream, subscriber, channel, signal, data, archive;
  std::string_view resource;  ///< "session", "connection", "stream", "subscriber", "stream_channel",
                              ///< "subscriber_channel", "signal", "data", "archive", "migrate"
};

/// nullopt when the uri is not a `/v2/partner/{k}/session/{s}…` path of known keys, when a key
/// repeats, or when an id is empty or longer than kMaxRaptorId.
std::optional<RaptorUri> parse_raptor_uri(std::string_view uri) noexcept;

inline constexpr std::size_t kMaxRaptorId = 128;
/// Nesting bound for the JSON parser (the client's messages are 3-4 levels deep).
inline constexpr unsigned kMaxRaptorDepth = 16;

struct RaptorMessage {
  std::string method;             ///< "create", "delete", "update", "signal", "offer", …
  std::string uri;
  boost::json::object content;    ///< {} when absent
  std::string reason;             ///< top-level, used by deletes
};

/// Parses a MESSAGE payload. nullopt (with `why`) when it is not JSON, not an object, or lacks a
/// string method or uri.
std::optional<RaptorMessage> parse_raptor(std::string_view payload, std::string* why = nullptr);

/// Serializes a server message. The client throws on messages without uri or method (§4.1), so
/// both are always written; `reason` only when non-empty.
std::string serialize_raptor(std::string_view method, std::string_view uri, const boost::json::value& content,
                             std::string_view reason = {});

/// "/v2/partner/{k}/session/{s}" — the session channel, also the prefix of every resource uri.
std::string session_uri(std::string_view api_key, std::string_view session_id);

}  // namespace sb::signaling
