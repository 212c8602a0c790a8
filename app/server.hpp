// The whole server assembled from a configuration: actor system,
// supervisor, command action types and the REST front.
#pragma once

#include <memory>
#include <string>

#include "app/config.hpp"

namespace cluster_actions::app {

class server {
public:
  /// Starts the actor system and the supervisor, opens the audit log, sets
  /// up TLS (making the self-signed certificate in data_dir when the
  /// configuration asks for one and none is there to reuse, and renewing it
  /// while serving) and binds the listen address. Throws
  /// std::runtime_error when it cannot (tls_error for certificate
  /// problems), std::invalid_argument for plain HTTP off loopback or users
  /// the REST front refuses.
  explicit server(server_config config);

  /// Stops (see stop()) if still running.
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The bound port (the real one when the configuration asked for 0).
  int port() const;

  /// "https://HOST:PORT", or "http://HOST:PORT" when TLS is off.
  std::string url() const;

  /// The absolute path of the certificate the server presents (what
  /// `curl --cacert` takes for a self-signed one); "" when TLS is off.
  const std::string& certificate_file() const;

  /// What SIGHUP asks for: reopens the audit log (data_dir/audit.log) by its
  /// path, and reloads an operator's certificate and key (or checks the
  /// server's own certificate for renewal at once). New connections get
  /// the new certificate; a pair that does not load is refused with a line
  /// on stderr, and the one loaded before stays in use. Thread-safe.
  void reload();

  /// Serves requests on the calling thread until stop() is called.
  void run();

  /// Stops accepting connections, waits for run() to return, aborts every
  /// live run and waits (bounded) until their processes are gone. Callable
  /// from any thread except one serving a request; idempotent.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace cluster_actions::app
