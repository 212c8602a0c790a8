// The status of one run of an action type: what GET shows for it.
#pragma once

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

#include "messages/action_state.hpp"

namespace cluster_actions {

/// A point in time: milliseconds since the Unix epoch (UTC). 0 stands for
/// "not known yet" (the moment has not come, or the run is older than the
/// field).
using unix_millis = std::int64_t;

/// A snapshot of one run, as the supervisor answers and action actors push.
struct action_status {
  std::string name;       ///< the action type
  std::string action_uid; ///< unique per run
  action_state state = action_state::queued; ///< where the run is
  double progress = 0.0;     ///< percent done, 0 to 100, never lowered
  std::string error_code;    ///< set when failed or aborted
  std::string error_message; ///< set when failed or aborted
  unix_millis creation_time = 0; ///< the start request was accepted
  unix_millis start_time = 0;    ///< the run left `queued` for `starting`
  unix_millis end_time = 0;      ///< the run reached a terminal state
  std::string started_by = {}; ///< who asked for the run (an email), or ""
  std::string result = {}; ///< what the work reported as its result, or ""
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, action_status& x) {
  return f(caf::meta::type_name("cluster_actions::action_status"), x.name,
           x.action_uid, x.state, x.progress, x.error_code, x.error_message,
           x.creation_time, x.start_time, x.end_time, x.started_by, x.result);
}

inline bool operator==(const action_status& a, const action_status& b) {
  return a.name == b.name && a.action_uid == b.action_uid
         && a.state == b.state && a.progress == b.progress
         && a.error_code == b.error_code && a.error_message == b.error_message
         && a.creation_time == b.creation_time && a.start_time == b.start_time
         && a.end_time == b.end_time && a.started_by == b.started_by
         && a.result == b.result;
}

} // namespace cluster_actions
