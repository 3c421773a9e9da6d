// A UAC dialog, RFC 3261 §12: created by a 2xx (or 1xx with a To tag) to our INVITE, it holds
// what every later request in the call needs — Call-ID, tags, CSeq, the route set from
// Record-Route and the remote target from Contact — and builds those requests (§12.2.1.1).
#pragma once
#include "sip/message.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb::sip {

struct Dialog {
  std::string call_id;
  std::string local_tag, remote_tag;
  std::string local_uri, remote_uri;        // From / To URIs of the INVITE
  std::string local_display;                // our From display name (may be empty)
  std::uint32_t local_cseq = 0;             // last CSeq we used
  std::optional<std::uint32_t> remote_cseq; // last CSeq the far end used (§12.2.2)
  std::string remote_target;                // Contact URI of the 2xx (target refreshes update it)
  std::vector<std::string> route_set;       // Record-Route of the 2xx, reversed (§12.1.2)
  bool secure = false;                      // sips Request-URI and TLS hop (§12.1.2)

  // Builds the dialog from our INVITE's identity and the far end's 2xx (§12.1.2). nullopt when
  // the response lacks what a dialog needs (To tag, a usable Contact).
  static std::optional<Dialog> from_response(const Message& response, std::string_view call_id,
                                             std::string_view local_tag, std::string_view local_uri,
                                             std::string_view remote_uri, std::uint32_t invite_cseq,
                                             std::string_view local_display = {});

  // §12.2.1.1: Request-URI and Route headers. Loose routing (first route has ;lr): RURI = remote
  // target, Route = route set. Strict routing: RURI = first route (params stripped), Route = the
  // rest plus the remote target.
  struct Addressing {
    std::string request_uri;
    std::vector<std::string> routes;  // Route header values, in order
    std::string next_hop;             // URI to resolve for sending: first Route, else the RURI
  };
  Addressing addressing() const;

  // A target refresh (re-INVITE, UPDATE) with a Contact updates the remote target (§12.2.2).
  void refresh_target(const Message& request);
  // §12.2.2: a request with a CSeq lower than the last one is out of order (answer 500).
  bool accept_remote_cseq(std::uint32_t cseq);

  std::string from_header() const;  // "<local_uri>;tag=local_tag"
  std::string to_header() const;    // "<remote_uri>;tag=remote_tag"
};

// The Contact URI of a message's first Contact header, or "".
std::string first_contact_uri(const Message& m);

}  // namespace sb::sip
