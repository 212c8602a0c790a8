// The JSON the REST front speaks: action objects, error bodies, and the
// parameters of a POST body. Translation only; no business rules.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages/action_params.hpp"
#include "messages/action_status.hpp"

namespace cluster_actions::http {

/// The action object of one run: name, action_uid, status, progress (always
/// a JSON float); when failed or aborted, error_code and error_message; and,
/// once known, creation_time, start_time and end_time (ISO 8601 UTC with
/// milliseconds, "2026-11-29T23:41:05.123Z"), started_by and result.
std::string action_json(const action_status& status);

/// `{"actions": [...]}`.
std::string action_list_json(const std::vector<action_status>& statuses);

/// `{"error_code": ..., "description": ...}`.
std::string error_json(std::string_view error_code,
                       std::string_view description);

/// How deeply arrays and objects may nest in a POST body.
constexpr std::size_t max_json_depth = 64;

/// The parameters of a POST body: none for an empty body, one per member of
/// a JSON object otherwise. Anything else yields nothing and sets `problem`
/// to a description for the client (with the position of a parse error).
/// Refused: invalid JSON or UTF-8, a duplicate key, nesting deeper than
/// max_json_depth, an integer outside int64, a number overflowing a double,
/// a string value containing NUL. Never throws but std::bad_alloc.
std::optional<action_params> parse_params(const std::string& body,
                                          std::string& problem);

} // namespace cluster_actions::http
