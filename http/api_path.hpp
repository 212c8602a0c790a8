// The request paths of the REST front, classified without a server: the
// one place where the (percent-decoded) path becomes an action name.
#pragma once

#include <string>
#include <string_view>

namespace cluster_actions::http {

/// The path of the list endpoint.
constexpr std::string_view list_path = "/v1/cluster/actions";

/// Longest action name the API accepts.
constexpr std::size_t max_action_name_length = 128;

/// Whether `name` is 1 to max_action_name_length ASCII letters, digits,
/// '_' or '-'. Everything else (dots, slashes, NUL, spaces, non-ASCII or
/// invalid UTF-8 bytes) is not a name.
bool is_valid_action_name(std::string_view name) noexcept;

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
