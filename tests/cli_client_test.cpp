// The cluster-actions command's argument handling and output, without a
// server (tests/scripts/cli_test.py runs it against one).

#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.hpp"
#include "cli/options.hpp"
#include "cli/render.hpp"

using nlohmann::json;
using namespace cluster_actions::cli;

namespace {

std::map<std::string, std::string> environment;

const char* fake_getenv(const char* name) {
  auto found = environment.find(name);
  return found == environment.end() ? nullptr : found->second.c_str();
}

parsed_command parse(std::vector<std::string> args,
                     std::map<std::string, std::string> env = {
                       {"CLUSTER_ACTIONS_USER", "env@example.com"}}) {
  environment = std::move(env);
  return parse_command(args, fake_getenv);
}

} // namespace

TEST_CASE("commands and their arguments") {
  auto start = parse({"start", "check_disk", "min_free_percent=20", "--wait",
                      "--timeout", "30"});
  REQUIRE(start.parsed);
  CHECK(start.parsed->what == verb::start);
  CHECK(start.parsed->name == "check_disk");
  CHECK(start.parsed->wait);
  CHECK(start.parsed->timeout == std::chrono::seconds(30));
  CHECK(json::parse(start.parsed->params_json)
        == json::parse(R"({"min_free_percent": 20})"));

  auto wait = parse({"wait", "collect_debuginfo"});
  REQUIRE(wait.parsed);
  CHECK(wait.parsed->what == verb::wait);
  CHECK(wait.parsed->wait);

  auto list = parse({"list", "--json"});
  REQUIRE(list.parsed);
  CHECK(list.parsed->what == verb::list);
  CHECK(list.parsed->json);

  CHECK(parse({"cancel", "x", "--wait"}).parsed->what == verb::cancel);
  CHECK(parse({"get", "x"}).parsed->what == verb::get);
  CHECK(parse({"nodes"}).parsed->what == verb::nodes);
}

TEST_CASE("connection from the environment; flags win; no password flag") {
  auto from_env = parse({"list"}, {{"CLUSTER_ACTIONS_URL", "http://h:1"},
                                   {"CLUSTER_ACTIONS_USER", "u@x"},
                                   {"CLUSTER_ACTIONS_PASSWORD", "secret"},
                                   {"CLUSTER_ACTIONS_CACERT", "/ca.pem"}});
  REQUIRE(from_env.parsed);
  CHECK(from_env.parsed->server.url == "http://h:1");
  CHECK(from_env.parsed->server.user == "u@x");
  CHECK(from_env.parsed->server.password == "secret");
  CHECK(from_env.parsed->server.cacert == "/ca.pem");

  auto flags = parse({"--url", "https://other:2", "list", "--user", "f@x"},
                     {{"CLUSTER_ACTIONS_URL", "http://h:1"},
                      {"CLUSTER_ACTIONS_USER", "u@x"}});
  REQUIRE(flags.parsed);
  CHECK(flags.parsed->server.url == "https://other:2");
  CHECK(flags.parsed->server.user == "f@x");
  CHECK(flags.parsed->server.password.empty());

  auto defaults = parse({"list"});
  REQUIRE(defaults.parsed);
  CHECK(defaults.parsed->server.url == "https://127.0.0.1:9443");

  CHECK(parse({"list", "--password", "x"}).exit_code == exit_usage);
  CHECK(parse({"list"}, {}).exit_code == exit_usage); // no user
}

TEST_CASE("usage errors exit 2; help exits 0") {
  CHECK(parse({}).exit_code == exit_usage);
  CHECK(parse({"frobnicate"}).exit_code == exit_usage);
  CHECK(parse({"get"}).exit_code == exit_usage);
  CHECK(parse({"wait", "x", "--timeout", "0"}).exit_code == exit_usage);
  CHECK(parse({"start", "x", "novalue"}).exit_code == exit_usage);
  CHECK(parse({"start", "x", "--params", "[1]"}).exit_code == exit_usage);
  auto help = parse({"--help"});
  CHECK_FALSE(help.parsed);
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.message, Catch::Contains("start"));
}

TEST_CASE("KEY=VALUE values: JSON when they parse, else strings") {
  CHECK(json::parse(params_object("", {"n=42", "r=1.5", "b=true", "s=abc",
                                       "q=\"007\"", "e=", "eq=a=b"}))
        == json::parse(R"({"n": 42, "r": 1.5, "b": true, "s": "abc",
                           "q": "007", "e": "", "eq": "a=b"})"));
  CHECK(json::parse(params_object(R"({"keep": 3, "x": 1})", {"x=2"}))
        == json::parse(R"({"keep": 3, "x": 2})"));
  CHECK_THROWS_AS(params_object("{", {}), std::invalid_argument);
  CHECK_THROWS_AS(params_object("", {"=1"}), std::invalid_argument);
}

TEST_CASE("output: the table, the bar, the change lines, exit codes") {
  auto list = json::parse(R"({"actions": [
    {"name": "check_disk", "action_uid": "u1", "status": "failed",
     "progress": 0.0, "error_code": "command_failed", "error_message": "x"},
    {"name": "collect_debuginfo", "action_uid": "u2", "status": "running",
     "progress": 45.0}]})");
  CHECK(list_table(list)
        == "NAME               STATUS   PROGRESS  STARTED  TOOK  NODE  ERROR\n"
           "check_disk         failed   0.0%      -        -     -     "
           "command_failed\n"
           "collect_debuginfo  running  45.0%     -        -     -     -\n");
  auto running = list["actions"][1];
  CHECK(progress_bar(running, std::chrono::seconds(72), 10)
        == "collect_debuginfo [####......] 45.0%  running  01:12");
  CHECK(change_line(running, std::chrono::seconds(3))
        == "00:03 collect_debuginfo running 45.0%");
  CHECK(change_line(list["actions"][0], std::chrono::seconds(3))
        == "00:03 check_disk failed 0.0% command_failed: x");
  CHECK(action_details(running)
        == "action_uid: u2\nname: collect_debuginfo\nprogress: 45.0\n"
           "status: running\n");
  CHECK(exit_code_of("completed") == 0);
  CHECK(exit_code_of("failed") == 1);
  CHECK(exit_code_of("cancelled") == 3);
  CHECK(exit_code_of("aborted") == 3);
  CHECK(is_final("cancelled"));
  CHECK_FALSE(is_final("cancelling"));
}
