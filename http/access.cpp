#include "http/access.hpp"

#include <array>
#include <utility>

namespace cluster_actions::http {

namespace {

// The role names, in the order the RS docs list them.
constexpr std::array<std::pair<std::string_view, role>, 7> role_names{{
  {"admin", role::admin},
  {"cluster_member", role::cluster_member},
  {"cluster_viewer", role::cluster_viewer},
  {"db_member", role::db_member},
  {"db_viewer", role::db_viewer},
  {"user_manager", role::user_manager},
  {"none", role::none},
}};

} // namespace

std::optional<role> parse_role(std::string_view name) {
  for (const auto& [text, value] : role_names)
    if (text == name)
      return value;
  return std::nullopt;
}

std::string role_name_list() {
  std::string list;
  for (const auto& [text, value] : role_names)
    list += (list.empty() ? "" : ", ") + std::string{text};
  return list;
}

std::string_view permission_name(permission what) noexcept {
  switch (what) {
    case permission::view_status_of_cluster_action:
      return "view_status_of_cluster_action";
    case permission::start_cluster_action:
      return "start_cluster_action";
    case permission::cancel_cluster_action:
      return "cancel_cluster_action";
  }
  return "?";
}

bool has_permission(role who, permission what) noexcept {
  switch (what) {
    case permission::view_status_of_cluster_action:
      return who != role::none;
    case permission::start_cluster_action:
    case permission::cancel_cluster_action:
      return who == role::admin;
  }
  return false;
}

} // namespace cluster_actions::http
