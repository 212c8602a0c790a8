// One action type's actor: runs the engine of its runs (run_engine.hpp).
#pragma once

#include <cstdint>

#include "actors/action_type.hpp"
#include "messages/interfaces.hpp"

namespace cluster_actions {

/// Spawns the actor of `type` from `parent`; it pushes every change of its
/// run to `supervisor` as `(status_atom, action_status)`, and exits, with
/// the same reason, when `supervisor` does.
///
/// The supervisor decides admission: it sends `queue_atom` when it accepts
/// a run, `begin_atom` when a slot is free. The actor then starts the work,
/// watches its worker and takes reports from it alone, enforces the type's
/// timeout, and on cancel or abort stops the work, killing it once the grace
/// period is over. A run becomes terminal only when its work has reported
/// that it is gone. A work factory that throws, or returns no worker, makes
/// the actor fail (the supervisor then aborts the run).
action_actor spawn_action_actor(caf::local_actor* parent,
                                supervisor_actor supervisor, action_type type);

/// How many events the action actors of this process did not expect in the
/// state they came in (a report from an actor that is not the run's worker,
/// a second `started`, ...). Each is dropped, changing nothing, and logged
/// at debug level.
std::uint64_t unexpected_action_events() noexcept;

} // namespace cluster_actions
