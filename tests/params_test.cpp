#include <catch2/catch.hpp>

#include "actors/action_type.hpp"

using namespace cluster_actions;

namespace {

const param_schema schema{
  {"target", {param_type::string, true}},
  {"count", {param_type::integer, false}},
  {"ratio", {param_type::number, false}},
  {"force", {param_type::boolean, false}},
};

param_value of(param_kind kind, std::string text) {
  return {kind, std::move(text)};
}

std::string problem(const action_params& params) {
  auto err = validate_params(schema, params);
  REQUIRE(err == action_error::invalid_params);
  return error_description(err);
}

} // namespace

TEST_CASE("parameters that fit their declaration pass") {
  CHECK_FALSE(validate_params(schema, {{"target", of(param_kind::string, "a")}}));
  CHECK_FALSE(validate_params(
    schema, {{"target", of(param_kind::string, "a")},
             {"count", of(param_kind::integer, "3")},
             {"ratio", of(param_kind::integer, "1")},
             {"force", of(param_kind::boolean, "true")}}));
  CHECK_FALSE(validate_params(
    schema, {{"target", of(param_kind::string, "")},
             {"ratio", of(param_kind::number, "0.5")}}));
  CHECK_FALSE(validate_params({}, {}));
}

TEST_CASE("an undeclared parameter is named with the declared ones") {
  auto text = problem({{"target", of(param_kind::string, "a")},
                       {"colour", of(param_kind::string, "red")}});
  CHECK(text == "unknown parameter 'colour' (declared parameters: count, "
                "force, ratio, target)");
  auto err = validate_params({}, {{"x", of(param_kind::string, "1")}});
  CHECK(error_description(err)
        == "unknown parameter 'x' (this action type takes no parameters)");
}

TEST_CASE("a missing required parameter is named") {
  CHECK(problem({}) == "missing required parameter 'target' (a string)");
}

TEST_CASE("a value of the wrong type is named with the expected type") {
  CHECK(problem({{"target", of(param_kind::integer, "1")}})
        == "parameter 'target' must be a string");
  CHECK(problem({{"target", of(param_kind::string, "a")},
                 {"count", of(param_kind::number, "1.5")}})
        == "parameter 'count' must be an integer");
  CHECK(problem({{"target", of(param_kind::string, "a")},
                 {"count", of(param_kind::string, "1")}})
        == "parameter 'count' must be an integer");
  CHECK(problem({{"target", of(param_kind::string, "a")},
                 {"force", of(param_kind::string, "yes")}})
        == "parameter 'force' must be a boolean");
  CHECK(problem({{"target", of(param_kind::null, "")}})
        == "parameter 'target' must be a string");
  CHECK(problem({{"target", of(param_kind::composite, "[1]")}})
        == "parameter 'target' must be a string");
}
