// The bound on requests waiting for the supervisor's reply at once.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <optional>
#include <utility>

namespace cluster_actions::http {

/// Counts the requests waiting for a reply, up to a bound: a request past
/// it is refused at once rather than queued behind the others in the
/// supervisor's mailbox. Thread-safe.
class pending_bound {
public:
  /// `max` waiting requests at once (at least one).
  explicit pending_bound(std::size_t max)
    : max_(std::max<std::size_t>(max, 1)) {}

  /// A request's place among the waiting ones, given up when destroyed.
  class slot {
  public:
    slot(slot&& other) noexcept
      : waiting_(std::exchange(other.waiting_, nullptr)) {}
    slot& operator=(slot&&) = delete;
    ~slot() {
      if (waiting_ != nullptr)
        waiting_->fetch_sub(1);
    }

  private:
    friend class pending_bound;
    explicit slot(std::atomic<std::size_t>& waiting) : waiting_(&waiting) {}

    std::atomic<std::size_t>* waiting_;
  };

  /// A place for one more waiting request, or nothing when the bound is
  /// reached.
  std::optional<slot> enter() {
    if (waiting_.fetch_add(1) >= max_) {
      waiting_.fetch_sub(1);
      return std::nullopt;
    }
    return slot{waiting_};
  }

  /// How many requests hold a place now.
  std::size_t count() const {
    return waiting_.load();
  }

private:
  std::size_t max_;
  std::atomic<std::size_t> waiting_{0};
};

} // namespace cluster_actions::http
