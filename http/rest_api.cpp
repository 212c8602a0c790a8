#include "http/rest_api.hpp"

#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/detail/typed_actor_util.hpp>
#include <caf/scoped_actor.hpp>
#include <httplib.h>

#include "http/api_path.hpp"
#include "http/basic_auth.hpp"
#include "http/caller_pool.hpp"
#include "http/calling_thread.hpp"
#include "http/change_wait.hpp"
#include "http/connection_state.hpp"
#include "http/http_date.hpp"
#include "http/json_mapping.hpp"
#include "http/list_cache.hpp"
#include "http/metrics.hpp"
#include "http/openapi_document.hpp"
#include "http/pending_bound.hpp"
#include "http/request_audit.hpp"
#include "http/status_watcher.hpp"

namespace cluster_actions::http {

namespace {

using httplib::Request;
using httplib::Response;

// Kept as a string once: httplib takes it as std::string, and it does not
// fit the small-string buffer.
const std::string json_content_type = "application/json";

/// Asks the connection loop to close the connection after this response
/// (a body left unread, or a request refused for its shape).
void close_after(const Request& req, Response& res) {
  if (auto* connection = current_connection())
    connection->close = true;
  // httplib adds its own when the client asked for the close.
  if (!res.has_header("Connection")
      && req.get_header_value("Connection") != "close")
    res.set_header("Connection", "close");
}

void send_json(Response& res, int status,
               std::shared_ptr<const std::string> body) {
  res.status = status;
  // Through a content provider, because httplib compresses a plain body for
  // a client that accepts it; brotli on bodies this small costs several
  // times the rest of the request (measured: 8,400 -> 1,150 requests/s).
  auto size = body->size();
  res.set_content_provider(
    size, json_content_type,
    [body = std::move(body)](std::size_t offset, std::size_t length,
                             httplib::DataSink& sink) {
      return sink.write(body->data() + offset, length);
    });
}

void send_json(Response& res, int status, std::string body) {
  send_json(res, status, std::make_shared<const std::string>(std::move(body)));
}

void send_error(Response& res, int status, std::string_view error_code,
                std::string_view description) {
  send_json(res, status, error_json(error_code, description));
}

/// 304 for a conditional GET whose entity tag still matches.
void send_not_modified(Response& res, const std::string& tag) {
  res.status = 304;
  res.set_header("ETag", tag);
}

/// The paths of the metrics and of the OpenAPI document.
const std::string metrics_path = "/metrics";
const std::string openapi_path = "/v1/openapi.json";

/// The route template of a request's path, as the metrics label it.
std::string_view route_template(const std::string& path) {
  switch (parse_api_path(path).kind) {
    case api_path::list:
      return list_path;
    case api_path::action:
    case api_path::invalid_action:
      return "/v1/cluster/actions/{action}";
    case api_path::outside:
      break;
  }
  if (path == metrics_path)
    return metrics_path;
  return path == openapi_path ? std::string_view{openapi_path} : "other";
}

/// Whether a header value names a connection option, ignoring case.
bool names_option(const std::string& value, std::string_view option) {
  return value.size() == option.size()
         && std::equal(value.begin(), value.end(), option.begin(),
                       [](char a, char b) {
                         return std::tolower(static_cast<unsigned char>(a))
                                == b;
                       });
}

/// The headers every response carries, set last: Date, and for a response
/// after which the connection closes, `Connection: close` and no
/// Keep-Alive.
void finish_headers(const Request& req, Response& res) {
  res.set_header("Date", http_date());
  // An HTTP/1.0 connection persists only when the client asked for it.
  bool closing = names_option(res.get_header_value("Connection"), "close")
                 || (req.version == "HTTP/1.0"
                     && !names_option(req.get_header_value("Connection"),
                                      "keep-alive"));
  if (!closing)
    return;
  if (auto* connection = current_connection())
    connection->close = true;
  res.headers.erase("Keep-Alive");
  res.headers.erase("Connection");
  res.set_header("Connection", "close");
}

/// 503 with Retry-After: the condition is expected to pass shortly.
void send_unavailable(Response& res, std::string_view error_code,
                      std::string_view description) {
  res.set_header("Retry-After", "1");
  send_error(res, 503, error_code, description);
}

/// The Allow header of a path of the API, or "" for a path outside it.
std::string_view allowed_methods(const api_path& path) {
  switch (path.kind) {
    case api_path::list:
      return "GET";
    case api_path::action:
    case api_path::invalid_action:
      return "GET, POST, DELETE";
    case api_path::outside:
      break;
  }
  return {};
}

/// Whether `method` is in an Allow list; HEAD goes wherever GET does.
bool is_allowed(std::string_view allowed, std::string_view method) {
  if (method == "HEAD")
    method = "GET";
  for (std::size_t begin = 0; begin < allowed.size();) {
    auto end = std::min(allowed.find(',', begin), allowed.size());
    if (allowed.substr(begin, end - begin) == method)
      return true;
    begin = allowed.find_first_not_of(' ', end + 1);
  }
  return false;
}

/// 405 with Allow when `path` is in the API but does not serve the method.
bool refuse_method(const Request& req, Response& res, const api_path& path) {
  auto allowed = allowed_methods(path);
  if (allowed.empty() || is_allowed(allowed, req.method))
    return false;
  res.set_header("Allow", std::string{allowed});
  send_error(res, 405, "method_not_allowed",
             req.method + " is not allowed on " + req.path + " (allowed: "
               + std::string{allowed} + ")");
  return true;
}

/// Answers a request to a path of the API that no route serves, from its
/// path and method alone: 405 for a method the path does not serve, and
/// for a name that is no action name 400 on POST, 404 otherwise. Its body,
/// if any, stays unread: as after every refused request, the connection is
/// not reused. False when a route serves the request, or the path is
/// outside the API (a host's server may serve it).
bool answer_unrouted(const Request& req, Response& res) {
  auto path = parse_api_path(req.path);
  if (path.kind == api_path::outside)
    return false;
  if (!refuse_method(req, res, path)) {
    if (path.kind != api_path::invalid_action)
      return false;
    if (req.method == "POST")
      send_error(res, 400, "invalid_action_name",
                 "an action name is 1 to "
                   + std::to_string(max_action_name_length)
                   + " letters, digits, '_' or '-'");
    else
      send_error(res, 404, "not_found", "there is no action of that name");
  }
  close_after(req, res);
  return true;
}

/// The action a request to an action route names; nothing, the request
/// answered, when its last segment is no action name. configure_server's
/// pre-routing handler answers those before routing; a host's server
/// without it gets the same answers here.
std::optional<std::string> routed_action(const Request& req, Response& res) {
  auto path = parse_api_path(req.path);
  if (path.kind == api_path::action)
    return std::move(path.name);
  answer_unrouted(req, res);
  return std::nullopt;
}

/// Writes the body of a response httplib produced itself (an oversized or
/// malformed request, a method it cannot route).
void describe_library_error(const Request& req, Response& res,
                            const rest_settings& settings) {
  // A refused request may have left bytes unread: never reuse the
  // connection after one.
  close_after(req, res);
  if (const auto* connection = current_connection()) {
    if (connection->timed_out) {
      send_error(res, 408, "request_timeout",
                 "the request did not arrive in time");
      return;
    }
    if (connection->head_too_large) {
      if (connection->in_request_line)
        send_error(res, 414, "uri_too_long",
                   "the request target is too long");
      else
        send_error(res, 431, "request_header_fields_too_large",
                   "the request line and headers exceed "
                     + std::to_string(settings.max_header_bytes) + " bytes");
      return;
    }
  }
  // httplib answers 400 for a method it cannot route at all (TRACE,
  // CONNECT); a path of the API without a route was answered before
  // routing.
  if (res.status == 400 && !req.method.empty()
      && refuse_method(req, res, parse_api_path(req.path)))
    return;
  switch (res.status) {
    case 400:
      send_error(res, 400, "bad_request", "the request is malformed");
      break;
    case 404:
      send_error(res, 404, "not_found",
                 "the path is not part of the API (see /v1/cluster/actions)");
      break;
    case 413:
      send_error(res, 413, "payload_too_large",
                 "the body exceeds " + std::to_string(settings.max_body_bytes)
                   + " bytes");
      break;
    case 414:
      send_error(res, 414, "uri_too_long", "the request target is too long");
      break;
    default:
      send_error(res, res.status, "http_error",
                 "the request failed with HTTP status "
                   + std::to_string(res.status));
  }
}

std::string default_description(action_error code, const std::string& action) {
  switch (code) {
    case action_error::unknown_action:
      return "there is no action type named '" + action + "'";
    case action_error::invalid_params:
      return "the parameters do not fit action type '" + action + "'";
    case action_error::conflict:
      return "a run of '" + action + "' is already in progress";
    case action_error::not_found:
      return "action '" + action + "' has no run to show";
    case action_error::shutting_down:
      return "the server is shutting down and takes no new runs";
    case action_error::storage_unavailable:
      return "the status store cannot record the change; nothing changed";
  }
  return "action '" + action + "' failed";
}

/// The type of the reply a blocking response handle expects.
template <class Handle>
struct response_output;

template <class Self, class Output>
struct response_output<caf::response_handle<Self, Output, true>> {
  using type = Output;
};

/// A reply handler answering 200 with the action object.
auto send_action(Response& res) {
  return [&res](action_status& status) {
    note_action(status);
    send_json(res, 200, action_json(status));
  };
}

/// What the handlers share: the supervisor and how to reach it, the users.
class api {
public:
  api(caf::actor_system& system, supervisor_actor supervisor,
      std::vector<user> users, const rest_settings& settings,
      std::shared_ptr<change_feed> feed, std::shared_ptr<metrics> counters,
      status_watcher_actor watcher)
    : supervisor_(std::move(supervisor)),
      users_(std::move(users)),
      throttle_(settings.throttle),
      proxies_(settings.proxies),
      reply_timeout_(settings.reply_timeout),
      max_body_bytes_(settings.max_body_bytes),
      pending_(settings.max_pending_requests),
      callers_(system),
      challenge_("Basic realm=\"" + settings.realm + "\""),
      waiters_(std::min(settings.max_waiting_requests,
                        std::max<std::size_t>(settings.threads / 2, 1))),
      feed_(std::move(feed)),
      metrics_(std::move(counters)),
      watcher_(std::move(watcher)) {
    // nop
  }

  void list(const Request& req, Response& res) {
    if (!authorize(req, res, permission::view_status_of_cluster_action))
      return;
    show(req, res, [&] {
      std::shared_ptr<const std::string> body;
      ask(
        res, {}, 404,
        [&](std::vector<action_status>& statuses) {
          body = list_cache_.json_of(statuses);
        },
        list_atom::value);
      return body;
    });
  }

  void get(const Request& req, Response& res) {
    auto name = routed_action(req, res);
    if (!name
        || !authorize(req, res, permission::view_status_of_cluster_action))
      return;
    show(req, res, [&] {
      std::shared_ptr<const std::string> body;
      ask(
        res, *name, 404,
        [&](action_status& status) {
          body = std::make_shared<const std::string>(action_json(status));
        },
        get_atom::value, *name);
      return body;
    });
  }

  void scrape(const Request& req, Response& res) {
    if (!authorize(req, res, permission::view_status_of_cluster_action))
      return;
    res.set_content(metrics_->render(waiters_.count()),
                    "text/plain; version=0.0.4; charset=utf-8");
  }

  /// Counts an answered request in the metrics (httplib's logger, called
  /// once the response is written).
  void count(const Request& req, const Response& res) {
    auto latency = metrics::clock::duration::zero();
    if (const auto* connection = current_connection())
      latency = metrics::clock::now() - connection->request_began;
    metrics_->request_answered(req.method, route_template(req.path),
                               res.status, latency);
  }

  void start(const Request& req, Response& res,
             const httplib::ContentReader& read_body) {
    auto name = routed_action(req, res);
    if (!name)
      return;
    // httplib would read a POST body without Content-Length or
    // Transfer-Encoding until the read timeout and then answer 400; such a
    // request has no body (RFC 9112, 6.3), so only an announced one is read.
    // It is read whole, before authorizing, so that no rest of it is left in
    // a keep-alive connection to be taken for the next request.
    std::string body;
    if (req.has_header("Content-Length")) {
      // Refused before a byte of it is read; the connection is closed, so
      // the unread rest cannot be taken for a request.
      const auto& text = req.get_header_value("Content-Length");
      char* end = nullptr;
      errno = 0;
      auto length = std::strtoull(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || errno == ERANGE
          || length > max_body_bytes_) {
        close_after(req, res);
        res.status = 413; // the error handler writes the body
        return;
      }
    }
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      // httplib enforces the size limit on Content-Length only, not on a
      // chunked body: stop reading at the limit and close the connection.
      bool too_large = false;
      auto append = [&](const char* data, std::size_t size) {
        if (body.size() + size > max_body_bytes_) {
          too_large = true;
          return false;
        }
        body.append(data, size);
        return true;
      };
      if (!read_body(append) || too_large) {
        close_after(req, res);
        // httplib has set 400 or 413 (or the stream met a deadline); the
        // error handler writes the body.
        if (too_large)
          res.status = 413;
        else if (res.status < 400)
          res.status = 400;
        return;
      }
    }
    const auto* who = authorize(req, res, permission::start_cluster_action);
    if (!who)
      return;
    std::string problem;
    auto params = parse_params(body, problem);
    if (!params) {
      send_error(res, 400, "invalid_body", problem);
      return;
    }
    // An unknown type is "bad action provided" for POST, per the spec.
    ask(res, *name, 400, send_action(res), start_atom::value, *name,
        std::move(*params), who->email);
  }

  void cancel(const Request& req, Response& res) {
    auto name = routed_action(req, res);
    if (!name || !authorize(req, res, permission::cancel_cluster_action))
      return;
    ask(res, *name, 404, send_action(res), cancel_atom::value, *name);
  }

private:
  /// Answers a GET with the body that `fetch` renders (nullptr when it
  /// answered an error itself) and its ETag; 304 when If-None-Match names
  /// that tag. With `Prefer: wait=N` as well, holds the request until the
  /// body changes (200) or N seconds pass (304), waking only when the
  /// supervisor reports a change.
  template <class Fetch>
  void show(const Request& req, Response& res, Fetch fetch) {
    const auto& if_none_match = req.get_header_value("If-None-Match");
    auto wait = if_none_match.empty()
                  ? std::nullopt
                  : preferred_wait(req.get_header_value("Prefer"));
    if (wait)
      res.set_header("Preference-Applied",
                     "wait=" + std::to_string(wait->count()));
    const auto deadline
      = std::chrono::steady_clock::now() + wait.value_or(std::chrono::seconds(0));
    std::optional<pending_bound::slot> waiting;
    for (;;) {
      // Read before asking: a change after this point wakes the wait below
      // even when it happens before the wait starts.
      auto seen = feed_->version();
      auto body = fetch();
      if (!body)
        return;
      auto tag = entity_tag(*body);
      if (if_none_match.empty() || !none_match_names(if_none_match, tag)) {
        res.set_header("ETag", tag);
        send_json(res, 200, std::move(body));
        return;
      }
      if (!wait) {
        send_not_modified(res, tag);
        return;
      }
      if (!waiting) {
        auto place = waiters_.enter();
        if (!place) {
          send_unavailable(res, "too_many_waiting",
                           "too many requests are waiting for a change; "
                           "retry shortly or ask without Prefer: wait");
          return;
        }
        waiting.emplace(std::move(*place));
      }
      switch (feed_->wait_past(seen, deadline)) {
        case change_feed::wake_reason::changed:
          break; // ask again: the change may be elsewhere
        case change_feed::wake_reason::deadline:
          send_not_modified(res, tag);
          return;
        case change_feed::wake_reason::closed:
          // As a plain body: httplib stops writing a content provider's
          // body once the server is stopping, which it is about to be.
          res.set_header("Retry-After", "1");
          res.status = 503;
          res.set_content(error_json("shutting_down",
                                     "the server is stopping; ask again "
                                     "once it is back"),
                          json_content_type);
          return;
      }
    }
  }

  /// The caller, or nothing when it may not go on (401, 403 or 429 is
  /// answered then). Runs before any body is parsed.
  const user* authorize(const Request& req, Response& res,
                        permission needed) {
    const auto client = client_address(req, proxies_);
    // An address with too many failed logins is refused before any
    // password check, so that it cannot go on guessing.
    if (auto wait = throttle_.refused(client)) {
      note_given_user(req);
      res.set_header("Retry-After", std::to_string(wait->count()));
      send_error(res, 429, "too_many_requests",
                 "too many failed logins from this address; retry in "
                   + std::to_string(wait->count()) + " s");
      return nullptr;
    }
    // Looked up in place: get_header_value would copy the credentials.
    auto header = req.headers.find("Authorization");
    auto who = header == req.headers.end()
                 ? nullptr
                 : users_.authenticate(header->second);
    if (who == nullptr) {
      // A request without credentials is no login attempt: clients often
      // send one first to learn the scheme.
      if (header != req.headers.end()) {
        throttle_.failed(client);
        note_given_user(req);
        metrics_->login_failed();
      }
      res.set_header("WWW-Authenticate", challenge_);
      send_error(res, 401, "unauthorized",
                 "valid HTTP Basic credentials are required (the user name "
                 "is the email)");
      return nullptr;
    }
    note_user(who->email);
    if (!has_permission(who->role, needed)) {
      send_error(res, 403, "forbidden",
                 "this user's role lacks the "
                   + std::string{permission_name(needed)} + " permission");
      return nullptr;
    }
    return who;
  }

  /// One typed request to the supervisor, awaited with the reply timeout.
  /// `unknown_status` is the HTTP status of `unknown_action` here.
  template <class OnValue, class... Ts>
  void ask(Response& res, const std::string& action, int unknown_status,
           OnValue on_value, Ts&&... xs) {
    auto waiting = pending_.enter();
    if (!waiting) {
      send_unavailable(res, "overloaded",
                       "too many requests are waiting for the action "
                       "supervisor; retry shortly");
      return;
    }
    auto caller = callers_.checkout();
    auto& self = *caller;
    // No CAF request timeout: it would go through CAF's clock thread (a
    // lock and a wake-up of that thread per request, and a timeout message
    // left in the mailbox). The receive below keeps the deadline itself.
    // When the supervisor is idle, this thread runs its turn right after
    // the send (see calling_thread_unit): no scheduler thread is woken, and
    // the reply is already in the mailbox when the receive starts.
    calling_thread_unit::donate turn{callers_.unit()};
    auto handle = self->request(supervisor_, caf::infinite,
                                std::forward<Ts>(xs)...);
    if (!turn.run())
      await_briefly(self);
    using output = typename response_output<decltype(handle)>::type;
    caf::detail::type_checker<output, OnValue>::check();
    bool answered = true;
    caf::blocking_actor::accept_one_cond one_reply;
    self->varargs_receive(
      one_reply, handle.id(), std::move(on_value),
      [&](caf::error& err) { send_failure(res, err, action, unknown_status); },
      caf::after(reply_timeout_) >> [&] {
        answered = false;
        metrics_->reply_timed_out();
        send_failure(res, caf::make_error(caf::sec::request_timeout), action,
                     unknown_status);
      });
    // A caller whose request went unanswered may still get the late reply:
    // it is not reused.
    if (answered)
      callers_.checkin(std::move(caller));
  }

  /// When another thread is running the supervisor's turn, the reply is
  /// usually microseconds away: yield the CPU (to that thread, if it shares
  /// this core) for up to `reply_spin` before going to sleep in the
  /// receive. Sleeping costs a futex wait and wake and two context switches
  /// per request, which halved the throughput at 64 connections, where the
  /// supervisor is nearly always busy.
  static void await_briefly(caf::scoped_actor& self) {
    constexpr auto reply_spin = std::chrono::microseconds(20);
    auto until = std::chrono::steady_clock::now() + reply_spin;
    while (self->mailbox().empty() && std::chrono::steady_clock::now() < until)
      sched_yield();
  }

  static void send_failure(Response& res, const caf::error& err,
                           const std::string& action, int unknown_status) {
    static const auto action_category
      = caf::make_error(action_error::conflict).category();
    if (err.category() != action_category) {
      send_unavailable(res, "service_unavailable",
                       err == caf::sec::request_timeout
                         ? "the action supervisor did not answer in time"
                         : "the action supervisor is unavailable");
      return;
    }
    auto code = static_cast<action_error>(err.code());
    auto description = error_description(err);
    if (description.empty())
      description = default_description(code, action);
    switch (code) {
      case action_error::unknown_action:
        send_error(res, unknown_status, to_string(code), description);
        break;
      case action_error::invalid_params:
        send_error(res, 400, to_string(code), description);
        break;
      case action_error::conflict:
        send_error(res, 409, to_string(code), description);
        break;
      case action_error::not_found:
        send_error(res, 404, to_string(code), description);
        break;
      case action_error::shutting_down:
      case action_error::storage_unavailable:
        send_unavailable(res, to_string(code), description);
        break;
    }
  }

  supervisor_actor supervisor_;
  user_directory users_;
  login_throttle throttle_;
  trusted_proxies proxies_;
  std::chrono::milliseconds reply_timeout_;
  std::size_t max_body_bytes_;
  pending_bound pending_;
  caller_pool callers_;
  list_cache list_cache_;
  std::string challenge_;
  pending_bound waiters_;
  std::shared_ptr<change_feed> feed_;
  std::shared_ptr<metrics> metrics_;
  /// Feeds `feed_` and `metrics_`; held so that it lives as long as they.
  status_watcher_actor watcher_;
};

} // namespace

void configure_server(httplib::Server& server, const rest_settings& settings) {
  server.set_tcp_nodelay(true);
  auto threads = std::max<std::size_t>(settings.threads, 1);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // A pool thread stays with a keep-alive connection until it goes idle for
  // the keep-alive timeout; keep that short, and the request count high so
  // that busy clients are not made to reconnect.
  server.set_keep_alive_max_count(1000);
  server.set_keep_alive_timeout(5);
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_payload_max_length(settings.max_body_bytes);
  // By default httplib puts an exception's text in a response header.
  server.set_exception_handler(
    [](const Request&, Response& res, std::exception_ptr) {
      res.headers.clear();
      send_error(res, 500, "internal_error",
                 "the server failed to handle the request");
    });
  // Decided from the path and method before httplib reads a body: for a
  // request no route serves, httplib would read a POST body that has no
  // Content-Length until the connection closes.
  server.set_pre_routing_handler([](const Request& req, Response& res) {
    return answer_unrouted(req, res)
             ? httplib::Server::HandlerResponse::Handled
             : httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_post_routing_handler(finish_headers);
  server.set_error_handler(httplib::Server::HandlerWithResponse{
    [settings](const Request& req, Response& res) {
      // The handlers' own responses always carry a Content-Type.
      if (res.has_header("Content-Type"))
        return httplib::Server::HandlerResponse::Unhandled;
      describe_library_error(req, res, settings);
      // Handled: httplib then prepares the new body (Content-Length).
      return httplib::Server::HandlerResponse::Handled;
    }});
}

int bind_server(httplib::Server& server, const std::string& host, int port,
                int backlog) {
  // httplib offers the socket to this callback before binding it; the last
  // one offered is the one bound (it stops at the first that binds).
  auto last_socket = std::make_shared<socket_t>(-1);
  server.set_socket_options([last_socket](socket_t sock) {
    // Debian's httplib sets SO_REUSEPORT by default, which lets a second
    // server share a port already in use instead of failing to bind.
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    *last_socket = sock;
  });
  int bound = port == 0 ? server.bind_to_any_port(host)
                        : (server.bind_to_port(host, port) ? port : -1);
  // listen() again on a listening socket only changes its backlog.
  if (bound >= 0 && *last_socket >= 0)
    ::listen(*last_socket, backlog);
  return bound;
}

mounted_routes::mounted_routes(std::shared_ptr<change_feed> feed)
  : feed_(std::move(feed)) {
  // nop
}

void mounted_routes::stop_waiting() {
  feed_->close();
}

mounted_routes mount_routes(httplib::Server& server, caf::actor_system& system,
                            supervisor_actor supervisor,
                            std::vector<user> users,
                            const rest_settings& settings) {
  auto feed = std::make_shared<change_feed>();
  auto counters = std::make_shared<metrics>();
  auto watcher = spawn_status_watcher(system, supervisor, feed, counters);
  auto handlers = std::make_shared<api>(system, std::move(supervisor),
                                        std::move(users), settings, feed,
                                        std::move(counters),
                                        std::move(watcher));
  if (settings.audit) {
    // httplib keeps one post-routing handler: this one finishes the headers
    // as configure_server's does, then records the answer, just before it
    // is sent, so that a client acting on an answer finds its line there.
    server.set_post_routing_handler(
      [record = audit_recorder(settings.audit, settings.proxies)](
        const Request& req, Response& res) {
        finish_headers(req, res);
        record(req, res);
      });
  }
  auto route_to = [&handlers](void (api::*member)(const Request&, Response&)) {
    return [handlers, member](const Request& req, Response& res) {
      (handlers.get()->*member)(req, res);
    };
  };
  const std::string list_route{list_path};
  // One path segment, no longer than an action name may be (std::regex
  // recurses per character of an unbounded pattern); whether it names an
  // action is for routed_action to say.
  const std::string action_route
    = list_route + "/[^/]{1," + std::to_string(max_action_name_length) + "}";
  server.Get(list_route, route_to(&api::list));
  server.Get(action_route, route_to(&api::get));
  server.Post(action_route, [handlers](const Request& req, Response& res,
                                       const httplib::ContentReader& read_body) {
    handlers->start(req, res, read_body);
  });
  server.Delete(action_route, route_to(&api::cancel));
  server.Get(metrics_path, route_to(&api::scrape));
  // The API's description is public, like the API's shape itself.
  server.Get(openapi_path, [](const Request&, Response& res) {
    res.set_content(std::string{openapi_json()}, json_content_type);
  });
  server.set_logger([handlers](const Request& req, const Response& res) {
    handlers->count(req, res);
  });
  return mounted_routes{std::move(feed)};
}

} // namespace cluster_actions::http
