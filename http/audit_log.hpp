// An append-only file of JSON lines saying who did what: the audit log.
// Lines are written by a thread of the log's own, so that no request and
// no actor ever waits for the disk.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace cluster_actions::http {

/// One event; empty fields are left out of its line.
struct audit_record {
  /// What happened, in snake_case: "start_accepted", "login_failed", ...
  std::string event;
  /// The authenticated user's email; for a failed or throttled login, the
  /// name the client gave (never its password).
  std::string user = {};
  /// The client's address (see trusted_proxies).
  std::string client = {};
  std::string method = {};
  std::string path = {};
  /// The HTTP status answered; 0 for an event that is no request.
  int status = 0;
  /// The run the answer was about, and the status the answer gave it.
  std::string action_uid = {};
  std::string action_status = {};
};

/// Writes each record as one line of JSON,
///
///   {"time":"2024-05-02T09:14:03.120Z","event":"start_accepted",
///    "user":"admin@example.com","client":"10.0.0.7","method":"POST",
///    "path":"/v1/cluster/actions/collect_debuginfo","status":200,
///    "action_uid":"9c3e...","action_status":"queued"}
///
/// (on one line), the time being UTC with milliseconds. record() queues
/// the line, up to `capacity` lines; past it the line is dropped, counted,
/// and a line {"time":...,"event":"audit_lines_dropped","dropped":N} is
/// written where the lost lines would have been. Thread-safe.
class audit_log {
public:
  static constexpr std::size_t default_capacity = 4096;

  /// Opens `path` for appending, creating it, with mode 0600, and starts
  /// the writer. Throws std::system_error when it cannot be opened.
  explicit audit_log(std::string path,
                     std::size_t capacity = default_capacity);

  /// Writes what is queued, then stops the writer.
  ~audit_log();

  audit_log(const audit_log&) = delete;
  audit_log& operator=(const audit_log&) = delete;

  /// Queues `entry`, stamped with the current time. Never waits for the
  /// disk; a text field is cut at 1 KiB.
  void record(const audit_record& entry);

  /// Has the writer open the file again by its path before the next line
  /// (after logrotate has moved it away). If it cannot, it says so on
  /// stderr and goes on writing to the file it has.
  void reopen();

  const std::string& path() const {
    return path_;
  }

private:
  struct line {
    std::string text;
    /// Lines dropped since the one before this.
    std::size_t dropped_before;
  };

  void write_loop();
  void write_lines(const std::deque<line>& lines, std::size_t dropped_after);
  void open_again();

  const std::string path_;
  const std::size_t capacity_;
  int fd_ = -1; ///< the writer's alone once it runs
  bool write_failing_ = false;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<line> queue_;
  std::size_t dropped_ = 0;
  bool reopen_requested_ = false;
  bool stopping_ = false;
  std::thread writer_;
};

} // namespace cluster_actions::http
