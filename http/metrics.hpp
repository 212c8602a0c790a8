// The server's Prometheus metrics (text exposition format 0.0.4): runs,
// HTTP requests, refusals and the process. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "messages/action_status.hpp"

namespace cluster_actions::http {

/// Observations bucketed by upper bound, as a Prometheus histogram.
class histogram {
public:
  /// `bounds` ascending; the +Inf bucket is implied.
  explicit histogram(std::vector<double> bounds);
  void observe(double value);
  /// The `_bucket`, `_sum` and `_count` lines of metric `name`; `labels` is
  /// "" or `key="value",...` without braces.
  void render(std::string& out, std::string_view name,
              std::string_view labels) const;

private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_; ///< per bucket, not cumulative
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class metrics {
public:
  using clock = std::chrono::steady_clock;

  metrics();

  /// A run was admitted or changed (from the supervisor's change feed).
  void run_changed(const action_status& status, clock::time_point now);

  /// One HTTP request answered; `route` is the route template.
  void request_answered(std::string_view method, std::string_view route,
                        int status, clock::duration latency);

  void reply_timed_out();
  void login_failed();

  /// Every metric in text exposition format 0.0.4; `waiting_requests` is
  /// how many GET requests wait for a change now.
  std::string render(std::size_t waiting_requests) const;

private:
  struct live_run {
    std::string action_uid;
    action_state state;
    clock::time_point admitted;
  };

  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> runs_started_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> runs_ended_;
  std::map<std::string, histogram> run_durations_;
  std::map<std::string, live_run> live_runs_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t>
    requests_;
  histogram request_latency_;
  std::uint64_t reply_timeouts_ = 0;
  std::uint64_t failed_logins_ = 0;
  std::uint64_t spawn_failures_ = 0;
};

} // namespace cluster_actions::http
