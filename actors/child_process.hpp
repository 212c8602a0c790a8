// The side of a (v)forked child: what it needs prepared before the fork,
// what it does until it becomes the command, and how it reports a failure
// to do so.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace cluster_actions {
struct process_spec;
} // namespace cluster_actions

namespace cluster_actions::detail {

/// The step at which a forked child failed to become the command.
enum class child_step : int { setup, chdir, exec };

/// What a child writes to its status pipe when it fails.
struct child_failure {
  child_step step;
  int error;
};

/// What a forked child needs, all prepared before the (v)fork: in the child
/// of a threaded program only async-signal-safe calls are allowed, since
/// locks (malloc's among them) may have been held by other threads at the
/// fork; a vfork child moreover shares the parent's memory.
struct child_setup {
  char* const* argv;
  char* const* envp;
  const char* working_dir; ///< nullptr to stay in the server's
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  int status_fd; ///< close-on-exec, so a successful exec closes it
  int cgroup_fd; ///< the run's cgroup.procs, or -1
  pid_t parent;
};

/// Becomes the command in a new session, in its cgroup if it has one, with
/// the death signal SIGKILL, default signal dispositions and nothing
/// blocked; on failure writes a child_failure to the status pipe and exits
/// with 127. Only async-signal-safe calls.
[[noreturn]] void run_child(const child_setup& setup);

/// A null-terminated array of pointers into `strings`, for argv or envp.
std::vector<char*> c_strings(std::vector<std::string>& strings);

/// The operator's sentence for a child that failed to start `spec`.
std::string describe(const child_failure& failure, const process_spec& spec);

} // namespace cluster_actions::detail
