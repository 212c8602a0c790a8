// Failed logins per client address: after `limit` failures within a window
// that starts at an address's first failure, the address is refused until
// the window ends.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace cluster_actions::http {

class login_throttle {
public:
  using clock = std::chrono::steady_clock;

  struct settings {
    /// Failures that close an address out for the rest of the window.
    std::size_t limit = 10;
    std::chrono::seconds window{60};
    /// Addresses remembered at most; when full, the one whose window is
    /// oldest is forgotten first.
    std::size_t max_addresses = 65536;
  };

  explicit login_throttle(settings config);

  /// When `address` is refused at `now`: the whole seconds until its window
  /// ends (at least 1); nothing when it may try.
  std::optional<std::chrono::seconds> refused(const std::string& address,
                                              clock::time_point now
                                              = clock::now());

  /// Counts a failed login from `address`.
  void failed(const std::string& address, clock::time_point now
                                          = clock::now());

  /// Addresses currently remembered (for tests).
  std::size_t size() const;

private:
  struct entry {
    clock::time_point start;
    std::size_t failures = 0;
  };

  /// Forgets every address whose window has ended. Windows start in the
  /// order of `starts_`, so the expired ones are at its front.
  void expire(clock::time_point now);

  settings config_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
  /// (start, address) of every window, oldest first; a record whose
  /// address has since started a newer window is stale and skipped.
  std::deque<std::pair<clock::time_point, std::string>> starts_;
};

} // namespace cluster_actions::http
