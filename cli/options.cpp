#include "cli/options.hpp"

#include <sstream>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.hpp"

namespace cluster_actions::cli {

std::string params_object(const std::string& params_json,
                          const std::vector<std::string>& pairs) {
  auto params = nlohmann::json::object();
  if (!params_json.empty()) {
    try {
      params = nlohmann::json::parse(params_json);
    } catch (const nlohmann::json::parse_error&) {
      throw std::invalid_argument("--params is not valid JSON");
    }
    if (!params.is_object())
      throw std::invalid_argument("--params must be a JSON object");
  }
  for (const auto& pair : pairs) {
    auto equals = pair.find('=');
    if (equals == std::string::npos || equals == 0)
      throw std::invalid_argument("'" + pair + "' is not KEY=VALUE");
    auto key = pair.substr(0, equals);
    auto text = pair.substr(equals + 1);
    // The server does not publish the declared types: a value that reads as
    // JSON (42, 1.5, true, "007") is that, anything else a string.
    auto value = nlohmann::json::parse(text, nullptr, false);
    params[key] = value.is_discarded() ? nlohmann::json(text) : value;
  }
  return params.dump();
}

parsed_command parse_command(const std::vector<std::string>& args,
                             const char* (*getenv)(const char*)) {
  command result;
  auto from_env = [getenv](const char* name, std::string& into) {
    if (const char* value = getenv(name); value != nullptr && *value != '\0')
      into = value;
  };
  from_env("CLUSTER_ACTIONS_URL", result.server.url);
  from_env("CLUSTER_ACTIONS_USER", result.server.user);
  from_env("CLUSTER_ACTIONS_PASSWORD", result.server.password);
  from_env("CLUSTER_ACTIONS_CACERT", result.server.cacert);

  CLI::App app{"Starts, watches and cancels cluster actions on a "
               "cluster-actions server.\nThe password comes from "
               "CLUSTER_ACTIONS_PASSWORD, or is asked for.",
               "cluster-actions"};
  app.require_subcommand(1);
  // Connection flags and --json may also follow the subcommand.
  app.fallthrough();
  app.add_option("--url", result.server.url,
                 "the server (env CLUSTER_ACTIONS_URL; default "
                 "https://127.0.0.1:9443)");
  app.add_option("--user", result.server.user,
                 "the user's email (env CLUSTER_ACTIONS_USER)");
  app.add_option("--cacert", result.server.cacert,
                 "PEM file of the certificate(s) to trust (env "
                 "CLUSTER_ACTIONS_CACERT)");
  app.add_flag("--json", result.json, "print the server's JSON as is");

  std::vector<std::string> pairs;
  auto* list = app.add_subcommand("list", "every type's current or last run");
  auto* get = app.add_subcommand("get", "one type's current or last run");
  get->add_option("NAME", result.name, "the action type")->required();
  auto* start = app.add_subcommand("start", "start a run");
  start->add_option("NAME", result.name, "the action type")->required();
  start->add_option("KEY=VALUE", pairs, "parameters");
  start->add_option("--params", result.params_json,
                    "parameters as a JSON object");
  start->add_flag("--wait", result.wait, "wait until the run ends");
  auto* cancel = app.add_subcommand("cancel", "cancel a live run, or clear "
                                              "a finished one's status");
  cancel->add_option("NAME", result.name, "the action type")->required();
  cancel->add_flag("--wait", result.wait, "wait until the run ends");
  auto* wait = app.add_subcommand("wait", "wait until a run ends");
  wait->add_option("NAME", result.name, "the action type")->required();
  long timeout_s = result.timeout.count();
  for (auto* waiting : {start, cancel, wait})
    waiting
      ->add_option("--timeout", timeout_s,
                   "give up waiting after this many seconds (exit 4)")
      ->check(CLI::PositiveNumber);
  auto* nodes = app.add_subcommand("nodes", "the cluster's nodes");

  // CLI11 takes the arguments in reverse, without the program name.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& error) {
    std::ostringstream out;
    int code = app.exit(error, out, out);
    return {std::nullopt, code == 0 ? 0 : exit_usage, out.str()};
  }
  result.timeout = std::chrono::seconds(timeout_s);
  if (list->parsed())
    result.what = verb::list;
  else if (get->parsed())
    result.what = verb::get;
  else if (start->parsed())
    result.what = verb::start;
  else if (cancel->parsed())
    result.what = verb::cancel;
  else if (wait->parsed()) {
    result.what = verb::wait;
    result.wait = true;
  } else if (nodes->parsed())
    result.what = verb::nodes;
  if (result.what == verb::start) {
    try {
      result.params_json = params_object(result.params_json, pairs);
    } catch (const std::invalid_argument& error) {
      return {std::nullopt, exit_usage, std::string{error.what()} + "\n"};
    }
  }
  if (result.server.user.empty())
    return {std::nullopt, exit_usage,
            "no user: give --user or set CLUSTER_ACTIONS_USER\n"};
  return {std::move(result), 0, {}};
}

} // namespace cluster_actions::cli
