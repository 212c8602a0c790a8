#include "http/calling_thread.hpp"

#include <utility>

#include <caf/actor_system.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

namespace cluster_actions::http {

namespace {

/// The calling thread's open donate scope: whether sends are being watched,
/// and the actor the first of them woke.
struct donation {
  bool open = false;
  caf::resumable* woken = nullptr;
};

thread_local donation current;

} // namespace

calling_thread_unit::calling_thread_unit(caf::actor_system& system)
  : caf::execution_unit(&system) {
  // nop
}

void calling_thread_unit::exec_later(caf::resumable* job) {
  // CAF has added a reference for the unit that runs `job`.
  if (current.open && current.woken == nullptr
      && job->subtype() == caf::resumable::scheduled_actor) {
    current.woken = job;
    return;
  }
  system().scheduler().enqueue(job);
}

calling_thread_unit::donate::donate(calling_thread_unit& unit) : unit_(unit) {
  current.open = true;
  current.woken = nullptr;
}

calling_thread_unit::donate::~donate() {
  run();
}

bool calling_thread_unit::donate::run() {
  if (done_)
    return false;
  done_ = true;
  current.open = false;
  auto job = current.woken;
  current.woken = nullptr;
  if (job == nullptr)
    return false;
  // What a scheduler worker does with a job, for one turn.
  switch (job->resume(&unit_, max_messages_per_turn)) {
    case caf::resumable::resume_later:
      // More messages than one turn takes: the scheduler keeps our
      // reference and runs the rest.
      unit_.system().scheduler().enqueue(job);
      break;
    case caf::resumable::done:
    case caf::resumable::awaiting_message:
      caf::intrusive_ptr_release(job);
      break;
    case caf::resumable::shutdown_execution_unit:
      // Only scheduler-internal jobs answer this; never an actor.
      caf::intrusive_ptr_release(job);
      break;
  }
  return true;
}

void calling_thread_unit::donate::cancel() {
  if (done_)
    return;
  done_ = true;
  current.open = false;
  if (auto job = std::exchange(current.woken, nullptr))
    unit_.system().scheduler().enqueue(job);
}

} // namespace cluster_actions::http
