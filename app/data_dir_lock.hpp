// One server per data_dir: an exclusive lock on a file in it that names the
// process holding it.
#pragma once

#include <stdexcept>
#include <string>

namespace cluster_actions::app {

/// A data_dir the server must not use as it is: another server holds it, or
/// its status store is damaged, another application's or of a newer schema.
/// what() says what is wrong and what to do; the server exits with status 2
/// having changed nothing in the data_dir.
class data_dir_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// An exclusive `flock` on `data_dir/server.lock`, held for the object's
/// life, with the holder's PID written in the file. The kernel releases it
/// when the process dies, `kill -9` included, so a stale file never blocks
/// a restart. Commands do not inherit it (close-on-exec).
class data_dir_lock {
public:
  /// Takes the lock without waiting. Throws data_dir_error naming the lock
  /// file and the PID in it when another process holds it, or when the file
  /// cannot be opened.
  explicit data_dir_lock(const std::string& data_dir);

  /// Releases the lock.
  ~data_dir_lock();

  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;

  /// The lock file.
  const std::string& file() const noexcept {
    return file_;
  }

private:
  std::string file_;
  int fd_ = -1;
};

} // namespace cluster_actions::app
