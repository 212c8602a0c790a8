// Records every response a test client receives as one JSON line in the
// file that CLUSTER_ACTIONS_RESPONSE_LOG names (nothing when it is unset),
// so that tests/scripts/check_responses.py can check each one against
// docs/openapi.yaml and the document cannot drift from the server.
#pragma once

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace cluster_actions::testing {

/// Makes `client` (an httplib::Client or SSLClient) record its responses.
template <class Client>
void record_responses(Client& client) {
  const char* path = std::getenv("CLUSTER_ACTIONS_RESPONSE_LOG");
  if (path == nullptr || *path == '\0')
    return;
  client.set_logger([file = std::string{path}](const httplib::Request& req,
                                               const httplib::Response& res) {
    nlohmann::json line{{"method", req.method},
                        {"path", req.path},
                        {"status", res.status},
                        {"content_type", res.get_header_value("Content-Type")},
                        {"body", res.body}};
    // Clients of several threads share the file.
    static std::mutex mutex;
    std::lock_guard<std::mutex> guard{mutex};
    std::ofstream out{file, std::ios::app};
    out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << '\n';
  });
}

} // namespace cluster_actions::testing
