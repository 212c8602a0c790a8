// The real server binary killed with SIGKILL in the middle of a run: no
// process of the run may outlive it, and a restart on the same data_dir
// comes up cleanly, showing the run as interrupted.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "running_server.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

using cluster_actions::testing::cannot_check_here;
using cluster_actions::testing::status_is;
using cluster_actions::testing::temp_dir;
using cluster_actions::testing::wait_for_status;

namespace {

const std::string list_path = "/v1/cluster/actions";

/// Whether `pid` is a live process (a zombie counts as gone).
bool alive(pid_t pid) {
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text;
  if (!std::getline(stat, text))
    return false;
  auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size()
         && text[paren + 2] != 'Z';
}

/// Reaps whatever exited among our children (the test is a subreaper, so
/// orphans of the killed server land here).
void reap() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

bool gone_within(pid_t pid, std::chrono::milliseconds within) {
  auto deadline = clock_type::now() + within;
  while (clock_type::now() < deadline) {
    reap();
    if (!alive(pid))
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return !alive(pid);
}

pid_t read_pid(const std::string& path) {
  auto deadline = clock_type::now() + 10s;
  while (clock_type::now() < deadline) {
    std::ifstream in{path};
    pid_t pid = 0;
    if (in >> pid && pid > 0)
      return pid;
    std::this_thread::sleep_for(20ms);
  }
  FAIL("no pid in " << path);
  return 0;
}

/// The server binary started on `config`; knows its port from the line
/// "listening on http://127.0.0.1:PORT" it prints.
struct server_process {
  pid_t pid = -1;
  int port = 0;

  explicit server_process(const std::string& config) {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      ::execl(CLUSTER_ACTIONS_SERVER, CLUSTER_ACTIONS_SERVER, "--config",
              config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    std::string text;
    char c;
    while (text.find('\n') == std::string::npos && ::read(out[0], &c, 1) == 1)
      text += c;
    ::close(out[0]); // later output goes nowhere; the server ignores SIGPIPE
    auto colon = text.rfind(':');
    REQUIRE(text.rfind("listening on http://", 0) == 0);
    port = std::atoi(text.c_str() + colon + 1);
    REQUIRE(port > 0);
  }

  httplib::Client client() const {
    httplib::Client c{"127.0.0.1", port};
    c.set_basic_auth("admin@example.com", "pw");
    c.set_connection_timeout(5s);
    c.set_read_timeout(10s);
    return c;
  }

  int wait() {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    pid = -1;
    return status;
  }

  ~server_process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

std::string write_config(const temp_dir& dir) {
  nlohmann::json config = {
    {"listen", "127.0.0.1:0"},
    {"data_dir", dir.file("data")},
    {"tls", false},
    {"users", {{{"email", "admin@example.com"}, {"password", "pw"}, {"role", "admin"}}}},
    {"actions",
     {{"sleeper",
       {{"command",
         {"/bin/sh", "-c",
          "echo $$ > " + dir.file("sleeper.pid") + "; exec /bin/sleep 1000"}},
        {"cancel_grace_s", 1}}},
      // Its grandchild leaves the session and process group.
      {"escaper",
       {{"command",
         {"/bin/sh", "-c",
          "echo $$ > " + dir.file("escaper.pid")
            + "; /usr/bin/setsid /bin/sh -c 'echo $$ > "
            + dir.file("escaped.pid")
            + "; exec /bin/sleep 1000' & exec /bin/sleep 1000"}},
        {"cancel_grace_s", 1}}}}},
  };
  auto path = dir.file("config.json");
  std::ofstream{path} << config.dump();
  return path;
}

/// Starts a run of `type` and returns the pid its command wrote to
/// `pid_file` in `dir`.
pid_t start_run(httplib::Client& client, const temp_dir& dir,
                const std::string& type, const std::string& pid_file) {
  auto started = client.Post((list_path + "/" + type).c_str());
  REQUIRE(started);
  REQUIRE(started->status == 200);
  auto pid = read_pid(dir.file(pid_file));
  REQUIRE(alive(pid));
  return pid;
}

} // namespace

TEST_CASE("kill -9 of the server leaves no run behind; a restart is clean "
          "and shows the run interrupted") {
  // Orphans of the killed server are reparented here, so that they can be
  // reaped and seen gone.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  temp_dir dir{"crash-"};
  auto config = write_config(dir);
  {
    server_process server{config};
    auto client = server.client();
    auto sleeper = start_run(client, dir, "sleeper", "sleeper.pid");
    REQUIRE(::kill(server.pid, SIGKILL) == 0);
    auto status = server.wait();
    CHECK(WIFSIGNALED(status));
    CHECK(gone_within(sleeper, 5s));
  }
  std::filesystem::remove(dir.file("sleeper.pid"));
  {
    server_process server{config};
    auto client = server.client();
    auto list = client.Get(list_path.c_str());
    REQUIRE(list);
    CHECK(list->status == 200);
    auto actions = nlohmann::json::parse(list->body).at("actions");
    REQUIRE(actions.size() == 1);
    CHECK(actions[0]["name"] == "sleeper");
    CHECK(actions[0]["status"] == "aborted");
    CHECK(actions[0]["error_code"] == "interrupted");
    auto sleeper = start_run(client, dir, "sleeper", "sleeper.pid");
    // An orderly stop ends the run too.
    REQUIRE(::kill(server.pid, SIGTERM) == 0);
    auto status = server.wait();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(gone_within(sleeper, 5s));
  }
}

namespace {

/// Whether the server put `pid` in a cgroup of its own (cgroup v2 writable).
bool in_run_cgroup(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/cgroup"};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  return text.find("/cluster-actions-") != std::string::npos;
}

} // namespace

TEST_CASE("a grandchild that leaves the process group") {
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  temp_dir dir{"crash-"};
  auto config = write_config(dir);
  server_process server{config};
  auto client = server.client();
  auto escaped = start_run(client, dir, "escaper", "escaped.pid");
  if (!in_run_cgroup(escaped)) {
    // Without a writable cgroup v2 hierarchy only the process group is
    // guaranteed (README, "Crashes"); clean up and say so.
    ::kill(escaped, SIGKILL);
    cannot_check_here(
      "no cgroup support here: an escaped grandchild outlives its run");
    return;
  }
  SECTION("is stopped on cancel") {
    auto cancel = client.Delete((list_path + "/escaper").c_str());
    REQUIRE(cancel);
    CHECK(cancel->status == 200);
    wait_for_status(client, "escaper", status_is("cancelled"));
    CHECK(gone_within(escaped, 5s));
  }
  SECTION("is stopped by the next start after a kill -9 of the server") {
    auto leader = read_pid(dir.file("escaper.pid"));
    REQUIRE(::kill(server.pid, SIGKILL) == 0);
    server.wait();
    // The death signal has killed the run's leader; the escaped process
    // had none, and outlives the server...
    CHECK(gone_within(leader, 5s));
    CHECK(alive(escaped));
    // ...until a server starts and removes what dead servers left behind.
    server_process restarted{config};
    CHECK(gone_within(escaped, 5s));
  }
}
