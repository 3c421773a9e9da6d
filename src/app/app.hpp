// The assembled server: runtime shards, per-shard services, the REST API and one HTTP listener
// per shard. main() and the in-process tests build exactly this.
#pragma once
#include "app/config.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace sb::runtime { class Runtime; class Shard; }
namespace sb::http { class RestApi; class Server; struct ShardServices; }
namespace sb::signaling { class ClientApi; }

namespace sb::app {

class App {
 public:
  explicit App(Config cfg);  // cfg must have been finalize()d
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Binds the listeners and starts the shard threads. Throws on bind failure (setup error).
  void start();
  std::uint16_t http_port() const { return http_port_; }
  // SIP ports of shard i after start(): {udp, tcp, tls} (0 = not listening).
  std::array<std::uint16_t, 3> sip_ports(unsigned shard) const;
  unsigned shards() const;
  // Shard i's runtime and services (tests post work to a shard, and touch its services there).
  runtime::Shard& shard(unsigned i);
  http::ShardServices& services(unsigned i);
  const Config& config() const { return cfg_; }

  // Graceful drain (SIGTERM): refuse new work, end what runs, flush webhooks, all within the
  // deadline; then the shards run out of work and their threads end. Returns true when everything
  // finished in time (false: the deadline forced a stop).
  bool drain(std::chrono::milliseconds deadline);

 private:
  Config cfg_;
  std::unique_ptr<runtime::Runtime> rt_;
  std::vector<std::unique_ptr<http::ShardServices>> services_;
  std::unique_ptr<http::RestApi> api_;
  std::unique_ptr<signaling::ClientApi> clients_;
  std::unique_ptr<class Demo> demo_;  // null unless the demo page is on
  std::vector<std::unique_ptr<http::Server>> servers_;
  std::uint16_t http_port_ = 0;
  bool started_ = false, stopped_ = false;
};

}  // namespace sb::app
