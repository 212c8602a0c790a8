// The OpenAPI document of the whole API (docs/openapi.yaml), which GET
// /v1/openapi.json serves. Generated at build time.
#pragma once

#include <string_view>

namespace cluster_actions::http {

/// docs/openapi.yaml as compact JSON.
std::string_view openapi_json();

} // namespace cluster_actions::http
