// The exit codes of the cluster-actions command.
#pragma once

namespace cluster_actions::cli {

enum exit_code : int {
  exit_completed = 0, ///< done; a waited-for run completed
  exit_failed = 1,    ///< the run failed, or the server refused the request
  exit_usage = 2,     ///< bad arguments, or an unknown action
  exit_stopped = 3,   ///< the run was cancelled or aborted
  exit_timed_out = 4, ///< the run did not end within --timeout
  exit_unreachable = 5, ///< connection, TLS or authentication error
  exit_interrupted = 130, ///< Ctrl-C while waiting (the run goes on)
};

} // namespace cluster_actions::cli
