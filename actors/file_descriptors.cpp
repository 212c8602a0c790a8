#include "actors/file_descriptors.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace cluster_actions::detail {

void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

unique_fd::unique_fd(unique_fd&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)) {
  // nop
}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  reset(std::exchange(other.fd_, -1));
  return *this;
}

void unique_fd::reset(int fd) {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = fd;
}

unique_fd checked(int fd, const char* what) {
  if (fd < 0)
    throw_errno(what);
  return unique_fd{fd};
}

watched_fd::watched_fd(int epoll, unique_fd fd, std::uint64_t tag)
  : epoll_(epoll), fd_(std::move(fd)) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = tag;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd_.get(), &event) < 0)
    throw_errno("epoll_ctl");
}

watched_fd& watched_fd::operator=(watched_fd&& other) noexcept {
  close();
  epoll_ = other.epoll_;
  fd_ = std::move(other.fd_);
  return *this;
}

void watched_fd::close() {
  if (!fd_)
    return;
  epoll_ctl(epoll_, EPOLL_CTL_DEL, fd_.get(), nullptr);
  fd_.reset();
}

pipe_ends make_pipe(int read_flags) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0)
    throw_errno("pipe2");
  pipe_ends ends{unique_fd{fds[0]}, unique_fd{fds[1]}};
  if (read_flags != 0 && fcntl(fds[0], F_SETFL, read_flags) < 0)
    throw_errno("fcntl");
  return ends;
}

std::size_t read_fully(int fd, void* data, std::size_t size) {
  auto bytes = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    auto n = read(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

int pidfd_open(pid_t pid) {
  // glibc 2.36's <sys/pidfd.h> lacks C linkage in C++, hence the raw call.
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

} // namespace cluster_actions::detail
