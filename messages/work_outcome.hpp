// How a run's work ended, as its worker reports it.
#pragma once

#include <string>

#include <caf/meta/type_name.hpp>

namespace cluster_actions {

/// What a worker reports with `finished_atom`.
struct work_outcome {
  bool succeeded = false; ///< the work did what it was asked
  std::string error_code;    ///< snake_case, set when not succeeded
  std::string error_message; ///< for an operator, set when not succeeded
  /// What the work produced, for the run's `result` field (e.g. the path of
  /// a file it wrote); "" for nothing. Kept whether or not it succeeded.
  std::string result = {};

  /// The work succeeded.
  static work_outcome success() {
    return {true, {}, {}, {}};
  }
  /// The work failed; `code` is snake_case, `message` a sentence.
  static work_outcome failure(std::string code, std::string message) {
    return {false, std::move(code), std::move(message), {}};
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, work_outcome& x) {
  return f(caf::meta::type_name("cluster_actions::work_outcome"), x.succeeded,
           x.error_code, x.error_message, x.result);
}

} // namespace cluster_actions
