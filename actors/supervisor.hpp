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

/// Spawns the supervisor and one linked actor per action type. Send it an
/// exit message to stop it and its action actors; ask it to `shutdown_atom`
/// first so that live runs end as `aborted` and their work is gone.
supervisor_actor spawn_supervisor(caf::actor_system& system,
                                  std::vector<action_type> types,
                                  supervisor_settings settings = {});

} // namespace cluster_actions
