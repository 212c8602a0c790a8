// The engine of a type's runs as a pure function: every {state, event} cell
// of its table, and the rules the table relies on. No actors.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "actors/run_engine.hpp"

using namespace cluster_actions;
using namespace std::chrono_literals;
namespace ev = run_events;
using s = action_state;

namespace {

const run_limits limits{60s, 5s};

/// The grace every walked `abort` carries.
constexpr caf::timespan shutdown_grace = 3s;

/// The event called `name`, as it would come in `state`: a `begin` names the
/// queued run, a timer carries the serial of the armed timer of its kind
/// (or, when none is armed, one that was handed out before).
run_event make_event(const std::string& name, const run_engine_state& state) {
  auto serial = [&](std::uint64_t armed) {
    return armed != 0 ? armed : std::max<std::uint64_t>(state.last_serial, 1);
  };
  if (name == "queue")
    return ev::queue{"run-1", {{"target", {param_kind::string, "db1"}}}};
  if (name == "begin")
    return ev::begin{state.uid};
  if (name == "cancel")
    return ev::cancel{};
  if (name == "abort")
    return ev::abort{shutdown_grace};
  if (name == "started")
    return ev::started{};
  if (name == "progress")
    return ev::progress{50};
  if (name == "finished_ok")
    return ev::finished{work_outcome::success()};
  if (name == "finished_failed")
    return ev::finished{work_outcome::failure("boom", "it broke")};
  if (name == "worker_down")
    return ev::worker_down{"killed"};
  if (name == "timeout")
    return ev::timeout{serial(state.armed_timeout)};
  if (name == "grace_over")
    return ev::grace_over{serial(state.armed_grace)};
  FAIL("no event named " << name);
  return ev::cancel{};
}

/// The state reached from `idle` by `path`, every step handled.
run_engine_state reach(const std::vector<std::string>& path) {
  run_engine_state state;
  for (const auto& name : path) {
    auto next = step(std::move(state), make_event(name, state), limits);
    INFO("reaching through " << name);
    REQUIRE(next.fate == event_fate::handled);
    state = std::move(next.next);
  }
  return state;
}

/// A transition as the table below writes it: "unexpected", "stale", or
/// `phase[/cause] [RS state[ error_code]]: effects`.
std::string render(const run_transition& transition) {
  if (transition.fate == event_fate::unexpected)
    return "unexpected";
  if (transition.fate == event_fate::stale)
    return "stale";
  const auto& next = transition.next;
  std::string text{to_string(next.phase)};
  if (next.cause)
    text += "/" + std::string{to_string(*next.cause)};
  if (next.phase != run_phase::idle) {
    text += " [" + std::string{to_string(next.status.current())};
    if (!next.error_code.empty())
      text += " " + next.error_code;
    text += "]";
  }
  if (!transition.effects.empty())
    text += ":";
  for (const auto& effect : transition.effects) {
    text += " " + std::string{to_string(effect.kind)};
    if (effect.timer != 0)
      text += "("
              + std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(effect.after)
                  .count())
              + "s)";
  }
  return text;
}

bool same(const run_engine_state& a, const run_engine_state& b) {
  return a.phase == b.phase && a.cause == b.cause && a.uid == b.uid
         && a.params == b.params && a.status.current() == b.status.current()
         && a.progress == b.progress && a.error_code == b.error_code
         && a.error_message == b.error_message
         && a.armed_timeout == b.armed_timeout
         && a.armed_grace == b.armed_grace && a.last_serial == b.last_serial;
}

/// The states the walk starts from, each with the events that reach it.
const std::vector<std::pair<std::string, std::vector<std::string>>> states{
  {"idle", {}},
  {"queued", {"queue"}},
  {"starting", {"queue", "begin"}},
  {"running", {"queue", "begin", "started"}},
  {"stopping_unstarted/cancel", {"queue", "begin", "cancel"}},
  {"stopping_unstarted/timeout", {"queue", "begin", "timeout"}},
  {"stopping_unstarted/shutdown", {"queue", "begin", "abort"}},
  {"stopping/cancel", {"queue", "begin", "started", "cancel"}},
  {"stopping/timeout", {"queue", "begin", "started", "timeout"}},
  {"stopping/shutdown", {"queue", "begin", "started", "abort"}},
  {"ended", {"queue", "begin", "started", "finished_ok"}},
};

const std::vector<std::string> events{
  "queue",           "begin",       "cancel",  "abort",
  "started",         "progress",    "finished_ok",
  "finished_failed", "worker_down", "timeout", "grace_over"};

const std::string gone = ": release_work push_status";

/// The table: {state, event} -> next state and effects. Timeout 60 s,
/// cancel grace 5 s, shutdown grace 3 s.
const std::map<std::pair<std::string, std::string>, std::string> table{
  // idle: no run yet.
  {{"idle", "queue"}, "queued [queued]"},
  {{"idle", "begin"}, "unexpected"},
  {{"idle", "cancel"}, "idle: answer_not_found"},
  {{"idle", "abort"}, "unexpected"},
  {{"idle", "started"}, "unexpected"},
  {{"idle", "progress"}, "unexpected"},
  {{"idle", "finished_ok"}, "unexpected"},
  {{"idle", "finished_failed"}, "unexpected"},
  {{"idle", "worker_down"}, "unexpected"},
  {{"idle", "timeout"}, "stale"},
  {{"idle", "grace_over"}, "stale"},
  // queued: waits for a slot.
  {{"queued", "queue"}, "unexpected"},
  {{"queued", "begin"},
   "starting [starting]: push_status start_work arm_timeout(60s)"},
  {{"queued", "cancel"}, "ended [cancelled]: push_status answer_status"},
  {{"queued", "abort"}, "ended [cancelled]: push_status"},
  {{"queued", "started"}, "unexpected"},
  {{"queued", "progress"}, "unexpected"},
  {{"queued", "finished_ok"}, "unexpected"},
  {{"queued", "finished_failed"}, "unexpected"},
  {{"queued", "worker_down"}, "unexpected"},
  {{"queued", "timeout"}, "stale"},
  {{"queued", "grace_over"}, "stale"},
  // starting: the work is spawned, not yet started.
  {{"starting", "queue"}, "unexpected"},
  {{"starting", "begin"}, "unexpected"},
  {{"starting", "cancel"},
   "stopping_unstarted/cancel [starting]: stop_work arm_grace(5s) "
   "answer_status"},
  {{"starting", "abort"},
   "stopping_unstarted/shutdown [starting]: stop_work arm_grace(3s)"},
  {{"starting", "started"}, "running [running]: push_status"},
  {{"starting", "progress"}, "starting [starting]: push_status"},
  {{"starting", "finished_ok"}, "ended [aborted not_started]" + gone},
  {{"starting", "finished_failed"}, "ended [aborted boom]" + gone},
  {{"starting", "worker_down"}, "ended [aborted worker_exited]" + gone},
  {{"starting", "timeout"},
   "stopping_unstarted/timeout [starting]: stop_work arm_grace(5s)"},
  {{"starting", "grace_over"}, "stale"},
  // running.
  {{"running", "queue"}, "unexpected"},
  {{"running", "begin"}, "unexpected"},
  {{"running", "cancel"},
   "stopping/cancel [cancelling]: stop_work arm_grace(5s) push_status "
   "answer_status"},
  {{"running", "abort"},
   "stopping/shutdown [running]: stop_work arm_grace(3s)"},
  {{"running", "started"}, "unexpected"},
  {{"running", "progress"}, "running [running]: push_status"},
  {{"running", "finished_ok"}, "ended [completed]" + gone},
  {{"running", "finished_failed"}, "ended [failed boom]" + gone},
  {{"running", "worker_down"}, "ended [failed worker_exited]" + gone},
  {{"running", "timeout"},
   "stopping/timeout [running]: stop_work arm_grace(5s)"},
  {{"running", "grace_over"}, "stale"},
  // stopping_unstarted: asked to stop before the work started; a run that
  // never started can only end `aborted`.
  {{"stopping_unstarted/cancel", "queue"}, "unexpected"},
  {{"stopping_unstarted/cancel", "begin"}, "unexpected"},
  {{"stopping_unstarted/cancel", "cancel"},
   "stopping_unstarted/cancel [starting]: answer_status"},
  {{"stopping_unstarted/cancel", "abort"},
   "stopping_unstarted/cancel [starting]: arm_grace(3s)"},
  {{"stopping_unstarted/cancel", "started"},
   "stopping/cancel [cancelling]: push_status"},
  {{"stopping_unstarted/cancel", "progress"},
   "stopping_unstarted/cancel [starting]: push_status"},
  {{"stopping_unstarted/cancel", "finished_ok"},
   "ended [aborted not_started]" + gone},
  {{"stopping_unstarted/cancel", "finished_failed"},
   "ended [aborted boom]" + gone},
  {{"stopping_unstarted/cancel", "worker_down"},
   "ended [aborted worker_exited]" + gone},
  {{"stopping_unstarted/cancel", "timeout"}, "stale"},
  {{"stopping_unstarted/cancel", "grace_over"},
   "stopping_unstarted/cancel [starting]: kill_work"},
  {{"stopping_unstarted/timeout", "queue"}, "unexpected"},
  {{"stopping_unstarted/timeout", "begin"}, "unexpected"},
  {{"stopping_unstarted/timeout", "cancel"},
   "stopping_unstarted/timeout [starting]: answer_status"},
  {{"stopping_unstarted/timeout", "abort"},
   "stopping_unstarted/timeout [starting]: arm_grace(3s)"},
  {{"stopping_unstarted/timeout", "started"},
   "stopping/timeout [running]: push_status"},
  {{"stopping_unstarted/timeout", "progress"},
   "stopping_unstarted/timeout [starting]: push_status"},
  {{"stopping_unstarted/timeout", "finished_ok"},
   "ended [aborted timeout]" + gone},
  {{"stopping_unstarted/timeout", "finished_failed"},
   "ended [aborted timeout]" + gone},
  {{"stopping_unstarted/timeout", "worker_down"},
   "ended [aborted timeout]" + gone},
  {{"stopping_unstarted/timeout", "timeout"}, "stale"},
  {{"stopping_unstarted/timeout", "grace_over"},
   "stopping_unstarted/timeout [starting]: kill_work"},
  {{"stopping_unstarted/shutdown", "queue"}, "unexpected"},
  {{"stopping_unstarted/shutdown", "begin"}, "unexpected"},
  {{"stopping_unstarted/shutdown", "cancel"},
   "stopping_unstarted/shutdown [starting]: answer_status"},
  {{"stopping_unstarted/shutdown", "abort"},
   "stopping_unstarted/shutdown [starting]: arm_grace(3s)"},
  {{"stopping_unstarted/shutdown", "started"},
   "stopping/shutdown [running]: push_status"},
  {{"stopping_unstarted/shutdown", "progress"},
   "stopping_unstarted/shutdown [starting]: push_status"},
  {{"stopping_unstarted/shutdown", "finished_ok"},
   "ended [aborted shutdown]" + gone},
  {{"stopping_unstarted/shutdown", "finished_failed"},
   "ended [aborted shutdown]" + gone},
  {{"stopping_unstarted/shutdown", "worker_down"},
   "ended [aborted shutdown]" + gone},
  {{"stopping_unstarted/shutdown", "timeout"}, "stale"},
  {{"stopping_unstarted/shutdown", "grace_over"},
   "stopping_unstarted/shutdown [starting]: kill_work"},
  // stopping: the cause decides the end, whatever the work reports.
  {{"stopping/cancel", "queue"}, "unexpected"},
  {{"stopping/cancel", "begin"}, "unexpected"},
  {{"stopping/cancel", "cancel"},
   "stopping/cancel [cancelling]: answer_status"},
  {{"stopping/cancel", "abort"},
   "stopping/cancel [cancelling]: arm_grace(3s)"},
  {{"stopping/cancel", "started"}, "unexpected"},
  {{"stopping/cancel", "progress"},
   "stopping/cancel [cancelling]: push_status"},
  {{"stopping/cancel", "finished_ok"}, "ended [cancelled]" + gone},
  {{"stopping/cancel", "finished_failed"}, "ended [cancelled]" + gone},
  {{"stopping/cancel", "worker_down"}, "ended [cancelled]" + gone},
  {{"stopping/cancel", "timeout"}, "stale"},
  {{"stopping/cancel", "grace_over"},
   "stopping/cancel [cancelling]: kill_work"},
  {{"stopping/timeout", "queue"}, "unexpected"},
  {{"stopping/timeout", "begin"}, "unexpected"},
  {{"stopping/timeout", "cancel"}, "stopping/timeout [running]: answer_status"},
  {{"stopping/timeout", "abort"}, "stopping/timeout [running]: arm_grace(3s)"},
  {{"stopping/timeout", "started"}, "unexpected"},
  {{"stopping/timeout", "progress"}, "stopping/timeout [running]: push_status"},
  {{"stopping/timeout", "finished_ok"}, "ended [failed timeout]" + gone},
  {{"stopping/timeout", "finished_failed"}, "ended [failed timeout]" + gone},
  {{"stopping/timeout", "worker_down"}, "ended [failed timeout]" + gone},
  {{"stopping/timeout", "timeout"}, "stale"},
  {{"stopping/timeout", "grace_over"}, "stopping/timeout [running]: kill_work"},
  {{"stopping/shutdown", "queue"}, "unexpected"},
  {{"stopping/shutdown", "begin"}, "unexpected"},
  {{"stopping/shutdown", "cancel"},
   "stopping/shutdown [running]: answer_status"},
  {{"stopping/shutdown", "abort"},
   "stopping/shutdown [running]: arm_grace(3s)"},
  {{"stopping/shutdown", "started"}, "unexpected"},
  {{"stopping/shutdown", "progress"},
   "stopping/shutdown [running]: push_status"},
  {{"stopping/shutdown", "finished_ok"}, "ended [aborted shutdown]" + gone},
  {{"stopping/shutdown", "finished_failed"},
   "ended [aborted shutdown]" + gone},
  {{"stopping/shutdown", "worker_down"}, "ended [aborted shutdown]" + gone},
  {{"stopping/shutdown", "timeout"}, "stale"},
  {{"stopping/shutdown", "grace_over"},
   "stopping/shutdown [running]: kill_work"},
  // ended: the last run's status stays until the next run.
  {{"ended", "queue"}, "queued [queued]"},
  {{"ended", "begin"}, "unexpected"},
  {{"ended", "cancel"}, "ended [completed]: answer_status"},
  {{"ended", "abort"}, "ended [completed]"},
  {{"ended", "started"}, "unexpected"},
  {{"ended", "progress"}, "unexpected"},
  {{"ended", "finished_ok"}, "unexpected"},
  {{"ended", "finished_failed"}, "unexpected"},
  {{"ended", "worker_down"}, "unexpected"},
  {{"ended", "timeout"}, "stale"},
  {{"ended", "grace_over"}, "stale"},
};

} // namespace

TEST_CASE("the engine's table, cell by cell", "[engine]") {
  CHECK(table.size() == states.size() * events.size());
  for (const auto& [state_name, path] : states) {
    auto start = reach(path);
    for (const auto& event_name : events) {
      INFO(state_name << " x " << event_name);
      auto row = table.find({state_name, event_name});
      REQUIRE(row != table.end());
      auto transition = step(start, make_event(event_name, start), limits);
      CHECK(render(transition) == row->second);
      if (transition.fate != event_fate::handled) {
        CHECK(same(transition.next, start));
        CHECK(transition.effects.empty());
      }
    }
  }
}

TEST_CASE("the engine moves a run's RS state only as the RS table allows",
          "[engine]") {
  for (const auto& [state_name, path] : states) {
    auto start = reach(path);
    auto from = start.status.current();
    for (const auto& event_name : events) {
      if (event_name == "queue")
        continue; // a new run, whose RS state starts afresh
      INFO(state_name << " x " << event_name);
      auto to = step(start, make_event(event_name, start), limits)
                  .next.status.current();
      // One step, or two through `running` (a cancel asked for while the
      // work was starting shows once it runs).
      CHECK((from == to || can_transition(from, to)
             || (can_transition(from, s::running)
                 && can_transition(s::running, to))));
    }
  }
}

TEST_CASE("a run's data: uid, parameters, progress and errors", "[engine]") {
  auto state = reach({"queue"});
  CHECK(state.uid == "run-1");
  CHECK(state.params.at("target").text == "db1");
  state = reach({"queue", "begin", "started", "progress"});
  CHECK(state.progress == 50.0);
  auto finished = reach({"queue", "begin", "started", "finished_failed"});
  CHECK(finished.error_code == "boom");
  CHECK(finished.error_message == "it broke");
  auto completed = reach({"queue", "begin", "started", "finished_ok"});
  CHECK(completed.progress == 100.0);
  CHECK(completed.error_code.empty());
  auto timed_out
    = reach({"queue", "begin", "started", "timeout", "finished_ok"});
  CHECK(timed_out.error_message
        == "the action did not finish within 60 s and was stopped");
  auto down = reach({"queue", "begin", "started", "worker_down"});
  CHECK(down.error_message
        == "the work stopped without reporting how it ended: killed");
  // A new run starts from nothing but the serials handed out.
  auto next = reach({"queue", "begin", "started", "finished_failed", "queue"});
  CHECK(next.phase == run_phase::queued);
  CHECK(next.progress == 0.0);
  CHECK(next.error_code.empty());
  CHECK(next.last_serial == finished.last_serial);
}

TEST_CASE("progress is clamped, never goes back, and NaN changes nothing",
          "[engine]") {
  auto state = reach({"queue", "begin", "started"});
  auto report = [&](double percent) {
    auto t = step(state, ev::progress{percent}, limits);
    state = t.next;
    return t.effects.size();
  };
  CHECK(report(-5) == 0);
  CHECK(state.progress == 0.0);
  CHECK(report(40) == 1);
  CHECK(report(30) == 0);
  CHECK(state.progress == 40.0);
  CHECK(report(std::numeric_limits<double>::quiet_NaN()) == 0);
  CHECK(report(250) == 1);
  CHECK(state.progress == 100.0);
}

TEST_CASE("a begin for another run is unexpected", "[engine]") {
  auto state = reach({"queue"});
  auto t = step(state, ev::begin{"run-0"}, limits);
  CHECK(t.fate == event_fate::unexpected);
  CHECK(same(t.next, state));
}

TEST_CASE("timers of an earlier run, or disarmed ones, are stale", "[engine]") {
  auto first = reach({"queue", "begin"});
  auto first_timeout = first.armed_timeout;
  REQUIRE(first_timeout != 0);
  auto state = reach({"queue", "begin", "started", "finished_ok", "queue"});
  state = step(state, ev::begin{state.uid}, limits).next;
  CHECK(state.armed_timeout != first_timeout);
  auto t = step(state, ev::timeout{first_timeout}, limits);
  CHECK(t.fate == event_fate::stale);
  CHECK(same(t.next, state));
  // Stopping disarms the time limit; killing disarms the grace.
  auto stopping = reach({"queue", "begin", "started", "cancel"});
  auto armed_limit = reach({"queue", "begin", "started"}).armed_timeout;
  CHECK(step(stopping, ev::timeout{armed_limit}, limits).fate
        == event_fate::stale);
  auto killed = step(stopping, ev::grace_over{stopping.armed_grace}, limits);
  REQUIRE(killed.fate == event_fate::handled);
  CHECK(step(killed.next, ev::grace_over{stopping.armed_grace}, limits).fate
        == event_fate::stale);
}

TEST_CASE("a shutdown during a stop arms its own grace, which kills",
          "[engine]") {
  auto stopping = reach({"queue", "begin", "started", "cancel"});
  auto cancel_grace = stopping.armed_grace;
  auto t = step(stopping, ev::abort{shutdown_grace}, limits);
  REQUIRE(t.effects.size() == 1);
  auto shutdown_timer = t.effects.front().timer;
  CHECK(shutdown_timer != cancel_grace);
  // The cancel's grace is replaced; the shutdown's kills.
  CHECK(step(t.next, ev::grace_over{cancel_grace}, limits).fate
        == event_fate::stale);
  auto killed = step(t.next, ev::grace_over{shutdown_timer}, limits);
  CHECK(render(killed) == "stopping/cancel [cancelling]: kill_work");
}
