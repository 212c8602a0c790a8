#include "app/config_permissions.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

namespace cluster_actions::app {

std::string config_permissions_warning(const std::string& path,
                                       const server_config& config) {
  const bool plain_password
    = std::any_of(config.users.begin(), config.users.end(),
                  [](const http::user& u) { return !u.password.empty(); });
  struct stat info {};
  if (!plain_password || ::stat(path.c_str(), &info) != 0
      || (info.st_mode & (S_IRGRP | S_IROTH)) == 0)
    return "";
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o",
                static_cast<unsigned>(info.st_mode & 07777));
  return "warning: " + path + " holds a plain \"password\" and is readable by "
         + ((info.st_mode & S_IROTH) != 0 ? "others" : "its group")
         + " (mode " + mode + "): make it owner-only (chmod 600 " + path
         + "), or replace the password with a \"password_hash\" "
           "(cluster-actions-server hash-password)";
}

} // namespace cluster_actions::app
