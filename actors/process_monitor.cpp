#include "actors/process_monitor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <sstream>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>

#include <caf/send.hpp>

namespace cluster_actions {

namespace {

/// Output lines are cut after this many bytes.
constexpr std::size_t max_line_length = 4096;

/// How often draining process groups are checked.
constexpr int poll_interval_ms = 10;

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string error_text(int error) {
  return std::generic_category().message(error);
}

/// Owns a file descriptor.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {
  }
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {
  }
  unique_fd& operator=(unique_fd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  ~unique_fd() {
    reset();
  }

  int get() const {
    return fd_;
  }
  explicit operator bool() const {
    return fd_ >= 0;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_ = -1;
};

/// Takes ownership of the result of a call returning a descriptor or -1.
unique_fd checked(int fd, const char* what) {
  if (fd < 0)
    throw_errno(what);
  return unique_fd{fd};
}

/// A descriptor in the monitor's epoll set, whose events carry `tag`.
class watched_fd {
public:
  watched_fd() = default;
  watched_fd(int epoll, unique_fd fd, std::uint64_t tag)
    : epoll_(epoll), fd_(std::move(fd)) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = tag;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd_.get(), &event) < 0)
      throw_errno("epoll_ctl");
  }
  watched_fd(watched_fd&& other) noexcept = default;
  watched_fd& operator=(watched_fd&& other) noexcept {
    close();
    epoll_ = other.epoll_;
    fd_ = std::move(other.fd_);
    return *this;
  }
  ~watched_fd() {
    close();
  }

  int get() const {
    return fd_.get();
  }
  explicit operator bool() const {
    return static_cast<bool>(fd_);
  }
  /// Leaves the epoll set explicitly: closing alone would not do while a
  /// child another thread is forking holds a copy of the descriptor.
  void close() {
    if (!fd_)
      return;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd_.get(), nullptr);
    fd_.reset();
  }

private:
  int epoll_ = -1;
  unique_fd fd_;
};

struct pipe_ends {
  unique_fd read;
  unique_fd write;
};

/// A close-on-exec pipe; `read_flags` are added to the read end's status.
pipe_ends make_pipe(int read_flags = 0) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0)
    throw_errno("pipe2");
  pipe_ends ends{unique_fd{fds[0]}, unique_fd{fds[1]}};
  if (read_flags != 0 && fcntl(fds[0], F_SETFL, read_flags) < 0)
    throw_errno("fcntl");
  return ends;
}

/// Splits a byte stream into lines, cutting overlong ones.
class line_splitter {
public:
  /// Calls `emit` with every line `data` completes.
  template <class F>
  void feed(std::string_view data, F&& emit) {
    while (!data.empty()) {
      auto end = data.find('\n');
      auto piece = data.substr(0, end);
      if (!cutting_) {
        auto room = max_line_length - partial_.size();
        partial_.append(piece.substr(0, room));
        if (piece.size() > room) {
          emit(std::exchange(partial_, {}));
          cutting_ = true; // drop the rest of the line
        }
      }
      if (end == std::string_view::npos)
        return;
      if (!cutting_)
        emit(std::exchange(partial_, {}));
      cutting_ = false;
      data.remove_prefix(end + 1);
    }
  }

  /// Calls `emit` with an unterminated last line, if any.
  template <class F>
  void finish(F&& emit) {
    if (!partial_.empty())
      emit(std::exchange(partial_, {}));
  }

private:
  std::string partial_;
  bool cutting_ = false;
};

/// The cgroup (v2) of each run, where the machine lets the server create
/// cgroups: a run's processes stay in it whatever they do to their session or
/// process group, so killing the cgroup kills them all. Disabled (every call
/// a no-op) where there is no writable cgroup v2 hierarchy.
class run_cgroups {
public:
  run_cgroups() {
    auto base = own_cgroup_dir();
    if (base.empty())
      return;
    remove_stale(base);
    static std::atomic<unsigned> counter{0};
    auto dir = base + "/cluster-actions-" + std::to_string(getpid()) + "-"
               + std::to_string(counter++);
    if (mkdir(dir.c_str(), 0755) == 0)
      dir_ = dir;
  }

  ~run_cgroups() {
    if (!dir_.empty())
      rmdir(dir_.c_str());
  }

  run_cgroups(const run_cgroups&) = delete;
  run_cgroups& operator=(const run_cgroups&) = delete;

  /// A new, empty cgroup for run `id`, or "" when disabled or it fails.
  std::string create(std::uint64_t id) const {
    if (dir_.empty())
      return {};
    auto dir = dir_ + "/run-" + std::to_string(id);
    return mkdir(dir.c_str(), 0755) == 0 ? dir : std::string{};
  }

  /// The pids in cgroup `dir`.
  static std::vector<pid_t> members(const std::string& dir) {
    std::vector<pid_t> pids;
    std::ifstream procs{dir + "/cgroup.procs"};
    for (pid_t pid; procs >> pid;)
      pids.push_back(pid);
    return pids;
  }

  /// Sends `sig` to every process of `dir` (SIGKILL through cgroup.kill,
  /// which also catches processes forked meanwhile, where the kernel has it).
  static void signal(const std::string& dir, int sig) {
    if (dir.empty())
      return;
    if (sig == SIGKILL) {
      int fd = open((dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        auto written = write(fd, "1", 1);
        close(fd);
        if (written == 1)
          return;
      }
    }
    for (auto pid : members(dir))
      kill(pid, sig);
  }

  static bool empty(const std::string& dir) {
    return dir.empty() || members(dir).empty();
  }

  static void remove(const std::string& dir) {
    if (!dir.empty())
      rmdir(dir.c_str());
  }

private:
  /// This process's cgroup directory in the cgroup v2 hierarchy, or "".
  static std::string own_cgroup_dir() {
    std::string mount;
    std::ifstream mountinfo{"/proc/self/mountinfo"};
    for (std::string line; std::getline(mountinfo, line);) {
      // "... MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS"
      auto dash = line.find(" - cgroup2 ");
      if (dash == std::string::npos)
        continue;
      std::istringstream fields{line.substr(0, dash)};
      std::string field;
      for (int i = 0; i < 5 && fields >> field; ++i)
        if (i == 4)
          mount = field;
      break;
    }
    if (mount.empty())
      return {};
    std::ifstream self{"/proc/self/cgroup"};
    for (std::string line; std::getline(self, line);)
      if (line.rfind("0::", 0) == 0) {
        auto path = line.substr(3);
        auto dir = mount + (path == "/" ? "" : path);
        return access(dir.c_str(), W_OK) == 0 ? dir : std::string{};
      }
    return {};
  }

  /// Kills what runs of servers that died without cleaning up (kill -9)
  /// left behind, and removes their cgroups.
  static void remove_stale(const std::string& base) {
    constexpr std::string_view prefix = "cluster-actions-";
    DIR* listing = opendir(base.c_str());
    if (listing == nullptr)
      return;
    std::vector<std::string> stale;
    while (auto* entry = readdir(listing)) {
      std::string_view name = entry->d_name;
      if (name.substr(0, prefix.size()) != prefix)
        continue;
      auto owner = std::atoi(std::string{name.substr(prefix.size())}.c_str());
      if (owner > 0 && owner != getpid() && kill(owner, 0) < 0
          && errno == ESRCH)
        stale.push_back(base + "/" + std::string{name});
    }
    closedir(listing);
    for (const auto& dir : stale) {
      std::vector<std::string> runs;
      if (DIR* inner = opendir(dir.c_str())) {
        while (auto* entry = readdir(inner))
          if (std::string_view{entry->d_name}.substr(0, 4) == "run-")
            runs.push_back(dir + "/" + entry->d_name);
        closedir(inner);
      }
      for (const auto& run : runs)
        signal(run, SIGKILL);
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      for (const auto& run : runs)
        while (!empty(run) && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
      for (const auto& run : runs)
        remove(run);
      rmdir(dir.c_str());
    }
  }

  std::string dir_;
};

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

/// A started process.
struct run {
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
void kill_run(run& r) {
  if (!r.leader_exit)
    kill(-r.pid, SIGKILL);
  if (!r.cgroup.empty()) {
    for (auto pid : run_cgroups::members(r.cgroup))
      if (pid != r.pid)
        r.escaped.push_back(pid);
    run_cgroups::signal(r.cgroup, SIGKILL);
  }
}

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

[[noreturn]] void child_fail(const child_setup& setup, child_step step) {
  child_failure failure{step, errno};
  [[maybe_unused]] auto written = write(setup.status_fd, &failure,
                                        sizeof failure);
  _exit(127);
}

[[noreturn]] void run_child(const child_setup& setup) {
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

/// A null-terminated array of pointers into `strings`.
std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& str : strings)
    result.push_back(str.data());
  result.push_back(nullptr);
  return result;
}

std::string describe(const child_failure& failure, const process_spec& spec) {
  auto reason = error_text(failure.error);
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

/// Reads exactly `size` bytes unless end of file comes first; returns how
/// many it read.
std::size_t read_fully(int fd, void* data, std::size_t size) {
  auto bytes = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    auto n = read(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

/// glibc 2.36's <sys/pidfd.h> lacks C linkage in C++, hence the raw call.
int pidfd_open(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

/// Reaps the leader of `r` if it has exited, after killing what remains of
/// its group: as long as the leader is an unreaped zombie, its pid, and so
/// the group's id, cannot be reused, so the signal cannot hit a stranger.
bool reap_leader(run& r) {
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
bool group_gone(run& r) {
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
      poll();
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
    run r;
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
  void read_output(run& r, fd_kind kind, bool run_over) {
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

  void poll() {
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
  std::unordered_map<run_id, run> runs_;
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
