// A POST body -> action_params -> validation against a schema with every
// parameter type. Invariants: no crash or exception, a refusal always says
// why, and what is accepted is a JSON object's members.
#include <cstdint>
#include <string>

#include "actors/action_type.hpp"
#include "http/json_mapping.hpp"

using namespace cluster_actions;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const param_schema schema{
    {"target", param_decl{param_type::string, true}},
    {"count", param_decl{param_type::integer, false}},
    {"ratio", param_decl{param_type::number, false}},
    {"force", param_decl{param_type::boolean, false}},
  };
  std::string body(reinterpret_cast<const char*>(data), size);
  std::string problem;
  auto params = http::parse_params(body, problem);
  if (!params) {
    if (problem.empty())
      __builtin_trap();
    return 0;
  }
  for (const auto& [name, value] : *params)
    if (value.kind == param_kind::string
        && value.text.find('\0') != std::string::npos)
      __builtin_trap();
  auto err = validate_params(schema, *params);
  (void) err;
  return 0;
}
