// Projects (an OpenTok "API key" and its secret) and their callback registrations. Every shard
// holds its own copy of the table (read on every request, so never shared or locked); a change
// such as a callback registration is broadcast to all shards as posted work.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::core {

// A callback registration (SPEC §4.7 shape). Group "sip" receives the SIP call-monitoring events
// of SPEC §6; groups "connection"/"stream" are accepted and listed (session monitoring).
struct Callback {
  std::string id;
  std::string group;
  std::string event;
  std::string url;
  std::int64_t created_at = 0;  // ms
};

struct Project {
  std::string api_key;
  std::string api_secret;
  std::string callback_url;  // SIP-monitoring URL from configuration (may be empty)
  std::vector<Callback> callbacks;

  // Every URL that must receive a SIP call-monitoring event: the configured one, then the
  // registered "sip" callbacks, without duplicates.
  std::vector<std::string> sip_callback_urls() const;
};

class ProjectTable {
 public:
  void add(Project p);
  const Project* find(std::string_view api_key) const;
  Project* find(std::string_view api_key);
  std::optional<std::string> secret_of(std::string_view api_key) const;
  const std::vector<Project>& all() const { return projects_; }

  // Bounded per project so registrations cannot grow memory without limit.
  static constexpr std::size_t kMaxCallbacksPerProject = 64;
  bool add_callback(std::string_view api_key, Callback cb);
  bool remove_callback(std::string_view api_key, std::string_view id);

 private:
  std::vector<Project> projects_;  // a handful per deployment: linear search is fastest
};

}  // namespace sb::core
