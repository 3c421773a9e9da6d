// CPU cost of the media path, per call and per mixer listener (docs/benchmarks.md "Media CPU").
//
// Everything the gateway does for a call's audio runs for real on one "shard" thread: real
// AudioLegs on loopback UDP ports, negotiated with an SDP answer, joined to their session's
// Conference (20 ms clock), receiving RTP (SRTP when asked), jitter buffer, decode, resample,
// mix-minus, encode, RTP/SRTP send, RTCP. A second thread plays the far ends: every 20 ms it
// sends each leg one pre-encoded packet (a voiced, speech-like signal, or low noise for silent
// listeners) and drains what the gateway sends back. Only the shard thread's CPU time is
// measured (CLOCK_THREAD_CPUTIME_ID), so the far ends' cost is excluded.
//
//   bench_media_cpu pair <codecA> <codecB> <calls> [seconds] [secure]
//       two-party sessions; codecs: pcmu pcma g722 opus; secure = SDES AES_CM_128_HMAC_SHA1_80
//   bench_media_cpu room <codec> <listeners> [seconds]
//       one session: one talker + N listeners that send silence (gated out of the mix)
#include "base/log.hpp"
#include "media/conference.hpp"
#include "mix/codec.hpp"
#include "rtp/audio_leg.hpp"
#include "rtp/packet.hpp"
#include "rtp/sdes.hpp"
#include "rtp/srtp.hpp"
#include "sdp/sdp.hpp"

#include <boost/asio.hpp>
#include <fmt/format.h>

#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <cmath>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>
#include <cstdlib>
#include <algorithm>

#include <pthread.h>

namespace asio = boost::asio;
using udp = asio::ip::udp;
using namespace sb;
using namespace std::chrono_literals;

namespace {

struct CodecInfo {
  mix::CodecId id;
  int pt;
  const char* rtpmap;
};

CodecInfo codec_info(std::string_view name) {
  if (name == "pcmu") return {mix::CodecId::pcmu, 0, "PCMU/8000"};
  if (name == "pcma") return {mix::CodecId::pcma, 8, "PCMA/8000"};
  if (name == "g722") return {mix::CodecId::g722, 9, "G722/8000"};
  if (name == "opus") return {mix::CodecId::opus, 111, "opus/48000/2"};
  throw std::invalid_argument("codec: pcmu, pcma, g722 or opus");
}

// Resident set size in KiB (/proc/self/status VmRSS).
long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// 2 s of pre-encoded frames: a 140 Hz voiced buzz with formant-ish harmonics, syllable-rate
// amplitude modulation (speech-like for the codec and above the talker gate), or −70 dBFS noise.
std::vector<std::vector<std::uint8_t>> encoded_frames(mix::CodecId id, bool talking) {
  mix::CodecConfig cfg;
  cfg.id = id;
  auto enc = mix::make_encoder(cfg);
  const int rate = mix::sample_rate(id), n = mix::frame_samples(cfg);
  std::vector<std::vector<std::uint8_t>> out;
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 10);
  std::vector<std::int16_t> pcm(static_cast<std::size_t>(n));
  for (int f = 0; f < 100; ++f) {
    for (int i = 0; i < n; ++i) {
      const double t = static_cast<double>(f * n + i) / rate;
      double v = noise(rng);
      if (talking) {
        const double env = 0.5 + 0.5 * std::sin(2 * M_PI * 4 * t);
        double s = 0;
        for (int h = 1; h <= 12; ++h) s += std::sin(2 * M_PI * 140 * h * t) / h * (h == 4 || h == 9 ? 2.5 : 1.0);
        v += 4000 * env * s;
      }
      pcm[static_cast<std::size_t>(i)] = static_cast<std::int16_t>(std::clamp(v, -32768.0, 32767.0));
    }
    std::vector<std::uint8_t> buf(mix::max_encoded_bytes);
    const int m = enc->encode(pcm, buf);
    if (m <= 0) throw std::runtime_error("encode failed");
    buf.resize(static_cast<std::size_t>(m));
    out.push_back(std::move(buf));
  }
  return out;
}

// One far end: a socket, what it sends, and its SRTP key (SDES) when secure.
struct FarEnd {
  explicit FarEnd(asio::io_context& io) : sock(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  udp::socket sock;
  udp::endpoint gateway;
  CodecInfo codec{};
  const std::vector<std::vector<std::uint8_t>>* frames = nullptr;
  std::unique_ptr<rtp::SrtpContext> srtp;
  std::uint16_t seq = 1;
  std::uint32_t ts = 0, ssrc = 0;
  std::uint64_t received = 0;
};

struct Leg {
  std::unique_ptr<rtp::AudioLeg> leg;
  std::unique_ptr<FarEnd> far;
};

// The far end's answer to the leg's offer: its codec only, plain RTP or SDES with the offer's
// AES_CM_128_HMAC_SHA1_80 line (tag 3 in our offers) and a key of its own.
std::string answer_for(rtp::AudioLeg& leg, FarEnd& far, bool secure) {
  const std::string offer = leg.offer();
  std::string crypto;
  if (secure) {
    sdp::Crypto c = sdp::make_crypto(3, "AES_CM_128_HMAC_SHA1_80", std::string(30, 'k'));
    crypto = fmt::format("a=crypto:{} {} {}\r\n", c.tag, c.suite, c.key_params);
    far.srtp = rtp::make_sdes_context(c, rtp::SrtpContext::Direction::outbound);
  }
  return fmt::format(
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} {} {}\r\n"
      "a=rtpmap:{} {}\r\na=ptime:20\r\na=sendrecv\r\n{}",
      far.sock.local_endpoint().port(), secure ? "RTP/SAVP" : "RTP/AVP", far.codec.pt, far.codec.pt, far.codec.rtpmap,
      crypto);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    fmt::print(stderr, "usage: {} pair <codecA> <codecB> <calls> [seconds] [secure] [mix] | room <codec> <listeners> [seconds]\n",
               argv[0]);
    return 2;
  }
  log::set_level(log::Level::warn);
  const std::string mode = argv[1];
  std::vector<CodecInfo> per_leg;  // codec of each leg
  std::vector<int> session_of;     // session index of each leg
  std::vector<bool> talking;
  int seconds = 10;
  bool secure = false;
  bool relay = true;
  if (mode == "pair") {
    if (argc < 5) return 2;
    const auto a = codec_info(argv[2]), b = codec_info(argv[3]);
    const int calls = std::atoi(argv[4]);
    seconds = argc > 5 ? std::atoi(argv[5]) : 10;
    for (int i = 6; i < argc; ++i) {
      if (std::string_view(argv[i]) == "secure") secure = true;
      if (std::string_view(argv[i]) == "mix") relay = false;  // no passthrough: compare the full path
    }
    for (int c = 0; c < calls; ++c) {
      per_leg.push_back(a), per_leg.push_back(b);
      session_of.push_back(c), session_of.push_back(c);
      talking.push_back(true), talking.push_back(true);
    }
  } else if (mode == "room") {
    const auto c = codec_info(argv[2]);
    const int listeners = std::atoi(argv[3]);
    seconds = argc > 4 ? std::atoi(argv[4]) : 10;
    for (int i = 0; i <= listeners; ++i) {
      per_leg.push_back(c);
      session_of.push_back(0);
      talking.push_back(i == 0);
    }
  } else {
    return 2;
  }

  asio::io_context shard(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO), far_io(1);  // the shard as runtime::Shard makes it
  // SB_BENCH_PORT_BASE: where this run's port pairs start (several runs side by side, bench/scale.sh).
  const char* base_env = std::getenv("SB_BENCH_PORT_BASE");
  const int base = base_env ? std::atoi(base_env) : 40000;
  auto ports = std::make_shared<rtp::PortAllocator>(
      rtp::PortRange{static_cast<std::uint16_t>(base), static_cast<std::uint16_t>(std::min(base + 19999, 65535))});
  media::ConferenceOptions room_opt;
  room_opt.relay = relay;
  media::ConferenceTable rooms(shard.get_executor(), room_opt);
  std::map<std::pair<int, bool>, std::vector<std::vector<std::uint8_t>>> frames;
  std::vector<Leg> legs;
  for (auto& l : per_leg) (void)encoded_frames(l.id, true);  // codec tables touched before the baseline
  const long rss0 = rss_kib();
  for (std::size_t i = 0; i < per_leg.size(); ++i) {
    rtp::AudioLeg::Options o;
    o.secure = secure;
    Leg l;
    l.leg = rtp::AudioLeg::create(shard.get_executor(), ports, asio::ip::make_address("127.0.0.1"), o);
    if (!l.leg) throw std::runtime_error("no port");
    l.far = std::make_unique<FarEnd>(far_io);
    l.far->codec = per_leg[i];
    l.far->ssrc = 0x1000 + static_cast<std::uint32_t>(i);
    auto key = std::pair{static_cast<int>(per_leg[i].id), static_cast<bool>(talking[i])};
    if (!frames.count(key)) frames[key] = encoded_frames(per_leg[i].id, talking[i]);
    l.far->frames = &frames[key];
    if (auto ec = l.leg->apply_answer(answer_for(*l.leg, *l.far, secure))) throw std::runtime_error(ec.message());
    l.far->gateway = udp::endpoint(asio::ip::make_address("127.0.0.1"), l.leg->rtp_port());
    l.far->sock.non_blocking(true);
    auto room = rooms.get_or_create(fmt::format("s{}", session_of[i]));
    room->join(&l.leg->participant(), fmt::format("leg{}", i));
    legs.push_back(std::move(l));
  }

  // The far ends: one packet per leg every 20 ms, drain the replies.
  std::atomic<bool> stop{false};
  std::thread far([&] {
    auto next = std::chrono::steady_clock::now();
    std::array<std::uint8_t, 2048> buf;
    std::size_t frame = 0;
    while (!stop) {
      for (auto& l : legs) {
        auto& f = *l.far;
        rtp::RtpHeader h;
        h.payload_type = static_cast<std::uint8_t>(f.codec.pt);
        h.seq = f.seq++;
        h.timestamp = f.ts;
        h.ssrc = f.ssrc;
        f.ts += static_cast<std::uint32_t>(mix::rtp_clock_rate(f.codec.id) / 50);
        const auto& payload = (*f.frames)[frame % f.frames->size()];
        std::size_t n = rtp::write_rtp(buf, h, payload);
        if (f.srtp) n = static_cast<std::size_t>(f.srtp->protect_rtp(buf, n));
        boost::system::error_code ec;
        f.sock.send_to(asio::buffer(buf.data(), n), f.gateway, 0, ec);
        udp::endpoint from;
        while (f.sock.receive_from(asio::buffer(buf), from, 0, ec) > 0 && !ec) ++f.received;
      }
      ++frame;
      next += 20ms;
      std::this_thread::sleep_until(next);
    }
  });

  // Warm up 1 s (jitter buffers start, encoders settle), then measure.
  std::thread shard_thread([&] { shard.run(); });
  pthread_setname_np(shard_thread.native_handle(), "shard");  // perf report --comm shard
  std::this_thread::sleep_for(1s);
  // Everything of the shard is read on the shard's thread (its sockets have no locks).
  auto on_shard = [&](auto f) {
    std::promise<void> p;
    asio::post(shard, [&] {
      f();
      p.set_value();
    });
    p.get_future().get();
  };
  auto cpu_at = [&] {
    double v = 0;
    on_shard([&] { v = thread_cpu_s(); });
    return v;
  };
  std::uint64_t sent0 = 0, recv0 = 0;
  on_shard([&] {
    for (auto& l : legs) sent0 += l.leg->stats().sent_packets, recv0 += l.leg->stats().rtp_packets;
  });
  const double c0 = cpu_at();
  const auto w0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double c1 = cpu_at();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  std::uint64_t sent = 0, recv = 0, concealed = 0;
  std::uint64_t encodes = 0, ticks = 0, skipped = 0, relaying = 0;
  on_shard([&] {
    for (auto& l : legs) {
      auto s = l.leg->stats();
      sent += s.sent_packets, recv += s.rtp_packets, concealed += s.concealed_frames;
    }
    for (int s = 0; s <= *std::max_element(session_of.begin(), session_of.end()); ++s)
      if (auto r = rooms.find(fmt::format("s{}", s))) {
        encodes += r->stats().encodes, ticks += r->stats().ticks, skipped += r->stats().skipped_ticks;
        relaying += r->relaying();
      }
  });
  const double cpu = c1 - c0;
  // Memory of the calls: RSS growth since before the legs existed (far-end sockets and frames
  // included, so an upper bound), per leg, once every buffer has filled.
  const double kib_per_leg = static_cast<double>(rss_kib() - rss0) / static_cast<double>(legs.size());
  const double frames20 = wall / 0.02;
  const double per_leg_us = cpu / frames20 / static_cast<double>(legs.size()) * 1e6;
  if (mode == "pair") {
    const double per_call_us = per_leg_us * 2;
    fmt::print("pair {} {} {} {}  calls {}  relayed {}  cpu {:.1f}% of one core  per call {:.1f} µs / 20 ms  calls/core {:.0f}  "
               "pkts in {} out {} (expected {:.0f} each)  concealed {}  encodes/tick/session {:.2f}  skipped ticks {}  "
               "memory {:.0f} KiB per call\n",
               argv[2], argv[3], secure ? "SDES" : "RTP", relay ? "passthrough-allowed" : "mix-only", legs.size() / 2,
               relaying, 100 * cpu / wall, per_call_us,
               20000.0 / per_call_us, recv - recv0, sent - sent0, frames20 * static_cast<double>(legs.size()), concealed,
               ticks ? static_cast<double>(encodes) / static_cast<double>(ticks) : 0.0, skipped, 2 * kib_per_leg);
  } else {
    fmt::print("room {} listeners {}  cpu {:.1f}% of one core  per tick {:.1f} µs  per leg {:.1f} µs  "
               "encodes/tick {:.2f}  pkts out {} (expected {:.0f})  skipped ticks {}\n",
               argv[2], legs.size() - 1, 100 * cpu / wall, cpu / frames20 * 1e6, per_leg_us,
               ticks ? static_cast<double>(encodes) / static_cast<double>(ticks) : 0.0, sent - sent0,
               frames20 * static_cast<double>(legs.size()), skipped);
  }
  stop = true;
  far.join();
  asio::post(shard, [&] {
    for (auto& l : legs) l.leg->stop();
  });
  std::this_thread::sleep_for(100ms);
  shard.stop();
  shard_thread.join();
  // Legs hold sockets of the stopped io_context: destroy them after its thread ended.
  legs.clear();
  return 0;
}
