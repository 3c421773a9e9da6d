// The Rumor WebSocket of one browser client (Beast): each binary message is one Rumor frame
// (rumor.hpp) handed to the client's state machine (client.hpp); what it sends goes out through a
// bounded queue. Runs on the shard that owns the client's session.
#pragma once
#include "http/server.hpp"
#include "http/shard_services.hpp"
#include "signaling/client.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>

namespace sb::signaling {

struct SocketOptions {
  std::chrono::seconds handshake_timeout{10};  // the WebSocket upgrade
  // No frame at all for this long closes the socket. The client sends a Rumor PING whenever it
  // has sent nothing for 2 s (OPENTOK-CLIENT.md §3.4), and Beast pings at half this interval.
  std::chrono::seconds idle_timeout{30};
  // A socket that has not connected (connections.create) this long after it opened is closed.
  std::chrono::seconds connect_deadline{15};
  // Outgoing queue bounds: a client that does not read is a slow consumer; its socket is closed
  // (it leaves with networkDisconnected) rather than letting the queue grow.
  std::size_t max_queued_frames = 4096;
  std::size_t max_queued_bytes = 4 * 1024 * 1024;
};

// Accepts the upgrade `req` on `sock` (already on this shard) and serves the client until the
// socket closes. `session_id` comes from the socket's URL.
boost::asio::awaitable<void> serve_client(http::ShardServices* svc, ClientHub* hub, boost::asio::ip::tcp::socket sock,
                                          http::Request req, std::string session_id, ClientOptions copts,
                                          SocketOptions sopts);

}  // namespace sb::signaling
