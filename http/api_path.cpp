#include "http/api_path.hpp"

namespace cluster_actions::http {

api_path parse_api_path(std::string_view path) {
  api_path result;
  if (path == list_path) {
    result.kind = api_path::list;
    return result;
  }
  if (path.size() <= list_path.size() || path.substr(0, list_path.size()) != list_path
      || path[list_path.size()] != '/')
    return result;
  auto rest = path.substr(list_path.size() + 1);
  if (is_valid_action_name(rest)) {
    result.kind = api_path::action;
    result.name = std::string{rest};
  } else {
    result.kind = api_path::invalid_action;
  }
  return result;
}

} // namespace cluster_actions::http
