#include "actors/actor_work.hpp"

#include <caf/all.hpp>

namespace cluster_actions {

// -- work_context -------------------------------------------------------------

struct work_context::shared {
  caf::event_based_actor* self;
  action_actor owner;
  work_listener worker;
  run_request run;
  bool started = false;
  bool finished = false;
  bool stop_requested = false;
  double progress = 0.0;
};

work_context::work_context(caf::event_based_actor* self, action_actor owner,
                           work_listener worker, run_request run)
  : shared_(std::make_shared<shared>(
    shared{self, std::move(owner), std::move(worker), std::move(run)})) {
  // nop
}

const std::string& work_context::name() const noexcept {
  return shared_->run.name;
}

const std::string& work_context::uid() const noexcept {
  return shared_->run.uid;
}

const action_params& work_context::params() const noexcept {
  return shared_->run.params;
}

std::string work_context::param(const std::string& key,
                                std::string fallback) const {
  auto i = shared_->run.params.find(key);
  return i != shared_->run.params.end() ? i->second.text : std::move(fallback);
}

const action_actor& work_context::owner() const noexcept {
  return shared_->owner;
}

void work_context::started() const {
  auto& sh = *shared_;
  if (sh.started || sh.finished)
    return;
  sh.started = true;
  sh.self->send(sh.worker, started_atom::value);
}

void work_context::progress(double percent) const {
  auto& sh = *shared_;
  if (sh.finished || !(percent > sh.progress))
    return;
  sh.progress = std::min(percent, 100.0);
  sh.self->send(sh.worker, progress_atom::value, sh.progress);
}

void work_context::succeed() const {
  finish(work_outcome::success());
}

void work_context::fail(std::string code, std::string message) const {
  finish(work_outcome::failure(std::move(code), std::move(message)));
}

void work_context::finish(work_outcome outcome) const {
  auto& sh = *shared_;
  if (sh.finished)
    return;
  sh.finished = true;
  sh.self->send(sh.worker, finished_atom::value, std::move(outcome));
  sh.self->quit();
}

bool work_context::stop_requested() const noexcept {
  return shared_->stop_requested;
}

bool work_context::finished() const noexcept {
  return shared_->finished;
}

void work_context::request_stop() const noexcept {
  shared_->stop_requested = true;
}

// -- the worker between the action actor and the host's actor -----------------

namespace detail {

namespace {

/// The worker's own interface adds the host actor's reports to
/// `worker_actor`.
using actor_worker_actor = worker_actor::extend_with<work_listener>;

struct actor_worker_state {
  action_actor owner;
  caf::actor host;
  static inline const char* name = "cluster_actions.actor_worker";
};

using worker_pointer = actor_worker_actor::stateful_pointer<actor_worker_state>;

/// Passes a report of the host actor on to the action actor, as this worker.
template <class... Ts>
void pass_on(worker_pointer self, Ts&&... xs) {
  if (self->current_sender() == caf::actor_cast<caf::strong_actor_ptr>(
        self->state.host))
    self->send(self->state.owner, std::forward<Ts>(xs)...);
}

actor_worker_actor::behavior_type
actor_worker(worker_pointer self, action_actor owner, host_spawner spawn_host) {
  self->state.owner = owner;
  self->state.host = spawn_host(self);
  self->monitor(self->state.host);
  self->monitor(owner);
  // However this worker ends (the action actor dropped it, or went down),
  // the host's actor must not outlive it.
  self->attach_functor([host = self->state.host](const caf::error&) {
    caf::anon_send_exit(host, caf::exit_reason::kill);
  });
  self->set_down_handler(
    [self, owner = owner.address()](const caf::down_msg& msg) {
      auto& host = self->state.host;
      if (msg.source == host.address())
        self->quit(msg.reason); // the action actor sees the same reason
      else if (msg.source == owner)
        self->send_exit(host, caf::exit_reason::kill); // no one to report to
    });
  return {
    [self](stop_atom) {
      // Anonymous: an actor that does not handle it must not answer this
      // worker with an error.
      caf::anon_send(self->state.host, stop_atom::value);
    },
    [self](kill_atom) {
      self->send_exit(self->state.host, caf::exit_reason::kill);
    },
    [self](started_atom) { pass_on(self, started_atom::value); },
    [self](progress_atom, double percent) {
      pass_on(self, progress_atom::value, percent);
    },
    [self](finished_atom, work_outcome& outcome) {
      pass_on(self, finished_atom::value, std::move(outcome));
    },
  };
}

} // namespace

worker_actor spawn_actor_worker(caf::local_actor* spawner, action_actor owner,
                                host_spawner spawn_host) {
  return spawner->spawn(actor_worker, std::move(owner), std::move(spawn_host));
}

void watch_stop(caf::scheduled_actor* self, const work_context& ctx) {
  self->set_default_handler(
    [ctx](caf::scheduled_actor* ptr,
          caf::message_view& msg) -> caf::result<caf::message> {
      if (msg.content().match_elements<stop_atom>()) {
        ctx.request_stop();
        return caf::message{};
      }
      return caf::print_and_drop(ptr, msg);
    });
}

} // namespace detail

} // namespace cluster_actions
