// Announces the message types to an actor system, so that they can cross a
// process boundary through CAF's middleman.
#pragma once

#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/type_id.hpp>

#include "messages/interfaces.hpp"

/// The block starts well above `caf::first_custom_type_id` so that a host's
/// own block, which conventionally starts there, does not clash with it.
CAF_BEGIN_TYPE_ID_BLOCK(cluster_actions, caf::first_custom_type_id + 1000)
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::action_state))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::action_status))
  CAF_ADD_TYPE_ID(cluster_actions,
                  (std::vector<cluster_actions::action_status>))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::param_kind))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::param_value))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::action_params))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::work_outcome))
CAF_END_TYPE_ID_BLOCK(cluster_actions)

namespace cluster_actions {

/// Adds the message types and the error category of this library to a
/// host's configuration. Call it once, before the actor system is made.
void add_message_types(caf::actor_system_config& cfg);

} // namespace cluster_actions
