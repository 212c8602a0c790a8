// Lets a non-actor thread that sends a request to an idle actor run that
// actor's turn itself, instead of waking a scheduler thread for it and then
// sleeping until the reply comes back.
#pragma once

#include <cstddef>

#include <caf/execution_unit.hpp>
#include <caf/fwd.hpp>

namespace cluster_actions::http {

/// An execution unit for sends from non-actor threads (the HTTP handlers'
/// scoped actors). CAF hands a unit the actor that a send has just woken
/// (its mailbox went from idle to non-empty: no other thread runs or will
/// run it). Inside a `donate` scope, the first actor woken that way is kept
/// for the calling thread, which runs its turn right after the send, on its
/// own stack, through `scheduled_actor::resume` exactly as a scheduler
/// worker would; the reply then is in the caller's mailbox before it starts
/// waiting. Everything else (actors woken while that turn runs, sends
/// outside a scope, a turn left unfinished) goes to the scheduler.
///
/// The actor still receives a typed message in its mailbox and answers
/// with a message: only which thread executes its turn changes. Its
/// handlers must not block (as on any scheduler thread).
///
/// One unit may serve many threads at once; it must outlive every actor
/// that ran on it (actors keep a pointer to the last unit that ran them,
/// used only while they run).
class calling_thread_unit final : public caf::execution_unit {
public:
  /// Messages an actor may process in one donated turn before the rest of
  /// its mailbox goes back to the scheduler.
  static constexpr std::size_t max_messages_per_turn = 64;

  explicit calling_thread_unit(caf::actor_system& system);

  void exec_later(caf::resumable* job) override;

  /// Marks the sends of the calling thread while alive; on leaving, runs
  /// the turn of the actor they woke, if any.
  class donate {
  public:
    explicit donate(calling_thread_unit& unit);
    ~donate();
    donate(const donate&) = delete;
    donate& operator=(const donate&) = delete;

    /// Ends the scope now: runs the woken actor's turn, if any. Returns
    /// whether there was one.
    bool run();

    /// Ends the scope now, leaving the woken actor to the scheduler.
    void cancel();

  private:
    calling_thread_unit& unit_;
    bool done_ = false;
  };
};

} // namespace cluster_actions::http
