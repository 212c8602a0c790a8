// What the supervisor knows of an action type: its name, the parameters it
// declares, its time limits, and how to start the work of one run.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "messages/interfaces.hpp"

namespace cluster_actions {

/// The JSON type a declared parameter must have.
enum class param_type { string, integer, number, boolean };

struct param_decl {
  param_type type = param_type::string;
  bool required = false;
};

/// Declared parameters by name.
using param_schema = std::map<std::string, param_decl>;

/// None when `params` fits `schema`; otherwise an `invalid_params` error
/// whose description names the first offending parameter.
caf::error validate_params(const param_schema& schema,
                           const action_params& params);

/// What a worker is started with.
struct run_request {
  std::string name;
  std::string uid;
  action_params params;
};

/// Spawns the worker of one run. `spawner` is the action actor (spawn from
/// it, so that the worker is its child); `owner` receives the worker's
/// reports.
using work_factory = std::function<worker_actor(
  caf::local_actor* spawner, action_actor owner, const run_request& run)>;

struct action_type {
  std::string name;
  param_schema params;
  /// A run still going after this long is stopped and `failed`.
  caf::timespan timeout = std::chrono::hours(1);
  /// How long stopped work may take before it is killed.
  caf::timespan cancel_grace = std::chrono::seconds(10);
  work_factory work;
};

} // namespace cluster_actions
