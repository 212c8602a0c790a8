// The supervisor: the registry of action types, the status of each type's
// current or last run, and admission of new runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/action_type.hpp"
#include "messages/interfaces.hpp"

namespace cluster_actions {

struct supervisor_settings {
  /// How many runs may be starting, running or cancelling at once, across
  /// all types; further runs wait, queued, in arrival order.
  std::size_t max_running_actions = 4;
};

/// Spawns the supervisor and one actor per action type, which it watches.
/// An action actor that fails is replaced by a fresh one: its started run
/// ends `aborted` with `error_code` `internal_error` (its work is stopped
/// with it), a run that had not started goes on with the fresh actor, and
/// the other types are not touched.
///
/// Send the supervisor an exit message to stop it and its action actors;
/// ask it to `shutdown_atom` first so that live runs end as `aborted` and
/// their work is gone.
///
/// Throws `std::invalid_argument`, naming the type, for a name that
/// `is_valid_action_name` refuses, a name given twice, or a type without
/// `work`.
supervisor_actor spawn_supervisor(caf::actor_system& system,
                                  std::vector<action_type> types,
                                  supervisor_settings settings = {});

} // namespace cluster_actions
