// The configuration: the file format and its errors, and the embedded
// default, whose action scripts are run here for real.
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "app/config.hpp"
#include "app/config_permissions.hpp"
#include "app/tls.hpp"
#include "http/password_hash.hpp"
#include "test_support.hpp"

using namespace cluster_actions;
using namespace cluster_actions::app;
using nlohmann::json;
namespace fs = std::filesystem;
using cluster_actions::testing::temp_dir;

namespace {

/// The example of issue 2.
const json example = R"({
  "listen": "127.0.0.1:9443",
  "data_dir": "./data",
  "tls": false,
  "max_running_actions": 4,
  "users": [
    {"email": "admin@example.com", "password": "s3cret", "role": "admin"}
  ],
  "actions": {
    "rotate_logs": {
      "command": ["/usr/sbin/logrotate", "-f", "/etc/logrotate.conf"],
      "params": {"target": {"type": "string", "required": true},
                 "count": {"type": "integer", "required": false}},
      "timeout_s": 3600,
      "cancel_grace_s": 10
    }
  }
})"_json;

server_config parse(const json& document) {
  return parse_config(document.dump(), "cfg.json");
}

/// `example` with the value at `pointer` replaced (or added).
json with(const std::string& pointer, json value) {
  auto result = example;
  result[json::json_pointer{pointer}] = std::move(value);
  return result;
}

json without(const std::string& pointer) {
  auto result = example;
  json::json_pointer ptr{pointer};
  result[ptr.parent_pointer()].erase(ptr.back());
  return result;
}

/// The message of the config_error that parsing `text` throws.
std::string error_of_text(const std::string& text) {
  try {
    parse_config(text, "cfg.json");
  } catch (const config_error& e) {
    return e.what();
  }
  FAIL("no config_error for " << text);
  return {};
}

std::string error_of(const json& document) {
  return error_of_text(document.dump());
}

/// Checks that `message` names the file and `path` first, then `problem`.
void check_error(const std::string& message, const std::string& path,
                 const std::string& problem) {
  INFO(message);
  CHECK(message.rfind("cfg.json: " + path + ": ", 0) == 0);
  CHECK(message.find(problem) != std::string::npos);
}

} // namespace

TEST_CASE("the example configuration reads into every field") {
  auto cfg = parse(example);
  CHECK(cfg.host == "127.0.0.1");
  CHECK(cfg.port == 9443);
  CHECK(cfg.data_dir == "./data");
  CHECK(cfg.tls.mode == tls_mode::off);
  CHECK(cfg.max_running_actions == 4);
  REQUIRE(cfg.users.size() == 1);
  CHECK(cfg.users[0].email == "admin@example.com");
  CHECK(cfg.users[0].password == "s3cret");
  CHECK(cfg.users[0].password_hash.empty());
  CHECK(cfg.users[0].role == http::role::admin);
  REQUIRE(cfg.actions.size() == 1);
  const auto& action = cfg.actions[0];
  CHECK(action.name == "rotate_logs");
  CHECK(action.command
        == std::vector<std::string>{"/usr/sbin/logrotate", "-f",
                                    "/etc/logrotate.conf"});
  REQUIRE(action.params.size() == 2);
  CHECK(action.params.at("target").type == param_type::string);
  CHECK(action.params.at("target").required);
  CHECK(action.params.at("count").type == param_type::integer);
  CHECK_FALSE(action.params.at("count").required);
  CHECK(action.timeout == std::chrono::seconds{3600});
  CHECK(action.cancel_grace == std::chrono::seconds{10});
}

TEST_CASE("optional keys take their defaults") {
  auto cfg = parse(R"({
    "users": [{"email": "v@x", "password": "p", "role": "db_viewer"}],
    "actions": {"a": {"command": ["/bin/true"]},
                "b": {"command": ["/bin/true"],
                      "params": {"n": {"type": "number"}}}}
  })"_json);
  CHECK(cfg.host == "127.0.0.1");
  CHECK(cfg.port == 9443);
  CHECK(cfg.data_dir == "./data");
  CHECK(cfg.tls.mode == tls_mode::self_signed);
  CHECK(cfg.max_running_actions == 4);
  CHECK(cfg.users[0].role == http::role::db_viewer);
  REQUIRE(cfg.actions.size() == 2);
  CHECK(cfg.actions[0].params.empty());
  CHECK(cfg.actions[0].timeout == std::chrono::seconds{3600});
  CHECK(cfg.actions[0].cancel_grace == std::chrono::seconds{10});
  CHECK(cfg.actions[0].environment.fixed.empty());
  CHECK(cfg.actions[0].environment.inherited.empty());
  CHECK(cfg.trusted_proxies.empty());
  CHECK(cfg.actions[1].params.at("n").type == param_type::number);
  CHECK_FALSE(cfg.actions[1].params.at("n").required);
}

TEST_CASE("actions keep the order of the file") {
  auto cfg = parse_config(R"({
    "users": [{"email": "v@x", "password": "p", "role": "none"}],
    "actions": {"zeta": {"command": ["/bin/true"]},
                "alpha": {"command": ["/bin/true"]}}
  })", "cfg.json");
  REQUIRE(cfg.actions.size() == 2);
  CHECK(cfg.actions[0].name == "zeta");
  CHECK(cfg.actions[1].name == "alpha");
}

TEST_CASE("listen takes HOST:PORT, IPv6 in brackets, port 0 to 65535") {
  auto cfg = parse(with("/listen", "[::1]:0"));
  CHECK(cfg.host == "::1");
  CHECK(cfg.port == 0);
  cfg = parse(with("/listen", "localhost:65535"));
  CHECK(cfg.host == "localhost");
  CHECK(cfg.port == 65535);
  for (const char* bad : {"localhost", ":9443", "host:", "host:94a3",
                          "::1:9443", "[::1]9443", "[]:9443", "h:-1"})
    check_error(error_of(with("/listen", bad)), "listen",
                "expected HOST:PORT");
  check_error(error_of(with("/listen", "h:65536")), "listen",
              "port must be 0..65535");
  check_error(error_of(with("/listen", "h:999999")), "listen",
              "port must be 0..65535");
  check_error(error_of(with("/listen", 9443)), "listen", "must be a string");
}

TEST_CASE("tls is false, an object naming the files, or absent") {
  auto files = parse(with("/tls", {{"cert_file", "c.pem"},
                                   {"key_file", "k.pem"}}));
  CHECK(files.tls.mode == tls_mode::files);
  CHECK(files.tls.cert_file == "c.pem");
  CHECK(files.tls.key_file == "k.pem");
  CHECK(parse(without("/tls")).tls.mode == tls_mode::self_signed);
  CHECK(parse(example).tls.mode == tls_mode::off);

  for (const json& bad : {json(true), json("no"), json(1)})
    check_error(error_of(with("/tls", bad)), "tls",
                "must be false (plain HTTP) or {\"cert_file\": ..., "
                "\"key_file\": ...}; leave it out to serve HTTPS");
  check_error(error_of(with("/tls", {{"cert_file", "c.pem"}})),
              "tls.key_file", "missing");
  check_error(error_of(with("/tls", {{"key_file", "k.pem"}})),
              "tls.cert_file", "missing");
  check_error(error_of(with("/tls", {{"cert_file", ""}, {"key_file", "k"}})),
              "tls.cert_file", "must not be empty");
  check_error(error_of(with("/tls", {{"cert_file", "c"},
                                     {"key_file", "k"},
                                     {"ca_file", "x"}})),
              "tls.ca_file", "unknown key (expected one of cert_file, "
                             "key_file)");
}

TEST_CASE("plain HTTP is allowed on loopback addresses only") {
  for (const char* listen :
       {"127.0.0.1:9443", "127.255.0.9:1", "localhost:9443", "LocalHost:1",
        "[::1]:9443", "[::ffff:127.0.0.2]:9443"}) {
    INFO(listen);
    CHECK(parse(with("/listen", listen)).tls.mode == tls_mode::off);
  }
  for (const char* listen :
       {"0.0.0.0:9443", "10.1.2.3:9443", "128.0.0.1:1", "[::]:9443",
        "[::ffff:10.0.0.1]:1", "node1.example.com:9443", "localhost.:1",
        "127.1:9443"}) {
    INFO(listen);
    auto message = error_of(with("/listen", listen));
    check_error(message, "tls",
                "plain HTTP (\"tls\": false) is allowed only on a loopback "
                "address (127.0.0.0/8, ::1 or localhost)");
    CHECK_THAT(message, Catch::Contains("Leave \"tls\" out to serve HTTPS"));
  }
  // HTTPS may listen anywhere.
  auto https = with("/listen", "0.0.0.0:9443");
  https.erase("tls");
  CHECK(parse(https).host == "0.0.0.0");

  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("::1"));
  CHECK_FALSE(is_loopback_host(""));
  CHECK_FALSE(is_loopback_host("example.com"));
}

TEST_CASE("top-level errors name the file and the key") {
  auto message = error_of_text(R"({"listen": })");
  INFO(message);
  CHECK(message.rfind("cfg.json: invalid JSON: ", 0) == 0);
  CHECK(message.find("line 1, column 12") != std::string::npos);
  CHECK(error_of_text("[]") == "cfg.json: the top level must be a JSON object");
  check_error(error_of(with("/listn", "127.0.0.1:1")), "listn",
              "unknown key (expected one of listen, data_dir, tls, "
              "max_running_actions, max_body_bytes, max_pending_requests, "
              "request_timeout_s, http_threads, trusted_proxies, store, "
              "users, actions)");
  check_error(error_of(with("/max_body_bytes", 0)), "max_body_bytes",
              "must be a positive integer");
  check_error(error_of(with("/max_pending_requests", -1)),
              "max_pending_requests", "must be a positive integer");
  check_error(error_of(with("/data_dir", "")), "data_dir",
              "must not be empty");
  check_error(error_of(with("/data_dir", std::string{"a\0b", 3})), "data_dir",
              "must not contain a NUL character");
  check_error(error_of(without("/users")), "users", "missing");
  check_error(error_of(without("/actions")), "actions", "missing");
  check_error(error_of(with("/actions", json::array())), "actions",
              "must be an object");
}

TEST_CASE("store keeps statuses in sqlite by default, or in memory") {
  CHECK(parse(example).store == store_kind::sqlite);
  CHECK(parse(with("/store", "sqlite")).store == store_kind::sqlite);
  CHECK(parse(with("/store", "memory")).store == store_kind::memory);
  check_error(error_of(with("/store", "redis")), "store",
              "must be \"sqlite\" or \"memory\"");
  check_error(error_of(with("/store", false)), "store", "must be a string");
}

TEST_CASE("max_running_actions is a positive integer") {
  CHECK(parse(with("/max_running_actions", 1)).max_running_actions == 1);
  for (const json& bad : {json(0), json(-3), json(2.5), json("4"), json(true)})
    check_error(error_of(with("/max_running_actions", bad)),
                "max_running_actions", "must be a positive integer");
  check_error(error_of(with("/max_running_actions", 1ull << 63)),
              "max_running_actions", "must be at most");
}

TEST_CASE("a key given twice in one object is an error") {
  auto text = example.dump();
  auto at = text.find("\"timeout_s\"");
  text.insert(at, "\"timeout_s\":5,");
  check_error(error_of_text(text), "actions.rotate_logs.timeout_s",
              "duplicate key");
  text = example.dump();
  text.insert(text.find("\"role\""), "\"role\":\"none\",");
  check_error(error_of_text(text), "users[0].role", "duplicate key");
}

TEST_CASE("users are checked entry by entry") {
  auto two_users = [](json second) {
    auto users = example["users"];
    users.push_back(std::move(second));
    return with("/users", users);
  };
  const json viewer = {{"email", "v@x"}, {"password", "p"},
                       {"role", "cluster_viewer"}};
  CHECK(parse(two_users(viewer)).users.at(1).role
        == http::role::cluster_viewer);

  CHECK(error_of(two_users({{"email", "v@x"}, {"password", "p"},
                            {"role", "root"}}))
        == "cfg.json: users[1].role: unknown role \"root\" (one of admin, "
           "cluster_member, cluster_viewer, db_member, db_viewer, "
           "user_manager, none)");
  check_error(error_of(with("/users", json::array())), "users",
              "at least one user is required");
  check_error(error_of(with("/users", json::object())), "users",
              "must be an array");
  check_error(error_of(two_users("v@x")), "users[1]", "must be an object");
  check_error(error_of(without("/users/0/email")), "users[0].email",
              "missing");
  check_error(error_of(with("/users/0/password", "")), "users[0].password",
              "must not be empty");
  check_error(error_of(with("/users/0/role", 1)), "users[0].role",
              "must be a string");
  check_error(error_of(with("/users/0/name", "x")), "users[0].name",
              "unknown key (expected one of email, password, password_hash, "
              "role)");
  check_error(error_of(with("/users/0/email", "a:b@x")), "users[0].email",
              "must not contain ':'");
  auto duplicate = viewer;
  duplicate["email"] = "Admin@Example.com";
  check_error(error_of(two_users(duplicate)), "users[1].email",
              "duplicate user \"Admin@Example.com\"");
}

TEST_CASE("a user has a password or a password_hash, never both") {
  const auto hash = http::password_hash::make("pw", 10'000).to_string();
  auto hashed = with("/users/0/password_hash", hash);
  hashed["users"][0].erase("password");
  auto cfg = parse(hashed);
  CHECK(cfg.users[0].password.empty());
  CHECK(cfg.users[0].password_hash == hash);

  auto message = error_of(with("/users/0/password_hash", hash));
  check_error(message, "users[0].password_hash",
              "give either \"password\" or \"password_hash\", not both");
  auto neither = example;
  neither["users"][0].erase("password");
  check_error(error_of(neither), "users[0].password",
              "missing (give \"password\" or \"password_hash\")");
  auto empty = with("/users/0/password_hash", "");
  empty["users"][0].erase("password");
  check_error(error_of(empty), "users[0].password_hash", "must not be empty");

  // A malformed hash is refused without being quoted.
  const std::string secret = "pbkdf2-sha256$1000$c2FsdHNhbHQ=$aGFzaGhhc2g=";
  for (const std::string& bad : std::vector<std::string>{
         secret, "s3cret-but-no-hash",
        "pbkdf2-sha1$600000$c2FsdHNhbHQ=$aGFzaGhhc2g=",
        "pbkdf2-sha256$600000$not base64!$aGFzaGhhc2g=",
        "pbkdf2-sha256$600000$c2FsdHNhbHQ=$aGFzaA==",
        "pbkdf2-sha256$0600000$c2FsdHNhbHQ=$aGFzaGhhc2g="}) {
    INFO(bad);
    auto doc = with("/users/0/password_hash", bad);
    doc["users"][0].erase("password");
    auto problem = error_of(doc);
    check_error(problem, "users[0].password_hash",
                "not a hash from `cluster-actions-server hash-password`");
    CHECK(problem.find(bad) == std::string::npos);
    CHECK(problem.find("c2FsdHNhbHQ") == std::string::npos);
  }
}

TEST_CASE("configuration errors never quote a password") {
  // Invalid JSON inside a password: nlohmann would show what it last read.
  auto text = example.dump();
  text.replace(text.find("\"s3cret\""), 8, "\"s3cret\n\"");
  auto message = error_of_text(text);
  INFO(message);
  CHECK(message.rfind("cfg.json: invalid JSON: ", 0) == 0);
  CHECK(message.find("s3cret") == std::string::npos);
  text = example.dump();
  text.resize(text.find("s3cret") + 6); // cut inside the string
  message = error_of_text(text);
  CHECK(message.find("s3cret") == std::string::npos);
  // Wrong types and values are described, not quoted.
  CHECK(error_of(with("/users/0/password", 12345)).find("12345")
        == std::string::npos);
}

TEST_CASE("every role name is accepted") {
  for (const char* name : {"admin", "cluster_member", "cluster_viewer",
                           "db_member", "db_viewer", "user_manager", "none"})
    CHECK_NOTHROW(parse(with("/users/0/role", name)));
}

TEST_CASE("actions are checked entry by entry") {
  const std::string action = "actions.rotate_logs";
  check_error(error_of(with("/actions/rotate_logs/timeout_s", 0)),
              action + ".timeout_s", "must be a positive integer");
  CHECK(error_of(with("/actions/rotate_logs/timeout_s", 0))
        == "cfg.json: actions.rotate_logs.timeout_s: must be a positive "
           "integer");
  check_error(error_of(with("/actions/rotate_logs/timeout_s", "60")),
              action + ".timeout_s", "must be a positive integer");
  check_error(error_of(with("/actions/rotate_logs/timeout_s", 400000000)),
              action + ".timeout_s", "must be at most 31536000");
  check_error(error_of(with("/actions/rotate_logs/cancel_grace_s", -1)),
              action + ".cancel_grace_s", "must be a non-negative integer");
  CHECK(parse(with("/actions/rotate_logs/cancel_grace_s", 0))
          .actions[0]
          .cancel_grace
        == std::chrono::seconds{0});
  check_error(error_of(with("/actions/rotate_logs/timout_s", 5)),
              action + ".timout_s",
              "unknown key (expected one of command, params, timeout_s, "
              "cancel_grace_s, env, inherit_env)");
  check_error(error_of(with("/actions/rotate_logs", "/bin/true")), action,
              "must be an object");

  check_error(error_of(without("/actions/rotate_logs/command")),
              action + ".command", "missing");
  check_error(error_of(with("/actions/rotate_logs/command", json::array())),
              action + ".command", "must not be empty");
  check_error(error_of(with("/actions/rotate_logs/command", "/bin/ls")),
              action + ".command", "must be an array");
  check_error(error_of(with("/actions/rotate_logs/command/1", "")),
              action + ".command[1]", "must not be empty");
  check_error(error_of(with("/actions/rotate_logs/command/2", 3)),
              action + ".command[2]", "must be a string");
  check_error(error_of(with("/actions/rotate_logs/command/0", "logrotate")),
              action + ".command[0]", "not searched in PATH");
  CHECK(parse(with("/actions/rotate_logs/command/0", "./bin/rotate"))
          .actions[0]
          .command[0]
        == "./bin/rotate");
}

TEST_CASE("action names are 1 to 128 of [A-Za-z0-9_-]") {
  auto named = [](const std::string& name) {
    return with("/actions", {{name, example["actions"]["rotate_logs"]}});
  };
  CHECK(parse(named("Rotate-logs_2")).actions[0].name == "Rotate-logs_2");
  CHECK(parse(named(std::string(128, 'a'))).actions[0].name.size() == 128);
  check_error(error_of(named(std::string(129, 'a'))),
              "actions." + std::string(129, 'a'), "invalid action name");
  check_error(error_of(named("rotate logs")), "actions[\"rotate logs\"]",
              "invalid action name");
  check_error(error_of(named("")), "actions[\"\"]", "invalid action name");
  check_error(error_of(named("a/b")), "actions[\"a/b\"]",
              "invalid action name");
}

TEST_CASE("parameters are declared with a type and an optional required") {
  const std::string params = "actions.rotate_logs.params";
  check_error(error_of(with("/actions/rotate_logs/params/target/type", "int")),
              params + ".target.type",
              "unknown type \"int\" (one of string, integer, number, "
              "boolean)");
  check_error(
    error_of(with("/actions/rotate_logs/params/target/required", "yes")),
    params + ".target.required", "must be true or false");
  check_error(error_of(without("/actions/rotate_logs/params/target/type")),
              params + ".target.type", "missing");
  check_error(error_of(with("/actions/rotate_logs/params/target/default", 1)),
              params + ".target.default",
              "unknown key (expected one of type, required)");
  check_error(error_of(with("/actions/rotate_logs/params", json::array())),
              params, "must be an object");
  check_error(error_of(with("/actions/rotate_logs/params/a-b",
                            {{"type", "string"}})),
              params + ".a-b", "invalid parameter name");
  const std::string long_name(65, 'p');
  check_error(error_of(with("/actions/rotate_logs/params/" + long_name,
                            {{"type", "string"}})),
              params + "." + long_name, "invalid parameter name");
  // The environment variable would be ACTION_PARAM_COUNT for both.
  check_error(error_of(with("/actions/rotate_logs/params/Count",
                            {{"type", "string"}})),
              params + ".count",
              "clashes with parameter \"Count\": both would be "
              "ACTION_PARAM_COUNT");
}

TEST_CASE("env and inherit_env add variables to an action type's commands") {
  const std::string action = "actions.rotate_logs";
  auto cfg = parse(with("/actions/rotate_logs/env",
                        {{"LOGROTATE_MODE", "force"}, {"TZ", "UTC"}}));
  CHECK(cfg.actions[0].environment.fixed
        == std::map<std::string, std::string>{{"LOGROTATE_MODE", "force"},
                                              {"TZ", "UTC"}});
  cfg = parse(with("/actions/rotate_logs/inherit_env", {"http_proxy", "LANG"}));
  CHECK(cfg.actions[0].environment.inherited
        == std::vector<std::string>{"http_proxy", "LANG"});

  SECTION("the admin password can never be passed") {
    check_error(error_of(with("/actions/rotate_logs/env",
                              {{"CLUSTER_ACTIONS_ADMIN_PASSWORD", "x"}})),
                action + ".env.CLUSTER_ACTIONS_ADMIN_PASSWORD",
                "\"CLUSTER_ACTIONS_ADMIN_PASSWORD\": holds the admin "
                "password, which is never passed to a command");
    check_error(error_of(with("/actions/rotate_logs/inherit_env",
                              {"LANG", "CLUSTER_ACTIONS_ADMIN_PASSWORD"})),
                action + ".inherit_env[1]", "never passed to a command");
  }
  SECTION("nor the run's own variables, nor names a shell cannot use") {
    check_error(error_of(with("/actions/rotate_logs/env",
                              {{"ACTION_PARAM_TARGET", "x"}})),
                action + ".env.ACTION_PARAM_TARGET",
                "is set by the server for each run");
    check_error(error_of(with("/actions/rotate_logs/inherit_env",
                              {"CLUSTER_ACTION_UID"})),
                action + ".inherit_env[0]", "is set by the server for each run");
    check_error(error_of(with("/actions/rotate_logs/env", {{"A-B", "x"}})),
                action + ".env.A-B", "not a variable name");
    check_error(error_of(with("/actions/rotate_logs/inherit_env", {"1X"})),
                action + ".inherit_env[0]", "not a variable name");
  }
  SECTION("a variable is given a value or inherited, not both") {
    auto both = with("/actions/rotate_logs/env", {{"LANG", "C"}});
    both["actions"]["rotate_logs"]["inherit_env"] = {"LANG"};
    check_error(error_of(both), action + ".inherit_env[0]",
                "\"LANG\" is in \"env\" too");
  }
  SECTION("values are strings, the list an array of names") {
    check_error(error_of(with("/actions/rotate_logs/env", {{"N", 3}})),
                action + ".env.N", "must be a string");
    check_error(error_of(with("/actions/rotate_logs/env", "N=3")),
                action + ".env", "must be an object");
    check_error(error_of(with("/actions/rotate_logs/inherit_env", "LANG")),
                action + ".inherit_env", "must be an array");
  }
}

TEST_CASE("trusted_proxies lists addresses and CIDRs, IPv4 and IPv6") {
  auto cfg = parse(with("/trusted_proxies",
                        {"10.0.0.7", "192.168.0.0/16", "::1", "fd00::/8"}));
  CHECK(cfg.trusted_proxies
        == std::vector<std::string>{"10.0.0.7", "192.168.0.0/16", "::1",
                                    "fd00::/8"});
  check_error(error_of(with("/trusted_proxies", {"10.0.0.0/33"})),
              "trusted_proxies[0]",
              "\"10.0.0.0/33\": the prefix length after '/' must be 0 to 32");
  check_error(error_of(with("/trusted_proxies", {"::1", "fd00::/129"})),
              "trusted_proxies[1]", "must be 0 to 128");
  check_error(error_of(with("/trusted_proxies", {"proxy.example.com"})),
              "trusted_proxies[0]",
              "\"proxy.example.com\": not an IPv4 or IPv6 address");
  check_error(error_of(with("/trusted_proxies", {"10.0.0.0/"})),
              "trusted_proxies[0]", "the prefix length");
  check_error(error_of(with("/trusted_proxies", "10.0.0.1")),
              "trusted_proxies", "must be an array");
}

TEST_CASE("a configuration file with a plain password must be private") {
  auto dir = fs::temp_directory_path()
             / ("config_test_mode." + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = (dir / "cfg.json").string();
  std::ofstream{path} << example.dump(2);
  const auto cfg = load_config_file(path);
  auto warning_at = [&](fs::perms mode) {
    fs::permissions(path, mode);
    return config_permissions_warning(path, cfg);
  };
  using p = fs::perms;
  CHECK(warning_at(p::owner_read | p::owner_write).empty());
  CHECK(warning_at(p::owner_read).empty());
  CHECK(warning_at(p::owner_read | p::owner_write | p::group_read
                   | p::others_read)
        == "warning: " + path
             + " holds a plain \"password\" and is readable by others (mode "
               "0644): make it owner-only (chmod 600 "
             + path
             + "), or replace the password with a \"password_hash\" "
               "(cluster-actions-server hash-password)");
  CHECK_THAT(warning_at(p::owner_read | p::owner_write | p::group_read),
             Catch::Contains("readable by its group (mode 0640)"));

  SECTION("hashes alone need no warning") {
    auto hashed = cfg;
    hashed.users[0].password.clear();
    hashed.users[0].password_hash
      = http::password_hash::make("s3cret", 10'000).to_string();
    fs::permissions(path, p::owner_read | p::owner_write | p::others_read);
    CHECK(config_permissions_warning(path, hashed).empty());
  }
  fs::remove_all(dir);
}

TEST_CASE("load_config_file names the file in its errors") {
  const temp_dir scratch;
  const fs::path dir{scratch.path()};
  const auto path = (dir / "cfg.json").string();
  std::ofstream{path} << with("/max_running_actions", 2).dump(2);
  CHECK(load_config_file(path).max_running_actions == 2);

  std::ofstream{path} << with("/max_running_actions", 0).dump(2);
  CHECK_THROWS_WITH(load_config_file(path),
                    path + ": max_running_actions: must be a positive integer");
  CHECK_THROWS_WITH(load_config_file((dir / "absent.json").string()),
                    (dir / "absent.json").string()
                      + ": cannot read: No such file or directory");
  CHECK_THROWS_WITH(load_config_file(dir.string()),
                    dir.string() + ": cannot read: Is a directory");
}

TEST_CASE("load_config_file checks the certificate and key tls names") {
  const temp_dir scratch;
  const fs::path dir{scratch.path()};
  const auto path = (dir / "cfg.json").string();
  const tls_files mine{(dir / "cert.pem").string(), (dir / "key.pem").string()};
  const tls_files other{(dir / "cert2.pem").string(),
                        (dir / "key2.pem").string()};
  write_self_signed(mine, {{"localhost"}, {}});
  write_self_signed(other, {{"localhost"}, {}});
  auto write = [&](const std::string& cert, const std::string& key) {
    std::ofstream{path} << with("/tls", {{"cert_file", cert},
                                         {"key_file", key}})
                             .dump(2);
  };

  write(mine.cert_file, mine.key_file);
  CHECK(load_config_file(path).tls.mode == tls_mode::files);

  write((dir / "absent.pem").string(), mine.key_file);
  CHECK_THROWS_WITH(load_config_file(path),
                    path + ": tls.cert_file: cannot read \""
                      + (dir / "absent.pem").string()
                      + "\": No such file or directory");
  write(mine.key_file, mine.key_file);
  CHECK_THROWS_WITH(load_config_file(path),
                    Catch::StartsWith(path + ": tls.cert_file: \""
                                      + mine.key_file
                                      + "\" holds no PEM certificate"));
  write(mine.cert_file, mine.cert_file);
  CHECK_THROWS_WITH(load_config_file(path),
                    Catch::StartsWith(path + ": tls.key_file: \""
                                      + mine.cert_file
                                      + "\" holds no unencrypted PEM private "
                                        "key"));
  write(mine.cert_file, other.key_file);
  CHECK_THROWS_WITH(load_config_file(path),
                    path + ": tls.key_file: \"" + other.key_file
                      + "\" is not the private key of the certificate in \""
                      + mine.cert_file + "\"");
}

// ---------------------------------------------------------------------------
// The embedded default

namespace {

const char* type_name(param_type type) {
  switch (type) {
    case param_type::string: return "string";
    case param_type::integer: return "integer";
    case param_type::number: return "number";
    case param_type::boolean: return "boolean";
  }
  return "?";
}

/// The default as a configuration file would say it (its one user is the
/// admin).
json as_json(const server_config& cfg) {
  json actions = json::object();
  for (const auto& action : cfg.actions) {
    json params = json::object();
    for (const auto& [name, decl] : action.params)
      params[name] = {{"type", type_name(decl.type)},
                      {"required", decl.required}};
    actions[action.name] = {{"command", action.command},
                            {"params", params},
                            {"timeout_s", action.timeout.count()},
                            {"cancel_grace_s", action.cancel_grace.count()}};
  }
  json users = json::array();
  for (const auto& u : cfg.users)
    users.push_back(
      {{"email", u.email}, {"password", u.password}, {"role", "admin"}});
  return {{"listen", cfg.host + ":" + std::to_string(cfg.port)},
          {"data_dir", cfg.data_dir},
          {"users", users},
          {"actions", actions}};
}

command_action default_action(const std::string& name) {
  auto cfg = default_config("pw");
  auto found = std::find_if(cfg.actions.begin(), cfg.actions.end(),
                            [&](const auto& a) { return a.name == name; });
  REQUIRE(found != cfg.actions.end());
  return *found;
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct run_result {
  int exit_status = -1;
  std::vector<std::string> stdout_lines;
  std::string stderr_text;
  std::vector<double> progress;
};

/// Runs `action` in `dir` as the server's runner does: the argv without a
/// shell, only the action's variables in the environment.
run_result run(const command_action& action, const fs::path& dir,
               std::vector<std::string> env = {}) {
  temp_dir out;
  const auto out_path = out.file("stdout");
  const auto err_path = out.file("stderr");
  env.push_back("CLUSTER_ACTION_NAME=" + action.name);
  env.push_back("CLUSTER_ACTION_UID=0123abcd-4567-89ef-0123-456789abcdef");
  std::vector<char*> argv, envp;
  for (const auto& arg : action.command)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  for (auto& var : env)
    envp.push_back(var.data());
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out_fd < 0 || err_fd < 0 || ::chdir(dir.c_str()) != 0
        || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0)
      ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));

  run_result result;
  result.exit_status = WEXITSTATUS(status);
  result.stderr_text = read_file(err_path);
  std::istringstream lines{read_file(out_path)};
  for (std::string line; std::getline(lines, line);) {
    result.stdout_lines.push_back(line);
    if (line.rfind("progress: ", 0) == 0)
      result.progress.push_back(std::stod(line.substr(10)));
  }
  return result;
}

/// Progress goes up at every report and ends at 100.
void check_progress(const run_result& result) {
  INFO("stderr: " << result.stderr_text);
  REQUIRE_FALSE(result.progress.empty());
  for (std::size_t i = 1; i < result.progress.size(); ++i)
    CHECK(result.progress[i] > result.progress[i - 1]);
  CHECK(result.progress.front() > 0);
  CHECK(result.progress.back() == 100);
}

std::vector<std::string> bundles_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator{dir / "debuginfo"})
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace

TEST_CASE("the default configuration") {
  auto cfg = default_config("pw");
  CHECK(cfg.host == "127.0.0.1");
  CHECK(cfg.port == 9443);
  CHECK(cfg.data_dir == "./data");
  CHECK(cfg.tls.mode == tls_mode::self_signed);
  REQUIRE(cfg.users.size() == 1);
  CHECK(cfg.users[0].email == "admin@cluster.local");
  CHECK(cfg.users[0].password == "pw");
  CHECK(cfg.users[0].role == http::role::admin);
  REQUIRE(cfg.actions.size() >= 2);

  // It obeys the rules of a configuration file, so none is checked twice.
  auto reread = parse(as_json(cfg));
  REQUIRE(reread.actions.size() == cfg.actions.size());
  for (const auto& action : reread.actions)
    CHECK(default_action(action.name).command == action.command);
}

TEST_CASE("collect_debuginfo bundles the node's state with progress") {
  temp_dir dir;
  auto result = run(default_action("collect_debuginfo"), dir.path());
  REQUIRE(result.exit_status == 0);
  check_progress(result);

  // It ends by naming the bundle, the only thing it leaves behind, as the
  // run's result.
  const std::string prefix = "result: ";
  REQUIRE(result.stdout_lines.back().rfind(prefix, 0) == 0);
  const fs::path bundle = result.stdout_lines.back().substr(prefix.size());
  CHECK(fs::equivalent(bundle.parent_path(), fs::path{dir.path()} / "debuginfo"));
  CHECK(std::regex_match(
    bundle.filename().string(),
    std::regex{R"(debuginfo-\d{8}T\d{6}Z-0123abcd\.tar\.gz)"}));
  CHECK(fs::file_size(bundle) > 0);
  CHECK(bundles_in(dir.path())
        == std::vector<std::string>{bundle.filename().string()});

  std::string listing;
  auto* tar = ::popen(("tar tzf '" + bundle.string() + "'").c_str(), "r");
  REQUIRE(tar != nullptr);
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, tar))
    listing += buffer;
  CHECK(::pclose(tar) == 0);
  for (const char* section : {"summary.txt", "disks.txt", "memory.txt",
                              "cpu.txt", "processes.txt", "network.txt",
                              "kernel_log.txt"})
    CHECK(listing.find(section) != std::string::npos);
}

TEST_CASE("prune_debuginfo keeps the newest bundles") {
  const auto prune = default_action("prune_debuginfo");
  temp_dir dir;
  fs::create_directories(fs::path{dir.path()} / "debuginfo");
  const std::vector<std::string> times = {
    "20240301T000000Z", "20231231T235959Z", "20250101T000000Z",
    "20240101T120000Z", "20240201T000000Z"};
  for (const auto& time : times)
    std::ofstream{fs::path{dir.path()} / "debuginfo" / ("debuginfo-" + time + "-a1.tar.gz")}
      << "x";
  std::ofstream{fs::path{dir.path()} / "debuginfo" / "notes.txt"} << "not a bundle";

  auto result = run(prune, dir.path(), {"ACTION_PARAM_KEEP=5"});
  REQUIRE(result.exit_status == 0);
  check_progress(result);
  CHECK(bundles_in(dir.path()).size() == 6);

  // Without `keep`, three are kept.
  result = run(prune, dir.path());
  REQUIRE(result.exit_status == 0);
  check_progress(result);
  CHECK(bundles_in(dir.path())
        == std::vector<std::string>{"debuginfo-20240201T000000Z-a1.tar.gz",
                                    "debuginfo-20240301T000000Z-a1.tar.gz",
                                    "debuginfo-20250101T000000Z-a1.tar.gz",
                                    "notes.txt"});

  result = run(prune, dir.path(), {"ACTION_PARAM_KEEP=1"});
  REQUIRE(result.exit_status == 0);
  check_progress(result);
  CHECK(bundles_in(dir.path())
        == std::vector<std::string>{"debuginfo-20250101T000000Z-a1.tar.gz",
                                    "notes.txt"});

  result = run(prune, dir.path(), {"ACTION_PARAM_KEEP=-1"});
  CHECK(result.exit_status == 2);
  CHECK(result.stderr_text.find("keep must be a non-negative integer")
        != std::string::npos);
}

TEST_CASE("check_disk fails when the data_dir filesystem is short of space") {
  const auto check = default_action("check_disk");
  temp_dir dir;
  auto result = run(check, dir.path(), {"ACTION_PARAM_MIN_FREE_PERCENT=0"});
  REQUIRE(result.exit_status == 0);
  check_progress(result);

  // Some of any real filesystem is in use.
  result = run(check, dir.path(), {"ACTION_PARAM_MIN_FREE_PERCENT=100"});
  CHECK(result.exit_status == 1);
  CHECK(result.stderr_text.find("below min_free_percent 100")
        != std::string::npos);

  result = run(check, dir.path(), {"ACTION_PARAM_MIN_FREE_PERCENT=101"});
  CHECK(result.exit_status == 2);
  CHECK(result.stderr_text.find("min_free_percent must be an integer from 0 "
                                "to 100")
        != std::string::npos);
}
