// A configuration file that holds passwords must be private to the server.
#pragma once

#include <string>

#include "app/config.hpp"

namespace cluster_actions::app {

/// A warning for stderr when `config`, read from the file at `path`, holds
/// a plain `password` and the file is readable by its group or by others;
/// "" otherwise (also when the file cannot be looked at any more).
std::string config_permissions_warning(const std::string& path,
                                       const server_config& config);

} // namespace cluster_actions::app
