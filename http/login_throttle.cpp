#include "http/login_throttle.hpp"

#include <algorithm>

namespace cluster_actions::http {

login_throttle::login_throttle(settings config) : config_(config) {
  config_.limit = std::max<std::size_t>(config_.limit, 1);
  config_.max_addresses = std::max<std::size_t>(config_.max_addresses, 1);
}

void login_throttle::expire(clock::time_point now) {
  while (!starts_.empty() && now - starts_.front().first >= config_.window) {
    auto found = entries_.find(starts_.front().second);
    if (found != entries_.end() && found->second.start == starts_.front().first)
      entries_.erase(found);
    starts_.pop_front();
  }
}

std::optional<std::chrono::seconds>
login_throttle::refused(const std::string& address, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  expire(now);
  auto found = entries_.find(address);
  if (found == entries_.end() || found->second.failures < config_.limit)
    return std::nullopt;
  auto left = found->second.start + config_.window - now;
  if (left <= clock::duration::zero()) // ended, not yet expired (see below)
    return std::nullopt;
  // Rounded up: a client that waits as long as told is let in.
  auto seconds = std::chrono::ceil<std::chrono::seconds>(left);
  return std::max(seconds, std::chrono::seconds{1});
}

void login_throttle::failed(const std::string& address,
                            clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  expire(now);
  auto found = entries_.find(address);
  if (found != entries_.end()) {
    if (now - found->second.start < config_.window) {
      ++found->second.failures;
      return;
    }
    // Callers read the clock before taking the lock, so records can arrive
    // slightly out of order and a window can end before expire() sees it.
    entries_.erase(found);
  }
  // Bounded memory: forget the oldest windows first. Their addresses lose
  // their count early, which only an attacker with that many addresses at
  // once can bring about.
  while (entries_.size() >= config_.max_addresses && !starts_.empty()) {
    auto oldest = entries_.find(starts_.front().second);
    if (oldest != entries_.end()
        && oldest->second.start == starts_.front().first)
      entries_.erase(oldest);
    starts_.pop_front();
  }
  entries_.emplace(address, entry{now, 1});
  starts_.emplace_back(now, address);
}

std::size_t login_throttle::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return entries_.size();
}

} // namespace cluster_actions::http
