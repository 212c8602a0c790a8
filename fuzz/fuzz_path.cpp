// A decoded request path -> what it addresses. Invariant: a name handed on
// is always within [A-Za-z0-9_-]{1,128}.
#include <cstdint>
#include <string_view>

#include "http/api_path.hpp"

using namespace cluster_actions;
using namespace cluster_actions::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view path(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_api_path(path);
  if (parsed.kind == api_path::action && !is_valid_action_name(parsed.name))
    __builtin_trap();
  if (parsed.kind != api_path::action && !parsed.name.empty())
    __builtin_trap();
  return 0;
}
