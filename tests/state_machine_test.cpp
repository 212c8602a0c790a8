#include <catch2/catch.hpp>

#include <set>
#include <utility>

#include "actors/state_machine.hpp"

using namespace cluster_actions;
using s = action_state;

namespace {

const std::set<std::pair<s, s>> documented_transitions{
  {s::queued, s::starting},     {s::queued, s::cancelled},
  {s::starting, s::running},    {s::starting, s::aborted},
  {s::running, s::completed},   {s::running, s::failed},
  {s::running, s::cancelling},  {s::running, s::aborted},
  {s::cancelling, s::cancelled},
};

const s all_states[] = {s::queued,    s::starting, s::running,   s::cancelling,
                        s::cancelled, s::aborted,  s::completed, s::failed};

} // namespace

TEST_CASE("every documented transition is allowed") {
  for (auto [from, to] : documented_transitions) {
    INFO(to_string(from) << " -> " << to_string(to));
    CHECK(can_transition(from, to));
  }
}

TEST_CASE("every other transition is refused") {
  for (auto from : all_states)
    for (auto to : all_states)
      if (documented_transitions.count({from, to}) == 0) {
        INFO(to_string(from) << " -> " << to_string(to));
        CHECK_FALSE(can_transition(from, to));
      }
}

TEST_CASE("a run starts queued and follows the table") {
  run_state run;
  CHECK(run.current() == s::queued);
  CHECK_FALSE(run.move_to(s::running));
  CHECK(run.current() == s::queued);
  CHECK(run.move_to(s::starting));
  CHECK(run.move_to(s::running));
  CHECK(run.move_to(s::cancelling));
  CHECK_FALSE(run.move_to(s::completed));
  CHECK(run.move_to(s::cancelled));
  CHECK(run.current() == s::cancelled);
  for (auto to : all_states)
    CHECK_FALSE(run.move_to(to));
}

TEST_CASE("terminal, live and slot-holding states") {
  for (auto state : all_states) {
    INFO(to_string(state));
    bool leaves = false;
    for (auto to : all_states)
      leaves = leaves || can_transition(state, to);
    CHECK(is_terminal(state) == !leaves);
    CHECK(is_live(state) == !is_terminal(state));
  }
  CHECK(holds_slot(s::starting));
  CHECK(holds_slot(s::running));
  CHECK(holds_slot(s::cancelling));
  CHECK_FALSE(holds_slot(s::queued));
}

TEST_CASE("state names round-trip") {
  for (auto state : all_states)
    CHECK(parse_action_state(to_string(state)) == state);
  CHECK_FALSE(parse_action_state("paused"));
}
