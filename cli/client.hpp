// The cluster-actions command's HTTP client (cpp-httplib): one call at a
// time, with Basic auth, over HTTPS or plain HTTP.
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include <httplib.h>

#include "cli/options.hpp"

namespace cluster_actions::cli {

/// The server cannot be reached, the TLS handshake or the certificate
/// check failed, or it refused the credentials; what() says which.
class unreachable : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct reply {
  int status = 0;
  std::string body;
  std::string etag;
};

class api_client {
public:
  /// Throws unreachable for a URL it cannot use.
  explicit api_client(const connection& server);

  /// One request; `wait` adds If-None-Match `etag` and Prefer: wait, and
  /// lengthens the read timeout to match. Throws unreachable for a
  /// connection or TLS failure and for 401/403.
  reply call(const std::string& method, const std::string& path,
             const std::string& body = {}, const std::string& etag = {},
             std::chrono::seconds wait = std::chrono::seconds{0});

private:
  std::string url_;
  std::unique_ptr<httplib::Client> client_;
};

} // namespace cluster_actions::cli
