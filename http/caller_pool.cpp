#include "http/caller_pool.hpp"

#include <utility>

namespace cluster_actions::http {

caller_pool::caller_pool(caf::actor_system& system)
  : system_(system), unit_(system) {
  // nop
}

std::unique_ptr<caf::scoped_actor> caller_pool::checkout() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!idle_.empty()) {
      auto caller = std::move(idle_.back());
      idle_.pop_back();
      return caller;
    }
  }
  auto caller = std::make_unique<caf::scoped_actor>(system_);
  (*caller)->context(&unit_);
  return caller;
}

void caller_pool::checkin(std::unique_ptr<caf::scoped_actor> caller) {
  std::lock_guard<std::mutex> guard{mutex_};
  idle_.push_back(std::move(caller));
}

} // namespace cluster_actions::http
