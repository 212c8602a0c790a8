// The request paths of the REST front, classified without a server: the
// one place where the (percent-decoded) path becomes an action name.
#pragma once

#include <string>
#include <string_view>

#include "messages/action_name.hpp"

namespace cluster_actions::http {

/// The path of the list endpoint.
constexpr std::string_view list_path = "/v1/cluster/actions";

/// What a decoded request path (httplib hands it over percent-decoded,
/// without the query) addresses.
struct api_path {
  enum kind_t {
    list,           ///< /v1/cluster/actions
    action,         ///< /v1/cluster/actions/{name} with a valid name
    invalid_action, ///< /v1/cluster/actions/{rest}, rest not a valid name
    outside,        ///< anything else
  };
  kind_t kind = outside;
  std::string name; ///< the action name when kind == action
};

api_path parse_api_path(std::string_view path);

} // namespace cluster_actions::http
