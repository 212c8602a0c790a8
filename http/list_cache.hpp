// The last list of runs rendered as JSON, shared by every handler thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "messages/action_status.hpp"

namespace cluster_actions::http {

/// Renders the list again only when it differs from the last one rendered:
/// between changes, which are rare next to reads, a poll of the list costs
/// a comparison instead of a rendering. One copy for all handler threads,
/// so that a long list is held twice at most. Thread-safe.
class list_cache {
public:
  /// `{"actions": [...]}` of `statuses`, which it may keep.
  std::shared_ptr<const std::string>
  json_of(std::vector<action_status>& statuses);

private:
  std::mutex mutex_;
  std::vector<action_status> last_;
  std::shared_ptr<const std::string> last_json_;
};

} // namespace cluster_actions::http
