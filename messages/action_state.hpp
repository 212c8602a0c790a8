// The eight states of a cluster action run, as the RS action object names them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cluster_actions {

/// Where a run is. A run moves only queued -> starting | cancelled,
/// starting -> running | aborted, running -> completed | failed | cancelling
/// | aborted, cancelling -> cancelled.
enum class action_state : std::uint8_t {
  queued,     ///< accepted, waiting for a free slot
  starting,   ///< picked up, its work is being started
  running,    ///< its work is executing
  cancelling, ///< a cancel was requested while running; work not yet stopped
  cancelled,  ///< stopped by a user (terminal)
  aborted,    ///< stopped by the system, not by a user (terminal)
  completed,  ///< finished successfully (terminal)
  failed,     ///< finished unsuccessfully (terminal)
};

/// The wire name of a state, e.g. "queued".
std::string_view to_string(action_state state) noexcept;

/// The state named `name`, or nothing for an unknown name.
std::optional<action_state> parse_action_state(std::string_view name) noexcept;

/// True for the states a run never leaves.
constexpr bool is_terminal(action_state state) noexcept {
  return state == action_state::cancelled || state == action_state::aborted
         || state == action_state::completed || state == action_state::failed;
}

/// True while a run blocks another run of its type (the 409 rule).
constexpr bool is_live(action_state state) noexcept {
  return !is_terminal(state);
}

/// True while a run holds one of the `max_running_actions` slots.
constexpr bool holds_slot(action_state state) noexcept {
  return state == action_state::starting || state == action_state::running
         || state == action_state::cancelling;
}

} // namespace cluster_actions
