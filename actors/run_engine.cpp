#include "actors/run_engine.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <initializer_list>
#include <utility>

namespace cluster_actions {

namespace {

namespace ev = run_events;
using fx = effect_kind;
using s = action_state;

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

/// An error a run ends with.
struct run_error {
  std::string code;
  std::string message;
};

run_effect effect(effect_kind kind) {
  return {kind};
}

/// The effects of a run's end once its work is gone.
const std::vector<run_effect> work_gone{effect(fx::release_work),
                                        effect(fx::push_status)};

run_transition handled(run_engine_state state,
                       std::vector<run_effect> effects = {}) {
  return {std::move(state), std::move(effects), event_fate::handled};
}

run_transition unexpected(run_engine_state state) {
  return {std::move(state), {}, event_fate::unexpected};
}

/// Moves the RS state along `path`, each step as the RS table allows; false,
/// moving nothing, when the table refuses a step.
bool move_along(run_state& status, std::initializer_list<action_state> path) {
  auto moved = status;
  for (auto next : path)
    if (!moved.move_to(next))
      return false;
  status = moved;
  return true;
}

/// Arms a timer under a fresh serial, remembered in `armed` (a member of
/// `state`).
run_effect arm(run_engine_state& state, std::uint64_t& armed, effect_kind kind,
               caf::timespan after) {
  armed = ++state.last_serial;
  return {kind, armed, after};
}

run_error timeout_error(const run_limits& limits) {
  auto seconds
    = std::chrono::duration_cast<std::chrono::seconds>(limits.timeout).count();
  return {"timeout", "the action did not finish within "
                       + std::to_string(seconds) + " s and was stopped"};
}

run_error shutdown_error() {
  return {"shutdown", "the server stopped while the action was running"};
}

/// The error of a run stopped for `cause`; none for a cancel, whose end
/// follows from the work.
std::optional<run_error> error_of(stop_cause cause, const run_limits& limits) {
  switch (cause) {
    case stop_cause::timeout:
      return timeout_error(limits);
    case stop_cause::shutdown:
      return shutdown_error();
    case stop_cause::cancel:
      break;
  }
  return std::nullopt;
}

run_error error_of(const work_outcome& outcome) {
  return {outcome.error_code, outcome.error_message};
}

run_error exited(const ev::worker_down& down) {
  return {"worker_exited",
          down.reason.empty()
            ? "the work ended without reporting how it ended"
            : "the work stopped without reporting how it ended: "
                + down.reason};
}

/// The error of work that finished before it reported started.
run_error unstarted(const work_outcome& outcome) {
  if (outcome.succeeded)
    return {"not_started",
            "the work finished without reporting that it started"};
  return error_of(outcome);
}

// -- the cells' building blocks ----------------------------------------------

run_transition new_run(run_engine_state state, ev::queue& queued) {
  run_engine_state next;
  next.phase = run_phase::queued;
  next.uid = std::move(queued.uid);
  next.params = std::move(queued.params);
  next.last_serial = state.last_serial;
  return handled(std::move(next));
}

run_transition begin_work(run_engine_state state, const ev::begin& begin,
                          const run_limits& limits) {
  if (begin.uid != state.uid || !move_along(state.status, {s::starting}))
    return unexpected(std::move(state));
  state.phase = run_phase::starting;
  auto time_limit
    = arm(state, state.armed_timeout, fx::arm_timeout, limits.timeout);
  // The status first: if starting the work fails the actor, the supervisor
  // knows the run had left the queue (and does not hand it out again).
  return handled(std::move(state), {effect(fx::push_status),
                                    effect(fx::start_work), time_limit});
}

/// Asks the work to stop for `cause` and arms its kill after `grace`; the
/// time limit no longer matters (the grace bounds the rest).
run_transition stop_work(run_engine_state state, run_phase next,
                         stop_cause cause, caf::timespan grace,
                         std::vector<run_effect> also = {}) {
  state.phase = next;
  state.cause = cause;
  state.armed_timeout = 0;
  std::vector<run_effect> effects{effect(fx::stop_work)};
  effects.push_back(arm(state, state.armed_grace, fx::arm_grace, grace));
  effects.insert(effects.end(), also.begin(), also.end());
  return handled(std::move(state), std::move(effects));
}

/// A shutdown while the work is already being stopped: its grace bounds
/// the stop too (the cause stays).
run_transition rearm_grace(run_engine_state state, const ev::abort& abort) {
  auto grace = arm(state, state.armed_grace, fx::arm_grace, abort.grace);
  return handled(std::move(state), {grace});
}

run_transition kill_work(run_engine_state state) {
  state.armed_grace = 0;
  return handled(std::move(state), {effect(fx::kill_work)});
}

run_transition record_progress(run_engine_state state,
                               const ev::progress& progress) {
  auto percent = std::clamp(progress.percent, 0.0, 100.0);
  if (!(percent > state.progress)) // never back; NaN changes nothing
    return handled(std::move(state));
  state.progress = percent;
  return handled(std::move(state), {effect(fx::push_status)});
}

/// Ends the run in `terminal`, with `error` if any.
run_transition end_run(run_engine_state state, action_state terminal,
                       std::optional<run_error> error,
                       std::vector<run_effect> effects) {
  if (!move_along(state.status, {terminal}))
    return unexpected(std::move(state));
  state.phase = run_phase::ended;
  state.cause.reset();
  state.armed_timeout = 0;
  state.armed_grace = 0;
  if (terminal == s::completed)
    state.progress = 100.0;
  if (error) {
    state.error_code = std::move(error->code);
    state.error_message = std::move(error->message);
  }
  return handled(std::move(state), std::move(effects));
}

/// Work asked to stop before it started is gone: the run never ran, so it
/// is `aborted` (the RS table allows nothing else from `starting`).
run_transition unstarted_work_gone(run_engine_state state, run_error work_error,
                                   const run_limits& limits) {
  auto error = error_of(*state.cause, limits);
  return end_run(std::move(state), s::aborted,
                 error ? std::move(*error) : std::move(work_error), work_gone);
}

/// Stopped work is gone: the run ends as the cause of the stop decides.
run_transition stopped_work_gone(run_engine_state state,
                                 const run_limits& limits) {
  switch (*state.cause) {
    case stop_cause::cancel:
      return end_run(std::move(state), s::cancelled, std::nullopt, work_gone);
    case stop_cause::timeout:
      return end_run(std::move(state), s::failed, timeout_error(limits),
                     work_gone);
    case stop_cause::shutdown:
      break;
  }
  return end_run(std::move(state), s::aborted, shutdown_error(), work_gone);
}

// -- one function per phase: the rows of the table ----------------------------
//
// Each handles the events its phase expects; any other event is unexpected.

/// The rows `starting` and `running` share, where the work has not been
/// asked to stop: a shutdown or the time limit stops it (into `next`), and
/// progress is recorded.
auto unstopped_work_rows(run_engine_state& state, run_phase next,
                         const run_limits& limits) {
  return overloaded{
    [&state, next](ev::abort& abort) {
      return stop_work(std::move(state), next, stop_cause::shutdown,
                       abort.grace);
    },
    [&state, next, &limits](ev::timeout&) {
      return stop_work(std::move(state), next, stop_cause::timeout,
                       limits.cancel_grace);
    },
    [&state](ev::progress& progress) {
      return record_progress(std::move(state), progress);
    },
  };
}

/// The rows the two stopping phases share: a cancel is answered as things
/// stand, a shutdown's grace bounds the stop too, progress is recorded, and
/// the end of the grace kills the work.
auto stopping_rows(run_engine_state& state) {
  return overloaded{
    [&state](ev::cancel&) {
      return handled(std::move(state), {effect(fx::answer_status)});
    },
    [&state](ev::abort& abort) { return rearm_grace(std::move(state), abort); },
    [&state](ev::progress& progress) {
      return record_progress(std::move(state), progress);
    },
    [&state](ev::grace_over&) { return kill_work(std::move(state)); },
  };
}

run_transition in_idle(run_engine_state state, run_event& event,
                       const run_limits&) {
  return std::visit(
    overloaded{
      [&](ev::queue& queued) { return new_run(std::move(state), queued); },
      [&](ev::cancel&) {
        return handled(std::move(state), {effect(fx::answer_not_found)});
      },
      [&](auto&) { return unexpected(std::move(state)); },
    },
    event);
}

run_transition in_queued(run_engine_state state, run_event& event,
                         const run_limits& limits) {
  return std::visit(
    overloaded{
      [&](ev::begin& begin) {
        return begin_work(std::move(state), begin, limits);
      },
      [&](ev::cancel&) {
        return end_run(std::move(state), s::cancelled, std::nullopt,
                       {effect(fx::push_status), effect(fx::answer_status)});
      },
      // A run that never started has nothing to abort: the RS table allows
      // only `cancelled` from here.
      [&](ev::abort&) {
        return end_run(std::move(state), s::cancelled, std::nullopt,
                       {effect(fx::push_status)});
      },
      [&](auto&) { return unexpected(std::move(state)); },
    },
    event);
}

run_transition in_starting(run_engine_state state, run_event& event,
                           const run_limits& limits) {
  constexpr auto next = run_phase::stopping_unstarted;
  return std::visit(
    overloaded{
      [&](ev::cancel&) {
        return stop_work(std::move(state), next, stop_cause::cancel,
                         limits.cancel_grace, {effect(fx::answer_status)});
      },
      [&](ev::started&) {
        if (!move_along(state.status, {s::running}))
          return unexpected(std::move(state));
        state.phase = run_phase::running;
        return handled(std::move(state), {effect(fx::push_status)});
      },
      // The work ended before it ever ran (e.g. its command cannot start).
      [&](ev::finished& finished) {
        return end_run(std::move(state), s::aborted,
                       unstarted(finished.outcome), work_gone);
      },
      [&](ev::worker_down& down) {
        return end_run(std::move(state), s::aborted, exited(down), work_gone);
      },
      unstopped_work_rows(state, next, limits),
      [&](auto&) { return unexpected(std::move(state)); },
    },
    event);
}

run_transition in_running(run_engine_state state, run_event& event,
                          const run_limits& limits) {
  constexpr auto next = run_phase::stopping;
  return std::visit(
    overloaded{
      [&](ev::cancel&) {
        if (!move_along(state.status, {s::cancelling}))
          return unexpected(std::move(state));
        return stop_work(std::move(state), next, stop_cause::cancel,
                         limits.cancel_grace,
                         {effect(fx::push_status), effect(fx::answer_status)});
      },
      [&](ev::finished& finished) {
        if (finished.outcome.succeeded)
          return end_run(std::move(state), s::completed, std::nullopt,
                         work_gone);
        return end_run(std::move(state), s::failed,
                       error_of(finished.outcome), work_gone);
      },
      [&](ev::worker_down& down) {
        return end_run(std::move(state), s::failed, exited(down), work_gone);
      },
      unstopped_work_rows(state, next, limits),
      [&](auto&) { return unexpected(std::move(state)); },
    },
    event);
}

run_transition in_stopping_unstarted(run_engine_state state, run_event& event,
                                     const run_limits& limits) {
  return std::visit(
    overloaded{
      // A stop asked for while starting shows once the work runs: a
      // cancelled run is `cancelling` from then on.
      [&](ev::started&) {
        auto moved = *state.cause == stop_cause::cancel
                       ? move_along(state.status, {s::running, s::cancelling})
                       : move_along(state.status, {s::running});
        if (!moved)
          return unexpected(std::move(state));
        state.phase = run_phase::stopping;
        return handled(std::move(state), {effect(fx::push_status)});
      },
      [&](ev::finished& finished) {
        return unstarted_work_gone(std::move(state),
                                   unstarted(finished.outcome), limits);
      },
      [&](ev::worker_down& down) {
        return unstarted_work_gone(std::move(state), exited(down), limits);
      },
      stopping_rows(state),
      [&](auto&) { return unexpected(std::move(state)); },
    },
    event);
}

run_transition in_stopping(run_engine_state state, run_event& event,
                           const run_limits& limits) {
  return std::visit(
    overloaded{
      [&](ev::finished&) {
        return stopped_work_gone(std::move(state), limits);
      },
      [&](ev::worker_down&) {
        return stopped_work_gone(std::move(state), limits);
      },
      stopping_rows(state),
      [&](auto&) { return unexpected(std::move(state)); },
    },
    event);
}

run_transition in_ended(run_engine_state state, run_event& event,
                        const run_limits&) {
  return std::visit(
    overloaded{
      [&](ev::queue& queued) { return new_run(std::move(state), queued); },
      [&](ev::cancel&) {
        return handled(std::move(state), {effect(fx::answer_status)});
      },
      // The supervisor asked before it saw the run end: nothing to stop.
      [&](ev::abort&) { return handled(std::move(state)); },
      [&](auto&) { return unexpected(std::move(state)); },
    },
    event);
}

/// A timer whose serial is not the armed one of its kind.
bool is_stale(const run_engine_state& state, const run_event& event) {
  auto stale = [](std::uint64_t serial, std::uint64_t armed) {
    return armed == 0 || serial != armed;
  };
  if (auto timer = std::get_if<ev::timeout>(&event))
    return stale(timer->serial, state.armed_timeout);
  if (auto timer = std::get_if<ev::grace_over>(&event))
    return stale(timer->serial, state.armed_grace);
  return false;
}

/// The row of `event` in the table of `state`'s phase.
run_transition apply_row(run_engine_state state, run_event& event,
                         const run_limits& limits) {
  switch (state.phase) {
    case run_phase::idle:
      return in_idle(std::move(state), event, limits);
    case run_phase::queued:
      return in_queued(std::move(state), event, limits);
    case run_phase::starting:
      return in_starting(std::move(state), event, limits);
    case run_phase::running:
      return in_running(std::move(state), event, limits);
    case run_phase::stopping_unstarted:
      return in_stopping_unstarted(std::move(state), event, limits);
    case run_phase::stopping:
      return in_stopping(std::move(state), event, limits);
    case run_phase::ended:
      break;
  }
  return in_ended(std::move(state), event, limits);
}

} // namespace

run_transition step(run_engine_state state, run_event event,
                    const run_limits& limits) {
  if (is_stale(state, event))
    return {std::move(state), {}, event_fate::stale};
  auto transition = apply_row(std::move(state), event, limits);
  // What the work produced stays with the run, however the run ended.
  if (auto finished = std::get_if<ev::finished>(&event);
      finished && transition.fate == event_fate::handled)
    transition.next.result = std::move(finished->outcome.result);
  return transition;
}

action_status status_of(const run_engine_state& state,
                        const std::string& name) {
  action_status status{name,           state.uid,        state.status.current(),
                       state.progress, state.error_code, state.error_message};
  status.result = state.result;
  return status;
}

std::string_view to_string(run_phase phase) noexcept {
  constexpr std::array<std::string_view, 7> names{
    "idle",    "queued",   "starting", "running", "stopping_unstarted",
    "stopping", "ended"};
  return names[static_cast<std::size_t>(phase)];
}

std::string_view to_string(stop_cause cause) noexcept {
  constexpr std::array<std::string_view, 3> names{"cancel", "timeout",
                                                  "shutdown"};
  return names[static_cast<std::size_t>(cause)];
}

std::string_view to_string(effect_kind kind) noexcept {
  constexpr std::array<std::string_view, 9> names{
    "start_work",  "stop_work",     "kill_work",
    "release_work", "arm_timeout",  "arm_grace",
    "push_status", "answer_status", "answer_not_found"};
  return names[static_cast<std::size_t>(kind)];
}

std::string_view event_name(const run_event& event) noexcept {
  constexpr std::array<std::string_view, std::variant_size_v<run_event>> names{
    "queue",    "begin",    "cancel",      "abort",   "started",
    "progress", "finished", "worker_down", "timeout", "grace_over"};
  return names[event.index()];
}

} // namespace cluster_actions
