// The scoped actors through which HTTP threads call the supervisor.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/scoped_actor.hpp>

#include "http/calling_thread.hpp"

namespace cluster_actions::http {

/// Idle callers, reused across requests: creating a scoped actor per
/// request cost a wake-up of CAF's clock thread each (its cleanup cancels
/// its timeouts there). A reused one never has stale messages as long as
/// its requests carry no CAF timeout and a caller that gave up on a reply
/// is not checked in again. Every caller sends from `unit()`, so that the
/// thread that sends may run the woken supervisor's turn (see
/// calling_thread_unit). Thread-safe; at most one caller per concurrent
/// request is ever made.
class caller_pool {
public:
  explicit caller_pool(caf::actor_system& system);

  caller_pool(const caller_pool&) = delete;
  caller_pool& operator=(const caller_pool&) = delete;

  /// The execution unit the callers send from.
  calling_thread_unit& unit() {
    return unit_;
  }

  /// An idle caller, or a new one.
  std::unique_ptr<caf::scoped_actor> checkout();

  /// Gives back a caller whose every request has been answered.
  void checkin(std::unique_ptr<caf::scoped_actor> caller);

private:
  caf::actor_system& system_;
  // Before the callers: they keep a pointer to it.
  calling_thread_unit unit_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<caf::scoped_actor>> idle_;
};

} // namespace cluster_actions::http
