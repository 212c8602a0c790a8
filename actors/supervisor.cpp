#include "actors/supervisor.hpp"

#include <algorithm>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>

#include <caf/all.hpp>

#include "actors/action_actor.hpp"
#include "actors/state_machine.hpp"
#include "messages/action_name.hpp"

namespace cluster_actions {

namespace {

/// The supervisor's own timers: write a type's latest status now (progress
/// held back to coalesce its writes, or a write to try again); give free
/// slots to waiting runs again (after a start could not be stored).
using persist_atom = caf::atom_constant<caf::atom("ca_persist")>;
using dispatch_atom = caf::atom_constant<caf::atom("ca_dispat")>;

using supervisor_impl
  = supervisor_actor::extend<caf::reacts_to<persist_atom, std::string>,
                             caf::reacts_to<dispatch_atom>>;

/// Progress alone is written at most this often per run.
constexpr auto progress_write_interval = std::chrono::milliseconds(250);
/// A status push or a start whose write failed is tried again after this.
constexpr auto write_retry_interval = std::chrono::seconds(1);
/// How long the supervisor waits for the store, and for an action actor to
/// answer a cancel. Both answer on their own long before; these bound a
/// store stuck in I/O.
constexpr auto store_deadline = std::chrono::seconds(30);
constexpr auto cancel_deadline = std::chrono::seconds(10);

using done_callback = std::function<void(const caf::error&)>;

struct registered_type {
  /// What a fresh action actor is spawned with when the current one fails.
  action_type definition;
  action_actor actor;
  /// The current or last run as the supervisor knows it: the action actor's
  /// last push, stamped with when and by whom. Admission, slots and
  /// conflicts follow it.
  std::optional<run_record> run;
  /// What the API shows: `run`'s status once it is durable (its progress
  /// may be ahead of the store); without a store, `run`'s status.
  std::optional<action_status> shown;
  /// Changes of `run`, counted, the newest the store has made durable, and
  /// callbacks waiting for one to be.
  std::uint64_t changes = 0;
  std::uint64_t durable = 0;
  std::vector<std::pair<std::uint64_t, done_callback>> durability_waiters;
  /// A write of the run's status is in flight. One at a time: changes made
  /// meanwhile go in the next, as one.
  bool writing = false;
  /// The run is being replaced by a new one or removed: no write of its
  /// status may follow that request to the store, or it would undo it.
  bool sealed = false;
  /// A persist_atom timer is pending for this type.
  bool persist_armed = false;
  /// Starts and cancels of the type are served one at a time (see
  /// `in_turn`): set while one is, with the later ones in arrival order.
  bool serving_request = false;
  std::deque<std::function<void()>> deferred_requests;
};

struct supervisor_state {
  supervisor_settings settings;
  std::map<std::string, registered_type> types;
  /// Types whose queued run waits for a slot, in arrival order.
  std::deque<std::string> waiting;
  /// Types whose run was given a slot and has not ended yet.
  std::set<std::string> admitted;
  std::mt19937_64 random;
  /// The queue_order of the next admitted run.
  std::uint64_t next_queue_order = 1;
  /// Requests to the store not answered yet.
  std::size_t store_calls = 0;
  /// Set by shutdown: no new runs; delivered once every run has ended.
  std::optional<caf::typed_response_promise<std::size_t>> stopped;
  /// Runs that ended `aborted` since the shutdown began.
  std::size_t aborted_runs = 0;
  /// The grace the shutdown gives work to stop.
  caf::timespan stop_grace{};
  /// Told of every change of a status (see subscribe_atom).
  std::vector<status_watcher_actor> watchers;
  static inline const char* name = "cluster_actions.supervisor";
};

using self_pointer = supervisor_impl::stateful_pointer<supervisor_state>;

unix_millis now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Seeded with 256 bits from the system: uids must not repeat across
/// restarts, which a 32-bit seed would allow after some ten thousand.
std::mt19937_64 make_random() {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device(),
                     device(), device(), device(), device()};
  return std::mt19937_64{seed};
}

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
  return type.run && is_live(type.run->status.state);
}

void begin_run(self_pointer self, const std::string& name);

/// Gives free slots to waiting runs, oldest first; none after shutdown.
void dispatch(self_pointer self) {
  auto& st = self->state;
  while (!st.stopped && st.admitted.size() < st.settings.max_running_actions
         && !st.waiting.empty()) {
    auto name = std::move(st.waiting.front());
    st.waiting.pop_front();
    st.admitted.insert(name);
    begin_run(self, name);
  }
}

/// Whether shutdown waits for this run: every live run without a store;
/// with one, queued runs stay queued for the next start.
bool must_end_before_stop(const supervisor_state& st,
                          const registered_type& type) {
  return has_live_run(type)
         && !(st.settings.store && type.run->status.state == action_state::queued);
}

/// Tells every watcher what the API now shows of `name`: its status, or
/// that it has none any more.
void tell_watchers(self_pointer self, const std::string& name) {
  const auto& shown = self->state.types.at(name).shown;
  for (const auto& watcher : self->state.watchers)
    if (shown)
      self->send(watcher, changed_atom::value, *shown);
    else
      self->send(watcher, removed_atom::value, name);
}

void deliver_if_stopped(self_pointer self) {
  auto& st = self->state;
  if (!st.stopped || st.store_calls > 0)
    return;
  if (std::none_of(st.types.begin(), st.types.end(), [&](const auto& kv) {
        return must_end_before_stop(st, kv.second);
      }))
    st.stopped->deliver(st.aborted_runs);
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

// ---- One request of a type at a time -------------------------------------

/// Serves a start or cancel of type `name` now, or, while an earlier one
/// waits for the store or an action actor, after it: each then decides on
/// the state the one before it left (a second start meets the first one's
/// run and is a conflict). `serve` ends by calling `done_serving`.
void in_turn(self_pointer self, const std::string& name,
             std::function<void()> serve) {
  auto& type = self->state.types.at(name);
  if (type.serving_request) {
    type.deferred_requests.push_back(std::move(serve));
    return;
  }
  type.serving_request = true;
  serve();
}

void done_serving(self_pointer self, const std::string& name) {
  auto& type = self->state.types.at(name);
  type.serving_request = false;
  if (type.deferred_requests.empty())
    return;
  auto next = std::move(type.deferred_requests.front());
  type.deferred_requests.pop_front();
  type.serving_request = true;
  next();
}

// ---- The store -----------------------------------------------------------

/// Sends one change to the store and calls `done` with its answer; without
/// a store, calls it at once with no error.
template <class... Ts>
void store_call(self_pointer self, done_callback done, Ts... xs) {
  auto& st = self->state;
  if (!st.settings.store) {
    done({});
    return;
  }
  ++st.store_calls;
  auto answered = [self, done](const caf::error& err) {
    --self->state.store_calls;
    done(err);
    deliver_if_stopped(self);
  };
  self->request(st.settings.store, store_deadline, std::move(xs)...)
    .then([answered](durable_atom) { answered({}); },
          [answered](caf::error& err) { answered(err); });
}

void store_write(self_pointer self, const run_record& record,
                 done_callback done) {
  store_call(self, std::move(done), write_atom::value, record);
}

void store_remove(self_pointer self, const action_status& status,
                  done_callback done) {
  store_call(self, std::move(done), remove_atom::value, status.name,
             status.action_uid);
}

/// Makes `record` the type's run and what the API shows, as a durable
/// change that no earlier write may overwrite in the view.
void install(registered_type& type, run_record record) {
  type.shown = record.status;
  type.run = std::move(record);
  type.durable = ++type.changes;
  type.sealed = false;
}

void forget(registered_type& type) {
  type.run.reset();
  type.shown.reset();
  type.durable = ++type.changes;
  type.sealed = false;
}

/// Calls the waiters for changes up to `version` with `err`.
void notify_waiters(registered_type& type, std::uint64_t version,
                    const caf::error& err) {
  auto& waiters = type.durability_waiters;
  auto ready = std::stable_partition(
    waiters.begin(), waiters.end(),
    [version](const auto& waiter) { return waiter.first > version; });
  std::vector<std::pair<std::uint64_t, done_callback>> due{
    std::make_move_iterator(ready), std::make_move_iterator(waiters.end())};
  waiters.erase(ready, waiters.end());
  for (auto& waiter : due)
    waiter.second(err);
}

void arm_persist(self_pointer self, registered_type& type,
                 const std::string& name, caf::timespan after) {
  if (type.persist_armed)
    return;
  type.persist_armed = true;
  self->delayed_send(self, after, persist_atom::value, name);
}

void write_latest(self_pointer self, const std::string& name);

/// Changes of the run not yet durable, by what they change: a state soon
/// (now, or when the write in flight is answered), progress alone a little
/// later, so that its writes are coalesced.
void write_pending(self_pointer self, const std::string& name) {
  auto& type = self->state.types.at(name);
  if (!type.run || type.sealed || type.durable >= type.changes)
    return;
  if (!type.shown || type.run->status.state != type.shown->state)
    write_latest(self, name);
  else
    arm_persist(self, type, name, progress_write_interval);
}

/// The store has answered the write of change `version` of `name`, which
/// held `written`.
void on_written(self_pointer self, const std::string& name,
                std::uint64_t version, action_status written,
                const caf::error& err) {
  auto& type = self->state.types.at(name);
  type.writing = false;
  if (err) {
    notify_waiters(type, version, err);
    if (!type.sealed && version > type.durable) {
      arm_persist(self, type, name, write_retry_interval);
      self->state.settings.report("cannot store the status of action '" + name
                                  + "' yet, trying again: "
                                  + self->system().render(err));
    }
    return;
  }
  if (version <= type.durable)
    return; // a later change (a new run, a removal) is durable already
  type.durable = version;
  type.shown = std::move(written);
  // Progress shown before it was stored stays shown.
  const auto& latest = type.run->status;
  if (latest.action_uid == type.shown->action_uid
      && latest.state == type.shown->state)
    type.shown->progress = latest.progress;
  tell_watchers(self, name);
  notify_waiters(type, version, {});
  write_pending(self, name);
}

/// Sends the type's latest change to the store, unless a write of the type
/// is in flight (its answer sends what is pending then) or the run is
/// sealed.
void write_latest(self_pointer self, const std::string& name) {
  auto& type = self->state.types.at(name);
  if (type.writing || type.sealed)
    return;
  type.writing = true;
  auto version = type.changes;
  auto written = type.run->status;
  store_write(self, *type.run,
              [self, name, version, written](const caf::error& err) {
                on_written(self, name, version, written, err);
              });
}

/// Calls `done` once the type's latest change is durable (at once without
/// a store), or with the error of the write that failed to store it.
void when_durable(self_pointer self, const std::string& name,
                  done_callback done) {
  auto& type = self->state.types.at(name);
  if (!self->state.settings.store || type.durable >= type.changes) {
    done({});
    return;
  }
  type.durability_waiters.emplace_back(type.changes, std::move(done));
  write_latest(self, name);
}

/// Makes the latest change of `name` visible: at once without a store;
/// with one, a change of state once it is durable, and progress at once
/// (written with the next change of state, or after a while).
void publish(self_pointer self, const std::string& name, bool state_changed) {
  auto& type = self->state.types.at(name);
  const auto& latest = type.run->status;
  if (!self->state.settings.store) {
    type.shown = latest;
    type.durable = type.changes;
    tell_watchers(self, name);
    return;
  }
  if (state_changed) {
    write_latest(self, name);
    return;
  }
  if (type.shown && type.shown->action_uid == latest.action_uid
      && type.shown->state == latest.state) {
    type.shown->progress = latest.progress;
    tell_watchers(self, name);
  }
  arm_persist(self, type, name, progress_write_interval);
}

// ---- Runs ----------------------------------------------------------------

/// `pushed` with the times and the user the supervisor keeps for the run:
/// it ended now, if it did.
action_status stamped(const action_status& before, action_status pushed) {
  pushed.creation_time = before.creation_time;
  pushed.started_by = before.started_by;
  pushed.start_time = before.start_time;
  pushed.end_time = before.end_time;
  if (is_terminal(pushed.state) && !is_terminal(before.state))
    pushed.end_time = now_millis();
  return pushed;
}

/// Bookkeeping once the run of `name` is terminal: its slot goes to a
/// waiting run, and a shutdown may be complete.
void run_ended(self_pointer self, const std::string& name) {
  auto& st = self->state;
  if (st.stopped
      && st.types.at(name).run->status.state == action_state::aborted)
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
/// the failure left it (shown once that is durable). Nothing happens when
/// `failed` was replaced already.
void replace_failed(self_pointer self, const std::string& name,
                    const caf::actor_addr& failed, const caf::error& reason) {
  auto& st = self->state;
  auto& type = st.types.at(name);
  if (type.actor.address() != failed)
    return;
  spawn_actor_of(self, type);
  if (!has_live_run(type))
    return;
  auto& run = type.run->status;
  if (run.state == action_state::queued) {
    // What the failed actor was told of the run, told again.
    // A run given a slot is still being stored as `starting`: begin_run
    // tells the fresh actor to begin once it is.
    self->send(type.actor, queue_atom::value, run.action_uid, type.run->params);
    if (st.stopped && !st.settings.store)
      self->send(type.actor, abort_atom::value, st.stop_grace);
    return;
  }
  // The system stopped the run: `aborted`, except where the RS table allows
  // only `cancelled`, after a user's cancel.
  auto ended = run;
  if (can_transition(run.state, action_state::aborted)) {
    ended.state = action_state::aborted;
    ended.error_code = "internal_error";
    ended.error_message = "the actor of action '" + name + "' failed ("
                          + self->system().render(reason)
                          + "); the run was aborted and its work stopped";
  } else {
    ended.state = action_state::cancelled;
  }
  run = stamped(run, std::move(ended));
  ++type.changes;
  publish(self, name, true);
  run_ended(self, name);
}

/// `record` as it leaves the queue now.
run_record as_starting(run_record record) {
  record.status.state = action_state::starting;
  record.status.start_time = now_millis();
  return record;
}

/// The run of `name`, durable as `starting`: its work begins. A run whose
/// start was being stored when the shutdown came is stopped at once.
void start_work(self_pointer self, const std::string& name) {
  auto& st = self->state;
  const auto& type = st.types.at(name);
  self->send(type.actor, begin_atom::value, type.run->status.action_uid);
  if (st.stopped)
    self->send(type.actor, abort_atom::value, st.stop_grace);
}

/// A run given a slot: its move to `starting` is made durable before its
/// work begins, so that a restart never finds a run queued whose work may
/// have run (it would run twice). Starts and cancels of the type wait
/// meanwhile; a run whose start cannot be stored waits, first in line, for
/// the next try.
void begin_run(self_pointer self, const std::string& name) {
  in_turn(self, name, [self, name, uid = self->state.types.at(name)
                                           .run->status.action_uid] {
    auto& st = self->state;
    const auto& run = st.types.at(name).run;
    if (!run || run->status.action_uid != uid
        || run->status.state != action_state::queued) {
      // Cancelled while it waited for its turn: the slot is free again.
      st.admitted.erase(name);
      dispatch(self);
      done_serving(self, name);
      return;
    }
    auto record = as_starting(*run);
    store_write(self, record, [self, name, record](const caf::error& err) {
      auto& st = self->state;
      if (err) {
        st.admitted.erase(name);
        st.waiting.push_front(name);
        self->delayed_send(self, write_retry_interval, dispatch_atom::value);
        st.settings.report("cannot store the start of action '" + name
                           + "' yet, trying again: "
                           + self->system().render(err));
      } else {
        install(st.types.at(name), record);
        tell_watchers(self, name);
        start_work(self, name);
      }
      done_serving(self, name);
    });
  });
}

/// Hands a queued run to its action actor.
void hand_over(self_pointer self, const std::string& name) {
  const auto& type = self->state.types.at(name);
  self->send(type.actor, queue_atom::value, type.run->status.action_uid,
             type.run->params);
}

/// Hands a queued run to its action actor and to the queue for a slot.
void enqueue(self_pointer self, const std::string& name) {
  hand_over(self, name);
  self->state.waiting.push_back(name);
  dispatch(self);
}

/// Whether a run admitted now gets a slot at once: nothing waits before it.
bool slot_free_now(const supervisor_state& st) {
  return !st.stopped && st.waiting.empty()
         && st.admitted.size() < st.settings.max_running_actions;
}

/// The type's run is about to be replaced or removed by a request to the
/// store: what of its status is not written yet never will be (it would
/// land after the request, and undo it).
void seal(self_pointer self, const std::string& name) {
  self->state.types.at(name).sealed = true;
}

/// The request failed: the run stays, and what of it is pending is written.
void unseal(self_pointer self, const std::string& name) {
  self->state.types.at(name).sealed = false;
  write_pending(self, name);
}

caf::error refuse_start(const supervisor_state& st, const std::string& name,
                        const registered_type& type,
                        const action_params& params) {
  if (st.stopped)
    return caf::make_error(action_error::shutting_down,
                           "the server is shutting down");
  if (auto err = validate_params(type.definition.params, params))
    return err;
  if (has_live_run(type))
    return caf::make_error(action_error::conflict,
                           "action '" + name + "' is already "
                             + std::string(to_string(type.run->status.state))
                             + " (action_uid " + type.run->status.action_uid
                             + "); wait for it to finish or cancel it");
  return {};
}

/// A start: the new run replaces the type's previous one once it is
/// durable; until then nothing changes. A run that gets a slot at once is
/// stored as `starting` right away (its start is durable before its work
/// begins, in the same write); the answer is the run as accepted, `queued`.
void admit(self_pointer self, const std::string& name, action_params params,
           std::string started_by,
           caf::typed_response_promise<action_status> promise) {
  auto& st = self->state;
  if (auto err = refuse_start(st, name, st.types.at(name), params)) {
    promise.deliver(std::move(err));
    done_serving(self, name);
    return;
  }
  run_record record;
  record.status.name = name;
  record.status.action_uid = make_uid(st.random);
  record.status.creation_time = now_millis();
  record.status.started_by = std::move(started_by);
  record.params = std::move(params);
  record.queue_order = st.next_queue_order++;
  const bool starts_now = slot_free_now(st);
  if (starts_now)
    st.admitted.insert(name); // the slot is kept while the write is in flight
  auto stored = starts_now ? as_starting(record) : record;
  seal(self, name);
  store_write(self, stored, [self, name, stored, starts_now, accepted =
                             record.status, promise](const caf::error& err) mutable {
    auto& st = self->state;
    if (err) {
      unseal(self, name);
      if (starts_now) {
        st.admitted.erase(name);
        dispatch(self);
      }
      promise.deliver(err);
    } else {
      install(st.types.at(name), stored);
      tell_watchers(self, name);
      if (starts_now) {
        hand_over(self, name);
        start_work(self, name);
      } else {
        enqueue(self, name);
      }
      promise.deliver(accepted);
    }
    done_serving(self, name);
  });
}

/// A DELETE of a finished run: its status goes once the removal is durable.
void remove_finished(self_pointer self, const std::string& name,
                     caf::typed_response_promise<action_status> promise) {
  auto removed = self->state.types.at(name).run->status;
  seal(self, name);
  store_remove(self, removed,
               [self, name, removed, promise](const caf::error& err) mutable {
                 if (err) {
                   unseal(self, name);
                   promise.deliver(err);
                 } else {
                   forget(self->state.types.at(name));
                   tell_watchers(self, name);
                   promise.deliver(removed);
                 }
                 done_serving(self, name);
               });
}

/// A DELETE of a live run: its action actor cancels it; the answer is the
/// status it then has, once that is durable.
void cancel_live(self_pointer self, const std::string& name,
                 caf::typed_response_promise<action_status> promise) {
  auto& st = self->state;
  // A waiting run never gets a slot now; its actor cancels it.
  st.waiting.erase(std::remove(st.waiting.begin(), st.waiting.end(), name),
                   st.waiting.end());
  auto answer = [self, name, promise](const caf::error& err,
                                      const action_status& status) mutable {
    if (err)
      promise.deliver(err);
    else
      promise.deliver(status);
    done_serving(self, name);
  };
  self->request(st.types.at(name).actor, cancel_deadline, cancel_atom::value)
    .then(
      [self, name, answer](action_status&) {
        // The actor pushed its change before it answered: `run` has it,
        // stamped, and the answer is that status once it is durable.
        auto status = self->state.types.at(name).run->status;
        when_durable(self, name,
                     [answer, status](const caf::error& err) mutable {
                       answer(err, status);
                     });
      },
      [self, name, asked = st.types.at(name).actor.address(), promise,
       answer](caf::error& err) mutable {
        if (err == action_error::not_found) { // the actor holds no run
          answer(err, {});
          return;
        }
        // The actor failed before it answered (the error is its exit
        // reason): a fresh one takes over, and the run is asked again or
        // answered as the failure ended it.
        replace_failed(self, name, asked, err);
        if (has_live_run(self->state.types.at(name))) {
          cancel_live(self, name, promise);
          return;
        }
        auto status = self->state.types.at(name).run->status;
        when_durable(self, name,
                     [answer, status](const caf::error& err) mutable {
                       answer(err, status);
                     });
      });
}

void cancel(self_pointer self, const std::string& name,
            caf::typed_response_promise<action_status> promise) {
  const auto& run = self->state.types.at(name).run;
  if (!run) {
    promise.deliver(nothing_to_show(name));
    done_serving(self, name);
  } else if (is_terminal(run->status.state)) {
    remove_finished(self, name, std::move(promise));
  } else {
    cancel_live(self, name, std::move(promise));
  }
}

/// An action actor's push about its run.
void on_pushed(self_pointer self, action_status& pushed) {
  auto& st = self->state;
  auto i = st.types.find(pushed.name);
  if (i == st.types.end() || !i->second.run
      || i->second.run->status.action_uid != pushed.action_uid)
    return; // about a run whose status was replaced or removed
  const auto& name = i->first;
  auto& status = i->second.run->status;
  auto next = stamped(status, std::move(pushed));
  if (next == status)
    return; // the `starting` the supervisor stored before the work began
  const bool state_changed = next.state != status.state;
  status = std::move(next);
  ++i->second.changes;
  publish(self, name, state_changed);
  if (state_changed && is_terminal(status.state))
    run_ended(self, name);
}

// ---- Start-up with a store -----------------------------------------------

/// A run that was live when the server stopped, as it ends now: cancelled
/// if it was being cancelled, otherwise aborted as interrupted.
run_record ended_by_restart(run_record record) {
  auto& status = record.status;
  if (status.state == action_state::cancelling) {
    status.state = action_state::cancelled;
  } else {
    status.error_code = "interrupted";
    status.error_message = "the server stopped while the action was "
                           + std::string{to_string(status.state)}
                           + "; the run did not finish";
    status.state = action_state::aborted;
  }
  status.end_time = now_millis();
  return record;
}

/// Applies the restart rules to the stored runs. The supervisor answers
/// nothing until every run it changes here is durable (awaited requests).
void restore(self_pointer self, std::vector<run_record>& records) {
  auto& st = self->state;
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) {
                     return a.queue_order < b.queue_order;
                   });
  for (auto& record : records) {
    st.next_queue_order = std::max(st.next_queue_order, record.queue_order + 1);
    const auto name = record.status.name;
    auto i = st.types.find(name);
    if (i == st.types.end()) {
      st.settings.report("dropping the stored status of action type '" + name
                         + "' (action_uid " + record.status.action_uid
                         + "): no such type is configured");
      store_remove(self, record.status, [self, name](const caf::error& err) {
        if (err)
          self->state.settings.report("cannot drop the stored status of '"
                                      + name
                                      + "': " + self->system().render(err));
      });
      continue;
    }
    switch (record.status.state) {
      case action_state::queued:
        install(i->second, std::move(record));
        enqueue(self, name);
        break;
      case action_state::starting:
      case action_state::running:
      case action_state::cancelling: {
        auto ended = ended_by_restart(std::move(record));
        self->request(st.settings.store, store_deadline, write_atom::value, ended)
          .await([self, name, ended](durable_atom) {
                   install(self->state.types.at(name), ended);
                 },
                 [self](caf::error& err) { self->quit(err); });
        break;
      }
      default:
        install(i->second, std::move(record));
    }
  }
}

/// Loads the store before anything else is served; a store that cannot be
/// read stops the supervisor with its error.
void load_at_start(self_pointer self) {
  const auto& store = self->state.settings.store;
  if (!store)
    return;
  self->request(store, store_deadline, load_atom::value)
    .await([self](std::vector<run_record>& records) { restore(self, records); },
           [self](caf::error& err) { self->quit(err); });
}

supervisor_impl::behavior_type
supervisor_behavior(self_pointer self, std::vector<action_type> types,
                    supervisor_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.settings.max_running_actions
    = std::max<std::size_t>(1, st.settings.max_running_actions);
  if (!st.settings.report)
    st.settings.report = [](const std::string& line) {
      std::cerr << line << std::endl;
    };
  st.random = make_random();
  for (auto& type : types) {
    auto name = type.name;
    auto& registered = st.types[std::move(name)];
    registered.definition = std::move(type);
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
  load_at_start(self);
  return {
    [=](list_atom) {
      std::vector<action_status> result;
      result.reserve(self->state.types.size());
      for (const auto& [name, type] : self->state.types)
        if (type.shown)
          result.push_back(*type.shown);
      return result;
    },
    [=](get_atom, const std::string& name) -> caf::result<action_status> {
      auto i = self->state.types.find(name);
      if (i == self->state.types.end())
        return unknown(name);
      if (!i->second.shown)
        return nothing_to_show(name);
      return *i->second.shown;
    },
    [=](start_atom, const std::string& name, action_params& params,
        std::string& started_by) -> caf::result<action_status> {
      if (self->state.types.count(name) == 0)
        return unknown(name);
      auto promise = self->make_response_promise<action_status>();
      in_turn(self, name,
              [=, params = std::move(params),
               started_by = std::move(started_by)]() mutable {
                admit(self, name, std::move(params), std::move(started_by),
                      promise);
              });
      return promise;
    },
    [=](cancel_atom, const std::string& name) -> caf::result<action_status> {
      if (self->state.types.count(name) == 0)
        return unknown(name);
      auto promise = self->make_response_promise<action_status>();
      in_turn(self, name, [=] { cancel(self, name, promise); });
      return promise;
    },
    [=](status_atom, action_status& pushed) { on_pushed(self, pushed); },
    [=](dispatch_atom) { dispatch(self); },
    [=](persist_atom, const std::string& name) {
      auto& type = self->state.types.at(name);
      type.persist_armed = false;
      if (type.run && type.durable < type.changes)
        write_latest(self, name);
    },
    [=](subscribe_atom, status_watcher_actor& watcher) {
      for (const auto& [name, type] : self->state.types)
        if (type.shown)
          self->send(watcher, changed_atom::value, *type.shown);
      self->monitor(watcher);
      self->state.watchers.push_back(std::move(watcher));
    },
    [=](shutdown_atom, caf::timespan grace) -> caf::result<std::size_t> {
      auto& st = self->state;
      if (st.stopped)
        return caf::make_error(action_error::shutting_down,
                               "shutdown already requested");
      if (!st.settings.store)
        st.waiting.clear(); // nothing keeps them: they end cancelled
      for (auto& [name, type] : st.types)
        if (must_end_before_stop(st, type))
          self->send(type.actor, abort_atom::value, grace);
      st.stop_grace = grace;
      st.stopped = self->make_response_promise<std::size_t>();
      auto result = *st.stopped;
      deliver_if_stopped(self);
      return result;
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
  return caf::actor_cast<supervisor_actor>(
    system.spawn(supervisor_behavior, std::move(types), std::move(settings)));
}

} // namespace cluster_actions
