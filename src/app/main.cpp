// switchboard: the server binary. See README.md for the two commands and docs/config.md.
#include "app/app.hpp"
#include "app/config.hpp"
#include "base/log.hpp"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <pthread.h>
#include <sys/resource.h>

int main(int argc, char** argv) {
  using namespace sb;
  app::Config cfg;
  std::string why;
  bool exit_now = false;
  if (!app::apply_flags(cfg, argc, argv, &why, &exit_now) || !app::finalize(cfg, &why)) {
    std::fprintf(stderr, "switchboard: %s\n", why.c_str());
    return 2;
  }
  if (exit_now) return 0;

  // Every call holds a socket or two (RTP, and RTCP without rtcp-mux) and every REST client a
  // connection: take the hard file-descriptor limit, not the shell's soft default (often 1024),
  // and say what we got.
  if (rlimit rl{}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
      ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    log::info("app", "file descriptor limit {}", static_cast<unsigned long long>(rl.rlim_cur));
  }

  // Block the termination signals before any thread starts, so only this thread receives them
  // (sigwait below) and the shards never run signal handlers.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    app::App server(cfg);
    server.start();
    if (cfg.dev_project) {
      // Printed on purpose: the embedded project exists only for local development.
      std::printf("Switchboard development project\n  apiKey:    %s\n  apiSecret: %s\n  apiUrl:    http://%s:%u\n",
                  app::kDevApiKey, app::kDevApiSecret, cfg.http_address.c_str(), server.http_port());
      std::fflush(stdout);
    }
    if (!cfg.ready_file.empty()) {
      std::ofstream f(cfg.ready_file + ".tmp");
      f << "{\"httpPort\":" << server.http_port() << ",\"sip\":[";
      for (unsigned i = 0; i < server.shards(); ++i) {
        auto p = server.sip_ports(i);
        f << (i ? "," : "") << "{\"udp\":" << p[0] << ",\"tcp\":" << p[1] << ",\"tls\":" << p[2] << "}";
      }
      f << "]}\n";
      f.close();
      std::rename((cfg.ready_file + ".tmp").c_str(), cfg.ready_file.c_str());
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    log::info("app", "signal {} received", sig);
    bool clean = server.drain(cfg.drain_timeout);
    (void)clean;  // both a clean and a deadline-forced drain are an orderly exit
  } catch (const std::exception& e) {
    log::error("app", "fatal: {}", e.what());
    return 1;
  }
  return 0;
}
