// Helpers the test files share: temporary directories, checks the machine
// cannot run, and the core of the fixtures that drive the supervisor on
// CAF's deterministic test scheduler.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <catch2/catch.hpp>

#include "actors/supervisor.hpp"
#include "messages/type_ids.hpp"

namespace cluster_actions::testing {

/// A fresh directory under the system's temporary one, named
/// `<prefix>XXXXXX`, removed with everything in it afterwards.
class temp_dir {
public:
  explicit temp_dir(const std::string& prefix = "cluster-actions-test-") {
    auto pattern
      = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX"))
          .string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::string file(const std::string& name) const {
    return (path_ / name).string();
  }
  std::string path() const {
    return path_.string();
  }

private:
  std::filesystem::path path_;
};

/// Says that the machine lacks what a check needs (cgroup v2, a free port):
/// a warning, after which the caller skips the check. Where the environment
/// variable CI is "true" it fails the test instead: CI machines have all
/// the suite needs, and a check skipped there would pass without running.
inline void cannot_check_here(const std::string& reason) {
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string_view{ci} == "true")
    FAIL(reason << " (CI=true: a CI machine must be able to run this check)");
  WARN(reason);
}

/// Sets up `cfg` for CAF's deterministic test scheduler.
inline caf::actor_system_config&
testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  add_message_types(cfg);
  return cfg;
}

/// What the fake work of one run saw: who to report to, and the stop and
/// kill requests it received.
struct fake_run {
  action_actor owner;
  std::string uid;
  action_params params;
  worker_actor worker;
  std::vector<std::string> received;
};

/// Work whose reports the test sends itself, as if it were the worker.
struct fake_work {
  std::map<std::string, fake_run> runs; // by action type

  work_factory factory() {
    return [this](caf::local_actor* spawner, action_actor owner,
                  const run_request& run) -> worker_actor {
      auto target = run.params.find("target");
      if (target != run.params.end() && target->second.text == "throw")
        throw std::runtime_error("the work factory broke");
      auto& record = runs[run.name];
      record = fake_run{owner, run.uid, run.params, {}, {}};
      auto* received = &record.received;
      record.worker = spawner->spawn(
        [received]() -> worker_actor::behavior_type {
          return {
            [received](stop_atom) { received->push_back("stop"); },
            [received](kill_atom) { received->push_back("kill"); },
          };
        });
      return record.worker;
    };
  }
};

/// An actor system on the deterministic test scheduler and a supervisor
/// `sup` (spawned by the deriving fixture): every message is delivered by
/// `settle()`, time moves only by `advance()`. A deriving fixture whose
/// members must outlive the supervisor calls `shutdown()` in its own
/// destructor.
struct supervisor_fixture_base {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing_config(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::scoped_actor self{sys};
  supervisor_actor sup;
  /// The work of the types `fake_types` makes.
  fake_work work;

  supervisor_fixture_base() = default;
  supervisor_fixture_base(const supervisor_fixture_base&) = delete;
  supervisor_fixture_base& operator=(const supervisor_fixture_base&) = delete;

  ~supervisor_fixture_base() {
    shutdown();
  }

  /// Stops the supervisor and delivers everything that follows; only the
  /// first call does anything.
  void shutdown() {
    if (!sup)
      return;
    self->send_exit(sup, caf::exit_reason::user_shutdown);
    settle();
    sup = nullptr;
  }

  void settle() {
    sched.run();
  }

  void advance(caf::timespan t) {
    sched.clock().advance_time(t);
    settle();
  }

  /// Sends a request to the supervisor, delivers everything, and returns
  /// the reply, which must be there by then.
  template <class T = action_status, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    using namespace std::chrono_literals;
    self->send(sup, std::forward<Ts>(xs)...);
    settle();
    caf::expected<T> result = caf::make_error(caf::sec::runtime_error);
    bool replied = false;
    self->receive([&](T& value) { result = std::move(value); replied = true; },
                  [&](caf::error& err) { result = std::move(err); replied = true; },
                  caf::after(0s) >> [] {});
    REQUIRE(replied);
    return result;
  }

  caf::expected<action_status> start(const std::string& name,
                                     action_params params = {}) {
    return ask(start_atom::value, name, std::move(params), std::string{});
  }

  caf::expected<action_status> get(const std::string& name) {
    return ask(get_atom::value, name);
  }

  caf::expected<action_status> cancel(const std::string& name) {
    return ask(cancel_atom::value, name);
  }

  action_state state_of(const std::string& name) {
    auto status = get(name);
    REQUIRE(status);
    return status->state;
  }

  /// Action types named `names` whose work is `work`: an optional string
  /// parameter `target`, a timeout of 60 s and a grace of 5 s.
  std::vector<action_type> fake_types(const std::vector<std::string>& names) {
    using namespace std::chrono_literals;
    std::vector<action_type> types;
    for (const auto& name : names) {
      action_type type;
      type.name = name;
      type.params = {{"target", {param_type::string, false}}};
      type.timeout = 60s;
      type.cancel_grace = 5s;
      type.work = work.factory();
      types.push_back(std::move(type));
    }
    return types;
  }

  /// Reports as the worker of `name`'s run (the action actor takes
  /// reports from its worker only).
  template <class... Ts>
  void report(const std::string& name, Ts&&... xs) {
    auto& run = work.runs.at(name);
    caf::send_as(run.worker, run.owner, std::forward<Ts>(xs)...);
    settle();
  }

  void report_started(const std::string& name) {
    report(name, started_atom::value);
  }

  void report_progress(const std::string& name, double percent) {
    report(name, progress_atom::value, percent);
  }

  void report_finished(const std::string& name, work_outcome outcome) {
    report(name, finished_atom::value, std::move(outcome));
  }

  /// Makes the action actor of `name` (the one its latest run reported
  /// to) fail, as an actor that dies of a bug would.
  void fail_actor_of(const std::string& name) {
    self->send_exit(work.runs.at(name).owner, caf::exit_reason::kill);
  }

  /// Starts `name` and brings its run to `running`.
  void start_running(const std::string& name) {
    REQUIRE(start(name));
    report_started(name);
    REQUIRE(state_of(name) == action_state::running);
  }
};

} // namespace cluster_actions::testing
