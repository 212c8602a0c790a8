#include "http/request_audit.hpp"

#include <utility>

#include <httplib.h>

#include "http/api_path.hpp"
#include "http/basic_auth.hpp"

namespace cluster_actions::http {

namespace {

/// What the handlers learnt about the request this thread serves. httplib
/// offers no place in a request for it, but serves each request on one
/// pool thread from routing to its answer; the post-routing handler empties
/// it for every answer, so nothing carries over to the next request.
struct request_note {
  std::string user;
  std::string action_uid;
  std::string action_status;
};

thread_local request_note note;

} // namespace

std::string audit_event(std::string_view method, std::string_view path,
                        int status, bool gave_credentials) {
  switch (status) {
    case 401:
      return gave_credentials ? "login_failed" : "credentials_missing";
    case 403:
      return "permission_denied";
    case 429:
      return "login_throttled";
    default:
      break;
  }
  const bool start = method == "POST";
  if (!start && method != "DELETE")
    return "";
  const bool accepted = status >= 200 && status < 300;
  if (parse_api_path(path).kind == api_path::outside)
    return accepted ? "" : "request_refused";
  return std::string{start ? "start" : "cancel"}
         + (accepted ? "_accepted" : "_refused");
}

std::string client_address(const httplib::Request& req,
                           const trusted_proxies& proxies) {
  constexpr const char* header = "X-Forwarded-For";
  std::string forwarded_for;
  // Read only where it counts: from anyone else it is ignored anyway.
  const auto count = proxies.trusts(req.remote_addr)
                       ? req.get_header_value_count(header)
                       : 0;
  for (std::size_t i = 0; i < count; ++i)
    forwarded_for += (i == 0 ? "" : ",") + req.get_header_value(header, i);
  return proxies.client_address(req.remote_addr, forwarded_for);
}

void note_user(const std::string& email) {
  note.user = email;
}

void note_given_user(const httplib::Request& req) {
  auto header = req.headers.find("Authorization");
  if (header != req.headers.end())
    note.user = given_user_name(header->second);
}

void note_action(const action_status& status) {
  note.action_uid = status.action_uid;
  note.action_status = std::string{to_string(status.state)};
}

std::function<void(const httplib::Request&, const httplib::Response&)>
audit_recorder(std::shared_ptr<audit_log> log, trusted_proxies proxies) {
  return [log = std::move(log), proxies = std::move(proxies)](
           const httplib::Request& req, const httplib::Response& res) {
    auto served = std::exchange(note, {});
    auto event = audit_event(req.method, req.path, res.status,
                             req.has_header("Authorization"));
    if (event.empty())
      return;
    log->record({std::move(event), std::move(served.user),
                 client_address(req, proxies), req.method, req.path,
                 res.status, std::move(served.action_uid),
                 std::move(served.action_status)});
  };
}

} // namespace cluster_actions::http
