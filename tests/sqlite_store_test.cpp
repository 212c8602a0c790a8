// The SQLite status store on real files: what it keeps and loads, group
// commit, failures, the files it refuses (left untouched), the migration of
// a version-1 store; and over HTTP, a failing write as 503 while GETs keep
// working.
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/command_work.hpp"
#include "actors/sqlite_store.hpp"
#include "actors/supervisor.hpp"
#include "http/guarded_server.hpp"
#include "http/rest_api.hpp"
#include "messages/type_ids.hpp"
#include "test_support.hpp"

using namespace cluster_actions;
using namespace std::chrono_literals;

namespace {

constexpr auto deadline = 10s;

std::string read_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << bytes;
  REQUIRE(out.good());
}

/// A connection of the test's own to a store file, for what the store's
/// interface does not show (pragmas, raw rows) and for setting up files.
class raw_db {
public:
  explicit raw_db(const std::string& path) {
    REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~raw_db() {
    sqlite3_close(db_);
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  void exec(const std::string& sql) {
    char* message = nullptr;
    auto rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    INFO(sql << ": " << (message ? message : ""));
    sqlite3_free(message);
    REQUIRE(rc == SQLITE_OK);
  }

  /// The first column of the first row of `sql`, as text.
  std::string value(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr)
            == SQLITE_OK);
    std::string result;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
      result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return result;
  }

private:
  sqlite3* db_ = nullptr;
};

run_record make_record(const std::string& name, action_state state,
                       std::uint64_t order) {
  run_record record;
  auto& s = record.status;
  s.name = name;
  s.action_uid = "uid-" + name + "-" + std::to_string(order);
  s.state = state;
  s.progress = 12.5;
  if (state == action_state::failed) {
    s.error_code = "command_failed";
    s.error_message = "command exited with status 3: disk \"full\"";
  }
  s.creation_time = 1796001453235;
  s.start_time = state == action_state::queued ? 0 : 1796001453240;
  s.end_time = is_terminal(state) ? 1796001453999 : 0;
  s.started_by = "admin@example.com";
  s.result = "/data/debuginfo/bündel.tar.gz";
  record.params = {{"text", {param_kind::string, "a \"quoted\" value"}},
                   {"count", {param_kind::integer, "-3"}},
                   {"ratio", {param_kind::number, "0.5"}},
                   {"force", {param_kind::boolean, "true"}},
                   {"none", {param_kind::null, ""}},
                   {"list", {param_kind::composite, "[1,2]"}}};
  record.queue_order = order;
  return record;
}

/// An actor system, a store on `dir/state.db` and its actor.
struct store_fixture {
  cluster_actions::testing::temp_dir dir{"sqlite-store-test-"};
  std::string path = dir.file("state.db");
  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  caf::scoped_actor self{sys};
  std::shared_ptr<sqlite_store> store;
  store_actor actor;

  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    cfg.set("logger.verbosity", caf::atom("quiet"));
    add_message_types(cfg);
    return cfg;
  }

  store_fixture() {
    open();
  }
  ~store_fixture() {
    close();
  }

  void open() {
    store = std::make_shared<sqlite_store>(path);
    actor = spawn_sqlite_store(sys, store);
  }

  /// Stops the actor and closes the file (the store's thread finishes).
  void close() {
    if (!actor)
      return;
    self->send_exit(actor, caf::exit_reason::user_shutdown);
    self->wait_for(actor);
    actor = nullptr;
    store.reset();
  }

  /// One request, awaited; its error, if any.
  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> result = caf::make_error(caf::sec::request_timeout);
    self->request(actor, deadline, std::forward<Ts>(xs)...)
      .receive([&](T& value) { result = std::move(value); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::expected<durable_atom> write(const run_record& record) {
    return ask<durable_atom>(write_atom::value, record);
  }

  std::vector<run_record> load() {
    auto records = ask<std::vector<run_record>>(load_atom::value);
    REQUIRE(records);
    return *records;
  }
};

/// The store_error message for the file at `path`, checking that the file
/// is left exactly as it was.
std::string refusal_of(const std::string& path) {
  const auto before = read_bytes(path);
  std::string message;
  try {
    sqlite_store store{path};
    FAIL("the store opened " << path);
  } catch (const store_error& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(read_bytes(path) == before);
  CHECK(message.rfind(path + ": ", 0) == 0);
  CHECK_THAT(message, Catch::Contains("left the file as it is"));
  return message;
}

} // namespace

TEST_CASE_METHOD(store_fixture, "records are stored whole and survive a "
                                "reopen") {
  CHECK(load().empty());
  auto alpha = make_record("alpha", action_state::failed, 2);
  auto beta = make_record("beta", action_state::queued, 1);
  REQUIRE(write(alpha));
  REQUIRE(write(beta));
  CHECK(load() == std::vector<run_record>{beta, alpha}); // in queue order
  close();
  open();
  CHECK(load() == std::vector<run_record>{beta, alpha});

  SECTION("a type's next run replaces its record and parameters") {
    auto next = make_record("alpha", action_state::queued, 3);
    next.params = {{"only", {param_kind::string, "one"}}};
    REQUIRE(write(next));
    CHECK(load() == std::vector<run_record>{beta, next});
    raw_db raw{path};
    CHECK(raw.value("SELECT count(*) FROM params") == "7");
  }
  SECTION("a removal names the run: another run's record stays") {
    REQUIRE(ask<durable_atom>(remove_atom::value, std::string{"alpha"},
                              std::string{"uid-other"}));
    CHECK(load().size() == 2);
    REQUIRE(ask<durable_atom>(remove_atom::value, std::string{"alpha"},
                              alpha.status.action_uid));
    CHECK(load() == std::vector<run_record>{beta});
    raw_db raw{path};
    CHECK(raw.value("SELECT count(*) FROM params WHERE action_uid = '"
                    + alpha.status.action_uid + "'")
          == "0");
  }
  SECTION("the file is a WAL-mode store of the current schema") {
    raw_db raw{path};
    CHECK(raw.value("PRAGMA journal_mode") == "wal");
    CHECK(raw.value("PRAGMA user_version")
          == std::to_string(sqlite_store::schema_version));
    CHECK(raw.value("PRAGMA application_id")
          == std::to_string(sqlite_store::application_id));
    CHECK(raw.value("PRAGMA integrity_check") == "ok");
  }
}

TEST_CASE_METHOD(store_fixture, "writes that queue up during a commit share "
                                "the next one") {
  // Another connection holds the write lock: the store's first transaction
  // waits for it, while the other writes queue up behind.
  raw_db holder{path};
  holder.exec("BEGIN IMMEDIATE");
  constexpr std::uint64_t writes = 50;
  using handle = decltype(self->request(actor, deadline, write_atom::value,
                                        run_record{}));
  std::vector<handle> answers;
  for (std::uint64_t i = 1; i <= writes; ++i)
    answers.push_back(self->request(
      actor, deadline, write_atom::value,
      make_record("t" + std::to_string(i), action_state::queued, i)));
  holder.exec("COMMIT");
  std::size_t durable = 0;
  for (auto& answer : answers)
    answer.receive([&](durable_atom) { ++durable; },
                   [](caf::error& err) { FAIL(caf::to_string(err)); });
  CHECK(durable == writes);
  CHECK(store->stats().commits == 1);
  CHECK(store->stats().changes == writes);
  CHECK(load().size() == writes);
}

TEST_CASE_METHOD(store_fixture, "a failing commit fails its writes and "
                                "stores nothing; loads keep working") {
  auto alpha = make_record("alpha", action_state::completed, 1);
  REQUIRE(write(alpha));
  store->inject_write_failure("database or disk is full");
  auto failed = write(make_record("beta", action_state::queued, 2));
  REQUIRE_FALSE(failed);
  CHECK(failed.error() == action_error::storage_unavailable);
  CHECK_THAT(error_description(failed.error()),
             Catch::Contains("database or disk is full"));
  CHECK_THAT(error_description(failed.error()), Catch::Contains(path));
  CHECK(load() == std::vector<run_record>{alpha});
  store->inject_write_failure({});
  REQUIRE(write(make_record("beta", action_state::queued, 2)));
  CHECK(load().size() == 2);
}

TEST_CASE("files the store refuses are left untouched") {
  cluster_actions::testing::temp_dir dir{"sqlite-store-test-"};
  const auto path = dir.file("state.db");

  SECTION("not an SQLite database") {
    write_bytes(path, std::string(8192, 'x'));
    auto message = refusal_of(path);
    CHECK_THAT(message, Catch::Contains("is not an SQLite database"));
    CHECK_THAT(message, Catch::Contains("mv " + path + " " + path + ".bad"));
  }
  SECTION("damaged pages") {
    {
      sqlite_store store{path};
    }
    {
      // Enough rows for a few pages, then the pages garbled.
      raw_db raw{path};
      raw.exec("PRAGMA journal_mode = DELETE");
      raw.exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
               "WHERE i < 200) INSERT INTO runs SELECT 'type' || i, 'uid' || i, "
               "'completed', 100.0, '', '', i, 0, 0, 0, '', "
               "printf('%.100c', 'r') FROM n");
    }
    auto bytes = read_bytes(path);
    REQUIRE(bytes.size() > 4 * 4096);
    for (std::size_t i = 2 * 4096; i < 4 * 4096; ++i)
      bytes[i] = static_cast<char>(i * 7);
    write_bytes(path, bytes);
    auto message = refusal_of(path);
    CHECK_THAT(message, Catch::Contains("is damaged"));
  }
  SECTION("a schema newer than this build") {
    {
      sqlite_store store{path};
    }
    {
      raw_db raw{path};
      raw.exec("PRAGMA user_version = "
               + std::to_string(sqlite_store::schema_version + 1));
    }
    auto message = refusal_of(path);
    CHECK_THAT(message,
               Catch::Contains("schema version "
                               + std::to_string(sqlite_store::schema_version
                                                + 1)));
    CHECK_THAT(message, Catch::Contains("newer"));
  }
  SECTION("another application's database") {
    {
      raw_db raw{path};
      raw.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    }
    auto message = refusal_of(path);
    CHECK_THAT(message, Catch::Contains("another application"));
    CHECK_THAT(message, Catch::Contains("customers"));
  }
  SECTION("a row no server wrote") {
    {
      sqlite_store store{path};
    }
    {
      raw_db raw{path};
      raw.exec("INSERT INTO runs (name, action_uid, state, progress, "
               "error_code, error_message, queue_order) VALUES ('a', 'u', "
               "'exploded', 0, '', '', 1)");
    }
    auto message = refusal_of(path);
    CHECK_THAT(message, Catch::Contains("unknown state 'exploded'"));
  }
}

TEST_CASE_METHOD(store_fixture, "a version-1 store is migrated") {
  close();
  std::filesystem::remove(path);
  {
    raw_db raw{path};
    raw.exec(read_bytes(TEST_DATA_DIR "/state-v1.sql"));
  }
  open();
  auto records = load();
  REQUIRE(records.size() == 2);
  const auto& failed = records[0].status;
  CHECK(failed.name == "check_disk");
  CHECK(failed.state == action_state::failed);
  CHECK(failed.error_message == "only 3% free");
  CHECK(failed.creation_time == 0);
  CHECK(failed.end_time == 0);
  CHECK(failed.started_by.empty());
  CHECK(failed.result.empty());
  CHECK(records[1].params.at("index").text == "orders");
  {
    raw_db raw{path};
    CHECK(raw.value("PRAGMA user_version") == "2");
    CHECK(raw.value("PRAGMA integrity_check") == "ok");
  }
  // The migrated store takes the new fields.
  auto next = make_record("check_disk", action_state::completed, 3);
  REQUIRE(write(next));
  CHECK(load().back() == next);
}

TEST_CASE("over HTTP, a write the store cannot make is 503 and changes "
          "nothing; GETs keep working") {
  cluster_actions::testing::temp_dir dir{"sqlite-store-test-"};
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  add_message_types(cfg);
  auto monitor = std::make_shared<process_monitor>();
  auto store = std::make_shared<sqlite_store>(dir.file("state.db"));
  caf::actor_system sys{cfg};
  auto store_server = spawn_sqlite_store(sys, store);
  action_type quick;
  quick.name = "quick";
  quick.work = command_work({{"/bin/sh", "-c", "echo result: done"}, dir.path()},
                            monitor);
  action_type marker;
  marker.name = "marker";
  marker.work = command_work({{"/bin/sh", "-c", "touch started"}, dir.path()},
                             monitor);
  auto sup = spawn_supervisor(sys, {quick, marker}, {4, store_server, {}});
  http::rest_settings settings;
  settings.threads = 4;
  const std::string email = "admin@example.com";
  {
    http::rest_server server{settings};
    http::mount_routes(server, sys, sup, {{email, "pw", http::role::admin}},
                       settings);
    auto port = server.bind_to_any_port("127.0.0.1");
    std::thread serving{[&] { server.listen_after_bind(); }};
    httplib::Client client{"127.0.0.1", port};
    client.set_basic_auth(email.c_str(), "pw");
    client.set_read_timeout(10s);

    auto started = client.Post("/v1/cluster/actions/quick");
    REQUIRE(started);
    REQUIRE(started->status == 200);
    auto until = std::chrono::steady_clock::now() + deadline;
    std::string shown;
    while (std::chrono::steady_clock::now() < until) {
      shown = client.Get("/v1/cluster/actions")->body;
      if (shown.find("\"completed\"") != std::string::npos)
        break;
      std::this_thread::sleep_for(5ms); // poll interval
    }
    REQUIRE_THAT(shown, Catch::Contains("\"result\":\"done\""));

    store->inject_write_failure("database or disk is full");
    for (auto [method, path] :
         {std::pair{"POST", "/v1/cluster/actions/marker"},
          std::pair{"DELETE", "/v1/cluster/actions/quick"}}) {
      INFO(method << " " << path);
      auto refused = std::string{method} == "POST" ? client.Post(path)
                                                   : client.Delete(path);
      REQUIRE(refused);
      CHECK(refused->status == 503);
      CHECK(refused->get_header_value("Retry-After") == "1");
      auto body = nlohmann::json::parse(refused->body);
      CHECK(body["error_code"] == "storage_unavailable");
      CHECK_THAT(body["description"].get<std::string>(),
                 Catch::Contains("database or disk is full"));
    }
    // Nothing changed, and reading works.
    auto list = client.Get("/v1/cluster/actions");
    REQUIRE(list);
    CHECK(list->status == 200);
    CHECK(list->body == shown);
    CHECK(client.Get("/v1/cluster/actions/marker")->status == 404);
    CHECK_FALSE(std::filesystem::exists(dir.file("started")));

    store->inject_write_failure({});
    auto removed = client.Delete("/v1/cluster/actions/quick");
    REQUIRE(removed);
    CHECK(removed->status == 200);
    server.stop();
    serving.join();
  }
  caf::scoped_actor self{sys};
  self->request(sup, deadline, shutdown_atom::value, caf::timespan{1s})
    .receive([](std::size_t) {}, [](caf::error&) {});
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  self->send_exit(store_server, caf::exit_reason::user_shutdown);
}
