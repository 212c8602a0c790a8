// Work that runs an external command: one process group per run, the run's
// parameters in its environment, its progress read from its output.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "actors/action_type.hpp"
#include "actors/command_environment.hpp"
#include "actors/process_monitor.hpp"

namespace cluster_actions {

/// The command of an action type.
struct command_spec {
  /// `argv[0]` is the path of the executable: there is no PATH search, and
  /// a relative path is relative to `working_dir`.
  std::vector<std::string> argv;
  /// Where the command runs; empty for the server's working directory.
  std::string working_dir;
  /// What the command's environment holds beyond the fixed list (see
  /// command_environment).
  environment_additions environment = {};
};

/// Work that runs `spec` through `monitor`, which must outlive the runs.
///
/// The command's environment is command_environment's, with `HOME` the
/// absolute path of `working_dir` (the server's working directory when it
/// is empty), read from the server's environment when command_work is
/// called; each parameter's text is in its `ACTION_PARAM_<NAME>`
/// (param_variable), never on the command line. Throws
/// std::invalid_argument for additions command_environment refuses.
///
/// A stdout line "progress: N" reports N percent (clamped to 0..100; progress
/// never goes back). A stdout line "result: TEXT" sets the run's result to
/// TEXT (trimmed; the last such line counts; at most 4,096 bytes, cut on a
/// UTF-8 character boundary). Output lines are read up to 4 KiB, "result: "
/// included, so a result line carries at most 4,088 bytes of text. The command succeeds when it exits with status 0, and
/// the run finishes once nothing of its process group is left. Otherwise it
/// fails with `spawn_failed`, `command_failed` (non-zero status) or
/// `command_killed` (killed by a signal), quoting the last non-empty stderr
/// line. `stop_atom` sends SIGTERM to the process group, `kill_atom` SIGKILL.
/// A worker that goes down before its command has ended, or whose owner does,
/// kills the process group.
work_factory command_work(command_spec spec,
                          std::shared_ptr<process_monitor> monitor);

} // namespace cluster_actions
