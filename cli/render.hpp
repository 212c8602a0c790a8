// What the cluster-actions command prints: the list as a table, one run,
// the progress bar and the lines that follow a run.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace cluster_actions::cli {

/// `{"actions": [...]}` as a table: name, status, progress, started, took,
/// node, error ("-" where the server does not say).
std::string list_table(const nlohmann::json& list);

/// One action object, one "field: value" line each.
std::string action_details(const nlohmann::json& action);

/// One line for a terminal, to be redrawn in place: name, a bar of
/// `width` cells, percent, status and the time waited (mm:ss).
std::string progress_bar(const nlohmann::json& action,
                         std::chrono::seconds elapsed, int width = 30);

/// One line per change, when the output is no terminal.
std::string change_line(const nlohmann::json& action,
                        std::chrono::seconds elapsed);

/// Whether a status is final.
bool is_final(const std::string& status);

/// The exit code of a run that ended with `status` (see exit_codes.hpp).
int exit_code_of(const std::string& status);

} // namespace cluster_actions::cli
