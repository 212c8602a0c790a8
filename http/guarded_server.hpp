// cpp-httplib's servers, plain and TLS, with the limits on requests that
// httplib 0.11 lacks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>

#include <httplib.h>

#include "http/rest_api.hpp"

namespace cluster_actions::http {

namespace detail {

/// How busy the pool of a guarded server is.
struct pool_load;

/// Installs a pool of `settings.threads` threads on `server` that keeps
/// count of its load.
std::shared_ptr<const pool_load>
install_counting_pool(httplib::Server& server, const rest_settings& settings);

} // namespace detail

/// An httplib server (`Base`: httplib::Server or httplib::SSLServer) whose
/// connection loop bounds every request:
///
/// - the request line and headers together are cut at
///   `rest_settings::max_header_bytes`: 414 when the request line alone
///   passes it, 431 otherwise;
/// - a request must arrive whole within `rest_settings::request_timeout` of
///   its first byte, however slowly it trickles in (408), and within
///   `busy_request_timeout` while connections wait for a pool thread
///   because every thread is busy;
///   a TLS handshake must end within the read timeout;
/// - after any refused request the connection is closed (reading on for a
///   moment, so that the client gets the answer rather than a reset);
/// - while connections wait for a pool thread because every thread is busy,
///   a keep-alive connection gives its thread up after its current request.
///
/// Every answer, including the ones httplib gives itself, is JSON. The
/// constructor applies configure_server; the remaining arguments go to
/// `Base`'s constructor.
template <class Base>
class guarded_server final : public Base {
public:
  template <class... BaseArgs>
  explicit guarded_server(const rest_settings& settings,
                          BaseArgs&&... base_args);

private:
  bool process_and_close_socket(socket_t sock) override;

  rest_settings settings_;
  std::shared_ptr<const detail::pool_load> load_;
};

/// The plain HTTP server of the REST front.
using rest_server = guarded_server<httplib::Server>;

/// The HTTPS server of the REST front.
using rest_tls_server = guarded_server<httplib::SSLServer>;

template <class Base>
template <class... BaseArgs>
guarded_server<Base>::guarded_server(const rest_settings& settings,
                                     BaseArgs&&... base_args)
  : Base(std::forward<BaseArgs>(base_args)...), settings_(settings) {
  configure_server(*this, settings);
  load_ = detail::install_counting_pool(*this, settings);
}

extern template class guarded_server<httplib::Server>;
extern template class guarded_server<httplib::SSLServer>;

} // namespace cluster_actions::http
