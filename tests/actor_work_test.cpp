// C++ action types (`actor_work`) through the real supervisor and action
// actors, on CAF's deterministic test scheduler: the same state machine,
// conflict, cancel and timeout behaviour as command actions. Messages are
// delivered by `settle()`, time moves only by `advance()`; the test work
// takes one step per second.
#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/actor_work.hpp"
#include "actors/supervisor.hpp"
#include "messages/type_ids.hpp"
#include "test_support.hpp"

using namespace cluster_actions;
using namespace std::chrono_literals;
using s = action_state;

namespace {

using step_atom = caf::atom_constant<caf::atom("t_step")>;
using late_start_atom = caf::atom_constant<caf::atom("t_late")>;

/// What the test work of the latest run of a type saw.
struct seen_run {
  std::string name;
  std::string uid;
  std::string target;
  caf::actor host;
  action_actor owner;
};

struct stepper_state {
  int step = 0;
  int steps = 4;
  int fail_at = 0;
};

/// Work in `steps` steps of a second each (parameter `steps`, default 4),
/// reporting progress after each. Parameters choose its misbehaviour:
/// - `start`: "now" (default), "late" (reports started after a second),
///   "never" (fails before starting), "vanish" (quits without reporting at
///   its first step), "throw" (throws at its first step);
/// - `on_stop`: "poll" (default: no stop handler, checks
///   `stop_requested()` at each step), "handle" (a stop handler that
///   finishes at once), "ignore" (a stop handler that carries on; it also
///   traps exits and handles `kill_atom`, and is killed all the same);
/// - `fail_at`: the step that fails (0: none).
work_factory stepper(std::map<std::string, seen_run>* seen) {
  return actor_work([seen](caf::stateful_actor<stepper_state>* self,
                           work_context ctx) -> caf::behavior {
    self->state.steps = std::stoi(ctx.param("steps", "4"));
    self->state.fail_at = std::stoi(ctx.param("fail_at", "0"));
    auto start = ctx.param("start", "now");
    auto on_stop = ctx.param("on_stop", "poll");
    (*seen)[ctx.name()] = seen_run{ctx.name(), ctx.uid(), ctx.param("target"),
                                   caf::actor_cast<caf::actor>(self),
                                   ctx.owner()};
    if (start == "never") {
      ctx.fail("no_input", "nothing to work on");
      return {};
    }
    auto begin = [self, ctx] {
      ctx.started();
      self->delayed_send(self, 1s, step_atom::value);
    };
    if (start == "late")
      self->delayed_send(self, 1s, late_start_atom::value);
    else
      begin();
    caf::message_handler work{
      [begin](late_start_atom) { begin(); },
      [self, ctx, start](step_atom) {
        auto& st = self->state;
        if (ctx.stop_requested())
          return ctx.fail("stopped", "stopped before step "
                                       + std::to_string(st.step + 1));
        if (start == "vanish")
          return self->quit();
        if (start == "throw")
          throw std::runtime_error("step crashed");
        ++st.step;
        if (st.step == st.fail_at)
          return ctx.fail("step_failed",
                          "step " + std::to_string(st.step) + " failed");
        ctx.progress(100.0 * st.step / st.steps);
        if (st.step >= st.steps)
          return ctx.succeed();
        self->delayed_send(self, 1s, step_atom::value);
      },
    };
    if (on_stop == "handle")
      return caf::message_handler{[ctx](stop_atom) {
               ctx.request_stop();
               ctx.fail("stopped", "stopped on request");
             }}
        .or_else(work);
    if (on_stop == "ignore") {
      self->set_exit_handler([](caf::exit_msg&) {});
      return caf::message_handler{[](stop_atom) {}, [](kill_atom) {}}.or_else(
        work);
    }
    return work;
  });
}

struct fixture : testing::supervisor_fixture_base {
  /// Declared after the actor system: the handles go before it does.
  std::map<std::string, seen_run> seen;

  explicit fixture(std::size_t max_running = 4) {
    std::vector<action_type> types;
    for (auto name : {"alpha", "beta"}) {
      action_type type;
      type.name = name;
      type.params = {{"steps", {param_type::integer, false}},
                     {"fail_at", {param_type::integer, false}},
                     {"start", {param_type::string, false}},
                     {"on_stop", {param_type::string, false}},
                     {"target", {param_type::string, false}}};
      type.timeout = 60s;
      type.cancel_grace = 5s;
      type.work = stepper(&seen);
      types.push_back(std::move(type));
    }
    sup = spawn_supervisor(sys, std::move(types), {max_running});
    settle();
  }

  ~fixture() {
    shutdown(); // while the members here are still alive
  }

  /// Advances the clock a second at a time, delivering what each second
  /// fires, as the real clock would.
  void advance_seconds(int n) {
    for (int i = 0; i < n; ++i)
      advance(1s);
  }

  /// Watches the host actor of `name`'s latest run.
  void watch(const std::string& name) {
    self->monitor(seen.at(name).host);
  }

  /// The exit reason of a watched host actor that is gone, or nothing.
  caf::optional<caf::error> gone() {
    caf::optional<caf::error> reason;
    self->receive([&](caf::down_msg& msg) { reason = msg.reason; },
                  caf::after(0s) >> [] {});
    return reason;
  }
};

action_params with(std::initializer_list<std::pair<std::string, std::string>> xs) {
  action_params params;
  for (auto& [key, text] : xs) {
    auto integer = key == "steps" || key == "fail_at";
    params[key] = {integer ? param_kind::integer : param_kind::string, text};
  }
  return params;
}

} // namespace

TEST_CASE_METHOD(fixture, "a C++ run goes queued, starting, running, completed",
                 "[actor_work]") {
  auto accepted = start("alpha", with({{"start", "late"}, {"target", "db1"}}));
  REQUIRE(accepted);
  CHECK(accepted->state == s::queued);
  // The work was given the run: its name, uid and parameters.
  REQUIRE(seen.count("alpha") == 1);
  CHECK(seen["alpha"].name == "alpha");
  CHECK(seen["alpha"].uid == accepted->action_uid);
  CHECK(seen["alpha"].target == "db1");
  watch("alpha");
  CHECK(state_of("alpha") == s::starting);
  advance(1s);
  CHECK(state_of("alpha") == s::running);
  CHECK(get("alpha")->progress == 0.0);
  for (double expected : {25.0, 50.0, 75.0}) {
    advance(1s);
    auto status = get("alpha");
    CHECK(status->state == s::running);
    CHECK(status->progress == expected);
  }
  CHECK(!gone());
  advance(1s);
  auto done = get("alpha");
  CHECK(done->state == s::completed);
  CHECK(done->progress == 100.0);
  CHECK(done->action_uid == accepted->action_uid);
  CHECK(done->error_code.empty());
  auto reason = gone(); // the work's actor ended with its run
  REQUIRE(reason);
  CHECK(!*reason); // normal exit
}

TEST_CASE_METHOD(fixture, "a failing C++ step fails the run with its error",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"fail_at", "2"}})));
  advance_seconds(1);
  CHECK(get("alpha")->progress == 25.0);
  advance_seconds(1);
  auto status = get("alpha");
  CHECK(status->state == s::failed);
  CHECK(status->error_code == "step_failed");
  CHECK(status->error_message == "step 2 failed");
  CHECK(status->progress == 25.0);
}

TEST_CASE_METHOD(fixture, "C++ work that finishes before it started aborts",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"start", "never"}})));
  auto status = get("alpha");
  CHECK(status->state == s::aborted);
  CHECK(status->error_code == "no_input");
  CHECK(status->error_message == "nothing to work on");
  CHECK(start("alpha")); // the type is usable again
}

TEST_CASE_METHOD(fixture, "a C++ worker that ends without reporting fails",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"start", "vanish"}})));
  CHECK(state_of("alpha") == s::running);
  advance(1s);
  auto status = get("alpha");
  CHECK(status->state == s::failed);
  CHECK(status->error_code == "worker_exited");
}

TEST_CASE_METHOD(fixture, "a C++ worker that throws fails the run",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"start", "throw"}})));
  watch("alpha");
  advance(1s);
  auto status = get("alpha");
  CHECK(status->state == s::failed);
  CHECK(status->error_code == "worker_exited");
  auto reason = gone();
  REQUIRE(reason);
  CHECK(*reason); // an error, not a normal exit
}

TEST_CASE_METHOD(fixture, "a live C++ run conflicts with a new one of its type",
                 "[actor_work]") {
  auto first = start("alpha", with({{"start", "late"}}));
  REQUIRE(first);
  CHECK(state_of("alpha") == s::starting);
  CHECK(start("alpha").error() == action_error::conflict);
  advance(1s);
  CHECK(state_of("alpha") == s::running);
  auto refused = start("alpha");
  CHECK(refused.error() == action_error::conflict);
  CHECK(error_description(refused.error()).find(first->action_uid)
        != std::string::npos);
  CHECK(get("alpha")->action_uid == first->action_uid);
  CHECK(start("beta")); // other types are not affected
  advance_seconds(4);
  CHECK(state_of("alpha") == s::completed);
  auto second = start("alpha");
  REQUIRE(second);
  CHECK(second->action_uid != first->action_uid);
  CHECK(seen["alpha"].uid == second->action_uid);
}

TEST_CASE_METHOD(fixture, "cancel: C++ work that polls stops at its next step",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"steps", "100"}})));
  watch("alpha");
  advance(1s);
  CHECK(get("alpha")->progress == 1.0);
  auto answer = cancel("alpha");
  REQUIRE(answer);
  CHECK(answer->state == s::cancelling);
  CHECK(start("alpha").error() == action_error::conflict);
  CHECK(cancel("alpha")->state == s::cancelling); // again: unchanged
  advance(1s); // the next step sees the stop, well within the grace
  auto status = get("alpha");
  CHECK(status->state == s::cancelled);
  CHECK(status->progress == 1.0);
  CHECK(status->error_code.empty());
  auto reason = gone();
  REQUIRE(reason);
  CHECK(!*reason); // normal exit
  CHECK(start("alpha")); // a cancelled run can be replaced
}

TEST_CASE_METHOD(fixture, "cancel: C++ work with a stop handler stops at once",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"on_stop", "handle"}})));
  advance(1s);
  CHECK(cancel("alpha")->state == s::cancelling);
  // Delivered with the cancel, no time passed: already gone.
  CHECK(state_of("alpha") == s::cancelled);
}

TEST_CASE_METHOD(fixture, "cancel: C++ work that ignores stop is killed",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"on_stop", "ignore"}, {"steps", "100"}})));
  watch("alpha");
  advance(1s);
  CHECK(cancel("alpha")->state == s::cancelling);
  advance_seconds(4);
  // It carries on: still cancelling, its progress still counted.
  auto status = get("alpha");
  CHECK(status->state == s::cancelling);
  CHECK(status->progress == 5.0);
  CHECK(!gone());
  advance(1s); // the grace period is over: killed, though it traps exits
  auto reason = gone();
  REQUIRE(reason);
  CHECK(*reason == caf::exit_reason::kill);
  status = get("alpha");
  CHECK(status->state == s::cancelled);
  CHECK(status->error_code.empty());
}

TEST_CASE_METHOD(fixture, "cancel: a C++ run cancelled while starting",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"start", "late"}})));
  CHECK(cancel("alpha")->state == s::starting);
  advance(1s); // it starts, and the stop it was sent takes effect
  CHECK(state_of("alpha") == s::cancelling);
  advance(1s); // its first step sees the stop
  CHECK(state_of("alpha") == s::cancelled);
}

TEST_CASE("cancel: a queued C++ run never starts its work", "[actor_work]") {
  fixture f{1};
  REQUIRE(f.start("alpha"));
  auto queued = f.start("beta");
  REQUIRE(queued);
  CHECK(queued->state == s::queued);
  CHECK(f.state_of("beta") == s::queued);
  CHECK(f.cancel("beta")->state == s::cancelled);
  f.advance_seconds(4); // alpha completes, freeing the slot
  CHECK(f.state_of("alpha") == s::completed);
  CHECK(f.state_of("beta") == s::cancelled);
  CHECK(f.seen.count("beta") == 0); // its work was never spawned
}

TEST_CASE_METHOD(fixture, "timeout: C++ work that polls fails with timeout",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"steps", "1000"}})));
  advance_seconds(59);
  CHECK(state_of("alpha") == s::running);
  advance_seconds(2); // stopped at 60 s, seen at the next step
  auto status = get("alpha");
  CHECK(status->state == s::failed);
  CHECK(status->error_code == "timeout");
  CHECK(status->error_message
        == "the action did not finish within 60 s and was stopped");
}

TEST_CASE_METHOD(fixture, "timeout: C++ work that ignores stop is killed",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"steps", "1000"}, {"on_stop", "ignore"}})));
  watch("alpha");
  advance_seconds(64);
  CHECK(state_of("alpha") == s::running); // stopped, grace not yet over
  CHECK(!gone());
  advance_seconds(1);
  auto reason = gone();
  REQUIRE(reason);
  CHECK(*reason == caf::exit_reason::kill);
  auto status = get("alpha");
  CHECK(status->state == s::failed);
  CHECK(status->error_code == "timeout");
}

TEST_CASE_METHOD(fixture, "shutdown aborts running C++ work",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"steps", "100"}})));
  REQUIRE(start("beta", with({{"steps", "100"}, {"on_stop", "ignore"}})));
  advance(1s);
  self->send(sup, shutdown_atom::value, caf::timespan{2s});
  settle();
  CHECK(self->mailbox().empty()); // no reply while runs are live
  advance(1s); // alpha stops at its next step; beta ignores it
  CHECK(state_of("alpha") == s::aborted);
  CHECK(get("alpha")->error_code == "shutdown");
  CHECK(self->mailbox().empty());
  advance(1s); // beta's grace is over: killed
  std::size_t aborted = 0;
  self->receive([&](std::size_t n) { aborted = n; },
                caf::after(0s) >> [] { FAIL("no shutdown reply"); });
  CHECK(aborted == 2);
  CHECK(state_of("beta") == s::aborted);
}

TEST_CASE_METHOD(fixture, "C++ work is killed when its supervisor exits",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"steps", "100"}, {"on_stop", "ignore"}})));
  advance(1s);
  watch("alpha");
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  settle();
  auto reason = gone();
  REQUIRE(reason);
  CHECK(*reason == caf::exit_reason::kill);
}

TEST_CASE_METHOD(fixture, "C++ work is killed when its action actor fails",
                 "[actor_work]") {
  REQUIRE(start("alpha", with({{"steps", "100"}, {"on_stop", "ignore"}})));
  REQUIRE(start("beta", with({{"steps", "100"}})));
  advance(1s);
  watch("alpha");
  self->send_exit(seen["alpha"].owner, caf::exit_reason::kill);
  settle();
  auto reason = gone(); // though it ignores stop and traps exits
  REQUIRE(reason);
  CHECK(*reason == caf::exit_reason::kill);
  auto status = get("alpha");
  CHECK(status->state == s::aborted);
  CHECK(status->error_code == "internal_error");
  advance(1s); // beta goes on
  CHECK(state_of("beta") == s::running);
  CHECK(get("beta")->progress == 2.0);
  REQUIRE(start("alpha", with({{"steps", "2"}})));
  advance_seconds(2);
  CHECK(state_of("alpha") == s::completed);
}

namespace {

caf::behavior finish_at_once(caf::event_based_actor*, work_context ctx) {
  ctx.started();
  ctx.progress(50);
  ctx.progress(40); // not sent: progress never goes back
  ctx.succeed();
  ctx.fail("late", "ignored after finishing");
  return {};
}

} // namespace

TEST_CASE("actor_work takes a plain event_based_actor function",
          "[actor_work]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing::testing_config(cfg)};
  auto& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  action_type type;
  type.name = "once";
  type.work = actor_work(finish_at_once);
  auto sup = spawn_supervisor(sys, {type});
  caf::scoped_actor self{sys};
  self->send(sup, start_atom::value, std::string{"once"}, action_params{},
             std::string{});
  sched.run();
  self->receive([](action_status&) {},
                caf::after(0s) >> [] { FAIL("no reply"); });
  self->send(sup, get_atom::value, std::string{"once"});
  sched.run();
  self->receive(
    [](action_status& status) {
      CHECK(status.state == s::completed);
      CHECK(status.progress == 100.0);
    },
    caf::after(0s) >> [] { FAIL("no reply"); });
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_CASE("a C++ work's reports: no progress that is not above the last, "
          "nothing after the end",
          "[actor_work]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing::testing_config(cfg)};
  auto& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::scoped_actor self{sys};
  auto work = actor_work(finish_at_once);
  // The test stands in for the run's action actor.
  work(self.ptr(), caf::actor_cast<action_actor>(self),
       run_request{"once", "run-1", {}});
  sched.run();
  std::vector<std::string> reports;
  for (bool more = true; more;)
    self->receive(
      [&](started_atom) { reports.push_back("started"); },
      [&](progress_atom, double percent) {
        reports.push_back("progress " + std::to_string(percent));
      },
      [&](finished_atom, const work_outcome& outcome) {
        reports.push_back(outcome.succeeded ? "succeeded"
                                            : "failed " + outcome.error_code);
      },
      caf::after(0s) >> [&] { more = false; });
  CHECK(reports
        == std::vector<std::string>{"started", "progress 50.000000",
                                    "succeeded"});
}
