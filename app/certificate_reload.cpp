#include "app/certificate_reload.hpp"

#include <iostream>
#include <utility>

namespace cluster_actions::app {

void reload_certificate(server_certificate& certificate) {
  const auto& files = certificate.files();
  try {
    certificate.reload();
    std::cerr << "reloaded the certificate " << files.cert_file
              << " and its key " << files.key_file
              << ": new connections get it" << std::endl;
  } catch (const tls_error& e) {
    std::cerr << "cannot reload the certificate: " << e.what()
              << "; the one loaded before stays in use" << std::endl;
  }
}

self_signed_renewal::self_signed_renewal(server_certificate& certificate,
                                         certificate_names names,
                                         std::chrono::milliseconds interval)
  : certificate_(certificate),
    names_(std::move(names)),
    interval_(interval),
    thread_([this] { run(); }) {
  // nop
}

self_signed_renewal::~self_signed_renewal() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void self_signed_renewal::check_now() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    check_requested_ = true;
  }
  wake_.notify_one();
}

void self_signed_renewal::run() {
  std::unique_lock<std::mutex> guard{mutex_};
  for (;;) {
    wake_.wait_for(guard, interval_,
                   [this] { return stopping_ || check_requested_; });
    if (stopping_)
      return;
    check_requested_ = false;
    guard.unlock();
    renew_if_due();
    guard.lock();
  }
}

void self_signed_renewal::renew_if_due() {
  try {
    auto note = ensure_self_signed(certificate_.files(), names_);
    if (note.empty())
      return;
    certificate_.reload();
    std::cerr << note << "; new connections get it" << std::endl;
  } catch (const tls_error& e) {
    std::cerr << "cannot renew the self-signed certificate: " << e.what()
              << "; the one loaded before stays in use" << std::endl;
  }
}

} // namespace cluster_actions::app
