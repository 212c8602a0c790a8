#include "http/audit_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

namespace cluster_actions::http {

namespace {

using json = nlohmann::ordered_json;

/// Bounds the memory a queued line holds, whatever a client sent.
constexpr std::size_t max_field_bytes = 1024;

/// "2024-05-02T09:14:03.120Z".
std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const auto since_epoch = now.time_since_epoch();
  const auto seconds
    = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis
    = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch
                                                            - seconds);
  const std::time_t whole = seconds.count();
  std::tm parts{};
  ::gmtime_r(&whole, &parts);
  char text[32];
  auto length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  std::snprintf(text + length, sizeof text - length, ".%03dZ",
                static_cast<int>(millis.count()));
  return text;
}

void add_text(json& object, const char* key, const std::string& value) {
  if (!value.empty())
    object[key] = value.substr(0, max_field_bytes);
}

/// One line of JSON; bytes that are not UTF-8 (a client's path or user
/// name may hold any) become U+FFFD instead of failing.
std::string to_line(const json& object) {
  return object.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string dropped_line(std::size_t dropped) {
  return to_line(json{{"time", utc_now()},
                      {"event", "audit_lines_dropped"},
                      {"dropped", dropped}});
}

int open_log(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                  0600);
  // A file that was there already (made by logrotate, say) is made
  // owner-only too: the log names users and addresses.
  if (fd >= 0 && ::fchmod(fd, 0600) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

} // namespace

audit_log::audit_log(std::string path, std::size_t capacity)
  : path_(std::move(path)), capacity_(std::max<std::size_t>(capacity, 1)) {
  fd_ = open_log(path_);
  if (fd_ < 0)
    throw std::system_error(errno, std::generic_category(),
                            "cannot open the audit log " + path_);
  writer_ = std::thread{[this] { write_loop(); }};
}

audit_log::~audit_log() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
  ::close(fd_);
}

void audit_log::record(const audit_record& entry) {
  json object{{"time", utc_now()}};
  add_text(object, "event", entry.event);
  add_text(object, "user", entry.user);
  add_text(object, "client", entry.client);
  add_text(object, "method", entry.method);
  add_text(object, "path", entry.path);
  if (entry.status != 0)
    object["status"] = entry.status;
  add_text(object, "action_uid", entry.action_uid);
  add_text(object, "action_status", entry.action_status);
  auto text = to_line(object);
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (queue_.size() >= capacity_) {
      ++dropped_;
      return;
    }
    queue_.push_back({std::move(text), std::exchange(dropped_, 0)});
  }
  wake_.notify_one();
}

void audit_log::reopen() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    reopen_requested_ = true;
  }
  wake_.notify_one();
}

void audit_log::write_loop() {
  std::unique_lock<std::mutex> guard{mutex_};
  for (;;) {
    wake_.wait(guard, [this] {
      return stopping_ || reopen_requested_ || !queue_.empty();
    });
    const bool reopen = std::exchange(reopen_requested_, false);
    auto lines = std::move(queue_);
    queue_.clear();
    // Lines dropped after the last one queued are told of at the end only:
    // until then, a later line carries their count.
    const bool last_round = stopping_;
    const auto dropped_after = last_round ? std::exchange(dropped_, 0) : 0;
    guard.unlock();
    if (reopen)
      open_again();
    write_lines(lines, dropped_after);
    guard.lock();
    if (last_round && queue_.empty())
      return;
  }
}

void audit_log::write_lines(const std::deque<line>& lines,
                            std::size_t dropped_after) {
  std::string batch;
  for (const auto& entry : lines) {
    if (entry.dropped_before > 0)
      batch += dropped_line(entry.dropped_before);
    batch += entry.text;
  }
  if (dropped_after > 0)
    batch += dropped_line(dropped_after);
  for (std::size_t done = 0; done < batch.size();) {
    auto wrote = ::write(fd_, batch.data() + done, batch.size() - done);
    if (wrote < 0 && errno == EINTR)
      continue;
    if (wrote <= 0) {
      // Said once per spell of failures, not once per line.
      if (!write_failing_)
        std::cerr << "audit log: cannot write " << path_ << ": "
                  << std::strerror(errno) << "; lines are lost until it can"
                  << std::endl;
      write_failing_ = true;
      return;
    }
    done += static_cast<std::size_t>(wrote);
  }
  write_failing_ = false;
}

void audit_log::open_again() {
  int fd = open_log(path_);
  if (fd < 0) {
    std::cerr << "audit log: cannot reopen " << path_ << ": "
              << std::strerror(errno) << "; still writing to the file open"
              << std::endl;
    return;
  }
  ::close(fd_);
  fd_ = fd;
}

} // namespace cluster_actions::http
