// The Date header's value (RFC 9110, 5.6.7). Internal to the REST front.
#pragma once

#include <chrono>
#include <string>

namespace cluster_actions::http {

/// `now` as an IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::chrono::system_clock::time_point now
                      = std::chrono::system_clock::now());

} // namespace cluster_actions::http
