#include "cli/render.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/exit_codes.hpp"

namespace cluster_actions::cli {

namespace {

using nlohmann::json;

std::string text_of(const json& action, const char* field) {
  auto value = action.find(field);
  if (value == action.end() || value->is_null())
    return "-";
  return value->is_string() ? value->get<std::string>() : value->dump();
}

std::string percent(const json& action) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%",
                action.value("progress", 0.0));
  return text;
}

std::string minutes_seconds(std::chrono::seconds elapsed) {
  char text[32];
  std::snprintf(text, sizeof text, "%02lld:%02lld",
                static_cast<long long>(elapsed.count() / 60),
                static_cast<long long>(elapsed.count() % 60));
  return text;
}

/// How long a run took, from the times the server gives (seconds since the
/// epoch or ISO text are both shown as given); "-" when it gives none.
std::string took(const json& action) {
  auto start = action.find("start_time");
  auto end = action.find("end_time");
  if (start != action.end() && end != action.end() && start->is_number()
      && end->is_number())
    return std::to_string(end->get<long long>() - start->get<long long>())
           + "s";
  return "-";
}

} // namespace

std::string list_table(const json& list) {
  std::vector<std::vector<std::string>> rows{
    {"NAME", "STATUS", "PROGRESS", "STARTED", "TOOK", "NODE", "ERROR"}};
  for (const auto& action : list.value("actions", json::array()))
    rows.push_back({text_of(action, "name"), text_of(action, "status"),
                    percent(action), text_of(action, "start_time"),
                    took(action), text_of(action, "node"),
                    text_of(action, "error_code")});
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string action_details(const json& action) {
  std::string out;
  for (const auto& [field, value] : action.items())
    out += field + ": " + (value.is_string() ? value.get<std::string>()
                                             : value.dump())
           + "\n";
  return out;
}

std::string progress_bar(const json& action, std::chrono::seconds elapsed,
                         int width) {
  auto progress = std::clamp(action.value("progress", 0.0), 0.0, 100.0);
  auto filled = static_cast<int>(progress * width / 100.0);
  return text_of(action, "name") + " ["
         + std::string(static_cast<std::size_t>(filled), '#')
         + std::string(static_cast<std::size_t>(width - filled), '.') + "] "
         + percent(action) + "  " + text_of(action, "status") + "  "
         + minutes_seconds(elapsed);
}

std::string change_line(const json& action, std::chrono::seconds elapsed) {
  auto line = minutes_seconds(elapsed) + " " + text_of(action, "name") + " "
              + text_of(action, "status") + " " + percent(action);
  if (action.contains("error_code"))
    line += " " + text_of(action, "error_code") + ": "
            + text_of(action, "error_message");
  return line;
}

bool is_final(const std::string& status) {
  return status == "completed" || status == "failed" || status == "cancelled"
         || status == "aborted";
}

int exit_code_of(const std::string& status) {
  if (status == "completed")
    return exit_completed;
  if (status == "failed")
    return exit_failed;
  return exit_stopped;
}

} // namespace cluster_actions::cli
