// RFC 3261 §12 dialogs as the UAC builds them from a 2xx.
#include "sip/dialog.hpp"

#include <doctest/doctest.h>

using namespace sb::sip;

namespace {
struct Parsed {
  std::string raw;
  Message msg;
  explicit Parsed(std::string text) : raw(std::move(text)) {
    Limits lim;
    REQUIRE(parse_message(raw, msg, lim, false).status == parse_status::ok);
  }
};
const char* k2xx =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc\r\n"
    "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n"
    "Record-Route: <sip:p0.example.com;lr>\r\n"
    "From: <sip:gw@10.0.0.1>;tag=local1\r\n"
    "To: <sip:bob@example.com>;tag=remote9\r\n"
    "Call-ID: c1@gw\r\n"
    "CSeq: 2 INVITE\r\n"
    "Contact: \"Bob\" <sip:bob@192.0.2.4:5070;transport=tcp>;expires=60\r\n"
    "Content-Length: 0\r\n\r\n";
}  // namespace

TEST_CASE("a dialog takes its route set from Record-Route reversed and its target from Contact") {
  Parsed r(k2xx);
  auto d = Dialog::from_response(r.msg, "c1@gw", "local1", "sip:gw@10.0.0.1", "sip:bob@example.com", 2);
  REQUIRE(d.has_value());
  CHECK(d->remote_tag == "remote9");
  CHECK(d->remote_target == "sip:bob@192.0.2.4:5070;transport=tcp");
  // Record-Route order on the wire: p2, p1, p0 → the UAC's route set is p0, p1, p2 (§12.1.2).
  REQUIRE(d->route_set.size() == 3);
  CHECK(d->route_set[0] == "<sip:p0.example.com;lr>");
  CHECK(d->route_set[2] == "<sip:p2.example.com;lr>");
  CHECK(d->local_cseq == 2);
  CHECK(d->to_header() == "<sip:bob@example.com>;tag=remote9");
  CHECK(d->from_header() == "<sip:gw@10.0.0.1>;tag=local1");
}

TEST_CASE("loose routing keeps the remote target as Request-URI and sends to the first route") {
  Parsed r(k2xx);
  auto d = Dialog::from_response(r.msg, "c1@gw", "local1", "sip:gw@10.0.0.1", "sip:bob@example.com", 2);
  auto a = d->addressing();
  CHECK(a.request_uri == "sip:bob@192.0.2.4:5070;transport=tcp");
  CHECK(a.routes.size() == 3);
  CHECK(a.next_hop == "sip:p0.example.com;lr");
}

TEST_CASE("a strict router becomes the Request-URI and the remote target goes last in Route") {
  Parsed r(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nRecord-Route: <sip:strict.example.com>\r\n"
      "From: <sip:gw@10.0.0.1>;tag=l\r\nTo: <sip:bob@example.com>;tag=r\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\n"
      "Contact: <sip:bob@192.0.2.4>\r\nContent-Length: 0\r\n\r\n");
  auto d = Dialog::from_response(r.msg, "c2", "l", "sip:gw@10.0.0.1", "sip:bob@example.com", 1);
  REQUIRE(d);
  auto a = d->addressing();
  CHECK(a.request_uri == "sip:strict.example.com");
  REQUIRE(a.routes.size() == 1);
  CHECK(a.routes[0] == "<sip:bob@192.0.2.4>");
  CHECK(a.next_hop == "sip:strict.example.com");
}

TEST_CASE("a 2xx without a To tag or without a Contact makes no dialog") {
  Parsed no_tag(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nFrom: <sip:gw@x>;tag=l\r\nTo: <sip:b@x>\r\n"
      "Call-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:b@192.0.2.4>\r\nContent-Length: 0\r\n\r\n");
  CHECK_FALSE(Dialog::from_response(no_tag.msg, "c", "l", "sip:gw@x", "sip:b@x", 1).has_value());
  Parsed no_contact(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nFrom: <sip:gw@x>;tag=l\r\nTo: <sip:b@x>;tag=r\r\n"
      "Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  CHECK_FALSE(Dialog::from_response(no_contact.msg, "c", "l", "sip:gw@x", "sip:b@x", 1).has_value());
}

TEST_CASE("a 2xx whose Record-Route holds an element that is not a SIP name-addr makes no dialog") {
  // Found by fuzz_sip_transaction (10 M-run campaign): a garbage Record-Route element gave a
  // dialog whose next hop was empty, so the ACK and BYE had nowhere to go.
  for (const char* rr : {"Record-Route: \xff\xff;\xc2\r\n", "Record-Route: <sip:p1.example.com;lr>, <mailto:x@y>\r\n",
                         "Record-Route: *\r\n", "Record-Route: <sip:p1.example.com;lr>, <>\r\n"}) {
    INFO(rr);
    Parsed r(std::string("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n") + rr +
             "From: <sip:gw@x>;tag=l\r\nTo: <sip:b@x>;tag=r\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
             "Contact: <sip:b@192.0.2.4>\r\nContent-Length: 0\r\n\r\n");
    CHECK_FALSE(Dialog::from_response(r.msg, "c", "l", "sip:gw@x", "sip:b@x", 1).has_value());
  }
}

TEST_CASE("remote CSeq must not go backwards, and a target refresh moves the remote target") {
  Parsed r(k2xx);
  auto d = Dialog::from_response(r.msg, "c1@gw", "local1", "sip:gw@10.0.0.1", "sip:bob@example.com", 2);
  CHECK(d->accept_remote_cseq(5));
  CHECK(d->accept_remote_cseq(5));  // a retransmission
  CHECK(d->accept_remote_cseq(6));
  CHECK_FALSE(d->accept_remote_cseq(4));
  Parsed reinvite(
      "INVITE sip:gw@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKb\r\nFrom: <sip:bob@example.com>;tag=remote9\r\n"
      "To: <sip:gw@10.0.0.1>;tag=local1\r\nCall-ID: c1@gw\r\nCSeq: 7 INVITE\r\nContact: <sip:bob@198.51.100.7>\r\n"
      "Content-Length: 0\r\n\r\n");
  d->refresh_target(reinvite.msg);
  CHECK(d->remote_target == "sip:bob@198.51.100.7");
}
