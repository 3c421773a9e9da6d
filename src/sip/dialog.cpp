#include "sip/dialog.hpp"

#include "sip/uri.hpp"

#include <algorithm>

namespace sb::sip {

std::string first_contact_uri(const Message& m) {
  const Header* h = m.find(HeaderId::contact);
  if (!h) return {};
  std::string value;
  append_unfolded(value, h->value);
  ListCursor list(value);
  auto first = list.next();
  if (!first) return {};
  auto na = parse_name_addr(*first);
  if (!na || na->star) return {};
  return std::string(na->uri);
}

std::optional<Dialog> Dialog::from_response(const Message& response, std::string_view call_id,
                                            std::string_view local_tag, std::string_view local_uri,
                                            std::string_view remote_uri, std::uint32_t invite_cseq,
                                            std::string_view local_display) {
  Dialog d;
  d.call_id = std::string(call_id);
  d.local_tag = std::string(local_tag);
  d.local_uri = std::string(local_uri);
  d.remote_uri = std::string(remote_uri);
  d.local_display = std::string(local_display);
  d.local_cseq = invite_cseq;
  const Header* to = response.find(HeaderId::to);
  if (!to) return std::nullopt;
  auto to_na = parse_name_addr(to->value);
  if (!to_na || to_na->tag.empty()) return std::nullopt;
  d.remote_tag = std::string(to_na->tag);
  // §12.1.2: remote target = Contact of the response; a 2xx to INVITE must carry one.
  d.remote_target = first_contact_uri(response);
  if (d.remote_target.empty() || !parse_uri(d.remote_target)) return std::nullopt;
  // Route set = Record-Route in reverse order (UAC side), each element kept as sent.
  std::vector<std::string> rr;
  for (const Header& h : response.find_all(HeaderId::record_route)) {
    std::string value;
    append_unfolded(value, h.value);
    ListCursor list(value);
    while (auto e = list.next()) {
      // Every element must be a name-addr with a SIP URI: one that is not would leave the
      // in-dialog requests (the ACK first) without a next hop (§16.12.1.1 route construction).
      auto na = parse_name_addr(*e);
      if (!na || na->star || !parse_uri(na->uri)) return std::nullopt;
      rr.emplace_back(*e);
    }
  }
  std::reverse(rr.begin(), rr.end());
  d.route_set = std::move(rr);
  auto ruri = parse_uri(remote_uri);
  d.secure = ruri && ruri->secure();
  return d;
}

Dialog::Addressing Dialog::addressing() const {
  Addressing a;
  if (route_set.empty()) {
    a.request_uri = remote_target;
    a.next_hop = remote_target;
    return a;
  }
  auto first = parse_name_addr(route_set.front());
  std::string first_uri = first ? std::string(first->uri) : std::string();
  auto u = parse_uri(first_uri);
  if (u && u->lr) {
    a.request_uri = remote_target;
    a.routes = route_set;
    a.next_hop = first_uri;
  } else {
    // Strict router (RFC 2543): it becomes the Request-URI, the remote target goes last.
    a.request_uri = first_uri;
    a.routes.assign(route_set.begin() + 1, route_set.end());
    a.routes.push_back("<" + remote_target + ">");
    a.next_hop = first_uri;
  }
  return a;
}

void Dialog::refresh_target(const Message& request) {
  auto c = first_contact_uri(request);
  if (!c.empty() && parse_uri(c)) remote_target = std::move(c);
}

bool Dialog::accept_remote_cseq(std::uint32_t cseq) {
  if (remote_cseq && cseq < *remote_cseq) return false;
  remote_cseq = cseq;
  return true;
}

std::string Dialog::from_header() const {
  std::string s;
  if (!local_display.empty()) s += "\"" + local_display + "\" ";
  return s + "<" + local_uri + ">;tag=" + local_tag;
}

std::string Dialog::to_header() const { return "<" + remote_uri + ">;tag=" + remote_tag; }

}  // namespace sb::sip
