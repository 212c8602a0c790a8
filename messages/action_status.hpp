// The status of one run of an action type: what GET shows for it.
#pragma once

#include <string>

#include <caf/meta/type_name.hpp>

#include "messages/action_state.hpp"

namespace cluster_actions {

/// A snapshot of one run, as the supervisor answers and action actors push.
struct action_status {
  std::string name;       ///< the action type
  std::string action_uid; ///< unique per run
  action_state state = action_state::queued; ///< where the run is
  double progress = 0.0;     ///< percent done, 0 to 100, never lowered
  std::string error_code;    ///< set when failed or aborted
  std::string error_message; ///< set when failed or aborted
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, action_status& x) {
  return f(caf::meta::type_name("cluster_actions::action_status"), x.name,
           x.action_uid, x.state, x.progress, x.error_code, x.error_message);
}

inline bool operator==(const action_status& a, const action_status& b) {
  return a.name == b.name && a.action_uid == b.action_uid
         && a.state == b.state && a.progress == b.progress
         && a.error_code == b.error_code && a.error_message == b.error_message;
}

} // namespace cluster_actions
