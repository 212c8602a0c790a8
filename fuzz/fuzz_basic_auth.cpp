// An Authorization header value -> the user it authenticates. Invariant:
// only the exact credentials of a configured user let anyone in.
#include <cstdint>
#include <string>
#include <string_view>

#include "http/basic_auth.hpp"

using namespace cluster_actions::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const user_directory users{{
    {"admin@example.com", "s3cret:with colon", role::admin},
    {"viewer@example.com", "v", role::db_viewer},
  }};
  std::string_view header(reinterpret_cast<const char*>(data), size);
  const user* who = users.authenticate(header);
  if (who != nullptr && who->email != "admin@example.com"
      && who->email != "viewer@example.com")
    __builtin_trap();
  return 0;
}
