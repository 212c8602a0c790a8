#include "http/status_watcher.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace cluster_actions::http {

namespace {

status_watcher_actor::behavior_type
watch(status_watcher_actor::pointer self, supervisor_actor supervisor,
      std::shared_ptr<change_feed> feed, std::shared_ptr<metrics> counters) {
  self->attach_functor([feed] { feed->close(); });
  // Monitored, not linked: the supervisor must not go with a watcher.
  self->monitor(supervisor);
  self->set_down_handler([self](const caf::down_msg&) { self->quit(); });
  self->send(supervisor, subscribe_atom::value,
             caf::actor_cast<status_watcher_actor>(self));
  return {
    [=](changed_atom, const action_status& status) {
      counters->run_changed(status, metrics::clock::now());
      feed->changed();
    },
    [=](removed_atom, const std::string&) { feed->changed(); },
  };
}

} // namespace

status_watcher_actor spawn_status_watcher(caf::actor_system& system,
                                          supervisor_actor supervisor,
                                          std::shared_ptr<change_feed> feed,
                                          std::shared_ptr<metrics> counters) {
  return system.spawn(watch, std::move(supervisor), std::move(feed),
                      std::move(counters));
}

} // namespace cluster_actions::http
