// Who may call what: the RS roles and their cluster-action permissions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cluster_actions::http {

/// The Redis Enterprise roles.
enum class role {
  admin,
  cluster_member,
  cluster_viewer,
  db_member,
  db_viewer,
  user_manager,
  none,
};

/// What a request needs: one per endpoint kind (view, start, cancel).
enum class permission {
  view_status_of_cluster_action,
  start_cluster_action,
  cancel_cluster_action,
};

/// The role named `name` ("admin", "db_viewer", ...), or nothing.
std::optional<role> parse_role(std::string_view name);

/// Every role name parse_role accepts, in the order the RS docs list them:
/// "admin, cluster_member, ..., none".
std::string role_name_list();

/// The name RS gives `what` ("start_cluster_action").
std::string_view permission_name(permission what) noexcept;

/// The RS permission table for cluster actions.
bool has_permission(role who, permission what) noexcept;

/// A Basic-auth user; the user name is the email. Exactly one of
/// `password` (the password itself) and `password_hash` (a password_hash in
/// its string form) is set.
struct user {
  std::string email;
  std::string password;
  http::role role = role::none;
  std::string password_hash = {};
};

} // namespace cluster_actions::http
