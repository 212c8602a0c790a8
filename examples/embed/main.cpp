// A CAF program that embeds the cluster actions actors: its own actor
// system, its own C++ action type (checksum_work.hpp), the REST front on its
// own HTTP server. It runs one checksum run through typed messages and one
// through HTTP, checks everything it sees, and exits 0 only if all is well.
//
//   embed-example [DIR]   checksums DIR, or a generated directory of files
#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/supervisor.hpp"
#include "http/rest_api.hpp"
#include "messages/type_ids.hpp"

#include "checksum_work.hpp"

namespace fs = std::filesystem;
using namespace cluster_actions;
using namespace std::chrono_literals;

namespace {

int failures = 0;

/// Counts and prints a failed check.
bool check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    std::cerr << "FAILED: " << what << "\n";
  }
  return ok;
}

/// One request to the supervisor from this (non-actor) thread, with a fresh
/// scoped actor each time.
template <class T, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const supervisor_actor& sup,
                     Ts&&... xs) {
  caf::expected<T> result = caf::make_error(caf::sec::request_timeout);
  caf::scoped_actor self{sys};
  self->request(sup, 5s, std::forward<Ts>(xs)...)
    .receive([&](T& value) { result = std::move(value); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

std::string random_password() {
  std::random_device random;
  std::string password;
  for (int i = 0; i < 24; ++i)
    password += "0123456789abcdef"[random() % 16];
  return password;
}

/// A directory of files of various sizes to checksum.
void make_input(const fs::path& dir) {
  fs::create_directories(dir);
  std::mt19937 random{42};
  for (int i = 1; i <= 8; ++i) {
    std::ofstream out{dir / ("file-" + std::to_string(i) + ".bin"),
                      std::ios::binary};
    for (int n = 0; n < i * 40000; ++n)
      out.put(static_cast<char>(random()));
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// The progress values a client saw, in order, without repeats.
struct progress_seen {
  std::vector<double> values;
  bool monotonic = true;

  void add(double percent) {
    if (!values.empty() && percent < values.back())
      monotonic = false;
    if (values.empty() || percent != values.back())
      values.push_back(percent);
  }

  std::string text() const {
    std::string result;
    for (auto percent : values)
      result += (result.empty() ? "" : " ") + std::to_string(int(percent));
    return result;
  }
};

/// Checks a finished run: completed, at 100 %, progress never lowered, and
/// its manifest as expected.
void check_run(const std::string& how, const std::string& uid,
               const std::string& state, const progress_seen& progress,
               const fs::path& manifest, const std::string& expected) {
  std::cout << how << " run " << uid << ": " << state << ", progress seen: "
            << progress.text() << "\n";
  check(state == "completed", how + ": run completed (is " + state + ")");
  check(!progress.values.empty() && progress.values.back() == 100.0,
        how + ": progress 100");
  check(progress.monotonic, how + ": progress never went back");
  check(fs::exists(manifest), how + ": manifest " + manifest.string());
  check(read_file(manifest) == expected, how + ": manifest content");
}

/// Drives one run through typed messages.
void run_typed(caf::actor_system& sys, const supervisor_actor& sup,
               const fs::path& input, const fs::path& out,
               const std::string& expected) {
  action_params params{{"dir", {param_kind::string, input.string()}}};
  auto accepted = ask<action_status>(sys, sup, start_atom::value,
                                     std::string{"checksum_dir"}, params,
                                     std::string{});
  if (!check(bool(accepted), "typed: start accepted: "
                               + (accepted ? "" : sys.render(accepted.error()))))
    return;
  check(accepted->state == action_state::queued, "typed: queued at first");
  action_status last = *accepted;
  progress_seen progress;
  progress.add(last.progress);
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (is_live(last.state) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    auto status = ask<action_status>(sys, sup, get_atom::value,
                                     std::string{"checksum_dir"});
    if (!check(bool(status), "typed: status of the run"))
      return;
    progress.add(status->progress);
    last = *status;
  }
  check(last.action_uid == accepted->action_uid, "typed: same run");
  check_run("typed", last.action_uid, std::string(to_string(last.state)),
            progress, embed::manifest_path(out, last.action_uid), expected);
}

/// Drives one run through the REST front.
void run_http(int port, const std::string& user, const std::string& password,
              const fs::path& input, const fs::path& out,
              const std::string& expected) {
  const std::string path = "/v1/cluster/actions/checksum_dir";
  httplib::Client anonymous{"127.0.0.1", port};
  auto refused = anonymous.Get(path.c_str());
  check(refused && refused->status == 401, "http: 401 without credentials");

  httplib::Client client{"127.0.0.1", port};
  client.set_basic_auth(user.c_str(), password.c_str());
  client.set_read_timeout(10, 0);
  nlohmann::json body{{"dir", input.string()}};
  auto posted = client.Post(path.c_str(), body.dump(), "application/json");
  if (!check(posted && posted->status == 200,
             "http: POST answered 200"
               + (posted ? " (got " + std::to_string(posted->status) + " "
                             + posted->body + ")"
                         : std::string{" (no answer)"})))
    return;
  auto run = nlohmann::json::parse(posted->body);
  auto uid = run.at("action_uid").get<std::string>();
  check(run.at("status") == "queued", "http: queued at first");
  // A second start while the run is live would be 409; it may already be
  // finished, so that is the supervisor tests' business, not this one's.
  std::string state = "queued";
  progress_seen progress;
  progress.add(run.at("progress").get<double>());
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((state == "queued" || state == "starting" || state == "running")
         && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(2ms);
    auto got = client.Get(path.c_str());
    if (!check(got && got->status == 200, "http: GET answered 200"))
      return;
    auto status = nlohmann::json::parse(got->body);
    check(status.at("action_uid") == uid, "http: same run");
    progress.add(status.at("progress").get<double>());
    state = status.at("status").get<std::string>();
  }
  check_run("http", uid, state, progress, embed::manifest_path(out, uid),
            expected);
  auto list = client.Get("/v1/cluster/actions");
  check(list && list->status == 200
          && nlohmann::json::parse(list->body).at("actions").size() == 1,
        "http: the list shows the run");
}

void run(const fs::path& input, const fs::path& out) {
  auto expected = std::string{};
  for (const auto& file : embed::files_in(input))
    expected += embed::manifest_line(file);

  // The host's actor system. A host's own type-ID block would start at
  // caf::first_custom_type_id; the library's sits 1000 IDs above it.
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  auto sup = spawn_supervisor(sys, {embed::checksum_action(out)},
                              {/* max_running_actions */ 2});

  run_typed(sys, sup, input, out, expected);

  // The REST front, on the host's own server, on a free loopback port.
  const std::string user = "admin@embed.example";
  const std::string password = random_password();
  httplib::Server server;
  http::rest_settings settings;
  settings.threads = 4;
  http::configure_server(server, settings);
  http::mount_routes(server, sys, sup, {{user, password, http::role::admin}},
                     settings);
  int port = server.bind_to_any_port("127.0.0.1");
  if (check(port > 0, "http: bound a loopback port")) {
    std::thread serving{[&] { server.listen_after_bind(); }};
    while (!server.is_running())
      std::this_thread::sleep_for(1ms);
    run_http(port, user, password, input, out, expected);
    // The server goes first: its handlers use the actor system.
    server.stop();
    serving.join();
  }

  // No live run is left to abort; then the supervisor and its actors go.
  auto aborted = ask<std::size_t>(sys, sup, shutdown_atom::value,
                                  caf::timespan{2s});
  check(aborted && *aborted == 0, "shutdown: nothing left to abort");
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
}

} // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    std::cerr << "usage: " << argv[0] << " [DIR]\n";
    return 2;
  }
  char workspace_template[] = "/tmp/embed-example-XXXXXX";
  if (mkdtemp(workspace_template) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  fs::path workspace{workspace_template};
  try {
    auto input = argc == 2 ? fs::absolute(argv[1]) : workspace / "input";
    if (argc < 2)
      make_input(input);
    fs::create_directories(workspace / "out");
    run(input, workspace / "out");
  } catch (const std::exception& e) {
    check(false, std::string{"exception: "} + e.what());
  }
  fs::remove_all(workspace);
  if (failures > 0) {
    std::cerr << failures << " check(s) failed\n";
    return 1;
  }
  std::cout << "embed example: typed and HTTP runs completed\n";
  return 0;
}
