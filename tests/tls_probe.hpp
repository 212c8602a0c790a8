// A bare TLS client for the suites that check which certificate a server
// presents: it does not verify the certificate (what is tested is which
// one comes), and keeps one connection open across requests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace cluster_actions::testing {

/// The serial number of `cert` in hex, e.g. "5A0F...".
inline std::string serial_of(X509* cert) {
  REQUIRE(cert != nullptr);
  std::unique_ptr<BIGNUM, void (*)(BIGNUM*)> number{
    ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr), BN_free};
  REQUIRE(number);
  char* hex = BN_bn2hex(number.get());
  std::string result{hex};
  OPENSSL_free(hex);
  return result;
}

/// One TLS connection to 127.0.0.1:`port`, handshake done.
class tls_connection {
public:
  explicit tls_connection(int port)
    : ctx_(SSL_CTX_new(TLS_client_method()), SSL_CTX_free),
      ssl_(nullptr, SSL_free) {
    REQUIRE(ctx_);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval timeout{10, 0}; // no read or write waits longer
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address),
                      sizeof address)
            == 0);
    ssl_.reset(SSL_new(ctx_.get()));
    REQUIRE(ssl_);
    SSL_set_fd(ssl_.get(), fd_);
    REQUIRE(SSL_connect(ssl_.get()) == 1);
  }

  ~tls_connection() {
    ssl_.reset();
    ::close(fd_);
  }

  tls_connection(const tls_connection&) = delete;
  tls_connection& operator=(const tls_connection&) = delete;

  SSL* ssl() const {
    return ssl_.get();
  }
  int fd() const {
    return fd_;
  }

  /// The serial of the certificate the server presented.
  std::string serial() const {
    std::unique_ptr<X509, void (*)(X509*)> cert{
      SSL_get1_peer_certificate(ssl_.get()), X509_free};
    return serial_of(cert.get());
  }

  /// Sends a GET of `path` on this connection (keep-alive) and returns the
  /// status line of the answer, e.g. "HTTP/1.1 401 Unauthorized"; "" when
  /// the connection is gone.
  std::string get(const std::string& path) {
    const std::string request
      = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (SSL_write(ssl_.get(), request.data(), static_cast<int>(request.size()))
        <= 0)
      return "";
    // The head, then as many body bytes as Content-Length says.
    std::string received;
    std::size_t head_end = std::string::npos;
    std::size_t length = 0;
    while (head_end == std::string::npos
           || received.size() < head_end + 4 + length) {
      char buffer[4096];
      int got = SSL_read(ssl_.get(), buffer, sizeof buffer);
      if (got <= 0)
        return "";
      received.append(buffer, static_cast<std::size_t>(got));
      if (head_end == std::string::npos
          && (head_end = received.find("\r\n\r\n")) != std::string::npos) {
        auto at = received.find("Content-Length: ");
        if (at != std::string::npos && at < head_end)
          length = std::stoul(received.substr(at + 16));
      }
    }
    return received.substr(0, received.find("\r\n"));
  }

private:
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx_;
  std::unique_ptr<SSL, void (*)(SSL*)> ssl_;
  int fd_ = -1;
};

/// The serial of the certificate a new connection to `port` is presented.
inline std::string presented_serial(int port) {
  return tls_connection{port}.serial();
}

/// The serial of the first certificate in PEM file `path`.
inline std::string file_serial(const std::string& path) {
  std::unique_ptr<BIO, void (*)(BIO*)> bio{BIO_new_file(path.c_str(), "r"),
                                           BIO_free_all};
  REQUIRE(bio);
  std::unique_ptr<X509, void (*)(X509*)> cert{
    PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free};
  return serial_of(cert.get());
}

} // namespace cluster_actions::testing
