// The state machine of one run: exactly the transitions RS documents.
//
//   queued     -> starting | cancelled
//   starting   -> running  | aborted
//   running    -> completed | failed | cancelling | aborted
//   cancelling -> cancelled
#pragma once

#include "messages/action_state.hpp"

namespace cluster_actions {

/// True when RS documents a move from `from` to `to`.
bool can_transition(action_state from, action_state to) noexcept;

/// The state of one run; it refuses every move the table does not allow.
class run_state {
public:
  action_state current() const noexcept {
    return current_;
  }

  /// Moves to `next` and returns true, or leaves the state as it is and
  /// returns false when the move is not in the table.
  bool move_to(action_state next) noexcept {
    if (!can_transition(current_, next))
      return false;
    current_ = next;
    return true;
  }

private:
  action_state current_ = action_state::queued;
};

} // namespace cluster_actions
