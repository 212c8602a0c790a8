// The rule for action type names: the one place it is written.
#pragma once

#include <cstddef>
#include <string_view>

namespace cluster_actions {

/// Longest action type name.
constexpr std::size_t max_action_name_length = 128;

/// Whether `name` is 1 to `max_action_name_length` ASCII letters, digits,
/// '_' or '-': a plain URL path segment and a safe file or variable part.
/// Everything else (dots, slashes, NUL, spaces, non-ASCII or invalid UTF-8
/// bytes) is not a name.
constexpr bool is_valid_action_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_action_name_length)
    return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                    || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

} // namespace cluster_actions
