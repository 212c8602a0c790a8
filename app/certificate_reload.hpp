// Replacing the certificate the server presents without a restart: the
// server's own self-signed one is renewed before it expires, and an
// operator's pair is read again on request (SIGHUP). Open connections keep
// the certificate they began with.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "app/tls.hpp"

namespace cluster_actions::app {

/// Reloads `certificate` from its files and says on stderr what happened:
/// the pair now presented, or why the files were refused and that the pair
/// loaded before stays in use.
void reload_certificate(server_certificate& certificate);

/// Keeps the server's own certificate valid while it serves: a thread that
/// every `interval` (and when asked) checks the pair in its files with
/// ensure_self_signed, which makes a new one when less than renew_before is
/// left (or the files became unusable), and then has `certificate` present
/// the new pair. What it does, or fails to do, goes to stderr.
class self_signed_renewal {
public:
  /// `certificate` must outlive this object.
  self_signed_renewal(server_certificate& certificate, certificate_names names,
                      std::chrono::milliseconds interval);

  /// Stops the thread (a check under way ends first).
  ~self_signed_renewal();

  self_signed_renewal(const self_signed_renewal&) = delete;
  self_signed_renewal& operator=(const self_signed_renewal&) = delete;

  /// Has the thread check now rather than at the end of the interval.
  void check_now();

private:
  void run();
  void renew_if_due();

  server_certificate& certificate_;
  const certificate_names names_;
  const std::chrono::milliseconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool check_requested_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace cluster_actions::app
