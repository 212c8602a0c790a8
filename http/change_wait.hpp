// Waiting for what the REST front shows to change, without asking the
// supervisor again and again: entity tags, the `Prefer: wait=N` preference
// (RFC 7240), and the change feed a status watcher (status_watcher.hpp)
// keeps. Internal to the REST front.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cluster_actions::http {

/// The strong entity tag of a response body, quoted: the same body always
/// gets the same tag, a changed body (almost surely) another one.
std::string entity_tag(std::string_view body);

/// Whether an If-None-Match header value names `tag` (one of a comma
/// separated list, weak or strong, or `*`).
bool none_match_names(std::string_view if_none_match, std::string_view tag);

/// The longest wait a request may ask for.
constexpr std::chrono::seconds max_change_wait{60};

/// The seconds of a `wait=N` preference in Prefer header values (N from 1;
/// larger than max_change_wait taken as that), or nothing when the request
/// asks for no wait.
std::optional<std::chrono::seconds> preferred_wait(std::string_view prefer);

/// A counter of changes that threads can wait on. Thread-safe.
class change_feed {
public:
  /// Something shown changed: wakes every waiter.
  void changed();

  /// The server is stopping: wakes every waiter, now and later, at once.
  void close();

  /// The count of changes so far.
  std::uint64_t version() const;

  enum class wake_reason { changed, deadline, closed };

  /// Blocks the calling (HTTP pool) thread until the version passes `seen`,
  /// `deadline` passes or the feed is closed.
  wake_reason wait_past(std::uint64_t seen,
                        std::chrono::steady_clock::time_point deadline);

private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t version_ = 0;
  bool closed_ = false;
};

} // namespace cluster_actions::http
