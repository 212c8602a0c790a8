#include "actors/action_actor.hpp"

#include <atomic>
#include <optional>
#include <stdexcept>

#include <caf/all.hpp>

#include "actors/run_engine.hpp"

namespace cluster_actions {

namespace {

namespace ev = run_events;

/// Counted across the process (see `unexpected_action_events`): Debian's
/// CAF has its debug log compiled out, so the count is what tests and
/// diagnostics can see.
std::atomic<std::uint64_t> unexpected_events{0};

struct action_actor_state {
  action_type type;
  supervisor_actor supervisor;
  run_engine_state engine;
  /// The current run's worker, from `start_work` to `release_work`.
  worker_actor worker;
  static inline const char* name = "cluster_actions.action";
};

using self_pointer = action_actor::stateful_pointer<action_actor_state>;

/// What a cancel is answered with.
using answer = std::optional<caf::result<action_status>>;

/// Counts, and logs at debug level, an event dropped as unexpected.
void count_unexpected([[maybe_unused]] self_pointer self,
                      [[maybe_unused]] std::string_view event,
                      [[maybe_unused]] const char* why) {
  ++unexpected_events;
  CAF_LOG_DEBUG("action" << self->state.type.name << ": unexpected event"
                         << event << "in phase"
                         << to_string(self->state.engine.phase) << ":"
                         << why);
}

void start_work(self_pointer self) {
  auto& st = self->state;
  st.worker = st.type.work(self, self,
                           run_request{st.type.name, st.engine.uid,
                                       st.engine.params});
  if (!st.worker)
    throw std::logic_error("the work factory of action '" + st.type.name
                           + "' returned no worker");
  self->monitor(st.worker);
}

void carry_out(self_pointer self, const run_effect& effect, answer& reply) {
  auto& st = self->state;
  switch (effect.kind) {
    case effect_kind::start_work:
      start_work(self);
      break;
    case effect_kind::stop_work:
      self->send(st.worker, stop_atom::value);
      break;
    case effect_kind::kill_work:
      self->send(st.worker, kill_atom::value);
      break;
    case effect_kind::release_work:
      self->demonitor(st.worker.address());
      st.worker = nullptr;
      break;
    case effect_kind::arm_timeout:
      self->delayed_send(self, effect.after, timeout_atom::value,
                         effect.timer);
      break;
    case effect_kind::arm_grace:
      self->delayed_send(self, effect.after, grace_over_atom::value,
                         effect.timer);
      break;
    case effect_kind::push_status:
      self->send(st.supervisor, status_atom::value,
                 status_of(st.engine, st.type.name));
      break;
    case effect_kind::answer_status:
      reply = status_of(st.engine, st.type.name);
      break;
    case effect_kind::answer_not_found:
      reply = caf::make_error(action_error::not_found);
      break;
  }
}

/// Runs `event` through the engine and carries out the effects; returns the
/// answer to the caller when the engine gives one.
answer handle(self_pointer self, run_event event) {
  auto& st = self->state;
  auto name = event_name(event);
  auto transition = step(std::move(st.engine), std::move(event),
                         {st.type.timeout, st.type.cancel_grace});
  st.engine = std::move(transition.next);
  if (transition.fate == event_fate::unexpected)
    count_unexpected(self, name, "not in the state's table");
  answer reply;
  for (const auto& effect : transition.effects)
    carry_out(self, effect, reply);
  return reply;
}

/// A report of the run's worker; the same message from anyone else (a
/// worker already released, or a stranger) changes nothing.
void from_worker(self_pointer self, run_event event) {
  auto& st = self->state;
  if (!st.worker
      || self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(
           st.worker)) {
    count_unexpected(self, event_name(event), "not from the run's worker");
    return;
  }
  handle(self, std::move(event));
}

action_actor::behavior_type
action_behavior(self_pointer self, action_type type,
                supervisor_actor supervisor) {
  self->state.type = std::move(type);
  self->state.supervisor = std::move(supervisor);
  self->monitor(self->state.supervisor);
  self->set_down_handler([=](const caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source == st.supervisor.address())
      self->quit(msg.reason); // its worker watches this actor in turn
    else if (st.worker && msg.source == st.worker.address())
      handle(self, ev::worker_down{msg.reason
                                     ? self->system().render(msg.reason)
                                     : std::string{}});
    // Otherwise a worker released after its report crossed its exit.
  });
  return {
    [=](queue_atom, std::string& uid, action_params& params) {
      handle(self, ev::queue{std::move(uid), std::move(params)});
    },
    [=](begin_atom, std::string& uid) {
      handle(self, ev::begin{std::move(uid)});
    },
    [=](cancel_atom) -> caf::result<action_status> {
      auto reply = handle(self, ev::cancel{});
      // Every phase answers a cancel (the engine's tests walk them all).
      if (!reply)
        return caf::make_error(caf::sec::unexpected_message);
      return std::move(*reply);
    },
    [=](abort_atom, caf::timespan grace) {
      handle(self, ev::abort{grace});
    },
    [=](started_atom) { from_worker(self, ev::started{}); },
    [=](progress_atom, double percent) {
      from_worker(self, ev::progress{percent});
    },
    [=](finished_atom, work_outcome& outcome) {
      from_worker(self, ev::finished{std::move(outcome)});
    },
    [=](timeout_atom, std::uint64_t serial) {
      handle(self, ev::timeout{serial});
    },
    [=](grace_over_atom, std::uint64_t serial) {
      handle(self, ev::grace_over{serial});
    },
  };
}

} // namespace

action_actor spawn_action_actor(caf::local_actor* parent,
                                supervisor_actor supervisor, action_type type) {
  return parent->spawn(action_behavior, std::move(type), std::move(supervisor));
}

std::uint64_t unexpected_action_events() noexcept {
  return unexpected_events.load();
}

} // namespace cluster_actions
