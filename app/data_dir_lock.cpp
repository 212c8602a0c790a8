#include "app/data_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cluster_actions::app {

namespace {

/// The first line of what `fd` holds, for naming the lock's holder.
std::string first_line(int fd) {
  char buffer[64] = {};
  auto got = ::pread(fd, buffer, sizeof buffer - 1, 0);
  std::string text{buffer, got > 0 ? static_cast<std::size_t>(got) : 0};
  return text.substr(0, text.find('\n'));
}

} // namespace

data_dir_lock::data_dir_lock(const std::string& data_dir)
  : file_(data_dir + "/server.lock") {
  fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw data_dir_error("cannot open the lock file " + file_ + ": "
                         + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    auto holder = error == EWOULDBLOCK ? first_line(fd_) : std::string{};
    ::close(fd_);
    if (error != EWOULDBLOCK)
      throw data_dir_error("cannot lock " + file_ + ": "
                           + std::strerror(error));
    throw data_dir_error(
      "data_dir " + data_dir + " is in use by another server: " + file_
      + " is locked by PID " + (holder.empty() ? "(not written yet)" : holder)
      + ". Stop that server first, or give this one another data_dir.");
  }
  const auto pid = std::to_string(::getpid()) + "\n";
  // The PID only names the holder in the message above: the lock is held
  // all the same if writing it fails.
  [[maybe_unused]] bool written
    = ::ftruncate(fd_, 0) == 0
      && ::pwrite(fd_, pid.data(), pid.size(), 0)
           == static_cast<ssize_t>(pid.size());
}

data_dir_lock::~data_dir_lock() {
  ::close(fd_);
}

} // namespace cluster_actions::app
