// The real `cluster-actions-server` binary, started as a child process: the
// `listening on` line, configuration errors, the embedded default, a port in
// use, SIGTERM / SIGINT with live runs (exit 0, no process of a run left
// behind), SIGHUP (certificate reload, audit log reopened), the warning
// about a readable configuration, and what a command's environment holds.
//
// Every child is owned by a guard that SIGKILLs and reaps it when a test
// ends early, and every wait polls a condition against a deadline.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/tls.hpp"
#include "running_server.hpp"
#include "test_support.hpp"
#include "tls_probe.hpp"

extern char** environ;

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

using cluster_actions::testing::cannot_check_here;
using cluster_actions::testing::status_is;
using cluster_actions::testing::temp_dir;
using cluster_actions::testing::wait_for_status;

using steady = std::chrono::steady_clock;

constexpr const char* server_binary = SERVER_BINARY;
constexpr const char* password_variable = "CLUSTER_ACTIONS_ADMIN_PASSWORD";
constexpr const char* email = "admin@example.com";
constexpr const char* password = "pass word:1";
const std::string list_path = "/v1/cluster/actions";
constexpr auto poll_interval = 5ms;

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
  int require_exit(std::chrono::milliseconds within = 10s) {
    auto status = wait_exit(within);
    if (!status)
      FAIL("server still running after " << within.count() << " ms; stderr: "
                                         << err());
    return *status;
  }

  /// Waits until stdout has a `listening on http(s)://...` line and
  /// returns the port it names (and keeps the certificate an HTTPS line
  /// names); fails if the process exits first or `within` passes.
  int wait_listening(std::chrono::milliseconds within = 10s) {
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

/// A loopback TCP port that nothing listens on right now.
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// errno of a TCP connect to 127.0.0.1:`port`, 0 when it connected.
int connect_errno(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  int result = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    result = errno;
  ::close(fd);
  return result;
}

/// Whether a server could bind 127.0.0.1:`port` now (with SO_REUSEADDR, as
/// the server does).
bool port_is_free(int port) {
  if (connect_errno(port) != ECONNREFUSED)
    return false;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
               == 0;
  ::close(fd);
  return bound;
}

/// A client of 127.0.0.1:`port`; over HTTPS, verifying the server against
/// `certificate`, when one is given.
httplib::Client make_client(int port, const std::string& user,
                            const std::string& pass,
                            const std::string& certificate = {}) {
  httplib::Client client{(certificate.empty() ? "http" : "https")
                         + std::string{"://127.0.0.1:"} + std::to_string(port)};
  if (!certificate.empty()) {
    client.set_ca_cert_path(certificate.c_str());
    client.enable_server_certificate_verification(true);
  }
  client.set_connection_timeout(5s);
  client.set_read_timeout(10s);
  client.set_basic_auth(user.c_str(), pass.c_str());
  return client;
}

/// A configuration for `listen` with one admin user and `actions`, written
/// to `dir`/config.json; its data_dir is `dir`/data. Returns the file.
std::string write_config(const temp_dir& dir, const std::string& listen,
                         json actions = json::object()) {
  json config = {
    {"listen", listen},
    {"data_dir", dir.file("data")},
    {"tls", false},
    {"max_running_actions", 4},
    {"users", json::array({{{"email", email},
                            {"password", password},
                            {"role", "admin"}}})},
    {"actions", std::move(actions)},
  };
  auto path = dir.file("config.json");
  write_file(path, config.dump(2));
  return path;
}

json shell_action(const std::string& script) {
  return {{"command", {"/bin/sh", "-c", script}},
          {"timeout_s", 600},
          {"cancel_grace_s", 1}};
}

/// The number of stdout lines that start with "listening on".
std::size_t listening_lines(const std::string& out) {
  std::size_t count = 0;
  for (const auto& line : lines_of(out))
    count += line.rfind("listening on", 0) == 0 ? 1 : 0;
  return count;
}

/// Waits until a command has written its pid (a complete line) to `path`.
pid_t wait_for_pid_file(const std::string& path,
                        std::chrono::milliseconds within = 10s) {
  auto deadline = steady::now() + within;
  for (;;) {
    auto text = read_file(path);
    if (!text.empty() && text.back() == '\n')
      return static_cast<pid_t>(std::stol(text));
    if (steady::now() > deadline)
      FAIL("no pid in " << path << " in time");
    std::this_thread::sleep_for(poll_interval);
  }
}

struct proc_info {
  pid_t pid;
  char state;
  pid_t pgrp;
};

/// State and process group of `pid` from /proc, nothing if it is gone.
std::optional<proc_info> proc_stat(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  // "pid (comm) state ppid pgrp ...": comm may hold anything but ends at
  // the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream rest{text.substr(close + 1)};
  proc_info info{pid, '?', 0};
  pid_t ppid = 0;
  if (!(rest >> info.state >> ppid >> info.pgrp))
    return std::nullopt;
  return info;
}

bool is_live(const proc_info& info) {
  return info.state != 'Z' && info.state != 'X';
}

/// The processes of process group `pgrp` that are alive (zombies, which
/// only wait for someone to reap them, are not).
std::vector<proc_info> live_group_members(pid_t pgrp) {
  std::vector<proc_info> result;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator{"/proc", ec}) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    auto info = proc_stat(static_cast<pid_t>(std::stol(name)));
    if (info && info->pgrp == pgrp && is_live(*info))
      result.push_back(*info);
  }
  return result;
}

std::string describe(const std::vector<proc_info>& procs) {
  std::string result;
  for (const auto& p : procs)
    result += " " + std::to_string(p.pid) + "(" + p.state + ")";
  return result;
}

/// SIGKILLs whatever is left of a run's process group when a test ends, so
/// that a server that fails to stop its runs does not leak them.
class group_guard {
public:
  explicit group_guard(pid_t pgrp) : pgrp_(pgrp) {
    // nop
  }
  ~group_guard() {
    if (!live_group_members(pgrp_).empty())
      ::kill(-pgrp_, SIGKILL);
  }
  group_guard(const group_guard&) = delete;
  group_guard& operator=(const group_guard&) = delete;

private:
  pid_t pgrp_;
};

const char* signal_name(int sig) {
  return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal";
}

} // namespace

TEST_CASE("with --config, the server prints its real port and serves") {
  temp_dir dir;
  auto config = write_config(dir, "127.0.0.1:0");
  server_process server{dir, "server", {"--config", config}, dir.path()};
  const int port = server.wait_listening();
  CHECK(port > 0);
  CHECK(port <= 65535);

  auto client = make_client(port, email, password);
  auto res = client.Get(list_path.c_str());
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == R"({"actions":[]})");
  auto wrong = make_client(port, email, "wrong");
  res = wrong.Get(list_path.c_str());
  REQUIRE(res);
  CHECK(res->status == 401);

  CHECK(listening_lines(server.out()) == 1);
  CHECK(lines_of(server.out()).size() == 1);

  server.signal(SIGTERM);
  auto status = server.require_exit();
  INFO(server.err());
  CHECK(describe_status(status) == "exit 0");
  CHECK(listening_lines(server.out()) == 1);
  CHECK(connect_errno(port) == ECONNREFUSED);
}

TEST_CASE("SIGTERM and SIGINT abort live runs, leave no process, exit 0") {
  temp_dir dir;
  json actions = {
    {"hold", shell_action("echo $$ > hold.pid; exec sleep 1000")},
    // Ignores SIGTERM, and so do the children it keeps starting.
    {"stubborn", shell_action("trap '' TERM; echo $$ > stubborn.pid; "
                              "while :; do sleep 0.1; done")},
    // The shell dies of SIGTERM, but leaves a child that ignores it.
    {"family", shell_action("(trap '' TERM; exec sleep 1000) & "
                            "echo $$ > family.pid; wait")},
  };
  auto config = write_config(dir, "127.0.0.1:0", actions);

  for (int sig : {SIGTERM, SIGINT}) {
    for (const std::string name : {"hold", "stubborn", "family"}) {
      DYNAMIC_SECTION(signal_name(sig) << " with a live run of " << name) {
        const std::string tag = name + "-" + signal_name(sig);
        server_process server{dir, tag, {"--config", config}, dir.path()};
        const int port = server.wait_listening();
        auto client = make_client(port, email, password);

        const auto pid_file = dir.file("data/" + name + ".pid");
        std::filesystem::remove(pid_file);
        auto res = client.Post((list_path + "/" + name).c_str());
        REQUIRE(res);
        INFO(res->body);
        REQUIRE(res->status == 200);
        wait_for_status(client, name, status_is("running"));
        const pid_t pid = wait_for_pid_file(pid_file);
        group_guard leftovers{pid};
        // The command leads its own process group, and it is alive.
        auto self = proc_stat(pid);
        REQUIRE(self);
        CHECK(self->pgrp == pid);
        CHECK(is_live(*self));

        const auto signalled = steady::now();
        server.signal(sig);
        const auto status = server.require_exit(10s);
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
          steady::now() - signalled);
        INFO("stderr: " << server.err());
        INFO("exit took " << took.count() << " ms");
        CHECK(describe_status(status) == "exit 0");
        CHECK(took < 5s);
        CHECK_THAT(server.err(),
                   Catch::Contains(std::string{signal_name(sig)}
                                   + " received"));
        // Gone, or at most a zombie reparented to a reaper that has not
        // collected it yet.
        CHECK(describe(live_group_members(pid)).empty());
        if (::kill(pid, 0) == 0) {
          auto info = proc_stat(pid);
          CHECK((!info || !is_live(*info)));
        } else {
          CHECK(errno == ESRCH);
        }
        CHECK(listening_lines(server.out()) == 1);
        CHECK(connect_errno(port) == ECONNREFUSED);
      }
    }
  }
}

TEST_CASE("a configuration error: exit 2, file and key named, no listening") {
  temp_dir dir;
  const int port = unused_port();
  json config = {
    {"listen", "127.0.0.1:" + std::to_string(port)},
    {"data_dir", dir.file("data")},
    {"users", json::array({{{"email", email},
                            {"password", password},
                            {"role", "overlord"}}})},
    {"actions", json::object()},
  };
  const auto path = dir.file("bad-config.json");
  write_file(path, config.dump(2));

  server_process server{dir, "server", {"--config", path}, dir.path()};
  const auto status = server.require_exit();
  const auto err = server.err();
  INFO("stderr: " << err);
  CHECK(describe_status(status) == "exit 2");
  CHECK_THAT(err, Catch::Contains(path));
  CHECK_THAT(err, Catch::Contains("users[0].role"));
  CHECK_THAT(err, Catch::Contains("overlord"));
  CHECK(listening_lines(server.out()) == 0);
  CHECK(connect_errno(port) == ECONNREFUSED);
}

TEST_CASE("a missing configuration file: exit 2, the file named") {
  temp_dir dir;
  const auto path = dir.file("absent.json");
  server_process server{dir, "server", {"--config", path}, dir.path()};
  const auto status = server.require_exit();
  INFO("stderr: " << server.err());
  CHECK(describe_status(status) == "exit 2");
  CHECK_THAT(server.err(), Catch::Contains(path));
  CHECK(listening_lines(server.out()) == 0);
}

TEST_CASE("without --config, the embedded default on 127.0.0.1:9443") {
  constexpr int default_port = 9443;
  constexpr const char* default_user = "admin@cluster.local";
  if (!port_is_free(default_port)) {
    cannot_check_here("127.0.0.1:9443 is in use on this machine: embedded "
                      "default not tested");
    return;
  }
  temp_dir dir;

  // Starts the default server in `dir` and checks it; only warns (fails
  // with CI=true) if the port was taken in the meantime.
  auto check_default = [&](const std::string& tag, const env_changes& env,
                           std::optional<std::string> known_password) {
    server_process server{dir, tag, {}, dir.path(), env};
    auto deadline = steady::now() + 10s;
    while (listening_lines(server.out()) == 0 && !server.poll_exit()
           && steady::now() < deadline)
      std::this_thread::sleep_for(poll_interval);
    // A port taken since the check above is not the server's fault.
    if (auto status = server.poll_exit();
        status && describe_status(*status) == "exit 1"
        && server.err().find("cannot listen") != std::string::npos) {
      cannot_check_here("127.0.0.1:9443 was taken while the test ran: "
                        + server.err());
      return;
    }
    const int port = server.wait_listening();
    CHECK(port == default_port);

    const auto out = server.out();
    INFO("stdout: " << out);
    std::string pass;
    static const std::regex generated{
      R"(.*admin@cluster\.local.*generated password: (\S+).*)"};
    std::smatch match;
    const auto lines = lines_of(out);
    auto first_line = lines.empty() ? std::string{} : lines.front();
    if (known_password) {
      CHECK(out.find("password") == std::string::npos);
      pass = *known_password;
    } else {
      // The password line comes first, before `listening on`.
      REQUIRE(lines.size() >= 2);
      REQUIRE(std::regex_match(first_line, match, generated));
      pass = match[1];
      CHECK(pass.size() >= 12);
      CHECK(lines[1].rfind("listening on", 0) == 0);
    }
    CHECK(listening_lines(out) == 1);

    // The embedded default serves HTTPS with a certificate of its own.
    REQUIRE_FALSE(server.certificate().empty());
    auto client = make_client(port, default_user, pass, server.certificate());
    auto res = client.Get(list_path.c_str());
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == R"({"actions":[]})");
    auto wrong
      = make_client(port, default_user, pass + "x", server.certificate());
    res = wrong.Get(list_path.c_str());
    REQUIRE(res);
    CHECK(res->status == 401);
    // The default data_dir is ./data in the working directory.
    CHECK(std::filesystem::is_directory(dir.file("data")));

    server.signal(SIGTERM);
    const auto status = server.require_exit();
    INFO("stderr: " << server.err());
    CHECK(describe_status(status) == "exit 0");
  };

  SECTION("the admin password from the environment") {
    check_default("env-password",
                  {{password_variable, std::string{"from env 123"}}},
                  std::string{"from env 123"});
  }
  SECTION("a generated password, printed before `listening on`") {
    check_default("generated", {{password_variable, std::nullopt}},
                  std::nullopt);
  }
}

TEST_CASE("without --config, an empty password variable: exit 2") {
  temp_dir dir;
  server_process server{
    dir, "empty", {}, dir.path(), {{password_variable, std::string{}}}};
  const auto status = server.require_exit();
  INFO("stderr: " << server.err());
  CHECK(describe_status(status) == "exit 2");
  CHECK_THAT(server.err(), Catch::Contains(password_variable));
  CHECK(listening_lines(server.out()) == 0);
}

TEST_CASE("a port in use: the second server exits 1, the first serves on") {
  temp_dir first_dir;
  temp_dir second_dir;
  auto first_config = write_config(first_dir, "127.0.0.1:0");
  server_process first{first_dir, "first", {"--config", first_config},
                       first_dir.path()};
  const int port = first.wait_listening();

  auto second_config = write_config(second_dir,
                                    "127.0.0.1:" + std::to_string(port));
  server_process second{second_dir, "second", {"--config", second_config},
                        second_dir.path()};
  const auto status = second.require_exit();
  const auto err = second.err();
  INFO("stderr: " << err);
  CHECK(describe_status(status) == "exit 1");
  CHECK_THAT(err, Catch::Contains(std::to_string(port)));
  CHECK_THAT(err, Catch::Contains("listen"));
  CHECK(listening_lines(second.out()) == 0);

  auto client = make_client(port, email, password);
  for (int i = 0; i < 5; ++i) {
    auto res = client.Get(list_path.c_str());
    REQUIRE(res);
    CHECK(res->status == 200);
  }
  first.signal(SIGTERM);
  CHECK(describe_status(first.require_exit()) == "exit 0");
}

namespace {

/// The lines of `path` that hold `event` (an audit log's JSON lines).
std::size_t audit_events(const std::string& path, const std::string& event) {
  std::size_t count = 0;
  for (const auto& line : lines_of(read_file(path)))
    count += json::parse(line)["event"] == event ? 1 : 0;
  return count;
}

/// Polls `done` until it holds; fails the test after `within`.
void require_eventually(const std::function<bool()>& done,
                        const std::string& what,
                        std::chrono::milliseconds within = 10s) {
  auto deadline = steady::now() + within;
  while (!done()) {
    if (steady::now() > deadline)
      FAIL(what << " did not happen in time");
    std::this_thread::sleep_for(poll_interval);
  }
}

} // namespace

TEST_CASE("SIGHUP reloads an operator's certificate and reopens the audit "
          "log") {
  using cluster_actions::testing::file_serial;
  using cluster_actions::testing::presented_serial;
  temp_dir dir;
  const cluster_actions::app::tls_files files{dir.file("cert.pem"),
                                              dir.file("key.pem")};
  const cluster_actions::app::certificate_names names{{"localhost"},
                                                      {"127.0.0.1"}};
  cluster_actions::app::write_self_signed(files, names);
  const auto first = file_serial(files.cert_file);
  auto config = json::parse(read_file(write_config(dir, "127.0.0.1:0")));
  config["tls"] = {{"cert_file", files.cert_file}, {"key_file", files.key_file}};
  write_file(dir.file("config.json"), config.dump(2));
  server_process server{dir, "server", {"--config", dir.file("config.json")},
                        dir.path()};
  const int port = server.wait_listening();
  CHECK(server.certificate() == files.cert_file);
  CHECK(presented_serial(port) == first);
  auto wrong = make_client(port, email, "wrong", files.cert_file);
  const auto audit = dir.file("data/audit.log");

  // logrotate moves the log away, then sends SIGHUP.
  std::filesystem::rename(audit, audit + ".1");
  cluster_actions::app::write_self_signed(files, names);
  const auto second = file_serial(files.cert_file);
  server.signal(SIGHUP);
  require_eventually([&] { return presented_serial(port) == second; },
                     "the new certificate");
  CHECK_THAT(server.err(), Catch::Contains("reloaded the certificate "
                                           + files.cert_file));
  auto res = make_client(port, email, "wrong", files.cert_file)
               .Get(list_path.c_str());
  REQUIRE(res);
  CHECK(res->status == 401);
  require_eventually([&] { return audit_events(audit, "login_failed") == 1; },
                     "a line in the reopened audit log");
  CHECK(audit_events(audit + ".1", "server_started") == 1);
  CHECK(audit_events(audit + ".1", "login_failed") == 0);

  // A pair that does not load: refused, the last one stays.
  write_file(files.cert_file, "not a certificate\n");
  server.signal(SIGHUP);
  require_eventually(
    [&] {
      return server.err().find("cannot reload the certificate")
             != std::string::npos;
    },
    "the refusal on stderr");
  CHECK_THAT(server.err(), Catch::Contains("the one loaded before stays in use"));
  CHECK(presented_serial(port) == second);
  CHECK_FALSE(server.poll_exit());

  server.signal(SIGTERM);
  CHECK(describe_status(server.require_exit()) == "exit 0");
  CHECK(audit_events(audit, "server_stopped") == 1);
}

TEST_CASE("a plain password in a file others can read: a warning, and the "
          "server starts") {
  temp_dir dir;
  const auto path = write_config(dir, "127.0.0.1:0");
  for (auto mode : {0644, 0640, 0600}) {
    DYNAMIC_SECTION("mode " << std::oct << mode) {
      REQUIRE(::chmod(path.c_str(), static_cast<mode_t>(mode)) == 0);
      server_process server{dir, "server", {"--config", path}, dir.path()};
      server.wait_listening();
      const bool warned
        = server.err().find("warning: " + path + " holds a plain \"password\"")
          != std::string::npos;
      INFO(server.err());
      CHECK(warned == (mode != 0600));
      server.signal(SIGTERM);
      CHECK(describe_status(server.require_exit()) == "exit 0");
    }
  }
}

TEST_CASE("a command never sees the server's environment, nor the admin "
          "password") {
  temp_dir dir;
  json actions = {{"env", {{"command", {PRINT_ENVIRONMENT, "env.txt"}},
                           {"env", {{"GREETING", "hello"}}},
                           {"inherit_env", {"LANG"}}}}};
  auto config = write_config(dir, "127.0.0.1:0", actions);
  server_process server{dir,
                        "server",
                        {"--config", config},
                        dir.path(),
                        {{password_variable, std::string{"the admin's"}},
                         {"LANG", std::string{"C.UTF-8"}},
                         {"SERVER_ONLY", std::string{"private"}}}};
  const int port = server.wait_listening();
  auto client = make_client(port, email, password);
  auto res = client.Post((list_path + "/env").c_str());
  REQUIRE(res);
  REQUIRE(res->status == 200);
  wait_for_status(client, "env", status_is("completed"));
  std::vector<std::string> names;
  for (const auto& line : lines_of(read_file(dir.file("data/env.txt"))))
    names.push_back(line.substr(0, line.find('=')));
  std::sort(names.begin(), names.end());
  CHECK(names
        == std::vector<std::string>{"CLUSTER_ACTION_NAME", "CLUSTER_ACTION_UID",
                                    "GREETING", "HOME", "LANG", "PATH"});
  CHECK_THAT(read_file(dir.file("data/env.txt")),
             Catch::Contains("HOME=" + dir.file("data") + "\n"));
  server.signal(SIGTERM);
  CHECK(describe_status(server.require_exit()) == "exit 0");
}
