// The durable record of one run: what a status store keeps so that a
// restarted server shows, and where needed continues, the run.
#pragma once

#include <cstdint>

#include <caf/meta/type_name.hpp>

#include "messages/action_params.hpp"
#include "messages/action_status.hpp"

namespace cluster_actions {

/// One type's current or last run, as the supervisor stores it.
struct run_record {
  /// Everything the API shows of the run, including when and by whom.
  action_status status;
  /// The parameters it was started with: a run still queued at a restart
  /// runs with them.
  action_params params;
  /// The order in which runs were admitted, across all types: queued runs
  /// are queued again in this order at a restart.
  std::uint64_t queue_order = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, run_record& x) {
  return f(caf::meta::type_name("cluster_actions::run_record"), x.status,
           x.params, x.queue_order);
}

inline bool operator==(const run_record& a, const run_record& b) {
  return a.status == b.status && a.params == b.params
         && a.queue_order == b.queue_order;
}

} // namespace cluster_actions
