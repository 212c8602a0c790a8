#include "actors/action_actor.hpp"

#include <algorithm>
#include <optional>

#include <caf/all.hpp>

#include "actors/state_machine.hpp"

namespace cluster_actions {

namespace {

/// Why the work of a run is being stopped; decides the terminal state.
enum class stop_reason { none, cancel, timeout, shutdown };

struct run {
  std::string uid;
  action_params params;
  run_state state;
  double progress = 0.0;
  std::string error_code;
  std::string error_message;
  std::string result;
  worker_actor worker;
  stop_reason stop = stop_reason::none;
};

struct action_actor_state {
  action_type type;
  supervisor_actor supervisor;
  std::optional<run> current;
  static inline const char* name = "cluster_actions.action";
};

using self_pointer = action_actor::stateful_pointer<action_actor_state>;

action_status status_of(const action_actor_state& st) {
  const auto& r = *st.current;
  action_status status{st.type.name, r.uid,          r.state.current(),
                       r.progress,   r.error_code,   r.error_message};
  status.result = r.result;
  return status;
}

/// The current run when `uid` names it; messages about earlier runs are
/// stale and ignored.
run* run_named(self_pointer self, const std::string& uid) {
  auto& current = self->state.current;
  return current && current->uid == uid ? &*current : nullptr;
}

void push(self_pointer self) {
  self->send(self->state.supervisor, status_atom::value,
             status_of(self->state));
}

/// Moves the current run to `next` and tells the supervisor; a move the
/// state machine refuses changes nothing.
bool move(self_pointer self, action_state next) {
  auto& r = *self->state.current;
  if (!r.state.move_to(next))
    return false;
  if (next == action_state::completed)
    r.progress = 100.0;
  if (is_terminal(next) && r.worker) {
    self->demonitor(r.worker.address());
    r.worker = nullptr;
  }
  push(self);
  return true;
}

void fail(self_pointer self, action_state next, std::string code,
          std::string message) {
  auto& r = *self->state.current;
  r.error_code = std::move(code);
  r.error_message = std::move(message);
  move(self, next);
}

/// Asks the work to stop and arms the kill for when `grace` is over.
void stop_work(self_pointer self, stop_reason why, caf::timespan grace) {
  auto& r = *self->state.current;
  r.stop = why;
  self->send(r.worker, stop_atom::value);
  self->delayed_send(self, grace, kill_atom::value, r.uid);
}

/// The work is gone: decide the terminal state from its outcome and from
/// why it was stopped.
void on_finished(self_pointer self, const work_outcome& outcome) {
  auto& r = *self->state.current;
  r.result = outcome.result;
  switch (r.state.current()) {
    case action_state::starting:
      // The work ended before it ever ran (e.g. its command cannot start).
      fail(self, action_state::aborted, outcome.error_code,
           outcome.error_message);
      break;
    case action_state::cancelling:
      move(self, action_state::cancelled);
      break;
    case action_state::running:
      switch (r.stop) {
        case stop_reason::timeout:
          fail(self, action_state::failed, "timeout",
               "the action did not finish within "
                 + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                    self->state.type.timeout)
                                    .count())
                 + " s and was stopped");
          break;
        case stop_reason::shutdown:
          fail(self, action_state::aborted, "shutdown",
               "the server stopped while the action was running");
          break;
        default:
          if (outcome.succeeded)
            move(self, action_state::completed);
          else
            fail(self, action_state::failed, outcome.error_code,
                 outcome.error_message);
      }
      break;
    default:
      break; // queued or terminal: no work to finish
  }
}

action_actor::behavior_type
action_behavior(self_pointer self, action_type type,
                supervisor_actor supervisor) {
  self->state.type = std::move(type);
  self->state.supervisor = std::move(supervisor);
  self->set_down_handler([=](const caf::down_msg& msg) {
    auto& current = self->state.current;
    if (current && current->worker && current->worker.address() == msg.source)
      on_finished(self, work_outcome::failure(
                          "worker_exited",
                          msg.reason
                            ? "the work stopped without reporting how it "
                              "ended: "
                                + self->system().render(msg.reason)
                            : "the work ended without reporting how it "
                              "ended"));
  });
  return {
    [=](queue_atom, std::string uid, action_params params) {
      auto& current = self->state.current.emplace();
      current.uid = std::move(uid);
      current.params = std::move(params);
    },
    [=](begin_atom, const std::string& uid) {
      auto r = run_named(self, uid);
      if (!r || !move(self, action_state::starting))
        return;
      const auto& type = self->state.type;
      r->worker = type.work(self, self, run_request{type.name, r->uid, r->params});
      self->monitor(r->worker);
      self->delayed_send(self, type.timeout, timeout_atom::value, r->uid);
    },
    [=](started_atom, const std::string& uid) {
      auto r = run_named(self, uid);
      if (!r || !move(self, action_state::running))
        return;
      // A stop requested while starting takes effect now that it runs.
      if (r->stop == stop_reason::cancel)
        move(self, action_state::cancelling);
    },
    [=](progress_atom, const std::string& uid, double percent) {
      auto r = run_named(self, uid);
      if (!r || is_terminal(r->state.current()))
        return;
      percent = std::clamp(percent, 0.0, 100.0);
      if (percent > r->progress) {
        r->progress = percent;
        push(self);
      }
    },
    [=](finished_atom, const std::string& uid, const work_outcome& outcome) {
      if (run_named(self, uid))
        on_finished(self, outcome);
    },
    [=](cancel_atom) -> caf::result<action_status> {
      if (!self->state.current)
        return caf::make_error(action_error::not_found);
      auto& r = *self->state.current;
      switch (r.state.current()) {
        case action_state::queued:
          move(self, action_state::cancelled);
          break;
        case action_state::starting:
          stop_work(self, stop_reason::cancel, self->state.type.cancel_grace);
          break;
        case action_state::running:
          move(self, action_state::cancelling);
          stop_work(self, stop_reason::cancel, self->state.type.cancel_grace);
          break;
        default:
          break; // cancelling already, or finished
      }
      return status_of(self->state);
    },
    [=](abort_atom, caf::timespan grace) {
      auto& current = self->state.current;
      if (!current)
        return;
      switch (current->state.current()) {
        case action_state::queued:
          // A run that never started has nothing to abort: the table
          // allows only `cancelled` from here.
          move(self, action_state::cancelled);
          break;
        case action_state::starting:
        case action_state::running:
          stop_work(self, stop_reason::shutdown, grace);
          break;
        case action_state::cancelling:
          self->delayed_send(self, grace, kill_atom::value, current->uid);
          break;
        default:
          break;
      }
    },
    [=](timeout_atom, const std::string& uid) {
      auto r = run_named(self, uid);
      if (r && r->stop == stop_reason::none && is_live(r->state.current()))
        stop_work(self, stop_reason::timeout, self->state.type.cancel_grace);
    },
    [=](kill_atom, const std::string& uid) {
      auto r = run_named(self, uid);
      if (r && r->worker)
        self->send(r->worker, kill_atom::value);
    },
  };
}

} // namespace

action_actor spawn_action_actor(caf::local_actor* parent,
                                supervisor_actor supervisor, action_type type) {
  return parent->spawn<caf::linked>(action_behavior, std::move(type),
                                    std::move(supervisor));
}

} // namespace cluster_actions
