// The REST front: mounts the four /v1/cluster/actions endpoints on a
// cpp-httplib server and turns each request into one typed request to the
// supervisor.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "http/access.hpp"
#include "messages/interfaces.hpp"

#include <httplib.h>

namespace cluster_actions::http {

struct rest_settings {
  /// How long a handler waits for the supervisor before answering 503.
  std::chrono::milliseconds reply_timeout{5000};
  /// Request bodies larger than this are refused with 413.
  std::size_t max_body_bytes = 64 * 1024;
  /// Request line plus headers larger than this are refused with 414 (a
  /// request line alone over it) or 431, and the connection is closed.
  /// (httplib's own per-line limit is 8 KiB; this total cuts first.)
  std::size_t max_header_bytes = 8 * 1024;
  /// A request (line, headers and body) must arrive within this from its
  /// first byte, however slowly it trickles in; otherwise 408 and close.
  std::chrono::milliseconds request_timeout{10000};
  /// The same while other connections wait for a pool thread.
  std::chrono::milliseconds busy_request_timeout{1000};
  /// Requests waiting for an actor's reply at once; past it, 503 at once.
  std::size_t max_pending_requests = 256;
  /// Worker threads of the HTTP server (each keep-alive connection holds one).
  std::size_t threads = 64;
  /// The listen backlog set after binding (httplib itself listens with 5).
  int listen_backlog = 1024;
  std::string realm = "cluster-actions";
};

/// cpp-httplib's server with its connection loop replaced: the request head
/// is bounded in size (414/431) and time (408), so is the whole request; a
/// connection is closed after any refused request; keep-alive is dropped
/// while other connections wait for a pool thread; the listen backlog is
/// raised. Every answer, including those httplib makes itself, is JSON.
class rest_server : public httplib::Server {
public:
  explicit rest_server(const rest_settings& settings);

  /// Binds `host:port` (port 0: any free one) with the raised backlog;
  /// returns the port, or -1.
  int bind(const std::string& host, int port);

  /// Connections accepted and still waiting for a pool thread.
  std::size_t waiting_connections() const noexcept;

private:
  bool process_and_close_socket(socket_t sock) override;

  rest_settings settings_;
  std::shared_ptr<std::atomic<std::size_t>> waiting_;
};

/// Applies the socket, pool, timeout and error-handling settings the REST
/// front relies on (TCP_NODELAY, pool size, keep-alive, JSON error bodies).
/// rest_server's constructor calls it.
void configure_server(rest_server& server, const rest_settings& settings);

/// Mounts the endpoints. `system` and `supervisor` must outlive `server`'s
/// last request: stop and join the server before the actor system goes.
void mount_routes(rest_server& server, caf::actor_system& system,
                  supervisor_actor supervisor, std::vector<user> users,
                  const rest_settings& settings);

} // namespace cluster_actions::http
