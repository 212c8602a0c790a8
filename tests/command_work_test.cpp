// The command work and its process monitor, with real processes.
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include "actors/command_work.hpp"
#include "messages/type_ids.hpp"
#include "test_support.hpp"

using namespace cluster_actions;
using namespace std::chrono_literals;
using cluster_actions::testing::temp_dir;

namespace {

/// How long a test waits for any one thing before it fails.
constexpr caf::timespan deadline = 10s;

struct config : caf::actor_system_config {
  config() {
    cluster_actions::add_message_types(*this);
  }
};

/// Sets (a value) or removes (nullopt) variables of this process's
/// environment, and puts back what was there before when it goes.
class environment_change {
public:
  using change = std::pair<std::string, std::optional<std::string>>;

  environment_change(std::initializer_list<change> wanted) {
    for (const auto& [name, value] : wanted) {
      const char* before = std::getenv(name.c_str());
      saved_.emplace_back(name, before ? std::optional<std::string>{before}
                                       : std::nullopt);
      apply(name, value);
    }
  }
  ~environment_change() {
    for (const auto& [name, value] : saved_)
      apply(name, value);
  }
  environment_change(const environment_change&) = delete;
  environment_change& operator=(const environment_change&) = delete;

private:
  static void apply(const std::string& name,
                    const std::optional<std::string>& value) {
    if (value)
      ::setenv(name.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }

  std::vector<change> saved_;
};

/// What a worker reported to its owner.
struct report {
  enum kind_t { nothing, started, progress, finished } kind = nothing;
  double percent = 0;
  work_outcome outcome;
};

/// The whole story of a run that got to its end.
struct run_result {
  std::vector<double> progress;
  work_outcome outcome;
};

/// What the monitor reported about one process.
struct process_events {
  std::optional<pid_t> pid;
  std::optional<std::string> failure;
  std::vector<std::string> out;
  std::vector<std::string> err;
  std::optional<process_exit> exit;
};

bool alive(pid_t pid) {
  return kill(pid, 0) == 0 || errno != ESRCH;
}

pid_t read_pid(const std::filesystem::path& file) {
  std::ifstream in{file};
  pid_t pid = 0;
  in >> pid;
  REQUIRE(pid > 0);
  return pid;
}

/// Polls until `pid` is gone, or the deadline.
bool gone_soon(pid_t pid) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (alive(pid) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  return !alive(pid);
}

struct fixture {
  fixture() {
    become_subreaper();
  }

  /// `script` run by /bin/sh in the scratch directory.
  command_spec sh(std::string script) const {
    return {{"/bin/sh", "-c", std::move(script)}, dir.path()};
  }

  /// Spawns the worker of a run, owned by `owner` (the test by default).
  worker_actor start(command_spec spec, action_params params = {},
                     caf::scoped_actor* owner = nullptr) {
    auto& parent = owner ? *owner : self;
    auto work = command_work(std::move(spec), monitor);
    return work(parent.ptr(), caf::actor_cast<action_actor>(parent),
                run_request{"test_action", uid, std::move(params)});
  }

  /// The next report to `owner`, or `nothing` after `timeout`.
  report next_report(caf::timespan timeout = deadline,
                     caf::scoped_actor* owner = nullptr) {
    auto& receiver = owner ? *owner : self;
    report result;
    receiver->receive(
      [&](started_atom) { result.kind = report::started; },
      [&](progress_atom, double percent) {
        result.kind = report::progress;
        result.percent = percent;
      },
      [&](finished_atom, const work_outcome& outcome) {
        result.kind = report::finished;
        result.outcome = outcome;
      },
      caf::after(timeout) >> [] {});
    return result;
  }

  /// Runs `spec` to its end, expecting it to start.
  run_result run(command_spec spec, action_params params = {}) {
    start(std::move(spec), std::move(params));
    REQUIRE(next_report().kind == report::started);
    run_result result;
    for (;;) {
      auto next = next_report();
      REQUIRE((next.kind == report::progress || next.kind == report::finished));
      if (next.kind == report::finished) {
        result.outcome = next.outcome;
        return result;
      }
      result.progress.push_back(next.percent);
    }
  }

  /// Receives monitor events into `events` until `done(events)`; false when
  /// the deadline came first.
  template <class Predicate>
  bool receive_events(process_events& events, Predicate done) {
    auto until = std::chrono::steady_clock::now() + deadline;
    bool timed_out = false;
    while (!done(events) && !timed_out) {
      self->receive(
        [&](proc_spawned_atom, pid_t pid) { events.pid = pid; },
        [&](proc_failed_atom, const std::string& message) {
          events.failure = message;
        },
        [&](proc_stdout_atom, const std::string& line) {
          events.out.push_back(line);
        },
        [&](proc_stderr_atom, const std::string& line) {
          events.err.push_back(line);
        },
        [&](proc_exited_atom, const process_exit& exit) { events.exit = exit; },
        caf::after(until - std::chrono::steady_clock::now()) >>
          [&] { timed_out = true; });
    }
    return !timed_out;
  }

  process_listener listener() {
    return caf::actor_cast<process_listener>(self);
  }

  temp_dir dir;
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::string uid = "run-1";
  // Last, so that it goes first: the system waits for the workers, which
  // wait for their processes.
  std::shared_ptr<process_monitor> monitor =
    std::make_shared<process_monitor>();
};

} // namespace

TEST_CASE_METHOD(fixture, "the last result line is the run's result",
                 "[command]") {
  SECTION("trimmed, the last one counts, also when the command fails") {
    auto result = run(sh("echo 'result: first'\n"
                         "echo 'not a result: x'\n"
                         "echo 'result:   the bundle.tar.gz  '\n"
                         "exit 3\n"));
    CHECK_FALSE(result.outcome.succeeded);
    CHECK(result.outcome.result == "the bundle.tar.gz");
  }
  SECTION("none without a result line") {
    CHECK(run(sh("echo 'progress: 100'\n")).outcome.result.empty());
  }
  SECTION("a line cut inside a character loses the whole character") {
    // Lines are read up to 4,096 bytes: "result: " (8), 4,087 bytes, then
    // a two-byte character whose second byte is cut off.
    auto result_line = [](int ascii_bytes) {
      return "a=$(printf '%" + std::to_string(ascii_bytes)
             + "s' '' | tr ' ' a); printf 'result: %s\\303\\251tail\\n' \"$a\"";
    };
    auto cut = run(sh(result_line(4087)));
    CHECK(cut.outcome.result == std::string(4087, 'a'));
    auto whole = run(sh(result_line(4086)));
    CHECK(whole.outcome.result == std::string(4086, 'a') + "\xC3\xA9");
  }
}

TEST_CASE_METHOD(fixture, "progress lines become progress reports",
                 "[command]") {
  auto result = run(sh("echo 'progress: -5'\n"
                       "echo 'progress: 10'\n"
                       "echo 'not progress'\n"
                       "echo 'progress: 5'\n"
                       "echo 'progress:42.5'\n"
                       "echo 'progress: 42.5  '\n"
                       "echo 'progress: 50%'\n"
                       "echo 'progress: 150'\n"
                       "echo 'progress: 100'\n"));
  CHECK(result.progress == std::vector<double>{10, 42.5, 100});
  CHECK(result.outcome.succeeded);
}

TEST_CASE_METHOD(fixture, "parameters reach the command in its environment",
                 "[command]") {
  auto marker = dir.file("executed");
  auto target = "$(touch " + marker + ")";
  environment_change server_env{{"ACTION_PARAM_TARGET", "the server's"}};
  auto result = run(sh("echo \"$CLUSTER_ACTION_NAME|$CLUSTER_ACTION_UID|"
                       "$ACTION_PARAM_MAX_COUNT|$ACTION_PARAM_TARGET\" >&2\n"
                       "exit 1"),
                    {{"target", {param_kind::string, target}},
                     {"max-count", {param_kind::integer, "3"}}});
  CHECK(result.outcome.error_code == "command_failed");
  CHECK(result.outcome.error_message
        == "command exited with status 1: test_action|run-1|3|" + target);
  CHECK_FALSE(std::filesystem::exists(marker));
}

TEST_CASE_METHOD(fixture, "a command gets the fixed list, its type's "
                          "additions and its run's variables, nothing else",
                 "[command][environment]") {
  environment_change server_env{
    {"LANG", "C.UTF-8"},
    {"LC_ALL", std::nullopt},
    {"TZ", "Europe/Paris"},
    {"PATH", "/opt/server/bin:/usr/bin"},
    {"HOME", "/root"},
    {"CLUSTER_ACTIONS_ADMIN_PASSWORD", "the admin's secret"},
    {"COMMAND_TEST_SHARED", "shared value"},
    {"COMMAND_TEST_PRIVATE", "not for commands"},
    {"CLUSTER_ACTION_NAME", "the server's"},
  };
  const auto out = std::filesystem::path{dir.file("env.txt")};
  command_spec spec{{PRINT_ENVIRONMENT, out.string()}, dir.path()};
  spec.environment.fixed = {{"GREETING", "hello there"}, {"TZ", "UTC"}};
  spec.environment.inherited = {"COMMAND_TEST_SHARED", "COMMAND_TEST_ABSENT"};
  auto result = run(spec, {{"max-count", {param_kind::integer, "3"}}});
  REQUIRE(result.outcome.succeeded);

  std::map<std::string, std::string> received;
  std::ifstream in{out};
  for (std::string line; std::getline(in, line);) {
    auto equals = line.find('=');
    REQUIRE(equals != std::string::npos);
    CHECK(received.emplace(line.substr(0, equals), line.substr(equals + 1))
            .second);
  }
  const std::map<std::string, std::string> expected{
    {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
    {"LANG", "C.UTF-8"},
    {"TZ", "UTC"},
    {"HOME", dir.path()},
    {"GREETING", "hello there"},
    {"COMMAND_TEST_SHARED", "shared value"},
    {"CLUSTER_ACTION_NAME", "test_action"},
    {"CLUSTER_ACTION_UID", "run-1"},
    {"ACTION_PARAM_MAX_COUNT", "3"},
  };
  CHECK(received == expected);
}

TEST_CASE("the environment's names: parameters, and what a type may add",
          "[environment]") {
  CHECK(param_variable("count") == "ACTION_PARAM_COUNT");
  CHECK(param_variable("max-count.v2") == "ACTION_PARAM_MAX_COUNT_V2");
  CHECK(environment_name_problem("GREETING").empty());
  CHECK(environment_name_problem("_x1").empty());
  CHECK(environment_name_problem("PATH").empty());
  for (const char* bad : {"", "1ABC", "A-B", "A=B", "A B"}) {
    INFO(bad);
    CHECK_THAT(environment_name_problem(bad),
               Catch::StartsWith("not a variable name"));
  }
  CHECK_THAT(environment_name_problem("CLUSTER_ACTIONS_ADMIN_PASSWORD"),
             Catch::Contains("never passed to a command"));
  for (const char* own :
       {"CLUSTER_ACTION_NAME", "CLUSTER_ACTION_UID", "ACTION_PARAM_X"}) {
    INFO(own);
    CHECK(environment_name_problem(own) == "is set by the server for each run");
  }
}

TEST_CASE_METHOD(fixture, "a command can never be given the admin password",
                 "[command][environment]") {
  command_spec fixed{{"/bin/true"}, dir.path()};
  fixed.environment.fixed = {{"CLUSTER_ACTIONS_ADMIN_PASSWORD", "x"}};
  CHECK_THROWS_WITH(command_work(fixed, monitor),
                    Catch::Contains("CLUSTER_ACTIONS_ADMIN_PASSWORD"));
  command_spec inherited{{"/bin/true"}, dir.path()};
  inherited.environment.inherited = {"CLUSTER_ACTIONS_ADMIN_PASSWORD"};
  CHECK_THROWS_AS(command_work(inherited, monitor), std::invalid_argument);
  command_spec twice{{"/bin/true"}, dir.path()};
  twice.environment.fixed = {{"GREETING", "x"}};
  twice.environment.inherited = {"GREETING"};
  CHECK_THROWS_WITH(command_work(twice, monitor),
                    Catch::Contains("both fixed and inherited"));
}

TEST_CASE_METHOD(fixture, "a failing command quotes its last stderr line",
                 "[command]") {
  auto result = run(sh("echo first >&2\n"
                       "echo last >&2\n"
                       "echo >&2\n"
                       "echo 'on stdout'\n"
                       "exit 3"));
  CHECK_FALSE(result.outcome.succeeded);
  CHECK(result.outcome.error_code == "command_failed");
  CHECK(result.outcome.error_message == "command exited with status 3: last");

  auto silent = run(sh("exit 4"));
  CHECK(silent.outcome.error_message == "command exited with status 4");
}

TEST_CASE_METHOD(fixture, "a command killed by a signal fails", "[command]") {
  auto result = run(sh("echo dying >&2\n"
                       "kill -KILL $$"));
  CHECK(result.outcome.error_code == "command_killed");
  CHECK(result.outcome.error_message
        == "command was killed by signal 9 (SIGKILL): dying");
}

TEST_CASE_METHOD(fixture, "a command that cannot start never starts",
                 "[command]") {
  start({{"/nonexistent/command"}, {}});
  auto missing = next_report();
  REQUIRE(missing.kind == report::finished);
  CHECK(missing.outcome.error_code == "spawn_failed");
  CHECK(missing.outcome.error_message
        == "cannot execute /nonexistent/command: No such file or directory");

  start({{"/bin/true"}, "/nonexistent/dir"});
  auto nowhere = next_report();
  REQUIRE(nowhere.kind == report::finished);
  CHECK(nowhere.outcome.error_code == "spawn_failed");
  CHECK(nowhere.outcome.error_message
        == "cannot change to working directory /nonexistent/dir: "
           "No such file or directory");
}

TEST_CASE_METHOD(fixture, "stop terminates the command, even before it runs",
                 "[command]") {
  auto worker = start(sh("sleep 1000"));
  self->send(worker, stop_atom::value);
  REQUIRE(next_report().kind == report::started);
  auto end = next_report();
  REQUIRE(end.kind == report::finished);
  CHECK(end.outcome.error_code == "command_killed");
  CHECK(end.outcome.error_message
        == "command was killed by signal 15 (SIGTERM)");
}

TEST_CASE_METHOD(fixture, "a command that ignores stop dies on kill",
                 "[command]") {
  // The shell says, through a progress line, that it got SIGTERM and went
  // on; the SIGTERM to its group ends each `sleep`, and it starts another.
  // (Its stderr goes nowhere: its notice of a `sleep` "Terminated" would
  // end the error message.)
  auto worker = start(sh("exec 2>/dev/null\n"
                         "trap 'echo \"progress: 2\"' TERM\n"
                         "echo 'progress: 1'\n"
                         "while :; do sleep 1000 & wait $!; done"));
  REQUIRE(next_report().kind == report::started);
  REQUIRE(next_report().kind == report::progress); // the trap is set
  self->send(worker, stop_atom::value);
  auto ignored = next_report();
  REQUIRE(ignored.kind == report::progress);
  CHECK(ignored.percent == 2);
  self->send(worker, kill_atom::value);
  auto end = next_report();
  REQUIRE(end.kind == report::finished);
  CHECK(end.outcome.error_message
        == "command was killed by signal 9 (SIGKILL)");
}

TEST_CASE_METHOD(fixture, "a run ends only when its whole group is gone",
                 "[command]") {
  auto result = run(sh("sleep 1000 &\n"
                       "echo $! > background.pid\n"
                       "exit 0"));
  CHECK(result.outcome.succeeded);
  CHECK_FALSE(alive(read_pid(dir.file("background.pid"))));
}

TEST_CASE_METHOD(fixture, "a worker whose owner goes down kills its command",
                 "[command]") {
  pid_t leader;
  pid_t background;
  {
    caf::scoped_actor owner{sys};
    start(sh("sleep 1000 &\n"
             "echo $! > background.pid\n"
             "echo $$ > leader.pid\n"
             "echo 'progress: 1'\n"
             "wait"),
          {}, &owner);
    REQUIRE(next_report(deadline, &owner).kind == report::started);
    REQUIRE(next_report(deadline, &owner).kind == report::progress);
    leader = read_pid(dir.file("leader.pid"));
    background = read_pid(dir.file("background.pid"));
  }
  CHECK(gone_soon(leader));
  CHECK(gone_soon(background));
}

TEST_CASE_METHOD(fixture, "the monitor splits output into lines and cuts them",
                 "[monitor]") {
  monitor->start({{"/bin/sh", "-c",
                   "printf 'one\\n\\ntwo\\n'\n"
                   "head -c 5000 /dev/zero | tr '\\0' x\n"
                   "printf '\\nlast'\n"
                   "echo oops >&2\n"
                   "exit 7"},
                  {"PATH=/usr/bin:/bin"},
                  {}},
                 listener());
  process_events events;
  REQUIRE(receive_events(events, [](auto& ev) { return ev.exit.has_value(); }));
  CHECK(events.pid.has_value());
  CHECK(events.out
        == std::vector<std::string>{"one", "", "two", std::string(4096, 'x'),
                                    "last"});
  CHECK(events.err == std::vector<std::string>{"oops"});
  CHECK(events.exit->code == 7);
  CHECK(events.exit->signal == 0);
}

TEST_CASE_METHOD(fixture, "destroying the monitor kills the running groups",
                 "[monitor]") {
  monitor->start({{"/bin/sh", "-c", "sleep 1000 & echo $!; wait"},
                  {"PATH=/usr/bin:/bin"},
                  {}},
                 listener());
  process_events events;
  REQUIRE(receive_events(events, [](auto& ev) { return !ev.out.empty(); }));
  REQUIRE(events.pid.has_value());
  auto background = static_cast<pid_t>(std::stoi(events.out.front()));
  REQUIRE(alive(*events.pid));
  REQUIRE(alive(background));
  monitor.reset();
  CHECK_FALSE(alive(*events.pid));
  CHECK_FALSE(alive(background));
  REQUIRE(receive_events(events, [](auto& ev) { return ev.exit.has_value(); }));
  CHECK(events.exit->signal == SIGKILL);
}
