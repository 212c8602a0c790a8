#include "http/json_mapping.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <variant>
#include <cstdio>
#include <ctime>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "http/strict_json.hpp"

namespace cluster_actions::http {

namespace {

// Responses are written by hand rather than through a nlohmann DOM: every
// request produces one, and a DOM costs an allocation per node.

/// The length of the valid UTF-8 sequence starting at `s[i]` (RFC 3629:
/// no overlongs, no surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  auto lead = byte(0);
  std::size_t length = 0;
  unsigned low = 0x80;
  unsigned high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0)
      low = 0xA0;
    else if (lead == 0xED)
      high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0)
      low = 0x90;
    else if (lead == 0xF4)
      high = 0x8F;
  } else {
    return 0;
  }
  if (byte(1) < low || byte(1) > high)
    return 0;
  for (std::size_t k = 2; k < length; ++k)
    if ((byte(k) & 0xC0) != 0x80)
      return 0;
  return length;
}

/// Appends `text` as a JSON string. Invalid UTF-8 (a command's stderr tail
/// may be anything, or cut inside a character) becomes U+FFFD, so that the
/// document always parses.
void append_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    // Runs of plain ASCII go in one append: names, uids and states are
    // nothing else, and a list of thousands of actions is mostly them.
    auto plain_end = i;
    while (plain_end < text.size()) {
      auto p = static_cast<unsigned char>(text[plain_end]);
      if (p < 0x20 || p >= 0x80 || p == '"' || p == '\\')
        break;
      ++plain_end;
    }
    if (plain_end > i) {
      out.append(text, i, plain_end - i);
      i = plain_end;
      continue;
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      if (auto n = utf8_sequence_length(text, i); n > 0) {
        out.append(text, i, n);
        i += n;
      } else {
        out += "\xEF\xBF\xBD";
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

/// Appends `value` as a JSON number that always reads back as a float:
/// shortest round-trip form, with ".0" added to integral values.
void append_float(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "0.0"; // JSON has no NaN or infinity
    return;
  }
  std::array<char, 32> buf;
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  std::string_view text{buf.data(), static_cast<std::size_t>(end - buf.data())};
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos)
    out += ".0";
}

void append_member(std::string& out, std::string_view key,
                   std::string_view value) {
  append_string(out, key);
  out += ':';
  append_string(out, value);
}

/// `,"key":"2026-11-29T23:41:05.123Z"` (ISO 8601, UTC, milliseconds), or
/// nothing for a time not known (0).
void append_time(std::string& out, std::string_view key, unix_millis time) {
  if (time == 0)
    return;
  auto seconds = static_cast<std::time_t>(time / 1000);
  auto millis = static_cast<int>(time % 1000);
  if (millis < 0) { // before 1970: round the seconds down
    millis += 1000;
    --seconds;
  }
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  std::array<char, 40> text;
  auto length = std::snprintf(text.data(), text.size(),
                              "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                              utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
  out += ',';
  append_member(out, key,
                std::string_view{text.data(), static_cast<std::size_t>(length)});
}

/// `,"key":"value"`, or nothing for an empty value.
void append_optional(std::string& out, std::string_view key,
                     std::string_view value) {
  if (value.empty())
    return;
  out += ',';
  append_member(out, key, value);
}

void append_action(std::string& out, const action_status& status) {
  out += '{';
  append_member(out, "name", status.name);
  out += ',';
  append_member(out, "action_uid", status.action_uid);
  out += ',';
  append_member(out, "status", to_string(status.state));
  out += ",\"progress\":";
  append_float(out, status.progress);
  if (status.state == action_state::failed
      || status.state == action_state::aborted) {
    out += ',';
    append_member(out, "error_code", status.error_code);
    out += ',';
    append_member(out, "error_message", status.error_message);
  }
  append_time(out, "creation_time", status.creation_time);
  append_time(out, "start_time", status.start_time);
  append_time(out, "end_time", status.end_time);
  append_optional(out, "started_by", status.started_by);
  append_optional(out, "result", status.result);
  out += '}';
}

/// A rough size of one action object, to reserve once per response.
std::size_t size_hint(const action_status& status) {
  return 200 + status.name.size() + status.action_uid.size()
         + status.error_code.size() + status.error_message.size()
         + status.started_by.size() + status.result.size();
}

param_value to_param(const nlohmann::json& value) {
  using kind = param_kind;
  switch (value.type()) {
    case nlohmann::json::value_t::string:
      return {kind::string, value.get<std::string>()};
    case nlohmann::json::value_t::number_integer:
      return {kind::integer, std::to_string(value.get<std::int64_t>())};
    case nlohmann::json::value_t::number_unsigned:
      return {kind::integer, std::to_string(value.get<std::uint64_t>())};
    case nlohmann::json::value_t::number_float:
      return {kind::number, value.dump()};
    case nlohmann::json::value_t::boolean:
      return {kind::boolean, value.get<bool>() ? "true" : "false"};
    case nlohmann::json::value_t::null:
      return {kind::null, {}};
    default:
      return {kind::composite, value.dump()};
  }
}

/// What a client is told about a body check_json refused.
std::string describe(const json_problem& refused) {
  switch (refused.kind) {
    case json_problem::syntax:
      return "the body is not valid JSON: " + refused.detail;
    case json_problem::duplicate_key: {
      std::string text = "the body has the key ";
      append_string(text, std::get<std::string>(refused.path.back()));
      return text + " twice in one object";
    }
    case json_problem::too_deep:
      return "the body nests deeper than " + std::to_string(max_json_depth)
             + " levels";
    case json_problem::integer_out_of_range:
      return "the body has an integer outside the 64-bit signed range";
  }
  return "the body is not valid JSON";
}

} // namespace

std::string action_json(const action_status& status) {
  std::string out;
  out.reserve(size_hint(status));
  append_action(out, status);
  return out;
}

std::string action_list_json(const std::vector<action_status>& statuses) {
  std::size_t hint = 16;
  for (const auto& status : statuses)
    hint += size_hint(status);
  std::string out;
  out.reserve(hint);
  out += "{\"actions\":[";
  for (const auto& status : statuses) {
    if (&status != statuses.data())
      out += ',';
    append_action(out, status);
  }
  out += "]}";
  return out;
}

std::string error_json(std::string_view error_code,
                       std::string_view description) {
  std::string out;
  out.reserve(48 + error_code.size() + description.size());
  out += '{';
  append_member(out, "error_code", error_code);
  out += ',';
  append_member(out, "description", description);
  out += '}';
  return out;
}

std::optional<action_params> parse_params(const std::string& body,
                                          std::string& problem) {
  if (body.empty())
    return action_params{};
  // A first pass checks what nlohmann's DOM parser would accept silently
  // (duplicate keys, depth, integers out of range) or throw for other than
  // a parse_error (a number overflowing a double); only then is the DOM
  // built.
  if (auto refused = check_json(body, {max_json_depth, true})) {
    problem = describe(*refused);
    return std::nullopt;
  }
  auto document = nlohmann::json::parse(body, nullptr, false);
  if (document.is_discarded()) { // cannot happen after the check; be safe
    problem = "the body is not valid JSON";
    return std::nullopt;
  }
  if (!document.is_object()) {
    problem = "the body must be a JSON object of parameters, not ";
    problem += document.is_array() ? "an array" : "a scalar";
    return std::nullopt;
  }
  action_params params;
  for (const auto& [name, value] : document.items()) {
    auto param = to_param(value);
    // Parameters travel as environment variables, which cannot hold NUL.
    if (param.kind == param_kind::string
        && param.text.find('\0') != std::string::npos) {
      problem = "parameter values must not contain NUL characters";
      return std::nullopt;
    }
    params.emplace(name, std::move(param));
  }
  return params;
}

} // namespace cluster_actions::http
