// One action type's actor: owns the state machine of its current run.
#pragma once

#include "actors/action_type.hpp"
#include "messages/interfaces.hpp"

namespace cluster_actions {

/// Spawns the actor of `type`, linked to `parent`; it pushes every change
/// of its run to `supervisor` as `(status_atom, action_status)`.
///
/// The supervisor decides admission: it sends `queue_atom` when it accepts
/// a run, `begin_atom` when a slot is free. The actor then starts the work,
/// follows its reports, enforces the type's timeout, and on cancel or abort
/// stops the work, killing it once the grace period is over. A run becomes
/// terminal only when its work has reported that it is gone.
action_actor spawn_action_actor(caf::local_actor* parent,
                                supervisor_actor supervisor, action_type type);

} // namespace cluster_actions
