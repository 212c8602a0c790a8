#include "http/list_cache.hpp"

#include <utility>

#include "http/json_mapping.hpp"

namespace cluster_actions::http {

std::shared_ptr<const std::string>
list_cache::json_of(std::vector<action_status>& statuses) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (!last_json_ || last_ != statuses) {
    last_json_ = std::make_shared<const std::string>(action_list_json(statuses));
    last_ = std::move(statuses);
  }
  return last_json_;
}

} // namespace cluster_actions::http
