// The SIP transport (src/sip/transport.*) on loopback, port 0 everywhere: two transports on one
// io_context talking UDP, TCP and TLS to each other, plus raw sockets playing a misbehaving peer.
// Everything runs in this thread; every wait is bounded, so a failure cannot hang the suite.
#include "sip/transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

// Asio 1.81 frame recycling under GCC 12 (as in tests/http/webhook_test.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace sb::sip;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

const asio::ip::address kLoopback = asio::ip::make_address("127.0.0.1");

// ---------------------------------------------------------------------------------------------
// TLS material: self-signed certificates (each its own CA) written to a temp dir once per run.

std::string bio_string(BIO* b) {
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  return std::string(p, static_cast<std::size_t>(n));
}

void write_cert(const std::filesystem::path& cert_path, const std::filesystem::path& key_path, const std::string& cn,
                const std::string& san, long serial) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key != nullptr);
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  const std::pair<int, std::string> exts[] = {
      {NID_basic_constraints, "critical,CA:TRUE"}, {NID_subject_key_identifier, "hash"}, {NID_subject_alt_name, san}};
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    REQUIRE(e != nullptr);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  std::ofstream(cert_path) << bio_string(b);
  BIO_free(b);
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::ofstream(key_path) << bio_string(b);
  BIO_free(b);
  X509_free(x);
  EVP_PKEY_free(key);
}

struct TlsFiles {
  std::filesystem::path dir;
  std::string cert, key;             ///< "localhost" + IP 127.0.0.1; also the trust anchor
  std::string rogue_cert, rogue_key; ///< an unrelated self-signed certificate
  TlsFiles() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sb-sip-transport-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
    cert = (dir / "cert.pem").string();
    key = (dir / "key.pem").string();
    rogue_cert = (dir / "rogue.pem").string();
    rogue_key = (dir / "rogue-key.pem").string();
    write_cert(cert, key, "localhost", "DNS:localhost,IP:127.0.0.1", 1);
    write_cert(rogue_cert, rogue_key, "rogue.invalid", "DNS:rogue.invalid", 2);
  }
  ~TlsFiles() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

const TlsFiles& tls_files() {
  static const TlsFiles files;
  return files;
}

/// A TLS server with our certificate that trusts it as the CA (so it also checks client
/// certificates, mutual TLS being optional).
TransportOptions server_options() {
  TransportOptions o;
  o.tls_cert_file = tls_files().cert;
  o.tls_key_file = tls_files().key;
  o.tls_ca_file = tls_files().cert;
  o.connect_timeout = 1000ms;
  return o;
}

/// A client: trusts the test CA, presents no certificate, opens no TLS listener.
TransportOptions client_options() {
  TransportOptions o;
  o.tls_ca_file = tls_files().cert;
  o.connect_timeout = 1000ms;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Messages and peers

std::string request(std::string_view call_id, std::string_view body = {}) {
  std::string m = "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n"
                  "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK776asdhds\r\n"
                  "Max-Forwards: 70\r\n"
                  "To: <sip:bob@127.0.0.1>\r\n"
                  "From: <sip:alice@127.0.0.1>;tag=1928301774\r\n"
                  "Call-ID: ";
  m.append(call_id);
  m += "\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  m.append(body);
  return m;
}

std::string response(std::string_view call_id) {
  std::string m = "SIP/2.0 200 OK\r\n"
                  "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK776asdhds\r\n"
                  "To: <sip:bob@127.0.0.1>;tag=a6c85cf\r\n"
                  "From: <sip:alice@127.0.0.1>;tag=1928301774\r\n"
                  "Call-ID: ";
  m.append(call_id);
  m += "\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
  return m;
}

/// Builds a Target as a prvalue. GCC 12 miscompiles a braced aggregate temporary holding a
/// std::string (`Target{...}`) written inside a co_await expression: it is copied bitwise into the
/// coroutine frame and its string freed twice (ASan: bad-free). A function's result is fine.
Target target_at(asio::ip::address address, std::uint16_t port, Transport kind, std::string host = {}) {
  Target t;
  t.address = address;
  t.port = port;
  t.transport = kind;
  t.host = std::move(host);
  return t;
}

struct Received {
  std::string raw;
  Source from;
  bool is_request;
};

/// One transport and what it received.
struct Peer {
  SipTransport t;
  std::vector<Received> inbox;
  Peer(asio::io_context& io, TransportOptions o) : t(io.get_executor(), std::move(o)) {
    t.set_receiver([this](const Message& m, std::string_view raw, const Source& from) {
      inbox.push_back({std::string(raw), from, m.is_request()});
    });
    t.start();
  }
  Target target(Transport k, std::string host = {}) const { return target_at(kLoopback, t.port(k), k, std::move(host)); }
};

// ---------------------------------------------------------------------------------------------
// Running coroutines under a bound

/// Runs `scenario` on `io` until it finishes or `limit` passes; rethrows what it threw.
void run(asio::io_context& io, asio::awaitable<void> scenario, std::chrono::milliseconds limit = 5000ms) {
  struct Outcome {
    bool done = false;
    std::exception_ptr failure;
  };
  auto out = std::make_shared<Outcome>(); // outlives this call if the scenario overruns
  asio::co_spawn(io, std::move(scenario), [out](std::exception_ptr e) {
    out->done = true;
    out->failure = e;
  });
  io.restart();
  const auto end = Clock::now() + limit;
  while (!out->done && Clock::now() < end) io.run_one_for(end - Clock::now());
  REQUIRE_MESSAGE(out->done, "scenario did not finish in time");
  if (out->failure) std::rethrow_exception(out->failure);
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(use_tuple);
}

/// Polls `cond` every 2 ms until it holds or `limit` passes.
asio::awaitable<bool> eventually(std::function<bool()> cond, std::chrono::milliseconds limit = 2000ms) {
  const auto end = Clock::now() + limit;
  while (!cond()) {
    if (Clock::now() >= end) co_return false;
    co_await sleep_for(2ms);
  }
  co_return true;
}

asio::awaitable<void> join_all(std::vector<SipTransport*> ts) {
  for (auto* t : ts) co_await t->join();
}

/// Structured shutdown: stop, then every child coroutine must end and the io_context run dry.
void stop_all(asio::io_context& io, std::vector<SipTransport*> ts) {
  for (auto* t : ts) t->stop();
  run(io, join_all(ts), 3000ms);
  for (auto* t : ts) {
    CHECK(t->active_tasks() == 0);
    CHECK(t->open_connections() == 0);
    CHECK(t->stats().task_failures == 0);
  }
  io.restart();
  io.run_for(500ms);
  CHECK(io.stopped()); // nothing left pending anywhere
}

struct ReadResult {
  boost::system::error_code ec;
  std::string data;
};

/// Reads exactly `n` bytes from a raw socket, or less if it fails or `limit` passes.
asio::awaitable<ReadResult> read_n(tcp::socket* s, std::size_t n, std::chrono::milliseconds limit) {
  asio::steady_timer t(s->get_executor());
  t.expires_after(limit);
  auto pending = std::make_shared<bool>(true); // the timer's handler may run after we return
  t.async_wait([s, pending](boost::system::error_code ec) {
    if (!ec && *pending) s->cancel();
  });
  ReadResult r;
  r.data.resize(n);
  auto [ec, got] = co_await asio::async_read(*s, asio::buffer(r.data), use_tuple);
  *pending = false;
  t.cancel();
  r.ec = ec;
  r.data.resize(got);
  co_return r;
}

asio::awaitable<tcp::socket> raw_connect(std::uint16_t port) {
  tcp::socket s(co_await asio::this_coro::executor);
  co_await s.async_connect(tcp::endpoint(kLoopback, port), asio::use_awaitable);
  co_return s;
}

// ---------------------------------------------------------------------------------------------
// Scenarios (named coroutines; pointers to the test's peers, which outlive them)

asio::awaitable<void> udp_request_and_reply(Peer* a, Peer* b) {
  auto ec = co_await a->t.send(b->target(Transport::udp), request("udp-1", "hi"));
  REQUIRE_FALSE(ec);
  bool got = co_await eventually([&] { return b->inbox.size() == 1; });
  REQUIRE(got);
  const Received in = b->inbox[0];
  CHECK(in.raw == request("udp-1", "hi"));
  CHECK(in.is_request);
  CHECK(in.from.transport == Transport::udp);
  CHECK(in.from.address == kLoopback);
  CHECK(in.from.port == a->t.port(Transport::udp)); // RFC 3581: the source port, our bound port
  CHECK(in.from.connection_id == 0);

  ec = co_await b->t.reply(in.from, response("udp-1"));
  REQUIRE_FALSE(ec);
  got = co_await eventually([&] { return a->inbox.size() == 1; });
  REQUIRE(got);
  CHECK_FALSE(a->inbox[0].is_request);
  CHECK(a->inbox[0].raw == response("udp-1"));
  CHECK(a->inbox[0].from.port == b->t.port(Transport::udp));
  CHECK(a->t.stats().sent == 1);
  CHECK(b->t.stats().received == 1);

  // RFC 3261 §18.1.2: a response whose top Via is not ours is discarded.
  std::string foreign = response("udp-2");
  foreign.replace(foreign.find("127.0.0.1:5060"), 14, "192.0.2.1:5060");
  ec = co_await b->t.reply(in.from, foreign);
  REQUIRE_FALSE(ec);
  got = co_await eventually([&] { return a->t.stats().misrouted == 1; });
  CHECK(got);
  CHECK(a->inbox.size() == 1);
}

asio::awaitable<void> stream_request_reply_reuse(Peer* a, Peer* b, Transport kind, std::string host) {
  auto ec = co_await a->t.send(b->target(kind, host), request("s-1", "first"));
  REQUIRE_FALSE(ec);
  bool got = co_await eventually([&] { return b->inbox.size() == 1; });
  REQUIRE(got);
  const Received in = b->inbox[0];
  CHECK(in.raw == request("s-1", "first"));
  CHECK(in.from.transport == kind);
  CHECK(in.from.connection_id != 0);

  // RFC 3261 §18.2.2: the response goes back over the connection the request came on.
  ec = co_await b->t.reply(in.from, response("s-1"));
  REQUIRE_FALSE(ec);
  got = co_await eventually([&] { return a->inbox.size() == 1; });
  REQUIRE(got);
  CHECK(a->inbox[0].raw == response("s-1"));
  CHECK(a->inbox[0].from.transport == kind);
  CHECK(a->inbox[0].from.port == b->t.port(kind)); // it came in on the connection A opened
  CHECK(a->t.stats().connections_opened == 1);
  CHECK(b->t.stats().connections_opened == 1);

  // A second request reuses the open connection.
  ec = co_await a->t.send(b->target(kind, host), request("s-2"));
  REQUIRE_FALSE(ec);
  got = co_await eventually([&] { return b->inbox.size() == 2; });
  REQUIRE(got);
  CHECK(b->inbox[1].from.connection_id == in.from.connection_id);
  CHECK(a->t.stats().connections_opened == 1);
  CHECK(b->t.stats().connections_opened == 1);

  // B sending (not replying) to A's address and port finds the connection A opened to it.
  ec = co_await b->t.send(target_at(in.from.address, in.from.port, kind), request("s-3"));
  REQUIRE_FALSE(ec);
  got = co_await eventually([&] { return a->inbox.size() == 2; });
  REQUIRE(got);
  CHECK(a->inbox[1].raw == request("s-3"));
  CHECK(b->t.stats().connections_opened == 1);
  CHECK(a->t.stats().connections_opened == 1);
  CHECK(a->t.stats().send_errors == 0);
  CHECK(b->t.stats().send_errors == 0);
}

asio::awaitable<void> split_message(Peer* b) {
  tcp::socket s = co_await raw_connect(b->t.port(Transport::tcp));
  const std::string wire = request("split-1", "a body that arrives in pieces");
  const std::size_t cuts[] = {0, 7, 60, wire.size() - 5, wire.size()};
  for (std::size_t i = 0; i + 1 < std::size(cuts); ++i) {
    co_await asio::async_write(s, asio::buffer(wire.data() + cuts[i], cuts[i + 1] - cuts[i]), asio::use_awaitable);
    co_await sleep_for(15ms);
    if (i + 2 < std::size(cuts)) CHECK(b->inbox.empty()); // nothing before the last piece
  }
  const bool got = co_await eventually([&] { return b->inbox.size() == 1; });
  REQUIRE(got);
  co_await sleep_for(30ms);
  CHECK(b->inbox.size() == 1);
  CHECK(b->inbox[0].raw == wire);
}

asio::awaitable<void> pipelined_messages(Peer* b) {
  tcp::socket s = co_await raw_connect(b->t.port(Transport::tcp));
  const std::string one = request("pipe-1", "one"), two = request("pipe-2", "second body");
  // A stray CRLF between messages is ignored (RFC 3261 §7.5).
  const std::string both = one + "\r\n" + two;
  co_await asio::async_write(s, asio::buffer(both), asio::use_awaitable);
  const bool got = co_await eventually([&] { return b->inbox.size() == 2; });
  REQUIRE(got);
  CHECK(b->inbox[0].raw == one);
  CHECK(b->inbox[1].raw == two);
  CHECK(b->inbox[0].from.connection_id == b->inbox[1].from.connection_id);
}

asio::awaitable<void> keepalive_ping(Peer* b) {
  tcp::socket s = co_await raw_connect(b->t.port(Transport::tcp));
  // RFC 5626 §3.5.1: CRLFCRLF ping, CRLF pong.
  co_await asio::async_write(s, asio::buffer(std::string_view("\r\n\r\n")), asio::use_awaitable);
  auto r = co_await read_n(&s, 2, 1000ms);
  CHECK_FALSE(r.ec);
  CHECK(r.data == "\r\n");
  // A ping that arrives in two halves, then a ping glued to a request.
  co_await asio::async_write(s, asio::buffer(std::string_view("\r\n")), asio::use_awaitable);
  co_await sleep_for(20ms);
  const std::string msg = request("after-ping");
  co_await asio::async_write(s, asio::buffer("\r\n\r\n\r\n" + msg), asio::use_awaitable);
  r = co_await read_n(&s, 4, 1000ms);
  CHECK_FALSE(r.ec);
  CHECK(r.data == "\r\n\r\n");
  const bool got = co_await eventually([&] { return b->inbox.size() == 1; });
  REQUIRE(got);
  CHECK(b->inbox[0].raw == msg);
  CHECK(b->t.stats().keepalives == 3);
  CHECK(b->t.stats().malformed == 0);
}

asio::awaitable<void> bad_streams_close(Peer* b) {
  // Too large: Content-Length beyond max_message (2000 in this test) closes at the header end.
  tcp::socket big = co_await raw_connect(b->t.port(Transport::tcp));
  std::string head = request("big-1");
  head.replace(head.find("Content-Length: 0"), 17, "Content-Length: 5000");
  co_await asio::async_write(big, asio::buffer(head), asio::use_awaitable);
  auto r = co_await read_n(&big, 1, 1000ms);
  CHECK(r.ec == asio::error::eof);
  CHECK(b->t.stats().too_large == 1);

  // Too large without ever ending the headers.
  tcp::socket endless = co_await raw_connect(b->t.port(Transport::tcp));
  const std::string filler = "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nX-Filler: " + std::string(3000, 'x');
  co_await asio::async_write(endless, asio::buffer(filler), use_tuple);
  r = co_await read_n(&endless, 1, 1000ms);
  CHECK(r.ec);
  CHECK(b->t.stats().too_large == 2);

  // Malformed: framing is lost, the connection closes.
  tcp::socket junk = co_await raw_connect(b->t.port(Transport::tcp));
  co_await asio::async_write(junk, asio::buffer(std::string_view("HELLO THERE\r\n\r\n")), asio::use_awaitable);
  r = co_await read_n(&junk, 1, 1000ms);
  CHECK(r.ec == asio::error::eof);
  CHECK(b->t.stats().malformed == 1);
  CHECK(b->t.stats().received == 0);
  const bool closed = co_await eventually([&] { return b->t.open_connections() == 0; });
  CHECK(closed);
  CHECK(b->t.stats().connections_closed == 3);
}

asio::awaitable<void> garbage_flood(Peer* b) {
  udp::socket s(co_await asio::this_coro::executor, udp::endpoint(kLoopback, 0));
  const udp::endpoint to(kLoopback, b->t.port(Transport::udp));
  // Keep-alive datagrams are not messages, and not garbage either.
  co_await s.async_send_to(asio::buffer(std::string_view("\r\n\r\n")), to, asio::use_awaitable);
  for (int i = 0; i < 100; ++i)
    co_await s.async_send_to(asio::buffer(std::string_view("\x16\x03\x01 not sip at all\r\n\r\n")), to,
                             asio::use_awaitable);
  bool got = co_await eventually([&] {
    const auto& st = b->t.stats();
    return st.malformed + st.rate_limited == 100;
  });
  REQUIRE(got);
  const auto& st = b->t.stats();
  CHECK(st.keepalives == 1);
  CHECK(st.malformed >= 20); // the bucket holds one second's worth (20) …
  CHECK(st.malformed <= 30); // … and refills slowly during the burst
  CHECK(st.rate_limited >= 70);
  CHECK(st.received == 0);

  // A valid message from the flooding source is dropped while its bucket is empty, and gets
  // through once the bucket refilled (20 tokens/s: one every 50 ms).
  co_await sleep_for(120ms);
  co_await s.async_send_to(asio::buffer(request("after-flood")), to, asio::use_awaitable);
  got = co_await eventually([&] { return b->inbox.size() == 1; });
  CHECK(got);
}

asio::awaitable<void> refused_port(Peer* a, std::uint16_t closed_port) {
  const auto start = Clock::now();
  auto ec = co_await a->t.send(target_at(kLoopback, closed_port, Transport::tcp), request("refused"));
  CHECK(ec == std::errc::connection_refused);
  CHECK(Clock::now() - start < 1000ms);
  CHECK(a->t.open_connections() == 0);
  CHECK(a->t.stats().send_errors == 1);
}

asio::awaitable<void> silent_server(tcp::acceptor* acc, std::vector<tcp::socket>* held) {
  for (;;) {
    auto [ec, s] = co_await acc->async_accept(use_tuple);
    if (ec) co_return;
    held->push_back(std::move(s)); // never answers the TLS ClientHello
  }
}

asio::awaitable<void> handshake_timeout(Peer* a, std::uint16_t port) {
  const auto start = Clock::now();
  auto ec = co_await a->t.send(target_at(kLoopback, port, Transport::tls, "localhost"), request("stuck"));
  const auto took = Clock::now() - start;
  CHECK(ec == std::errc::timed_out);
  CHECK(took >= 250ms);
  CHECK(took < 1500ms);
  CHECK(a->t.open_connections() == 0);
}

asio::awaitable<void> tls_verification_fails(Peer* a, Peer* untrusting, Peer* b) {
  // Wrong name: the certificate says localhost / 127.0.0.1 (RFC 5922 §7.2).
  auto ec = co_await a->t.send(b->target(Transport::tls, "sip.example.com"), request("wrong-host"));
  REQUIRE(ec);
  CHECK(ec.message().find("certificate verify failed") != std::string::npos);
  // The default trust store does not know our self-signed CA.
  ec = co_await untrusting->t.send(b->target(Transport::tls, "localhost"), request("no-ca"));
  REQUIRE(ec);
  CHECK(ec.message().find("certificate verify failed") != std::string::npos);
  // An IP literal target is checked against the iPAddress entry, and no SNI is sent.
  ec = co_await a->t.send(b->target(Transport::tls, "127.0.0.1"), request("by-ip"));
  CHECK_FALSE(ec);
  const bool got = co_await eventually([&] { return b->inbox.size() == 1; });
  CHECK(got);
  CHECK(b->inbox.at(0).raw == request("by-ip"));
  CHECK(a->t.stats().send_errors == 1);
}

asio::awaitable<void> mutual_tls(Peer* good, Peer* rogue, Peer* b) {
  auto ec = co_await good->t.send(b->target(Transport::tls, "localhost"), request("mtls-good"));
  CHECK_FALSE(ec);
  bool got = co_await eventually([&] { return b->inbox.size() == 1; });
  REQUIRE(got);
  // A client certificate that does not chain to B's CA: the handshake fails on B's side. Under
  // TLS 1.3 the client may finish first and see the alert only after its write, so the
  // connection is what must go away, and nothing may be delivered.
  (void)co_await rogue->t.send(b->target(Transport::tls, "localhost"), request("mtls-rogue"));
  got = co_await eventually([&] { return rogue->t.open_connections() == 0; });
  CHECK(got);
  co_await sleep_for(30ms);
  CHECK(b->inbox.size() == 1);
}

asio::awaitable<void> idle_connection_closes(Peer* b) {
  tcp::socket s = co_await raw_connect(b->t.port(Transport::tcp));
  const auto start = Clock::now();
  auto r = co_await read_n(&s, 1, 2000ms);
  CHECK(r.ec == asio::error::eof);
  CHECK(Clock::now() - start >= 150ms);
  CHECK(Clock::now() - start < 1500ms);
  CHECK(b->t.stats().connections_closed == 1);
}

// A stranger that connects and says nothing is closed at read_timeout, though idle_timeout is
// longer; a connection that delivered a message may then stay idle.
asio::awaitable<void> silent_stranger_closes(Peer* b) {
  tcp::socket proven = co_await raw_connect(b->t.port(Transport::tcp));
  co_await asio::async_write(proven, asio::buffer(request("proven")), asio::use_awaitable);
  tcp::socket s = co_await raw_connect(b->t.port(Transport::tcp));
  const auto start = Clock::now();
  auto r = co_await read_n(&s, 1, 2000ms);
  CHECK(r.ec == asio::error::eof);
  CHECK(Clock::now() - start >= 150ms);
  CHECK(Clock::now() - start < 1500ms);
  CHECK(b->inbox.size() == 1);
  CHECK(b->t.open_connections() == 1);  // the proven one, idle as long as the stranger was
}

asio::awaitable<void> slow_message_closes(Peer* b) {
  tcp::socket s = co_await raw_connect(b->t.port(Transport::tcp));
  const std::string wire = request("slow");
  co_await asio::async_write(s, asio::buffer(wire.data(), 40), asio::use_awaitable); // then nothing
  const auto start = Clock::now();
  auto r = co_await read_n(&s, 1, 2000ms);
  CHECK(r.ec == asio::error::eof);
  CHECK(Clock::now() - start >= 150ms);
  CHECK(Clock::now() - start < 1500ms);
  CHECK(b->inbox.empty());
}

asio::awaitable<void> receiver_stops_transport(Peer* b) {
  tcp::socket s = co_await raw_connect(b->t.port(Transport::tcp));
  co_await asio::async_write(s, asio::buffer(request("one") + request("two")), asio::use_awaitable);
  const bool got = co_await eventually([&] { return !b->inbox.empty(); });
  REQUIRE(got);
  co_await b->t.join(); // stop() from inside the receiver ended every child
  CHECK(b->inbox.size() == 1);
  auto r = co_await read_n(&s, 1, 1000ms);
  CHECK(r.ec); // closed by stop()
}

asio::awaitable<void> connection_limit(Peer* b) {
  tcp::socket first = co_await raw_connect(b->t.port(Transport::tcp));
  bool got = co_await eventually([&] { return b->t.open_connections() == 1; });
  REQUIRE(got);
  co_await sleep_for(5ms); // `first` is now the one idle the longest
  tcp::socket second = co_await raw_connect(b->t.port(Transport::tcp));
  got = co_await eventually([&] { return b->t.open_connections() == 2; });
  REQUIRE(got);
  tcp::socket third = co_await raw_connect(b->t.port(Transport::tcp));
  auto r = co_await read_n(&first, 1, 1000ms);
  CHECK(r.ec == asio::error::eof);
  CHECK(b->t.open_connections() == 2);
  CHECK(b->t.stats().connections_opened == 3);
  CHECK(b->t.stats().connections_closed == 1);
  // The survivors still work.
  co_await asio::async_write(third, asio::buffer(request("third")), asio::use_awaitable);
  got = co_await eventually([&] { return b->inbox.size() == 1; });
  CHECK(got);
}

// A stranger's connections that never delivered a whole message go first at the limit, even
// one in the middle of a message (held open, slowloris-style), before a proven idle one.
asio::awaitable<void> unproven_connections_go_first(Peer* b) {
  tcp::socket proven = co_await raw_connect(b->t.port(Transport::tcp));
  co_await asio::async_write(proven, asio::buffer(request("proven")), asio::use_awaitable);
  bool got = co_await eventually([&] { return b->inbox.size() == 1; });
  REQUIRE(got);
  co_await sleep_for(5ms);  // `proven` is now the one idle the longest
  tcp::socket half = co_await raw_connect(b->t.port(Transport::tcp));
  const std::string wire = request("half");
  co_await asio::async_write(half, asio::buffer(wire.data(), 40), asio::use_awaitable);  // then nothing
  got = co_await eventually([&] { return b->t.open_connections() == 2; });
  REQUIRE(got);
  tcp::socket third = co_await raw_connect(b->t.port(Transport::tcp));
  auto r = co_await read_n(&half, 1, 1000ms);
  CHECK(r.ec == asio::error::eof);
  CHECK(b->t.open_connections() == 2);
  CHECK(b->t.stats().connections_evicted == 1);
  co_await asio::async_write(proven, asio::buffer(request("again")), asio::use_awaitable);
  got = co_await eventually([&] { return b->inbox.size() == 2; });
  CHECK(got);
}

// Accepted connections hold at most three quarters of max_connections: the fourth of four is
// refused room (the oldest silent one goes), and our own send still finds room.
asio::awaitable<void> accepted_share(Peer* a, Peer* b) {
  std::vector<tcp::socket> held;
  for (int i = 0; i < 4; ++i) held.push_back(co_await raw_connect(b->t.port(Transport::tcp)));
  bool got = co_await eventually([&] { return b->t.stats().connections_evicted == 1; });
  CHECK(got);
  CHECK(b->t.open_connections() == 3);
  auto r = co_await read_n(&held[0], 1, 1000ms);
  CHECK(r.ec == asio::error::eof);  // the oldest stranger
  const auto ec = co_await b->t.send(a->target(Transport::tcp), request("ours"));
  CHECK_FALSE(ec);
  CHECK(b->t.open_connections() == 4);
  CHECK(b->t.stats().connections_refused == 0);
}

asio::awaitable<void> record_send(SipTransport* t, Target target, std::string wire, std::error_code* out, bool* done) {
  *out = co_await t->send(std::move(target), std::move(wire));
  *done = true;
}

asio::awaitable<void> stop_with_work_in_flight(Peer* a, Peer* b, std::uint16_t silent_port) {
  // Open TCP and TLS connections both ways…
  auto ec = co_await a->t.send(b->target(Transport::tcp), request("open-tcp"));
  REQUIRE_FALSE(ec);
  ec = co_await a->t.send(b->target(Transport::tls, "localhost"), request("open-tls"));
  REQUIRE_FALSE(ec);
  // …and a send stuck in a TLS handshake that will never finish.
  std::error_code stuck;
  bool done = false;
  asio::co_spawn(co_await asio::this_coro::executor,
                 record_send(&a->t, target_at(kLoopback, silent_port, Transport::tls, "localhost"), request("stuck"),
                             &stuck, &done),
                 [](std::exception_ptr e) {
                   if (e) std::rethrow_exception(e);
                 });
  co_await sleep_for(30ms);
  CHECK_FALSE(done);
  CHECK(a->t.open_connections() == 3);
  a->t.stop();
  const bool finished = co_await eventually([&] { return done; });
  REQUIRE(finished);
  CHECK(stuck == std::errc::operation_canceled);
  // The far end sees both connections close.
  const bool closed = co_await eventually([&] { return b->t.open_connections() == 0; });
  CHECK(closed);
  // A stopped transport refuses work and never calls its receiver again.
  ec = co_await a->t.send(b->target(Transport::udp), request("late"));
  CHECK(ec == transport_error::stopped);
}

asio::awaitable<void> reply_after_close(Peer* a, Peer* b) {
  auto ec = co_await a->t.send(b->target(Transport::tcp), request("r-1"));
  REQUIRE_FALSE(ec);
  bool got = co_await eventually([&] { return b->inbox.size() == 1; });
  REQUIRE(got);
  a->t.stop();
  got = co_await eventually([&] { return b->t.open_connections() == 0; });
  REQUIRE(got);
  ec = co_await b->t.reply(b->inbox[0].from, response("r-1"));
  CHECK(ec == transport_error::not_connected);
}

} // namespace

// =============================================================================================

TEST_SUITE("sip transport") {

TEST_CASE("UDP: a request crosses between two transports and the reply returns to its source port") {
  asio::io_context io;
  Peer a(io, client_options()), b(io, server_options());
  run(io, udp_request_and_reply(&a, &b));
  stop_all(io, {&a.t, &b.t});
}

TEST_CASE("TCP: the reply rides the request's connection, and later sends reuse it both ways") {
  asio::io_context io;
  Peer a(io, client_options()), b(io, server_options());
  run(io, stream_request_reply_reuse(&a, &b, Transport::tcp, {}));
  stop_all(io, {&a.t, &b.t});
}

TEST_CASE("TLS: verified against the CA for host localhost, reply and reuse over one connection") {
  asio::io_context io;
  Peer a(io, client_options()), b(io, server_options());
  run(io, stream_request_reply_reuse(&a, &b, Transport::tls, "localhost"));
  stop_all(io, {&a.t, &b.t});
}

TEST_CASE("TCP: a message split in pieces arrives once, whole") {
  asio::io_context io;
  Peer b(io, server_options());
  run(io, split_message(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("TCP: two pipelined messages in one write arrive as two messages") {
  asio::io_context io;
  Peer b(io, server_options());
  run(io, pipelined_messages(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("TCP: a CRLFCRLF keep-alive ping is answered with a CRLF pong (RFC 5626 3.5.1)") {
  asio::io_context io;
  Peer b(io, server_options());
  run(io, keepalive_ping(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("TCP: an oversized or malformed message closes its connection and is counted") {
  asio::io_context io;
  auto o = server_options();
  o.max_message = 2000;
  Peer b(io, o);
  run(io, bad_streams_close(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("UDP: garbage is counted as malformed, a flood is rate-limited, keep-alives are ignored") {
  asio::io_context io;
  auto o = server_options();
  o.malformed_per_second_per_source = 20;
  Peer b(io, o);
  run(io, garbage_flood(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("TCP: a send to a closed port fails with connection refused within the connect timeout") {
  asio::io_context io;
  std::uint16_t closed_port = 0;
  {
    tcp::acceptor probe(io, tcp::endpoint(kLoopback, 0));
    closed_port = probe.local_endpoint().port();
  }
  Peer a(io, client_options());
  run(io, refused_port(&a, closed_port));
  stop_all(io, {&a.t});
}

TEST_CASE("TLS: a server that never answers the handshake fails the send at connect_timeout") {
  asio::io_context io;
  tcp::acceptor silent(io, tcp::endpoint(kLoopback, 0));
  std::vector<tcp::socket> held;
  asio::co_spawn(io, silent_server(&silent, &held), [](std::exception_ptr) {});
  auto o = client_options();
  o.connect_timeout = 300ms;
  Peer a(io, o);
  run(io, handshake_timeout(&a, silent.local_endpoint().port()));
  silent.close();
  held.clear();
  stop_all(io, {&a.t});
}

TEST_CASE("TLS: a wrong host name or an unknown CA fails the send; an IP literal target verifies") {
  asio::io_context io;
  auto untrusting_options = client_options();
  untrusting_options.tls_ca_file.clear(); // system default store only
  Peer a(io, client_options()), untrusting(io, untrusting_options), b(io, server_options());
  run(io, tls_verification_fails(&a, &untrusting, &b));
  stop_all(io, {&a.t, &untrusting.t, &b.t});
}

TEST_CASE("TLS: mutual TLS accepts a client certificate from the CA and refuses a stranger's") {
  asio::io_context io;
  auto good_options = client_options();
  good_options.enable_tls = false; // a client certificate, but no listener
  good_options.tls_cert_file = tls_files().cert;
  good_options.tls_key_file = tls_files().key;
  auto rogue_options = good_options;
  rogue_options.tls_cert_file = tls_files().rogue_cert;
  rogue_options.tls_key_file = tls_files().rogue_key;
  Peer good(io, good_options), rogue(io, rogue_options), b(io, server_options());
  CHECK(good.t.port(Transport::tls) == 0);
  run(io, mutual_tls(&good, &rogue, &b));
  stop_all(io, {&good.t, &rogue.t, &b.t});
}

TEST_CASE("TCP: a connection silent for idle_timeout is closed") {
  asio::io_context io;
  auto o = server_options();
  o.idle_timeout = 200ms;
  Peer b(io, o);
  run(io, idle_connection_closes(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("TCP: an accepted connection that delivers nothing is closed at read_timeout, not idle_timeout") {
  asio::io_context io;
  auto o = server_options();
  o.read_timeout = 200ms;
  o.idle_timeout = 10s;
  Peer b(io, o);
  run(io, silent_stranger_closes(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("TCP: a message not complete within read_timeout closes the connection (slowloris)") {
  asio::io_context io;
  auto o = server_options();
  o.read_timeout = 200ms;
  Peer b(io, o);
  run(io, slow_message_closes(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("a receiver may stop the transport from inside the callback") {
  asio::io_context io;
  Peer b(io, server_options());
  b.t.set_receiver([&b](const Message&, std::string_view raw, const Source& from) {
    b.inbox.push_back({std::string(raw), from, true});
    b.t.stop();
  });
  run(io, receiver_stops_transport(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("TCP: at max_connections the connection idle the longest is closed for a new one") {
  asio::io_context io;
  auto o = server_options();
  o.max_connections = 2;
  Peer b(io, o);
  run(io, connection_limit(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("TCP: at max_connections a stranger's connection that never delivered a message goes first, even mid-message") {
  asio::io_context io;
  auto o = server_options();
  o.max_connections = 2;
  Peer b(io, o);
  run(io, unproven_connections_go_first(&b));
  stop_all(io, {&b.t});
}

TEST_CASE("TCP: accepted connections hold at most three quarters of max_connections; ours always find room") {
  asio::io_context io;
  auto o = server_options();
  o.max_connections = 4;
  Peer a(io, server_options());
  Peer b(io, o);
  run(io, accepted_share(&a, &b));
  stop_all(io, {&a.t, &b.t});
}

TEST_CASE("stop() with connections open and a send in flight completes it with operation_aborted") {
  asio::io_context io;
  tcp::acceptor silent(io, tcp::endpoint(kLoopback, 0));
  std::vector<tcp::socket> held;
  asio::co_spawn(io, silent_server(&silent, &held), [](std::exception_ptr) {});
  auto o = client_options();
  o.connect_timeout = 5000ms;
  {
    // The transports are destroyed right after stop(), while their children still unwind.
    auto a = std::make_unique<Peer>(io, o);
    auto b = std::make_unique<Peer>(io, server_options());
    run(io, stop_with_work_in_flight(a.get(), b.get(), silent.local_endpoint().port()));
    CHECK(a->inbox.empty());
    b->t.stop();
  }
  silent.close();
  held.clear();
  io.restart();
  io.run_for(1000ms);
  CHECK(io.stopped());
}

TEST_CASE("TCP: a reply over a connection that has closed fails with not_connected") {
  asio::io_context io;
  Peer a(io, client_options()), b(io, server_options());
  run(io, reply_after_close(&a, &b));
  stop_all(io, {&a.t, &b.t});
}

TEST_CASE("send refuses broadcast destinations, oversized messages and unknown transports") {
  asio::io_context io;
  Peer a(io, client_options());
  std::error_code e1, e2, e3;
  bool d1 = false, d2 = false, d3 = false;
  asio::co_spawn(io, record_send(&a.t, target_at(asio::ip::make_address("255.255.255.255"), 5060, Transport::udp),
                                 request("bcast"), &e1, &d1),
                 [](std::exception_ptr) {});
  asio::co_spawn(io, record_send(&a.t, target_at(kLoopback, 5060, Transport::udp), std::string(70000, 'x'), &e2, &d2),
                 [](std::exception_ptr) {});
  asio::co_spawn(io, record_send(&a.t, target_at(kLoopback, 5060, Transport::sctp), request("sctp"), &e3, &d3),
                 [](std::exception_ptr) {});
  io.run_for(500ms);
  REQUIRE((d1 && d2 && d3));
  CHECK(e1 == transport_error::forbidden_address);
  CHECK(e2 == transport_error::message_too_large);
  CHECK(e3 == transport_error::unsupported_transport);
  stop_all(io, {&a.t});
}

TEST_CASE("start() throws when a port is taken, and leaves nothing bound") {
  asio::io_context io;
  Peer a(io, client_options());
  TransportOptions o = client_options();
  o.udp_port = a.t.port(Transport::udp);
  SipTransport clash(io.get_executor(), o);
  CHECK_THROWS_AS(clash.start(), boost::system::system_error);
  CHECK(clash.port(Transport::udp) == 0);
  CHECK(clash.port(Transport::tcp) == 0);
  clash.stop();
  stop_all(io, {&a.t});
}

TEST_CASE("Via stamping: received when sent-by differs, rport filled with the source port") {
  const Source from{Transport::udp, asio::ip::make_address("192.0.2.7"), 40000, 0};
  // RFC 3581 §4: rport without a value is filled, and received is added even if equal.
  CHECK(stamp_via("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;rport", from) ==
        "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1;rport=40000;received=192.0.2.7");
  // RFC 3261 §18.2.1: a name, or another address, in sent-by gets received.
  CHECK(stamp_via("SIP/2.0/UDP pc33.example.com;branch=z9hG4bK2", from) ==
        "SIP/2.0/UDP pc33.example.com;branch=z9hG4bK2;received=192.0.2.7");
  CHECK(stamp_via("SIP/2.0/TCP 10.0.0.1:5060 ;branch=z9hG4bK3;received=1.2.3.4", from) ==
        "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK3;received=192.0.2.7");
  // Same address and no rport: unchanged.
  CHECK(stamp_via("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK4", from) == "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK4");
  // IPv6: received carries the address without brackets (RFC 3261 §25.1, RFC 5118).
  const Source v6{Transport::udp, asio::ip::make_address("2001:db8::9"), 5070, 0};
  CHECK(stamp_via("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK5", v6) ==
        "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK5;received=2001:db8::9");
  CHECK(stamp_via("SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK6", v6) == "SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bK6");
  CHECK_FALSE(stamp_via("not a via", from).has_value());
}

} // TEST_SUITE
