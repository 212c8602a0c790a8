// Work done by a host's own actor: turns an actor function into a
// `work_factory`, so that a C++ action type runs through the same action
// actor, state machine, conflict rule, cancel and timeout as a command.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/fwd.hpp>

#include "actors/action_type.hpp"
#include "messages/interfaces.hpp"

namespace cluster_actions {

/// What the actor doing one run's work knows of the run, and how it
/// reports. `actor_work` makes one per run and hands it to the host's actor
/// function. Copies refer to the same run and may be captured by the
/// actor's handlers; use them only from that actor.
///
/// The reports, in order: `started()` once the work really begins (the run
/// becomes `running`), any number of `progress()`, then exactly one of
/// `succeed()`, `fail()` or `finish()`, which also ends the actor.
class work_context {
public:
  /// Used by `actor_work`; hosts receive contexts, they do not make them.
  /// The reports go to `worker`, the run's worker, which passes them on to
  /// `owner`.
  work_context(caf::event_based_actor* self, action_actor owner,
               work_listener worker, run_request run);

  /// The action type's name.
  const std::string& name() const noexcept;

  /// The run's unique id (the `action_uid` clients see).
  const std::string& uid() const noexcept;

  /// The parameters of the run, already validated against the type's
  /// declaration (declared optional parameters may be absent).
  const action_params& params() const noexcept;

  /// The text of parameter `key` ("42", "true", a string as sent), or
  /// `fallback` when the client did not send it.
  std::string param(const std::string& key, std::string fallback = {}) const;

  /// The run's action actor. The reports below reach it through the run's
  /// worker, the one actor it takes them from.
  const action_actor& owner() const noexcept;

  /// Reports that the work has begun: the run moves from `starting` to
  /// `running`. Only the first call counts. Finishing without it ends the
  /// run as `aborted` (the work never started).
  void started() const;

  /// Reports progress in percent (0 to 100). The run's progress never goes
  /// back; a value not above the last one reported is not sent.
  void progress(double percent) const;

  /// Reports success and ends the actor: the run is `completed`, unless it
  /// was being cancelled (`cancelled`) or stopped for its timeout (`failed`
  /// with `timeout`).
  void succeed() const;

  /// Reports failure and ends the actor: the run is `failed` with
  /// `error_code` `code` (snake_case) and `error_message` `message`, or
  /// `cancelled` if it was being cancelled.
  void fail(std::string code, std::string message) const;

  /// Reports `outcome` and ends the actor (what `succeed` and `fail` do).
  /// Later reports are ignored.
  void finish(work_outcome outcome) const;

  /// True once the run was asked to stop (a cancel, its timeout, or a
  /// shutdown) by a `stop_atom` that the actor's behaviour did not handle
  /// itself. Work done in steps checks it between steps.
  bool stop_requested() const noexcept;

  /// True once `finish` (or `succeed`, `fail`) was called.
  bool finished() const noexcept;

  /// Marks the run as asked to stop. Called by `actor_work`'s handling of
  /// an unhandled `stop_atom`; a behaviour with its own `stop_atom` handler
  /// may call it too, so that `stop_requested()` tells the truth.
  void request_stop() const noexcept;

private:
  struct shared;
  std::shared_ptr<shared> shared_;
};

namespace detail {

/// The type of the first parameter of a function, function pointer or
/// non-generic lambda.
template <class F>
struct first_param : first_param<decltype(&F::operator())> {};

template <class R, class A, class... Ts>
struct first_param<R (*)(A, Ts...)> {
  using type = A;
};

template <class R, class A, class... Ts>
struct first_param<R(A, Ts...)> {
  using type = A;
};

template <class C, class R, class A, class... Ts>
struct first_param<R (C::*)(A, Ts...) const> {
  using type = A;
};

template <class C, class R, class A, class... Ts>
struct first_param<R (C::*)(A, Ts...)> {
  using type = A;
};

/// Spawns a host actor from the worker that supervises it.
using host_spawner = std::function<caf::actor(caf::local_actor* worker)>;

/// Spawns, from `spawner`, the worker the action actor talks to; it spawns
/// the host's actor through `spawn_host`, passes the host actor's reports on
/// to `owner` (which takes reports from its worker only), passes `stop_atom`
/// on to the host actor, turns `kill_atom` into an exit with reason
/// `caf::exit_reason::kill`, goes down with the host actor's exit reason
/// once it is gone, and kills it if the worker itself ends first (its action
/// actor went down or dropped it).
worker_actor spawn_actor_worker(caf::local_actor* spawner, action_actor owner,
                                host_spawner spawn_host);

/// Makes `self` turn a `stop_atom` its behaviour does not handle into
/// `ctx.request_stop()` (other unexpected messages are printed and dropped,
/// as by default).
void watch_stop(caf::scheduled_actor* self, const work_context& ctx);

} // namespace detail

/// Work done by an actor of the host's own, one per run.
///
/// `fun` is called as `fun(self, ctx)` inside a freshly spawned actor and
/// returns that actor's initial behaviour, like any CAF actor function.
/// `self` is a `caf::event_based_actor*` or a `caf::stateful_actor<State>*`
/// (whichever `fun`'s first parameter is); `ctx` is the run's
/// `work_context`, through which the actor reports. For example:
///
/// ```
/// type.work = cluster_actions::actor_work(
///   [](caf::event_based_actor* self, cluster_actions::work_context ctx)
///     -> caf::behavior {
///     ctx.started();
///     self->send(self, step_atom::value);
///     return {[=](step_atom) {
///       if (ctx.stop_requested())
///         return ctx.fail("stopped", "stopped before the end");
///       // ... one step of the work, never blocking ...
///       ctx.progress(percent_done);
///       if (done) ctx.succeed(); else self->send(self, step_atom::value);
///     }};
///   });
/// ```
///
/// Stop and kill: when the run is cancelled, times out or the supervisor
/// shuts down, the actor receives `stop_atom`. Either handle it in the
/// behaviour, or leave it unhandled and check `ctx.stop_requested()` between
/// steps; then finish (with any outcome: the run's terminal state follows
/// from why it was stopped). If the actor has not finished when the type's
/// `cancel_grace` is over, it is killed: it receives an exit message with
/// reason `caf::exit_reason::kill`, which no actor can trap, and the run ends
/// once the actor is gone. Killing cannot interrupt a handler that blocks, so
/// handlers must not block. The actor is killed the same way if its action
/// actor goes down (the supervisor exited, or the action actor failed).
///
/// An actor that ends without reporting, or dies of an exception, ends the
/// run with `error_code` `worker_exited` (`failed`, or `aborted` if it had
/// not reported `started`).
template <class Fun>
work_factory actor_work(Fun fun) {
  using self_pointer = typename detail::first_param<Fun>::type;
  using impl = std::remove_pointer_t<self_pointer>;
  static_assert(std::is_pointer<self_pointer>::value
                  && std::is_base_of<caf::event_based_actor, impl>::value,
                "actor_work: the function's first parameter must be a "
                "caf::event_based_actor* or a caf::stateful_actor<State>*");
  return [fun = std::move(fun)](caf::local_actor* spawner, action_actor owner,
                                const run_request& run) -> worker_actor {
    auto spawn_host = [fun, owner, run](caf::local_actor* worker) {
      return caf::actor{worker->spawn(
        [fun, owner, run,
         reports = caf::actor_cast<work_listener>(worker)](impl* self)
          -> caf::behavior {
          work_context ctx{self, owner, reports, run};
          detail::watch_stop(self, ctx);
          return fun(self, std::move(ctx));
        })};
    };
    return detail::spawn_actor_worker(spawner, std::move(owner),
                                      std::move(spawn_host));
  };
}

} // namespace cluster_actions
