// The command line of the cluster-actions command: what to do, and how to
// reach the server.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace cluster_actions::cli {

/// Where the server is and who asks.
struct connection {
  std::string url = "https://127.0.0.1:9443";
  std::string user;
  std::string password;
  std::string cacert; ///< "" for the system's trust store
};

enum class verb { list, get, start, cancel, wait, nodes };

struct command {
  verb what = verb::list;
  std::string name;         ///< the action, for get/start/cancel/wait
  std::string params_json;  ///< start: the JSON object of parameters
  bool wait = false;        ///< start/cancel --wait; always for wait
  std::chrono::seconds timeout{3600};
  bool json = false;        ///< print the server's JSON as is
  connection server;
};

/// What parsing the arguments gave: a command, or an exit (help, version,
/// a usage error) with its message and code.
struct parsed_command {
  std::optional<command> parsed;
  int exit_code = 0;
  std::string message;
};

/// Reads the environment through `getenv` (CLUSTER_ACTIONS_URL, _USER,
/// _PASSWORD, _CACERT); flags take precedence. The password is never a
/// flag: without CLUSTER_ACTIONS_PASSWORD it stays empty for the caller to
/// prompt for.
parsed_command parse_command(const std::vector<std::string>& args,
                             const char* (*getenv)(const char*));

/// The JSON object of `start`'s parameters: `--params` (a JSON object)
/// merged with KEY=VALUE pairs, each value taken as the declared type's
/// JSON when it parses as JSON (a number, true, false, a quoted string, an
/// array or object), else as a string. Throws std::invalid_argument with a
/// message for the user.
std::string params_object(const std::string& params_json,
                          const std::vector<std::string>& pairs);

} // namespace cluster_actions::cli
