// sip::Call in-process: a UserAgent on the test's own io_context, a recording CallMedia instead of
// the rtp layer, and a sipp UAS (tests/sip/scenarios/) as the far end. What the call hands its
// media (offers, answers) and how it reacts to the media failing.
#include "sip/user_agent.hpp"
#include "support/recording_media.hpp"
#include "support/sip_fixture.hpp"

#include <doctest/doctest.h>

#include <boost/asio.hpp>

#include <algorithm>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

// A UserAgent on 127.0.0.1 ephemeral ports, run by the test thread.
struct Rig {
  asio::io_context io;
  std::unique_ptr<sip::UserAgent> ua;
  std::shared_ptr<MediaLog> media = std::make_shared<MediaLog>();
  std::vector<sip::CallState> states;
  std::optional<sip::CallEnd> end;

  Rig() {
    sip::UserAgentOptions o;
    o.transport.enable_tls = false;
    o.timers.t1 = 100ms;
    ua = std::make_unique<sip::UserAgent>(io.get_executor(), o,
                                          sip::make_socket_network(io.get_executor(), o.transport, o.resolver));
    ua->start();
  }
  ~Rig() {
    ua->hangup_all(true);
    run_until([&] { return ua->active_calls() == 0; }, 5s);
    ua->stop();
    io.run_for(50ms);
  }
  std::shared_ptr<sip::Call> dial(const std::string& uri, sip::CallParams p = {}) {
    p.id = "call-under-test";
    p.session_id = "1_MX4xMjM0NTZ-";
    p.uri = uri;
    sip::CallObserver obs;
    obs.on_state = [this](sip::CallState s) { states.push_back(s); };
    obs.on_end = [this](const sip::CallEnd& e) { end = e; };
    return ua->dial(std::move(p), std::make_unique<RecordingMedia>(media), std::move(obs));
  }
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
      io.run_for(10ms);
      io.restart();
    }
    return done();
  }
};

}  // namespace

TEST_CASE("interop: our session-refresh re-INVITE: the answer in its 2xx is applied to the media") {
  const auto media2 = free_port();
  Sipp uas("uas_refresh_answer_moves_media.xml", false, {"-key", "media2", std::to_string(media2)});
  Rig r;
  REQUIRE(r.dial(uri_for(uas)));
  REQUIRE(r.run_until([&] { return r.end.has_value(); }, 20s));
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(r.end->code == 700);
  CHECK(r.media->current_offers == 1);  // the refresh carried a new offer
  // RFC 3264 §8: the answer to it is the session from then on (SDES re-keying, a moved port).
  REQUIRE(r.media->answers.size() == 2);
  CHECK(r.media->answers[1].find(fmt::format("m=audio {} ", media2)) != std::string::npos);
}

TEST_CASE("interop: an offer-less re-INVITE: our offer goes in the 2xx and the answer in the ACK is applied") {
  const auto media2 = free_port();
  Sipp uas("uas_reinvite_no_sdp.xml", false, {"-key", "media2", std::to_string(media2)});
  Rig r;
  REQUIRE(r.dial(uri_for(uas)));
  REQUIRE(r.run_until([&] { return r.end.has_value(); }, 20s));
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(r.end->code == 700);
  CHECK(r.media->current_offers == 1);  // RFC 3261 §14.2: our offer in the 2xx
  CHECK(r.media->offers_answered.empty());
  // RFC 3264 §4 / RFC 3261 §13.2.2.4: the ACK carries the answer.
  REQUIRE(r.media->answers.size() == 2);
  CHECK(r.media->answers[1].find(fmt::format("m=audio {} ", media2)) != std::string::npos);
}

TEST_CASE("interop: media that fails mid-call ends the call at once: BYE, 703, not a silent leg until the inactivity timer") {
  Sipp uas("uas_answer_wait_bye.xml");
  Rig r;
  REQUIRE(r.dial(uri_for(uas)));
  REQUIRE(r.run_until([&] { return !r.states.empty() && r.states.back() == sip::CallState::active; }, 10s));
  REQUIRE(r.media->on_failure);
  // What rtp::AudioLeg does when its socket can no longer receive: set the reason, wake the call.
  r.media->failure = "RTP receive failed: Bad file descriptor";
  const auto failed_at = std::chrono::steady_clock::now();
  r.media->on_failure();
  REQUIRE(r.run_until([&] { return r.end.has_value(); }, 10s));
  CHECK(std::chrono::steady_clock::now() - failed_at < 1s);  // the inactivity check runs every 5 s
  CHECK(r.end->code == 703);  // media had flowed (since_last_packet): not a 704 Media Timeout
  CHECK(r.end->reason == "Unexpected Clearing");
  CHECK(r.ua->stats().media_failures == 1);
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());  // sipp got our BYE and answered it
  CHECK(uas.messages().find("BYE sip:uas@") != std::string::npos);
}

TEST_CASE("interop: a 2xx that cannot be keyed brings a re-offer in the dialog; refused too, BYE and 488, never ACTIVE") {
  Sipp uas("uas_reoffer_refused.xml", false);
  Rig r;
  r.media->refuse_answers = 1;
  REQUIRE(r.dial(uri_for(uas)));
  REQUIRE(r.run_until([&] { return r.end.has_value(); }, 20s));
  CHECK_MESSAGE(uas.finish() == 0, uas.errors());
  CHECK(r.end->code == 488);
  CHECK(r.media->reoffers == 1);
  CHECK(r.media->current_offers == 1);  // the re-INVITE's offer
  CHECK(std::find(r.states.begin(), r.states.end(), sip::CallState::active) == r.states.end());
}
