#include "actors/child_process.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "actors/process_monitor.hpp"

namespace cluster_actions::detail {

namespace {

[[noreturn]] void child_fail(const child_setup& setup, child_step step) {
  child_failure failure{step, errno};
  [[maybe_unused]] auto written = write(setup.status_fd, &failure,
                                        sizeof failure);
  _exit(127);
}

} // namespace

void run_child(const child_setup& setup) {
  // Ignored signals would stay ignored across exec, and the monitor thread,
  // whose mask the child inherits, blocks all of them.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    sigaction(sig, &default_action, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (setsid() < 0)
    child_fail(setup, child_step::setup);
  // Into the run's cgroup before anything of the command runs; without it
  // the run still has its process group.
  if (setup.cgroup_fd >= 0) {
    [[maybe_unused]] auto joined = write(setup.cgroup_fd, "0", 1);
  }
  // Die with the monitor thread. If the parent died before this call, the
  // signal will never come: give up.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
    child_fail(setup, child_step::setup);
  if (getppid() != setup.parent)
    _exit(127);
  if (dup2(setup.stdin_fd, STDIN_FILENO) < 0
      || dup2(setup.stdout_fd, STDOUT_FILENO) < 0
      || dup2(setup.stderr_fd, STDERR_FILENO) < 0)
    child_fail(setup, child_step::setup);
  // Descriptors that other threads opened without O_CLOEXEC must not leak
  // into the command.
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  if (setup.working_dir != nullptr && chdir(setup.working_dir) < 0)
    child_fail(setup, child_step::chdir);
  execve(setup.argv[0], setup.argv, setup.envp);
  child_fail(setup, child_step::exec);
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& str : strings)
    result.push_back(str.data());
  result.push_back(nullptr);
  return result;
}

std::string describe(const child_failure& failure, const process_spec& spec) {
  auto reason = std::generic_category().message(failure.error);
  switch (failure.step) {
    case child_step::chdir:
      return "cannot change to working directory " + spec.working_dir + ": "
             + reason;
    case child_step::exec:
      return "cannot execute " + spec.argv[0] + ": " + reason;
    case child_step::setup:
      break;
  }
  return "cannot start " + spec.argv[0] + ": " + reason;
}

} // namespace cluster_actions::detail
