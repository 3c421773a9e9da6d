// Audio through Switchboard, end to end, with real baresip far ends (tests/support/baresip.hpp):
// SIP legs dialed by REST into one session, each baresip playing a different talker
// (espeak-ng, tests/support/audio.hpp) and recording what it hears. The session mixer must give
// each leg everyone else and not itself; the recordings are compared with the references by
// envelope correlation (docs/testing.md "Audio checks"). Figures are printed with MESSAGE.
#include "support/audio.hpp"
#include "support/baresip.hpp"
#include "support/sip_fixture.hpp"
#include "support/udp_relay.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <map>
#include <optional>

using namespace sb;
using namespace sb::test;
using namespace std::chrono_literals;
using verb = boost::beast::http::verb;
namespace au = sb::test::audio;
namespace json = boost::json;

namespace {

constexpr double kSeconds = 10;  // each talker's recording; the leg hangs up ~1 s after it ends

const au::Analysis& talker(int i) {
  static std::map<int, au::Analysis> cache;
  if (auto it = cache.find(i); it != cache.end()) return it->second;
  return cache[i] = au::analyse(au::read_wav(au::reference_wav(au::talker(i), kSeconds)));
}

std::string fmt_sim(const au::Similarity& s) {
  return fmt::format("envelope {:.3f} segmental {:.3f} steady {:.3f} waveform {:.3f} lag {:.0f} ms over {:.1f} s",
                     s.envelope, s.segmental, s.steady, s.waveform, s.lag_ms, s.overlap_s);
}

std::string describe(const au::Contents& m) {
  std::string out;
  for (std::size_t i = 0; i < m.refs.size(); ++i)
    out += fmt::format("[{}] share {:.3f} corr {:.3f}; ", i, m.refs[i].share, m.refs[i].correlation);
  return out + fmt::format("residual {:.3f}", m.residual);
}

// One far end: a baresip answering as "uas", talking talker(talker_index).
struct Leg {
  int talker_index;
  std::string transport = "udp";
  std::unique_ptr<Baresip> ua;
  std::unique_ptr<SdpRelay> relay;  // impairment between the gateway and this leg (UDP only)
  json::object call;                // the dial response
  Leg(int talker_index, const std::string& codecs, const std::string& mediaenc, std::string transport = "udp",
      std::optional<SdpRelay::Options> impair = std::nullopt)
      : talker_index(talker_index), transport(std::move(transport)) {
    Baresip::Options o;
    o.accounts = {{"uas", ";audio_codecs=" + codecs + (mediaenc.empty() ? "" : ";mediaenc=" + mediaenc)}};
    o.source_wav = au::reference_wav(au::talker(talker_index), kSeconds);
    ua = std::make_unique<Baresip>(o);
    if (impair) {
      impair->sip_target_port = ua->port();
      relay = std::make_unique<SdpRelay>(*impair);
    }
  }
  std::string uri() const {
    return relay ? fmt::format("sip:uas@127.0.0.1:{};transport=udp", relay->sip_port()) : ua->uri("uas", transport);
  }
  // What this leg heard, as one mono recording.
  au::Analysis heard() const {
    auto recs = ua->recordings();
    REQUIRE_MESSAGE(recs.size() == 1, ua->log());
    auto rx = au::read_wav(recs[0].received);
    CHECK(rx.seconds() > kSeconds / 2);
    return au::analyse(rx);
  }
};

void dial_all(Fixture& f, std::vector<std::unique_ptr<Leg>>& legs, bool secure) {
  for (auto& l : legs) {
    auto r = f.dial(l->uri(), secure ? R"(,"secure":true)" : "");
    REQUIRE_MESSAGE(r.status == 200, r.body);
    l->call = json::parse(r.body).as_object();
  }
}

void wait_all_ended(Fixture& f, std::vector<std::unique_ptr<Leg>>& legs) {
  for (auto& l : legs) REQUIRE_MESSAGE(l->ua->wait_calls_ended(std::chrono::milliseconds(static_cast<long>(kSeconds * 1000)) + 20s), l->ua->log());
  // The gateway saw every call end (baresip hung up at the end of its file: BYE → 700).
  REQUIRE(f.hooks.wait_for([&](const auto& ev) {
    std::size_t n = 0;
    for (auto& e : ev)
      if (auto* x = e.if_contains("event"); x && x->as_string() == "callDestroyed") ++n;
    return n >= legs.size();
  }, 10s));
}

json::object call_stats(Fixture& f, const json::object& call) {
  auto r = f.server->call(verb::get, fmt::format("/v2/project/{}/call/{}/stats", kKey,
                                                  std::string(call.at("id").as_string())));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  return json::parse(r.body).as_object();
}

struct TwoLegCase {
  const char* name;
  const char* codecs_a;
  const char* codecs_b;
  const char* mediaenc;   // baresip's: "" (RTP/AVP), "srtp-mand" (SDES), "dtls_srtp"
  const char* transport;  // SIP transport to both legs
  const char* keying;     // the gateway's media.keying
  const char* codec_a;    // the codec the gateway's stats must show for leg A
  const char* keying_used;  // the keying the stats must show ("none" for plain RTP)
};

void two_legs(const TwoLegCase& c) {
  const std::string name = c.name;
  CAPTURE(name);
  std::vector<std::unique_ptr<Leg>> legs;
  legs.push_back(std::make_unique<Leg>(0, c.codecs_a, c.mediaenc, c.transport));
  legs.push_back(std::make_unique<Leg>(1, c.codecs_b, c.mediaenc, c.transport));
  const std::string ca = legs[0]->ua->ca_file(), ca2 = legs[1]->ua->ca_file();
  const bool tls = std::string_view(c.transport) == "tls";
  // Both baresips made their own self-signed certificate: trust both (one bundle).
  const std::string bundle = legs[0]->ua->dir() + "/both-ca.pem";
  if (tls) {
    std::ofstream out(bundle);
    out << std::ifstream(ca).rdbuf() << std::ifstream(ca2).rdbuf();
  }
  const std::string key = legs[0]->ua->key_file();
  Fixture f(500ms, [&](app::Config& cfg) {
    cfg.media.keying = c.keying;
    if (tls) {
      cfg.sip.tls_ca = bundle;
      // Our own TLS listener (with leg A's certificate: baresip does not verify it), so the far
      // end's BYE can reach the Contact we advertise.
      cfg.sip.tls_cert = ca;
      cfg.sip.tls_key = key;
    }
  });
  const bool secure = std::string_view(c.mediaenc) != "";
  dial_all(f, legs, secure);
  REQUIRE(f.wait_state("ACTIVE", 10s));
  std::this_thread::sleep_for(3s);
  // Mid-call: the stats endpoint shows the negotiated codec and packets both ways.
  auto st = call_stats(f, legs[0]->call);
  MESSAGE(name, ": leg A stats ", json::serialize(st));
  CHECK(st.at("state").as_string() == "ACTIVE");
  auto& m = st.at("media").as_object();
  CHECK(m.at("codec").as_string() == c.codec_a);
  CHECK(m.at("keying").as_string() == c.keying_used);
  CHECK(m.at("packetsReceived").as_int64() > 50);
  CHECK(m.at("packetsSent").as_int64() > 50);
  // DTLS: a packet or two around the handshake may fail authentication (seen: 1); anything
  // systematic would fail thousands.
  CHECK(m.at("dropped").as_object().at("srtpFailures").as_int64() <= 2);
  // /metrics: both legs live in one conference, packets counted both ways.
  auto metrics = f.server->call(verb::get, "/metrics", "", {}, "").body;
  CHECK(metrics.find("\nswitchboard_media_legs 2\n") != std::string::npos);
  CHECK(metrics.find("\nswitchboard_media_conferences 1\n") != std::string::npos);
  CHECK(metrics.find("switchboard_rtp_packets_total{direction=\"in\"} 0\n") == std::string::npos);
  CHECK(metrics.find("switchboard_rtp_packets_total{direction=\"out\"} 0\n") == std::string::npos);
  // The shards' receive path (rtp::ReceiveMux) took them: its counters move.
  CHECK(metrics.find("\nswitchboard_media_received_datagrams_total ") != std::string::npos);
  CHECK(metrics.find("\nswitchboard_media_received_datagrams_total 0\n") == std::string::npos);
  CHECK(metrics.find("\nswitchboard_media_receive_wakeups_total 0\n") == std::string::npos);
  // Two legs on one codec are relayed (no decode, mix or encode); two codecs are transcoded.
  const bool same_codec = std::string_view(c.codecs_a) == c.codecs_b;
  CHECK(m.at("relay").as_object().at("active").as_bool() == same_codec);
  CHECK((m.at("relay").as_object().at("packetsIn").as_int64() > 50) == same_codec);
  CHECK((metrics.find("\nswitchboard_media_relaying 1\n") != std::string::npos) == same_codec);
  // RTCP both ways: baresip reports every 5 s; its report block on our SR gives the RTT
  // (RFC 3550 §6.4.1). With DTLS, baresip (no rtcp-mux) keys SRTCP with a second association on
  // the RTCP ports (RFC 5764 §4.1), which we answer.
  std::this_thread::sleep_for(4s);
  auto late = call_stats(f, legs[0]->call).at("media").as_object();
  MESSAGE(name, ": leg A stats at 7 s ", json::serialize(late));
  // Leg A's jitter buffer shapes what B hears of A and leg B's what A hears of B: their `playout`
  // counters show a delay that moved (printed when a check fails).
  MESSAGE(name, ": leg B stats at 7 s ", json::serialize(call_stats(f, legs[1]->call).at("media")));
  CHECK(late.at("rtcpSent").as_int64() >= 1);
  CHECK(late.at("rtcpReceived").as_int64() >= 1);
  // RTT needs a report of baresip's sent after our first SR reached it: within these 7 s that is
  // usually, not always, the case (seen: 0 ms on loopback), so it is printed, not required.
  if (std::string_view(c.mediaenc) != "dtls_srtp")
    CHECK(late.at("dropped").as_object().at("srtpFailures").as_int64() == 0);
  // (DTLS without mux: baresip's reports authenticate on the RTCP association, but they carry no
  // LSR for our SR, so no RTT; and it sends a 16-byte RTCP datagram right after the handshake
  // that authenticates with no key — one counted failure. README "Known limits".)
  wait_all_ended(f, legs);
  metrics = f.server->call(verb::get, "/metrics", "", {}, "").body;
  CHECK(metrics.find("\nswitchboard_media_legs 0\n") != std::string::npos);
  CHECK(metrics.find("switchboard_rtcp_packets_total{direction=\"in\"} 0\n") == std::string::npos);
  CHECK(metrics.find("\nswitchboard_media_conferences 0\n") != std::string::npos);

  auto a = legs[0]->heard(), b = legs[1]->heard();
  auto a_b = au::compare(a, talker(1)), a_a = au::compare(a, talker(0));
  auto b_a = au::compare(b, talker(0)), b_b = au::compare(b, talker(1));
  MESSAGE(fmt::format("{}:\n  A heard B: {}\n  A heard A: {}\n  B heard A: {}\n  B heard B: {}", c.name, fmt_sim(a_b),
                      fmt_sim(a_a), fmt_sim(b_a), fmt_sim(b_b)));
  // The measure is `steady`: the median over 1 s segments, each re-aligned on its own. The
  // adaptive jitter buffers move the delay by a frame when a loaded machine lets them build up
  // (the legs' `playout.shrinkDrops`; on the 2-core CI with the other tests running, leg A's
  // buffer reached 80 ms and dropped 3 frames to come back to its target: whole-call envelope
  // 0.62, 2 s segmental 0.90). Each move spoils only the second it falls in. The whole-call
  // envelope must still show one path (a leg hearing itself scores about 0).
  CHECK(a_b.steady > 0.9);
  CHECK(b_a.steady > 0.9);
  CHECK(a_b.envelope > 0.5);
  CHECK(b_a.envelope > 0.5);
  // (1 s segments, each taking its best of ±200 ms of lags, flatter self-similarity upwards:
  // a leg hearing itself scores 0.18–0.37 on `steady`, about 0 on the whole-call envelope.)
  CHECK(a_a.steady < 0.6);
  CHECK(b_b.steady < 0.6);
  CHECK(a_a.envelope < 0.4);
  CHECK(b_b.envelope < 0.4);
}

}  // namespace

TEST_CASE("media: two legs, PCMU over UDP, plain RTP: each hears the other, not itself") {
  two_legs({"PCMU/UDP/RTP", "pcmu", "pcmu", "", "udp", "sdes", "PCMU", "none"});
}

TEST_CASE("media: two legs, PCMA over TCP, SDES-SRTP: each hears the other, not itself") {
  two_legs({"PCMA/TCP/SDES", "pcma", "pcma", "srtp-mand", "tcp", "sdes", "PCMA", "sdes"});
}

TEST_CASE("media: two legs, G.722 over TLS, DTLS-SRTP: each hears the other, not itself") {
  two_legs({"G722/TLS/DTLS", "g722/16000/1", "g722/16000/1", "dtls_srtp", "tls", "dtls", "G722", "dtls"});
}

TEST_CASE("media: two legs, Opus over UDP, DTLS-SRTP: each hears the other, not itself") {
  two_legs({"Opus/UDP/DTLS", "opus/48000/2", "opus/48000/2", "dtls_srtp", "udp", "dtls", "opus", "dtls"});
}

TEST_CASE("media: transcoding, PCMU leg and Opus leg, SDES reached by falling back from a refused DTLS offer") {
  // The gateway offers DTLS first; baresip with SDES only answers 488; the gateway re-INVITEs
  // with SDES (README "Media: keying").
  two_legs({"PCMU+Opus/UDP/DTLS→SDES", "pcmu", "opus/48000/2", "srtp-mand", "udp", "dtls", "PCMU", "sdes"});
}

TEST_CASE("media: transcoding, PCMU leg and G.722 leg, DTLS reached by re-INVITE after a clear answer to the default SDES offer") {
  // The default media.keying (SDES) toward DTLS-only far ends: each answers 200 in the clear,
  // the gateway re-offers DTLS in the dialog (README "Media: keying"), and audio flows on it.
  two_legs({"PCMU+G722/UDP/SDES→DTLS", "pcmu", "g722/16000/1", "dtls_srtp", "udp", "sdes", "PCMU", "dtls"});
}

// Three plain-RTP legs, one per codec family: PCMU, G.722, Opus.
static std::vector<std::unique_ptr<Leg>> three_legs() {
  std::vector<std::unique_ptr<Leg>> legs;
  legs.push_back(std::make_unique<Leg>(0, "pcmu", ""));
  legs.push_back(std::make_unique<Leg>(1, "g722/16000/1", ""));
  legs.push_back(std::make_unique<Leg>(2, "opus/48000/2", ""));
  return legs;
}

TEST_CASE("media: three legs, each hears the other two and not itself (mix-minus)") {
  auto legs = three_legs();
  Fixture f;
  dial_all(f, legs, false);
  wait_all_ended(f, legs);
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    auto heard = legs[static_cast<std::size_t>(i)]->heard();
    auto m = au::contains(heard, {&talker(0), &talker(1), &talker(2)});
    MESSAGE(fmt::format("leg {} heard: {}", i, describe(m)));
    REQUIRE(m.refs.size() == 3);
    for (int j = 0; j < 3; ++j) {
      CAPTURE(j);
      if (j == i)
        CHECK(m.refs[static_cast<std::size_t>(j)].share < 0.05);  // not itself
      else
        CHECK(m.refs[static_cast<std::size_t>(j)].share > 0.2);   // both others, each a real part
    }
    CHECK(m.residual < 0.3);
  }
}

TEST_CASE("media: three legs, one dialed with streams [A's stream] hears only A; a subscriber-role leg is still heard") {
  // SPEC §4.4 `streams`: leg C is dialed with streams [A's stream] and hears only A (the mixer's
  // per-listener subset). docs/rest.md "dial": the dial token's role does not silence the SIP
  // party — leg B is dialed with a subscriber-role token, and A still hears it.
  auto legs = three_legs();
  Fixture f;
  auto dial = [&](std::size_t i, const std::string& extra, core::Role role) {
    auto r = f.dial(legs[i]->uri(), extra, role);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    legs[i]->call = json::parse(r.body).as_object();
  };
  dial(0, "", core::Role::publisher);
  dial(1, "", core::Role::subscriber);
  const std::string a_stream(legs[0]->call.at("streamId").as_string());
  dial(2, fmt::format(R"(,"streams":["{}"])", a_stream), core::Role::publisher);
  // The subscriber-role party is a connection with a stream like any other (listStreams).
  auto list = f.server->call(verb::get, fmt::format("/v2/project/{}/session/{}/stream", kKey, f.sid));
  CHECK(json::parse(list.body).as_object().at("count").as_int64() == 3);
  wait_all_ended(f, legs);
  const std::vector<const au::Analysis*> refs{&talker(0), &talker(1), &talker(2)};
  auto share = [&](std::size_t leg) {
    auto m = au::contains(legs[leg]->heard(), refs);
    MESSAGE(fmt::format("leg {} heard: {}", leg, describe(m)));
    REQUIRE(m.refs.size() == 3);
    return m;
  };
  auto c = share(2);  // streams [A]: A only
  CHECK(c.refs[0].share > 0.8);
  CHECK(c.refs[1].share < 0.05);
  CHECK(c.refs[2].share < 0.05);
  CHECK(c.residual < 0.3);
  auto a = share(0);  // everyone else: B (subscriber role) and C
  CHECK(a.refs[0].share < 0.05);
  CHECK(a.refs[1].share > 0.2);
  CHECK(a.refs[2].share > 0.2);
  auto b = share(1);  // the subscriber-role party hears the others too
  CHECK(b.refs[0].share > 0.2);
  CHECK(b.refs[1].share < 0.05);
  CHECK(b.refs[2].share > 0.2);
}

TEST_CASE("media: 5% loss and 0-60 ms jitter both ways between the gateway and one leg: speech stays intelligible") {
  SdpRelay::Options impair{.to_callee = {.loss = 0.05, .jitter_ms = 60},
                           .to_caller = {.loss = 0.05, .jitter_ms = 60},
                           .seed = 11};
  std::vector<std::unique_ptr<Leg>> legs;
  legs.push_back(std::make_unique<Leg>(0, "pcmu", ""));
  legs.push_back(std::make_unique<Leg>(1, "opus/48000/2", "", "udp", impair));
  Fixture f;
  dial_all(f, legs, false);
  REQUIRE(f.wait_state("ACTIVE", 10s));
  std::this_thread::sleep_for(5s);
  auto st = call_stats(f, legs[1]->call).at("media").as_object();
  MESSAGE("impaired leg stats: ", json::serialize(st));
  CHECK(st.at("packetsLost").as_int64() > 0);
  CHECK(st.at("concealedFrames").as_int64() > 0);
  // The adaptive target grew with the jitter (it starts at 20 ms).
  CHECK(st.at("jitterBufferTargetMs").as_int64() >= 40);
  // RTCP both ways (the first report goes out within 1.25–3.75 s, RFC 3550 §6.2).
  CHECK(st.at("rtcpSent").as_int64() > 0);
  wait_all_ended(f, legs);
  auto r = legs[1]->relay->rtp();
  MESSAGE(fmt::format("relay: {} to leg, {} to gateway, {} lost, {} reordered", r.to_target, r.to_client, r.lost,
                      r.reordered));
  CHECK(r.lost > 10);
  // A hears B through the gateway's jitter buffer and Opus FEC/PLC; B hears A through baresip's.
  auto a = legs[0]->heard(), b = legs[1]->heard();
  auto a_b = au::compare(a, talker(1)), b_a = au::compare(b, talker(0));
  auto a_a = au::compare(a, talker(0));
  MESSAGE(fmt::format("impaired:\n  A heard B (via gateway jitter buffer): {}\n  B heard A (via baresip): {}\n  A heard A: {}",
                      fmt_sim(a_b), fmt_sim(b_a), fmt_sim(a_a)));
  CHECK(a_b.segmental > 0.8);
  CHECK(b_a.segmental > 0.7);
  CHECK(a_a.segmental < 0.5);
}

// The impairment sweep behind docs/robustness.md "Packet loss and jitter": the same two-leg call
// (a clean PCMU leg, and an impaired leg of each codec) at 1 %, 5 % and 10 % loss with 0–100 ms of
// jitter both ways (reordering included: jitter delays each packet on its own). Skipped in the
// suite (≈ 2 minutes); run it with
//   build/asan/tests/switchboard_tests -tc="media sweep*" --no-skip
// Each level prints how well each side heard the other (segmental envelope correlation: 1 =
// identical speech envelope, < 0.5 = not the same talker) and the impaired leg's loss and
// concealment; the checks are the floor below which speech is not intelligible.
TEST_CASE("media sweep: speech through loss and jitter, per level and codec" * doctest::skip()) {
  struct Level {
    double loss;
    int jitter_ms;
  };
  const Level levels[] = {{0.01, 20}, {0.05, 60}, {0.10, 100}, {0.0, 100}};
  std::string table = "| impaired leg | path | loss | jitter | A heard B | B heard A | lost | concealed | FEC | JB target |\n"
                      "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const std::string codec : {"opus/48000/2", "pcmu"}) {
    for (const auto& lv : levels) {
      SdpRelay::Options impair{.to_callee = {.loss = lv.loss, .jitter_ms = lv.jitter_ms},
                               .to_caller = {.loss = lv.loss, .jitter_ms = lv.jitter_ms},
                               .seed = 11};
      std::vector<std::unique_ptr<Leg>> legs;
      legs.push_back(std::make_unique<Leg>(0, "pcmu", ""));
      legs.push_back(std::make_unique<Leg>(1, codec, "", "udp", impair));
      Fixture f;
      dial_all(f, legs, false);
      REQUIRE(f.wait_state("ACTIVE", 10s));
      std::this_thread::sleep_for(8s);
      auto st = call_stats(f, legs[1]->call).at("media").as_object();
      wait_all_ended(f, legs);
      const auto a_b = au::compare(legs[0]->heard(), talker(1));
      const auto b_a = au::compare(legs[1]->heard(), talker(0));
      // PCMU both ways relays (A's baresip conceals B's losses); Opus ↔ PCMU goes through our
      // jitter buffer, FEC/PLC and the mix.
      const bool relayed = st.at("relay").as_object().at("active").as_bool() || st.at("relay").as_object().at("packetsIn").as_int64() > 0;
      table += fmt::format("| {} | {} | {:.0f} % | 0–{} ms | {:.3f} | {:.3f} | {} | {} | {} | {} ms |\n",
                           codec == "pcmu" ? "PCMU" : "Opus", relayed ? "relay" : "mix", lv.loss * 100, lv.jitter_ms, a_b.segmental, b_a.segmental, st.at("packetsLost").as_int64(),
                           st.at("concealedFrames").as_int64(), st.at("fecRecovered").as_int64(),
                           st.at("jitterBufferTargetMs").as_int64());
      CHECK(a_b.segmental > 0.6);
      CHECK(b_a.segmental > 0.5);
    }
  }
  MESSAGE("\n" << table);
}
