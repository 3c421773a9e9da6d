#include "core/client_token.hpp"

#include "base/crypto.hpp"
#include "base/encoding.hpp"
#include "core/jwt.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>

namespace sb::core {
namespace {

using boost::system::result;

class client_token_category_impl final : public boost::system::error_category {
public:
  const char* name() const noexcept override { return "sb.client_token"; }
  std::string message(int ev) const override {
    switch (static_cast<client_token_error>(ev)) {
    case client_token_error::malformed: return "client token is malformed";
    case client_token_error::bad_signature: return "client token signature does not verify";
    case client_token_error::wrong_project: return "client token was issued for another project";
    case client_token_error::wrong_session: return "client token was issued for another session";
    case client_token_error::expired: return "client token has expired";
    case client_token_error::invalid_role: return "client token role is not valid";
    case client_token_error::bad_scope: return "client token scope is not session.connect";
    case client_token_error::data_too_large: return "client token connection data is too large";
    }
    return "unknown client token error";
  }
};

constexpr std::string_view t1_prefix = "T1==";

// Upper bound on a T1 token before decoding. connection_data may hold up to 1024 characters of
// up to 4 UTF-8 bytes each, percent-encoded (x3), then base64 (x4/3): about 17 KiB at worst.
constexpr std::size_t t1_max_token_size = 24 * 1024;
// Bytes cap that goes with the 1024-character limit (4-byte UTF-8 sequences at most).
constexpr std::size_t max_data_bytes = client_token_max_data * 4;

// SPEC §5.2 limits connection_data to 1000 characters (PHP counts bytes, PY code points, NODE
// UTF-16 units and allows 1024). Counting code points up to 1024 accepts whatever any SDK
// accepted, while max_data_bytes bounds memory.
bool data_fits(std::string_view data) noexcept {
  if (data.size() > max_data_bytes) return false;
  std::size_t chars = 0;
  for (const char c : data) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars; // not a continuation byte
  }
  return chars <= client_token_max_data;
}

// Decimal seconds as the T1 SDKs write them. A fractional part is accepted and truncated in case
// a generator printed a double (NET's timestamps are doubles internally).
std::optional<std::int64_t> parse_seconds(std::string_view s) noexcept {
  const std::size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  if (whole.empty() || whole.size() > 18) return std::nullopt;
  if (dot != std::string_view::npos) {
    const std::string_view frac = s.substr(dot + 1);
    if (frac.empty()) return std::nullopt;
    for (const char c : frac) {
      if (c < '0' || c > '9') return std::nullopt;
    }
  }
  std::int64_t v = 0;
  for (const char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::vector<std::string> split_layout(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t sp = list.find(' ');
    const std::string_view piece = list.substr(0, sp);
    if (!piece.empty()) out.emplace_back(piece);
    if (sp == std::string_view::npos) break;
    list.remove_prefix(sp + 1);
  }
  return out;
}

// Shared tail of both paths: lifetime rule, expiry, data size. create and expire are seconds.
result<void> check_times_and_data(std::int64_t create, std::int64_t expire, std::int64_t now_s,
                                  std::string_view data) {
  std::int64_t lifetime = 0;
  // SPEC §5.2: expire_time at most create_time + 30 days (every SDK enforces it when minting).
  if (__builtin_sub_overflow(expire, create, &lifetime) || lifetime > client_token_max_lifetime_s) {
    return client_token_error::malformed;
  }
  if (!data_fits(data)) return client_token_error::data_too_large;
  // RFC 7519 §4.1.4 semantics for T1 too: valid strictly before the expire time.
  if (now_s >= expire) return client_token_error::expired;
  return {};
}

// ---- T1 (SPEC §5.2) -------------------------------------------------------------------------

result<ClientToken> validate_t1(std::string_view token, std::string_view api_key,
                                std::string_view api_secret, std::string_view session_id,
                                std::int64_t now_s) {
  if (token.size() > t1_max_token_size) return client_token_error::malformed;
  // Standard base64 (NODE, PY, PHP, RUBY, NET) or URL-safe (JAVA), padded or not.
  const auto decoded = base64_decode(token.substr(t1_prefix.size()));
  if (!decoded) return client_token_error::malformed;

  // The signature covers the exact bytes after the FIRST ':' (TOKENC verifyTokenSignature, JAVA
  // Crypto.signData, PY _sign_string); connection_data may itself contain ':'.
  const std::string_view plain = *decoded;
  const std::size_t colon = plain.find(':');
  if (colon == std::string_view::npos) return client_token_error::malformed;
  const std::string_view data_string = plain.substr(colon + 1);

  const auto meta = form_parse(plain.substr(0, colon));
  if (!meta) return client_token_error::malformed;
  const std::string* partner_id = nullptr;
  const std::string* sig = nullptr;
  for (const auto& [k, v] : *meta) {
    const std::string** slot = k == "partner_id" ? &partner_id : k == "sig" ? &sig : nullptr;
    if (slot == nullptr) continue;
    if (*slot != nullptr) return client_token_error::malformed; // duplicated
    *slot = &v;
  }
  if (partner_id == nullptr || sig == nullptr) return client_token_error::malformed;
  if (*partner_id != api_key) return client_token_error::wrong_project;

  // All SDKs write lowercase hex; fold case so an uppercase writer would still verify.
  std::string presented = *sig;
  for (char& c : presented) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!constant_time_equal(presented, to_hex(hmac_sha1(api_secret, data_string)))) {
    return client_token_error::bad_signature;
  }

  // Form-decoding covers both encodings in use: every value form-encoded (PY, NODE, RUBY) and
  // only connection_data (and PHP's layout list) encoded, with the other values raw (JAVA, PHP,
  // NET): raw session IDs, numbers and nonces contain no `%`, `+` or `&`, and JAVA's raw spaces in
  // the layout list stay spaces.
  const auto fields = form_parse(data_string);
  if (!fields) return client_token_error::malformed;
  struct Field {
    std::string_view name;
    const std::string* value = nullptr;
  };
  Field known[] = {{"session_id"}, {"create_time"}, {"expire_time"}, {"role"},
                   {"nonce"},      {"scope"},       {"connection_data"},
                   {"initial_layout_class_list"}};
  for (const auto& [k, v] : *fields) {
    for (Field& f : known) {
      if (k != f.name) continue;
      // A repeated field is ambiguous (which one did the issuer mean?); no SDK writes one.
      if (f.value != nullptr) return client_token_error::malformed;
      f.value = &v;
    }
  }
  const std::string* f_session = known[0].value;
  const std::string* f_create = known[1].value;
  const std::string* f_expire = known[2].value;
  const std::string* f_role = known[3].value;
  const std::string* f_scope = known[5].value;
  const std::string* f_data = known[6].value;
  const std::string* f_layout = known[7].value;

  if (f_session == nullptr || f_create == nullptr) return client_token_error::malformed;
  if (*f_session != session_id) return client_token_error::wrong_session;
  // NODE adds scope=session.connect; nobody writes anything else.
  if (f_scope != nullptr && *f_scope != "session.connect") return client_token_error::bad_scope;

  ClientToken out;
  out.legacy_t1 = true;
  if (f_role != nullptr) {
    const auto role = role_from_string(*f_role);
    if (!role) return client_token_error::invalid_role;
    out.role = *role;
  }
  const auto create = parse_seconds(*f_create);
  if (!create) return client_token_error::malformed;
  out.create_time = *create;
  // RUBY, NET and PHP leave expire_time out unless the caller set one: default 24 h.
  if (f_expire == nullptr || f_expire->empty()) {
    out.expire_time = out.create_time + client_token_default_lifetime_s;
  } else {
    const auto expire = parse_seconds(*f_expire);
    if (!expire) return client_token_error::malformed;
    out.expire_time = *expire;
  }
  if (f_data != nullptr) out.connection_data = *f_data;
  if (f_layout != nullptr) out.layout_classes = split_layout(*f_layout);
  // The nonce is opaque (float, negative int, PHP's microtime.rand): never interpreted.

  if (auto r = check_times_and_data(out.create_time, out.expire_time, now_s, out.connection_data);
      !r) {
    return r.error();
  }
  return out;
}

// ---- JWT (SPEC §5.3) ------------------------------------------------------------------------

// A claim that is absent or JSON null: PHP writes stray nulls, NET omits them.
const boost::json::value* claim(const boost::json::object& o, std::string_view name) {
  const boost::json::value* v = o.if_contains(name);
  return v == nullptr || v->is_null() ? nullptr : v;
}

// An integer claim: nullopt when absent/null, malformed when present but not an integer.
result<std::optional<std::int64_t>> int_claim(const boost::json::object& o, std::string_view name) {
  if (claim(o, name) == nullptr) return std::optional<std::int64_t>{};
  const auto v = jwt_int_claim(o, name);
  if (!v) return client_token_error::malformed;
  return std::optional<std::int64_t>{*v};
}

result<ClientToken> validate_jwt(std::string_view token, std::string_view api_key,
                                 std::string_view api_secret, std::string_view session_id,
                                 std::int64_t now_s) {
  auto jwt = jwt_decode_hs256(token, api_secret);
  if (!jwt) {
    if (jwt.error() == jwt_error::bad_signature) return client_token_error::bad_signature;
    return client_token_error::malformed;
  }
  const boost::json::object& p = jwt->payload;

  // iss is the API key; a JSON number when an SDK was configured with a numeric key (PHP and
  // NODE accept an int apiKey).
  const boost::json::value* iss = claim(p, "iss");
  if (iss == nullptr) return client_token_error::malformed;
  if (iss->is_string()) {
    if (iss->get_string() != api_key) return client_token_error::wrong_project;
  } else if (iss->is_int64() || iss->is_uint64()) {
    const std::string s = iss->is_int64() ? std::to_string(iss->get_int64())
                                          : std::to_string(iss->get_uint64());
    if (s != api_key) return client_token_error::wrong_project;
  } else {
    return client_token_error::malformed;
  }

  const boost::json::value* sid = claim(p, "session_id");
  if (sid == nullptr || !sid->is_string()) return client_token_error::malformed;
  if (sid->get_string() != session_id) return client_token_error::wrong_session;

  if (const boost::json::value* scope = claim(p, "scope")) {
    if (!scope->is_string() || scope->get_string() != "session.connect") {
      return client_token_error::bad_scope;
    }
  }

  ClientToken out;
  out.legacy_t1 = false;
  // SPEC §5.3: a missing role means publisher.
  if (const boost::json::value* role = claim(p, "role")) {
    const auto r = role->is_string() ? role_from_string(role->get_string()) : std::nullopt;
    if (!r) return client_token_error::invalid_role;
    out.role = *r;
  }

  const auto iat = int_claim(p, "iat");
  const auto create_claim = int_claim(p, "create_time");
  const auto exp = int_claim(p, "exp");
  const auto expire_claim = int_claim(p, "expire_time");
  if (!iat || !create_claim || !exp || !expire_claim) return client_token_error::malformed;
  // create_time (NODE) is the issuer's own notion; every SDK writes iat.
  if (*create_claim) {
    out.create_time = **create_claim;
  } else if (*iat) {
    out.create_time = **iat;
  } else {
    return client_token_error::malformed;
  }
  if (*exp) {
    out.expire_time = **exp;
  } else if (*expire_claim) {
    out.expire_time = **expire_claim;
  } else {
    // SPEC §5.3: RUBY and PHP omit exp unless asked: (iat or create_time) + 24 h.
    const std::int64_t base = *iat ? **iat : out.create_time;
    if (__builtin_add_overflow(base, client_token_default_lifetime_s, &out.expire_time)) {
      return client_token_error::malformed;
    }
  }

  if (const boost::json::value* data = claim(p, "connection_data")) {
    if (!data->is_string()) return client_token_error::malformed;
    out.connection_data = std::string(data->get_string());
  }

  if (const boost::json::value* layout = claim(p, "initial_layout_class_list")) {
    if (layout->is_array()) {
      for (const boost::json::value& item : layout->get_array()) {
        if (!item.is_string()) return client_token_error::malformed;
        for (auto& c : split_layout(item.get_string())) out.layout_classes.push_back(std::move(c));
      }
    } else if (layout->is_string()) {
      // PHP URL-encodes the space-joined list ("focus+full", "focus%20full"). CSS class names
      // never hold `%` or `+`, so decoding is safe for the other SDKs; an undecodable value is
      // kept as written.
      const std::string_view raw = layout->get_string();
      const auto decoded = percent_decode(raw, true);
      out.layout_classes = split_layout(decoded ? std::string_view(*decoded) : raw);
    } else {
      return client_token_error::malformed;
    }
  }

  if (auto r = check_times_and_data(out.create_time, out.expire_time, now_s, out.connection_data);
      !r) {
    return r.error();
  }
  return out;
}

std::string join_layout(const std::vector<std::string>& classes) {
  std::string out;
  for (const auto& c : classes) {
    if (!out.empty()) out += ' ';
    out += c;
  }
  return out;
}

} // namespace

const boost::system::error_category& client_token_category() noexcept {
  static const client_token_category_impl cat;
  return cat;
}

boost::system::error_code make_error_code(client_token_error e) noexcept {
  return {static_cast<int>(e), client_token_category()};
}

std::optional<Role> role_from_string(std::string_view s) noexcept {
  if (s == "publisher") return Role::publisher;
  if (s == "subscriber") return Role::subscriber;
  if (s == "moderator") return Role::moderator;
  if (s == "publisheronly") return Role::publisheronly;
  return std::nullopt;
}

std::string_view to_string(Role r) noexcept {
  switch (r) {
  case Role::publisher: return "publisher";
  case Role::subscriber: return "subscriber";
  case Role::moderator: return "moderator";
  case Role::publisheronly: return "publisheronly";
  }
  return "publisher";
}

boost::system::result<ClientToken> validate_client_token(std::string_view token,
                                                         std::string_view api_key,
                                                         std::string_view api_secret,
                                                         std::string_view session_id,
                                                         std::int64_t now_s) {
  // SPEC §5.3 gateway rule: the prefix alone picks the path.
  if (token.starts_with(t1_prefix)) {
    return validate_t1(token, api_key, api_secret, session_id, now_s);
  }
  return validate_jwt(token, api_key, api_secret, session_id, now_s);
}

std::string make_t1_token(std::string_view api_key, std::string_view api_secret,
                          std::string_view session_id, Role role, std::int64_t create_time,
                          std::int64_t expire_time, std::string_view connection_data,
                          std::string_view nonce, const std::vector<std::string>& layout_classes) {
  std::string data = "session_id=" + form_encode_component(session_id);
  data += "&create_time=" + std::to_string(create_time);
  data += "&expire_time=" + std::to_string(expire_time);
  data += "&role=";
  data += to_string(role);
  data += "&nonce=" + form_encode_component(nonce);
  if (!connection_data.empty()) data += "&connection_data=" + form_encode_component(connection_data);
  data += "&initial_layout_class_list=" + form_encode_component(join_layout(layout_classes));

  std::string plain = "partner_id=";
  plain += api_key;
  plain += "&sig=" + to_hex(hmac_sha1(api_secret, data));
  plain += ':';
  plain += data;
  return std::string(t1_prefix) + base64_encode(plain);
}

std::string make_jwt_token(std::string_view api_key, std::string_view api_secret,
                           std::string_view session_id, Role role, std::int64_t create_time,
                           std::int64_t expire_time, std::string_view connection_data,
                           std::string_view nonce, const std::vector<std::string>& layout_classes) {
  boost::json::object p;
  p["iss"] = api_key;
  p["ist"] = "project";
  p["iat"] = create_time;
  p["exp"] = expire_time;
  p["session_id"] = session_id;
  p["create_time"] = create_time;
  p["expire_time"] = expire_time;
  double n = 0;
  const auto [ptr, ec] = std::from_chars(nonce.data(), nonce.data() + nonce.size(), n);
  if (ec == std::errc{} && ptr == nonce.data() + nonce.size() && !nonce.empty() &&
      std::isfinite(n)) {
    p["nonce"] = n;
  } else {
    p["nonce"] = nonce;
  }
  p["role"] = to_string(role);
  p["initial_layout_class_list"] = join_layout(layout_classes);
  p["scope"] = "session.connect";
  if (!connection_data.empty()) p["connection_data"] = connection_data;
  return jwt_encode_hs256(p, api_secret);
}

} // namespace sb::core
