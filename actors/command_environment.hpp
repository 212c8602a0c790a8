// The environment a command runs with: a short fixed list, what its action
// type adds on purpose, and its run's own variables. Nothing else of the
// server's environment reaches it, so a secret the server holds there (the
// admin password of the embedded default) is never a command's to read.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "actors/action_type.hpp"

namespace cluster_actions {

/// The variable that holds the embedded default's admin password; a
/// command can never be given it.
inline constexpr std::string_view admin_password_variable
  = "CLUSTER_ACTIONS_ADMIN_PASSWORD";

/// The `PATH` of every command unless its action type sets another.
inline constexpr std::string_view default_command_path
  = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The variable that carries parameter `name`: "ACTION_PARAM_" followed by
/// `name` upper-cased, with every character other than a letter, digit or
/// '_' replaced by '_'. Two names with the same variable cannot both be
/// passed: a configuration refuses such a pair.
std::string param_variable(std::string_view name);

/// Why an action type may not set or inherit the variable `name`, or ""
/// when it may: the name must be a portable variable name
/// (`[A-Za-z_][A-Za-z0-9_]*`), must not be the admin password's variable,
/// and must not be one the server sets for each run (`CLUSTER_ACTION_NAME`,
/// `CLUSTER_ACTION_UID`, `ACTION_PARAM_*`).
std::string environment_name_problem(std::string_view name);

/// What an action type adds to the environment of its commands.
struct environment_additions {
  /// Variables with fixed values (the configuration's `env`).
  std::map<std::string, std::string> fixed;
  /// Variables taken from the server's environment when it has them (the
  /// configuration's `inherit_env`).
  std::vector<std::string> inherited;
};

/// The environment of every run of one action type's command:
///
/// - `PATH` (default_command_path), and `LANG`, `LC_ALL` and `TZ` when the
///   server has them;
/// - `HOME`, the directory the command runs in;
/// - the additions, which may replace any of the above;
/// - for each run, `CLUSTER_ACTION_NAME`, `CLUSTER_ACTION_UID` and one
///   `ACTION_PARAM_<NAME>` per parameter.
class command_environment {
public:
  /// Reads what it needs of the server's environment (`server_env`, NAME=value
  /// entries ending in a null pointer) now, once. Throws std::invalid_argument
  /// for an addition environment_name_problem refuses, or a name both fixed
  /// and inherited.
  command_environment(std::string home, const environment_additions& additions,
                      const char* const* server_env);

  /// The whole environment of `run`, as "NAME=value" entries.
  std::vector<std::string> for_run(const run_request& run) const;

private:
  /// Every run's variables but its own three kinds, by name.
  std::map<std::string, std::string> common_;
};

} // namespace cluster_actions
