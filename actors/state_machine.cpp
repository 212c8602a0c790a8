#include "actors/state_machine.hpp"

namespace cluster_actions {

bool can_transition(action_state from, action_state to) noexcept {
  using s = action_state;
  switch (from) {
    case s::queued:
      return to == s::starting || to == s::cancelled;
    case s::starting:
      return to == s::running || to == s::aborted;
    case s::running:
      return to == s::completed || to == s::failed || to == s::cancelling
             || to == s::aborted;
    case s::cancelling:
      return to == s::cancelled;
    default:
      return false; // terminal states are never left
  }
}

} // namespace cluster_actions
