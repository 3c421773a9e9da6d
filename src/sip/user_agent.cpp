#include "sip/user_agent.hpp"

#include "base/crypto.hpp"
#include "base/log.hpp"
#include "sip/uri.hpp"

#include <boost/asio.hpp>

namespace sb::sip {
namespace asio = boost::asio;

namespace {
std::string dialog_key(std::string_view call_id, std::string_view tag) {
  std::string k(call_id);
  k += '\n';
  k += tag;
  return k;
}
}  // namespace

UserAgent::UserAgent(asio::any_io_executor ex, UserAgentOptions opts, std::unique_ptr<Network> network)
    : ex_(ex), opts_(std::move(opts)), net_(std::move(network)) {}

UserAgent::~UserAgent() { stop(); }

void UserAgent::start() {
  net_->start([this](const Message& m, std::string_view raw, const Source& from) { on_message(m, raw, from); });
}

void UserAgent::stop() { net_->stop(); }

std::string UserAgent::advertised_host() const { return std::string(net_->advertised_host()); }

std::string UserAgent::via_host() const {
  auto h = advertised_host();
  if (h.find(':') != std::string::npos && (h.empty() || h.front() != '[')) return "[" + h + "]";
  return h;
}

std::uint16_t UserAgent::port_for(std::string_view token) const {
  if (token == "TCP") return net_->port(Transport::tcp);
  if (token == "TLS") return net_->port(Transport::tls);
  return net_->port(Transport::udp);
}

std::string UserAgent::new_branch() const { return "z9hG4bK" + random_alnum(22); }

std::shared_ptr<Call> UserAgent::dial(CallParams params, std::unique_ptr<CallMedia> media, CallObserver observer) {
  if (at_call_limit()) return nullptr;
  auto id = params.id;
  auto call = std::make_shared<Call>(*this, std::move(params), std::move(media), std::move(observer));
  calls_[id] = call;
  ++stats_.calls_started;
  call->start();
  return call;
}

Call* UserAgent::find(std::string_view id) {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.get();
}

void UserAgent::hangup_all(bool abandon_unanswered) {
  for (auto& [id, c] : calls_) c->hangup(abandon_unanswered);
}

void UserAgent::call_finished(Call* call) {
  ++stats_.calls_ended;
  // Posted: the call's coroutine is still on the stack when it reports its end.
  auto id = call->params().id;
  asio::post(ex_, [this, id] { calls_.erase(id); });
}

asio::awaitable<boost::system::result<std::vector<Target>>> UserAgent::resolve(std::string uri_text) {
  auto u = parse_uri(uri_text);
  if (!u) co_return boost::system::error_code(EINVAL, boost::system::generic_category());
  std::optional<Transport> t;
  if (!u->transport_param.empty()) t = u->transport();
  // maddr overrides the host (RFC 3263 §4.1).
  std::string host(u->maddr_param.empty() ? u->host_address() : u->maddr_param);
  co_return co_await net_->resolve(host, u->port, t, u->secure());
}

asio::awaitable<std::error_code> UserAgent::send(Target target, std::string wire) {
  co_return co_await net_->send(std::move(target), std::move(wire));
}

asio::awaitable<std::error_code> UserAgent::reply(Source from, std::string wire) {
  co_return co_await net_->reply(std::move(from), std::move(wire));
}

void UserAgent::bind_branch(const std::string& branch, std::weak_ptr<Call> call) { branches_[branch] = std::move(call); }
void UserAgent::unbind_branch(const std::string& branch) { branches_.erase(branch); }
void UserAgent::bind_dialog(const std::string& call_id, const std::string& tag, std::weak_ptr<Call> call) {
  dialogs_[dialog_key(call_id, tag)] = std::move(call);
}
void UserAgent::unbind_dialog(const std::string& call_id, const std::string& tag) {
  dialogs_.erase(dialog_key(call_id, tag));
}

void UserAgent::on_message(const Message& msg, std::string_view raw, const Source& from) {
  if (auto why = check_core_headers(msg); !why.empty()) {
    ++stats_.invalid_messages;
    log::debug("sip", "dropped invalid message from {}: {}", from.address.to_string(), why);
    return;
  }
  std::shared_ptr<Call> target;
  if (msg.is_response()) {
    // §17.1.3: the top Via branch names our transaction.
    ListCursor list(msg.find(HeaderId::via)->value);
    auto first = list.next();
    auto via = first ? parse_via(*first) : std::nullopt;
    if (via) {
      auto it = branches_.find(via->branch);
      if (it != branches_.end()) target = it->second.lock();
    }
    if (!target) {
      ++stats_.unmatched_responses;
      log::debug("sip", "dropped unmatched {} response from {}", msg.status_code, from.address.to_string());
      return;
    }
  } else {
    // A request belongs to us only inside a dialog we created: its To tag is our local tag.
    auto to = parse_name_addr(msg.find(HeaderId::to)->value);
    auto cid = parse_call_id(msg.find(HeaderId::call_id)->value);
    if (to && cid && !to->tag.empty()) {
      auto it = dialogs_.find(dialog_key(*cid, to->tag));
      if (it != dialogs_.end()) target = it->second.lock();
    }
    if (!target) {
      // Dropped, not refused: answering would tell scanners a SIP stack lives here.
      ++stats_.out_of_dialog_requests;
      log::debug("sip", "dropped out-of-dialog {} from {}", msg.method_text, from.address.to_string());
      return;
    }
  }
  auto in = std::make_shared<Inbound>();
  in->raw.assign(raw);
  in->from = from;
  Limits lim;
  if (parse_message(in->raw, in->msg, lim, false).status != parse_status::ok) return;
  target->deliver(std::move(in));
}

}  // namespace sb::sip
