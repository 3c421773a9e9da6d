// libFuzzer target for src/signaling/rumor.{hpp,cpp} and raptor.{hpp,cpp}: the bytes a browser
// client (or anyone who opens the WebSocket) sends.
//
// parse_rumor must never read outside its input; a frame it accepts must re-serialize with
// write_rumor to the same bytes; its payload then goes through the Raptor envelope and uri
// parsers, which must not crash or accept a message without method and uri.
#include "fuzz_support.hpp"

#include "signaling/raptor.hpp"
#include "signaling/rumor.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace sb::signaling;
using sb::fuzz::inside;
using sb::fuzz::require;

namespace {
std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  // A byte stream may hold several frames back to back.
  for (int guard = 0; guard < 64 && !in.empty(); ++guard) {
    auto p = parse_rumor(in);
    if (!p) {
      require(p.error != RumorError::ok, "failed parse reports an error");
      break;
    }
    const auto& f = p.frame;
    require(f.frame_size >= 9 && f.frame_size <= in.size(), "frame size within input");
    require(inside(bytes(f.payload), in.first(f.frame_size)), "payload inside the frame");
    for (auto a : f.address_list()) require(inside(bytes(a), in), "address inside input");
    for (std::size_t i = 0; i < f.header_count; ++i) {
      require(inside(bytes(f.headers[i].key), in) && inside(bytes(f.headers[i].value), in), "header inside input");
    }
    // Round trip: writing the parsed frame gives back the same bytes.
    std::string out;
    write_rumor(out, f.type, f.address_list(), std::span<const RumorHeader>(f.headers.data(), f.header_count),
                f.payload);
    require(out.size() == f.frame_size && std::memcmp(out.data(), in.data(), out.size()) == 0, "round trip");

    if (auto m = parse_raptor(f.payload)) {
      if (auto u = parse_raptor_uri(m->uri)) {
        require(!u->partner.empty() && !u->session.empty(), "uri has partner and session");
        require(u->stream.size() <= kMaxRaptorId && u->connection.size() <= kMaxRaptorId, "ids bounded");
      }
    }
    (void)parse_raptor_uri(f.payload);
    in = in.subspan(f.frame_size);
  }
  return 0;
}
