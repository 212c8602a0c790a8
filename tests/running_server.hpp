// An app::server serving on its own thread, for the suites that talk to
// a real server over a socket.
#pragma once

#include <thread>
#include <utility>

#include "app/server.hpp"

namespace cluster_actions::testing {

/// Serves `config` from construction until destruction.
class running_server {
public:
  explicit running_server(app::server_config config)
    : server_(std::move(config)), thread_([this] { server_.run(); }) {
    // nop
  }
  ~running_server() {
    server_.stop();
    thread_.join();
  }
  running_server(const running_server&) = delete;
  running_server& operator=(const running_server&) = delete;

  const app::server& operator*() const {
    return server_;
  }
  const app::server* operator->() const {
    return &server_;
  }
  app::server* operator->() {
    return &server_;
  }
  int port() const {
    return server_.port();
  }

private:
  app::server server_;
  std::thread thread_;
};

} // namespace cluster_actions::testing
