// The REST front against a real server on an ephemeral loopback port: every
// status code, the bodies, authentication and roles, and command runs seen
// through the API.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <fcntl.h>
#include <regex>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/server.hpp"
#include "http/guarded_server.hpp"
#include "http/password_hash.hpp"
#include "http/rest_api.hpp"
#include "messages/type_ids.hpp"
#include "running_server.hpp"
#include "response_log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

namespace app = cluster_actions::app;
namespace http = cluster_actions::http;
using cluster_actions::param_decl;
using cluster_actions::param_type;
using cluster_actions::testing::status_is;
using cluster_actions::testing::temp_dir;
using cluster_actions::testing::wait_for_status;

constexpr const char* password = "s3cret:with colon";
const std::string list_path = "/v1/cluster/actions";

const std::vector<std::string> role_names{
  "admin",     "cluster_member", "cluster_viewer", "db_member",
  "db_viewer", "user_manager",   "none",
};

std::string email_of(const std::string& role) {
  return role + "@example.com";
}

std::string action_path(const std::string& name) {
  return list_path + "/" + name;
}

/// An action type whose command is `/bin/sh -c script`.
app::command_action shell_action(std::string name, std::string script,
                                 cluster_actions::param_schema params = {}) {
  app::command_action action;
  action.name = std::move(name);
  action.command = {"/bin/sh", "-c", std::move(script)};
  action.params = std::move(params);
  action.timeout = 30s;
  action.cancel_grace = 1s;
  return action;
}

std::string quoted(const std::string& path) {
  return "'" + path + "'";
}

/// Waits in the script until the test opens the gate at `path`.
std::string wait_at_gate(const std::string& path) {
  return ": < " + quoted(path);
}

/// A point a command's script waits at (wait_at_gate) until the test opens
/// it: a FIFO, which the script opens for reading, and so blocks on until
/// the test opens it for writing. Made before the script runs.
class gate {
public:
  explicit gate(std::string path) : path_(std::move(path)) {
    REQUIRE(::mkfifo(path_.c_str(), 0600) == 0);
  }

  /// Lets a script that waits at the gate go on. A non-blocking open for
  /// writing fails (ENXIO) until the script has opened its end, which it
  /// may not have done yet.
  void open() const {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    int fd;
    while ((fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK)) < 0) {
      REQUIRE(errno == ENXIO);
      if (std::chrono::steady_clock::now() > deadline)
        FAIL("no script waits at " << path_);
      std::this_thread::sleep_for(5ms); // poll interval
    }
    ::close(fd); // the script reads end of file and goes on
  }

private:
  std::string path_;
};

/// A configuration with a user of every role and the action types the
/// tests use; `dir` holds the files the commands and the tests share.
app::server_config test_config(const temp_dir& dir) {
  app::server_config config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.tls.mode = app::tls_mode::off; // plain HTTP: loopback only
  config.data_dir = dir.file("data");
  config.max_running_actions = 4;
  for (const auto& role : role_names)
    config.users.push_back(
      {email_of(role), password, *http::parse_role(role)});
  auto& actions = config.actions;
  actions.push_back(shell_action("quick", "exit 0"));
  actions.push_back(shell_action("block", "exec sleep 30"));
  actions.push_back(shell_action("block2", "exec sleep 30"));
  actions.push_back(shell_action(
    "params",
    "printf '%s|%s|%s|%s' \"$ACTION_PARAM_TARGET\" \"$ACTION_PARAM_COUNT\" "
    "\"$ACTION_PARAM_RATIO\" \"$ACTION_PARAM_FORCE\" > "
      + quoted(dir.file("params.out")),
    {{"target", param_decl{param_type::string, true}},
     {"count", param_decl{param_type::integer, false}},
     {"ratio", param_decl{param_type::number, false}},
     {"force", param_decl{param_type::boolean, false}}}));
  actions.push_back(shell_action("progress",
                                 "echo 'progress: 25'; "
                                   + wait_at_gate(dir.file("gate1"))
                                   + "; echo 'progress: 60'; "
                                   + wait_at_gate(dir.file("gate2"))));
  actions.push_back(shell_action(
    "failing", "echo 'all fine so far'; echo 'first problem' >&2; "
               "echo 'disk \"full\"' >&2; exit 3"));
  actions.push_back(shell_action("stubborn",
                                 "trap '' TERM; echo $$ > "
                                   + quoted(dir.file("stubborn.pid"))
                                   + "; while :; do sleep 0.05; done"));
  auto slow = shell_action("slow", "exec sleep 30");
  slow.timeout = 1s;
  actions.push_back(std::move(slow));
  return config;
}

httplib::Client make_client(int port) {
  httplib::Client client{"127.0.0.1", port};
  client.set_connection_timeout(5s);
  client.set_read_timeout(10s);
  cluster_actions::testing::record_responses(client);
  return client;
}

httplib::Client make_client(int port, const std::string& role) {
  auto client = make_client(port);
  client.set_basic_auth(email_of(role).c_str(), password);
  return client;
}

/// A running server with clients for the users of test_config.
class test_server : public cluster_actions::testing::running_server {
public:
  using running_server::running_server;

  /// A client with the credentials of the user of `role`.
  httplib::Client client(const std::string& role = "admin") const {
    return make_client(port(), role);
  }
  /// A client without credentials.
  httplib::Client anonymous() const {
    return make_client(port());
  }
};

json parse_body(const httplib::Result& res) {
  REQUIRE(res);
  INFO(res->body);
  return json::parse(res->body);
}

/// Checks an error response: status, JSON content type, the two fields.
json require_error(const httplib::Result& res, int status,
                   const std::string& error_code) {
  REQUIRE(res);
  INFO(res->status << " " << res->body);
  CHECK(res->status == status);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  auto body = json::parse(res->body);
  CHECK(body.size() == 2);
  CHECK(body.at("error_code") == error_code);
  CHECK(body.at("description").is_string());
  CHECK_FALSE(body.at("description").get<std::string>().empty());
  return body;
}

/// Checks a 200 action object and returns it.
json require_action(const httplib::Result& res, const std::string& name) {
  REQUIRE(res);
  INFO(res->status << " " << res->body);
  REQUIRE(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  auto body = json::parse(res->body);
  CHECK(body.at("name") == name);
  CHECK_FALSE(body.at("action_uid").get<std::string>().empty());
  CHECK(body.at("status").is_string());
  CHECK(body.at("progress").is_number_float());
  auto failed = body["status"] == "failed" || body["status"] == "aborted";
  CHECK(body.contains("error_code") == failed);
  CHECK(body.contains("error_message") == failed);
  return body;
}

/// Waits until a command has created `path`.
void wait_for_path(const std::string& path, std::chrono::milliseconds within
                                            = 10s) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (!std::filesystem::exists(path)) {
    if (std::chrono::steady_clock::now() > deadline)
      FAIL("no " << path << " in time");
    std::this_thread::sleep_for(5ms); // poll interval
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

httplib::Result post_json(httplib::Client& client, const std::string& name,
                          const std::string& body) {
  return client.Post(action_path(name).c_str(), body, "application/json");
}

} // namespace

TEST_CASE("lists, gets, starts and removes runs") {
  temp_dir dir;
  test_server server{test_config(dir)};
  auto admin = server.client();

  SECTION("an empty list") {
    auto res = admin.Get(list_path.c_str());
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("Content-Type") == "application/json");
    CHECK(res->body == R"({"actions":[]})");
  }

  SECTION("GET of an unknown type or of a type without a run is 404") {
    require_error(admin.Get(action_path("nope").c_str()), 404,
                  "unknown_action");
    require_error(admin.Get(action_path("quick").c_str()), 404, "not_found");
  }

  SECTION("POST of an unknown type is 400") {
    require_error(admin.Post(action_path("nope").c_str()), 400,
                  "unknown_action");
  }

  SECTION("a body that is not a JSON object is 400") {
    for (auto body : {"[1]", "\"text\"", "42", "null"})
      require_error(post_json(admin, "params", body), 400, "invalid_body");
    auto error = require_error(post_json(admin, "params", "{\"target\": "),
                               400, "invalid_body");
    CHECK_THAT(error["description"].get<std::string>(),
               Catch::Contains("line 1, column"));
  }

  SECTION("parameters that do not fit the declaration are 400") {
    for (auto body : {R"({"target": "a", "colour": "red"})", // undeclared
                      R"({"count": 3})",                     // missing
                      R"({"target": 5})",                    // wrong type
                      R"({"target": "a", "count": 1.5})",
                      R"({"target": "a", "force": "yes"})"}) {
      INFO(body);
      require_error(post_json(admin, "params", body), 400, "invalid_params");
    }
    // Nothing was started.
    require_error(admin.Get(action_path("params").c_str()), 404, "not_found");
  }

  SECTION("POST answers the queued run; a live run is a conflict") {
    auto run = require_action(admin.Post(action_path("block").c_str()),
                              "block");
    CHECK(run["status"] == "queued");
    CHECK(run["progress"].get<double>() == 0.0);
    require_error(admin.Post(action_path("block").c_str()), 409, "conflict");
    wait_for_status(admin, "block", status_is("running"));
    require_error(admin.Post(action_path("block").c_str()), 409, "conflict");
    auto res = admin.Get(list_path.c_str());
    auto list = parse_body(res);
    REQUIRE(list["actions"].size() == 1);
    CHECK(list["actions"][0]["action_uid"] == run["action_uid"]);
  }

  SECTION("each list shows the latest statuses, also when only a state "
          "changed") {
    auto listed = [&admin] {
      auto actions = parse_body(admin.Get(list_path.c_str()))["actions"];
      REQUIRE(actions.size() == 1);
      return actions[0];
    };
    auto run = require_action(admin.Post(action_path("block").c_str()),
                              "block");
    wait_for_status(admin, "block", status_is("running"));
    CHECK(listed()["status"] == "running");
    require_action(admin.Delete(action_path("block").c_str()), "block");
    wait_for_status(admin, "block", status_is("cancelled"));
    auto cancelled = listed();
    CHECK(cancelled["status"] == "cancelled");
    CHECK(cancelled["action_uid"] == run["action_uid"]);
    auto next = require_action(admin.Post(action_path("block").c_str()),
                               "block");
    CHECK(listed()["action_uid"] == next["action_uid"]);
  }

  SECTION("a finished run is replaced by the next one") {
    auto first = require_action(admin.Post(action_path("quick").c_str()),
                                "quick");
    wait_for_status(admin, "quick", status_is("completed"));
    auto second = require_action(admin.Post(action_path("quick").c_str()),
                                 "quick");
    CHECK(second["status"] == "queued");
    CHECK(second["action_uid"] != first["action_uid"]);
    auto shown = wait_for_status(admin, "quick", status_is("completed"));
    CHECK(shown["action_uid"] == second["action_uid"]);
    auto list = parse_body(admin.Get(list_path.c_str()));
    CHECK(list["actions"].size() == 1);
  }

  SECTION("DELETE of a finished run removes it; of nothing it is 404") {
    require_action(admin.Post(action_path("quick").c_str()), "quick");
    auto done = wait_for_status(admin, "quick", status_is("completed"));
    auto removed = require_action(admin.Delete(action_path("quick").c_str()),
                                  "quick");
    CHECK(removed["action_uid"] == done["action_uid"]);
    require_error(admin.Get(action_path("quick").c_str()), 404, "not_found");
    require_error(admin.Delete(action_path("quick").c_str()), 404,
                  "not_found");
    require_error(admin.Delete(action_path("nope").c_str()), 404,
                  "unknown_action");
    CHECK(admin.Get(list_path.c_str())->body == R"({"actions":[]})");
  }
}

TEST_CASE("paths and methods outside the API") {
  temp_dir dir;
  test_server server{test_config(dir)};
  auto admin = server.client();

  SECTION("an unknown path is 404") {
    for (auto path : {"/", "/v1/cluster", "/v1/cluster/actions/",
                      "/v1/cluster/actions/quick/more", "/v2/cluster/actions"}) {
      INFO(path);
      require_error(admin.Get(path), 404, "not_found");
    }
  }

  SECTION("a method a path does not serve is 405 with Allow") {
    auto check = [](const httplib::Result& res, const std::string& allow) {
      require_error(res, 405, "method_not_allowed");
      CHECK(res->get_header_value("Allow") == allow);
    };
    for (const auto& path : {list_path, action_path("quick")}) {
      auto allow = path == list_path ? "GET" : "GET, POST, DELETE";
      INFO(path);
      check(admin.Put(path.c_str(), "{}", "application/json"), allow);
      check(admin.Patch(path.c_str(), "{}", "application/json"), allow);
      check(admin.Options(path.c_str()), allow);
    }
    check(admin.Post(list_path.c_str()), "GET");
    check(admin.Delete(list_path.c_str()), "GET");
  }

  SECTION("a body above the limit is 413") {
    std::string body = R"({"target": ")" + std::string(70 * 1024, 'x') + "\"}";
    require_error(post_json(admin, "params", body), 413, "payload_too_large");
  }
}

TEST_CASE("authentication and the role table") {
  temp_dir dir;
  test_server server{test_config(dir)};

  // "nope" is no action type: an allowed request reaches the supervisor,
  // which refuses it, and no run is started.
  struct endpoint {
    std::string label;
    std::function<httplib::Result(httplib::Client&)> call;
    int allowed_status;
    bool admin_only;
  };
  const std::vector<endpoint> endpoints{
    {"GET list", [](auto& c) { return c.Get(list_path.c_str()); }, 200, false},
    {"GET one", [](auto& c) { return c.Get(action_path("nope").c_str()); },
     404, false},
    {"POST", [](auto& c) { return c.Post(action_path("nope").c_str()); }, 400,
     true},
    {"DELETE", [](auto& c) { return c.Delete(action_path("nope").c_str()); },
     404, true},
  };

  SECTION("each role gets exactly its permissions") {
    for (const auto& role : role_names) {
      auto client = server.client(role);
      for (const auto& ep : endpoints) {
        INFO(role << " " << ep.label);
        auto permitted = role == "admin" || (role != "none" && !ep.admin_only);
        auto res = ep.call(client);
        REQUIRE(res);
        if (permitted)
          CHECK(res->status == ep.allowed_status);
        else
          require_error(res, 403, "forbidden");
      }
    }
  }

  SECTION("missing, wrong or malformed credentials are 401") {
    // Each client from an address of its own, so that its four failures
    // stay under the login throttle's limit.
    int next_address = 10;
    auto from_own_address = [&] {
      auto client = server.anonymous();
      client.set_interface("127.0.0." + std::to_string(next_address++));
      return client;
    };
    auto with_user = [&](const std::string& email, const std::string& pw) {
      auto client = from_own_address();
      client.set_basic_auth(email.c_str(), pw.c_str());
      return client;
    };
    auto with_header = [&](const std::string& header) {
      auto client = from_own_address();
      client.set_default_headers({{"Authorization", header}});
      return client;
    };
    std::vector<std::pair<std::string, httplib::Client>> clients;
    clients.emplace_back("no credentials", server.anonymous());
    clients.emplace_back("wrong password", with_user(email_of("admin"), "x"));
    clients.emplace_back("password prefix",
                         with_user(email_of("admin"), "s3cret"));
    clients.emplace_back("unknown user",
                         with_user("ghost@example.com", password));
    clients.emplace_back("not base64", with_header("Basic !!not-base64!!"));
    // base64 of "admin@example.com": no colon, no password.
    clients.emplace_back("no colon",
                         with_header("Basic YWRtaW5AZXhhbXBsZS5jb20="));
    clients.emplace_back("other scheme", with_header("Bearer abc"));
    clients.emplace_back("scheme only", with_header("Basic"));
    for (auto& [label, client] : clients) {
      for (const auto& ep : endpoints) {
        INFO(label << " " << ep.label);
        auto res = ep.call(client);
        require_error(res, 401, "unauthorized");
        CHECK(res->get_header_value("WWW-Authenticate")
              == "Basic realm=\"cluster-actions\"");
        CHECK(res->body.find("s3cret") == std::string::npos);
      }
    }
  }

  SECTION("the scheme is case-insensitive; a password may hold colons") {
    auto client = server.anonymous();
    // base64 of "admin@example.com:s3cret:with colon".
    client.set_default_headers(
      {{"Authorization",
        "basic  YWRtaW5AZXhhbXBsZS5jb206czNjcmV0OndpdGggY29sb24="}});
    auto res = client.Get(list_path.c_str());
    REQUIRE(res);
    CHECK(res->status == 200);
  }
}

TEST_CASE("command runs seen through the API") {
  temp_dir dir;
  auto config = test_config(dir);

  SECTION("parameters reach the command as its environment") {
    test_server server{config};
    auto admin = server.client();
    auto body = R"({"target": "it's $HOME; \"x\"", "count": -12,
                    "ratio": 0.25, "force": true})";
    require_action(post_json(admin, "params", body), "params");
    wait_for_status(admin, "params", status_is("completed"));
    CHECK(read_file(dir.file("params.out")) == "it's $HOME; \"x\"|-12|0.25|true");
  }

  SECTION("progress rises and is 100.0 on completion") {
    test_server server{config};
    auto admin = server.client();
    const gate first{dir.file("gate1")};
    const gate second{dir.file("gate2")};
    require_action(admin.Post(action_path("progress").c_str()), "progress");
    auto at = [](double percent) {
      return [percent](const json& action) {
        return action["progress"].get<double>() == percent;
      };
    };
    CHECK(wait_for_status(admin, "progress", at(25.0))["status"] == "running");
    first.open();
    CHECK(wait_for_status(admin, "progress", at(60.0))["status"] == "running");
    second.open();
    wait_for_status(admin, "progress", status_is("completed"));
    auto res = admin.Get(action_path("progress").c_str());
    auto done = require_action(res, "progress");
    CHECK(done["progress"].get<double>() == 100.0);
    // A float on the wire, not the integer 100.
    CHECK_THAT(res->body, Catch::Contains("\"progress\":100.0"));
  }

  SECTION("a failing command reports its exit status and stderr") {
    test_server server{config};
    auto admin = server.client();
    require_action(admin.Post(action_path("failing").c_str()), "failing");
    auto failed = wait_for_status(admin, "failing", status_is("failed"));
    CHECK(failed["error_code"] == "command_failed");
    auto message = failed["error_message"].get<std::string>();
    CHECK_THAT(message, Catch::Contains("status 3"));
    CHECK_THAT(message, Catch::Contains("disk \"full\""));
    CHECK(failed["progress"].is_number_float());
  }

  SECTION("a run says when it was accepted, started and ended, and by "
          "whom") {
    test_server server{config};
    auto admin = server.client();
    auto accepted = require_action(admin.Post(action_path("quick").c_str()),
                                   "quick");
    CHECK(accepted["started_by"] == email_of("admin"));
    CHECK_FALSE(accepted.contains("start_time"));
    CHECK_FALSE(accepted.contains("end_time"));
    CHECK_FALSE(accepted.contains("result"));
    auto done = wait_for_status(admin, "quick", status_is("completed"));
    const std::regex iso_utc_millis{
      R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"};
    for (auto field : {"creation_time", "start_time", "end_time"}) {
      INFO(field << ": " << done.dump());
      REQUIRE(done[field].is_string());
      CHECK(std::regex_match(done[field].get<std::string>(), iso_utc_millis));
    }
    CHECK(done["creation_time"] == accepted["creation_time"]);
    // The same format throughout: the text orders as the times do.
    CHECK(done["creation_time"] <= done["start_time"]);
    CHECK(done["start_time"] <= done["end_time"]);
    CHECK(done["started_by"] == email_of("admin"));
  }

  SECTION("cancelling a running run") {
    test_server server{config};
    auto admin = server.client();
    require_action(admin.Post(action_path("block").c_str()), "block");
    wait_for_status(admin, "block", status_is("running"));
    auto cancelling = require_action(admin.Delete(action_path("block").c_str()),
                                     "block");
    CHECK(cancelling["status"] == "cancelling");
    wait_for_status(admin, "block", status_is("cancelled"));
    require_action(admin.Delete(action_path("block").c_str()), "block");
    require_error(admin.Get(action_path("block").c_str()), 404, "not_found");
  }

  SECTION("cancelling a queued run ends it at once") {
    config.max_running_actions = 1;
    test_server server{config};
    auto admin = server.client();
    require_action(admin.Post(action_path("block").c_str()), "block");
    wait_for_status(admin, "block", status_is("running"));
    auto queued = require_action(admin.Post(action_path("block2").c_str()),
                                 "block2");
    CHECK(queued["status"] == "queued");
    CHECK(parse_body(admin.Get(action_path("block2").c_str()))["status"]
          == "queued");
    auto cancelled = require_action(
      admin.Delete(action_path("block2").c_str()), "block2");
    CHECK(cancelled["status"] == "cancelled");
    CHECK(cancelled["action_uid"] == queued["action_uid"]);
  }

  SECTION("a command that ignores SIGTERM is killed after the grace") {
    test_server server{config};
    auto admin = server.client();
    require_action(admin.Post(action_path("stubborn").c_str()), "stubborn");
    wait_for_status(admin, "stubborn", status_is("running"));
    wait_for_path(dir.file("stubborn.pid"));
    auto group = std::stoi(read_file(dir.file("stubborn.pid")));
    auto asked = std::chrono::steady_clock::now();
    auto cancelling = require_action(
      admin.Delete(action_path("stubborn").c_str()), "stubborn");
    CHECK(cancelling["status"] == "cancelling");
    // Still cancelling while it ignores SIGTERM; DELETE is accepted again.
    CHECK(require_action(admin.Delete(action_path("stubborn").c_str()),
                         "stubborn")["status"]
          == "cancelling");
    wait_for_status(admin, "stubborn", status_is("cancelled"));
    CHECK(std::chrono::steady_clock::now() - asked >= 900ms);
    // Nothing of its process group is left.
    CHECK(kill(-group, 0) == -1);
    CHECK(errno == ESRCH);
  }

  SECTION("a run past its timeout fails with a timeout") {
    test_server server{config};
    auto admin = server.client();
    require_action(admin.Post(action_path("slow").c_str()), "slow");
    auto failed = wait_for_status(admin, "slow", status_is("failed"));
    CHECK(failed["error_code"] == "timeout");
    CHECK_FALSE(failed["error_message"].get<std::string>().empty());
  }

  SECTION("of 40 concurrent starts of one type exactly one wins") {
    test_server server{config};
    constexpr int callers = 40;
    std::vector<int> statuses(callers, 0);
    std::mutex mutex;
    std::condition_variable go;
    bool started = false;
    std::vector<std::thread> threads;
    for (int i = 0; i < callers; ++i)
      threads.emplace_back([&, i] {
        auto client = server.client();
        {
          std::unique_lock<std::mutex> guard{mutex};
          go.wait(guard, [&] { return started; });
        }
        if (auto res = client.Post(action_path("block").c_str()))
          statuses[i] = res->status;
      });
    {
      std::lock_guard<std::mutex> guard{mutex};
      started = true;
    }
    go.notify_all();
    for (auto& thread : threads)
      thread.join();
    CHECK(std::count(statuses.begin(), statuses.end(), 200) == 1);
    CHECK(std::count(statuses.begin(), statuses.end(), 409) == callers - 1);
  }
}

namespace {

/// A supervisor that never answers a list and is shutting down: what the
/// REST front does when the actors cannot serve. It calls `on_list` for
/// each list request it holds, and answers the held ones with an error on
/// shutdown.
struct silent_state {
  std::vector<caf::typed_response_promise<
    std::vector<cluster_actions::action_status>>>
    pending;
  std::function<void()> on_list;
};

cluster_actions::supervisor_actor::behavior_type
silent_supervisor(cluster_actions::supervisor_actor::stateful_pointer<
                  silent_state>
                    self,
                  std::function<void()> on_list) {
  using namespace cluster_actions;
  self->state.on_list = std::move(on_list);
  auto stopping = [] { return caf::make_error(action_error::shutting_down); };
  return {
    [self](list_atom) {
      self->state.pending.push_back(
        self->make_response_promise<std::vector<action_status>>());
      self->state.on_list();
      return self->state.pending.back();
    },
    [](get_atom, const std::string&) -> caf::result<action_status> {
      return caf::make_error(action_error::not_found);
    },
    [stopping](start_atom, const std::string&, const action_params&,
               const std::string&) -> caf::result<action_status> {
      return stopping();
    },
    [](cancel_atom, const std::string&) -> caf::result<action_status> {
      return caf::make_error(action_error::storage_unavailable,
                             std::string{"the disk is full"});
    },
    [](status_atom, const action_status&) {},
    [](subscribe_atom, const status_watcher_actor&) {},
    [self, stopping](shutdown_atom, caf::timespan) {
      for (auto& held : self->state.pending)
        held.deliver(stopping());
      self->state.pending.clear();
      return std::size_t{0};
    },
  };
}

} // namespace

TEST_CASE("a supervisor that cannot serve, or cannot store, gives 503 with "
          "Retry-After") {
  caf::actor_system_config cfg;
  cluster_actions::add_message_types(cfg);
  caf::actor_system system{cfg};
  auto supervisor = system.spawn(silent_supervisor, std::function<void()>{[] {}});
  http::rest_settings settings;
  settings.reply_timeout = 200ms;
  settings.threads = 2;
  {
    httplib::Server server;
    http::configure_server(server, settings);
    http::mount_routes(server, system, supervisor,
                       {{email_of("admin"), password, http::role::admin}},
                       settings);
    auto port = server.bind_to_any_port("127.0.0.1");
    std::thread serving{[&] { server.listen_after_bind(); }};
    {
      auto admin = make_client(port, "admin");
      auto timed_out = admin.Get(list_path.c_str());
      require_error(timed_out, 503, "service_unavailable");
      CHECK(timed_out->get_header_value("Retry-After") == "1");
      auto stopping = admin.Post(action_path("quick").c_str());
      require_error(stopping, 503, "shutting_down");
      CHECK(stopping->get_header_value("Retry-After") == "1");
      auto unstored = admin.Delete(action_path("quick").c_str());
      auto body = require_error(unstored, 503, "storage_unavailable");
      CHECK(body["description"] == "the disk is full");
      CHECK(unstored->get_header_value("Retry-After") == "1");
    }
    server.stop();
    serving.join();
  }
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
}

TEST_CASE("on a host's server without configure_server, a name that is no "
          "action name gets the API's answer") {
  caf::actor_system_config cfg;
  cluster_actions::add_message_types(cfg);
  caf::actor_system system{cfg};
  // Never asked: the handlers answer from the path alone.
  auto supervisor = system.spawn(silent_supervisor, std::function<void()>{[] {}});
  {
    httplib::Server server;
    http::mount_routes(server, system, supervisor,
                       {{email_of("admin"), password, http::role::admin}}, {});
    auto port = server.bind_to_any_port("127.0.0.1");
    std::thread serving{[&] { server.listen_after_bind(); }};
    {
      auto admin = make_client(port, "admin");
      for (auto name : {"a.b", "%C3%A9", "x%20y"}) {
        INFO(name);
        require_error(admin.Post(action_path(name).c_str()), 400,
                      "invalid_action_name");
        require_error(admin.Get(action_path(name).c_str()), 404, "not_found");
        require_error(admin.Delete(action_path(name).c_str()), 404,
                      "not_found");
      }
    }
    server.stop();
    serving.join();
  }
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
}

namespace {

/// A client that connects from `address` (any of 127.0.0.0/8 is loopback
/// on Linux), with the given credentials.
httplib::Client client_from(int port, const std::string& address,
                            const std::string& email,
                            const std::string& pw) {
  auto client = make_client(port);
  client.set_interface(address.c_str());
  client.set_basic_auth(email.c_str(), pw.c_str());
  return client;
}

/// Checks that nothing of the credentials is in a response.
void check_no_secrets(const httplib::Result& res,
                      const std::vector<std::string>& secrets) {
  REQUIRE(res);
  for (const auto& secret : secrets) {
    INFO(secret);
    CHECK(res->body.find(secret) == std::string::npos);
    for (const auto& [name, value] : res->headers)
      CHECK(value.find(secret) == std::string::npos);
  }
}

} // namespace

TEST_CASE("ten failed logins from one address close it for the minute") {
  temp_dir dir;
  test_server server{test_config(dir)};
  const auto admin = email_of("admin");
  const std::string guess = "guess-123";
  // What a client sends for admin:guess-123.
  const std::string header_value = "YWRtaW5AZXhhbXBsZS5jb206Z3Vlc3MtMTIz";
  auto attacker = client_from(server.port(), "127.0.0.2", admin, guess);

  // Requests without credentials are no login attempts.
  auto curious = make_client(server.port());
  curious.set_interface("127.0.0.2");
  for (int i = 0; i < 12; ++i)
    require_error(curious.Get(list_path.c_str()), 401, "unauthorized");

  for (int i = 0; i < 10; ++i) {
    INFO("attempt " << i + 1);
    auto res = attacker.Get(list_path.c_str());
    require_error(res, 401, "unauthorized");
    check_no_secrets(res, {guess, header_value});
  }
  // Every endpoint now answers 429, before any password check: the right
  // password does not help either.
  auto right = client_from(server.port(), "127.0.0.2", admin, password);
  const std::vector<std::function<httplib::Result(httplib::Client&)>> calls{
    [](auto& c) { return c.Get(list_path.c_str()); },
    [](auto& c) { return c.Get(action_path("quick").c_str()); },
    [](auto& c) { return c.Post(action_path("quick").c_str()); },
    [](auto& c) { return c.Delete(action_path("quick").c_str()); },
  };
  for (auto* client : {&attacker, &right, &curious}) {
    for (const auto& call : calls) {
      auto res = call(*client);
      auto body = require_error(res, 429, "too_many_requests");
      auto wait = std::stoi(res->get_header_value("Retry-After"));
      CHECK(wait >= 1);
      CHECK(wait <= 60);
      CHECK_THAT(body["description"].get<std::string>(),
                 Catch::Contains(std::to_string(wait) + " s"));
      check_no_secrets(res, {guess, header_value, password});
    }
  }
  // Nothing was started by the refused POSTs.
  auto other = client_from(server.port(), "127.0.0.1", admin, password);
  require_error(other.Get(action_path("quick").c_str()), 404, "not_found");

  // Other addresses are unaffected, failing or not.
  auto res = other.Get(list_path.c_str());
  REQUIRE(res);
  CHECK(res->status == 200);
  auto neighbour = client_from(server.port(), "127.0.0.3", admin, "wrong");
  require_error(neighbour.Get(list_path.c_str()), 401, "unauthorized");
  CHECK(client_from(server.port(), "127.0.0.3", admin, password)
          .Get(list_path.c_str())
          ->status
        == 200);
}

TEST_CASE("users with a password hash log in with the password") {
  temp_dir dir;
  auto config = test_config(dir);
  const std::string secret = "hashed pass:word";
  const auto hash = http::password_hash::make(secret, 20'000).to_string();
  config.users.push_back({"hashed@example.com", "", http::role::admin, hash});
  config.users.push_back(
    {"viewer2@example.com", "", http::role::db_viewer, hash});
  test_server server{config};

  auto hashed = server.anonymous();
  hashed.set_basic_auth("hashed@example.com", secret.c_str());
  auto res = hashed.Get(list_path.c_str());
  REQUIRE(res);
  CHECK(res->status == 200);
  // Again, from the cache.
  CHECK(hashed.Get(list_path.c_str())->status == 200);
  require_action(hashed.Post(action_path("quick").c_str()), "quick");

  auto viewer = server.anonymous();
  viewer.set_basic_auth("viewer2@example.com", secret.c_str());
  CHECK(viewer.Get(list_path.c_str())->status == 200);
  auto forbidden = viewer.Delete(action_path("quick").c_str());
  require_error(forbidden, 403, "forbidden");
  check_no_secrets(forbidden, {secret, hash});

  for (const auto& wrong : {std::string{"hashed pass:wor"}, secret + "x",
                            hash, std::string{}}) {
    INFO(wrong);
    auto client = server.anonymous();
    client.set_basic_auth("hashed@example.com", wrong.c_str());
    auto refused = client.Get(list_path.c_str());
    require_error(refused, 401, "unauthorized");
    check_no_secrets(refused, {secret, hash});
  }
}

TEST_CASE("requests past the bound of pending replies are refused at once") {
  caf::actor_system_config cfg;
  cluster_actions::add_message_types(cfg);
  caf::actor_system system{cfg};
  // Held lists are counted, so that the test knows when one is waiting.
  std::mutex mutex;
  std::condition_variable changed;
  int held = 0;
  auto supervisor = system.spawn(silent_supervisor, std::function<void()>{[&] {
                                   std::lock_guard<std::mutex> guard{mutex};
                                   ++held;
                                   changed.notify_all();
                                 }});
  http::rest_settings settings;
  // Far beyond the test: the first request is released by the shutdown
  // below, never by its timeout.
  settings.reply_timeout = 60s;
  settings.max_pending_requests = 1;
  settings.threads = 4;
  {
    http::rest_server server{settings};
    http::mount_routes(server, system, supervisor,
                       {{email_of("admin"), password, http::role::admin}},
                       settings);
    auto port = http::bind_server(server, "127.0.0.1", 0);
    REQUIRE(port > 0);
    std::thread serving{[&] { server.listen_after_bind(); }};
    // Sends a list request from another thread, waits until the supervisor
    // holds it, runs `meanwhile`, releases it with a shutdown and returns
    // its answer. (Catch's assertions are for the test's own thread.)
    auto while_held = [&](const std::function<void()>& meanwhile) {
      std::optional<httplib::Result> result;
      int held_before = 0;
      {
        std::lock_guard<std::mutex> guard{mutex};
        held_before = held;
      }
      std::thread asking{[&] {
        auto admin = make_client(port, "admin");
        result.emplace(admin.Get(list_path.c_str()));
      }};
      bool arrived = false;
      {
        std::unique_lock<std::mutex> guard{mutex};
        arrived = changed.wait_for(
          guard, 30s, [&] { return held == held_before + 1; });
      }
      if (arrived)
        meanwhile();
      caf::anon_send(supervisor, cluster_actions::shutdown_atom::value,
                     caf::timespan{0});
      asking.join();
      REQUIRE(arrived);
      REQUIRE(result);
      require_error(*result, 503, "shutting_down");
    };
    // The bound is taken by the held request: the next one is refused
    // while that one still waits (it is released only afterwards).
    while_held([&] {
      auto admin = make_client(port, "admin");
      auto refused = admin.Get(list_path.c_str());
      require_error(refused, 503, "overloaded");
      CHECK(refused->get_header_value("Retry-After") == "1");
    });
    // The slot is free again: a request reaches the supervisor.
    while_held([] {});
    server.stop();
    serving.join();
  }
  {
    std::lock_guard<std::mutex> guard{mutex};
    CHECK(held == 2);
  }
  caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
}
