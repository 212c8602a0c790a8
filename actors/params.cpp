#include "actors/action_type.hpp"

namespace cluster_actions {

namespace {

bool fits(param_type type, param_kind kind) {
  switch (type) {
    case param_type::string:
      return kind == param_kind::string;
    case param_type::integer:
      return kind == param_kind::integer;
    case param_type::number:
      return kind == param_kind::integer || kind == param_kind::number;
    case param_type::boolean:
      return kind == param_kind::boolean;
  }
  return false;
}

const char* type_name(param_type type) {
  switch (type) {
    case param_type::string:
      return "a string";
    case param_type::integer:
      return "an integer";
    case param_type::number:
      return "a number";
    case param_type::boolean:
      return "a boolean";
  }
  return "?";
}

std::string declared_names(const param_schema& schema) {
  if (schema.empty())
    return "this action type takes no parameters";
  std::string names = "declared parameters: ";
  for (const auto& [name, decl] : schema) {
    if (&name != &schema.begin()->first)
      names += ", ";
    names += name;
  }
  return names;
}

caf::error invalid(std::string description) {
  return caf::make_error(action_error::invalid_params, std::move(description));
}

} // namespace

caf::error validate_params(const param_schema& schema,
                           const action_params& params) {
  for (const auto& [name, value] : params) {
    auto decl = schema.find(name);
    if (decl == schema.end())
      return invalid("unknown parameter '" + name + "' ("
                     + declared_names(schema) + ")");
    if (!fits(decl->second.type, value.kind))
      return invalid("parameter '" + name + "' must be "
                     + type_name(decl->second.type));
  }
  for (const auto& [name, decl] : schema)
    if (decl.required && params.count(name) == 0)
      return invalid("missing required parameter '" + name + "' ("
                     + type_name(decl.type) + ")");
  return caf::none;
}

} // namespace cluster_actions
