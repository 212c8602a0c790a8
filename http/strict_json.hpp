// Strict JSON: what nlohmann's DOM parser would accept silently (a key twice
// in one object, of which it keeps the last) or only by throwing, found
// before a DOM is built. The one check behind request bodies and the
// configuration file.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cluster_actions::http {

/// nlohmann's exception message without its tag: "parse error at line 1,
/// column 2: ..." from "[json.exception.parse_error.101] parse error ...".
std::string_view without_exception_tag(std::string_view message);

/// One step on the way from the top of a document to a value: the key of
/// an object's member, or the index of an array's element.
using json_path_step = std::variant<std::string, std::size_t>;

/// The first thing check_json refused, and where.
struct json_problem {
  enum kind_t {
    /// Not JSON, invalid UTF-8, or a number overflowing a double; `detail`
    /// is nlohmann's message without its tag (with the position).
    syntax,
    /// A key given twice in one object; `path` ends with that key.
    duplicate_key,
    /// Arrays and objects nested deeper than `json_limits::max_depth`.
    too_deep,
    /// An integer outside the signed 64-bit range, where refused.
    integer_out_of_range,
  };
  kind_t kind = syntax;
  /// Where the problem is (empty for syntax errors: `detail` has the
  /// position).
  std::vector<json_path_step> path = {};
  std::string detail = {};
};

/// What check_json refuses besides invalid JSON and duplicate keys.
struct json_limits {
  /// How deeply arrays and objects may nest.
  std::size_t max_depth = std::numeric_limits<std::size_t>::max();
  /// Whether integers must fit a signed 64-bit integer (nlohmann would
  /// otherwise read a larger one as unsigned, or as a double).
  bool int64_only = false;
};

/// Checks that `text` is one JSON document with no key twice in one object,
/// within `limits`: nothing when it is, the first problem otherwise.
std::optional<json_problem> check_json(const std::string& text,
                                       const json_limits& limits = {});

} // namespace cluster_actions::http
