// Rumor: the binary framing OpenTok.js speaks over its WebSocket (../shared/OPENTOK-CLIENT.md §3).
// One frame per WebSocket binary message:
//
//   u32 BE  length (frame bytes after this field)
//   u8 0, u8 0                     reserved
//   u8 type                        RumorType below
//   u8 nAddr,  nAddr × (u16 BE len, UTF-8 address)
//   u8 nHdr,   nHdr  × (u16 BE len, key, u16 BE len, value)
//   payload: the rest (UTF-8; a Raptor v2 JSON message, or empty)
//
// Sans-I/O: `parse_rumor` allocates nothing and returns views into the bytes it was given; it
// never throws. `need_more` (fewer bytes than the length field announces) is told apart from
// `malformed`, so the same parser serves a byte stream as well as whole WebSocket messages.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sb::signaling {

/// Frame types (the client's table, OPENTOK-CLIENT.md §3.2). Values 5 and 6 are unused.
enum class RumorType : std::uint8_t {
  subscribe = 0,
  unsubscribe = 1,
  message = 2,
  connect = 3,
  disconnect = 4,
  ping = 7,
  pong = 8,
  status = 9,
};
bool is_known(RumorType t) noexcept;

enum class RumorError {
  ok = 0,
  need_more,   ///< fewer bytes than the length field announces (stream input only)
  malformed,   ///< a count or length runs past the frame, reserved bytes set, or unknown type
  too_large,   ///< the frame is longer than kMaxRumorFrame
  too_many,    ///< more addresses or headers than we keep (kMaxRumorAddresses/Headers)
};
std::string_view to_string(RumorError e) noexcept;

/// Bounds. The largest legitimate frame is a Raptor message with an SDP (≈10 kB) or a signal
/// (8 kB of data JSON-encoded, so up to ~50 kB with escapes); 64 KiB covers both.
inline constexpr std::size_t kMaxRumorFrame = 64 * 1024;
inline constexpr std::size_t kMaxRumorAddresses = 8;
inline constexpr std::size_t kMaxRumorHeaders = 16;

struct RumorHeader {
  std::string_view key, value;
};

/// A parsed frame: views into the input buffer, valid while it lives.
struct RumorFrame {
  RumorType type = RumorType::message;
  std::array<std::string_view, kMaxRumorAddresses> addresses{};
  std::size_t address_count = 0;
  std::array<RumorHeader, kMaxRumorHeaders> headers{};
  std::size_t header_count = 0;
  std::string_view payload;
  std::size_t frame_size = 0;  ///< bytes consumed, length field included

  /// The value of header `key` (exact, case-sensitive, as the client compares), or "" if absent.
  std::string_view header(std::string_view key) const noexcept;
  bool has_header(std::string_view key) const noexcept;
  std::span<const std::string_view> address_list() const noexcept { return {addresses.data(), address_count}; }
};

struct RumorParse {
  RumorError error = RumorError::ok;
  RumorFrame frame;
  explicit operator bool() const noexcept { return error == RumorError::ok; }
};

/// Parses the frame at the start of `in`.
RumorParse parse_rumor(std::span<const std::uint8_t> in) noexcept;
inline RumorParse parse_rumor(std::string_view in) noexcept {
  return parse_rumor(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
}

/// Appends one frame to `out`. Addresses and header fields longer than 65535 bytes, or more than
/// 255 of either, are programmer errors (our own messages never come near): they are truncated
/// rather than written corrupt.
void write_rumor(std::string& out, RumorType type, std::span<const std::string_view> addresses,
                 std::span<const RumorHeader> headers, std::string_view payload);

/// Header names the client sends and reads (OPENTOK-CLIENT.md §3.2-§3.3).
namespace rumor_header {
inline constexpr std::string_view transaction_id = "TRANSACTION-ID";
inline constexpr std::string_view from_address = "X-TB-FROM-ADDRESS";
inline constexpr std::string_view status = "STATUS";
inline constexpr std::string_view content_type = "Content-Type";
inline constexpr std::string_view token = "X-TB-TOKEN-AUTH";
inline constexpr std::string_view unique_id = "uniqueId";
inline constexpr std::string_view notify_disconnect = "notifyDisconnectAddress";
inline constexpr std::string_view reconnect = "reconnect";
}  // namespace rumor_header

inline constexpr std::string_view kRaptorContentType = "application/x-raptor+v2";

}  // namespace sb::signaling
