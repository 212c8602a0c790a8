#include "http/rest_api.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <httplib.h>

#include "http/api_path.hpp"
#include "http/basic_auth.hpp"
#include "http/json_mapping.hpp"

namespace cluster_actions::http {

namespace {

using httplib::Request;
using httplib::Response;

// Kept as a string once: httplib takes it as std::string, and it does not
// fit the small-string buffer.
const std::string json_content_type = "application/json";

using clock_type = std::chrono::steady_clock;

/// What the connection loop and the handlers of one connection tell each
/// other; reachable from handlers through `current_connection`, since a
/// connection is served by one pool thread from start to end.
struct connection_state {
  bool head_too_large = false; ///< the limit of max_header_bytes was hit
  bool in_request_line = false; ///< ... before the request line ended
  bool timed_out = false; ///< a read timeout or the request deadline passed
  bool close = false;     ///< close after this response
  bool wrote = false;     ///< part of a response went out for this request

  void next_request() {
    *this = connection_state{};
  }
};

thread_local connection_state* current_connection = nullptr;

/// Asks the connection loop to close the connection after this response
/// (a body left unread, or a request refused for its shape).
void close_after(const Request& req, Response& res) {
  if (current_connection != nullptr)
    current_connection->close = true;
  // httplib adds its own when the client asked for the close.
  if (!res.has_header("Connection") && req.get_header_value("Connection") != "close")
    res.set_header("Connection", "close");
}

void send_json(Response& res, int status, std::string body) {
  res.status = status;
  // Through a content provider, because httplib compresses a plain body for
  // a client that accepts it; brotli on bodies this small costs several
  // times the rest of the request (measured: 8,400 -> 1,150 requests/s).
  auto size = body.size();
  res.set_content_provider(
    size, json_content_type,
    [body = std::move(body)](std::size_t offset, std::size_t length,
                             httplib::DataSink& sink) {
      return sink.write(body.data() + offset, length);
    });
}

void send_error(Response& res, int status, std::string_view error_code,
                std::string_view description) {
  send_json(res, status, error_json(error_code, description));
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

/// Writes the body of a response httplib produced itself (no route, a
/// method the path does not serve, an oversized or malformed request).
void describe_library_error(const Request& req, Response& res,
                            std::size_t max_body_bytes,
                            std::size_t max_header_bytes) {
  // A refused request may have left bytes unread: never reuse the
  // connection after one.
  close_after(req, res);
  const auto* conn = current_connection;
  if (conn != nullptr && conn->timed_out) {
    send_error(res, 408, "request_timeout",
               "the request did not arrive in time");
    return;
  }
  if (conn != nullptr && conn->head_too_large) {
    if (conn->in_request_line)
      send_error(res, 414, "uri_too_long", "the request target is too long");
    else
      send_error(res, 431, "request_header_fields_too_large",
                 "the request line and headers exceed "
                   + std::to_string(max_header_bytes) + " bytes");
    return;
  }
  auto path = parse_api_path(req.path);
  auto allowed = allowed_methods(path);
  // Routing fails with 404 for a method without handlers and with 400 for
  // one httplib cannot route at all (TRACE, CONNECT).
  if ((res.status == 404 || res.status == 400) && !allowed.empty()
      && !req.method.empty() && !is_allowed(allowed, req.method)) {
    res.set_header("Allow", std::string{allowed});
    send_error(res, 405, "method_not_allowed",
               req.method + " is not allowed on " + req.path + " (allowed: "
                 + std::string{allowed} + ")");
    return;
  }
  if (res.status == 404 && path.kind == api_path::invalid_action) {
    // The routes match valid names only; anything else lands here.
    if (req.method == "POST")
      send_error(res, 400, "invalid_action_name",
                 "an action name is 1 to "
                   + std::to_string(max_action_name_length)
                   + " letters, digits, '_' or '-'");
    else
      send_error(res, 404, "not_found", "there is no action of that name");
    return;
  }
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
                 "the body exceeds " + std::to_string(max_body_bytes)
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

const char* permission_name(permission what) {
  switch (what) {
    case permission::view_status_of_cluster_action:
      return "view_status_of_cluster_action";
    case permission::start_cluster_action:
      return "start_cluster_action";
    case permission::cancel_cluster_action:
      return "cancel_cluster_action";
  }
  return "?";
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
  }
  return "action '" + action + "' failed";
}

/// A reply handler answering 200 with the action object.
auto send_action(Response& res) {
  return [&res](action_status& status) {
    send_json(res, 200, action_json(status));
  };
}

/// What the handlers share: the supervisor and how to reach it, the users.
class api {
public:
  api(caf::actor_system& system, supervisor_actor supervisor,
      std::vector<user> users, const rest_settings& settings)
    : system_(system),
      supervisor_(std::move(supervisor)),
      users_(std::move(users)),
      reply_timeout_(settings.reply_timeout),
      max_body_bytes_(settings.max_body_bytes),
      max_pending_(std::max<std::size_t>(settings.max_pending_requests, 1)),
      challenge_("Basic realm=\"" + settings.realm + "\"") {
    // nop
  }

  void list(const Request& req, Response& res) const {
    if (!authorize(req, res, permission::view_status_of_cluster_action))
      return;
    ask(
      res, {}, 404,
      [&](std::vector<action_status>& statuses) {
        send_json(res, 200, action_list_json(statuses));
      },
      list_atom::value);
  }

  void get(const Request& req, Response& res) const {
    if (!authorize(req, res, permission::view_status_of_cluster_action))
      return;
    auto name = req.matches[1].str();
    ask(res, name, 404, send_action(res), get_atom::value, name);
  }

  void start(const Request& req, Response& res,
             const httplib::ContentReader& read_body) const {
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
        // httplib has set 400 or 413 (or the stream flagged a timeout); the
        // error handler writes the body.
        if (too_large)
          res.status = 413;
        else if (res.status < 400)
          res.status = 400;
        return;
      }
    }
    if (!authorize(req, res, permission::start_cluster_action))
      return;
    std::string problem;
    auto params = parse_params(body, problem);
    if (!params) {
      send_error(res, 400, "invalid_body", problem);
      return;
    }
    auto name = req.matches[1].str();
    // An unknown type is "bad action provided" for POST, per the spec.
    ask(res, name, 400, send_action(res), start_atom::value, name,
        std::move(*params));
  }

  void cancel(const Request& req, Response& res) const {
    if (!authorize(req, res, permission::cancel_cluster_action))
      return;
    auto name = req.matches[1].str();
    ask(res, name, 404, send_action(res), cancel_atom::value, name);
  }

private:
  /// Answers 401 or 403 itself and returns false when the caller may not
  /// go on. Runs before any body is parsed.
  bool authorize(const Request& req, Response& res, permission needed) const {
    // Looked up in place: get_header_value would copy the credentials.
    auto header = req.headers.find("Authorization");
    auto who = header == req.headers.end()
                 ? nullptr
                 : users_.authenticate(header->second);
    if (who == nullptr) {
      res.set_header("WWW-Authenticate", challenge_);
      send_error(res, 401, "unauthorized",
                 "valid HTTP Basic credentials are required (the user name "
                 "is the email)");
      return false;
    }
    if (!has_permission(who->role, needed)) {
      send_error(res, 403, "forbidden",
                 std::string{"this user's role lacks the "}
                   + permission_name(needed) + " permission");
      return false;
    }
    return true;
  }

  /// One typed request to the supervisor, awaited with the reply timeout.
  /// `unknown_status` is the HTTP status of `unknown_action` here.
  template <class OnValue, class... Ts>
  void ask(Response& res, const std::string& action, int unknown_status,
           OnValue on_value, Ts&&... xs) const {
    // A fresh scoped actor per request: a reused one accumulates the stale
    // timeout messages of earlier requests (see the stack notes).
    // Bounded: a request past the bound is refused at once rather than
    // queued behind the others in the supervisor's mailbox.
    if (pending_.fetch_add(1) >= max_pending_) {
      pending_.fetch_sub(1);
      send_unavailable(res, "overloaded",
                       "too many requests are waiting for the action "
                       "supervisor; retry shortly");
      return;
    }
    struct release {
      std::atomic<std::size_t>& count;
      ~release() {
        count.fetch_sub(1);
      }
    } guard{pending_};
    caf::scoped_actor self{system_};
    self->request(supervisor_, reply_timeout_, std::forward<Ts>(xs)...)
      .receive(std::move(on_value), [&](caf::error& err) {
        send_failure(res, err, action, unknown_status);
      });
  }

  void send_failure(Response& res, const caf::error& err,
                    const std::string& action, int unknown_status) const {
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
        send_unavailable(res, to_string(code), description);
        break;
    }
  }

  caf::actor_system& system_;
  supervisor_actor supervisor_;
  user_directory users_;
  std::chrono::milliseconds reply_timeout_;
  std::size_t max_body_bytes_;
  std::size_t max_pending_;
  mutable std::atomic<std::size_t> pending_{0};
  std::string challenge_;
};

/// A pool that counts the connections waiting for one of its threads.
class counting_pool final : public httplib::TaskQueue {
public:
  counting_pool(std::size_t threads,
                std::shared_ptr<std::atomic<std::size_t>> waiting)
    : pool_(threads), waiting_(std::move(waiting)) {
    // nop
  }

  void enqueue(std::function<void()> fn) override {
    waiting_->fetch_add(1);
    pool_.enqueue([fn = std::move(fn), waiting = waiting_] {
      waiting->fetch_sub(1);
      fn();
    });
  }

  void shutdown() override {
    pool_.shutdown();
  }

private:
  httplib::ThreadPool pool_;
  std::shared_ptr<std::atomic<std::size_t>> waiting_;
};

/// Waits up to `timeout` for `events` on `fd`; false on timeout or error.
bool wait_for(int fd, short events, std::chrono::microseconds timeout) {
  pollfd entry{fd, events, 0};
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
    timeout + std::chrono::microseconds(999));
  int ready;
  do {
    ready = ::poll(&entry, 1, static_cast<int>(std::max<long long>(ms.count(), 0)));
  } while (ready < 0 && errno == EINTR);
  return ready > 0;
}

std::chrono::microseconds to_duration(time_t sec, time_t usec) {
  return std::chrono::seconds(sec) + std::chrono::microseconds(usec);
}

void socket_address(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t length = sizeof addr;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &length)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  if (rc != 0)
    return;
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &in.sin_addr, text.data(), text.size());
    port = ntohs(in.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, text.data(), text.size());
    port = ntohs(in6.sin6_port);
  }
  ip = text.data();
}

/// The socket of one connection as httplib reads and writes it, with the
/// limits httplib 0.11 lacks: the request head is counted and cut at
/// max_header_bytes, and each request must arrive by its deadline.
class guarded_stream final : public httplib::Stream {
public:
  struct limits {
    std::chrono::microseconds read_timeout;
    std::chrono::microseconds write_timeout;
    std::chrono::microseconds request_timeout;
    /// The shorter deadline while connections wait for a pool thread.
    std::chrono::microseconds busy_request_timeout;
    std::size_t max_header_bytes;
  };

  guarded_stream(int fd, limits lim, connection_state& state,
                 const std::atomic<std::size_t>& waiting)
    : fd_(fd), limits_(lim), state_(state), waiting_(waiting) {
    // nop
  }

  bool is_readable() const override {
    return off_ < len_ || wait_for(fd_, POLLIN, limits_.read_timeout);
  }

  bool is_writable() const override {
    return wait_for(fd_, POLLOUT, limits_.write_timeout);
  }

  /// Whether a next request starts within `timeout` (keep-alive wait).
  bool wait_for_request(std::chrono::microseconds timeout) const {
    return off_ < len_ || wait_for(fd_, POLLIN, timeout);
  }

  ssize_t read(char* ptr, std::size_t size) override {
    if (!in_request_)
      begin_request();
    if (off_ == len_) {
      auto got = fill();
      if (got <= 0)
        return got;
    }
    auto n = std::min(size, len_ - off_);
    if (in_head_) {
      for (std::size_t i = 0; i < n; ++i) {
        char c = buffer_[off_ + i];
        if (++head_bytes_ > limits_.max_header_bytes) {
          state_.head_too_large = true;
          state_.in_request_line = lines_ == 0;
          return -1;
        }
        if (c == '\n') {
          if (line_length_ == 0 && lines_ > 0) {
            in_head_ = false; // the empty line: the body follows
            n = i + 1;
            break;
          }
          ++lines_;
          line_length_ = 0;
        } else if (c != '\r') {
          ++line_length_;
        }
      }
    }
    std::memcpy(ptr, buffer_.data() + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, std::size_t size) override {
    // "HTTP/1.1 100 Continue" is interim: the request goes on after it.
    constexpr std::string_view interim = "HTTP/1.1 1";
    if (!(size >= interim.size()
          && std::string_view{ptr, interim.size()} == interim))
      in_request_ = false;
    state_.wrote = true;
    if (!is_writable())
      return -1;
    ssize_t sent;
    do {
      sent = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return sent;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    socket_address(fd_, true, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    socket_address(fd_, false, ip, port);
  }

  socket_t socket() const override {
    return fd_;
  }

  /// Sends a whole response of our own (when httplib gave up without one).
  void send_all(const std::string& data) {
    for (std::size_t done = 0; done < data.size();) {
      auto sent = write(data.data() + done, data.size() - done);
      if (sent <= 0)
        return;
      done += static_cast<std::size_t>(sent);
    }
  }

private:
  void begin_request() {
    in_request_ = true;
    in_head_ = true;
    head_bytes_ = 0;
    lines_ = 0;
    line_length_ = 0;
    started_ = clock_type::now();
    deadline_ = started_ + limits_.request_timeout;
  }

  /// Reads more into the buffer: >0 bytes, 0 at the end, -1 on an error or
  /// when the read timeout or the request's deadline passes.
  ssize_t fill() {
    // A slow client holds a pool thread; while others wait for one, it gets
    // less time.
    auto deadline = waiting_.load() > 0
                      ? std::min(deadline_, started_ + limits_.busy_request_timeout)
                      : deadline_;
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
      deadline - clock_type::now());
    if (left.count() <= 0 || !wait_for(fd_, POLLIN, std::min(left, limits_.read_timeout))) {
      state_.timed_out = true;
      return -1;
    }
    ssize_t got;
    do {
      got = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
    } while (got < 0 && errno == EINTR);
    if (got <= 0)
      return got;
    off_ = 0;
    len_ = static_cast<std::size_t>(got);
    return got;
  }

  int fd_;
  limits limits_;
  connection_state& state_;
  std::array<char, 4096> buffer_;
  std::size_t off_ = 0;
  std::size_t len_ = 0;
  bool in_request_ = false;
  bool in_head_ = false;
  std::size_t head_bytes_ = 0;
  std::size_t lines_ = 0;
  std::size_t line_length_ = 0;
  clock_type::time_point started_;
  clock_type::time_point deadline_;
  const std::atomic<std::size_t>& waiting_;
};

/// A complete JSON error response with Connection: close.
std::string canned_response(int status, std::string_view reason,
                            std::string_view error_code,
                            std::string_view description) {
  auto body = error_json(error_code, description);
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string{reason}
         + "\r\nContent-Type: application/json\r\nContent-Length: "
         + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n"
         + body;
}

/// Closes a connection whose client may still be sending (a refused body):
/// reading on for a moment keeps the kernel from resetting the connection
/// before the client has read the answer. Bounded in time and bytes.
void close_lingering(int fd) {
  ::shutdown(fd, SHUT_WR);
  constexpr auto linger = std::chrono::milliseconds(500);
  constexpr std::size_t max_drained = 1 << 20;
  auto deadline = clock_type::now() + linger;
  std::array<char, 4096> sink;
  for (std::size_t drained = 0; drained < max_drained;) {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
      deadline - clock_type::now());
    if (left.count() <= 0 || !wait_for(fd, POLLIN, left))
      break;
    auto got = ::recv(fd, sink.data(), sink.size(), 0);
    if (got <= 0)
      break;
    drained += static_cast<std::size_t>(got);
  }
  ::close(fd);
}

} // namespace

rest_server::rest_server(const rest_settings& settings)
  : settings_(settings),
    waiting_(std::make_shared<std::atomic<std::size_t>>(0)) {
  configure_server(*this, settings);
  auto threads = std::max<std::size_t>(settings.threads, 1);
  new_task_queue = [threads, waiting = waiting_] {
    return new counting_pool(threads, waiting);
  };
}

int rest_server::bind(const std::string& host, int port) {
  int bound = port == 0 ? bind_to_any_port(host)
                        : (bind_to_port(host, port) ? port : -1);
  if (bound > 0 && settings_.listen_backlog > 0)
    ::listen(svr_sock_, settings_.listen_backlog); // raises httplib's 5
  return bound;
}

std::size_t rest_server::waiting_connections() const noexcept {
  return waiting_->load();
}

bool rest_server::process_and_close_socket(socket_t sock) {
  connection_state state;
  current_connection = &state;
  guarded_stream stream{
    sock,
    {to_duration(read_timeout_sec_, read_timeout_usec_),
     to_duration(write_timeout_sec_, write_timeout_usec_),
     std::chrono::duration_cast<std::chrono::microseconds>(
       settings_.request_timeout),
     std::chrono::duration_cast<std::chrono::microseconds>(
       std::min(settings_.request_timeout, settings_.busy_request_timeout)),
     settings_.max_header_bytes},
    state, *waiting_};
  bool ok = true;
  bool linger = false;
  for (std::size_t served = 0;; ++served) {
    auto idle = served == 0
                  ? to_duration(read_timeout_sec_, read_timeout_usec_)
                  : std::chrono::microseconds(
                      std::chrono::seconds(keep_alive_timeout_sec_));
    if (!stream.wait_for_request(idle))
      break;
    state.next_request();
    // While other connections wait for a thread, this one gives its thread
    // up after one request instead of holding it for the keep-alive time.
    const bool close = served + 1 >= keep_alive_max_count_
                       || waiting_->load() > 0 || !is_running();
    bool closed = false;
    ok = process_request(stream, close, closed, nullptr);
    const bool refused = state.head_too_large || state.timed_out;
    if (refused && !state.wrote) {
      // httplib stops without an answer when the request line itself is
      // cut short; answer here.
      if (state.timed_out)
        stream.send_all(canned_response(408, "Request Timeout",
                                        "request_timeout",
                                        "the request did not arrive in time"));
      else
        stream.send_all(canned_response(
          state.in_request_line ? 414 : 431,
          state.in_request_line ? "URI Too Long"
                                : "Request Header Fields Too Large",
          state.in_request_line ? "uri_too_long"
                                : "request_header_fields_too_large",
          "the request line and headers exceed "
            + std::to_string(settings_.max_header_bytes) + " bytes"));
    }
    linger = refused || state.close;
    if (!ok || closed || close || linger)
      break;
  }
  current_connection = nullptr;
  if (linger)
    close_lingering(sock);
  else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  return ok;
}

void configure_server(rest_server& server, const rest_settings& settings) {
  server.set_tcp_nodelay(true);
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
  server.set_error_handler(httplib::Server::HandlerWithResponse{
    [max_body_bytes = settings.max_body_bytes,
     max_header_bytes = settings.max_header_bytes](const Request& req,
                                                   Response& res) {
      // The handlers' own responses always carry a Content-Type.
      if (res.has_header("Content-Type"))
        return httplib::Server::HandlerResponse::Unhandled;
      describe_library_error(req, res, max_body_bytes, max_header_bytes);
      // Handled: httplib then prepares the new body (Content-Length).
      return httplib::Server::HandlerResponse::Handled;
    }});
}

void mount_routes(rest_server& server, caf::actor_system& system,
                  supervisor_actor supervisor, std::vector<user> users,
                  const rest_settings& settings) {
  auto routes = std::make_shared<const api>(system, std::move(supervisor),
                                            std::move(users), settings);
  auto bind = [&routes](void (api::*member)(const Request&, Response&) const) {
    return [routes, member](const Request& req, Response& res) {
      (routes.get()->*member)(req, res);
    };
  };
  const std::string list{list_path};
  // Valid names only (a bounded pattern: std::regex recurses per character
  // of an unbounded one); the error handler answers for the rest.
  const std::string one = list + "/([A-Za-z0-9_-]{1,"
                          + std::to_string(max_action_name_length) + "})";
  server.Get(list, bind(&api::list));
  server.Get(one, bind(&api::get));
  server.Post(one, [routes](const Request& req, Response& res,
                            const httplib::ContentReader& read_body) {
    routes->start(req, res, read_body);
  });
  server.Delete(one, bind(&api::cancel));
}

} // namespace cluster_actions::http
