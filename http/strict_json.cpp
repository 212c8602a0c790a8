#include "http/strict_json.hpp"

#include <cstdint>
#include <set>

#include <nlohmann/json.hpp>

namespace cluster_actions::http {

namespace {

/// A SAX pass that stops at the first problem: every callback answers
/// whether reading goes on.
class strict_check final : public nlohmann::json::json_sax_t {
public:
  explicit strict_check(const json_limits& limits) : limits_(limits) {}

  bool null() override { return element(); }
  bool boolean(bool) override { return element(); }
  bool number_integer(number_integer_t) override { return element(); }
  bool number_unsigned(number_unsigned_t value) override {
    if (limits_.int64_only
        && value > static_cast<number_unsigned_t>(
             std::numeric_limits<std::int64_t>::max()))
      return refuse(json_problem::integer_out_of_range);
    return element();
  }
  bool number_float(number_float_t, const string_t& text) override {
    // nlohmann reads an integer literal too large for 64 bits as a double.
    if (limits_.int64_only && text.find_first_of(".eE") == string_t::npos)
      return refuse(json_problem::integer_out_of_range);
    return element();
  }
  bool string(string_t&) override { return element(); }
  bool binary(binary_t&) override { return element(); }

  bool start_object(std::size_t) override { return open(false); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t& name) override {
    auto& object = frames_.back();
    object.key = name;
    if (!object.keys.insert(name).second)
      return refuse(json_problem::duplicate_key);
    return true;
  }

  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::json::exception& error) override {
    problem_ = json_problem{json_problem::syntax, {},
                            std::string{without_exception_tag(error.what())}};
    return false;
  }

  std::optional<json_problem>& problem() { return problem_; }

private:
  /// An object or array being read, and where the next value goes in it.
  struct frame {
    bool array;
    std::set<std::string> keys = {};
    std::string key = {};
    std::size_t index = 0;
  };

  bool open(bool array) {
    if (frames_.size() >= limits_.max_depth)
      return refuse(json_problem::too_deep);
    frames_.push_back(frame{array});
    return true;
  }

  bool close() {
    frames_.pop_back();
    return element();
  }

  /// A complete value was read: the next one in an array gets the next index.
  bool element() {
    if (!frames_.empty() && frames_.back().array)
      ++frames_.back().index;
    return true;
  }

  /// Records a problem at the value being read.
  bool refuse(json_problem::kind_t kind) {
    json_problem found{kind};
    for (const auto& open : frames_)
      if (open.array)
        found.path.emplace_back(open.index);
      else
        found.path.emplace_back(open.key);
    problem_ = std::move(found);
    return false;
  }

  const json_limits& limits_;
  std::vector<frame> frames_;
  std::optional<json_problem> problem_;
};

} // namespace

std::string_view without_exception_tag(std::string_view message) {
  auto end_of_tag = message.find("] ");
  return end_of_tag == std::string_view::npos ? message
                                              : message.substr(end_of_tag + 2);
}

std::optional<json_problem> check_json(const std::string& text,
                                       const json_limits& limits) {
  strict_check check{limits};
  nlohmann::json::sax_parse(text, &check);
  return std::move(check.problem());
}

} // namespace cluster_actions::http
