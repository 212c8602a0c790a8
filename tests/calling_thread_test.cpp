// calling_thread_unit: which thread runs an actor's turn when a non-actor
// thread (an HTTP handler's scoped actor) sends to it in a donate scope.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <catch2/catch.hpp>

#include "http/calling_thread.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using cluster_actions::http::calling_thread_unit;

namespace {

using ping_atom = caf::atom_constant<caf::atom("t_ping")>;

/// What a pinged actor saw.
struct pings {
  std::atomic<int> count{0};
  std::atomic<std::thread::id> last_thread{};
  /// Runs inside the handler of the first ping, while the actor's turn is
  /// going on.
  std::function<void()> during_first = {};
};

/// Counts pings, notes the thread of each, and answers the count so far.
caf::behavior pinged(caf::event_based_actor*, std::shared_ptr<pings> seen) {
  return {[seen](ping_atom) {
    seen->last_thread = std::this_thread::get_id();
    auto count = ++seen->count;
    if (count == 1 && seen->during_first)
      seen->during_first();
    return count;
  }};
}

/// Whether `hdl` waits for a message with an empty mailbox: the next
/// message wakes it.
bool idle(const caf::actor& hdl) {
  auto* self = dynamic_cast<caf::scheduled_actor*>(
    caf::actor_cast<caf::abstract_actor*>(hdl));
  REQUIRE(self != nullptr);
  return self->mailbox().blocked();
}

/// The actor system, the unit and a scoped actor that sends from it, on
/// the deterministic test scheduler: nothing runs unless the test says so.
struct deterministic {
  caf::actor_system_config cfg;
  caf::actor_system sys{cluster_actions::testing::testing_config(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  calling_thread_unit unit{sys};
  caf::scoped_actor caller{sys};
  std::shared_ptr<pings> seen = std::make_shared<pings>();
  caf::actor target;

  deterministic() {
    caller->context(&unit);
    target = sys.spawn(pinged, seen);
    sched.run(); // its initialization
    REQUIRE(idle(target));
  }

  ~deterministic() {
    caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
    sched.run();
  }
};

} // namespace

TEST_CASE("a donated turn runs the woken actor on the calling thread") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  calling_thread_unit unit{sys};
  auto seen = std::make_shared<pings>();
  auto target = sys.spawn(pinged, seen);
  // Its first turn, on a scheduler thread, initializes it; from then on it
  // waits for a message, and the next send wakes it.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!idle(target)) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(1ms); // poll interval
  }
  {
    caf::scoped_actor caller{sys};
    caller->context(&unit);
    {
      calling_thread_unit::donate turn{unit};
      caller->send(target, ping_atom::value);
      CHECK(turn.run());
    }
    CHECK(seen->count == 1);
    CHECK(seen->last_thread == std::this_thread::get_id());
    // The answer was there before the caller began to wait for it.
    REQUIRE_FALSE(caller->mailbox().empty());
    caller->receive([](int count) { CHECK(count == 1); },
                    caf::after(0s) >> [] { FAIL("no answer"); });
  }
  caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(deterministic,
                 "an actor already in its turn is left to the scheduler") {
  bool taken = true;
  int count_at_send = 0;
  seen->during_first = [&] {
    calling_thread_unit::donate turn{unit};
    caller->send(target, ping_atom::value);
    taken = turn.run();
    count_at_send = seen->count;
  };
  caf::anon_send(target, ping_atom::value);
  sched.run_once(); // the turn of the first ping, which sends the second
  CHECK_FALSE(taken);
  CHECK(count_at_send == 1);
  CHECK(seen->count == 1);
  // The second ping waits for a turn the scheduler runs.
  REQUIRE(sched.has_job());
  sched.run();
  CHECK(seen->count == 2);
}

TEST_CASE_METHOD(deterministic,
                 "a turn over its message budget goes back to the scheduler") {
  constexpr int budget = calling_thread_unit::max_messages_per_turn;
  constexpr int extra = 6;
  {
    calling_thread_unit::donate turn{unit};
    // The first wakes the actor and is kept for this thread; the rest
    // queue up in its mailbox.
    for (int i = 0; i < budget + extra; ++i)
      caller->send(target, ping_atom::value);
    CHECK(turn.run());
  }
  CHECK(seen->count == budget);
  REQUIRE(sched.jobs.size() == 1);
  CHECK(sched.jobs.front()
        == dynamic_cast<caf::resumable*>(
          caf::actor_cast<caf::abstract_actor*>(target)));
  sched.run();
  CHECK(seen->count == budget + extra);
}
