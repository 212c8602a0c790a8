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

/// One declared parameter.
struct param_decl {
  param_type type = param_type::string; ///< what the client must send
  bool required = false;                ///< a start without it is refused
};

/// Declared parameters by name.
using param_schema = std::map<std::string, param_decl>;

/// None when `params` fits `schema`; otherwise an `invalid_params` error
/// whose description names the first offending parameter.
caf::error validate_params(const param_schema& schema,
                           const action_params& params);

/// What a worker is started with.
struct run_request {
  std::string name;     ///< the action type
  std::string uid;      ///< the run's unique id, for the work's own use
  action_params params; ///< validated against the type's declaration
};

/// Spawns the worker of one run. `spawner` is the action actor (spawn from
/// it, so that the worker is its child); `owner` receives the worker's
/// reports, and takes them only from the worker returned here (it matches
/// them by sender). Use `command_work` (actors/command_work.hpp) for an
/// external command, `actor_work` (actors/actor_work.hpp) for an actor of
/// your own.
using work_factory = std::function<worker_actor(
  caf::local_actor* spawner, action_actor owner, const run_request& run)>;

/// An action type, as registered with `spawn_supervisor`.
struct action_type {
  /// Its name, unique among the types: 1 to 128 letters, digits, '_' or '-'
  /// (`is_valid_action_name`), a plain URL path segment for the REST front.
  /// `spawn_supervisor` refuses any other.
  std::string name;
  /// The parameters a start may carry; anything else is `invalid_params`.
  param_schema params;
  /// A run still going after this long is stopped and `failed`.
  caf::timespan timeout = std::chrono::hours(1);
  /// How long stopped work may take before it is killed.
  caf::timespan cancel_grace = std::chrono::seconds(10);
  /// Spawns the work of each run.
  work_factory work;
};

} // namespace cluster_actions
