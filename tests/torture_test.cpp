// Crash torture: clients drive POST, GET and DELETE on eight action types
// (some commands quick, some long) while the real server binary is killed
// with SIGKILL at random moments and restarted, 20 times (more with
// CLUSTER_ACTIONS_TORTURE_ROUNDS). After every kill and restart:
//
// - each action_uid acknowledged by a 200 POST is shown, unless a later
//   acknowledged POST of its type replaced it or an acknowledged DELETE
//   removed it (a request cut off by the kill may have done either);
// - no action_uid is shown twice, and none is ever reused;
// - every status is a legal state, reachable from the last state a client
//   was shown for that run (a client that saw `completed` sees nothing
//   else for it);
// - `PRAGMA integrity_check` of the store is `ok`;
// - no command process of the killed server is alive.
//
// Each type has one client thread of its own, so that what was
// acknowledged, and in which order, is known per type.
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/state_machine.hpp"
#include "server_process.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using cluster_actions::action_state;
using cluster_actions::parse_action_state;
using namespace cluster_actions::testing;

namespace {

constexpr const char* email = "admin@example.com";
constexpr const char* password = "pw";
const std::string list_path = "/v1/cluster/actions";

std::size_t rounds() {
  const char* text = std::getenv("CLUSTER_ACTIONS_TORTURE_ROUNDS");
  return text != nullptr ? std::stoul(text) : 20;
}

/// Eight types: three quick commands, three that take a moment, two that
/// run until cancelled. Each writes its pid under pids/, named by its uid.
json torture_config(const temp_dir& dir) {
  auto action = [](const std::string& body) {
    return json{{"command",
                 {"/bin/sh", "-c",
                  "echo $$ > pids/$CLUSTER_ACTION_UID; echo 'progress: 10'; "
                    + body}},
                {"timeout_s", 600},
                {"cancel_grace_s", 1}};
  };
  json actions = json::object();
  for (int i = 0; i < 3; ++i)
    actions["quick_" + std::to_string(i)]
      = action("echo \"result: done $CLUSTER_ACTION_UID\"");
  for (int i = 0; i < 3; ++i)
    actions["medium_" + std::to_string(i)]
      = action("sleep 0.2; echo 'progress: 60'; sleep 0.2");
  for (int i = 0; i < 2; ++i)
    actions["long_" + std::to_string(i)] = action("exec sleep 30");
  return {{"listen", "127.0.0.1:0"},
          {"data_dir", dir.file("data")},
          {"tls", false},
          {"max_running_actions", 3},
          {"users", {{{"email", email}, {"password", password},
                      {"role", "admin"}}}},
          {"actions", actions}};
}

/// Every state reachable from `from` by the documented transitions,
/// `from` included.
std::set<action_state> reachable(action_state from) {
  std::set<action_state> seen{from};
  std::vector<action_state> todo{from};
  while (!todo.empty()) {
    auto state = todo.back();
    todo.pop_back();
    for (int i = 0; i < 8; ++i) {
      auto next = static_cast<action_state>(i);
      if (cluster_actions::can_transition(state, next)
          && seen.insert(next).second)
        todo.push_back(next);
    }
  }
  return seen;
}

/// What one type's client knows: what the server acknowledged, what it
/// showed, and the request the kill cut off.
struct type_model {
  /// The run the server must show, by the acknowledged requests; nothing
  /// when it must show none.
  std::optional<std::string> expected_uid;
  /// A request sent but not answered when the server died.
  enum class uncertain { none, post, remove } cut_off = uncertain::none;
  /// The last state shown for each run of the type.
  std::map<std::string, action_state> shown;
  /// Starts and removals acknowledged so far (so that the test is seen to
  /// exercise something).
  std::size_t acknowledged = 0;
  /// What went wrong in the client thread (checked on the test's thread).
  std::vector<std::string> problems;
  /// The last requests and their answers, to explain a failed check.
  std::deque<std::string> history;
};

/// One client thread: drives its type until the server is gone.
class type_client {
public:
  type_client(int port, std::string name, type_model& model,
              std::uint64_t seed)
    : http_("127.0.0.1", port), name_(std::move(name)),
      path_(list_path + "/" + name_), model_(model), random_(seed) {
    http_.set_basic_auth(email, password);
    http_.set_connection_timeout(2s);
    http_.set_read_timeout(10s);
    http_.set_keep_alive(true);
  }

  void run() {
    std::uniform_int_distribution<int> percent(0, 99);
    std::uniform_int_distribution<int> pause_ms(0, 20);
    for (;;) {
      auto current = get();
      if (!current)
        return;
      const bool live = current->is_object()
                        && cluster_actions::is_live(state_of(*current));
      auto roll = percent(random_);
      bool served = true;
      if (!live && roll < 60)
        served = post();
      else if (roll < (live ? 25 : 80))
        served = remove(live);
      if (!served)
        return;
      // Pacing, so that runs get time to move between requests.
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random_)));
    }
  }

private:
  static action_state state_of(const json& action) {
    return *parse_action_state(action.at("status").get<std::string>());
  }

  void problem(const std::string& what) {
    model_.problems.push_back(name_ + ": " + what);
  }

  /// Keeps the last few requests and answers.
  void note(const std::string& method, const httplib::Result& res) {
    auto& history = model_.history;
    history.push_back(method + " "
                      + (res ? std::to_string(res->status) + " " + res->body
                             : "(no answer: " + httplib::to_string(res.error())
                                 + ")"));
    if (history.size() > 12)
      history.pop_front();
  }

  /// Notes the state shown for a run; it must follow the last one shown.
  void saw(const json& action) {
    auto uid = action.at("action_uid").get<std::string>();
    auto state = state_of(action);
    auto last = model_.shown.find(uid);
    if (last != model_.shown.end() && reachable(last->second).count(state) == 0)
      problem("run " + uid + " went from "
              + std::string{to_string(last->second)} + " to "
              + std::string{to_string(state)});
    model_.shown[uid] = state;
  }

  /// The action object of an answer, noted as shown.
  json shown_in(const httplib::Response& res) {
    auto action = json::parse(res.body);
    saw(action);
    return action;
  }

  void unexpected(const std::string& method, const httplib::Response& res) {
    problem(method + " answered " + std::to_string(res.status) + " "
            + res.body);
  }

  /// The type's action object, null for none; nothing once the server is
  /// gone.
  std::optional<json> get() {
    auto res = http_.Get(path_.c_str());
    note("GET", res);
    if (!res)
      return std::nullopt;
    if (res->status == 200)
      return shown_in(*res);
    if (res->status != 404)
      unexpected("GET", *res);
    return json{};
  }

  /// False once the server is gone (the request's outcome is then unknown).
  bool post() {
    auto res = http_.Post(path_.c_str());
    note("POST", res);
    if (!res)
      return cut_off(type_model::uncertain::post);
    if (res->status == 200) {
      auto action = shown_in(*res);
      model_.expected_uid = action.at("action_uid").get<std::string>();
      ++model_.acknowledged;
    } else if (res->status != 409) {
      unexpected("POST", *res);
    }
    return true;
  }

  /// `was_live`: what the last GET showed.
  bool remove(bool was_live) {
    auto res = http_.Delete(path_.c_str());
    note("DELETE", res);
    if (!res)
      return cut_off(type_model::uncertain::remove);
    if (res->status == 200) {
      auto action = shown_in(*res);
      // A finished run's status is removed; a live one is cancelled, which
      // may end it at once (a queued run). When the run was live and the
      // answer is terminal, only the server knows which happened.
      if (!cluster_actions::is_terminal(state_of(action)))
        return true;
      if (was_live) {
        auto after = get();
        if (!after)
          return cut_off(type_model::uncertain::remove);
        if (after->is_object())
          return true;
      }
      model_.expected_uid.reset();
      ++model_.acknowledged;
    } else if (res->status != 404) {
      unexpected("DELETE", *res);
    }
    return true;
  }

  /// The server died during a request of `kind`: its outcome is unknown.
  bool cut_off(type_model::uncertain kind) {
    model_.cut_off = kind;
    return false;
  }

  httplib::Client http_;
  std::string name_;
  std::string path_;
  type_model& model_;
  std::mt19937_64 random_;
};

/// Whether a process of the killed server's command `uid` is still alive:
/// `pid` is alive and has that run's uid in its environment (a pid reused
/// by an unrelated process does not count).
bool command_alive(pid_t pid, const std::string& uid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/environ"};
  std::string environ_text{std::istreambuf_iterator<char>{in}, {}};
  return environ_text.find("CLUSTER_ACTION_UID=" + uid + '\0')
         != std::string::npos;
}

/// Waits until no command process recorded under `pids_dir` is alive, then
/// forgets them. The test is the subreaper: orphans are reaped here.
void require_commands_gone(const std::string& pids_dir) {
  auto deadline = steady::now() + 10s;
  for (const auto& entry : std::filesystem::directory_iterator{pids_dir}) {
    auto uid = entry.path().filename().string();
    auto text = read_file(entry.path().string());
    if (text.empty() || text.back() != '\n')
      continue; // killed before it wrote its pid
    auto pid = static_cast<pid_t>(std::stol(text));
    for (;;) {
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      if (!command_alive(pid, uid))
        break;
      if (steady::now() > deadline)
        FAIL("process " << pid << " of run " << uid
                        << " outlived the killed server");
      std::this_thread::sleep_for(poll_interval);
    }
  }
  std::filesystem::remove_all(pids_dir);
  std::filesystem::create_directories(pids_dir);
}

std::string integrity_of(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr)
          == SQLITE_OK);
  std::string result;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    result += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

/// Checks what a restarted server shows against what the clients were
/// acknowledged and shown, then makes it the models' new starting point.
void check_after_restart(const json& actions,
                         std::map<std::string, type_model>& models) {
  std::set<std::string> seen_before;
  for (const auto& [name, model] : models)
    for (const auto& [uid, state] : model.shown)
      seen_before.insert(uid);
  std::map<std::string, json> shown;
  std::set<std::string> uids;
  for (const auto& action : actions) {
    auto uid = action.at("action_uid").get<std::string>();
    INFO(action.dump());
    CHECK(uids.insert(uid).second); // no uid twice
    REQUIRE(parse_action_state(action.at("status").get<std::string>()));
    shown[action.at("name").get<std::string>()] = action;
  }
  for (auto& [name, model] : models) {
    INFO(name << ": expected "
              << model.expected_uid.value_or("(none)") << ", cut off "
              << static_cast<int>(model.cut_off));
    for (const auto& problem : model.problems)
      FAIL_CHECK(problem);
    model.problems.clear();
    auto found = shown.find(name);
    std::optional<std::string> uid;
    if (found != shown.end())
      uid = found->second.at("action_uid").get<std::string>();
    INFO("shown " << (uid ? found->second.dump() : "(none)"));
    std::string history;
    for (const auto& line : model.history)
      history += "\n  " + line;
    INFO("last requests:" << history);
    if (uid != model.expected_uid) {
      using cut = type_model::uncertain;
      // Only the request the kill cut off may have changed the run: a
      // start, to a run never seen before; a removal, to none.
      const bool by_start = model.cut_off == cut::post && uid
                            && seen_before.count(*uid) == 0;
      const bool by_removal = model.cut_off == cut::remove && !uid;
      CHECK((by_start || by_removal));
    }
    if (uid) {
      auto state = *parse_action_state(found->second.at("status").get<std::string>());
      auto last = model.shown.find(*uid);
      if (last != model.shown.end()) {
        INFO("last shown " << to_string(last->second) << ", now "
                           << to_string(state));
        CHECK(reachable(last->second).count(state) == 1);
      }
      model.shown[*uid] = state;
    }
    model.expected_uid = uid;
    model.cut_off = type_model::uncertain::none;
    model.history.clear();
  }
}

} // namespace

TEST_CASE("kill -9 at random moments never loses or corrupts an "
          "acknowledged status") {
  // Orphans of a killed server are reparented here, to be reaped and seen
  // gone.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  temp_dir dir{"torture-test-"};
  std::filesystem::create_directories(dir.file("data/pids"));
  const auto config_path = dir.file("config.json");
  auto config = torture_config(dir);
  write_file(config_path, config.dump(2));
  std::map<std::string, type_model> models;
  for (const auto& [name, action] : config["actions"].items())
    models[name];
  std::mt19937_64 random{std::random_device{}()};
  std::uniform_int_distribution<int> kill_after_ms(30, 600);
  const auto total = rounds();

  for (std::size_t round = 1; round <= total; ++round) {
    INFO("round " << round << " of " << total);
    server_process server{dir, "round-" + std::to_string(round),
                          {"--config", config_path}, dir.path()};
    const int port = server.wait_listening();
    {
      // The state the restart shows is the clients' starting point.
      httplib::Client client{"127.0.0.1", port};
      client.set_basic_auth(email, password);
      auto list = client.Get(list_path.c_str());
      REQUIRE(list);
      REQUIRE(list->status == 200);
      check_after_restart(json::parse(list->body).at("actions"), models);
    }
    std::vector<std::thread> clients;
    for (auto& [name, model] : models)
      clients.emplace_back([port, name = name, &model, seed = random()] {
        type_client{port, name, model, seed}.run();
      });
    // A random moment: not a wait for anything.
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms(random)));
    server.signal(SIGKILL);
    server.require_exit();
    for (auto& client : clients)
      client.join();
    require_commands_gone(dir.file("data/pids"));
    CHECK(integrity_of(dir.file("data/state.db")) == "ok");
  }
  // And the last restart.
  server_process server{dir, "final", {"--config", config_path}, dir.path()};
  const int port = server.wait_listening();
  httplib::Client client{"127.0.0.1", port};
  client.set_basic_auth(email, password);
  auto list = client.Get(list_path.c_str());
  REQUIRE(list);
  check_after_restart(json::parse(list->body).at("actions"), models);
  server.signal(SIGTERM);
  CHECK(describe_status(server.require_exit()) == "exit 0");
  std::size_t acknowledged = 0;
  for (const auto& [name, model] : models)
    acknowledged += model.acknowledged;
  CHECK(acknowledged >= total);
}
