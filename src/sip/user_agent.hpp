// The SIP user agent of one shard: its transport (own ports, so in-dialog requests come back to
// the shard that owns the dialog), its RFC 3263 resolver, and the calls it placed. It routes
// every message it receives: a response to the call whose transaction it answers (top-Via
// branch), a request to the call whose dialog it names (Call-ID + our tag). Anything else — an
// unsolicited INVITE, OPTIONS, REGISTER, a stray response — is dropped and counted: the gateway
// answers no request outside the dialogs it created (SPEC §7).
#pragma once
#include "sip/call.hpp"
#include "sip/network.hpp"
#include "sip/transaction.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <map>
#include <memory>
#include <string>

namespace sb::sip {

struct UserAgentOptions {
  TransportOptions transport;
  ResolverOptions resolver;
  TimerConfig timers;
  std::string user_agent = "Switchboard/0.1";
  std::size_t max_calls = 10000;  // per shard
};

struct UserAgentStats {
  std::uint64_t calls_started = 0, calls_ended = 0;
  std::uint64_t unmatched_responses = 0;    // no transaction of ours: dropped
  std::uint64_t out_of_dialog_requests = 0; // not in a dialog we created: dropped
  std::uint64_t inbox_overflow = 0;         // a call's bounded inbox was full: dropped
  std::uint64_t invalid_messages = 0;       // parsed, but failed the core-header checks
  std::uint64_t media_failures = 0;         // calls ended because their media failed (CallMedia::failure)
};

class UserAgent {
 public:
  /// `network`: sockets and DNS (make_socket_network with opts.transport and opts.resolver) in
  /// the server; a MemoryNetwork (memory_network.hpp) in tests and fuzzers. The user agent itself
  /// touches no socket.
  UserAgent(boost::asio::any_io_executor ex, UserAgentOptions opts, std::unique_ptr<Network> network);
  ~UserAgent();
  UserAgent(const UserAgent&) = delete;
  UserAgent& operator=(const UserAgent&) = delete;

  void start();  // binds the transport; throws on failure (setup error)
  void stop();

  // Places a call; nullptr when the shard is at its call limit (at_call_limit()). The call's
  // coroutine may run inline up to its first wait: observer callbacks (DIALING) can fire before
  // dial() returns.
  std::shared_ptr<Call> dial(CallParams params, std::unique_ptr<CallMedia> media, CallObserver observer);
  // Whether dial() would refuse now: callers check it before they make anything visible.
  bool at_call_limit() const { return calls_.size() >= opts_.max_calls; }
  Call* find(std::string_view call_id_or_conference_id);
  std::size_t active_calls() const { return calls_.size(); }
  void hangup_all(bool abandon_unanswered = false);
  const UserAgentStats& stats() const { return stats_; }
  const TransportStats& transport_stats() const { return net_->transport_stats(); }
  std::uint16_t port(Transport t) const { return net_->port(t); }

  // ---- for Call ------------------------------------------------------------------------
  boost::asio::any_io_executor executor() const { return ex_; }
  const TimerConfig& timers() const { return opts_.timers; }
  std::string_view user_agent() const { return opts_.user_agent; }
  std::string advertised_host() const;
  std::string via_host() const;  // IPv6 in brackets
  std::uint16_t port_for(std::string_view transport_token) const;
  std::string new_branch() const;  // RFC 3261 §8.1.1.7 magic cookie + random
  boost::asio::awaitable<boost::system::result<std::vector<Target>>> resolve(std::string uri);
  boost::asio::awaitable<std::error_code> send(Target target, std::string wire);
  boost::asio::awaitable<std::error_code> reply(Source from, std::string wire);
  void bind_branch(const std::string& branch, std::weak_ptr<Call> call);
  void unbind_branch(const std::string& branch);
  void bind_dialog(const std::string& call_id, const std::string& local_tag, std::weak_ptr<Call> call);
  void unbind_dialog(const std::string& call_id, const std::string& local_tag);
  void call_finished(Call* call);
  void count_inbox_overflow() { ++stats_.inbox_overflow; }
  void count_media_failure() { ++stats_.media_failures; }

 private:
  void on_message(const Message& msg, std::string_view raw, const Source& from);

  boost::asio::any_io_executor ex_;
  UserAgentOptions opts_;
  std::unique_ptr<Network> net_;
  std::map<std::string, std::shared_ptr<Call>, std::less<>> calls_;  // by conference id
  std::map<std::string, std::weak_ptr<Call>, std::less<>> branches_;
  std::map<std::string, std::weak_ptr<Call>, std::less<>> dialogs_;  // call-id + "\n" + local tag
  UserAgentStats stats_;
};

}  // namespace sb::sip
