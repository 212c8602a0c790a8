// Supervision with the real scheduler: an action actor that fails takes its
// work with it (a command's whole process group, a C++ work's actor), and
// its type goes on answering and starting runs, over typed messages and
// over HTTP. The deterministic cases are in supervisor_test.cpp.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/actor_work.hpp"
#include "actors/command_work.hpp"
#include "actors/supervisor.hpp"
#include "http/rest_api.hpp"
#include "messages/type_ids.hpp"
#include "test_support.hpp"

using namespace cluster_actions;
using namespace std::chrono_literals;

namespace {

/// How long a test waits for any one thing before it fails.
constexpr auto deadline = 10s;

/// Polls `condition` until it holds or the deadline passes; its last value.
bool eventually(const std::function<bool()>& condition) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

bool alive(pid_t pid) {
  return kill(pid, 0) == 0 || errno != ESRCH;
}

pid_t read_pid(const std::string& file) {
  std::ifstream in{file};
  pid_t pid = 0;
  in >> pid;
  return pid;
}

/// Remembers the action actor that the latest run of a type reported to,
/// by its address (a strong handle in the type would keep it alive).
struct owner_seen {
  std::mutex mutex;
  caf::actor_addr owner;

  /// Wraps `work` so that each run records its action actor here.
  work_factory recording(work_factory work) {
    return [this, work](caf::local_actor* spawner, action_actor owner,
                        const run_request& run) {
      {
        std::lock_guard<std::mutex> guard{mutex};
        this->owner = owner.address();
      }
      return work(spawner, std::move(owner), run);
    };
  }

  caf::actor_addr get() {
    std::lock_guard<std::mutex> guard{mutex};
    return owner;
  }
};

struct world {
  testing::temp_dir dir{"supervision-test-"};
  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  // Declared after the system, so that it goes first: the system waits for
  // the workers, which wait for their processes.
  std::shared_ptr<process_monitor> monitor
    = std::make_shared<process_monitor>();
  supervisor_actor sup;

  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    add_message_types(cfg);
    become_subreaper();
    return cfg;
  }

  ~world() {
    if (!sup)
      return;
    ask<std::size_t>(shutdown_atom::value, caf::timespan{2s});
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  }

  template <class T = action_status, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> result = caf::make_error(caf::sec::request_timeout);
    caf::scoped_actor self{sys};
    self->request(sup, deadline, std::forward<Ts>(xs)...)
      .receive([&](T& value) { result = std::move(value); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// The status of `name` once `done` holds for it, or its last status.
  caf::expected<action_status>
  await(const std::string& name,
        const std::function<bool(const action_status&)>& done) {
    caf::expected<action_status> status
      = caf::make_error(caf::sec::runtime_error);
    eventually([&] {
      status = ask(get_atom::value, name);
      return status && done(*status);
    });
    return status;
  }
};

action_type command_type(const std::string& name, const world& w,
                         const std::string& script) {
  action_type type;
  type.name = name;
  type.cancel_grace = 2s;
  type.work
    = command_work({{"/bin/sh", "-c", script}, w.dir.path()}, w.monitor);
  return type;
}

bool in_state(const action_status& status, action_state state) {
  return status.state == state;
}

} // namespace

TEST_CASE("a failed action actor's command is killed with its process group",
          "[supervision]") {
  world w;
  owner_seen seen;
  auto sleeper = command_type("sleeper", w,
                              "sleep 1000 &\n"
                              "echo $! > background.pid\n"
                              "echo $$ > leader.pid\n"
                              "echo 'progress: 1'\n"
                              "wait");
  sleeper.work = seen.recording(sleeper.work);
  auto other_type = command_type("other", w, "echo 'progress: 1'; sleep 1000");
  w.sup = spawn_supervisor(w.sys, {sleeper, other_type});
  REQUIRE(w.ask(start_atom::value, std::string{"sleeper"}, action_params{}, std::string{}));
  REQUIRE(w.ask(start_atom::value, std::string{"other"}, action_params{}, std::string{}));
  auto running = [](const action_status& status) {
    return status.state == action_state::running && status.progress == 1.0;
  };
  REQUIRE(w.await("sleeper", running));
  REQUIRE(w.await("other", running));
  auto leader = read_pid(w.dir.file("leader.pid"));
  auto background = read_pid(w.dir.file("background.pid"));
  REQUIRE(leader > 0);
  REQUIRE(background > 0);
  REQUIRE(alive(background));

  caf::anon_send_exit(seen.get(), caf::exit_reason::kill);

  auto status = w.await("sleeper", [](const action_status& status) {
    return is_terminal(status.state);
  });
  REQUIRE(status);
  CHECK(status->state == action_state::aborted);
  CHECK(status->error_code == "internal_error");
  CHECK(eventually([&] { return !alive(leader) && !alive(background); }));
  auto other = w.ask(get_atom::value, std::string{"other"});
  REQUIRE(other);
  CHECK(other->state == action_state::running);
  // The type starts and cancels runs again, through a fresh actor.
  auto failed = seen.get();
  REQUIRE(w.ask(start_atom::value, std::string{"sleeper"}, action_params{}, std::string{}));
  REQUIRE(w.await("sleeper", running));
  CHECK(seen.get() != failed);
  auto cancelled = w.ask(cancel_atom::value, std::string{"sleeper"});
  REQUIRE(cancelled);
  CHECK(cancelled->state == action_state::cancelling);
  CHECK(w.await("sleeper", [](const action_status& status) {
    return in_state(status, action_state::cancelled);
  }));
}

namespace {

using tick_atom = caf::atom_constant<caf::atom("t_tick")>;

/// C++ work that makes its own action actor fail when its parameter
/// `crash` is true (and then waits, to be killed with it), and otherwise
/// completes at once.
caf::behavior crash_or_complete(caf::event_based_actor*, work_context ctx) {
  ctx.started();
  if (ctx.param("crash") != "true") {
    ctx.succeed();
    return {};
  }
  caf::anon_send_exit(ctx.owner(), caf::exit_reason::kill);
  return {[](tick_atom) {}};
}

/// C++ work that runs until it is stopped.
caf::behavior until_stopped(caf::event_based_actor* self, work_context ctx) {
  ctx.started();
  self->delayed_send(self, 10ms, tick_atom::value);
  return {[=](tick_atom) {
    if (ctx.stop_requested())
      return ctx.fail("stopped", "stopped on request");
    self->delayed_send(self, 10ms, tick_atom::value);
  }};
}

/// The REST front on a loopback port of its own, for `sup`.
class rest_front {
public:
  rest_front(caf::actor_system& sys, supervisor_actor sup) {
    http::rest_settings settings;
    settings.threads = 4;
    http::configure_server(server_, settings);
    http::mount_routes(server_, sys, std::move(sup),
                       {{user, password, http::role::admin}}, settings);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread{[this] { server_.listen_after_bind(); }};
    REQUIRE(eventually([this] { return server_.is_running(); }));
  }

  ~rest_front() {
    server_.stop();
    thread_.join();
  }

  httplib::Client client() const {
    httplib::Client client{"127.0.0.1", port_};
    client.set_basic_auth(user, password);
    client.set_read_timeout(10, 0);
    return client;
  }

private:
  static constexpr const char* user = "admin@supervision.test";
  static constexpr const char* password = "supervision-test-password";
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

} // namespace

TEST_CASE("over HTTP, a type whose actor failed answers and starts again",
          "[supervision][http]") {
  world w;
  action_type crashy;
  crashy.name = "crashy";
  crashy.params = {{"crash", {param_type::boolean, false}}};
  crashy.work = actor_work(crash_or_complete);
  action_type steady;
  steady.name = "steady";
  steady.work = actor_work(until_stopped);
  w.sup = spawn_supervisor(w.sys, {crashy, steady});
  rest_front front{w.sys, w.sup};
  auto client = front.client();
  const std::string path = "/v1/cluster/actions/";
  // Every answer about crashy, from the start of its failing run on.
  std::vector<int> statuses;
  auto request = [&](httplib::Result result) {
    REQUIRE(result);
    statuses.push_back(result->status);
    return nlohmann::json::parse(result->body);
  };
  auto await_crashy = [&](const std::string& state) {
    nlohmann::json body;
    eventually([&] {
      body = request(client.Get((path + "crashy").c_str()));
      return body.value("status", "") == state;
    });
    return body;
  };

  REQUIRE(client.Post((path + "steady").c_str())->status == 200);
  request(client.Post((path + "crashy").c_str(), R"({"crash": true})",
                      "application/json"));
  auto aborted = await_crashy("aborted");
  CHECK(aborted["status"] == "aborted");
  CHECK(aborted["error_code"] == "internal_error");
  CHECK(aborted["error_message"].get<std::string>().find(
          "the actor of action 'crashy' failed")
        != std::string::npos);
  auto steady_status = client.Get((path + "steady").c_str());
  REQUIRE(steady_status);
  CHECK(nlohmann::json::parse(steady_status->body)["status"] == "running");

  auto again = request(client.Post((path + "crashy").c_str(),
                                   R"({"crash": false})", "application/json"));
  CHECK(again["status"] == "queued");
  auto completed = await_crashy("completed");
  CHECK(completed["status"] == "completed");
  CHECK(completed["action_uid"] == again["action_uid"]);
  request(client.Delete((path + "crashy").c_str()));
  auto list = client.Get("/v1/cluster/actions");
  REQUIRE(list);
  CHECK(list->status == 200);
  for (auto status : statuses) {
    INFO("an answer about crashy: " << status);
    CHECK(status == 200);
  }
}
