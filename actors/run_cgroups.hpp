// A cgroup (v2) per command run, where the machine lets the server create
// cgroups.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cluster_actions::detail {

/// The cgroups of one process monitor's runs: a run's processes stay in its
/// cgroup whatever they do to their session or process group, so killing
/// the cgroup kills them all. Disabled (every call a no-op, every cgroup
/// "") where there is no writable cgroup v2 hierarchy.
///
/// The monitor's cgroup is `cluster-actions-<pid>-<n>` under the server's
/// own; making one first kills and removes what servers that died without
/// cleaning up (kill -9) left there.
class run_cgroups {
public:
  run_cgroups();
  /// Removes the monitor's cgroup (its runs' cgroups must be gone).
  ~run_cgroups();

  run_cgroups(const run_cgroups&) = delete;
  run_cgroups& operator=(const run_cgroups&) = delete;

  /// A new, empty cgroup for run `id`, or "" when disabled or it fails.
  std::string create(std::uint64_t id) const;

  /// The pids in cgroup `dir`.
  static std::vector<pid_t> members(const std::string& dir);

  /// Sends `sig` to every process of `dir` (SIGKILL through cgroup.kill,
  /// which also catches processes forked meanwhile, where the kernel has it).
  static void signal(const std::string& dir, int sig);

  /// Whether `dir` has no process left ("" has none).
  static bool empty(const std::string& dir);

  /// Removes the empty cgroup `dir`, if not "".
  static void remove(const std::string& dir);

private:
  std::string dir_;
};

} // namespace cluster_actions::detail
