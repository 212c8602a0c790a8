#include "actors/supervisor.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>

#include <caf/all.hpp>

#include "actors/action_actor.hpp"
#include "actors/state_machine.hpp"
#include "messages/action_name.hpp"

namespace cluster_actions {

namespace {

struct registered_type {
  /// What a fresh action actor is spawned with when the current one fails.
  action_type definition;
  action_actor actor;
  /// The current or last run, as last pushed by the action actor.
  std::optional<action_status> status;
  /// The parameters of the current run: a fresh action actor takes the run
  /// over with them if the run's actor fails before the run has started.
  action_params run_params;
};

struct supervisor_state {
  supervisor_settings settings;
  std::map<std::string, registered_type> types;
  /// Types whose queued run waits for a slot, in arrival order.
  std::deque<std::string> waiting;
  /// Types whose run was given a slot and has not ended yet.
  std::set<std::string> admitted;
  std::mt19937_64 random{std::random_device{}()};
  /// Set by shutdown: no new runs; delivered once every run has ended.
  std::optional<caf::typed_response_promise<std::size_t>> stopped;
  /// The grace of the shutdown, for runs a fresh action actor takes over.
  caf::timespan shutdown_grace{};
  /// Runs that ended `aborted` since the shutdown began.
  std::size_t aborted_runs = 0;
  /// Told of every change of a status (see subscribe_atom).
  std::vector<status_watcher_actor> watchers;
  static inline const char* name = "cluster_actions.supervisor";
};

using self_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

/// A random (version 4) UUID.
std::string make_uid(std::mt19937_64& random) {
  static constexpr char hex[] = "0123456789abcdef";
  std::uniform_int_distribution<int> nibble(0, 15);
  std::string uid = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
  for (auto& c : uid)
    if (c == 'x')
      c = hex[nibble(random)];
    else if (c == 'y')
      c = hex[8 + nibble(random) % 4];
  return uid;
}

bool has_live_run(const registered_type& type) {
  return type.status && is_live(type.status->state);
}

/// Gives free slots to waiting runs, oldest first.
void dispatch(self_pointer self) {
  auto& st = self->state;
  while (st.admitted.size() < st.settings.max_running_actions
         && !st.waiting.empty()) {
    auto name = std::move(st.waiting.front());
    st.waiting.pop_front();
    auto& type = st.types.at(name);
    self->send(type.actor, begin_atom::value, type.status->action_uid);
    st.admitted.insert(std::move(name));
  }
}

/// Tells every watcher of a change: `xs` is `changed_atom` and the new
/// status, or `removed_atom` and the type's name.
template <class... Ts>
void tell_watchers(self_pointer self, const Ts&... xs) {
  for (const auto& watcher : self->state.watchers)
    self->send(watcher, xs...);
}

void deliver_if_stopped(self_pointer self) {
  auto& st = self->state;
  if (!st.stopped)
    return;
  if (std::none_of(st.types.begin(), st.types.end(),
                   [](const auto& kv) { return has_live_run(kv.second); }))
    st.stopped->deliver(st.aborted_runs);
}

/// Bookkeeping once the run of `name` is terminal: its slot goes to a
/// waiting run, and a shutdown may be complete.
void run_ended(self_pointer self, const std::string& name) {
  auto& st = self->state;
  if (st.stopped && st.types.at(name).status->state == action_state::aborted)
    ++st.aborted_runs;
  if (st.admitted.erase(name) > 0)
    dispatch(self);
  deliver_if_stopped(self);
}

/// Spawns the action actor of `type` and watches it.
void spawn_actor_of(self_pointer self, registered_type& type) {
  type.actor = spawn_action_actor(
    self, caf::actor_cast<supervisor_actor>(self), type.definition);
  self->monitor(type.actor);
}

/// The action actor of `name`, `failed`, went down while this supervisor
/// lives: action actors never end on their own, so it failed. Its worker
/// watches it and stops the work with it. A fresh actor takes the type
/// over: a run that had not started goes on with it; a started one ends as
/// the failure left it. Nothing happens when `failed` was replaced already.
void replace_failed(self_pointer self, const std::string& name,
                    const caf::actor_addr& failed, const caf::error& reason) {
  auto& st = self->state;
  auto& type = st.types.at(name);
  if (type.actor.address() != failed)
    return;
  spawn_actor_of(self, type);
  if (!has_live_run(type))
    return;
  auto& run = *type.status;
  if (run.state == action_state::queued) {
    // What the failed actor was told of the run, told again.
    self->send(type.actor, queue_atom::value, run.action_uid, type.run_params);
    if (st.stopped)
      self->send(type.actor, abort_atom::value, st.shutdown_grace);
    else if (st.admitted.count(name) > 0)
      self->send(type.actor, begin_atom::value, run.action_uid);
    return;
  }
  // The system stopped the run: `aborted`, except where the RS table allows
  // only `cancelled`, after a user's cancel.
  if (can_transition(run.state, action_state::aborted)) {
    run.state = action_state::aborted;
    run.error_code = "internal_error";
    run.error_message = "the actor of action '" + name + "' failed ("
                        + self->system().render(reason)
                        + "); the run was aborted and its work stopped";
  } else {
    run.state = action_state::cancelled;
  }
  tell_watchers(self, changed_atom::value, run);
  run_ended(self, name);
}

/// Asks the action actor of `name` to cancel its live run and answers
/// `promise` with the status it reports. An actor that fails before it
/// answers (the error is its exit reason) is replaced at once: the run its
/// successor took over is asked again, any other answered as it ended.
void cancel_run(self_pointer self, const std::string& name,
                caf::typed_response_promise<action_status> promise) {
  auto asked = self->state.types.at(name).actor;
  self->request(asked, caf::infinite, cancel_atom::value)
    .then(
      [promise](action_status& status) mutable {
        promise.deliver(std::move(status));
      },
      [=](caf::error& err) mutable {
        if (err == action_error::not_found) { // the actor holds no run
          promise.deliver(std::move(err));
          return;
        }
        replace_failed(self, name, asked.address(), err);
        auto& type = self->state.types.at(name);
        if (has_live_run(type))
          cancel_run(self, name, promise);
        else
          promise.deliver(*type.status);
      });
}

caf::error unknown(const std::string& name) {
  return caf::make_error(action_error::unknown_action,
                         "no action type is named '" + name + "'");
}

caf::error nothing_to_show(const std::string& name) {
  return caf::make_error(action_error::not_found,
                         "action '" + name
                           + "' is not running and has no status of a "
                             "previous run");
}

supervisor_actor::behavior_type
supervisor_behavior(self_pointer self, std::vector<action_type> types,
                    supervisor_settings settings) {
  auto& st = self->state;
  st.settings = settings;
  st.settings.max_running_actions
    = std::max<std::size_t>(1, st.settings.max_running_actions);
  for (auto& type : types) {
    auto name = type.name;
    auto& registered = st.types
                         .emplace(std::move(name),
                                  registered_type{std::move(type), {}, {}, {}})
                         .first->second;
    spawn_actor_of(self, registered);
  }
  self->set_down_handler([=](caf::down_msg& down) {
    auto& watchers = self->state.watchers;
    watchers.erase(std::remove_if(watchers.begin(), watchers.end(),
                                  [&](const status_watcher_actor& watcher) {
                                    return watcher.address() == down.source;
                                  }),
                   watchers.end());
    for (auto& [name, type] : self->state.types)
      if (type.actor.address() == down.source)
        return replace_failed(self, name, down.source, down.reason);
  });
  return {
    [=](list_atom) {
      std::vector<action_status> result;
      result.reserve(self->state.types.size());
      for (const auto& [name, type] : self->state.types)
        if (type.status)
          result.push_back(*type.status);
      return result;
    },
    [=](get_atom, const std::string& name) -> caf::result<action_status> {
      auto i = self->state.types.find(name);
      if (i == self->state.types.end())
        return unknown(name);
      if (!i->second.status)
        return nothing_to_show(name);
      return *i->second.status;
    },
    [=](start_atom, const std::string& name,
        action_params& params) -> caf::result<action_status> {
      auto& st = self->state;
      if (st.stopped)
        return caf::make_error(action_error::shutting_down,
                               "the server is shutting down");
      auto i = st.types.find(name);
      if (i == st.types.end())
        return unknown(name);
      auto& type = i->second;
      if (auto err = validate_params(type.definition.params, params))
        return err;
      if (has_live_run(type))
        return caf::make_error(action_error::conflict,
                               "action '" + name + "' is already "
                                 + std::string(to_string(type.status->state))
                                 + " (action_uid "
                                 + type.status->action_uid
                                 + "); wait for it to finish or cancel it");
      // Accepting the run drops the previous run's status.
      type.status = action_status{name, make_uid(st.random),
                                  action_state::queued, 0.0, {}, {}};
      type.run_params = params;
      self->send(type.actor, queue_atom::value, type.status->action_uid,
                 std::move(params));
      st.waiting.push_back(name);
      dispatch(self);
      tell_watchers(self, changed_atom::value, *type.status);
      return *type.status;
    },
    [=](cancel_atom, const std::string& name) -> caf::result<action_status> {
      auto& st = self->state;
      auto i = st.types.find(name);
      if (i == st.types.end())
        return unknown(name);
      auto& type = i->second;
      if (!type.status)
        return nothing_to_show(name);
      if (is_terminal(type.status->state)) {
        auto removed = std::move(*type.status);
        type.status.reset();
        tell_watchers(self, removed_atom::value, name);
        return removed;
      }
      // A waiting run never gets a slot now; its actor cancels it.
      st.waiting.erase(std::remove(st.waiting.begin(), st.waiting.end(), name),
                       st.waiting.end());
      auto promise = self->make_response_promise<action_status>();
      cancel_run(self, name, promise);
      return promise;
    },
    [=](status_atom, action_status& pushed) {
      auto& st = self->state;
      auto i = st.types.find(pushed.name);
      if (i == st.types.end() || !i->second.status
          || i->second.status->action_uid != pushed.action_uid)
        return; // about a run whose status was replaced or removed
      auto ended = is_terminal(pushed.state);
      i->second.status = std::move(pushed);
      tell_watchers(self, changed_atom::value, *i->second.status);
      if (ended)
        run_ended(self, i->first);
    },
    [=](shutdown_atom, caf::timespan grace) -> caf::result<std::size_t> {
      auto& st = self->state;
      if (st.stopped)
        return caf::make_error(action_error::shutting_down,
                               "shutdown already requested");
      st.waiting.clear();
      for (auto& [name, type] : st.types)
        if (has_live_run(type))
          self->send(type.actor, abort_atom::value, grace);
      st.stopped = self->make_response_promise<std::size_t>();
      st.shutdown_grace = grace;
      auto result = *st.stopped;
      deliver_if_stopped(self);
      return result;
    },
    [=](subscribe_atom, status_watcher_actor& watcher) {
      for (const auto& [name, type] : self->state.types)
        if (type.status)
          self->send(watcher, changed_atom::value, *type.status);
      self->monitor(watcher);
      self->state.watchers.push_back(std::move(watcher));
    },
  };
}

} // namespace

supervisor_actor spawn_supervisor(caf::actor_system& system,
                                  std::vector<action_type> types,
                                  supervisor_settings settings) {
  std::set<std::string> names;
  for (const auto& type : types) {
    if (!is_valid_action_name(type.name))
      throw std::invalid_argument(
        "action type name '" + type.name
        + "' is not valid: it must be 1 to "
        + std::to_string(max_action_name_length)
        + " letters, digits, '_' or '-'");
    if (!names.insert(type.name).second)
      throw std::invalid_argument("action type '" + type.name
                                  + "' is registered twice");
    if (!type.work)
      throw std::invalid_argument("action type '" + type.name
                                  + "' has no work");
  }
  return system.spawn(supervisor_behavior, std::move(types), settings);
}

} // namespace cluster_actions
