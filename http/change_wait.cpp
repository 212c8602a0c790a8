#include "http/change_wait.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace cluster_actions::http {

namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

/// Calls `each` with every trimmed, non-empty element of a comma separated
/// header value until it returns true; returns whether one did.
template <class Predicate>
bool any_element(std::string_view list, Predicate each) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto element = trimmed(list.substr(0, comma));
    if (!element.empty() && each(element))
      return true;
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

} // namespace

std::string entity_tag(std::string_view body) {
  // FNV-1a, 64 bits: a tag only has to change with the body, not resist
  // forgery (whoever can read the body can compute its tag anyway).
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : body) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  char text[19];
  std::snprintf(text, sizeof text, "\"%016llx\"",
                static_cast<unsigned long long>(hash));
  return text;
}

bool none_match_names(std::string_view if_none_match, std::string_view tag) {
  return any_element(if_none_match, [tag](std::string_view element) {
    if (element == "*")
      return true;
    // If-None-Match compares weakly (RFC 9110, 13.1.2).
    if (element.substr(0, 2) == "W/")
      element.remove_prefix(2);
    return element == tag;
  });
}

std::optional<std::chrono::seconds> preferred_wait(std::string_view prefer) {
  std::optional<std::chrono::seconds> wait;
  any_element(prefer, [&wait](std::string_view element) {
    // A preference may carry parameters after ';': wait has none.
    element = trimmed(element.substr(0, element.find(';')));
    constexpr std::string_view name = "wait=";
    if (element.size() <= name.size())
      return false;
    for (std::size_t i = 0; i < name.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(element[i])) != name[i])
        return false;
    auto digits = element.substr(name.size());
    long long seconds = 0;
    for (char c : digits) {
      if (c < '0' || c > '9')
        return false;
      // Anything past the longest wait is the longest wait.
      seconds = std::min<long long>(seconds * 10 + (c - '0'),
                                    max_change_wait.count());
    }
    if (seconds < 1)
      return false;
    wait = std::chrono::seconds(seconds);
    return true;
  });
  return wait;
}

void change_feed::changed() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    ++version_;
  }
  changed_.notify_all();
}

void change_feed::close() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    closed_ = true;
  }
  changed_.notify_all();
}

std::uint64_t change_feed::version() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return version_;
}

change_feed::wake_reason
change_feed::wait_past(std::uint64_t seen,
                       std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> guard{mutex_};
  changed_.wait_until(guard, deadline,
                      [&] { return closed_ || version_ > seen; });
  if (closed_)
    return wake_reason::closed;
  return version_ > seen ? wake_reason::changed : wake_reason::deadline;
}

} // namespace cluster_actions::http
