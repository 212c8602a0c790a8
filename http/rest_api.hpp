// The REST front: mounts the four /v1/cluster/actions endpoints on a
// cpp-httplib server and turns each request into one typed request to the
// supervisor.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "http/access.hpp"
#include "http/audit_log.hpp"
#include "http/login_throttle.hpp"
#include "http/trusted_proxies.hpp"
#include "messages/interfaces.hpp"

namespace httplib {
class Server;
}

namespace cluster_actions::http {

class change_feed;

/// How the REST front serves; the defaults are the server's.
struct rest_settings {
  /// How long a handler waits for the supervisor before answering 503.
  std::chrono::milliseconds reply_timeout{5000};
  /// Request bodies larger than this are refused with 413, before they are
  /// read when Content-Length announces them.
  std::size_t max_body_bytes = 64 * 1024;
  /// Requests waiting for the supervisor's reply at once; past it, 503 at
  /// once rather than a place in a queue.
  std::size_t max_pending_requests = 256;
  /// GET requests held open at once until what they show changes
  /// (`Prefer: wait=N`); past it, 503 at once. Each holds a pool thread,
  /// so at most half of `threads` wait, whatever this says, and the other
  /// half still serve other clients.
  std::size_t max_waiting_requests = 64;
  /// The limits below hold for the REST front's own servers
  /// (guarded_server.hpp); a host's plain httplib::Server keeps httplib's.
  ///
  /// Request line plus headers larger than this are refused with 414 (a
  /// request line alone over it) or 431, and the connection is closed.
  std::size_t max_header_bytes = 8 * 1024;
  /// A request (line, headers and body) must arrive within this from its
  /// first byte, however slowly it trickles in; otherwise 408 and close.
  std::chrono::milliseconds request_timeout{10000};
  /// The same while connections wait for a pool thread because every
  /// thread is busy.
  std::chrono::milliseconds busy_request_timeout{1000};
  /// Worker threads of the HTTP server. Each keep-alive connection holds
  /// one for its whole life, and a connection beyond the pool waits, unserved,
  /// until another closes: size it for the concurrent clients expected.
  /// Idle threads cost a little memory and nothing else.
  std::size_t threads = 256;
  /// The realm of the `WWW-Authenticate` header of a 401.
  std::string realm = "cluster-actions";
  /// Failed logins per client address before it gets 429 (see
  /// login_throttle).
  login_throttle::settings throttle = {};
  /// The reverse proxies whose X-Forwarded-For names the client, for the
  /// login throttle and the audit log; none by default.
  trusted_proxies proxies = {};
  /// Where mount_routes records who did what (see request_audit.hpp for
  /// which requests); none by default.
  std::shared_ptr<audit_log> audit = {};
};

/// Applies the socket, pool, timeout and error-handling settings the REST
/// front relies on (TCP_NODELAY, pool size, keep-alive, JSON error bodies).
void configure_server(httplib::Server& server, const rest_settings& settings);

/// Binds `server` to `host`:`port` (0: any free port) with SO_REUSEADDR,
/// and raises the listen backlog from httplib's fixed 5 to `backlog`: with
/// 5, a burst of connections overflows the accept queue and the clients
/// whose handshake was dropped stall for a retransmission (about a second;
/// seen as p99 latencies of 0.7 to 1.2 s at 64 connections). Returns the
/// bound port, or -1.
int bind_server(httplib::Server& server, const std::string& host, int port,
                int backlog = 4096);

/// What a host keeps of the mounted routes.
class mounted_routes {
public:
  explicit mounted_routes(std::shared_ptr<change_feed> feed);

  /// Answers the GET requests waiting for a change at once (503
  /// `shutting_down`), and later ones without waiting. Call it before
  /// stopping the server: httplib's stop waits for the requests it is
  /// serving.
  void stop_waiting();

private:
  std::shared_ptr<change_feed> feed_;
};

/// Mounts the four /v1/cluster/actions endpoints, GET /metrics and GET
/// /v1/openapi.json (docs/openapi.yaml as JSON, without authentication) on a
/// host's server; only `users` may call the others (HTTP Basic auth, their
/// role deciding what they may do). Each request is one typed request to
/// `supervisor`, awaited with `settings.reply_timeout`; a watcher actor
/// subscribed to the supervisor wakes the GET requests that wait for a
/// change and keeps the run metrics. With `settings.audit`, every request
/// the audit log wants is recorded there (this takes `server`'s
/// post-routing handler). `system` and `supervisor` must outlive `server`'s
/// last request: stop and join the server before the actor system goes.
/// Throws std::invalid_argument for users user_directory refuses.
mounted_routes mount_routes(httplib::Server& server, caf::actor_system& system,
                            supervisor_actor supervisor,
                            std::vector<user> users,
                            const rest_settings& settings);

} // namespace cluster_actions::http
