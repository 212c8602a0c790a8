// The real `cluster-actions-server` binary as a child process, for the
// suites that start, signal and restart it. Every child is owned by a guard
// that SIGKILLs and reaps it when a test ends early, and every wait polls a
// condition against a deadline.
//
// The including test target defines SERVER_BINARY, the binary's path.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "test_support.hpp"

#ifndef SERVER_BINARY
#error "define SERVER_BINARY, the path of cluster-actions-server"
#endif

extern char** environ;

namespace cluster_actions::testing {

using steady = std::chrono::steady_clock;

constexpr const char* server_binary = SERVER_BINARY;
constexpr auto poll_interval = std::chrono::milliseconds(5);

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path};
  out << text;
  REQUIRE(out.good());
}

/// The complete lines of `text` (a last line without '\n' is left out).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> result;
  std::string::size_type begin = 0;
  for (auto end = text.find('\n'); end != std::string::npos;
       end = text.find('\n', begin)) {
    result.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return result;
}

/// "exit 0", "signal 9", for messages.
std::string describe_status(int status) {
  if (WIFEXITED(status))
    return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

/// Variables to set (a value) or remove (nullopt) in the child's
/// environment; the rest is inherited.
using env_changes = std::map<std::string, std::optional<std::string>>;

std::vector<std::string> child_environment(const env_changes& changes) {
  std::vector<std::string> result;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text = *entry;
    auto name = text.substr(0, text.find('='));
    if (changes.count(name) == 0)
      result.push_back(std::move(text));
  }
  for (const auto& [name, value] : changes)
    if (value)
      result.push_back(name + "=" + *value);
  return result;
}

/// One run of the server binary. stdout and stderr go to files in `dir`.
/// The destructor SIGKILLs and reaps the process if it has not been seen
/// exiting, so no server outlives a failed test.
class server_process {
public:
  server_process(const temp_dir& dir, const std::string& tag,
                 const std::vector<std::string>& args,
                 const std::string& working_dir, const env_changes& env = {})
    : out_path_(dir.file(tag + ".stdout")),
      err_path_(dir.file(tag + ".stderr")) {
    std::vector<std::string> argv_text{server_binary};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    auto env_text = child_environment(env);
    auto argv = pointers(argv_text);
    auto envp = pointers(env_text);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO,
                                     out_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO,
                                     err_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addchdir_np(&actions, working_dir.c_str());
    // Whatever the test process blocks or ignores, the server starts with
    // default dispositions and nothing blocked.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    const int err = posix_spawn(&pid_, server_binary, &actions, &attr,
                                argv.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    INFO("posix_spawn " << server_binary << ": " << std::strerror(err));
    REQUIRE(err == 0);
  }

  ~server_process() {
    if (status_)
      return;
    ::kill(pid_, SIGKILL);
    int ignored;
    while (::waitpid(pid_, &ignored, 0) < 0 && errno == EINTR) {
      // retry
    }
  }

  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  pid_t pid() const {
    return pid_;
  }

  std::string out() const {
    return read_file(out_path_);
  }
  std::string err() const {
    return read_file(err_path_);
  }

  void signal(int sig) {
    REQUIRE_FALSE(status_);
    REQUIRE(::kill(pid_, sig) == 0);
  }

  /// The wait status once the process has exited, without waiting.
  std::optional<int> poll_exit() {
    if (!status_) {
      int status = 0;
      auto got = ::waitpid(pid_, &status, WNOHANG);
      if (got == pid_)
        status_ = status;
    }
    return status_;
  }

  /// The wait status, or nothing if the process is still running after
  /// `within`.
  std::optional<int> wait_exit(std::chrono::milliseconds within) {
    auto deadline = steady::now() + within;
    while (!poll_exit() && steady::now() < deadline)
      std::this_thread::sleep_for(poll_interval);
    return poll_exit();
  }

  /// Waits for an exit within `within` and returns its status; fails the
  /// test otherwise.
  int require_exit(std::chrono::milliseconds within = std::chrono::seconds(10)) {
    auto status = wait_exit(within);
    if (!status)
      FAIL("server still running after " << within.count() << " ms; stderr: "
                                         << err());
    return *status;
  }

  /// Waits until stdout has a `listening on http(s)://...` line and
  /// returns the port it names (and keeps the certificate an HTTPS line
  /// names); fails if the process exits first or `within` passes.
  int wait_listening(std::chrono::milliseconds within = std::chrono::seconds(10)) {
    static const std::regex listening{
      R"(listening on https?://([^ ]+):(\d+)(?: \(certificate: (.+)\))?)"};
    auto deadline = steady::now() + within;
    for (;;) {
      for (const auto& line : lines_of(out())) {
        std::smatch match;
        if (std::regex_match(line, match, listening)) {
          CHECK(match[1] == host_);
          certificate_ = match[3];
          return std::stoi(match[2]);
        }
      }
      if (auto status = poll_exit())
        FAIL("server ended (" << describe_status(*status)
                              << ") before listening; stdout: " << out()
                              << "; stderr: " << err());
      if (steady::now() > deadline)
        FAIL("no `listening on` line in time; stdout: " << out()
                                                        << "; stderr: "
                                                        << err());
      std::this_thread::sleep_for(poll_interval);
    }
  }

  /// The certificate file the `listening on https://` line named, or "".
  const std::string& certificate() const {
    return certificate_;
  }

private:
  static std::vector<char*> pointers(std::vector<std::string>& texts) {
    std::vector<char*> result;
    for (auto& text : texts)
      result.push_back(text.data());
    result.push_back(nullptr);
    return result;
  }

  std::string out_path_;
  std::string err_path_;
  std::string host_ = "127.0.0.1";
  std::string certificate_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

} // namespace cluster_actions::testing
