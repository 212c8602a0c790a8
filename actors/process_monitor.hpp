// Starts, watches and reaps the child processes of command runs, all from
// one background thread, and reports what happens to one actor per process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "messages/process_events.hpp"

namespace cluster_actions {

/// What to start.
struct process_spec {
  /// `argv[0]` is the path executed: there is no PATH search, and a relative
  /// path is relative to `working_dir`.
  std::vector<std::string> argv;
  /// The whole environment of the process, as "NAME=value" entries.
  std::vector<std::string> env;
  /// Where the process runs; empty for the server's working directory.
  std::string working_dir;
};

/// Makes this process the reaper of its orphaned descendants, so that the
/// monitor can reap the members of a run's process group that outlive their
/// parents. Call it once at startup; throws `std::system_error` on failure.
void become_subreaper();

/// Runs processes, each as the leader of its own session and process group,
/// with stdin from /dev/null and stdout/stderr read line by line. A run ends
/// when its leader has exited: what remains of its group is then killed, and
/// the run is reported exited once the group is gone.
///
/// One thread serves every run, waiting on epoll: idle runs cost no thread,
/// but three file descriptors each. Destroying the monitor kills every group
/// still alive and waits for them.
///
/// The monitor must be the only reaper of its children: the server must not
/// ignore SIGCHLD nor call `waitpid(-1, ...)`.
class process_monitor {
public:
  /// Identifies a run across `start` and `signal`; never reused.
  using run_id = std::uint64_t;

  /// Starts the monitor's thread; throws `std::system_error` on failure.
  process_monitor();

  /// Kills the group of every run still alive, reaps them, reports them
  /// exited to their listeners and joins the thread.
  ~process_monitor();

  process_monitor(const process_monitor&) = delete;
  process_monitor& operator=(const process_monitor&) = delete;

  /// Queues the start of a process whose events go to `listener`. Thread-safe,
  /// never blocks on the process.
  run_id start(process_spec spec, process_listener listener);

  /// Queues `sig` for the process group of `run`, to be sent after the run
  /// has started and only as long as its leader has not exited (once it has,
  /// the group is killed anyway). Thread-safe and non-blocking.
  void signal(run_id run, int sig);

private:
  class impl;
  std::unique_ptr<impl> impl_;
};

} // namespace cluster_actions
