#include "actors/command_environment.hpp"

#include <cctype>
#include <stdexcept>

namespace cluster_actions {

namespace {

constexpr std::string_view param_prefix = "ACTION_PARAM_";
constexpr std::string_view name_variable = "CLUSTER_ACTION_NAME";
constexpr std::string_view uid_variable = "CLUSTER_ACTION_UID";

/// Taken from the server's environment when it has them: they shape how a
/// command prints text and times, and hold nothing secret.
constexpr std::string_view locale_variables[] = {"LANG", "LC_ALL", "TZ"};

bool is_variable_name(std::string_view name) {
  auto letter = [](unsigned char c) { return std::isalpha(c) || c == '_'; };
  if (name.empty() || !letter(static_cast<unsigned char>(name.front())))
    return false;
  for (unsigned char c : name)
    if (!letter(c) && !std::isdigit(c))
      return false;
  return true;
}

/// The value of `name` in `env`, if it is there.
const char* lookup(const char* const* env, std::string_view name) {
  for (auto entry = env; *entry != nullptr; ++entry) {
    std::string_view text{*entry};
    if (text.size() > name.size() && text.substr(0, name.size()) == name
        && text[name.size()] == '=')
      return *entry + name.size() + 1;
  }
  return nullptr;
}

} // namespace

std::string param_variable(std::string_view name) {
  std::string variable{param_prefix};
  for (unsigned char c : name)
    variable += std::isalnum(c) ? static_cast<char>(std::toupper(c)) : '_';
  return variable;
}

std::string environment_name_problem(std::string_view name) {
  if (!is_variable_name(name))
    return "not a variable name (a letter or '_', then letters, digits or "
           "'_')";
  if (name == admin_password_variable)
    return "holds the admin password, which is never passed to a command";
  if (name == name_variable || name == uid_variable
      || name.substr(0, param_prefix.size()) == param_prefix)
    return "is set by the server for each run";
  return "";
}

command_environment::command_environment(
  std::string home, const environment_additions& additions,
  const char* const* server_env) {
  common_.emplace("PATH", default_command_path);
  for (auto name : locale_variables)
    if (auto value = lookup(server_env, name))
      common_.emplace(name, value);
  common_.emplace("HOME", std::move(home));
  auto check = [](const std::string& name) {
    if (auto problem = environment_name_problem(name); !problem.empty())
      throw std::invalid_argument("environment variable " + name + ": "
                                  + problem);
  };
  for (const auto& [name, value] : additions.fixed) {
    check(name);
    common_[name] = value;
  }
  for (const auto& name : additions.inherited) {
    check(name);
    if (additions.fixed.count(name) != 0)
      throw std::invalid_argument("environment variable " + name
                                  + ": both fixed and inherited");
    if (auto value = lookup(server_env, name))
      common_[name] = value;
  }
}

std::vector<std::string>
command_environment::for_run(const run_request& run) const {
  std::vector<std::string> env;
  env.reserve(common_.size() + 2 + run.params.size());
  for (const auto& [name, value] : common_)
    env.push_back(name + "=" + value);
  env.push_back(std::string{name_variable} + "=" + run.name);
  env.push_back(std::string{uid_variable} + "=" + run.uid);
  for (const auto& [name, value] : run.params)
    env.push_back(param_variable(name) + "=" + value.text);
  return env;
}

} // namespace cluster_actions
