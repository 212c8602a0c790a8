// The supervisor and action actors on CAF's deterministic test scheduler:
// every message is delivered by `settle()`, time moves only by `advance()`.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/supervisor.hpp"
#include "messages/type_ids.hpp"
#include "test_support.hpp"

using namespace cluster_actions;
using namespace std::chrono_literals;
using s = action_state;

namespace {

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

struct fixture : testing::supervisor_fixture_base {
  fake_work work;

  explicit fixture(std::size_t max_running = 4,
                   std::vector<std::string> names = {"alpha", "beta", "gamma"}) {
    std::vector<action_type> types;
    for (auto& name : names) {
      action_type type;
      type.name = name;
      type.params = {{"target", {param_type::string, false}}};
      type.timeout = 60s;
      type.cancel_grace = 5s;
      type.work = work.factory();
      types.push_back(std::move(type));
    }
    sup = spawn_supervisor(sys, std::move(types), {max_running});
    settle();
  }

  ~fixture() {
    shutdown(); // while the members here are still alive
  }

  /// Reports, as the work of `name`'s run.
  template <class... Ts>
  void report(const std::string& name, Ts&&... xs) {
    auto& run = work.runs.at(name);
    self->send(run.owner, std::forward<Ts>(xs)...);
    settle();
  }

  void report_started(const std::string& name) {
    report(name, started_atom::value, work.runs.at(name).uid);
  }

  void report_progress(const std::string& name, double percent) {
    report(name, progress_atom::value, work.runs.at(name).uid, percent);
  }

  void report_finished(const std::string& name, work_outcome outcome) {
    report(name, finished_atom::value, work.runs.at(name).uid,
           std::move(outcome));
  }

  /// Starts `name` and brings its run to `running`.
  void start_running(const std::string& name) {
    REQUIRE(start(name));
    report_started(name);
    REQUIRE(state_of(name) == s::running);
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "nothing to show before any run") {
  auto list = ask<std::vector<action_status>>(list_atom::value);
  REQUIRE(list);
  CHECK(list->empty());
  CHECK(get("alpha").error() == action_error::not_found);
  CHECK(cancel("alpha").error() == action_error::not_found);
}

TEST_CASE_METHOD(fixture, "unknown names are refused on every request") {
  CHECK(get("delta").error() == action_error::unknown_action);
  CHECK(start("delta").error() == action_error::unknown_action);
  CHECK(cancel("delta").error() == action_error::unknown_action);
  CHECK(error_description(start("delta").error())
        == "no action type is named 'delta'");
}

TEST_CASE_METHOD(fixture, "a run goes queued, starting, running, completed") {
  auto accepted = start("alpha", {{"target", {param_kind::string, "db1"}}});
  REQUIRE(accepted);
  CHECK(accepted->name == "alpha");
  CHECK(accepted->state == s::queued);
  CHECK(accepted->progress == 0.0);
  CHECK(accepted->action_uid.size() == 36);
  // A slot was free: the work was started with the run's parameters.
  REQUIRE(work.runs.count("alpha") == 1);
  CHECK(work.runs["alpha"].uid == accepted->action_uid);
  CHECK(work.runs["alpha"].params.at("target").text == "db1");
  CHECK(state_of("alpha") == s::starting);
  report_started("alpha");
  CHECK(state_of("alpha") == s::running);
  report_progress("alpha", 40);
  CHECK(get("alpha")->progress == 40.0);
  report_progress("alpha", 30); // never lowered
  CHECK(get("alpha")->progress == 40.0);
  report_finished("alpha", work_outcome::success());
  auto done = get("alpha");
  CHECK(done->state == s::completed);
  CHECK(done->progress == 100.0);
  CHECK(done->action_uid == accepted->action_uid);
  CHECK(done->error_code.empty());
}

TEST_CASE_METHOD(fixture, "progress is clamped to 0..100") {
  start_running("alpha");
  report_progress("alpha", -5);
  CHECK(get("alpha")->progress == 0.0);
  report_progress("alpha", 250);
  CHECK(get("alpha")->progress == 100.0);
  CHECK(state_of("alpha") == s::running);
}

TEST_CASE_METHOD(fixture, "a live run conflicts with a new one of its type") {
  auto first = start("alpha");
  REQUIRE(first);
  for (auto live : {s::starting, s::running}) {
    INFO(to_string(live));
    if (live == s::running)
      report_started("alpha");
    CHECK(state_of("alpha") == live);
    auto second = start("alpha");
    CHECK(second.error() == action_error::conflict);
    CHECK(get("alpha")->action_uid == first->action_uid);
  }
  CHECK(start("beta")); // other types are not affected
}

TEST_CASE_METHOD(fixture, "a new run replaces the finished previous one") {
  start_running("alpha");
  auto old_uid = work.runs["alpha"].uid;
  report_finished("alpha", work_outcome::failure("boom", "it broke"));
  CHECK(state_of("alpha") == s::failed);
  auto second = start("alpha");
  REQUIRE(second);
  CHECK(second->action_uid != old_uid);
  auto shown = get("alpha");
  CHECK(shown->action_uid == second->action_uid);
  CHECK(shown->error_code.empty());
  auto list = ask<std::vector<action_status>>(list_atom::value);
  REQUIRE(list->size() == 1);
  CHECK(list->front().action_uid == second->action_uid);
}

TEST_CASE_METHOD(fixture, "a failed run keeps its error code and message") {
  start_running("alpha");
  report_finished("alpha", work_outcome::failure("command_failed", "exit 3"));
  auto status = get("alpha");
  CHECK(status->state == s::failed);
  CHECK(status->error_code == "command_failed");
  CHECK(status->error_message == "exit 3");
}

TEST_CASE_METHOD(fixture, "work that cannot start aborts the run") {
  REQUIRE(start("alpha"));
  report_finished("alpha", work_outcome::failure("spawn_failed", "no such file"));
  auto status = get("alpha");
  CHECK(status->state == s::aborted);
  CHECK(status->error_code == "spawn_failed");
}

TEST_CASE_METHOD(fixture, "work that dies without reporting fails the run") {
  start_running("alpha");
  self->send_exit(work.runs["alpha"].worker, caf::exit_reason::kill);
  settle();
  auto status = get("alpha");
  CHECK(status->state == s::failed);
  CHECK(status->error_code == "worker_exited");
  CHECK(start("alpha")); // and the type is usable again
}

TEST_CASE_METHOD(fixture, "removing a finished run's status") {
  start_running("alpha");
  report_finished("alpha", work_outcome::success());
  auto removed = cancel("alpha");
  REQUIRE(removed);
  CHECK(removed->state == s::completed);
  CHECK(get("alpha").error() == action_error::not_found);
  CHECK(cancel("alpha").error() == action_error::not_found);
  auto list = ask<std::vector<action_status>>(list_atom::value);
  CHECK(list->empty());
}

TEST_CASE_METHOD(fixture, "invalid parameters are refused and change nothing") {
  auto refused = start("alpha", {{"colour", {param_kind::string, "red"}}});
  CHECK(refused.error() == action_error::invalid_params);
  CHECK(get("alpha").error() == action_error::not_found);
  CHECK(work.runs.empty());
}

TEST_CASE("runs beyond max_running_actions wait in arrival order") {
  fixture f{1};
  REQUIRE(f.start("gamma"));
  REQUIRE(f.start("alpha"));
  REQUIRE(f.start("beta"));
  CHECK(f.state_of("gamma") == s::starting);
  CHECK(f.state_of("alpha") == s::queued);
  CHECK(f.state_of("beta") == s::queued);
  CHECK(f.work.runs.size() == 1);
  f.report_started("gamma");
  f.report_finished("gamma", work_outcome::success());
  CHECK(f.state_of("alpha") == s::starting);
  CHECK(f.state_of("beta") == s::queued);
  f.report_started("alpha");
  f.report_finished("alpha", work_outcome::success());
  CHECK(f.state_of("beta") == s::starting);
}

TEST_CASE("cancelling a queued run ends it at once and it never starts") {
  fixture f{1};
  f.start_running("alpha");
  REQUIRE(f.start("beta"));
  auto cancelled = f.cancel("beta");
  REQUIRE(cancelled);
  CHECK(cancelled->state == s::cancelled);
  CHECK(f.state_of("beta") == s::cancelled);
  f.report_finished("alpha", work_outcome::success());
  CHECK(f.state_of("beta") == s::cancelled);
  CHECK(f.work.runs.count("beta") == 0);
  CHECK(f.start("beta")); // a cancelled run is finished: it can be replaced
}

TEST_CASE_METHOD(fixture, "cancelling a running run stops, then kills, its work") {
  start_running("alpha");
  auto answer = cancel("alpha");
  REQUIRE(answer);
  CHECK(answer->state == s::cancelling);
  CHECK(work.runs["alpha"].received == std::vector<std::string>{"stop"});
  CHECK(start("alpha").error() == action_error::conflict);
  CHECK(cancel("alpha")->state == s::cancelling); // again: still 200
  advance(4s);
  CHECK(work.runs["alpha"].received.size() == 1);
  advance(1s); // the grace period is over
  CHECK(work.runs["alpha"].received
        == std::vector<std::string>{"stop", "kill"});
  CHECK(state_of("alpha") == s::cancelling); // until the work is gone
  report_finished("alpha", work_outcome::failure("command_killed", "SIGKILL"));
  auto status = get("alpha");
  CHECK(status->state == s::cancelled);
  CHECK(status->error_code.empty());
}

TEST_CASE_METHOD(fixture, "a cancel while starting takes effect once running") {
  REQUIRE(start("alpha"));
  CHECK(cancel("alpha")->state == s::starting);
  CHECK(work.runs["alpha"].received == std::vector<std::string>{"stop"});
  report_started("alpha");
  CHECK(state_of("alpha") == s::cancelling);
  report_finished("alpha", work_outcome::success());
  CHECK(state_of("alpha") == s::cancelled);
}

TEST_CASE_METHOD(fixture, "a run past its timeout is stopped and fails") {
  start_running("alpha");
  advance(59s);
  CHECK(work.runs["alpha"].received.empty());
  advance(1s);
  CHECK(work.runs["alpha"].received == std::vector<std::string>{"stop"});
  advance(5s);
  CHECK(work.runs["alpha"].received
        == std::vector<std::string>{"stop", "kill"});
  report_finished("alpha", work_outcome::failure("command_killed", "SIGTERM"));
  auto status = get("alpha");
  CHECK(status->state == s::failed);
  CHECK(status->error_code == "timeout");
  CHECK(status->error_message == "the action did not finish within 60 s and "
                                 "was stopped");
}

TEST_CASE_METHOD(fixture, "a finished run's timer does not touch the next run") {
  start_running("alpha");
  report_finished("alpha", work_outcome::success());
  advance(30s);
  start_running("alpha");
  advance(30s); // the first run's timeout fires now: stale, ignored
  CHECK(work.runs["alpha"].received.empty());
  CHECK(state_of("alpha") == s::running);
}

TEST_CASE("shutdown aborts running runs and cancels queued ones") {
  fixture f{1};
  f.start_running("alpha");
  REQUIRE(f.start("beta"));
  f.self->send(f.sup, shutdown_atom::value, caf::timespan{2s});
  f.settle();
  CHECK(f.state_of("beta") == s::cancelled);
  CHECK(f.state_of("alpha") == s::running);
  CHECK(f.work.runs["alpha"].received == std::vector<std::string>{"stop"});
  CHECK(f.start("gamma").error() == action_error::shutting_down);
  // No reply while a run is live...
  CHECK(f.self->mailbox().empty());
  f.report_finished("alpha", work_outcome::success());
  // ...and the reply once all are terminal.
  std::size_t aborted = 0;
  f.self->receive([&](std::size_t n) { aborted = n; },
                  caf::after(0s) >> [] { FAIL("no shutdown reply"); });
  CHECK(aborted == 2);
  auto status = f.get("alpha");
  CHECK(status->state == s::aborted);
  CHECK(status->error_code == "shutdown");
  CHECK(f.work.runs.count("beta") == 0);
}

TEST_CASE_METHOD(fixture, "shutdown with nothing live answers at once") {
  auto answer = ask<std::size_t>(shutdown_atom::value, caf::timespan{1s});
  REQUIRE(answer);
  CHECK(*answer == 0);
}

TEST_CASE_METHOD(fixture, "the list holds every type's run, ordered by name") {
  REQUIRE(start("gamma"));
  start_running("alpha");
  report_finished("alpha", work_outcome::success());
  auto list = ask<std::vector<action_status>>(list_atom::value);
  REQUIRE(list->size() == 2);
  CHECK(list->at(0).name == "alpha");
  CHECK(list->at(0).state == s::completed);
  CHECK(list->at(1).name == "gamma");
  CHECK(list->at(1).state == s::starting);
}

TEST_CASE_METHOD(fixture, "a watcher is told of every change; one that exits "
                          "does not hold the supervisor up") {
  auto seen = std::make_shared<std::vector<std::string>>();
  auto watcher = sys.spawn([seen]() -> status_watcher_actor::behavior_type {
    return {
      [seen](changed_atom, const action_status& status) {
        seen->push_back(status.name + " " + std::string{to_string(status.state)}
                        + " " + std::to_string(static_cast<int>(status.progress)));
      },
      [seen](removed_atom, const std::string& name) {
        seen->push_back("removed " + name);
      },
    };
  });
  start_running("beta"); // before the subscription: sent as it stands
  self->send(sup, subscribe_atom::value, watcher);
  settle();
  CHECK(*seen == std::vector<std::string>{"beta running 0"});
  seen->clear();

  start_running("alpha");
  report_progress("alpha", 40);
  report_finished("alpha", work_outcome::success());
  REQUIRE(cancel("alpha"));
  CHECK(*seen
        == std::vector<std::string>{"alpha queued 0", "alpha starting 0",
                                    "alpha running 0", "alpha running 40",
                                    "alpha completed 100", "removed alpha"});

  // The supervisor serves on after its watcher has gone.
  self->send_exit(watcher, caf::exit_reason::user_shutdown);
  settle();
  seen->clear();
  report_progress("beta", 10);
  CHECK(seen->empty());
  CHECK(get("beta")->progress == 10.0);
}
