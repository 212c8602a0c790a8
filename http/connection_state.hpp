// What a guarded connection loop (guarded_server.hpp) and the handlers of
// the request it is serving tell each other. Internal to the REST front.
#pragma once

#include <chrono>

namespace cluster_actions::http {

struct connection_state {
  bool head_too_large = false;  ///< the request head passed max_header_bytes
  bool in_request_line = false; ///< ... before the request line ended
  bool timed_out = false; ///< a read timeout or the request deadline passed
  bool close = false;     ///< close after this response
  bool wrote = false;     ///< part of a response went out for this request
  /// When the request's first byte was there to read.
  std::chrono::steady_clock::time_point request_began;
};

/// The state of the connection this thread is serving, or nullptr outside
/// a guarded connection loop (a host's own httplib::Server). A connection
/// is served by one pool thread from start to end.
connection_state* current_connection() noexcept;

/// Makes `state` the current connection's for the life of this object.
class serving_connection {
public:
  explicit serving_connection(connection_state& state) noexcept;
  ~serving_connection();
  serving_connection(const serving_connection&) = delete;
  serving_connection& operator=(const serving_connection&) = delete;
};

} // namespace cluster_actions::http
