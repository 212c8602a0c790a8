// The library's type-ID block next to a host's own, and what
// `add_message_types` registers: the messages survive serialization, which
// is what crossing a process boundary needs.
#include <catch2/catch.hpp>

#include <vector>

#include <caf/all.hpp>

#include "messages/type_ids.hpp"

namespace host {

struct reading {
  int value = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reading& x) {
  return f(caf::meta::type_name("host::reading"), x.value);
}

} // namespace host

// A host's block where CAF's convention puts it. Both blocks in one file
// compile only because their IDs are disjoint.
CAF_BEGIN_TYPE_ID_BLOCK(type_ids_test_host, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(type_ids_test_host, (host::reading))
CAF_END_TYPE_ID_BLOCK(type_ids_test_host)

using namespace cluster_actions;

static_assert(caf::id_block::cluster_actions::begin
                == caf::first_custom_type_id + 1000,
              "the documented start of the block");
static_assert(caf::id_block::cluster_actions::end
                <= caf::first_custom_type_id + 1100,
              "the block stays small");
static_assert(caf::id_block::type_ids_test_host::end
                <= caf::id_block::cluster_actions::begin,
              "a host block at first_custom_type_id stays below ours");

TEST_CASE("the message types cross a serialization round trip") {
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  add_message_types(cfg);
  cfg.add_message_types<caf::id_block::type_ids_test_host>();
  caf::actor_system sys{cfg};
  action_status status{"reindex", "uid-1", action_state::failed, 42.5,
                       "boom", "it broke"};
  status.creation_time = 1796001453235;
  status.started_by = "admin@example.com";
  status.result = "/data/bundle.tar.gz";
  action_params params{{"n", {param_kind::integer, "3"}}};
  auto outcome = work_outcome::failure("code", "message");
  outcome.result = "partial";
  run_record record{status, params, 42};
  auto original = caf::make_message(status, std::vector<action_status>{status},
                                    params, outcome, host::reading{7},
                                    std::vector<run_record>{record});
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE(!sink(original));
  caf::message copy;
  caf::binary_deserializer source{sys, buf};
  REQUIRE(!source(copy));
  REQUIRE(copy.match_elements<action_status, std::vector<action_status>,
                              action_params, work_outcome, host::reading,
                              std::vector<run_record>>());
  CHECK(copy.get_as<action_status>(0) == status);
  CHECK(copy.get_as<std::vector<action_status>>(1).at(0) == status);
  CHECK(copy.get_as<action_params>(2) == params);
  CHECK(copy.get_as<work_outcome>(3).error_message == "message");
  CHECK(copy.get_as<work_outcome>(3).result == "partial");
  CHECK(copy.get_as<host::reading>(4).value == 7);
  CHECK(copy.get_as<std::vector<run_record>>(5).at(0) == record);
}

TEST_CASE("the error category renders the library's errors") {
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  auto err = caf::make_error(action_error::conflict,
                             std::string{"already running"});
  CHECK(sys.render(err) == "conflict: already running");
}
