// HTTP Basic authentication (RFC 7617) against the configured users.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/access.hpp"

namespace cluster_actions::http {

/// The users of the REST front, by email.
class user_directory {
public:
  explicit user_directory(std::vector<user> users);

  /// The user whose credentials an Authorization header value carries, or
  /// nullptr when it is empty, malformed, names no user or has the wrong
  /// password.
  const user* authenticate(std::string_view authorization) const;

private:
  std::unordered_map<std::string, user> by_email_;
};

} // namespace cluster_actions::http
