// The real `cluster-actions-server` binary, started as a child process: the
// `listening on` line, configuration errors, the embedded default, a port in
// use, SIGTERM / SIGINT with live runs (exit 0, no process of a run left
// behind), SIGHUP (certificate reload, audit log reopened), the warning
// about a readable configuration, what a command's environment holds,
// and restarts: what the status store keeps, the data_dir lock and a
// store file that is not a store.
//
// Every child is owned by a guard that SIGKILLs and reaps it when a test
// ends early, and every wait polls a condition against a deadline.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
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
#include <sqlite3.h>

#include "app/tls.hpp"
#include "running_server.hpp"
#include "response_log.hpp"
#include "server_process.hpp"
#include "test_support.hpp"
#include "tls_probe.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using cluster_actions::testing::describe_status;
using cluster_actions::testing::env_changes;
using cluster_actions::testing::lines_of;
using cluster_actions::testing::poll_interval;
using cluster_actions::testing::read_file;
using cluster_actions::testing::server_process;
using cluster_actions::testing::steady;
using cluster_actions::testing::write_file;

namespace {

using cluster_actions::testing::cannot_check_here;
using cluster_actions::testing::status_is;
using cluster_actions::testing::temp_dir;
using cluster_actions::testing::wait_for_status;

constexpr const char* password_variable = "CLUSTER_ACTIONS_ADMIN_PASSWORD";
constexpr const char* email = "admin@example.com";
constexpr const char* password = "pass word:1";
const std::string list_path = "/v1/cluster/actions";

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
  cluster_actions::testing::record_responses(client);
  client.set_connection_timeout(5s);
  client.set_read_timeout(10s);
  client.set_basic_auth(user.c_str(), pass.c_str());
  return client;
}

/// A configuration for `listen` with one admin user and `actions`, and
/// the top-level keys of `settings`, written to `dir`/config.json; its
/// data_dir is `dir`/data. Returns the file.
std::string write_config(const temp_dir& dir, const std::string& listen,
                         json actions = json::object(),
                         const json& settings = json::object()) {
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
  config.update(settings);
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

// ---- Restarts: what the status store keeps ---------------------------------

namespace {

/// A server of `config` started in `dir`, listening; with a client.
struct started_server {
  server_process process;
  int port;
  httplib::Client client;

  started_server(const temp_dir& dir, const std::string& tag,
                 const std::string& config)
    : process(dir, tag, {"--config", config}, dir.path()),
      port(process.wait_listening()),
      client(make_client(port, email, password)) {}

  /// The action object of `name`'s run (which must exist).
  json action(const std::string& name) {
    auto res = client.Get((list_path + "/" + name).c_str());
    REQUIRE(res);
    INFO(res->body);
    REQUIRE(res->status == 200);
    return json::parse(res->body);
  }

  json post(const std::string& name, const std::string& body = {}) {
    auto res = client.Post((list_path + "/" + name).c_str(), body,
                           "application/json");
    REQUIRE(res);
    INFO(res->body);
    REQUIRE(res->status == 200);
    return json::parse(res->body);
  }

  void stop(int sig) {
    process.signal(sig);
    auto status = process.require_exit();
    INFO("stderr: " << process.err());
    if (sig == SIGKILL)
      CHECK(describe_status(status) == "signal 9");
    else
      CHECK(describe_status(status) == "exit 0");
  }
};

/// Waits until no process is `pid` (a zombie counts as gone).
void wait_gone(pid_t pid) {
  auto deadline = steady::now() + 10s;
  for (;;) {
    auto info = proc_stat(pid);
    if (!info || !is_live(*info))
      return;
    if (steady::now() > deadline)
      FAIL("process " << pid << " still alive");
    std::this_thread::sleep_for(poll_interval);
  }
}

/// Runs `sql` on the store file at `path` (the server must be stopped).
void change_store(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* message = nullptr;
  auto rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  INFO(sql << ": " << (message ? message : ""));
  sqlite3_free(message);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

} // namespace

TEST_CASE("after a SIGTERM restart: finished runs as they were, queued runs "
          "run, running ones aborted") {
  temp_dir dir;
  json actions = {
    {"quick", shell_action("echo 'result: the quick result'")},
    {"hold", shell_action("exec sleep 1000")},
    {"later", shell_action("echo ran > later.out")},
  };
  auto config = write_config(dir, "127.0.0.1:0", actions,
                             {{"max_running_actions", 1}});
  json quick, later;
  {
    started_server server{dir, "first", config};
    server.post("quick");
    quick = wait_for_status(server.client, "quick", status_is("completed"));
    CHECK(quick["result"] == "the quick result");
    CHECK(quick["started_by"] == email);
    server.post("hold");
    wait_for_status(server.client, "hold", status_is("running"));
    later = server.post("later");
    CHECK(later["status"] == "queued");
    server.stop(SIGTERM);
  }
  CHECK_FALSE(std::filesystem::exists(dir.file("data/later.out")));
  started_server server{dir, "second", config};
  CHECK(server.action("quick") == quick);
  auto hold = server.action("hold");
  CHECK(hold["status"] == "aborted");
  CHECK(hold["error_code"] == "shutdown");
  CHECK(hold.contains("end_time"));
  auto ran = wait_for_status(server.client, "later", status_is("completed"));
  CHECK(ran["action_uid"] == later["action_uid"]);
  CHECK(ran["creation_time"] == later["creation_time"]);
  CHECK(ran["started_by"] == email);
  CHECK(read_file(dir.file("data/later.out")) == "ran\n");
  server.stop(SIGTERM);
}

TEST_CASE("after a kill -9 restart: running and starting runs aborted as "
          "interrupted, cancelling ones cancelled, queued ones run") {
  temp_dir dir;
  auto stubborn = shell_action("trap '' TERM; echo $$ > stubborn.pid; "
                               "while :; do sleep 0.05; done");
  stubborn["cancel_grace_s"] = 600; // stays cancelling
  json actions = {
    {"hold", shell_action("echo $$ > hold.pid; exec sleep 1000")},
    {"starter", shell_action("echo $$ > starter.pid; exec sleep 1000")},
    {"stubborn", stubborn},
    {"later", shell_action("echo ran > later.out")},
  };
  auto config = write_config(dir, "127.0.0.1:0", actions,
                             {{"max_running_actions", 3}});
  json later;
  {
    started_server server{dir, "first", config};
    for (auto name : {"hold", "starter", "stubborn"}) {
      server.post(name);
      wait_for_status(server.client, name, status_is("running"));
    }
    auto cancel = server.client.Delete((list_path + "/stubborn").c_str());
    REQUIRE(cancel);
    CHECK(json::parse(cancel->body)["status"] == "cancelling");
    later = server.post("later");
    CHECK(later["status"] == "queued");
    std::vector<pid_t> pids;
    for (auto file : {"hold.pid", "starter.pid", "stubborn.pid"})
      pids.push_back(wait_for_pid_file(dir.file(std::string{"data/"} + file)));
    server.stop(SIGKILL);
    for (auto pid : pids)
      wait_gone(pid);
  }
  // As if the server had been killed while `starter` was starting.
  change_store(dir.file("data/state.db"),
               "UPDATE runs SET state = 'starting' WHERE name = 'starter'");
  started_server server{dir, "second", config};
  for (auto [name, was] : {std::pair{"hold", "running"},
                           std::pair{"starter", "starting"}}) {
    INFO(name);
    auto run = server.action(name);
    CHECK(run["status"] == "aborted");
    CHECK(run["error_code"] == "interrupted");
    CHECK_THAT(run["error_message"].get<std::string>(),
               Catch::Contains(std::string{"the server stopped while the "
                                           "action was "}
                               + was));
    CHECK(run.contains("end_time"));
  }
  CHECK(server.action("stubborn")["status"] == "cancelled");
  auto ran = wait_for_status(server.client, "later", status_is("completed"));
  CHECK(ran["action_uid"] == later["action_uid"]);
  server.stop(SIGTERM);
}

TEST_CASE("a stored status of a type no longer configured is dropped, with "
          "one line on stderr") {
  temp_dir dir;
  json actions = {{"kept", shell_action("exit 0")},
                  {"gone", shell_action("exit 0")}};
  auto with_both = write_config(dir, "127.0.0.1:0", actions);
  std::string uid;
  {
    started_server server{dir, "both", with_both};
    uid = server.post("gone")["action_uid"];
    wait_for_status(server.client, "gone", status_is("completed"));
    server.stop(SIGTERM);
  }
  actions.erase("gone");
  {
    started_server server{dir, "kept", write_config(dir, "127.0.0.1:0", actions)};
    CHECK(server.client.Get(list_path.c_str())->body == R"({"actions":[]})");
    server.stop(SIGTERM);
    std::vector<std::string> mentions;
    for (const auto& line : lines_of(server.process.err()))
      if (line.find("gone") != std::string::npos)
        mentions.push_back(line);
    REQUIRE(mentions.size() == 1);
    CHECK_THAT(mentions[0], Catch::Contains("'gone'"));
    CHECK_THAT(mentions[0], Catch::Contains(uid));
  }
  // Dropped from the store too: back in the configuration, it has no run.
  started_server server{dir, "again", with_both};
  auto res = server.client.Get((list_path + "/gone").c_str());
  REQUIRE(res);
  CHECK(res->status == 404);
  server.stop(SIGTERM);
}

TEST_CASE("a second server on the same data_dir exits 2, naming the lock "
          "file and the PID holding it, and touches nothing") {
  temp_dir dir;
  auto config = write_config(dir, "127.0.0.1:0", {{"quick", shell_action("exit 0")}});
  started_server first{dir, "first", config};
  first.post("quick");
  wait_for_status(first.client, "quick", status_is("completed"));
  const auto store = read_file(dir.file("data/state.db"));
  const auto lock = read_file(dir.file("data/server.lock"));
  CHECK(lock == std::to_string(first.process.pid()) + "\n");

  server_process second{dir, "second", {"--config", config}, dir.path()};
  const auto status = second.require_exit();
  const auto err = second.err();
  INFO("stderr: " << err);
  CHECK(describe_status(status) == "exit 2");
  CHECK_THAT(err, Catch::Contains(dir.file("data/server.lock")));
  CHECK_THAT(err, Catch::Contains("PID " + std::to_string(first.process.pid())));
  CHECK(listening_lines(second.out()) == 0);
  CHECK(read_file(dir.file("data/state.db")) == store);
  CHECK(read_file(dir.file("data/server.lock")) == lock);
  CHECK(first.action("quick")["status"] == "completed");
  first.stop(SIGTERM);
}

TEST_CASE("a store file that is not a store: exit 2, what is wrong and what "
          "to do, the file untouched") {
  temp_dir dir;
  auto config = write_config(dir, "127.0.0.1:0");
  std::filesystem::create_directories(dir.file("data"));
  const auto path = dir.file("data/state.db");
  const std::string garbage(10000, '\x07');
  write_file(path, garbage);
  server_process server{dir, "server", {"--config", config}, dir.path()};
  const auto status = server.require_exit();
  const auto err = server.err();
  INFO("stderr: " << err);
  CHECK(describe_status(status) == "exit 2");
  CHECK_THAT(err, Catch::Contains(path + ": is not an SQLite database"));
  CHECK_THAT(err, Catch::Contains("mv " + path));
  CHECK(listening_lines(server.out()) == 0);
  CHECK(read_file(path) == garbage);
}

namespace {

/// A tmpfs of `size` mounted on `path` for the life of the object, or
/// nothing where this process may not mount (then `reason` says why).
class small_tmpfs {
public:
  small_tmpfs(const std::string& path, const std::string& size) : path_(path) {
    std::filesystem::create_directories(path);
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str())
        == 0)
      mounted_ = true;
    else
      reason = std::strerror(errno);
  }
  ~small_tmpfs() {
    if (mounted_)
      ::umount2(path_.c_str(), MNT_DETACH);
  }
  small_tmpfs(const small_tmpfs&) = delete;
  small_tmpfs& operator=(const small_tmpfs&) = delete;

  explicit operator bool() const {
    return mounted_;
  }

  /// Fills the file system with `file` until no byte is left.
  void fill(const std::string& file) const {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const std::string block(64 * 1024, 'f');
    std::size_t chunk = block.size();
    while (chunk > 0) {
      if (::write(fd, block.data(), chunk) < 0) {
        REQUIRE(errno == ENOSPC);
        chunk /= 2; // the last bytes, in smaller pieces
      }
    }
    ::close(fd);
  }

  std::string reason;

private:
  std::string path_;
  bool mounted_ = false;
};

} // namespace

TEST_CASE("a full disk: a start is 503 storage_unavailable and changes "
          "nothing; GETs keep working") {
  temp_dir dir;
  small_tmpfs disk{dir.file("data"), "4m"};
  if (!disk) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string{ci} == "true")
      FAIL("cannot mount a tmpfs (" << disk.reason
                                    << "): the full-disk test needs it");
    WARN("cannot mount a tmpfs here (" << disk.reason
                                       << "): full disk not tested");
    return;
  }
  json note = shell_action("touch started-$CLUSTER_ACTION_UID");
  note["params"] = {{"text", {{"type", "string"}}}};
  auto config = write_config(dir, "127.0.0.1:0",
                             {{"quick", shell_action("exit 0")},
                              {"note", note}});
  started_server server{dir, "server", config};
  server.post("quick");
  wait_for_status(server.client, "quick", status_is("completed"));
  const auto before = server.client.Get(list_path.c_str())->body;

  disk.fill(dir.file("data/filler"));
  // A run with a large parameter needs more room in the store than is
  // left (the WAL grows by its pages).
  const json large = {{"text", std::string(60000, 'n')}};
  auto refused = server.client.Post((list_path + "/note").c_str(),
                                    large.dump(), "application/json");
  REQUIRE(refused);
  INFO(refused->body);
  CHECK(refused->status == 503);
  CHECK(refused->get_header_value("Retry-After") == "1");
  CHECK(json::parse(refused->body)["error_code"] == "storage_unavailable");
  auto list = server.client.Get(list_path.c_str());
  REQUIRE(list);
  CHECK(list->status == 200);
  CHECK(list->body == before);
  CHECK(server.client.Get((list_path + "/note").c_str())->status == 404);

  std::filesystem::remove(dir.file("data/filler"));
  auto run = server.post("note", large.dump());
  wait_for_status(server.client, "note", status_is("completed"));
  CHECK(std::filesystem::exists(
    dir.file("data/started-" + run["action_uid"].get<std::string>())));
  // Only the run admitted after the disk had room again ever started.
  std::size_t started = 0;
  for (const auto& entry : std::filesystem::directory_iterator{dir.file("data")})
    started += entry.path().filename().string().rfind("started-", 0) == 0;
  CHECK(started == 1);
  server.stop(SIGTERM);
}
