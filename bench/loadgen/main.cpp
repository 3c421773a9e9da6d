// bench_loadgen: drives a running Switchboard with real calls (loadgen.hpp, docs/benchmarks.md).
//
//   bench_loadgen --scenario relay --ramp 100:100:1000 --server-pid $(pidof switchboard)
//
// Scenarios (each flag below overrides what the scenario sets):
//   relay      two SIP legs per session, PCMU both: the server should relay (passthrough)
//   transcode  PCMU ↔ Opus: the server mixes and transcodes
//   srtp       relay with SDES-SRTP (AES_CM_128_HMAC_SHA1_80) on both legs
//   room       one session, --legs N legs of --codecs (mixer scaling)
//   churn      open-loop arrivals of --rate sessions/s, each call answered, 5 s of speech, BYE
//   dialrate   one dial per pre-made session at --rate dials/s, open loop; REST latency from each
//              dial's intended send time (no coordinated omission); 1 s calls without media
//   setup      dial → INVITE → 180/200 → ACK → hold (re-INVITE sendonly) → BYE, no media, at --rate;
//              with --target sip:… the far end is external (bench/loadgen/setup_vs_sipp.sh: a sipp UAS
//              that holds and hangs up) and the server's /metrics say how the calls ended
//
// --reuse-sessions: a call dials into a session whose earlier call has ended (rooms) instead of
// creating one; the soak uses it so that its RSS measures calls, not the session store.
//
// Concurrency scenarios hold --calls sessions (or ramp --ramp START:STEP:MAX, --step-seconds each)
// and measure each step after the calls are up: far-end loss, late frames, probe latency, the
// server's CPU per call (from /proc/<--server-pid>/stat) and our own CPU apart. The knee is the
// last step before loss or late frames exceed --knee-loss / --knee-late percent, or a call failed.
// A progress line goes to stderr each second; the JSON result to stdout (and --json FILE).
// --rtpengine HOST:PORT runs the same far ends and speech through rtpengine instead (two legs per
// call set up by its ng protocol, no REST or SIP; --server-pid is then rtpengine's PID) for the
// side-by-side record (bench/loadgen/vs_rtpengine.sh). --corpus FILE keeps the speech corpus in FILE (made once with espeak-ng and sox, then reused,
// e.g. on a machine without them). --check exits 1 unless every call succeeded, every leg heard the other side and (with
// --expect-relay yes|no) the server chose relay or mix as expected.
#include "loadgen.hpp"

#include "base/log.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <dirent.h>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

using namespace lg;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

struct Args {
  Options opt;
  std::string scenario = "relay";
  int legs = 2;
  std::vector<std::string> codecs{"pcmu", "pcmu"};
  bool secure = false, media = true, hold = false, presession = false;
  int calls = 10;
  int ramp_start = 0, ramp_step = 0, ramp_max = 0;
  double rate = 0, rate_step = 0, rate_max = 0;
  double step_seconds = 10, settle_seconds = 2, launch_rate = 200;
  int lifetime_ms = 0;
  int server_pid = 0;
  double knee_loss = 0.1, knee_late = 0.5;
  std::string expect_relay;  // "", "yes", "no"
  bool check = false;
  std::string json_file, label, corpus_file, target;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "bench_loadgen: %s\n(see the comment at the top of bench/loadgen/main.cpp)\n", why);
  std::exit(2);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= s.size()) {
    auto j = s.find(sep, i);
    if (j == std::string::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  // The scenario first: its defaults, then every other flag overrides them.
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == "--scenario") a.scenario = argv[i + 1];
  const auto& s = a.scenario;
  if (s == "relay") {
  } else if (s == "transcode") {
    a.codecs = {"pcmu", "opus"};
  } else if (s == "srtp") {
    a.secure = true;
  } else if (s == "room") {
    a.legs = 8, a.calls = 1, a.codecs = {"pcmu"};
  } else if (s == "churn") {
    a.rate = 20, a.lifetime_ms = 5000;
  } else if (s == "dialrate") {
    a.rate = 1000, a.legs = 1, a.codecs = {"pcmu"}, a.media = false, a.lifetime_ms = 1000, a.presession = true,
    a.step_seconds = 10;
  } else if (s == "setup") {
    a.rate = 50, a.legs = 1, a.codecs = {"pcmu"}, a.media = false, a.lifetime_ms = 200, a.hold = true;
  } else {
    usage("unknown --scenario");
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view f = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage("a flag lacks its value");
      return argv[++i];
    };
    if (f == "--scenario") val();
    else if (f == "--url") {
      auto u = val();
      if (u.rfind("http://", 0) != 0) usage("--url must be http://host:port");
      u = u.substr(7);
      auto c = u.rfind(':');
      if (c == std::string::npos) usage("--url needs a port");
      a.opt.host = u.substr(0, c);
      a.opt.port = static_cast<std::uint16_t>(std::stoi(u.substr(c + 1)));
    } else if (f == "--key") a.opt.key = val();
    else if (f == "--secret") a.opt.secret = val();
    else if (f == "--sip-ip") a.opt.sip_ip = val();
    else if (f == "--workers") a.opt.workers = std::max(1, std::stoi(val()));
    else if (f == "--late-ms") a.opt.late_ms = std::stoi(val());
    else if (f == "--opus-complexity") a.opt.opus_complexity = std::stoi(val());
    else if (f == "--opus-fec") a.opt.opus_fec = val() != "0";
    else if (f == "--legs") a.legs = std::stoi(val());
    else if (f == "--codecs") a.codecs = split(val(), ',');
    else if (f == "--secure") a.secure = true;
    else if (f == "--no-media") a.media = false;
    else if (f == "--hold") a.hold = true;
    else if (f == "--presession") a.presession = true;
    else if (f == "--reuse-sessions") a.opt.reuse_sessions = true;
    else if (f == "--calls") a.calls = std::stoi(val()), a.rate = 0;
    else if (f == "--ramp") {
      auto p = split(val(), ':');
      if (p.size() != 3) usage("--ramp START:STEP:MAX");
      a.ramp_start = std::stoi(p[0]), a.ramp_step = std::stoi(p[1]), a.ramp_max = std::stoi(p[2]);
      a.rate = 0;
    } else if (f == "--rate") {
      auto p = split(val(), ':');
      a.rate = std::stod(p[0]);
      if (p.size() == 3) a.rate_step = std::stod(p[1]), a.rate_max = std::stod(p[2]);
    } else if (f == "--step-seconds" || f == "--seconds") a.step_seconds = std::stod(val());
    else if (f == "--settle-seconds") a.settle_seconds = std::stod(val());
    else if (f == "--launch-rate") a.launch_rate = std::stod(val());
    else if (f == "--lifetime-ms") a.lifetime_ms = std::stoi(val());
    else if (f == "--server-pid") a.server_pid = std::stoi(val());
    else if (f == "--knee-loss") a.knee_loss = std::stod(val());
    else if (f == "--knee-late") a.knee_late = std::stod(val());
    else if (f == "--expect-relay") a.expect_relay = val();
    else if (f == "--check") a.check = true;
    else if (f == "--json") a.json_file = val();
    else if (f == "--label") a.label = val();
    else if (f == "--corpus") a.corpus_file = val();
    else if (f == "--target") a.target = val(), a.media = false;
    else if (f == "--rtpengine") a.opt.rtpengine = val();
    else if (f == "--verbose") a.opt.verbose = true;
    else usage(fmt::format("unknown flag {}", f).c_str());
  }
  for (auto& c : a.codecs)
    if (!codec_by_name(c)) usage("--codecs: pcmu, pcma, g722 or opus");
  if (a.legs < 1 || a.codecs.empty()) usage("--legs ≥ 1");
  // An external far end's call outlives our part of it: its session must not take another call.
  if (a.opt.reuse_sessions && !a.target.empty()) usage("--reuse-sessions cannot be used with --target");
  return a;
}

// CPU seconds (user + system) of a process from /proc/<pid>/stat, all its threads.
double proc_cpu_s(int pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string s((std::istreambuf_iterator<char>(f)), {});
  auto r = s.rfind(')');
  if (r == std::string::npos) return 0;
  std::istringstream in(s.substr(r + 2));
  std::string tok;
  double ut = 0, st = 0;
  for (int field = 3; in >> tok; ++field) {
    if (field == 14) ut = std::stod(tok);
    if (field == 15) {
      st = std::stod(tok);
      break;
    }
  }
  return (ut + st) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long proc_status_kib(int pid, const char* key) {
  std::ifstream f(pid ? fmt::format("/proc/{}/status", pid) : std::string("/proc/self/status"));
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key));
  return 0;
}

long proc_fds(int pid) {
  long n = 0;
  if (auto* d = ::opendir(fmt::format("/proc/{}/fd", pid).c_str())) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n > 2 ? n - 2 : 0;
}

double self_cpu_s() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// A sum over workers of one counter.
struct Totals {
  std::map<std::string, std::uint64_t> v;
  std::uint64_t operator[](const std::string& k) const {
    auto it = v.find(k);
    return it == v.end() ? 0 : it->second;
  }
};

#define LG_COUNTERS(X)                                                                                        \
  X(sessions) X(session_failures) X(dials) X(dial_failures) X(invites) X(unknown_invites) X(acked) X(legs_failed) \
  X(server_byes) X(unexpected_byes) X(byes_sent) X(byes_ok) X(holds_ok) X(calls_done) X(retransmissions)    \
  X(sip_malformed) X(rtp_sent) X(rtp_received) X(rtp_expected) X(rtp_late) X(rtp_reordered) X(rtp_bad)      \
  X(rtcp_received) X(rtp_other) X(probes_sent) X(probes_found) X(send_late) X(legs_active) X(legs_heard)    \
  X(legs_deaf) X(legs_probed) X(rtp_stray) X(rtp_send_errors) X(dials_refused) \
  X(byes_rejected) X(transaction_timeouts)

Totals totals(std::vector<std::unique_ptr<Worker>>& ws) {
  Totals t;
  std::uint64_t late_max = 0;
  for (auto& w : ws) {
    auto& c = w->counters();
#define LG_ADD(name) t.v[#name] += c.name.load(std::memory_order_relaxed);
    LG_COUNTERS(LG_ADD)
#undef LG_ADD
    late_max = std::max(late_max, c.send_late_max_us.load(std::memory_order_relaxed));
  }
  t.v["send_late_max_us"] = late_max;
  return t;
}

std::uint64_t failures(const Totals& t) {
  return t["session_failures"] + t["dial_failures"] + t["legs_failed"] + t["unexpected_byes"] + t["unknown_invites"];
}

volatile std::sig_atomic_t g_interrupted = 0;

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  sb::log::set_level(sb::log::Level::warn);
  std::signal(SIGINT, [](int) { g_interrupted = 1; });
  std::signal(SIGPIPE, SIG_IGN);
  // Many calls → many sockets: take the hard limit.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }

  // The speech corpus, encoded once per codec in use.
  std::map<sb::mix::CodecId, EncodedCorpus> corpora;
  if (a.media) {
    // --corpus FILE: raw 48 kHz s16 samples made by an earlier run (for a machine without
    // espeak-ng and sox); written there when the file does not exist yet.
    std::vector<std::int16_t> pcm;
    if (!a.corpus_file.empty()) {
      std::ifstream in(a.corpus_file, std::ios::binary);
      if (in) {
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        pcm.resize(bytes.size() / 2);
        std::memcpy(pcm.data(), bytes.data(), pcm.size() * 2);
      }
    }
    if (pcm.empty()) {
      pcm = speech_with_probes_48k(20);
      if (!a.corpus_file.empty())
        std::ofstream(a.corpus_file, std::ios::binary).write(reinterpret_cast<const char*>(pcm.data()),
                                                              static_cast<std::streamsize>(pcm.size() * 2));
    }
    for (const auto& name : a.codecs) {
      const auto c = *codec_by_name(name);
      if (corpora.count(c.id)) continue;
      sb::mix::CodecConfig cfg;
      cfg.id = c.id;
      cfg.complexity = a.opt.opus_complexity;
      cfg.inband_fec = a.opt.opus_fec;
      corpora.emplace(c.id, encode_corpus(pcm, cfg));
    }
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < a.opt.workers; ++i) workers.push_back(std::make_unique<Worker>(i, a.opt, corpora));
  for (auto& w : workers) w->start();

  CallPlan plan;
  for (int i = 0; i < a.legs; ++i) plan.leg_codecs.push_back(a.codecs[static_cast<std::size_t>(i) % a.codecs.size()]);
  plan.secure = a.secure;
  plan.media = a.media;
  plan.lifetime = std::chrono::milliseconds(a.lifetime_ms);
  plan.hold_before_bye = a.hold;
  plan.presession = a.presession;
  plan.target = a.target;
  // The server's own counters (external far end: how its calls ended).
  auto metric = [&](std::string_view name) -> double {
    auto r = workers[0]->http_sync(static_cast<int>(boost::beast::http::verb::get), "/metrics");
    const auto key = std::string("\n") + std::string(name) + " ";
    auto p = r.body.find(key);
    return p == std::string::npos ? -1 : std::atof(r.body.c_str() + p + key.size());
  };

  const double cpu0_self = self_cpu_s();
  const long rss_base = a.server_pid ? proc_status_kib(a.server_pid, "VmRSS:") : 0;
  const long fds_base = a.server_pid ? proc_fds(a.server_pid) : 0;
  json::array steps;
  json::object result;
  std::size_t next_worker = 0;
  auto pick = [&]() -> Worker& { return *workers[next_worker++ % workers.size()]; };
  const auto t_start = Clock::now();

  auto progress = [&](const char* phase, double target) {
    auto t = totals(workers);
    const double lost = static_cast<double>(t["rtp_expected"]) - static_cast<double>(t["rtp_received"]);
    std::fprintf(stderr,
                 "[%5.1fs] %s target=%g active legs=%llu sessions=%llu done=%llu failures=%llu rtp tx=%llu rx=%llu "
                 "lost=%.0f late=%llu probes=%llu/%llu srv_cpu=%.1fs\n",
                 std::chrono::duration<double>(Clock::now() - t_start).count(), phase, target,
                 static_cast<unsigned long long>(t["legs_active"]), static_cast<unsigned long long>(t["sessions"]),
                 static_cast<unsigned long long>(t["calls_done"]), static_cast<unsigned long long>(failures(t)),
                 static_cast<unsigned long long>(t["rtp_sent"]), static_cast<unsigned long long>(t["rtp_received"]),
                 lost, static_cast<unsigned long long>(t["rtp_late"]),
                 static_cast<unsigned long long>(t["probes_found"]), static_cast<unsigned long long>(t["probes_sent"]),
                 a.server_pid ? proc_cpu_s(a.server_pid) : 0.0);
  };
  auto take_all = [&](auto member) {
    std::vector<double> all;
    for (auto& w : workers) {
      auto v = ((*w).*member)();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  // One measurement window of `secs` seconds: deltas of everything.
  auto measure = [&](double secs, const char* phase, double target, int expected_legs) {
    take_all(&Worker::take_latencies_us);
    auto before = totals(workers);
    const double srv0 = a.server_pid ? proc_cpu_s(a.server_pid) : 0, self0 = self_cpu_s();
    const auto t0 = Clock::now();
    while (Clock::now() - t0 < std::chrono::duration<double>(secs) && !g_interrupted) {
      std::this_thread::sleep_for(1s);
      progress(phase, target);
    }
    const double el = std::chrono::duration<double>(Clock::now() - t0).count();
    auto after = totals(workers);
    const double srv = a.server_pid ? proc_cpu_s(a.server_pid) - srv0 : 0, self = self_cpu_s() - self0;
    auto d = [&](const char* k) { return static_cast<double>(after[k]) - static_cast<double>(before[k]); };
    const auto lat = take_all(&Worker::take_latencies_us);
    const double expected = d("rtp_expected"), lost = expected - d("rtp_received");
    const double legs = static_cast<double>(after["legs_active"]);
    json::object s;
    s["target"] = target;
    s["seconds"] = el;
    s["legs_active"] = after["legs_active"];
    s["calls_active"] = legs / a.legs;
    s["expected_legs"] = expected_legs;
    s["failures"] = failures(after) - failures(before);
    s["rtp_sent"] = d("rtp_sent");
    s["rtp_received"] = d("rtp_received");
    s["loss_pct"] = expected > 0 ? 100.0 * lost / expected : 0.0;
    s["late_pct"] = expected > 0 ? 100.0 * d("rtp_late") / expected : 0.0;
    s["probes_sent"] = d("probes_sent");
    s["probes_found"] = d("probes_found");
    s["latency_ms"] = json::object{{"p50", pct(lat, 0.5) / 1000}, {"p95", pct(lat, 0.95) / 1000},
                                   {"p99", pct(lat, 0.99) / 1000}, {"n", lat.size()}};
    s["loadgen_cpu_pct"] = 100.0 * self / el;
    s["loadgen_send_late_slots"] = d("send_late");
    if (a.server_pid) {
      s["server_cpu_pct"] = 100.0 * srv / el;
      const double calls = legs / a.legs;
      // CPU per call per 20 ms period: the figure docs/benchmarks.md compares with the cost model.
      s["server_us_per_call_per_20ms"] = calls > 0 ? srv * 1e6 / (calls * el / 0.02) : 0.0;
      const long rss = proc_status_kib(a.server_pid, "VmRSS:");
      s["server_rss_kib"] = rss;
      s["server_rss_kib_per_call"] = calls > 0 ? static_cast<double>(rss - rss_base) / calls : 0.0;
      s["server_fds"] = proc_fds(a.server_pid);
      s["server_fds_per_call"] = calls > 0 ? static_cast<double>(proc_fds(a.server_pid) - fds_base) / calls : 0.0;
    }
    return s;
  };

  const bool rate_mode = a.rate > 0;
  std::vector<std::string> short_steps;  // steps where not every call came up or completed
  std::optional<double> knee;
  if (!rate_mode) {
    // ---- concurrency: hold N sessions, measure, step up ----
    std::vector<int> targets;
    if (a.ramp_step > 0)
      for (int t = a.ramp_start; t <= a.ramp_max; t += a.ramp_step) targets.push_back(t);
    else
      targets.push_back(a.calls);
    int launched = 0;
    double last_good = 0;
    for (int target : targets) {
      if (g_interrupted) break;
      // Launch the step's new sessions at --launch-rate, then wait until their legs are up.
      const auto l0 = Clock::now();
      for (int i = launched; i < target; ++i) {
        const auto due = l0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>((i - launched) / a.launch_rate));
        std::this_thread::sleep_until(due);
        pick().launch(plan, due);
      }
      launched = target;
      const auto expected_legs = static_cast<std::uint64_t>(target) * static_cast<std::uint64_t>(a.legs);
      const auto deadline = Clock::now() + 20s;
      while (Clock::now() < deadline && !g_interrupted) {
        auto t = totals(workers);
        if (t["legs_active"] + t["legs_failed"] >= expected_legs) break;
        std::this_thread::sleep_for(200ms);
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(a.settle_seconds));
      auto s = measure(a.step_seconds, "hold", target, static_cast<int>(expected_legs));
      const bool bad = s["failures"].as_uint64() > 0 || s["loss_pct"].as_double() > a.knee_loss ||
                       s["late_pct"].as_double() > a.knee_late ||
                       s["legs_active"].as_uint64() < expected_legs;
      std::fprintf(stderr, "step %d calls: loss %.3f%% late %.3f%% failures %llu server %.1f us/call/20ms loadgen cpu %.0f%%%s\n",
                   target, s["loss_pct"].as_double(), s["late_pct"].as_double(),
                   static_cast<unsigned long long>(s["failures"].as_uint64()),
                   s.contains("server_us_per_call_per_20ms") ? s["server_us_per_call_per_20ms"].as_double() : 0.0,
                   s["loadgen_cpu_pct"].as_double(), bad ? "  <- past the knee" : "");
      if (s["legs_active"].as_uint64() < expected_legs)
        short_steps.push_back(
            fmt::format("{} calls: {} of {} legs up", target, s["legs_active"].as_uint64(), expected_legs));
      steps.push_back(s);
      if (bad && a.ramp_step > 0) {
        knee = last_good;
        break;
      }
      last_good = target;
    }
    if (a.ramp_step > 0 && !knee) result["knee_note"] = "no knee up to the ramp's maximum";
  } else {
    // ---- open-loop arrivals: rate R sessions/s for step_seconds, step R up ----
    std::vector<double> rates;
    if (a.rate_step > 0)
      for (double r = a.rate; r <= a.rate_max + 1e-9; r += a.rate_step) rates.push_back(r);
    else
      rates.push_back(a.rate);
    double last_good = 0;
    for (double r : rates) {
      if (g_interrupted) break;
      const int n = static_cast<int>(r * a.step_seconds);
      if (a.presession) {
        for (std::size_t i = 0; i < workers.size(); ++i)
          workers[i]->precreate_sessions(n / static_cast<int>(workers.size()) + 1);
        const auto deadline = Clock::now() + 60s;
        for (auto& w : workers)
          while (w->presession_count() < static_cast<std::size_t>(n / static_cast<int>(workers.size())) &&
                 Clock::now() < deadline)
            std::this_thread::sleep_for(100ms);
      }
      take_all(&Worker::take_dial_us);
      const double ended_normal0 = a.target.empty() ? 0 : metric("switchboard_calls_ended_total{outcome=\"normal\"}");
      auto before = totals(workers);
      const double srv0 = a.server_pid ? proc_cpu_s(a.server_pid) : 0, self0 = self_cpu_s();
      const auto t0 = Clock::now();
      auto last_progress = t0;
      for (int i = 0; i < n && !g_interrupted; ++i) {
        // Open loop: the i-th arrival is due at t0 + i/r whatever happened to the others, and its
        // latency counts from then (a late send is the system's delay, not hidden).
        const auto due = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / r));
        std::this_thread::sleep_until(due);
        pick().launch(plan, due);
        if (Clock::now() - last_progress > 1s) {
          last_progress = Clock::now();
          progress("arrivals", r);
        }
      }
      // Let every call of the step finish (its lifetime, hold, BYE), then count.
      const auto target_done = before["sessions"] + static_cast<std::uint64_t>(n);
      const auto deadline = Clock::now() + std::chrono::milliseconds(a.lifetime_ms) + 40s;
      while (Clock::now() < deadline && !g_interrupted) {
        auto t = totals(workers);
        if (t["calls_done"] + t["session_failures"] + t["dial_failures"] >= target_done && t["legs_active"] == 0 &&
            (a.target.empty() || metric("switchboard_calls_active") == 0))
          break;
        std::this_thread::sleep_for(500ms);
        progress("draining", r);
      }
      auto after = totals(workers);
      const double srv = a.server_pid ? proc_cpu_s(a.server_pid) - srv0 : 0, self = self_cpu_s() - self0;
      const auto dial = take_all(&Worker::take_dial_us);
      auto d = [&](const char* k) { return static_cast<double>(after[k]) - static_cast<double>(before[k]); };
      json::object s;
      s["rate"] = r;
      s["sessions"] = d("sessions");
      s["dials"] = d("dials");
      s["dials_refused_503"] = d("dials_refused");
      s["failures"] = failures(after) - failures(before);
      s["calls_done"] = d("calls_done");
      s["holds_ok"] = d("holds_ok");
      s["byes_ok"] = d("byes_ok");
      s["retransmissions"] = d("retransmissions");
      s["dial_latency_ms"] = json::object{{"p50", pct(dial, 0.5) / 1000}, {"p99", pct(dial, 0.99) / 1000},
                                          {"p999", pct(dial, 0.999) / 1000}, {"max", pct(dial, 1.0) / 1000},
                                          {"n", dial.size()}};
      s["rtp_sent"] = d("rtp_sent");
      s["rtp_received"] = d("rtp_received");
      const double expected = d("rtp_expected");
      s["loss_pct"] = expected > 0 ? 100.0 * (expected - d("rtp_received")) / expected : 0.0;
      s["loadgen_cpu_s"] = self;
      if (a.server_pid) {
        s["server_cpu_s"] = srv;
        s["server_cpu_ms_per_call"] = d("dials") > 0 ? srv * 1e3 / d("dials") : 0.0;
      }
      s["loadgen_cpu_ms_per_call"] = d("dials") > 0 ? self * 1e3 / d("dials") : 0.0;
      // (A session whose dial the server refused — 503, shedding — ends at once: in calls_done.)
      bool bad = s["failures"].as_uint64() > 0 || d("calls_done") < n;
      if (!a.target.empty()) {
        // Every call must have ended normally (the far end's BYE after its hold), per the server.
        const double normal = metric("switchboard_calls_ended_total{outcome=\"normal\"}") - ended_normal0;
        s["server_calls_ended_normal"] = normal;
        if (normal < n) bad = true;
      }
      std::fprintf(stderr, "rate %g/s: %g calls done, %g refused (503), %llu failures, dial p50 %.2f ms p99 %.2f ms p99.9 %.2f ms%s\n", r,
                   d("calls_done"), d("dials_refused"), static_cast<unsigned long long>(s["failures"].as_uint64()), pct(dial, 0.5) / 1000,
                   pct(dial, 0.99) / 1000, pct(dial, 0.999) / 1000, bad ? "  <- failures" : "");
      if (d("calls_done") < n)
        short_steps.push_back(fmt::format("rate {}: {} of {} sessions completed", r, d("calls_done"), n));
      steps.push_back(s);
      if (bad && a.rate_step > 0) {
        knee = last_good;
        break;
      }
      last_good = r;
    }
  }

  // Did the server relay or mix? Ask it for the live calls' own statistics.
  std::uint64_t relay_yes = 0, relay_no = 0;
  // And did the relay hold? Packets relayed vs received per leg: a relay that keeps stopping and
  // starting (each start skips what the jitter buffer held) shows as a low share.
  std::uint64_t relayed_in = 0, received_in = 0;
  if (!a.expect_relay.empty()) {
    std::vector<std::string> ids;
    for (auto& w : workers) {
      auto v = w->call_ids();
      ids.insert(ids.end(), v.begin(), v.end());
    }
    if (ids.size() > 40) ids.resize(40);
    for (const auto& id : ids) {
      auto r = workers[0]->http_sync(static_cast<int>(boost::beast::http::verb::get),
                                     fmt::format("/v2/project/{}/call/{}/stats", a.opt.key, id));
      bool active = false;
      try {
        const auto m = json::parse(r.body).at("media");
        active = m.at("relay").at("active").as_bool();
        relayed_in += m.at("relay").at("packetsIn").to_number<std::uint64_t>();
        received_in += m.at("packetsReceived").to_number<std::uint64_t>();
      } catch (const std::exception&) {
      }
      ++(active ? relay_yes : relay_no);
    }
  }

  // Hang up: every far end sends BYE; wait for the server's 200s.
  bool hang_up_timeout = false;
  {
    // Shared with the workers' callbacks, which may outlive this block if the deadline passes.
    auto pending = std::make_shared<std::atomic<int>>(static_cast<int>(workers.size()));
    for (auto& w : workers) w->hang_up_all([pending] { --*pending; });
    const auto deadline = Clock::now() + 40s;
    while (*pending > 0 && Clock::now() < deadline) std::this_thread::sleep_for(100ms);
    hang_up_timeout = *pending > 0;
    if (hang_up_timeout) std::fprintf(stderr, "loadgen: some calls did not end within 40 s\n");
  }
  auto t = totals(workers);
  for (auto& w : workers) w->stop();
  for (auto& w : workers) w->join();

  result["scenario"] = a.scenario;
  if (!a.label.empty()) result["label"] = a.label;
  result["legs_per_session"] = a.legs;
  result["codecs"] = json::value_from(a.codecs);
  result["secure"] = a.secure;
  result["workers"] = a.opt.workers;
  result["steps"] = steps;
  if (knee) result["knee"] = *knee;
  json::object tot;
  for (auto& [k, v] : t.v) tot[k] = v;
  result["totals"] = tot;
  result["loadgen_cpu_s"] = self_cpu_s() - cpu0_self;
  if (!a.expect_relay.empty())
    result["relay"] = json::object{{"active", relay_yes}, {"mixed", relay_no}, {"packets_relayed", relayed_in},
                                   {"packets_received", received_in}};

  // --check: the smoke's assertions (counts, never times).
  std::vector<std::string> problems;
  if (a.check) {
    if (failures(t) > 0) problems.push_back(fmt::format("{} failures", failures(t)));
    if (t["dials_refused"] > 0) problems.push_back(fmt::format("{} dials refused (503, server busy)", t["dials_refused"]));
    if (t["sessions"] == 0) problems.push_back("no session was created");
    for (auto& p : short_steps) problems.push_back(p);
    if (hang_up_timeout) problems.push_back("calls still up 40 s after the hang-up");
    if (a.opt.rtpengine.empty() && t["byes_ok"] + t["server_byes"] < t["acked"])
      problems.push_back("not every answered leg was hung up");
    if (a.media) {
      if (t["legs_deaf"] > 0 || t["legs_heard"] == 0)
        problems.push_back(fmt::format("{} legs heard nothing back ({} did)", t["legs_deaf"], t["legs_heard"]));
      if (a.legs == 2 && t["legs_probed"] < t["legs_heard"])
        problems.push_back(fmt::format("only {} of {} legs found their peer's probe", t["legs_probed"], t["legs_heard"]));
    }
    if (a.expect_relay == "yes" && (relay_no > 0 || relay_yes == 0))
      problems.push_back(fmt::format("expected relay: {} relayed, {} mixed", relay_yes, relay_no));
    // The relay starts once both far ends have sent (well under a second): over a call of a few
    // seconds most packets must have gone through it.
    if (a.expect_relay == "yes" && relayed_in * 2 < received_in)
      problems.push_back(fmt::format("the relay did not hold: {} of {} packets relayed", relayed_in, received_in));
    if (a.expect_relay == "no" && (relay_yes > 0 || relay_no == 0))
      problems.push_back(fmt::format("expected the mix: {} relayed, {} mixed", relay_yes, relay_no));
    result["check"] = problems.empty() ? "ok" : "failed";
    json::array pa;
    for (auto& p : problems) pa.push_back(json::string(p));
    result["problems"] = pa;
  }
  const auto out = json::serialize(result);
  std::printf("%s\n", out.c_str());
  if (!a.json_file.empty()) std::ofstream(a.json_file) << out << "\n";
  for (auto& p : problems) std::fprintf(stderr, "CHECK FAILED: %s\n", p.c_str());
  return problems.empty() ? 0 : 1;
}
