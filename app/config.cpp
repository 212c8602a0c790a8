// Reading and validating the JSON configuration. Every check goes through a
// `node` (a value plus its key path), so each error says where it is:
// "cfg.json: actions.rotate_logs.timeout_s: must be a positive integer".
#include "app/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <variant>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "app/tls.hpp"
#include "http/password_hash.hpp"
#include "http/strict_json.hpp"
#include "http/trusted_proxies.hpp"
#include "messages/action_name.hpp"

namespace cluster_actions::app {
namespace {

// Ordered, so that actions and errors follow the order of the file.
using json = nlohmann::ordered_json;

/// Longest timeout_s / cancel_grace_s accepted: a year is already absurd,
/// and a bound keeps the conversion to CAF's nanosecond timespans safe.
constexpr std::int64_t max_duration_s = 365 * 24 * 3600;

std::string in_quotes(std::string_view text) {
  return json(std::string{text}).dump();
}

/// `name` is 1 to `max_length` letters, digits, '_' (and '-' if allowed).
bool is_valid_name(std::string_view name, std::size_t max_length,
                   bool allow_dash) {
  return !name.empty() && name.size() <= max_length
         && std::all_of(name.begin(), name.end(), [&](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '_'
                     || (allow_dash && c == '-');
            });
}

/// `parent.key`, or `parent["odd key"]` when the key would read ambiguously.
std::string member_path(const std::string& parent, std::string_view key) {
  if (!is_valid_name(key, key.size(), true))
    return parent + "[" + in_quotes(key) + "]";
  return parent.empty() ? std::string{key} : parent + "." + std::string{key};
}

std::string element_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

[[noreturn]] void fail_at(const std::string& origin, const std::string& path,
                          const std::string& problem) {
  throw config_error(origin + ": " + (path.empty() ? "" : path + ": ")
                     + problem);
}

/// "a, b, c".
template <class Names>
std::string join(const Names& names) {
  std::string result;
  for (std::string_view name : names)
    result += (result.empty() ? "" : ", ") + std::string{name};
  return result;
}

std::string upper_case(std::string text) {
  for (auto& c : text)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

/// The key path of a value check_json found a problem at.
std::string path_text(const std::vector<http::json_path_step>& path) {
  std::string text;
  for (const auto& step : path)
    text = std::holds_alternative<std::size_t>(step)
             ? element_path(text, std::get<std::size_t>(step))
             : member_path(text, std::get<std::string>(step));
  return text;
}

/// Fails on invalid JSON, naming its position, and on a key repeated within
/// one object: nlohmann::json keeps only the last of them, so a copy-pasted
/// action or a second "timeout_s" would otherwise vanish silently.
void check_syntax(const std::string& json_text, const std::string& origin) {
  auto problem = http::check_json(json_text);
  if (!problem)
    return;
  if (problem->kind == http::json_problem::duplicate_key)
    fail_at(origin, path_text(problem->path), "duplicate key");
  // Without what the lexer last read: that may be part of a password.
  std::string_view detail = problem->detail;
  if (auto read = detail.find("; last read:"); read != std::string_view::npos)
    detail.remove_suffix(detail.size() - read);
  fail_at(origin, "", "invalid JSON: " + std::string{detail});
}

/// A value of the document with its key path: every accessor checks the
/// value's type or range and, if it does not fit, fails naming the path.
class node {
public:
  node(const json& value, std::string path, const std::string& origin)
    : value_(value), path_(std::move(path)), origin_(origin) {}

  [[noreturn]] void fail(const std::string& problem) const {
    fail_at(origin_, path_, problem);
  }

  /// Checks for an object whose keys are all in `known`, so that a
  /// misspelt key is an error instead of a silently ignored one.
  void expect_object(std::initializer_list<std::string_view> known) const {
    expect_object();
    for (const auto& item : value_.items())
      if (std::find(known.begin(), known.end(), item.key()) == known.end())
        node{item.value(), member_path(path_, item.key()), origin_}.fail(
          "unknown key (expected one of " + join(known) + ")");
  }

  /// The members of an object whose keys are names chosen by the user.
  std::vector<std::pair<std::string, node>> members() const {
    expect_object();
    std::vector<std::pair<std::string, node>> result;
    for (const auto& item : value_.items())
      result.emplace_back(item.key(), member(item.key()));
    return result;
  }

  std::vector<node> elements() const {
    if (!value_.is_array())
      fail("must be an array");
    std::vector<node> result;
    for (std::size_t i = 0; i < value_.size(); ++i)
      result.emplace_back(value_[i], element_path(path_, i), origin_);
    return result;
  }

  /// A key the object must have.
  node at(std::string_view key) const {
    if (auto found = find(key))
      return *found;
    fail_missing(key, "missing");
  }

  /// Fails at `key` of this object, which is not there.
  [[noreturn]] void fail_missing(std::string_view key,
                                 const std::string& problem) const {
    node{value_, member_path(path_, key), origin_}.fail(problem);
  }

  /// A key the object may have.
  std::optional<node> find(std::string_view key) const {
    if (!value_.contains(key))
      return std::nullopt;
    return member(key);
  }

  /// A non-empty string. NUL characters are refused: they would cut the
  /// string short where it becomes a C string (argv, password checks).
  std::string text() const {
    if (!value_.is_string())
      fail("must be a string");
    const auto& result = value_.get_ref<const std::string&>();
    if (result.empty())
      fail("must not be empty");
    if (result.find('\0') != std::string::npos)
      fail("must not contain a NUL character");
    return result;
  }

  bool boolean() const {
    if (!value_.is_boolean())
      fail("must be true or false");
    return value_.get<bool>();
  }

  /// An integer in [min, max], `min` being 0 or 1; 3.0 or "3" is not an
  /// integer.
  std::int64_t integer(std::int64_t min, std::int64_t max) const {
    const std::string expected =
      min == 0 ? "a non-negative integer" : "a positive integer";
    if (!value_.is_number_integer())
      fail("must be " + expected);
    if (value_.is_number_unsigned()
          ? value_.get<std::uint64_t>() > static_cast<std::uint64_t>(max)
          : value_.get<std::int64_t>() > max)
      fail("must be at most " + std::to_string(max));
    auto result = value_.get<std::int64_t>();
    if (result < min)
      fail("must be " + expected);
    return result;
  }

  const json& value() const { return value_; }

private:
  void expect_object() const {
    if (!value_.is_object())
      fail("must be an object");
  }

  node member(std::string_view key) const {
    return node{value_.at(std::string{key}), member_path(path_, key), origin_};
  }

  const json& value_;
  std::string path_;
  const std::string& origin_;
};

/// Splits "HOST:PORT" or "[IPv6]:PORT" (the brackets are not part of the
/// host); nothing when the text has neither shape.
std::optional<std::pair<std::string, std::string>>
split_host_port(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos)
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) // an IPv6 address needs brackets
      return std::nullopt;
  }
  if (host.empty() || port.empty()
      || !std::all_of(port.begin(), port.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::pair{host, port};
}

void read_listen(const node& listen, server_config& cfg) {
  const auto text = listen.text();
  auto parts = split_host_port(text);
  if (!parts)
    listen.fail("expected HOST:PORT (e.g. \"127.0.0.1:9443\", or "
                "\"[::1]:9443\" for IPv6), got "
                + in_quotes(text));
  const auto& [host, port] = *parts;
  const auto number = port.size() <= 5 ? std::stoul(port) : 65536;
  if (number > 65535)
    listen.fail("port must be 0..65535, got " + port);
  cfg.host = host;
  cfg.port = static_cast<std::uint16_t>(number);
}

tls_config read_tls(const node& tls) {
  tls_config result;
  if (tls.value() == false) {
    result.mode = tls_mode::off;
    return result;
  }
  if (!tls.value().is_object())
    tls.fail("must be false (plain HTTP) or {\"cert_file\": ..., "
             "\"key_file\": ...}; leave it out to serve HTTPS with a "
             "self-signed certificate");
  tls.expect_object({"cert_file", "key_file"});
  result.mode = tls_mode::files;
  result.cert_file = tls.at("cert_file").text();
  result.key_file = tls.at("key_file").text();
  return result;
}

http::user read_user(const node& entry) {
  entry.expect_object({"email", "password", "password_hash", "role"});
  http::user result;
  const auto email = entry.at("email");
  result.email = email.text();
  // RFC 7617: a Basic-auth user-id cannot contain ':'.
  if (result.email.find(':') != std::string::npos)
    email.fail("must not contain ':' (HTTP Basic auth could not send it)");
  // Errors about either never quote it.
  auto password = entry.find("password");
  auto hash = entry.find("password_hash");
  if (password && hash)
    hash->fail("give either \"password\" or \"password_hash\", not both");
  if (!password && !hash)
    entry.fail_missing("password",
                       "missing (give \"password\" or \"password_hash\")");
  if (password) {
    result.password = password->text();
  } else {
    result.password_hash = hash->text();
    std::string problem;
    if (!http::password_hash::parse(result.password_hash, &problem))
      hash->fail("not a hash from `cluster-actions-server hash-password` ("
                 + problem + ")");
  }
  const auto role = entry.at("role");
  const auto name = role.text();
  auto parsed = http::parse_role(name);
  if (!parsed)
    role.fail("unknown role " + in_quotes(name) + " (one of "
              + http::role_name_list() + ")");
  result.role = *parsed;
  return result;
}

std::vector<http::user> read_users(const node& users) {
  std::vector<http::user> result;
  // Upper-cased emails: people read "Admin@x" and "admin@x" as one address,
  // so having both is a mistake even if Basic auth could tell them apart.
  std::set<std::string> seen;
  for (const auto& entry : users.elements()) {
    auto user = read_user(entry);
    if (!seen.insert(upper_case(user.email)).second)
      entry.at("email").fail("duplicate user " + in_quotes(user.email));
    result.push_back(std::move(user));
  }
  if (result.empty())
    users.fail("at least one user is required");
  return result;
}

param_decl read_param(const node& decl) {
  decl.expect_object({"type", "required"});
  static const std::vector<std::pair<std::string_view, param_type>> types = {
    {"string", param_type::string},
    {"integer", param_type::integer},
    {"number", param_type::number},
    {"boolean", param_type::boolean},
  };
  param_decl result;
  const auto type = decl.at("type");
  const auto name = type.text();
  auto found = std::find_if(types.begin(), types.end(), [&](const auto& t) {
    return t.first == name;
  });
  if (found == types.end()) {
    std::vector<std::string_view> names;
    for (const auto& known : types)
      names.push_back(known.first);
    type.fail("unknown type " + in_quotes(name) + " (one of " + join(names)
              + ")");
  }
  result.type = found->second;
  if (auto required = decl.find("required"))
    result.required = required->boolean();
  return result;
}

param_schema read_params(const node& params) {
  param_schema result;
  // Environment variable -> the parameter that takes it: "count" and
  // "Count" would both be ACTION_PARAM_COUNT.
  std::map<std::string, std::string> variables;
  for (const auto& [name, decl] : params.members()) {
    if (!is_valid_name(name, 64, false))
      decl.fail("invalid parameter name (1 to 64 letters, digits or _)");
    auto variable = param_variable(name);
    if (auto [it, fresh] = variables.emplace(variable, name); !fresh)
      decl.fail("clashes with parameter " + in_quotes(it->second)
                + ": both would be " + variable);
    result.emplace(name, read_param(decl));
  }
  return result;
}

std::vector<std::string> read_trusted_proxies(const node& proxies) {
  std::vector<std::string> result;
  for (const auto& entry : proxies.elements()) {
    auto text = entry.text();
    if (auto problem = http::trusted_proxies::entry_problem(text);
        !problem.empty())
      entry.fail(in_quotes(text) + ": " + problem
                 + " (expected an address or a CIDR such as \"10.0.0.0/8\")");
    result.push_back(std::move(text));
  }
  return result;
}

/// An environment variable an action type sets or inherits.
std::string read_variable_name(const node& name_node, const std::string& name) {
  if (auto problem = environment_name_problem(name); !problem.empty())
    name_node.fail(in_quotes(name) + ": " + problem);
  return name;
}

environment_additions read_environment(const std::optional<node>& fixed,
                                       const std::optional<node>& inherited) {
  environment_additions result;
  if (fixed)
    for (const auto& [name, value] : fixed->members())
      result.fixed.emplace(read_variable_name(value, name), value.text());
  if (inherited)
    for (const auto& entry : inherited->elements()) {
      auto name = read_variable_name(entry, entry.text());
      if (result.fixed.count(name) != 0)
        entry.fail(in_quotes(name) + " is in \"env\" too: give it a value "
                   "there or inherit it, not both");
      result.inherited.push_back(std::move(name));
    }
  return result;
}

command_action read_action(const std::string& name, const node& entry) {
  if (!is_valid_action_name(name))
    entry.fail("invalid action name (1 to "
               + std::to_string(max_action_name_length)
               + " letters, digits, _ or -)");
  entry.expect_object({"command", "params", "timeout_s", "cancel_grace_s",
                       "env", "inherit_env"});
  command_action result;
  result.name = name;
  const auto command = entry.at("command");
  const auto args = command.elements();
  for (const auto& arg : args)
    result.command.push_back(arg.text());
  if (args.empty())
    command.fail("must not be empty (the program and its arguments)");
  // The runner execs argv[0] as a path, relative to data_dir if relative.
  const auto& program = result.command.front();
  if (program.find('/') == std::string::npos)
    args.front().fail(in_quotes(program) + " must be a path, e.g. \"/usr/bin/"
                      + program + "\": commands are not searched in PATH");
  if (auto params = entry.find("params"))
    result.params = read_params(*params);
  if (auto timeout = entry.find("timeout_s"))
    result.timeout = std::chrono::seconds{timeout->integer(1, max_duration_s)};
  if (auto grace = entry.find("cancel_grace_s"))
    result.cancel_grace =
      std::chrono::seconds{grace->integer(0, max_duration_s)};
  result.environment
    = read_environment(entry.find("env"), entry.find("inherit_env"));
  return result;
}

} // namespace

bool is_loopback_host(const std::string& host) {
  if (host.size() == 9) {
    std::string lower = host;
    for (auto& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "localhost")
      return true;
  }
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6)
           || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

std::string plain_http_problem(const server_config& config) {
  if (config.tls.mode != tls_mode::off || is_loopback_host(config.host))
    return "";
  return "plain HTTP (\"tls\": false) is allowed only on a loopback address "
         "(127.0.0.0/8, ::1 or localhost), and "
         + in_quotes(config.host)
         + " is not one: it would send passwords unencrypted over the "
           "network. Leave \"tls\" out to serve HTTPS with a self-signed "
           "certificate, or give {\"cert_file\": ..., \"key_file\": ...}";
}

server_config parse_config(const std::string& json_text,
                           const std::string& origin) {
  check_syntax(json_text, origin);
  const auto document = json::parse(json_text);
  const node root{document, "", origin};
  if (!document.is_object())
    root.fail("the top level must be a JSON object");
  root.expect_object({"listen", "data_dir", "tls", "max_running_actions",
                      "max_body_bytes", "max_pending_requests",
                      "request_timeout_s", "http_threads", "trusted_proxies",
                      "store",
                      "users", "actions"});
  server_config cfg;
  if (auto listen = root.find("listen"))
    read_listen(*listen, cfg);
  if (auto data_dir = root.find("data_dir"))
    cfg.data_dir = data_dir->text();
  if (auto tls = root.find("tls")) {
    cfg.tls = read_tls(*tls);
    if (auto problem = plain_http_problem(cfg); !problem.empty())
      tls->fail(problem);
  }
  if (auto max_running = root.find("max_running_actions"))
    cfg.max_running_actions = static_cast<std::size_t>(
      max_running->integer(1, std::numeric_limits<int>::max()));
  if (auto max_body = root.find("max_body_bytes"))
    cfg.max_body_bytes = static_cast<std::size_t>(
      max_body->integer(1, std::int64_t{64} * 1024 * 1024));
  if (auto max_pending = root.find("max_pending_requests"))
    cfg.max_pending_requests = static_cast<std::size_t>(
      max_pending->integer(1, 1000000));
  if (auto timeout = root.find("request_timeout_s"))
    cfg.request_timeout = std::chrono::seconds{timeout->integer(1, 3600)};
  if (auto threads = root.find("http_threads"))
    cfg.http_threads = static_cast<std::size_t>(threads->integer(1, 4096));
  if (auto proxies = root.find("trusted_proxies"))
    cfg.trusted_proxies = read_trusted_proxies(*proxies);
  if (auto store = root.find("store")) {
    auto kind = store->text();
    if (kind != "sqlite" && kind != "memory")
      store->fail("must be \"sqlite\" or \"memory\"");
    cfg.store = kind == "sqlite" ? store_kind::sqlite : store_kind::memory;
  }
  cfg.users = read_users(root.at("users"));
  for (const auto& [name, entry] : root.at("actions").members())
    cfg.actions.push_back(read_action(name, entry));
  return cfg;
}

server_config load_config_file(const std::string& path) {
  const auto unreadable = [&] {
    throw config_error(path + ": cannot read: " + std::strerror(errno));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    unreadable();
  std::string text;
  char buffer[4096];
  ssize_t got;
  while ((got = ::read(fd, buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(got));
  const int read_errno = errno;
  ::close(fd);
  if (got < 0) {
    errno = read_errno;
    unreadable();
  }
  auto cfg = parse_config(text, path);
  if (cfg.tls.mode == tls_mode::files) {
    try {
      check_tls_files({cfg.tls.cert_file, cfg.tls.key_file}, "tls.cert_file",
                      "tls.key_file");
    } catch (const tls_error& e) {
      throw config_error(path + ": " + e.what());
    }
  }
  return cfg;
}

} // namespace cluster_actions::app
