// The engine of an action type's runs, in the spirit of OTP's gen_statem:
// the state of the current run, a closed set of events, and one pure
// function from {state, event} to {next state, effects}. Nothing here
// sends, spawns or reads a clock: the action actor (action_actor.cpp) turns
// its messages into events and carries out the effects, so that everything
// the engine decides can be tested without actors.
//
// The run's RS state only moves as the RS table allows (`run_state`,
// state_machine.hpp); a transition that would need a move the table refuses
// is not made, and counts as unexpected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <caf/timespan.hpp>

#include "actors/state_machine.hpp"
#include "messages/action_params.hpp"
#include "messages/action_status.hpp"
#include "messages/work_outcome.hpp"

namespace cluster_actions {

/// Where the engine is with its current run. Every phase but `idle` shows
/// the run as one RS state, named in brackets.
enum class run_phase : std::uint8_t {
  idle,     ///< no run yet
  queued,   ///< [queued] admitted, waiting for a slot
  starting, ///< [starting] its work is spawned and has not reported started
  running,  ///< [running]
  /// [starting] asked to stop before its work reported started.
  stopping_unstarted,
  /// [cancelling] when cancelled, else [running]: asked to stop.
  stopping,
  ended, ///< [cancelled, aborted, completed or failed]
};

/// Why a run's work is being stopped; decides how the run ends.
enum class stop_cause : std::uint8_t {
  cancel,   ///< a user's cancel: `cancelled`
  timeout,  ///< its time limit: `failed` with `timeout`
  shutdown, ///< the supervisor shuts down: `aborted` with `shutdown`
};

/// The events, a closed set: what the supervisor, the run's worker and the
/// engine's own timers tell it.
namespace run_events {

/// The supervisor admitted a new run (it waits for a slot).
struct queue {
  std::string uid;
  action_params params;
};
/// The supervisor gave the run `uid` a slot: start its work.
struct begin {
  std::string uid;
};
/// A user cancels the run; answered with the run's status.
struct cancel {};
/// The supervisor shuts down: stop the work, kill it after `grace`.
struct abort {
  caf::timespan grace;
};
/// The worker reports that the work has begun.
struct started {};
/// The worker reports progress in percent.
struct progress {
  double percent = 0;
};
/// The worker reports that the work is over, and how it ended.
struct finished {
  work_outcome outcome;
};
/// The worker went down without reporting how the work ended.
struct worker_down {
  std::string reason; ///< its rendered exit reason; empty for a normal exit
};
/// The run's time limit is over (the timer armed with `serial`).
struct timeout {
  std::uint64_t serial = 0;
};
/// The grace given to a stopped work is over (the timer armed with
/// `serial`).
struct grace_over {
  std::uint64_t serial = 0;
};

} // namespace run_events

using run_event
  = std::variant<run_events::queue, run_events::begin, run_events::cancel,
                 run_events::abort, run_events::started, run_events::progress,
                 run_events::finished, run_events::worker_down,
                 run_events::timeout, run_events::grace_over>;

/// What the engine asks the actor to do, a closed set.
enum class effect_kind : std::uint8_t {
  start_work,       ///< spawn the run's worker and watch it
  stop_work,        ///< ask the worker to stop (`stop_atom`)
  kill_work,        ///< order the worker to stop now (`kill_atom`)
  release_work,     ///< the worker is done: stop watching it
  arm_timeout,      ///< arm the run's time limit
  arm_grace,        ///< arm the end of a stopped work's grace
  push_status,      ///< send the run's status to the supervisor
  answer_status,    ///< answer the caller with the run's status
  answer_not_found, ///< answer the caller that there is no run
};

/// One effect; the timer fields are set for `arm_timeout` and `arm_grace`.
struct run_effect {
  effect_kind kind;
  std::uint64_t timer = 0; ///< the serial the timer's event must carry
  caf::timespan after{};   ///< when the timer fires

  friend bool operator==(const run_effect& a, const run_effect& b) {
    return a.kind == b.kind && a.timer == b.timer && a.after == b.after;
  }
};

/// The time limits of an action type.
struct run_limits {
  caf::timespan timeout;      ///< a run's time limit
  caf::timespan cancel_grace; ///< how long stopped work may take
};

/// The engine's state: the phase and the current (or last) run.
struct run_engine_state {
  run_phase phase = run_phase::idle;
  /// Why the work is being stopped: set in the two stopping phases only.
  std::optional<stop_cause> cause;
  std::string uid;
  action_params params;
  run_state status; ///< the RS state
  double progress = 0.0;
  std::string error_code;
  std::string error_message;
  std::string result; ///< what the work reported it produced, once finished
  /// The serial of the armed time limit and grace timer, 0 when none is
  /// armed. An armed timer cannot be called back, so disarming one only
  /// forgets its serial: when it fires, it is stale.
  std::uint64_t armed_timeout = 0;
  std::uint64_t armed_grace = 0;
  /// The last timer serial handed out; serials are never reused, so a
  /// timer of an earlier run never passes for one of the current run.
  std::uint64_t last_serial = 0;
};

/// How an event was taken.
enum class event_fate : std::uint8_t {
  handled,    ///< its row in the state's table applied (maybe changing nothing)
  stale,      ///< a timer that was disarmed, or of an earlier run: dropped
  unexpected, ///< the state has no row for it: nothing changed
};

/// The result of one step.
struct run_transition {
  run_engine_state next;
  std::vector<run_effect> effects;
  event_fate fate = event_fate::handled;
};

/// The engine: the next state and the effects of `event` in `state`.
run_transition step(run_engine_state state, run_event event,
                    const run_limits& limits);

/// The status of the run `state` holds, as the supervisor shows it.
action_status status_of(const run_engine_state& state,
                        const std::string& name);

/// Names, for logs and tests: "stopping_unstarted", "grace_over",
/// "arm_timeout", ...
std::string_view to_string(run_phase phase) noexcept;
std::string_view to_string(stop_cause cause) noexcept;
std::string_view to_string(effect_kind kind) noexcept;
std::string_view event_name(const run_event& event) noexcept;

} // namespace cluster_actions
