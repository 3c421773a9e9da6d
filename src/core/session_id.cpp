#include "core/session_id.hpp"

#include "base/crypto.hpp"
#include "base/encoding.hpp"

namespace sb::core {
namespace {

class session_id_category_impl final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "sb.session_id"; }
  std::string message(int ev) const override {
    switch (static_cast<session_id_error>(ev)) {
    case session_id_error::too_long: return "session ID is longer than 255 characters";
    case session_id_error::bad_prefix: return "session ID does not start with 1_ or 2_";
    case session_id_error::bad_encoding: return "session ID is not valid base64";
    case session_id_error::too_few_fields: return "session ID record has too few fields";
    }
    return "unknown session ID error";
  }
};

bool safe_byte(char c) noexcept {
  const auto b = static_cast<unsigned char>(c);
  // Printable ASCII only: a byte >= 0x80 could encode to `-` or `_` at any offset.
  return b >= 0x20 && b < 0x7F && c != '~' && c != '?' && c != '>';
}

void append_safe(std::string& out, std::string_view field) {
  for (const char c : field) {
    if (safe_byte(c)) out += c;
  }
}

} // namespace

const boost::system::error_category& session_id_category() noexcept {
  static const session_id_category_impl cat;
  return cat;
}

boost::system::error_code make_error_code(session_id_error e) noexcept {
  return {static_cast<int>(e), session_id_category()};
}

bool is_session_id_safe(std::string_view field) noexcept {
  for (const char c : field) {
    if (!safe_byte(c)) return false;
  }
  return true;
}

std::string make_session_id(std::string_view api_key, std::string_view location,
                            std::int64_t created_ms) {
  // Why this satisfies every SDK decoder (SPEC §5.1): for ASCII input, base64 can only produce
  // sextet 62 (`-`) or 63 (`_`) in the last position of a quantum, from the third byte of a
  // 3-byte group, and only when that byte is `~`/`>` (62) or `?`/DEL (63). With `?`, `>` and DEL
  // excluded, `_` never appears after the prefix (NET splits on `_` and needs two pieces) and
  // every `-` stands for a `~` that ends a quantum, so PHP's split on `-` falls on field
  // boundaries and each piece decodes on its own.
  std::string record = "1~";
  append_safe(record, api_key);
  record += '~';
  append_safe(record, location);
  record += '~';
  record += std::to_string(created_ms);
  record += '~';
  record += random_alnum(24);
  record += '~';
  return "1_" + base64_encode(record, /*url_alphabet=*/true, /*pad=*/false);
}

boost::system::result<SessionIdInfo> parse_session_id(std::string_view id) {
  if (id.size() > session_id_max_size) return session_id_error::too_long;
  if (id.size() < 2 || (id[0] != '1' && id[0] != '2') || id[1] != '_') {
    return session_id_error::bad_prefix;
  }
  const auto record = base64_decode(id.substr(2));
  if (!record) return session_id_error::bad_encoding;

  std::string_view rest = *record;
  std::string_view fields[4];
  std::size_t n = 0;
  for (;;) {
    const std::size_t tilde = rest.find('~');
    if (n < 4) fields[n] = rest.substr(0, tilde);
    ++n;
    if (tilde == std::string_view::npos) break;
    rest.remove_prefix(tilde + 1);
  }
  if (n < 3) return session_id_error::too_few_fields;
  return SessionIdInfo{std::string(fields[0]), std::string(fields[1]), std::string(fields[2]),
                       std::string(fields[3])};
}

} // namespace sb::core
