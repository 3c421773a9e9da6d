// What one shard owns for the HTTP layer: its copy of the project table, its sessions, its
// webhook sender and its counters. Only the shard's own thread touches it.
#pragma once
#include "core/project.hpp"
#include "core/session.hpp"
#include "http/webhook.hpp"
#include "runtime/runtime.hpp"

#include <cstdint>
#include <memory>

namespace sb::http {

struct RestCounters {
  std::uint64_t requests = 0;
  std::uint64_t by_class[6] = {};  // 1xx..5xx answers, index = status / 100
  std::uint64_t auth_failures = 0;
  std::uint64_t sessions_created = 0;
  std::uint64_t dial_requests = 0;
  std::uint64_t dial_rejected = 0;
  std::uint64_t signals = 0;
  std::uint64_t force_disconnects = 0;
};

struct ShardServices {
  ShardServices(runtime::Shard& s, core::ProjectTable projects, std::size_t session_limit, WebhookOptions wopts)
      : shard(s), projects(std::move(projects)), sessions(session_limit),
        webhooks(s.executor(), std::move(wopts)) {}
  runtime::Shard& shard;
  core::ProjectTable projects;
  core::SessionTable sessions;
  WebhookSender webhooks;
  RestCounters counters;
  bool draining = false;
};

}  // namespace sb::http
