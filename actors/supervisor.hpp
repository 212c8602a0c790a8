// The supervisor: the registry of action types, the status of each type's
// current or last run, and admission of new runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/action_type.hpp"
#include "messages/interfaces.hpp"

namespace cluster_actions {

struct supervisor_settings {
  /// How many runs may be starting, running or cancelling at once, across
  /// all types; further runs wait, queued, in arrival order.
  std::size_t max_running_actions = 4;
  /// Where the supervisor keeps each type's current or last run so that it
  /// survives a restart (`actors/sqlite_store.hpp`, or a host's own). None
  /// (the default): statuses live in memory only and are gone with the
  /// supervisor.
  ///
  /// With a store, the supervisor first loads what it holds, before it
  /// answers anything: finished runs are shown as they were; queued runs
  /// are queued again in their original order; runs that were starting or
  /// running end `aborted` with `error_code` `interrupted`, cancelling ones
  /// `cancelled`; a run of a type not in `types` is dropped (one `report`
  /// line). Then a start or a removal is answered only once the store has
  /// it on disk, and a change of a run is shown only once it is durable
  /// (progress excepted: shown at once, written at most four times a second
  /// per run, and with the run's next change). A write that fails answers
  /// `storage_unavailable` and changes nothing. A shutdown leaves queued
  /// runs queued, for the next start.
  store_actor store = {};
  /// Receives the lines the supervisor has for an operator (a stored status
  /// dropped, a status push that could not be stored). Default: stderr.
  std::function<void(const std::string& line)> report = {};
};

/// Spawns the supervisor and one actor per action type, which it watches.
/// An action actor that fails is replaced by a fresh one: its started run
/// ends `aborted` with `error_code` `internal_error` (its work is stopped
/// with it), a run that had not started goes on with the fresh actor, and
/// the other types are not touched.
///
/// Send the supervisor an exit message to stop it and its action actors;
/// ask it to `shutdown_atom` first so that live runs end as `aborted` and
/// their work is gone. A store's actor is not stopped with it: its host
/// stops it afterwards.
///
/// Throws `std::invalid_argument`, naming the type, for a name that
/// `is_valid_action_name` refuses, a name given twice, or a type without
/// `work`.
supervisor_actor spawn_supervisor(caf::actor_system& system,
                                  std::vector<action_type> types,
                                  supervisor_settings settings = {});

} // namespace cluster_actions
