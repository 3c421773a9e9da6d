#include "signaling/rumor.hpp"

#include <algorithm>

namespace sb::signaling {

bool is_known(RumorType t) noexcept {
  switch (t) {
    case RumorType::subscribe:
    case RumorType::unsubscribe:
    case RumorType::message:
    case RumorType::connect:
    case RumorType::disconnect:
    case RumorType::ping:
    case RumorType::pong:
    case RumorType::status:
      return true;
  }
  return false;
}

std::string_view to_string(RumorError e) noexcept {
  switch (e) {
    case RumorError::ok: return "ok";
    case RumorError::need_more: return "need more bytes";
    case RumorError::malformed: return "malformed frame";
    case RumorError::too_large: return "frame too large";
    case RumorError::too_many: return "too many addresses or headers";
  }
  return "unknown";
}

std::string_view RumorFrame::header(std::string_view key) const noexcept {
  for (std::size_t i = 0; i < header_count; ++i)
    if (headers[i].key == key) return headers[i].value;
  return {};
}

bool RumorFrame::has_header(std::string_view key) const noexcept {
  for (std::size_t i = 0; i < header_count; ++i)
    if (headers[i].key == key) return true;
  return false;
}

namespace {

// A bounds-checked reader over one frame's bytes.
struct Reader {
  const std::uint8_t* p;
  std::size_t left;
  bool ok = true;

  std::uint8_t u8() {
    if (left < 1) return fail(), 0;
    --left;
    return *p++;
  }
  std::uint16_t u16() {
    if (left < 2) return fail(), 0;
    std::uint16_t v = static_cast<std::uint16_t>(p[0] << 8 | p[1]);
    p += 2, left -= 2;
    return v;
  }
  std::string_view str() {
    std::size_t n = u16();
    if (!ok || left < n) return fail(), std::string_view();
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n, left -= n;
    return s;
  }
  void fail() { ok = false, left = 0; }
};

}  // namespace

RumorParse parse_rumor(std::span<const std::uint8_t> in) noexcept {
  RumorParse r;
  if (in.size() < 4) return r.error = RumorError::need_more, r;
  const std::size_t length = std::size_t(in[0]) << 24 | std::size_t(in[1]) << 16 | std::size_t(in[2]) << 8 | in[3];
  if (length + 4 > kMaxRumorFrame) return r.error = RumorError::too_large, r;
  // reserved(2) + type(1) + nAddr(1) + nHdr(1)
  if (length < 5) return r.error = RumorError::malformed, r;
  if (in.size() < length + 4) return r.error = RumorError::need_more, r;

  Reader rd{in.data() + 4, length};
  const std::uint8_t r0 = rd.u8(), r1 = rd.u8();
  // The client always writes zeros there; anything else is not a frame of this protocol.
  if (r0 != 0 || r1 != 0) return r.error = RumorError::malformed, r;
  auto& f = r.frame;
  f.type = static_cast<RumorType>(rd.u8());
  if (!is_known(f.type)) return r.error = RumorError::malformed, r;
  const std::size_t n_addr = rd.u8();
  if (n_addr > kMaxRumorAddresses) return r.error = RumorError::too_many, r;
  for (std::size_t i = 0; i < n_addr && rd.ok; ++i) f.addresses[i] = rd.str();
  f.address_count = n_addr;
  const std::size_t n_hdr = rd.u8();
  if (!rd.ok) return r.error = RumorError::malformed, r;
  if (n_hdr > kMaxRumorHeaders) return r.error = RumorError::too_many, r;
  for (std::size_t i = 0; i < n_hdr && rd.ok; ++i) {
    f.headers[i].key = rd.str();
    f.headers[i].value = rd.str();
  }
  f.header_count = n_hdr;
  if (!rd.ok) return r.error = RumorError::malformed, r;
  f.payload = std::string_view(reinterpret_cast<const char*>(rd.p), rd.left);
  f.frame_size = length + 4;
  return r;
}

namespace {
void put_u16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}
void put_str(std::string& out, std::string_view s) {
  s = s.substr(0, 0xffff);
  put_u16(out, s.size());
  out.append(s);
}
}  // namespace

void write_rumor(std::string& out, RumorType type, std::span<const std::string_view> addresses,
                 std::span<const RumorHeader> headers, std::string_view payload) {
  const std::size_t start = out.size();
  out.append(4, '\0');  // length, patched below
  out.push_back('\0');
  out.push_back('\0');
  out.push_back(static_cast<char>(type));
  const std::size_t na = std::min<std::size_t>(addresses.size(), 255);
  out.push_back(static_cast<char>(na));
  for (std::size_t i = 0; i < na; ++i) put_str(out, addresses[i]);
  const std::size_t nh = std::min<std::size_t>(headers.size(), 255);
  out.push_back(static_cast<char>(nh));
  for (std::size_t i = 0; i < nh; ++i) {
    put_str(out, headers[i].key);
    put_str(out, headers[i].value);
  }
  out.append(payload);
  const std::size_t length = out.size() - start - 4;
  out[start + 0] = static_cast<char>((length >> 24) & 0xff);
  out[start + 1] = static_cast<char>((length >> 16) & 0xff);
  out[start + 2] = static_cast<char>((length >> 8) & 0xff);
  out[start + 3] = static_cast<char>(length & 0xff);
}

}  // namespace sb::signaling
