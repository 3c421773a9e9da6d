#include "core/project.hpp"

#include <algorithm>

namespace sb::core {

std::vector<std::string> Project::sip_callback_urls() const {
  std::vector<std::string> urls;
  if (!callback_url.empty()) urls.push_back(callback_url);
  for (const auto& cb : callbacks)
    if (cb.group == "sip" && std::find(urls.begin(), urls.end(), cb.url) == urls.end()) urls.push_back(cb.url);
  return urls;
}

void ProjectTable::add(Project p) { projects_.push_back(std::move(p)); }

const Project* ProjectTable::find(std::string_view api_key) const {
  for (const auto& p : projects_)
    if (p.api_key == api_key) return &p;
  return nullptr;
}

Project* ProjectTable::find(std::string_view api_key) {
  return const_cast<Project*>(static_cast<const ProjectTable*>(this)->find(api_key));
}

std::optional<std::string> ProjectTable::secret_of(std::string_view api_key) const {
  if (auto* p = find(api_key)) return p->api_secret;
  return std::nullopt;
}

bool ProjectTable::add_callback(std::string_view api_key, Callback cb) {
  auto* p = find(api_key);
  if (!p || p->callbacks.size() >= kMaxCallbacksPerProject) return false;
  p->callbacks.push_back(std::move(cb));
  return true;
}

bool ProjectTable::remove_callback(std::string_view api_key, std::string_view id) {
  auto* p = find(api_key);
  if (!p) return false;
  auto it = std::find_if(p->callbacks.begin(), p->callbacks.end(), [&](const Callback& c) { return c.id == id; });
  if (it == p->callbacks.end()) return false;
  p->callbacks.erase(it);
  return true;
}

}  // namespace sb::core
