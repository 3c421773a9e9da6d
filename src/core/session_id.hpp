#pragma once
// OpenTok session IDs (SPEC §5.1): "1_" or "2_" followed by base64 of an ASCII `~`-separated
// record `version~apiKey~location~created~random~...`. The SDKs decode it client-side to check
// that a session belongs to their API key, each in its own way, so the generator below sticks to
// the one shape every decoder accepts. Media mode, archive mode and the project stay in server
// state, never in the ID.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace sb::core {

enum class session_id_error {
  too_long = 1,   ///< Longer than session_id_max_size.
  bad_prefix,     ///< Does not start with "1_" or "2_".
  bad_encoding,   ///< The rest is not base64 (either alphabet, padded or not).
  too_few_fields, ///< The decoded record has fewer than three `~`-separated fields.
};

const boost::system::error_category& session_id_category() noexcept;
boost::system::error_code make_error_code(session_id_error e) noexcept;

// SPEC §5.1 (and the PHP SDK's createSession docs): "A session ID string can be up to 255
// characters long."
inline constexpr std::size_t session_id_max_size = 255;

// True when every byte of `field` may appear in a generated session ID record: printable ASCII
// except `~` (the field separator), `?` and `>` (which can encode to `_`/`-` and break the NET and
// PHP decoders, SPEC §5.1). Configuration should refuse API keys for which this is false.
bool is_session_id_safe(std::string_view field) noexcept;

// SPEC §5.1 generator rule: "1_" + unpadded base64url("1~{apiKey}~{location}~{createdMs}~{24
// random alnum}~"). Bytes of api_key and location that is_session_id_safe refuses are dropped
// (location comes from a client's form post; keys are vetted at configuration time). The result
// is at most session_id_max_size characters provided apiKey and location together stay under
// 140 bytes.
std::string make_session_id(std::string_view api_key, std::string_view location,
                            std::int64_t created_ms);

struct SessionIdInfo {
  std::string version;  ///< First field ("1" for generated IDs).
  std::string api_key;  ///< Second field: the project the session belongs to.
  std::string location; ///< Third field, often empty.
  std::string created;  ///< Fourth field verbatim: epoch ms, or a date string in old IDs. May be empty.
};

// Decodes any ID of the SPEC §5.1 family: prefix "1_" or "2_", then base64 in either alphabet,
// padded or not, split on `~` into at least three fields. Does not check that the project exists.
boost::system::result<SessionIdInfo> parse_session_id(std::string_view id);

} // namespace sb::core

namespace boost::system {
template <>
struct is_error_code_enum<sb::core::session_id_error> : std::true_type {};
} // namespace boost::system
