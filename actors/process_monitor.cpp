#include "actors/process_monitor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>

#include <caf/send.hpp>

#include "actors/child_process.hpp"
#include "actors/file_descriptors.hpp"
#include "actors/line_splitter.hpp"
#include "actors/run_cgroups.hpp"

namespace cluster_actions {

using namespace detail;

namespace {

/// How often draining process groups are checked.
constexpr int poll_interval_ms = 10;

/// The read end of a child's stdout or stderr.
struct output_pipe {
  watched_fd fd;
  line_splitter lines;
};

/// What the tag of an epoll event designates, besides the run.
enum class fd_kind : std::uint64_t { leader, out, err };

/// The tag of the eventfd; run ids start at 1, so no run's tag is 0.
constexpr std::uint64_t wake_tag = 0;

std::uint64_t tag(process_monitor::run_id id, fd_kind kind) {
  return id << 2 | static_cast<std::uint64_t>(kind);
}

/// A started process and what the monitor holds for it, until every
/// process of the run is gone.
struct live_run {
  process_listener listener;
  pid_t pid = 0; ///< also the id of its process group (the child calls setsid)
  /// Open until the leader is reaped; never open if pidfd_open failed, in
  /// which case the leader is polled.
  watched_fd pidfd;
  output_pipe out;
  output_pipe err;
  /// Set once the leader is reaped; the group may still be draining.
  std::optional<process_exit> leader_exit;
  /// The run's own cgroup, or "" without cgroup support.
  std::string cgroup;
  /// Members of the cgroup seen when it was killed: those that left the
  /// process group are reaped by pid.
  std::vector<pid_t> escaped;
};

/// Kills the whole run: its process group and its cgroup. Only while the
/// leader is unreaped for the group (see reap_leader).
void kill_run(live_run& r) {
  if (!r.leader_exit)
    kill(-r.pid, SIGKILL);
  if (!r.cgroup.empty()) {
    for (auto pid : run_cgroups::members(r.cgroup))
      if (pid != r.pid)
        r.escaped.push_back(pid);
    run_cgroups::signal(r.cgroup, SIGKILL);
  }
}

/// Reaps the leader of `r` if it has exited, after killing what remains of
/// its group: as long as the leader is an unreaped zombie, its pid, and so
/// the group's id, cannot be reused, so the signal cannot hit a stranger.
bool reap_leader(live_run& r) {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(r.pid), &info,
             WEXITED | WNOHANG | WNOWAIT)
        < 0
      || info.si_pid != r.pid)
    return false;
  kill_run(r);
  waitid(P_PID, static_cast<id_t>(r.pid), &info, WEXITED);
  r.leader_exit = info.si_code == CLD_EXITED
                    ? process_exit{info.si_status, 0}
                    : process_exit{0, info.si_status};
  r.pidfd.close();
  return true;
}

/// Whether no member of the group of `r` is left. Reaps the members this
/// process adopted as subreaper first, since their zombies still count.
bool group_gone(live_run& r) {
  while (waitpid(-r.pid, nullptr, WNOHANG) > 0) {
  }
  // Adopted processes that left the group: reaped by pid (a pid that is
  // not our child yields ECHILD and is forgotten).
  r.escaped.erase(std::remove_if(r.escaped.begin(), r.escaped.end(),
                                 [](pid_t pid) {
                                   return waitpid(pid, nullptr, WNOHANG) != 0;
                                 }),
                  r.escaped.end());
  return kill(-r.pid, 0) < 0 && errno == ESRCH
         && run_cgroups::empty(r.cgroup);
}

} // namespace

void become_subreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
    throw_errno("PR_SET_CHILD_SUBREAPER");
}

class process_monitor::impl {
public:
  impl()
    : epoll_(checked(epoll_create1(EPOLL_CLOEXEC), "epoll_create1")),
      wake_(epoll_.get(),
            checked(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd"),
            wake_tag),
      thread_([this] { loop(); }) {
  }

  ~impl() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      stopping_ = true;
    }
    wake();
    thread_.join();
  }

  run_id start(process_spec spec, process_listener listener) {
    auto id = next_id_++;
    enqueue(start_request{id, std::move(spec), std::move(listener)});
    return id;
  }

  void signal(run_id id, int sig) {
    enqueue(signal_request{id, sig});
  }

private:
  struct start_request {
    run_id id;
    process_spec spec;
    process_listener listener;
  };

  struct signal_request {
    run_id id;
    int sig;
  };

  using request = std::variant<start_request, signal_request>;

  void enqueue(request req) {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      requests_.push_back(std::move(req));
    }
    wake();
  }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto written = write(wake_.get(), &one, sizeof one);
  }

  void loop() {
    // No signal handler may run in a child between fork and exec.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::array<epoll_event, 64> events;
    while (!shutting_down_ || !runs_.empty()) {
      auto timeout = polled_.empty() ? -1 : poll_interval_ms;
      auto n = epoll_wait(epoll_.get(), events.data(),
                          static_cast<int>(events.size()), timeout);
      for (int i = 0; i < n; ++i)
        on_event(events[i].data.u64);
      update_polled();
    }
  }

  void on_event(std::uint64_t event_tag) {
    if (event_tag == wake_tag) {
      handle_requests();
      return;
    }
    auto id = event_tag >> 2;
    auto kind = static_cast<fd_kind>(event_tag & 3);
    auto i = runs_.find(id);
    if (i == runs_.end()) // finished earlier in the same batch of events
      return;
    if (kind == fd_kind::leader) {
      if (update(id))
        polled_.push_back(id);
    } else {
      read_output(i->second, kind, false);
    }
  }

  void handle_requests() {
    std::uint64_t count;
    [[maybe_unused]] auto got = read(wake_.get(), &count, sizeof count);
    std::vector<request> requests;
    bool stopping;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      requests.swap(requests_);
      stopping = stopping_;
    }
    for (auto& req : requests) {
      if (auto start = std::get_if<start_request>(&req))
        spawn(*start);
      else
        send_signal(std::get<signal_request>(req));
    }
    if (stopping && !shutting_down_) {
      shutting_down_ = true;
      for (auto& [id, r] : runs_)
        kill_run(r);
    }
  }

  void send_signal(const signal_request& req) {
    auto i = runs_.find(req.id);
    // Until the leader is reaped, its group id cannot be reused; once it
    // is, the group has been killed already.
    if (i != runs_.end() && !i->second.leader_exit) {
      kill(-i->second.pid, req.sig);
      run_cgroups::signal(i->second.cgroup, req.sig);
    }
  }

  void spawn(start_request& req) {
    auto& spec = req.spec;
    auto fail = [&](std::string message) {
      caf::anon_send(req.listener, proc_failed_atom::value, std::move(message));
    };
    if (spec.argv.empty())
      return fail("cannot execute an empty command");
    live_run r;
    r.listener = req.listener;
    r.cgroup = cgroups_.create(req.id);
    unique_fd status;
    try {
      auto out = make_pipe(O_NONBLOCK);
      auto err = make_pipe(O_NONBLOCK);
      auto status_pipe = make_pipe();
      auto dev_null = checked(open("/dev/null", O_RDONLY | O_CLOEXEC),
                              "/dev/null");
      r.out.fd = watched_fd{epoll_.get(), std::move(out.read),
                            tag(req.id, fd_kind::out)};
      r.err.fd = watched_fd{epoll_.get(), std::move(err.read),
                            tag(req.id, fd_kind::err)};
      unique_fd cgroup_procs;
      if (!r.cgroup.empty())
        cgroup_procs.reset(
          open((r.cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
      auto argv = c_strings(spec.argv);
      auto envp = c_strings(spec.env);
      child_setup setup{argv.data(),
                        envp.data(),
                        spec.working_dir.empty() ? nullptr
                                                 : spec.working_dir.c_str(),
                        dev_null.get(),
                        out.write.get(),
                        err.write.get(),
                        status_pipe.write.get(),
                        cgroup_procs.get(),
                        getpid()};
      // vfork: the child borrows this process's memory until it calls exec,
      // instead of copying its page tables as fork does. That copy grows
      // with the server's memory and thread stacks and was the largest cost
      // of starting a run. The child only makes async-signal-safe system
      // calls on its own stack frame and writes nothing the parent reads;
      // it resets every signal handler before unblocking signals (this
      // thread blocks all of them), so none of ours can run in it. This
      // thread is suspended until the exec, as it waited for it anyway.
      pid_t pid = vfork();
      if (pid < 0)
        throw_errno("vfork");
      if (pid == 0)
        run_child(setup);
      r.pid = pid;
      status = std::move(status_pipe.read);
      // Leaving this scope closes the parent's copies of the child's ends.
    } catch (const std::system_error& error) {
      run_cgroups::remove(r.cgroup);
      return fail("cannot start " + spec.argv[0] + ": "
                  + error.code().message());
    }
    // Blocks only until the child has called exec (or failed to).
    child_failure failure{};
    if (read_fully(status.get(), &failure, sizeof failure) == sizeof failure) {
      waitpid(r.pid, nullptr, 0);
      run_cgroups::remove(r.cgroup);
      return fail(describe(failure, spec));
    }
    try {
      r.pidfd = watched_fd{epoll_.get(),
                           checked(pidfd_open(r.pid), "pidfd_open"),
                           tag(req.id, fd_kind::leader)};
    } catch (const std::system_error&) {
      polled_.push_back(req.id); // out of descriptors or memory: poll instead
    }
    caf::anon_send(r.listener, proc_spawned_atom::value, r.pid);
    runs_.emplace(req.id, std::move(r));
  }

  /// Sends the lines of one of the pipes of `r`. Reads one buffer's worth,
  /// for fairness among runs, or, when the run is over, all that is left.
  /// At the end of the output, sends its unterminated last line and closes
  /// the pipe.
  void read_output(live_run& r, fd_kind kind, bool run_over) {
    auto& pipe = kind == fd_kind::out ? r.out : r.err;
    auto emit = [&](std::string line) {
      if (kind == fd_kind::out)
        caf::anon_send(r.listener, proc_stdout_atom::value, std::move(line));
      else
        caf::anon_send(r.listener, proc_stderr_atom::value, std::move(line));
    };
    while (pipe.fd) {
      auto n = read(pipe.fd.get(), buffer_.data(), buffer_.size());
      if (n < 0 && errno == EINTR)
        continue;
      if (n > 0) {
        pipe.lines.feed({buffer_.data(), static_cast<std::size_t>(n)}, emit);
        if (!run_over)
          return;
        continue;
      }
      if (n < 0 && errno == EAGAIN && !run_over)
        return;
      // End of file, or all that remains of a run that is over. An error
      // other than EAGAIN ends the output as well.
      pipe.lines.finish(emit);
      pipe.fd.close();
    }
  }

  /// Moves run `id` on: reaps its leader if it has exited, and finishes the
  /// run once its group is gone. Returns whether the run needs polling: its
  /// group is draining, or its leader is watched without a pidfd.
  bool update(run_id id) {
    auto& r = runs_.at(id);
    if (!r.leader_exit && !reap_leader(r))
      return !r.pidfd;
    if (!group_gone(r))
      return true;
    read_output(r, fd_kind::out, true);
    read_output(r, fd_kind::err, true);
    caf::anon_send(r.listener, proc_exited_atom::value, *r.leader_exit);
    run_cgroups::remove(r.cgroup);
    runs_.erase(id);
    return false;
  }

  /// Moves on every run that needs polling (see update).
  void update_polled() {
    for (auto id : std::exchange(polled_, {}))
      if (update(id))
        polled_.push_back(id);
  }

  // Fixed from construction on.
  run_cgroups cgroups_;
  unique_fd epoll_;
  watched_fd wake_;

  // Shared with the callers of start and signal.
  std::atomic<run_id> next_id_{1};
  std::mutex mutex_;
  std::vector<request> requests_; // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_

  // The thread's own.
  std::unordered_map<run_id, live_run> runs_;
  std::vector<run_id> polled_;
  bool shutting_down_ = false;
  std::array<char, 65536> buffer_;

  std::thread thread_; // last, so that it starts after the rest is built
};

process_monitor::process_monitor() : impl_(std::make_unique<impl>()) {
}

process_monitor::~process_monitor() = default;

process_monitor::run_id process_monitor::start(process_spec spec,
                                               process_listener listener) {
  return impl_->start(std::move(spec), std::move(listener));
}

void process_monitor::signal(run_id run, int sig) {
  impl_->signal(run, sig);
}

} // namespace cluster_actions
