// Announces the message types to an actor system, so that they can cross a
// process boundary through CAF's middleman.
#pragma once

#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/type_id.hpp>

#include "messages/interfaces.hpp"

/// The type-ID block of this library: IDs `caf::first_custom_type_id + 1000`
/// (1200) up to `caf::id_block::cluster_actions::end` (exclusive; 1209 now).
///
/// A host's own block conventionally starts at `caf::first_custom_type_id`
/// (200): it may use the 1000 IDs below this block, or start after it, at
/// `caf::id_block::cluster_actions::end`. Two blocks that share an ID fail to
/// compile in any file that includes both ("redefinition of
/// caf::type_by_id<N>"), so a clash cannot go unnoticed.
///
/// In CAF 0.17.6 the IDs exist at compile time only: `add_message_types`
/// registers each type under its name ("cluster_actions::action_status"),
/// and the name is what crosses a process boundary, so every node must run a
/// build of this library with the same type names. (CAF 0.18 and later use
/// the IDs at run time as well.) Atoms need no registration.
CAF_BEGIN_TYPE_ID_BLOCK(cluster_actions, caf::first_custom_type_id + 1000)
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::action_state))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::action_status))
  CAF_ADD_TYPE_ID(cluster_actions,
                  (std::vector<cluster_actions::action_status>))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::param_kind))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::param_value))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::action_params))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::work_outcome))
  CAF_ADD_TYPE_ID(cluster_actions, (cluster_actions::run_record))
  CAF_ADD_TYPE_ID(cluster_actions,
                  (std::vector<cluster_actions::run_record>))
CAF_END_TYPE_ID_BLOCK(cluster_actions)

namespace cluster_actions {

/// Adds the message types of this library (the block above) and its error
/// category (`action_error`, rendered as e.g. "conflict: ...") to a host's
/// configuration. Call it once, before the actor system is made from `cfg`.
void add_message_types(caf::actor_system_config& cfg);

} // namespace cluster_actions
