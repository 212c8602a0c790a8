// The errors the supervisor answers with; they travel as caf::error whose
// context holds one string, a description for an operator.
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>

namespace cluster_actions {

/// Why the supervisor refused a request. Compare a `caf::error` with these
/// directly (`err == action_error::conflict`); `add_message_types` registers
/// the category so that `actor_system::render` names them.
enum class action_error : std::uint8_t {
  unknown_action = 1, ///< no action type of that name
  invalid_params,     ///< the parameters do not match the type's declaration
  conflict,           ///< a run of that type is queued, starting, running or cancelling
  not_found,          ///< the type has no run to show
  shutting_down,      ///< the system is stopping and takes no new runs
  storage_unavailable, ///< the status store failed to make a change durable
};

/// The snake_case name of an error, e.g. "conflict".
std::string to_string(action_error error);

/// The description carried by an error of this category, or "" if none.
std::string error_description(const caf::error& error);

} // namespace cluster_actions

CAF_ERROR_CODE_ENUM(cluster_actions::action_error, "actions")
