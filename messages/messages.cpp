#include <array>

#include "messages/type_ids.hpp"

namespace cluster_actions {

namespace {

constexpr std::array<std::string_view, 8> state_names{
  "queued",    "starting", "running",   "cancelling",
  "cancelled", "aborted",  "completed", "failed",
};

} // namespace

std::string_view to_string(action_state state) noexcept {
  return state_names[static_cast<std::size_t>(state)];
}

std::optional<action_state> parse_action_state(std::string_view name) noexcept {
  for (std::size_t i = 0; i < state_names.size(); ++i)
    if (state_names[i] == name)
      return static_cast<action_state>(i);
  return std::nullopt;
}

std::string to_string(action_error error) {
  switch (error) {
    case action_error::unknown_action:
      return "unknown_action";
    case action_error::invalid_params:
      return "invalid_params";
    case action_error::conflict:
      return "conflict";
    case action_error::not_found:
      return "not_found";
    case action_error::shutting_down:
      return "shutting_down";
    case action_error::storage_unavailable:
      return "storage_unavailable";
  }
  return "unknown_error";
}

std::string error_description(const caf::error& error) {
  if (error.context().match_elements<std::string>())
    return error.context().get_as<std::string>(0);
  return {};
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::cluster_actions>();
  cfg.add_error_category(
    caf::atom("actions"),
    [](uint8_t code, caf::atom_value, const caf::message& context) {
      auto text = to_string(static_cast<action_error>(code));
      if (context.match_elements<std::string>())
        text += ": " + context.get_as<std::string>(0);
      return text;
    });
}

} // namespace cluster_actions
