// HTTPS for the server: its certificate and key, self-signed ones it makes
// for itself, and the cpp-httplib server that presents them.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/rest_api.hpp"

namespace httplib {
class Server;
}

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace cluster_actions::app {

/// A certificate (PEM, optionally followed by its chain) and its private
/// key (PEM, unencrypted).
struct tls_files {
  std::string cert_file;
  std::string key_file;
};

/// A certificate or key that cannot be used; what() says which file and
/// why, never any of its content.
class tls_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The names a self-signed certificate is made for.
struct certificate_names {
  std::vector<std::string> dns;
  std::vector<std::string> ip; ///< textual IPv4 or IPv6 addresses
};

/// The server's own pair in `data_dir`: server-cert.pem and server-key.pem.
tls_files self_signed_files(const std::string& data_dir);

/// How long a self-signed certificate is valid; one is replaced (at
/// start-up, and by self_signed_renewal while serving) once less than
/// `renew_before` is left.
constexpr auto self_signed_validity = std::chrono::hours{24 * 825};
constexpr auto renew_before = std::chrono::hours{24 * 30};
/// How far back a self-signed certificate's validity starts; part of
/// `validity`, not added to it.
constexpr std::chrono::seconds certificate_backdating = std::chrono::hours{1};

/// The TLS 1.2 cipher suites served, in OpenSSL's notation: forward secret
/// and AEAD (AES-GCM, ChaCha20-Poly1305), for EC and RSA keys.
constexpr const char* tls12_ciphers
  = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// Makes an EC P-256 key and a self-signed X.509 v3 certificate for `names`
/// (subject alternative names; the first DNS name is also the common name),
/// valid for `validity` from `certificate_backdating` ago, and writes both
/// as PEM. Each file
/// is written under a temporary name and renamed into place; the key is
/// created with mode 0600 and so is never readable by others, the
/// certificate gets 0644. Throws tls_error.
void write_self_signed(const tls_files& files, const certificate_names& names,
                       std::chrono::seconds validity = self_signed_validity);

/// Checks that both files can be read and parsed and that the key belongs
/// to the certificate. Throws tls_error naming `cert_key` or `key_key` (the
/// configuration keys, e.g. "tls.cert_file") and the file.
void check_tls_files(const tls_files& files, const std::string& cert_key,
                     const std::string& key_key);

/// Reuses the pair in `files` when both load, match, name everything in
/// `names` and are valid for at least `renew_before`; otherwise writes a
/// new one. Returns what happened, for the server's log: "generated ..." or
/// "" when reused. A file that exists but cannot be read (permissions) is a
/// tls_error, not a reason to replace it.
std::string ensure_self_signed(const tls_files& files,
                               const certificate_names& names);

/// The certificate (with the rest of its chain) and key an HTTPS server
/// presents, replaceable while it serves: each connection gets the pair
/// that is current when its handshake begins, and keeps it. Thread-safe.
class server_certificate {
public:
  /// Loads `files`; throws tls_error naming `cert_key` or `key_key` (the
  /// configuration keys, as check_tls_files does) and the file.
  server_certificate(tls_files files, std::string cert_key,
                     std::string key_key);

  /// Loads the files again; from then on new connections get the new
  /// pair. Throws tls_error, and keeps the current pair, when they do not
  /// load or do not belong together.
  void reload();

  /// Makes every handshake on `ctx` present the current pair. `ctx` must
  /// not outlive this object.
  void present_on(SSL_CTX& ctx) const;

  const tls_files& files() const {
    return files_;
  }

private:
  /// A context that holds nothing but the pair, as OpenSSL loaded it.
  using loaded_pair = std::shared_ptr<SSL_CTX>;

  loaded_pair load() const;
  loaded_pair current() const;
  static int present(SSL* ssl, void* self);

  const tls_files files_;
  const std::string cert_key_;
  const std::string key_key_;
  mutable std::mutex mutex_;
  loaded_pair current_;
};

/// The REST front's HTTPS server (http::rest_tls_server, set up with
/// `settings`) presenting `certificate`, which must outlive it: TLS 1.2 at
/// least (with `tls12_ciphers`), without compression or renegotiation.
/// Throws tls_error.
std::unique_ptr<httplib::Server>
make_https_server(const server_certificate& certificate,
                  const http::rest_settings& settings);

} // namespace cluster_actions::app
