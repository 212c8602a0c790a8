// Waiting for a change and the metrics, against a real server on an
// ephemeral loopback port: ETags, 304, `Prefer: wait=N`, the bound on
// waiting requests, shutdown while requests wait, and GET /metrics. The
// pieces (entity tags, header parsing, the text format) also on their own.

#include <chrono>
#include <filesystem>
#include <future>
#include <optional>
#include <vector>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/server.hpp"
#include "http/change_wait.hpp"
#include "http/metrics.hpp"
#include "running_server.hpp"
#include "response_log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

namespace app = cluster_actions::app;
namespace http = cluster_actions::http;
using cluster_actions::action_state;
using cluster_actions::action_status;
using cluster_actions::testing::running_server;
using cluster_actions::testing::status_is;
using cluster_actions::testing::temp_dir;
using cluster_actions::testing::wait_for_status;
using clock_type = std::chrono::steady_clock;

const std::string list_path = "/v1/cluster/actions";
const std::string action_path = list_path + "/step";
constexpr const char* password = "pw";

/// "step" runs until the test removes its gate file, then completes.
app::server_config test_config(const temp_dir& dir) {
  app::server_config config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.tls.mode = app::tls_mode::off;
  config.data_dir = dir.file("data");
  config.http_threads = 8;
  config.users.push_back({"admin@example.com", password, http::role::admin});
  config.users.push_back(
    {"viewer@example.com", password, http::role::cluster_viewer});
  config.users.push_back({"none@example.com", password, http::role::none});
  app::command_action step;
  step.name = "step";
  step.command = {"/bin/sh", "-c",
                  "touch gate; while [ -e gate ]; do sleep 0.05; done"};
  step.cancel_grace = 1s;
  config.actions.push_back(step);
  return config;
}

httplib::Client client_of(const running_server& server,
                          const std::string& email = "admin@example.com") {
  httplib::Client client{"127.0.0.1", server.port()};
  client.set_basic_auth(email.c_str(), password);
  client.set_connection_timeout(5s);
  client.set_read_timeout(90s);
  cluster_actions::testing::record_responses(client);
  return client;
}

httplib::Result conditional_get(httplib::Client& client,
                                const std::string& path,
                                const std::string& tag,
                                const std::string& prefer = "") {
  httplib::Headers headers{{"If-None-Match", tag}};
  if (!prefer.empty())
    headers.emplace("Prefer", prefer);
  return client.Get(path.c_str(), headers);
}

std::string tag_of(const httplib::Result& res) {
  REQUIRE(res);
  REQUIRE(res->status == 200);
  auto tag = res->get_header_value("ETag");
  REQUIRE(tag.size() > 2);
  CHECK(tag.front() == '"');
  CHECK(tag.back() == '"');
  return tag;
}

/// Lets the running "step" command finish: removes the gate it made.
void open_gate(const temp_dir& dir) {
  const auto gate = dir.file("data/gate");
  auto deadline = clock_type::now() + 10s;
  while (!std::filesystem::exists(gate)) {
    if (clock_type::now() > deadline)
      FAIL("the step command made no gate in time");
    std::this_thread::sleep_for(5ms); // poll interval
  }
  std::filesystem::remove(gate);
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

} // namespace

TEST_CASE("entity tags and the headers of a conditional wait", "[unit]") {
  CHECK(http::entity_tag("a") == http::entity_tag("a"));
  CHECK(http::entity_tag("a") != http::entity_tag("b"));
  auto tag = http::entity_tag("body");
  CHECK(http::none_match_names(tag, tag));
  CHECK(http::none_match_names("\"x\", " + tag, tag));
  CHECK(http::none_match_names("W/" + tag, tag));
  CHECK(http::none_match_names("*", tag));
  CHECK_FALSE(http::none_match_names("\"x\"", tag));
  CHECK_FALSE(http::none_match_names("", tag));

  CHECK(http::preferred_wait("wait=5") == 5s);
  CHECK(http::preferred_wait("respond-async, WAIT=7") == 7s);
  CHECK(http::preferred_wait("wait=61") == 60s);
  CHECK(http::preferred_wait("wait=99999999999999999999") == 60s);
  CHECK_FALSE(http::preferred_wait("wait=0"));
  CHECK_FALSE(http::preferred_wait("wait=-1"));
  CHECK_FALSE(http::preferred_wait("wait=1.5"));
  CHECK_FALSE(http::preferred_wait("return=minimal"));
  CHECK_FALSE(http::preferred_wait(""));
}

TEST_CASE("a change feed wakes its waiters", "[unit]") {
  http::change_feed feed;
  auto seen = feed.version();
  auto far = clock_type::now() + 60s;
  auto waiting = std::async(std::launch::async,
                            [&] { return feed.wait_past(seen, far); });
  feed.changed();
  CHECK(waiting.get() == http::change_feed::wake_reason::changed);
  CHECK(feed.wait_past(seen, far) == http::change_feed::wake_reason::changed);
  CHECK(feed.wait_past(feed.version(), clock_type::now() + 10ms)
        == http::change_feed::wake_reason::deadline);
  feed.close();
  CHECK(feed.wait_past(feed.version(), far)
        == http::change_feed::wake_reason::closed);
}

TEST_CASE("run metrics follow the runs", "[unit]") {
  http::metrics counters;
  auto t0 = http::metrics::clock::now();
  action_status run{"step", "uid-1", action_state::queued, 0, {}, {}};
  counters.run_changed(run, t0);
  auto text = counters.render(0);
  CHECK_THAT(text, Catch::Contains(
                     "cluster_actions_runs_started_total{action=\"step\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("cluster_actions_queue_length 1\n"));
  run.state = action_state::running;
  counters.run_changed(run, t0 + 1s);
  run.state = action_state::aborted;
  run.error_code = "spawn_failed";
  counters.run_changed(run, t0 + 3s);
  // A repeated final status is no second end.
  counters.run_changed(run, t0 + 4s);
  text = counters.render(0);
  CHECK_THAT(text, Catch::Contains("cluster_actions_runs_ended_total{action="
                                   "\"step\",status=\"aborted\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("cluster_actions_run_duration_seconds_sum{"
                                   "action=\"step\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("cluster_actions_run_duration_seconds_"
                                   "bucket{action=\"step\",le=\"5\"} 1\n"));
  CHECK_THAT(text, Catch::Contains(
                     "cluster_actions_command_spawn_failures_total 1\n"));
  CHECK_THAT(text,
             Catch::Contains("cluster_actions_live_runs{status=\"running\"} 0\n"));
  counters.request_answered("GET", "/v1/cluster/actions/{action}", 200, 2ms);
  counters.request_answered("GET", "a\"b\\c\nd", 404, 2ms);
  text = counters.render(0);
  CHECK_THAT(text, Catch::Contains(
                     "cluster_actions_http_requests_total{method=\"GET\",route="
                     "\"/v1/cluster/actions/{action}\",code=\"200\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("route=\"a\\\"b\\\\c\\nd\""));
  CHECK_THAT(text, Catch::Contains(
                     "cluster_actions_http_request_duration_seconds_count 2\n"));
}

TEST_CASE("GET sends an ETag; If-None-Match with it is 304", "[http]") {
  temp_dir dir;
  running_server server{test_config(dir)};
  auto admin = client_of(server);
  auto list_tag = tag_of(admin.Get(list_path.c_str()));
  auto not_modified = conditional_get(admin, list_path, list_tag);
  REQUIRE(not_modified);
  CHECK(not_modified->status == 304);
  CHECK(not_modified->body.empty());
  CHECK(not_modified->get_header_value("ETag") == list_tag);
  CHECK_FALSE(not_modified->has_header("Preference-Applied"));

  REQUIRE(admin.Post(action_path.c_str())->status == 200);
  auto shown = admin.Get(action_path.c_str());
  auto action_tag = tag_of(shown);
  CHECK(conditional_get(admin, action_path, action_tag)->status == 304);
  // The list changed with the start: its old tag no longer matches.
  auto changed = conditional_get(admin, list_path, list_tag);
  CHECK(changed->status == 200);
  CHECK(tag_of(changed) != list_tag);
  CHECK(conditional_get(admin, action_path, "\"stale\"")->status == 200);
  open_gate(dir);
  wait_for_status(admin, "step", status_is("completed"));
}

TEST_CASE("Prefer: wait holds a GET until what it shows changes", "[http]") {
  temp_dir dir;
  running_server server{test_config(dir)};
  auto admin = client_of(server);
  REQUIRE(admin.Post(action_path.c_str())->status == 200);
  auto running = wait_for_status(admin, "step", [&](const json& action) {
    return action["status"] == "running"
           && std::filesystem::exists(dir.file("data/gate"));
  });
  auto tag = tag_of(admin.Get(action_path.c_str()));

  SECTION("no change: 304 once the wait is over") {
    auto start = clock_type::now();
    auto res = conditional_get(admin, action_path, tag, "wait=1");
    REQUIRE(res);
    CHECK(res->status == 304);
    CHECK(res->get_header_value("ETag") == tag);
    CHECK(res->get_header_value("Preference-Applied") == "wait=1");
    CHECK(seconds_since(start) >= 1.0);
    CHECK(seconds_since(start) < 5.0);
  }

  SECTION("a change: 200 with the new body, long before the wait is over") {
    auto start = clock_type::now();
    auto waiting = std::async(std::launch::async, [&] {
      auto other = client_of(server, "viewer@example.com");
      return conditional_get(other, action_path, tag, "wait=120");
    });
    open_gate(dir);
    auto res = waiting.get();
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->get_header_value("Preference-Applied") == "wait=60");
    CHECK(tag_of(res) != tag);
    CHECK(json::parse(res->body)["action_uid"] == running["action_uid"]);
    CHECK(seconds_since(start) < 30.0);
  }
}

TEST_CASE("waiting requests are bounded and answered at once on shutdown",
          "[http]") {
  temp_dir dir;
  auto config = test_config(dir);
  // Half the pool: 8 threads, so 4 may wait.
  std::optional<running_server> server{std::in_place, config};
  auto admin = client_of(*server);
  auto tag = tag_of(admin.Get(list_path.c_str()));
  std::vector<std::future<httplib::Result>> waiting;
  for (int i = 0; i < 4; ++i)
    waiting.push_back(std::async(std::launch::async, [&] {
      auto client = client_of(*server);
      return conditional_get(client, list_path, tag, "wait=60");
    }));
  // Once all four wait, a fifth is refused.
  auto deadline = clock_type::now() + 30s;
  while (admin.Get("/metrics")->body.find(
           "\ncluster_actions_waiting_requests 4\n")
         == std::string::npos) {
    REQUIRE(clock_type::now() < deadline);
    std::this_thread::sleep_for(5ms); // poll interval
  }
  auto refused = conditional_get(admin, list_path, tag, "wait=60");
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(json::parse(refused->body)["error_code"] == "too_many_waiting");
  CHECK(refused->get_header_value("Retry-After") == "1");
  // Other clients are still served.
  CHECK(admin.Get(list_path.c_str())->status == 200);

  auto start = clock_type::now();
  server.reset();
  CHECK(seconds_since(start) < 10.0);
  for (auto& answer : waiting) {
    auto res = answer.get();
    INFO(httplib::to_string(res.error()));
    REQUIRE(res);
    CHECK(res->status == 503);
    CHECK(json::parse(res->body)["error_code"] == "shutting_down");
  }
}

TEST_CASE("GET /metrics", "[http]") {
  temp_dir dir;
  running_server server{test_config(dir)};
  auto admin = client_of(server);
  REQUIRE(admin.Post(action_path.c_str())->status == 200);
  open_gate(dir);
  wait_for_status(admin, "step", status_is("completed"));

  auto viewer = client_of(server, "viewer@example.com");
  auto res = viewer.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type")
        == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_THAT(res->body, Catch::Contains(
                          "cluster_actions_runs_started_total{action=\"step\"} 1"));
  CHECK_THAT(res->body,
             Catch::Contains("cluster_actions_runs_ended_total{action=\"step\","
                             "status=\"completed\"} 1"));
  CHECK_THAT(res->body, Catch::Contains("cluster_actions_http_requests_total{"
                                        "method=\"POST\",route=\"/v1/cluster/"
                                        "actions/{action}\",code=\"200\"} 1"));
  CHECK_THAT(res->body, Catch::Contains("process_resident_memory_bytes "));

  auto nobody = client_of(server, "none@example.com");
  CHECK(nobody.Get("/metrics")->status == 403);
  httplib::Client anonymous{"127.0.0.1", server.port()};
  CHECK(anonymous.Get("/metrics")->status == 401);
  auto wrong = client_of(server, "viewer@example.com");
  wrong.set_basic_auth("viewer@example.com", "wrong");
  CHECK(wrong.Get("/metrics")->status == 401);
  CHECK_THAT(viewer.Get("/metrics")->body,
             Catch::Contains("cluster_actions_failed_logins_total 1\n"));
}
