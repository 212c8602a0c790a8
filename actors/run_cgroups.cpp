#include "actors/run_cgroups.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

namespace cluster_actions::detail {

namespace {

/// This process's cgroup directory in the cgroup v2 hierarchy, or "".
std::string own_cgroup_dir() {
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
void remove_stale(const std::string& base) {
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
      run_cgroups::signal(run, SIGKILL);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (const auto& run : runs)
      while (!run_cgroups::empty(run)
             && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (const auto& run : runs)
      run_cgroups::remove(run);
    rmdir(dir.c_str());
  }
}

} // namespace

run_cgroups::run_cgroups() {
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

run_cgroups::~run_cgroups() {
  if (!dir_.empty())
    rmdir(dir_.c_str());
}

std::string run_cgroups::create(std::uint64_t id) const {
  if (dir_.empty())
    return {};
  auto dir = dir_ + "/run-" + std::to_string(id);
  return mkdir(dir.c_str(), 0755) == 0 ? dir : std::string{};
}

std::vector<pid_t> run_cgroups::members(const std::string& dir) {
  std::vector<pid_t> pids;
  std::ifstream procs{dir + "/cgroup.procs"};
  for (pid_t pid; procs >> pid;)
    pids.push_back(pid);
  return pids;
}

void run_cgroups::signal(const std::string& dir, int sig) {
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

bool run_cgroups::empty(const std::string& dir) {
  return dir.empty() || members(dir).empty();
}

void run_cgroups::remove(const std::string& dir) {
  if (!dir.empty())
    rmdir(dir.c_str());
}

} // namespace cluster_actions::detail
