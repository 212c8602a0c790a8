// The supervisor with a status store, on CAF's deterministic test scheduler:
// what is answered and shown only once it is durable, what a failing store
// changes (nothing), and the restart rules. The store is a fake the test
// controls: it answers at once, holds its answers until released, or fails.
#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/supervisor.hpp"
#include "messages/type_ids.hpp"
#include "test_support.hpp"

using namespace cluster_actions;
using namespace std::chrono_literals;
using s = action_state;

namespace {

/// What the fake store holds, as a disk would, and how it answers. Shared
/// between the test and the store's actor: the deterministic scheduler runs
/// both on the test's thread.
struct fake_disk {
  std::map<std::string, run_record> records; // by type
  std::vector<std::string> writes;           // "name state", in order
  /// While set, answers wait in `held` until `release`.
  bool hold = false;
  /// While not empty, every request fails with it at once.
  std::string failure;

  struct held_answer {
    std::function<void()> apply;
    caf::typed_response_promise<durable_atom> promise;
  };
  std::deque<held_answer> held;

  void answer(std::function<void()> apply,
              caf::typed_response_promise<durable_atom> promise) {
    if (!failure.empty())
      promise.deliver(caf::make_error(action_error::storage_unavailable,
                                      failure));
    else if (hold)
      held.push_back({std::move(apply), std::move(promise)});
    else
      commit({std::move(apply), std::move(promise)});
  }

  /// Answers what was held, in order: stored, or failed with `reason`.
  /// Called by the store's actor: a promise is its owner's to deliver.
  void release(const std::string& reason) {
    auto answers = std::move(held);
    held.clear();
    for (auto& answer : answers)
      if (reason.empty())
        commit(std::move(answer));
      else
        answer.promise.deliver(
          caf::make_error(action_error::storage_unavailable, reason));
  }

private:
  static void commit(held_answer answer) {
    answer.apply();
    answer.promise.deliver(durable_atom::value);
  }
};

/// The test's order to the fake store: answer what it holds.
using release_atom = caf::atom_constant<caf::atom("t_release")>;

using fake_store_actor
  = store_actor::extend<caf::reacts_to<release_atom, std::string>>;

fake_store_actor::behavior_type fake_store(fake_store_actor::pointer self,
                                           std::shared_ptr<fake_disk> disk) {
  return {
    [disk](release_atom, const std::string& reason) { disk->release(reason); },
    [disk](load_atom) {
      std::vector<run_record> all;
      for (const auto& [name, record] : disk->records)
        all.push_back(record);
      return all;
    },
    [self, disk](write_atom, run_record& record) {
      auto promise = self->make_response_promise<durable_atom>();
      disk->answer(
        [disk, record] {
          disk->records[record.status.name] = record;
          disk->writes.push_back(record.status.name + " "
                                 + std::string{to_string(record.status.state)});
        },
        promise);
      return promise;
    },
    [self, disk](remove_atom, const std::string& name, const std::string& uid) {
      auto promise = self->make_response_promise<durable_atom>();
      disk->answer(
        [disk, name, uid] {
          auto i = disk->records.find(name);
          if (i != disk->records.end() && i->second.status.action_uid == uid)
            disk->records.erase(i);
          disk->writes.push_back(name + " removed");
        },
        promise);
      return promise;
    },
  };
}

/// A stored record of `name` in `state`.
run_record stored(const std::string& name, s state, std::uint64_t order) {
  run_record record;
  record.status.name = name;
  record.status.action_uid = "uid-" + name;
  record.status.state = state;
  record.status.progress = 30.0;
  record.status.creation_time = 1000;
  record.status.start_time = state == s::queued ? 0 : 2000;
  record.status.end_time = is_terminal(state) ? 3000 : 0;
  record.status.started_by = "alice@example.com";
  record.params = {{"target", {param_kind::string, name + "-db"}}};
  record.queue_order = order;
  return record;
}

struct fixture : testing::supervisor_fixture_base {
  std::shared_ptr<fake_disk> disk = std::make_shared<fake_disk>();
  fake_store_actor store;
  std::vector<std::string> reports;

  /// The supervisor on a store that holds `records` already.
  explicit fixture(std::vector<run_record> records = {},
                   std::size_t max_running = 4,
                   std::vector<std::string> names = {"alpha", "beta", "gamma"}) {
    for (auto& record : records)
      disk->records[record.status.name] = std::move(record);
    store = sys.spawn(fake_store, disk);
    supervisor_settings settings;
    settings.max_running_actions = max_running;
    settings.store = store;
    settings.report = [this](const std::string& line) {
      reports.push_back(line);
    };
    sup = spawn_supervisor(sys, fake_types(names), std::move(settings));
    settle();
  }

  ~fixture() {
    disk->hold = false;
    release();
    shutdown();
    self->send_exit(store, caf::exit_reason::user_shutdown);
    settle();
  }

  caf::expected<action_status> start_by(const std::string& name,
                                        const std::string& who) {
    return ask(start_atom::value, name, action_params{}, who);
  }

  /// Sends a request whose answer the test expects later (`answer`).
  template <class... Ts>
  void send(Ts&&... xs) {
    self->send(sup, std::forward<Ts>(xs)...);
    settle();
  }

  /// Whether an answer is waiting for the test.
  bool answered() {
    return !self->mailbox().empty();
  }

  /// The next answer, which must be there.
  caf::expected<action_status> answer() {
    caf::expected<action_status> result = caf::make_error(caf::sec::runtime_error);
    bool replied = false;
    self->receive(
      [&](action_status& value) {
        result = std::move(value);
        replied = true;
      },
      [&](caf::error& err) {
        result = std::move(err);
        replied = true;
      },
      caf::after(0s) >> [] {});
    REQUIRE(replied);
    return result;
  }

  /// Lets the store answer what it holds (failed with `reason`, if any),
  /// and delivers everything that follows.
  void release(const std::string& reason = {}) {
    self->send(store, release_atom::value, reason);
    settle();
  }

  const run_record& on_disk(const std::string& name) {
    REQUIRE(disk->records.count(name) == 1);
    return disk->records.at(name);
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "a start is answered once the new run is durable, "
                          "with when and by whom") {
  disk->hold = true;
  send(start_atom::value, std::string{"alpha"},
       action_params{{"target", {param_kind::string, "db1"}}},
       std::string{"alice@example.com"});
  CHECK_FALSE(answered());
  CHECK(get("alpha").error() == action_error::not_found);
  CHECK(work.runs.empty());
  release();
  auto accepted = answer();
  REQUIRE(accepted);
  CHECK(accepted->state == s::queued);
  CHECK(accepted->started_by == "alice@example.com");
  CHECK(accepted->creation_time > 0);
  CHECK(accepted->start_time == 0);
  // A slot was free: the run was stored as starting at once, and its work
  // began once that was durable.
  const auto& record = on_disk("alpha");
  CHECK(record.status.action_uid == accepted->action_uid);
  CHECK(record.status.state == s::starting);
  CHECK(record.status.creation_time == accepted->creation_time);
  CHECK(record.status.start_time >= accepted->creation_time);
  CHECK(record.status.started_by == "alice@example.com");
  CHECK(record.params.at("target").text == "db1");
  CHECK(work.runs.count("alpha") == 1);
  auto starting = get("alpha");
  CHECK(starting->state == s::starting);
  CHECK(starting->start_time == record.status.start_time);
  disk->hold = false;
  report_started("alpha");
  report_finished("alpha", work_outcome::success());
  auto done = get("alpha");
  CHECK(done->state == s::completed);
  CHECK(done->end_time >= done->start_time);
  CHECK(done->started_by == "alice@example.com");
  CHECK(on_disk("alpha").status == *done);
}

TEST_CASE_METHOD(fixture, "a failing write refuses the start and changes "
                          "nothing") {
  disk->failure = "database or disk is full";
  auto refused = start_by("alpha", "alice@example.com");
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == action_error::storage_unavailable);
  CHECK(error_description(refused.error()) == "database or disk is full");
  CHECK(get("alpha").error() == action_error::not_found);
  CHECK(work.runs.empty());
  CHECK(disk->records.empty());
  disk->failure.clear();
  CHECK(start_by("alpha", "alice@example.com"));
}

TEST_CASE_METHOD(fixture, "a second start waits for the first one's write") {
  disk->hold = true;
  send(start_atom::value, std::string{"alpha"}, action_params{},
       std::string{"first@example.com"});
  send(start_atom::value, std::string{"alpha"}, action_params{},
       std::string{"second@example.com"});
  CHECK_FALSE(answered());
  CHECK(disk->held.size() == 1); // the second has not even been written

  SECTION("and is a conflict once the first is durable") {
    disk->hold = false;
    release();
    auto first = answer();
    REQUIRE(first);
    CHECK(first->started_by == "first@example.com");
    CHECK(answer().error() == action_error::conflict);
    CHECK(get("alpha")->action_uid == first->action_uid);
  }
  SECTION("and is admitted when the first one's write failed") {
    release("I/O error");
    CHECK(answer().error() == action_error::storage_unavailable);
    REQUIRE(disk->held.size() == 1); // now the second is being written
    disk->hold = false;
    release();
    auto second = answer();
    REQUIRE(second);
    CHECK(second->started_by == "second@example.com");
  }
}

TEST_CASE_METHOD(fixture, "a change of state is shown once durable; progress "
                          "at once, written coalesced") {
  start_running("alpha");
  disk->hold = true;
  report_progress("alpha", 20);
  CHECK(get("alpha")->progress == 20.0);
  CHECK(on_disk("alpha").status.progress == 0.0);
  report_progress("alpha", 30);
  report_progress("alpha", 40);
  CHECK(get("alpha")->progress == 40.0);
  CHECK(disk->held.empty()); // nothing written yet
  advance(250ms);
  REQUIRE(disk->held.size() == 1); // one write for the three reports
  release();
  CHECK(on_disk("alpha").status.progress == 40.0);
  advance(250ms);
  CHECK(disk->held.empty()); // nothing new to write

  report_progress("alpha", 70);
  report_finished("alpha", work_outcome::failure("boom", "it broke"));
  auto shown = get("alpha");
  CHECK(shown->state == s::running); // failed is not durable yet
  CHECK(shown->progress == 70.0);
  release();
  CHECK(get("alpha")->state == s::failed);
  // The last progress went with the transition.
  CHECK(on_disk("alpha").status.state == s::failed);
  CHECK(on_disk("alpha").status.progress == 70.0);
}

TEST_CASE("a queued run whose start cannot be stored stays queued, first "
          "in line, and is tried again") {
  fixture f{{}, 1};
  f.start_running("beta");
  REQUIRE(f.start_by("alpha", "alice@example.com")); // waits for the slot
  f.disk->hold = true;
  f.report_finished("beta", work_outcome::success());
  // The slot is free; alpha's move to starting is being written.
  f.release("I/O error");
  CHECK(f.work.runs.count("alpha") == 0);
  CHECK(f.state_of("alpha") == s::queued);
  CHECK(f.on_disk("alpha").status.state == s::queued);
  // Both writes failed: beta's end and alpha's start; both are retried.
  CHECK(std::count_if(f.reports.begin(), f.reports.end(), [](const auto& line) {
          return line.find("start of action 'alpha'") != std::string::npos;
        })
        == 1);
  f.disk->hold = false;
  f.advance(1s);
  CHECK(f.work.runs.count("alpha") == 1);
  CHECK(f.state_of("alpha") == s::starting);
  CHECK(f.state_of("beta") == s::completed);
}

TEST_CASE("a cancel that waited for the start's write ends the run before "
          "its work begins") {
  fixture f{{}, 1};
  f.start_running("beta");
  f.disk->hold = true;
  f.send(start_atom::value, std::string{"alpha"}, action_params{},
         std::string{});
  f.send(cancel_atom::value, std::string{"alpha"});
  CHECK_FALSE(f.answered());
  // The slot frees while alpha's admission is being written: alpha gets
  // it, but its start waits behind the cancel.
  f.report_finished("beta", work_outcome::success());
  f.disk->hold = false;
  f.release();
  auto started = f.answer();
  REQUIRE(started);
  CHECK(started->state == s::queued);
  auto cancelled = f.answer();
  REQUIRE(cancelled);
  CHECK(cancelled->state == s::cancelled);
  CHECK(f.work.runs.count("alpha") == 0);
  CHECK(f.on_disk("alpha").status.state == s::cancelled);
  // Its slot, the only one, is free again.
  REQUIRE(f.start_by("gamma", ""));
  CHECK(f.state_of("gamma") == s::starting);
}

TEST_CASE_METHOD(fixture, "a shutdown while a start is being stored stops "
                          "that run too") {
  disk->hold = true;
  send(start_atom::value, std::string{"alpha"}, action_params{},
       std::string{});
  release();
  REQUIRE(answer());
  self->send(sup, shutdown_atom::value, caf::timespan{2s});
  settle();
  disk->hold = false;
  release();
  CHECK(work.runs["alpha"].received == std::vector<std::string>{"stop"});
  report_finished("alpha", work_outcome::success());
  std::size_t aborted = 0;
  self->receive([&](std::size_t n) { aborted = n; },
                caf::after(0s) >> [] { FAIL("no shutdown reply"); });
  CHECK(aborted == 1);
  CHECK(on_disk("alpha").status.state == s::aborted);
}

TEST_CASE_METHOD(fixture, "a status push that cannot be stored is written "
                          "again later") {
  start_running("alpha");
  disk->failure = "I/O error";
  report_finished("alpha", work_outcome::success());
  CHECK(get("alpha")->state == s::running);
  REQUIRE(reports.size() == 1);
  CHECK_THAT(reports[0], Catch::Contains("alpha"));
  CHECK_THAT(reports[0], Catch::Contains("I/O error"));
  disk->failure.clear();
  advance(1s);
  CHECK(get("alpha")->state == s::completed);
  CHECK(on_disk("alpha").status.state == s::completed);
}

TEST_CASE_METHOD(fixture, "removing a finished status waits for the store; "
                          "a failure keeps it") {
  start_running("alpha");
  report_finished("alpha", work_outcome::success());
  disk->failure = "database or disk is full";
  CHECK(cancel("alpha").error() == action_error::storage_unavailable);
  CHECK(get("alpha")->state == s::completed);
  CHECK(disk->records.count("alpha") == 1);
  disk->failure.clear();
  disk->hold = true;
  send(cancel_atom::value, std::string{"alpha"});
  CHECK_FALSE(answered());
  CHECK(get("alpha")->state == s::completed);
  release();
  CHECK(answer()->state == s::completed);
  CHECK(get("alpha").error() == action_error::not_found);
  CHECK(disk->records.empty());
}

TEST_CASE_METHOD(fixture, "a run's status not written yet never lands after "
                          "its removal or its replacement") {
  REQUIRE(start_by("alpha", ""));
  disk->hold = true;
  report_started("alpha");  // `running` is being written...
  report_finished("alpha", work_outcome::success()); // ...`completed` waits
  const auto old_uid = work.runs.at("alpha").uid;

  SECTION("removed") {
    send(cancel_atom::value, std::string{"alpha"});
    disk->hold = false;
    release();
    CHECK(answer()->state == s::completed);
    advance(2s); // any timer that could still write
    CHECK(disk->records.count("alpha") == 0);
    CHECK(disk->writes.back() == "alpha removed");
    CHECK(get("alpha").error() == action_error::not_found);
  }
  SECTION("replaced") {
    send(start_atom::value, std::string{"alpha"}, action_params{},
         std::string{});
    disk->hold = false;
    release();
    auto next = answer();
    REQUIRE(next);
    advance(2s);
    CHECK(on_disk("alpha").status.action_uid == next->action_uid);
    CHECK(std::count(disk->writes.begin(), disk->writes.end(),
                     "alpha completed")
          == 0);
    CHECK(next->action_uid != old_uid);
  }
}

TEST_CASE_METHOD(fixture, "cancelling a live run answers once its new state "
                          "is durable") {
  start_running("alpha");
  disk->hold = true;
  send(cancel_atom::value, std::string{"alpha"});
  CHECK_FALSE(answered());
  CHECK(work.runs["alpha"].received == std::vector<std::string>{"stop"});
  release();
  auto answered_status = answer();
  REQUIRE(answered_status);
  CHECK(answered_status->state == s::cancelling);
  CHECK(on_disk("alpha").status.state == s::cancelling);
}

TEST_CASE("at start, stored runs follow the restart rules") {
  fixture f{{stored("alpha", s::completed, 1), stored("beta", s::running, 2),
             stored("gamma", s::cancelling, 3), stored("delta", s::queued, 5),
             stored("epsilon", s::queued, 4), stored("zeta", s::starting, 6),
             stored("omega", s::failed, 7)},
            1,
            {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}};
  // Finished: exactly as stored.
  CHECK(*f.get("alpha") == stored("alpha", s::completed, 1).status);
  // Starting or running: aborted, interrupted, naming the state.
  for (auto [name, was] : {std::pair{"beta", "running"},
                           std::pair{"zeta", "starting"}}) {
    INFO(name);
    auto status = f.get(name);
    CHECK(status->state == s::aborted);
    CHECK(status->error_code == "interrupted");
    CHECK_THAT(status->error_message,
               Catch::Contains(std::string{"while the action was "} + was));
    CHECK_THAT(status->error_message, Catch::Contains("server stopped"));
    CHECK(status->end_time > 3000);
    CHECK(status->start_time == 2000);
    CHECK(f.on_disk(name).status == *status);
  }
  // Cancelling: cancelled.
  CHECK(f.get("gamma")->state == s::cancelled);
  CHECK(f.on_disk("gamma").status.state == s::cancelled);
  // Queued: queued again in their original order, with their parameters.
  CHECK(f.state_of("epsilon") == s::starting);
  CHECK(f.state_of("delta") == s::queued);
  CHECK(f.work.runs.at("epsilon").uid == "uid-epsilon");
  CHECK(f.work.runs.at("epsilon").params.at("target").text == "epsilon-db");
  f.report_started("epsilon");
  f.report_finished("epsilon", work_outcome::success());
  CHECK(f.state_of("delta") == s::starting);
  CHECK(f.get("delta")->started_by == "alice@example.com");
  // A type no longer configured: dropped, with one line.
  CHECK(f.disk->records.count("omega") == 0);
  REQUIRE(f.reports.size() == 1);
  CHECK_THAT(f.reports[0], Catch::Contains("'omega'"));
  CHECK_THAT(f.reports[0], Catch::Contains("uid-omega"));
  // New runs come after the stored ones in the queue.
  auto started = f.start_by("alpha", "bob@example.com");
  REQUIRE(started);
  CHECK(f.on_disk("alpha").queue_order > 7);
  CHECK(started->action_uid != "uid-alpha");
}

TEST_CASE("nothing is answered before the restart's changes are durable") {
  fixture f;
  f.shutdown();
  f.disk->records["beta"] = stored("beta", s::running, 1);
  f.disk->hold = true;
  f.sup = spawn_supervisor(f.sys, f.fake_types({"alpha", "beta"}),
                           {4, f.store, [](const std::string&) {}});
  f.settle();
  f.send(get_atom::value, std::string{"beta"});
  CHECK_FALSE(f.answered());
  f.release();
  CHECK(f.answer()->state == s::aborted);
}

TEST_CASE("shutdown with a store leaves queued runs queued") {
  fixture f{{}, 1};
  f.start_running("alpha");
  REQUIRE(f.start_by("beta", "alice@example.com"));
  f.self->send(f.sup, shutdown_atom::value, caf::timespan{2s});
  f.settle();
  CHECK(f.state_of("beta") == s::queued);
  CHECK(f.work.runs["alpha"].received == std::vector<std::string>{"stop"});
  CHECK(f.self->mailbox().empty()); // waits for alpha
  f.disk->hold = true;
  f.report_finished("alpha", work_outcome::success());
  CHECK(f.self->mailbox().empty()); // and for alpha's end to be durable
  f.release();
  std::size_t aborted = 0;
  f.self->receive([&](std::size_t n) { aborted = n; },
                  caf::after(0s) >> [] { FAIL("no shutdown reply"); });
  CHECK(aborted == 1);
  CHECK(f.on_disk("alpha").status.state == s::aborted);
  CHECK(f.on_disk("beta").status.state == s::queued);
  CHECK(f.work.runs.count("beta") == 0);
}
