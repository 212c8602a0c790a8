// The server's configuration: the JSON file of `--config`, validated whole,
// or the embedded default.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "actors/action_type.hpp"
#include "actors/command_environment.hpp"
#include "http/access.hpp"

namespace cluster_actions::app {

/// An action type whose work is a command run as an argv, without a shell.
struct command_action {
  std::string name;
  std::vector<std::string> command;
  param_schema params;
  std::chrono::seconds timeout{3600};
  std::chrono::seconds cancel_grace{10};
  /// `env` and `inherit_env`: what its commands get beyond the fixed list.
  environment_additions environment;
};

/// How the server speaks to its clients.
enum class tls_mode {
  /// HTTPS with a certificate the server makes for itself in data_dir
  /// (`tls` absent from the file).
  self_signed,
  /// HTTPS with the operator's certificate and key (`tls` an object).
  files,
  /// Plain HTTP, on a loopback address only (`"tls": false`).
  off,
};

struct tls_config {
  tls_mode mode = tls_mode::self_signed;
  std::string cert_file; ///< for tls_mode::files
  std::string key_file;  ///< for tls_mode::files
};

/// Where the server keeps the statuses of runs.
enum class store_kind {
  /// data_dir/state.db: statuses survive restarts and crashes.
  sqlite,
  /// Memory only: a restart starts with no statuses.
  memory,
};

struct server_config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9443; ///< 0 picks a free port
  std::string data_dir = "./data";
  tls_config tls;
  std::size_t max_running_actions = 4;
  std::size_t max_body_bytes = 64 * 1024; ///< larger request bodies: 413
  std::size_t max_pending_requests = 256; ///< awaiting actors at once; more: 503
  std::chrono::milliseconds request_timeout{10000}; ///< a request's arrival
  std::size_t http_threads = 256; ///< pool threads (one per connection)
  /// Reverse proxies (addresses or CIDRs) whose X-Forwarded-For is believed.
  std::vector<std::string> trusted_proxies;
  /// How often the self-signed certificate is checked for renewal while
  /// the server runs (not in the file: tests shorten it).
  std::chrono::milliseconds certificate_check_interval{std::chrono::hours{24}};
  store_kind store = store_kind::sqlite;
  std::vector<http::user> users;
  std::vector<command_action> actions;
};

/// A configuration that cannot be used; what() names the file, the key and
/// the problem, e.g. "cfg.json: actions.rotate_logs.timeout_s: must be a
/// positive integer".
class config_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Whether plain HTTP may be served on `host`: 127.0.0.0/8, ::1 (also as
/// ::ffff:127.x.x.x) or "localhost".
bool is_loopback_host(const std::string& host);

/// Why `config` may not serve plain HTTP, or "" when it may (its TLS is on,
/// or its host is a loopback address).
std::string plain_http_problem(const server_config& config);

/// Reads and validates the whole file, including that the files `tls`
/// names hold a certificate and its key; throws config_error.
server_config load_config_file(const std::string& path);

/// Validates JSON text; `origin` names it in errors. Throws config_error.
server_config parse_config(const std::string& json_text,
                           const std::string& origin);

/// The embedded default: HTTPS with a self-signed certificate on
/// 127.0.0.1:9443, one admin `admin@cluster.local` with `admin_password`,
/// and the built-in action types.
server_config default_config(std::string admin_password);

} // namespace cluster_actions::app
