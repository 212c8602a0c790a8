// The supervisor and action actors on CAF's deterministic test scheduler:
// every message is delivered by `settle()`, time moves only by `advance()`.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/action_actor.hpp"
#include "actors/supervisor.hpp"
#include "messages/type_ids.hpp"
#include "test_support.hpp"

using namespace cluster_actions;
using namespace std::chrono_literals;
using s = action_state;

namespace {

struct fixture : testing::supervisor_fixture_base {
  explicit fixture(std::size_t max_running = 4,
                   std::vector<std::string> names = {"alpha", "beta", "gamma"}) {
    sup = spawn_supervisor(sys, fake_types(names), {max_running});
    settle();
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
  // When: accepted, left the queue, ended.
  CHECK(accepted->creation_time > 0);
  CHECK(accepted->start_time == 0);
  CHECK(done->creation_time == accepted->creation_time);
  CHECK(done->start_time >= done->creation_time);
  CHECK(done->end_time >= done->start_time);
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
  CHECK(cancelled->start_time == 0); // it never left the queue to start
  CHECK(cancelled->end_time >= cancelled->creation_time);
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

TEST_CASE("shutdown aborts running runs and cancels queued ones, and counts "
          "the aborted ones") {
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
  CHECK(aborted == 1); // alpha; beta was cancelled
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

namespace {

/// True when the supervisor itself answered: a value, or one of its own
/// errors. Anything else (a receiver that is gone, a timeout) the HTTP front
/// would have to answer with 503.
template <class T>
bool answered(const caf::expected<T>& reply) {
  return reply || reply.error().category() == caf::atom("actions");
}

} // namespace

TEST_CASE_METHOD(fixture, "a report from anyone but the run's worker is "
                          "counted and changes nothing") {
  REQUIRE(start("alpha"));
  start_running("beta");
  auto before = unexpected_action_events();
  // From the test itself, and from the worker of another type's run.
  self->send(work.runs["alpha"].owner, started_atom::value);
  caf::send_as(work.runs["beta"].worker, work.runs["alpha"].owner,
               progress_atom::value, 50.0);
  settle();
  CHECK(unexpected_action_events() == before + 2);
  auto status = get("alpha");
  CHECK(status->state == s::starting);
  CHECK(status->progress == 0.0);
  report_started("alpha");
  report_started("alpha"); // a second time: not in the running state's row
  CHECK(state_of("alpha") == s::running);
  CHECK(unexpected_action_events() == before + 3);
}

TEST_CASE("a failed action actor is replaced: its run is aborted, the other "
          "types keep theirs") {
  fixture f{2};
  f.start_running("alpha");
  f.start_running("beta");
  REQUIRE(f.start("gamma"));
  CHECK(f.state_of("gamma") == s::queued); // both slots are taken
  auto failed = f.work.runs["alpha"].owner;
  f.report_progress("alpha", 30);
  f.fail_actor_of("alpha");
  f.settle();
  auto status = f.get("alpha");
  REQUIRE(status);
  CHECK(status->state == s::aborted);
  CHECK(status->error_code == "internal_error");
  CHECK_THAT(status->error_message,
             Catch::StartsWith("the actor of action 'alpha' failed ("));
  CHECK(status->progress == 30.0);
  // The other types are untouched; alpha's slot went to the waiting run.
  CHECK(f.state_of("beta") == s::running);
  CHECK(f.state_of("gamma") == s::starting);
  CHECK(f.work.runs["beta"].received.empty());
  // Every request about alpha is answered by the supervisor.
  auto list = f.ask<std::vector<action_status>>(list_atom::value);
  REQUIRE(list);
  CHECK(list->size() == 3);
  CHECK(answered(f.cancel("alpha"))); // removes the aborted status
  CHECK(f.get("alpha").error() == action_error::not_found);
  // A new run of alpha goes through a fresh actor, once a slot is free.
  f.report_finished("beta", work_outcome::success());
  auto again = f.start("alpha");
  REQUIRE(again);
  CHECK(again->state == s::queued);
  CHECK(f.state_of("alpha") == s::starting);
  CHECK(f.work.runs["alpha"].owner != failed);
  CHECK(f.work.runs["alpha"].uid == again->action_uid);
  f.report_started("alpha");
  f.report_progress("alpha", 60);
  CHECK(f.get("alpha")->progress == 60.0);
  CHECK(f.cancel("alpha")->state == s::cancelling);
  CHECK(f.work.runs["alpha"].received == std::vector<std::string>{"stop"});
  f.report_finished("alpha", work_outcome::failure("stopped", "on request"));
  CHECK(f.state_of("alpha") == s::cancelled);
}

TEST_CASE_METHOD(fixture, "a work factory that throws fails its action "
                          "actor, which is replaced") {
  auto accepted = start("alpha", {{"target", {param_kind::string, "throw"}}});
  REQUIRE(accepted);
  auto status = get("alpha");
  CHECK(status->action_uid == accepted->action_uid);
  CHECK(status->state == s::aborted);
  CHECK(status->error_code == "internal_error");
  CHECK(work.runs.count("alpha") == 0);
  start_running("alpha");
  report_finished("alpha", work_outcome::success());
  CHECK(state_of("alpha") == s::completed);
}

TEST_CASE_METHOD(fixture, "a cancel that crosses the failure of its action "
                          "actor is answered") {
  start_running("alpha");
  // The supervisor takes the cancel before the actor's failure is
  // delivered: its request to the actor is answered by the failure.
  self->send(sup, cancel_atom::value, std::string{"alpha"});
  fail_actor_of("alpha");
  REQUIRE(sched.try_run_once()); // the supervisor: it asks the action actor
  settle();
  caf::expected<action_status> answer
    = caf::make_error(caf::sec::runtime_error);
  self->receive([&](action_status& status) { answer = std::move(status); },
                [&](caf::error& err) { answer = std::move(err); },
                caf::after(0s) >> [] { FAIL("no reply"); });
  REQUIRE(answer);
  CHECK(answer->state == s::aborted);
  CHECK(answer->error_code == "internal_error");
  CHECK(state_of("alpha") == s::aborted);
  CHECK(start("alpha"));
  CHECK(state_of("alpha") == s::starting);
}

TEST_CASE_METHOD(fixture, "a cancelling run whose action actor fails ends "
                          "cancelled") {
  start_running("alpha");
  CHECK(cancel("alpha")->state == s::cancelling);
  fail_actor_of("alpha");
  settle();
  auto status = get("alpha");
  CHECK(status->state == s::cancelled);
  CHECK(status->error_code.empty());
}

TEST_CASE("a queued run of a failed action actor goes on with a fresh one") {
  fixture f{1};
  f.start_running("beta"); // to know beta's actor
  f.report_finished("beta", work_outcome::success());
  auto failed = f.work.runs["beta"].owner;
  f.start_running("alpha");
  auto queued = f.start("beta", {{"target", {param_kind::string, "db2"}}});
  REQUIRE(queued);
  f.fail_actor_of("beta");
  f.settle();
  CHECK(f.state_of("beta") == s::queued);
  CHECK(f.get("beta")->action_uid == queued->action_uid);
  f.report_finished("alpha", work_outcome::success());
  CHECK(f.state_of("beta") == s::starting);
  CHECK(f.work.runs["beta"].owner != failed);
  CHECK(f.work.runs["beta"].uid == queued->action_uid);
  CHECK(f.work.runs["beta"].params.at("target").text == "db2");
}

TEST_CASE_METHOD(fixture, "a shutdown completes when an action actor fails "
                          "during it") {
  start_running("alpha");
  start_running("beta");
  self->send(sup, shutdown_atom::value, caf::timespan{2s});
  settle();
  fail_actor_of("alpha");
  settle();
  CHECK(get("alpha")->error_code == "internal_error");
  CHECK(self->mailbox().empty()); // beta is still stopping
  report_finished("beta", work_outcome::success());
  std::size_t aborted = 0;
  self->receive([&](std::size_t n) { aborted = n; },
                caf::after(0s) >> [] { FAIL("no shutdown reply"); });
  CHECK(aborted == 2);
  CHECK(get("beta")->error_code == "shutdown");
}

TEST_CASE("spawn_supervisor refuses invalid and duplicate names") {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing::testing_config(cfg)};
  testing::fake_work work;
  action_type type;
  type.work = work.factory();
  for (auto name : {"", "a b", "a/b", "caf\u00e9", "n\n"}) {
    type.name = name;
    INFO(name);
    CHECK_THROWS_AS(spawn_supervisor(sys, {type}), std::invalid_argument);
  }
  type.name = std::string(129, 'a');
  CHECK_THROWS_WITH(spawn_supervisor(sys, {type}),
                    Catch::Contains("is not valid: it must be 1 to 128 "
                                    "letters, digits, '_' or '-'"));
  type.name = "alpha";
  CHECK_THROWS_WITH(spawn_supervisor(sys, {type, type}),
                    "action type 'alpha' is registered twice");
  type.work = nullptr;
  CHECK_THROWS_WITH(spawn_supervisor(sys, {type}),
                    "action type 'alpha' has no work");
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
  // A run that gets a slot at once is admitted as `starting` (the POST
  // answers `queued`): what the API shows, and so the watcher, begins there.
  CHECK(*seen
        == std::vector<std::string>{"alpha starting 0", "alpha running 0",
                                    "alpha running 40", "alpha completed 100",
                                    "removed alpha"});

  // The supervisor serves on after its watcher has gone.
  self->send_exit(watcher, caf::exit_reason::user_shutdown);
  settle();
  seen->clear();
  report_progress("beta", 10);
  CHECK(seen->empty());
  CHECK(get("beta")->progress == 10.0);
}
