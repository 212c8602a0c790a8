// File descriptors as values that close themselves: what the process
// monitor holds for every run (its output pipes, its pidfd) and for itself
// (its epoll set, its wake-up eventfd).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace cluster_actions::detail {

/// Throws std::system_error for `errno`, saying what failed.
[[noreturn]] void throw_errno(const char* what);

/// Owns a file descriptor.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept;
  unique_fd& operator=(unique_fd&& other) noexcept;
  ~unique_fd() {
    reset();
  }

  int get() const {
    return fd_;
  }
  explicit operator bool() const {
    return fd_ >= 0;
  }
  /// Closes the descriptor held, if any, and holds `fd` instead.
  void reset(int fd = -1);

private:
  int fd_ = -1;
};

/// Takes ownership of the result of a call returning a descriptor or -1;
/// throws std::system_error, saying `what` failed, for -1.
unique_fd checked(int fd, const char* what);

/// A descriptor in an epoll set, whose events carry `tag`.
class watched_fd {
public:
  watched_fd() = default;
  /// Adds `fd` to `epoll` for input; throws std::system_error on failure.
  watched_fd(int epoll, unique_fd fd, std::uint64_t tag);
  watched_fd(watched_fd&& other) noexcept = default;
  watched_fd& operator=(watched_fd&& other) noexcept;
  ~watched_fd() {
    close();
  }

  int get() const {
    return fd_.get();
  }
  explicit operator bool() const {
    return static_cast<bool>(fd_);
  }
  /// Leaves the epoll set explicitly: closing alone would not do while a
  /// child another thread is forking holds a copy of the descriptor.
  void close();

private:
  int epoll_ = -1;
  unique_fd fd_;
};

struct pipe_ends {
  unique_fd read;
  unique_fd write;
};

/// A close-on-exec pipe; `read_flags` are added to the read end's status.
pipe_ends make_pipe(int read_flags = 0);

/// Reads exactly `size` bytes unless end of file comes first; returns how
/// many it read.
std::size_t read_fully(int fd, void* data, std::size_t size);

/// A pidfd of `pid` (Linux 5.3), or -1 with errno set.
int pidfd_open(pid_t pid);

} // namespace cluster_actions::detail
