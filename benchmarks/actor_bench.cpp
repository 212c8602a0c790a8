// The actor API without HTTP: list and get requests to the supervisor, from
// another (event-based) actor and from a non-actor thread, in requests/s.
//
// The supervisor has 10 action types, 5 of them with a finished run, like
// the HTTP benchmark's server. Runs with the server's scheduler settings
// (policy "sharing").
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <caf/all.hpp>

#include "actors/supervisor.hpp"
#include "http/calling_thread.hpp"
#include "messages/type_ids.hpp"

using namespace cluster_actions;

namespace {

constexpr int type_count = 10;
constexpr auto timeout = std::chrono::seconds(5);

/// Work that reports started and a success at once.
worker_actor instant_work(caf::local_actor* spawner, action_actor owner,
                          const run_request&) {
  return spawner->spawn(
    [](worker_actor::pointer self,
       action_actor owner) -> worker_actor::behavior_type {
      self->send(owner, started_atom::value);
      self->send(owner, finished_atom::value, work_outcome::success());
      self->quit();
      return {[](stop_atom) {}, [](kill_atom) {}};
    },
    std::move(owner));
}

caf::actor_system_config& bench_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("sharing"));
  add_message_types(cfg);
  return cfg;
}

/// One actor system and supervisor for the whole program.
struct world {
  caf::actor_system_config cfg;
  caf::actor_system sys{bench_config(cfg)};
  supervisor_actor sup;

  world() {
    std::vector<action_type> types;
    for (int i = 0; i < type_count; ++i) {
      action_type type;
      type.name = "bench_" + std::to_string(i);
      type.work = instant_work;
      types.push_back(std::move(type));
    }
    sup = spawn_supervisor(sys, std::move(types), {64});
    caf::scoped_actor self{sys};
    for (int i = 0; i < type_count; i += 2)
      self->request(sup, timeout, start_atom::value,
                    "bench_" + std::to_string(i), action_params{},
                    std::string{})
        .receive([](const action_status&) {},
                 [](caf::error&) { std::abort(); });
    // Wait until the runs have finished.
    for (bool live = true; live;) {
      live = false;
      self->request(sup, timeout, list_atom::value)
        .receive(
          [&](const std::vector<action_status>& xs) {
            for (auto& x : xs)
              live = live || is_live(x.state);
          },
          [](caf::error&) { std::abort(); });
    }
  }

  ~world() {
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  }
};

std::unique_ptr<world> the_world_ptr;

world& the_world() {
  if (!the_world_ptr)
    the_world_ptr = std::make_unique<world>();
  return *the_world_ptr;
}

/// From a non-actor thread, the naive way (how the HTTP handlers did it
/// first): a fresh scoped actor per request, a request with a CAF timeout
/// and a blocking receive.
void BM_list_scoped_actor(benchmark::State& state) {
  auto& w = the_world();
  for (auto _ : state) {
    caf::scoped_actor self{w.sys};
    self->request(w.sup, timeout, list_atom::value)
      .receive([](std::vector<action_status>& xs) { benchmark::DoNotOptimize(xs); },
               [](caf::error&) { std::abort(); });
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_get_scoped_actor(benchmark::State& state) {
  auto& w = the_world();
  const std::string name = "bench_0";
  for (auto _ : state) {
    caf::scoped_actor self{w.sys};
    self->request(w.sup, timeout, get_atom::value, name)
      .receive([](action_status& x) { benchmark::DoNotOptimize(x); },
               [](caf::error&) { std::abort(); });
  }
  state.SetItemsProcessed(state.iterations());
}

/// From a non-actor thread, as the HTTP handlers do now: a reused scoped
/// actor, a request without a CAF timeout (the receive keeps the deadline,
/// no clock thread involved), optionally with the calling thread running
/// the idle supervisor's turn itself (calling_thread_unit).
template <class OnValue, class... Ts>
void reused_caller(benchmark::State& state, bool donate, OnValue on_value,
                   Ts... xs) {
  auto& w = the_world();
  cluster_actions::http::calling_thread_unit unit{w.sys};
  caf::scoped_actor self{w.sys};
  self->context(&unit);
  for (auto _ : state) {
    cluster_actions::http::calling_thread_unit::donate turn{unit};
    auto handle = self->request(w.sup, caf::infinite, xs...);
    if (donate)
      turn.run();
    else
      turn.cancel();
    caf::blocking_actor::accept_one_cond one_reply;
    self->varargs_receive(
      one_reply, handle.id(), on_value, [](caf::error&) { std::abort(); },
      caf::after(timeout) >> [] { std::abort(); });
  }
  state.SetItemsProcessed(state.iterations());
}

auto on_list = [](std::vector<action_status>& xs) {
  benchmark::DoNotOptimize(xs);
};
auto on_get = [](action_status& x) { benchmark::DoNotOptimize(x); };

void BM_list_reused_caller(benchmark::State& state) {
  reused_caller(state, false, on_list, list_atom::value);
}

void BM_get_reused_caller(benchmark::State& state) {
  reused_caller(state, false, on_get, get_atom::value, std::string{"bench_0"});
}

void BM_list_reused_caller_own_turn(benchmark::State& state) {
  reused_caller(state, true, on_list, list_atom::value);
}

void BM_get_reused_caller_own_turn(benchmark::State& state) {
  reused_caller(state, true, on_get, get_atom::value, std::string{"bench_0"});
}

/// From another actor: an event-based actor sends `n` requests one after
/// the other (request(...).then(...)), the next one from the reply handler.
template <class Request>
void from_actor(benchmark::State& state, Request make_request) {
  auto& w = the_world();
  for (auto _ : state) {
    state.PauseTiming();
    std::promise<void> finished;
    auto done = finished.get_future();
    const long n = 1000;
    state.ResumeTiming();
    auto sup = w.sup;
    w.sys.spawn([&finished, make_request, sup, n](caf::event_based_actor* self) {
      auto remaining = std::make_shared<long>(n);
      auto step = std::make_shared<std::function<void()>>();
      *step = [self, remaining, step, sup, make_request, &finished] {
        if ((*remaining)-- == 0) {
          finished.set_value();
          self->quit();
          return;
        }
        make_request(self, sup, [step] { (*step)(); });
      };
      (*step)();
    });
    done.wait();
    state.SetItemsProcessed(state.items_processed() + n);
  }
}

void BM_list_from_actor(benchmark::State& state) {
  from_actor(state, [](caf::event_based_actor* self, const supervisor_actor& sup,
                       auto next) {
    self->request(sup, timeout, list_atom::value)
      .then([next](std::vector<action_status>& xs) {
              benchmark::DoNotOptimize(xs);
              next();
            },
            [](caf::error&) { std::abort(); });
  });
}

void BM_get_from_actor(benchmark::State& state) {
  from_actor(state, [](caf::event_based_actor* self, const supervisor_actor& sup,
                       auto next) {
    self->request(sup, timeout, get_atom::value, std::string{"bench_0"})
      .then([next](action_status& x) {
              benchmark::DoNotOptimize(x);
              next();
            },
            [](caf::error&) { std::abort(); });
  });
}

} // namespace

BENCHMARK(BM_list_scoped_actor)->UseRealTime();
BENCHMARK(BM_get_scoped_actor)->UseRealTime();
BENCHMARK(BM_list_reused_caller)->UseRealTime();
BENCHMARK(BM_get_reused_caller)->UseRealTime();
BENCHMARK(BM_list_reused_caller_own_turn)->UseRealTime();
BENCHMARK(BM_get_reused_caller_own_turn)->UseRealTime();
BENCHMARK(BM_list_from_actor)->UseRealTime();
BENCHMARK(BM_get_from_actor)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // Before static destruction: the actor system waits for its actors.
  the_world_ptr.reset();
}
