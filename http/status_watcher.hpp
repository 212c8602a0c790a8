// The actor that learns of every change the supervisor makes and passes it
// to the REST front's threads: the change feed that waiting requests sleep
// on, and the run metrics. Internal to the REST front.
#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "http/change_wait.hpp"
#include "http/metrics.hpp"
#include "messages/interfaces.hpp"

namespace cluster_actions::http {

/// Spawns a watcher subscribed to `supervisor`; it goes when the supervisor
/// goes, and then closes `feed`. Keep its handle for as long as it is to
/// watch: like any actor, it goes when nothing refers to it. Its handlers
/// only take a mutex for a moment: they never block.
status_watcher_actor spawn_status_watcher(caf::actor_system& system,
                                          supervisor_actor supervisor,
                                          std::shared_ptr<change_feed> feed,
                                          std::shared_ptr<metrics> counters);

} // namespace cluster_actions::http
