// The typed interfaces of the cluster actions actors: the one header a CAF
// program includes to talk to them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "messages/action_error.hpp"
#include "messages/action_params.hpp"
#include "messages/action_status.hpp"
#include "messages/run_record.hpp"
#include "messages/work_outcome.hpp"

namespace cluster_actions {

// The atoms, all prefixed "ca_" so that they do not clash with a host's;
// each means one thing: requests to the supervisor (list, get, start,
// cancel, shutdown), status pushes to it (status), the supervisor's orders
// to action actors (queue, begin, abort), a worker's reports (started,
// progress, finished), an action actor's orders to its worker (stop, kill;
// see `worker_actor`), its own timers (timeout: the run's time limit is
// over; grace_over: the time a stopped work was given is over), requests to
// a status store (load, write, remove) and its acknowledgement (durable),
// and a watcher's subscription to the supervisor's changes (subscribe) and
// the changes it is sent (changed, removed).
using list_atom = caf::atom_constant<caf::atom("ca_list")>;
using get_atom = caf::atom_constant<caf::atom("ca_get")>;
using start_atom = caf::atom_constant<caf::atom("ca_start")>;
using cancel_atom = caf::atom_constant<caf::atom("ca_cancel")>;
using status_atom = caf::atom_constant<caf::atom("ca_status")>;
using shutdown_atom = caf::atom_constant<caf::atom("ca_shutdn")>;
using queue_atom = caf::atom_constant<caf::atom("ca_queue")>;
using begin_atom = caf::atom_constant<caf::atom("ca_begin")>;
using abort_atom = caf::atom_constant<caf::atom("ca_abort")>;
using started_atom = caf::atom_constant<caf::atom("ca_started")>;
using progress_atom = caf::atom_constant<caf::atom("ca_progres")>;
using finished_atom = caf::atom_constant<caf::atom("ca_finish")>;
using stop_atom = caf::atom_constant<caf::atom("ca_stop")>;
using kill_atom = caf::atom_constant<caf::atom("ca_kill")>;
using timeout_atom = caf::atom_constant<caf::atom("ca_timeout")>;
using grace_over_atom = caf::atom_constant<caf::atom("ca_grace")>;
using load_atom = caf::atom_constant<caf::atom("ca_load")>;
using write_atom = caf::atom_constant<caf::atom("ca_write")>;
using remove_atom = caf::atom_constant<caf::atom("ca_remove")>;
using durable_atom = caf::atom_constant<caf::atom("ca_durable")>;
using subscribe_atom = caf::atom_constant<caf::atom("ca_subscr")>;
using changed_atom = caf::atom_constant<caf::atom("ca_changed")>;
using removed_atom = caf::atom_constant<caf::atom("ca_removed")>;

/// Whoever wants to learn of every change of what the supervisor shows,
/// as it happens, instead of asking again and again.
using status_watcher_actor = caf::typed_actor<
  /// A run was admitted or changed: its status as it stands now.
  caf::reacts_to<changed_atom, action_status>,
  /// The status of the named type's finished run was removed.
  caf::reacts_to<removed_atom, std::string>>;

/// The supervisor: registry of action types, status of every type's current
/// or last run, admission (conflicts, queueing under the running limit).
/// Errors are `action_error`s.
using supervisor_actor = caf::typed_actor<
  /// The current or last run of every type that has one, ordered by name.
  caf::replies_to<list_atom>::with<std::vector<action_status>>,
  /// The current or last run of one type; `unknown_action` or `not_found`.
  caf::replies_to<get_atom, std::string>::with<action_status>,
  /// Admits a new run (status `queued`) of the type named first, with
  /// these parameters, started by the user named last (an email, or "");
  /// `unknown_action`, `invalid_params`, `conflict`, `shutting_down` or
  /// `storage_unavailable`. With a store, the answer comes once the new run
  /// is durable.
  caf::replies_to<start_atom, std::string, action_params,
                  std::string>::with<action_status>,
  /// Cancels a live run or removes a finished one's status, answering the
  /// status as it stands afterwards; `unknown_action`, `not_found` or
  /// `storage_unavailable`. With a store, the answer comes once that status
  /// (or the removal) is durable.
  caf::replies_to<cancel_atom, std::string>::with<action_status>,
  /// Pushed by action actors on every change of their run.
  caf::reacts_to<status_atom, action_status>,
  /// Refuses new runs, stops every live one (a started one ends `aborted`
  /// unless it ends otherwise first; a queued one `cancelled`, or, with a
  /// store, stays queued for the next start) and answers, once all of them
  /// are terminal and stored, how many ended `aborted`. The grace is how
  /// long work may take to stop before it is killed.
  caf::replies_to<shutdown_atom, caf::timespan>::with<std::size_t>,
  /// From now on, tells the watcher of every change, starting with one
  /// `changed_atom` per status shown now. A watcher that exits is dropped.
  caf::reacts_to<subscribe_atom, status_watcher_actor>>;

/// Where the supervisor keeps the durable record of each type's current or
/// last run (see `run_record`), so that it survives a restart. The
/// supervisor is its only writer; a status is keyed by its type's name.
/// Answers come in the order of the requests; a failed one is an
/// `action_error::storage_unavailable` whose description says why, and
/// changes nothing. `actors/sqlite_store.hpp` implements it on SQLite.
using store_actor = caf::typed_actor<
  /// Every stored record, in `queue_order`.
  caf::replies_to<load_atom>::with<std::vector<run_record>>,
  /// Stores the record as its type's, replacing the type's previous one;
  /// answers once it is on disk.
  caf::replies_to<write_atom, run_record>::with<durable_atom>,
  /// Removes the record of the type named first if it is of the run named
  /// second (another run's record stays); answers once that is on disk.
  caf::replies_to<remove_atom, std::string /* name */,
                  std::string /* uid */>::with<durable_atom>>;

/// Receives the reports of one run's work: `started_atom`, then any number
/// of `progress_atom`, then exactly one `finished_atom`. The action actor
/// knows its run's worker and takes reports from it alone (it matches them
/// by sender), so they carry no run id.
using work_listener = caf::typed_actor<
  /// The work has begun: the run moves from `starting` to `running`.
  caf::reacts_to<started_atom>,
  /// Percent done, 0 to 100; a value not above the last one changes nothing.
  caf::reacts_to<progress_atom, double>,
  /// The work is over, and how it ended.
  caf::reacts_to<finished_atom, work_outcome>>;

/// The work of one run. It reports to its action actor (a `work_listener`)
/// and stops itself after `finished_atom`. `command_work` and `actor_work`
/// (actors/) make such workers.
using worker_actor = caf::typed_actor<
  /// Stop as soon as possible; still report `finished_atom` when stopped.
  caf::reacts_to<stop_atom>,
  /// The grace period is over: stop now.
  caf::reacts_to<kill_atom>>;

/// One action type: owns the state machine of its current run (see
/// actors/run_engine.hpp).
using action_actor = work_listener::extend<
  // From the supervisor.
  caf::reacts_to<queue_atom, std::string /* uid */, action_params>,
  caf::reacts_to<begin_atom, std::string /* uid */>,
  caf::replies_to<cancel_atom>::with<action_status>,
  caf::reacts_to<abort_atom, caf::timespan /* grace */>,
  // From its own timers, each identified by the serial it was armed with.
  caf::reacts_to<timeout_atom, std::uint64_t>,
  caf::reacts_to<grace_over_atom, std::uint64_t>>;

} // namespace cluster_actions
