#pragma once
// Text encodings used by tokens, session IDs and REST bodies: base64 (RFC 4648 §4 and the URL-safe
// alphabet of §5), lowercase hex, percent-decoding (RFC 3986 §2.1) and
// application/x-www-form-urlencoded (WHATWG URL §5).
//
// Decoders never throw and never allocate beyond their output; malformed input gives nullopt.

#include "base/text.hpp"  // ascii_iequals and the token grammars, here for the encodings' users

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sb {

// RFC 4648 §4 (standard, `+` `/`) or, with url_alphabet, §5 (`-` `_`). With pad=false the trailing
// `=` are left out, as JWS (RFC 7515 §2) and OpenTok session IDs (SPEC §5.1) require.
[[nodiscard]] std::string base64_encode(std::string_view bytes, bool url_alphabet = false, bool pad = true);

// Decodes either alphabet (SPEC §5.2: JAVA's T1 tokens are URL-safe, every other SDK's are
// standard), padded or unpadded. Rejects any other character (whitespace included), `=` anywhere
// but the end, a length that no encoder can produce (len % 4 == 1 once padding is removed, or a
// padded text whose length is not a multiple of 4) and non-zero trailing bits (RFC 4648 §3.5), so
// every byte string has exactly one accepted spelling per alphabet and padding choice.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

// Lowercase hex, two digits per byte (the form T1 signatures use, SPEC §5.2).
[[nodiscard]] std::string to_hex(std::string_view bytes);

// RFC 3986 §2.1 `%XX` (either hex case). `+` becomes a space when plus_is_space (form bodies).
// A `%` not followed by two hex digits gives nullopt. Decoded bytes are not checked (a `%00` gives
// a NUL byte): callers validate what the field may hold.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// application/x-www-form-urlencoded: `&`-separated pieces, the first `=` splits name from value,
// both are percent-decoded with `+` as space. Empty pieces are skipped and a piece without `=` is a
// name with an empty value. Order and duplicates are kept as they appear. nullopt on a bad `%XX`.
[[nodiscard]] std::optional<std::vector<std::pair<std::string, std::string>>> form_parse(std::string_view body);

// Encodes one name or value for a form body: ALPHA / DIGIT / `-` `.` `_` `~` stay, a space
// becomes `+`, every other byte becomes `%XX` (uppercase hex). form_parse undoes it exactly.
[[nodiscard]] std::string form_encode_component(std::string_view text);

} // namespace sb
