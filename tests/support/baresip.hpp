// baresip 1.0.0 as an auto-answering far end for interop tests (/work/shared/INTEROP.md): a
// config directory in a temp dir (config, accounts, a WAV source, a self-signed certificate for
// its TLS listener), the process started on free ports with its SIP trace on (`-s`), and killed
// by PID on destruction. No sound card: audio comes from `aufile` (a sine, or a WAV the test
// gives) and plays to ALSA's null device; `sndfile` records what each call sends and receives.
// It can also place one call itself at start-up (`Options::dial`), as a caller leg.
// (Only process.hpp, doctest and fmt: media tests use it without the server's headers.)
#pragma once
#include "support/process.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sb::test {
using namespace std::chrono_literals;

class Baresip {
 public:
  // One SIP account (one user agent). baresip answers only requests for its own user part
  // (others get 404), so one process can host several differently configured far ends.
  struct Account {
    std::string user = "uas";
    std::string params;  // more ";name=value" address parameters: ";audio_codecs=pcmu;mediaenc=srtp-mand"
  };
  struct Options {
    std::vector<Account> accounts{Account{}};
    // Length of the audio it sends. aufile does not loop: at end of file the source reports an
    // error and the `menu` module hangs the call up (BYE), so a short file makes baresip end the
    // call itself, about a second after the file ran out (aufile checks once a second).
    int source_seconds = 30;
    // A WAV to send instead of the sine (best 48 kHz mono 16-bit, see audio::reference_wav); it
    // is copied into the config directory. The call ends ~1 s after it runs out, as above.
    std::string source_wav;
    // Record every call with `sndfile` (what it received and what it sent, see recordings()).
    bool record = true;
    // A SIP URI to call once started (`-e "/dial URI"`, from the first account): a caller leg.
    std::string dial;
    // More config lines, appended as given ("jitter_buffer_delay 5-10", say).
    std::vector<std::string> extra_config;
    // Debug logging (`-v`): it logs each RFC 4733 event it receives ("received event: 'D' (end=1)").
    bool verbose = false;
  };

  // One call's recording by `sndfile`: 16-bit mono WAVs at the codec's rate (8 kHz PCMU/PCMA,
  // 16 kHz G.722, 48 kHz Opus), complete once the call has ended. Files are named by the
  // second the call's audio started (dump-YYYY-MM-DD-hh-mm-ss-{dec,enc}.wav): two calls of one
  // baresip starting within the same second write the same files, so give each leg its own
  // baresip.
  struct Recording {
    std::string received;  // decoded from the far end ("-dec.wav")
    std::string sent;      // what it encoded and sent ("-enc.wav")
  };

  // Its RTP ports (config `rtp_ports`): SIP ports are kept out of this range.
  static constexpr std::uint16_t kRtpMin = 30000, kRtpMax = 39999;

  Baresip() : Baresip(Options{}) {}
  explicit Baresip(Options o) : opts_(std::move(o)) {
    static int seq = 0;
    dir_ = (std::filesystem::temp_directory_path() /
            fmt::format("sb-baresip-{}-{}", ::getpid(), ++seq)).string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    make_certificate();
    make_source();
    // A port picked free can be taken before baresip binds it (its TLS port P+1 by another
    // test's ephemeral port, say): baresip then exits at once, and we try another.
    // (A start that fails here throws: the process is still killed, the directory is kept.)
    for (int attempt = 0; attempt < 4 && !start(); ++attempt) {}
    REQUIRE_MESSAGE((proc_ && proc_->running() && wait_log("baresip is ready.", 0ms)), log());
    REQUIRE_MESSAGE(wait_bound(port_, SOCK_DGRAM, 5s), "baresip is not listening on UDP ", port_);
    REQUIRE_MESSAGE(wait_bound(port_, SOCK_STREAM, 5s), "baresip is not listening on TCP ", port_);
    REQUIRE_MESSAGE(wait_bound(tls_port(), SOCK_STREAM, 5s), "baresip is not listening on TLS ", tls_port());
  }
  ~Baresip() {
    proc_.reset();  // killed by PID (its process group) before its directory goes
    if (!std::getenv("SB_KEEP_SIPP") && !std::getenv("SB_KEEP_BARESIP")) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  Baresip(const Baresip&) = delete;
  Baresip& operator=(const Baresip&) = delete;

  std::uint16_t port() const { return port_; }
  // TLS listens on the SIP port + 1 (hard-wired in baresip 1.0.0).
  std::uint16_t tls_port() const { return static_cast<std::uint16_t>(port_ + 1); }
  const std::string& dir() const { return dir_; }
  // The self-signed certificate its TLS listener presents (subjectAltName IP:127.0.0.1): the CA
  // the gateway must trust.
  std::string ca_file() const { return dir_ + "/cert.pem"; }
  std::string key_file() const { return dir_ + "/key.pem"; }
  std::string uri(std::string_view user = "uas", std::string_view transport = "udp") const {
    return fmt::format("sip:{}@127.0.0.1:{};transport={}", user, transport == "tls" ? tls_port() : port_, transport);
  }

  std::string log() const { return slurp(log_path()); }
  // How often `needle` occurs in the log so far.
  std::size_t count(std::string_view needle) const {
    auto text = log();
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
  }
  // Waits until `needle` has appeared `times` times in the log.
  bool wait_log(std::string_view needle, std::chrono::milliseconds timeout, std::size_t times = 1) const {
    return wait_log_until([&](const std::string&) { return count(needle) >= times; }, timeout);
  }
  // Waits until `pred` holds for the log's text.
  bool wait_log_until(const std::function<bool(const std::string&)>& pred, std::chrono::milliseconds timeout) const {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (pred(log())) return true;
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(20ms);
    }
  }
  bool running() { return proc_ && proc_->running(); }

  // The recordings so far, one per call in call order, from sndfile's log lines
  // ("sndfile: dumping decode audio to PATH").
  std::vector<Recording> recordings() const {
    std::vector<Recording> out;
    const auto text = log();
    auto path_after = [&](std::size_t at, std::string_view needle) {
      auto begin = at + needle.size();
      auto end = text.find_first_of("\r\n", begin);
      return text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    };
    constexpr std::string_view kDec = "sndfile: dumping decode audio to ", kEnc = "sndfile: dumping encode audio to ";
    std::vector<std::string> dec, enc;
    for (auto at = text.find(kDec); at != std::string::npos; at = text.find(kDec, at + 1)) dec.push_back(path_after(at, kDec));
    for (auto at = text.find(kEnc); at != std::string::npos; at = text.find(kEnc, at + 1)) enc.push_back(path_after(at, kEnc));
    for (std::size_t i = 0; i < std::max(dec.size(), enc.size()); ++i)
      out.push_back({i < dec.size() ? dec[i] : std::string(), i < enc.size() ? enc[i] : std::string()});
    return out;
  }
  // Calls ended so far (by either side), as baresip logs them.
  std::size_t calls_ended() const { return count(" terminated (duration: "); }
  // Waits until `times` calls have ended: their recordings are then complete.
  bool wait_calls_ended(std::chrono::milliseconds timeout, std::size_t times = 1) const {
    return wait_log(" terminated (duration: ", timeout, times);
  }

 private:
  std::string log_path() const { return dir_ + "/baresip.log"; }

  // Starts baresip on a fresh port; false when it exited because a port was taken.
  bool start() {
    port_ = pick_port();
    REQUIRE_MESSAGE(port_ != 0, "no free SIP port pair for baresip");
    write_config();
    write_accounts();
    // -4: IPv4 only; -s: SIP trace to the log (the wire, as baresip saw it); -t: a last-resort
    // bound should this test process die before its destructor runs.
    std::vector<std::string> argv{"baresip", "-4", "-s", "-f", dir_, "-t", "120"};
    if (opts_.verbose) argv.push_back("-v");
    if (!opts_.dial.empty()) {
      argv.push_back("-e");
      argv.push_back("/dial " + opts_.dial);
    }
    proc_ = std::make_unique<Process>(std::move(argv), log_path(), dir_);
    REQUIRE(proc_->started());
    bool ready = wait_log_until(
        [&](const std::string& log) {
          return log.find("baresip is ready.") != std::string::npos || !proc_->running();
        },
        10s);
    if (ready && proc_->running()) return true;
    if (log().find("Address already in use") == std::string::npos) return true;  // the REQUIRE reports it
    proc_.reset();
    return false;
  }

  static std::string slurp(const std::string& f) {
    std::ifstream in(f);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // True when nothing is bound to 127.0.0.1:port for `type`.
  static bool port_free(std::uint16_t port, int type) { return !port_bound(port, type); }
  // A SIP port P free for UDP and TCP with P+1 free for TLS, outside baresip's RTP range.
  static std::uint16_t pick_port() {
    for (int i = 0; i < 500; ++i) {
      auto p = free_port(SOCK_STREAM);
      if ((p >= kRtpMin && p <= kRtpMax + 1) || p >= 65535) continue;
      if (port_free(p, SOCK_DGRAM) && port_free(p + 1, SOCK_STREAM)) return p;
    }
    return 0;
  }

  // Runs a helper tool to completion (bounded) and checks it succeeded.
  void run_tool(std::vector<std::string> argv, const std::string& what) {
    Process p(std::move(argv), dir_ + "/" + what + ".log", dir_);
    REQUIRE(p.started());
    int rc = p.wait(20s);
    REQUIRE_MESSAGE(rc == 0, what, " failed (", rc, "): ", slurp(dir_ + "/" + what + ".log"));
  }

  void make_certificate() {
    // An EC key (fast to make); the SAN is what the gateway checks the IP address against.
    run_tool({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", dir_ + "/key.pem", "-out", dir_ + "/cert.pem", "-days", "2", "-subj", "/CN=127.0.0.1",
              "-addext", "subjectAltName=IP:127.0.0.1"},
             "openssl");
    // baresip wants certificate and key in one PEM file (`sip_certificate`).
    std::ofstream(dir_ + "/combined.pem") << slurp(dir_ + "/cert.pem") << slurp(dir_ + "/key.pem");
  }

  void make_source() {
    if (!opts_.source_wav.empty()) {
      std::filesystem::copy_file(opts_.source_wav, dir_ + "/source.wav", std::filesystem::copy_options::overwrite_existing);
      return;
    }
    // 48 kHz mono S16LE: with ausrc_srate/ausrc_channels set, baresip resamples it for every codec.
    run_tool({"sox", "-n", "-r", "48000", "-c", "1", "-b", "16", dir_ + "/source.wav", "synth",
              std::to_string(opts_.source_seconds), "sine", "440", "vol", "0.5"},
             "sox");
  }

  void write_config() {
    std::ofstream c(dir_ + "/config");
    c << "poll_method epoll\n"
      << "sip_listen 127.0.0.1:" << port_ << "\n"
      << "sip_certificate " << dir_ << "/combined.pem\n"
      << "net_interface 127.0.0.1\n"
      << "call_local_timeout 120\n"
      << "call_max_calls 8\n"
      // No sound card: send the WAV, play to ALSA's null device.
      << "audio_source aufile," << dir_ << "/source.wav\n"
      << "audio_player alsa,null\n"
      << "audio_alert alsa,null\n"
      << "ausrc_srate 48000\n"
      << "ausrc_channels 1\n"
      << "rtp_ports " << kRtpMin << "-" << kRtpMax << "\n"
      << "module_path /usr/lib/baresip/modules\n"
      // Not `stdio` (it cannot poll /dev/null headless) nor anything that listens on a fixed port
      // (cons, httpd, ctrl_tcp).
      << "module g711.so\n"
      << "module g722.so\n"
      << "module opus.so\n"
      << "module srtp.so\n"
      << "module dtls_srtp.so\n"
      << "module aufile.so\n"
      << "module alsa.so\n"
      << (opts_.record ? "module sndfile.so\nsnd_path " + dir_ + "\n" : std::string())
      // `account` reads the accounts file; `menu` auto-answers and hangs up on a source error.
      << "module_tmp account.so\n"
      << "module_app menu.so\n";
    for (const auto& line : opts_.extra_config) c << line << "\n";
  }

  void write_accounts() {
    std::ofstream a(dir_ + "/accounts");
    for (const auto& acc : opts_.accounts)
      a << fmt::format("<sip:{}@127.0.0.1:{}>;regint=0;answermode=auto;ptime=20{}\n", acc.user, port_, acc.params);
  }

  Options opts_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<Process> proc_;
};

}  // namespace sb::test
