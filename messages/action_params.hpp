// The parameters a start request carries, typed but free of any wire format.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <caf/meta/type_name.hpp>

namespace cluster_actions {

/// The kind of value a client sent for a parameter.
enum class param_kind : std::uint8_t {
  string,
  integer,
  number, ///< a number with a fraction or exponent
  boolean,
  null,
  composite, ///< an array or an object
};

/// One parameter value: its kind, and its text as the work receives it
/// ("42", "true", "a string", or the compact JSON text of a composite).
struct param_value {
  param_kind kind = param_kind::string;
  std::string text;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, param_value& x) {
  return f(caf::meta::type_name("cluster_actions::param_value"), x.kind,
           x.text);
}

inline bool operator==(const param_value& a, const param_value& b) {
  return a.kind == b.kind && a.text == b.text;
}

/// Parameters by name.
using action_params = std::map<std::string, param_value>;

} // namespace cluster_actions
