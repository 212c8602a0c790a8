// For the suites that talk to a server over a socket: an app::server
// serving on its own thread, and waiting for a run's status over HTTP.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/server.hpp"
#include "http/api_path.hpp"

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

/// What a test waits for an action object to show.
using action_condition = std::function<bool(const nlohmann::json&)>;

/// The condition "the run's status is `status`".
inline action_condition status_is(std::string status) {
  return [status = std::move(status)](const nlohmann::json& action) {
    return action["status"] == status;
  };
}

/// Polls GET of the run of `name` until `wanted` holds for its action
/// object, and returns that; fails the test after `within`.
inline nlohmann::json
wait_for_status(httplib::Client& client, const std::string& name,
                const action_condition& wanted,
                std::chrono::milliseconds within = std::chrono::seconds(10)) {
  const auto path = std::string{http::list_path} + "/" + name;
  const auto deadline = std::chrono::steady_clock::now() + within;
  nlohmann::json last;
  for (;;) {
    auto res = client.Get(path.c_str());
    REQUIRE(res);
    if (res->status == 200) {
      last = nlohmann::json::parse(res->body);
      if (wanted(last))
        return last;
    }
    if (std::chrono::steady_clock::now() > deadline)
      FAIL("no wanted status of " << name << " in time; last: " << last.dump()
                                  << " (HTTP " << res->status << ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(5)); // poll interval
  }
}

} // namespace cluster_actions::testing
