// Shared pieces of the SIP interop tests: a Switchboard with a webhook receiver and session
// monitoring wired to it (Fixture), a sipp UAS runner (Sipp), and port helpers. Every peer is a
// real process started on a free port and killed by PID.
#pragma once
#include "core/client_token.hpp"
#include "support/process.hpp"
#include "support/test_server.hpp"
#include "support/webhook_receiver.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

namespace sb::test {
using namespace std::chrono_literals;
namespace sipfx_detail { using verb = boost::beast::http::verb; }
using sipfx_detail::verb;

inline const std::string kScenarios = std::string(SB_SOURCE_DIR) + "/tests/sip/scenarios/";


struct Sipp {
  std::string dir;
  std::uint16_t port;
  std::unique_ptr<Process> proc;
  // `extra`: more sipp arguments, e.g. {"-key", "media2", "47000"} for [media2] in the scenario.
  Sipp(const std::string& scenario, bool tcp = false, std::vector<std::string> extra = {}) {
    dir = std::filesystem::temp_directory_path() / ("sb-sipp-" + std::to_string(::getpid()) + "-" + scenario);
    std::filesystem::create_directories(dir);
    port = free_port(tcp ? SOCK_STREAM : SOCK_DGRAM);
    std::vector<std::string> argv{"sipp", "-sf", kScenarios + scenario, "-i", "127.0.0.1", "-p", std::to_string(port),
                                  "-m", "1", "-timeout", "25s", "-timeout_error", "-trace_msg", "-message_file",
                                  dir + "/messages.log", "-trace_err", "-error_file", dir + "/errors.log",
                                  "-nostdin"};
    if (tcp) argv.insert(argv.end(), {"-t", "t1"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(argv, dir + "/out.log", dir);
    REQUIRE(proc->started());
    REQUIRE_MESSAGE(wait_bound(port, tcp ? SOCK_STREAM : SOCK_DGRAM, 5s), "sipp did not start");
  }
  // sipp's exit status: 0 when its scenario (with every check) completed.
  int finish(std::chrono::milliseconds timeout = 20s) { return proc->wait(timeout); }
  std::string messages() const { return slurp(dir + "/messages.log"); }
  std::string errors() const { return slurp(dir + "/errors.log") + slurp(dir + "/out.log"); }
  static std::string slurp(const std::string& f) {
    std::ifstream in(f);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  ~Sipp() {
    if (!std::getenv("SB_KEEP_SIPP")) std::filesystem::remove_all(dir);
  }
};

struct Fixture {
  WebhookReceiver hooks;
  std::unique_ptr<TestServer> server;
  std::string sid;
  explicit Fixture(std::chrono::milliseconds t1 = 500ms, std::function<void(app::Config&)> tweak = {}) {
    auto c = test_config(1);
    c.projects[0].callback_url = hooks.url();
    c.webhooks.backoff_initial = 20ms;
    c.sip.t1 = t1;
    if (tweak) tweak(c);
    server = std::make_unique<TestServer>(c);
    sid = server->create_session(true);
    REQUIRE(!sid.empty());
    // Session monitoring to the same receiver, so session events and call events share one
    // ordered stream.
    for (const char* g : {"connection", "stream"}) {
      auto r = server->call(verb::post, fmt::format("/v2/project/{}/callback", kKey),
                            fmt::format(R"({{"group":"{}","event":"all","url":"{}"}})", g, hooks.url()));
      REQUIRE(r.status == 200);
    }
  }
  HttpReply dial(const std::string& uri, const std::string& sip_extra = "", core::Role role = core::Role::publisher) {
    auto now = unix_s();
    auto tok = core::make_t1_token(kKey, kSecret, sid, role, now, now + 3600, "who=sipp", "1");
    return server->call(verb::post, fmt::format("/v2/project/{}/dial", kKey),
                        fmt::format(R"({{"sessionId":"{}","token":"{}","sip":{{"uri":"{}"{}}}}})", sid, tok, uri, sip_extra));
  }
  bool wait_destroyed(std::chrono::milliseconds t = 30s) { return hooks.wait_for_event("callDestroyed", t); }
  // Waits for callUpdated with this state ("RINGING", "ACTIVE", …).
  bool wait_state(std::string_view state, std::chrono::milliseconds t = 10s) {
    return hooks.wait_for([&](const auto& ev) {
      for (auto& e : ev)
        if (auto* s = e.if_contains("state"); s && s->as_string() == state) return true;
      return false;
    }, t);
  }
  // REST force-disconnect of a connection of this fixture's session.
  HttpReply force_disconnect(std::string_view connection_id) {
    return server->call(verb::delete_, fmt::format("/v2/project/{}/session/{}/connection/{}", kKey, sid, connection_id));
  }
  // Call events only, in order: callCreated, callUpdated:STATE…, callDestroyed:CODE.
  std::vector<std::string> call_events() {
    std::vector<std::string> out;
    for (auto& n : hooks.names())
      if (n.rfind("call", 0) == 0) out.push_back(n);
    return out;
  }
};

inline std::string uri_for(const Sipp& s, std::string_view transport = "udp") {
  return fmt::format("sip:uas@127.0.0.1:{};transport={}", s.port, transport);
}


}  // namespace sb::test
