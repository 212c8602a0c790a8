// The REST front's requests in the audit log: which requests get a line,
// under which event, who the client is, and what the handlers tell the
// line about the request they served. Internal to the REST front.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "http/audit_log.hpp"
#include "http/trusted_proxies.hpp"
#include "messages/action_status.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
} // namespace httplib

namespace cluster_actions::http {

/// The event of a request's audit line, or "" for a request that gets
/// none. Every 401 ("login_failed" when credentials were given,
/// "credentials_missing" otherwise), 403 ("permission_denied") and 429
/// ("login_throttled"); every other POST and DELETE to the API
/// ("start_accepted", "start_refused", "cancel_accepted", "cancel_refused");
/// and any other refused POST or DELETE ("request_refused"). A host's own
/// routes that succeed are none of the audit log's business.
std::string audit_event(std::string_view method, std::string_view path,
                        int status, bool gave_credentials);

/// The client's address of `req` as `proxies` see it (see
/// trusted_proxies::client_address), from its peer and its X-Forwarded-For
/// headers.
std::string client_address(const httplib::Request& req,
                           const trusted_proxies& proxies);

/// Tells this request's audit line the user it authenticated as.
void note_user(const std::string& email);

/// Tells this request's audit line the user name its credentials give;
/// for requests refused before their password was found right.
void note_given_user(const httplib::Request& req);

/// Tells this request's audit line the run its answer is about.
void note_action(const action_status& status);

/// The step that writes a line to `log` for every request audit_event
/// names, once its answer is final, with the client's address as `proxies`
/// see it. Run it from the server's post-routing handler.
std::function<void(const httplib::Request&, const httplib::Response&)>
audit_recorder(std::shared_ptr<audit_log> log, trusted_proxies proxies);

} // namespace cluster_actions::http
