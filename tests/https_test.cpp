// HTTPS: the server's own self-signed certificate and an operator's, every
// endpoint through a client that verifies the certificate, TLS versions,
// and plain HTTP sent to the HTTPS port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "app/server.hpp"
#include "app/tls.hpp"
#include "running_server.hpp"
#include "response_log.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
namespace app = cluster_actions::app;
namespace http = cluster_actions::http;
namespace fs = std::filesystem;

namespace {

using cluster_actions::testing::temp_dir;

constexpr const char* password = "tls-test-password";
const std::string list_path = "/v1/cluster/actions";

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

app::server_config https_config(const temp_dir& dir) {
  app::server_config config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.data_dir = dir.file("data");
  config.users.push_back({"admin@example.com", password, http::role::admin});
  config.users.push_back(
    {"viewer@example.com", password, http::role::cluster_viewer});
  app::command_action quick;
  quick.name = "quick";
  quick.command = {"/bin/sh", "-c", "echo 'progress: 50'; exit 0"};
  config.actions.push_back(quick);
  return config;
}

using test_server = cluster_actions::testing::running_server;

/// A client that accepts the server only if its certificate verifies
/// against `ca_file` and names `host`.
std::unique_ptr<httplib::SSLClient>
verifying_client(const std::string& host, int port, const std::string& ca_file,
                 const std::string& email = "admin@example.com") {
  auto client = std::make_unique<httplib::SSLClient>(host, port);
  client->set_ca_cert_path(ca_file.c_str());
  client->enable_server_certificate_verification(true);
  client->set_connection_timeout(5s);
  client->set_read_timeout(10s);
  cluster_actions::testing::record_responses(*client);
  if (!email.empty())
    client->set_basic_auth(email.c_str(), password);
  return client;
}

json body_of(const httplib::Result& res, int status) {
  REQUIRE(res);
  INFO(res->status << " " << res->body);
  CHECK(res->status == status);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  return json::parse(res->body);
}

/// Every endpoint and the 401/403 answers, over `client`.
void call_every_endpoint(httplib::SSLClient& admin,
                         httplib::SSLClient& viewer,
                         httplib::SSLClient& anonymous) {
  const std::string one = list_path + "/quick";
  CHECK(body_of(admin.Get(list_path.c_str()), 200)
        == json::parse(R"({"actions": []})"));
  auto started = body_of(admin.Post(one.c_str()), 200);
  CHECK(started["status"] == "queued");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  json shown;
  do {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(5ms); // poll interval
    shown = body_of(admin.Get(one.c_str()), 200);
  } while (shown["status"] != "completed");
  CHECK(shown["action_uid"] == started["action_uid"]);
  CHECK(shown["progress"] == 100.0);
  CHECK(body_of(viewer.Get(list_path.c_str()), 200)["actions"].size() == 1);
  CHECK(body_of(viewer.Delete(one.c_str()), 403)["error_code"] == "forbidden");
  CHECK(body_of(anonymous.Get(list_path.c_str()), 401)["error_code"]
        == "unauthorized");
  CHECK(body_of(admin.Delete(one.c_str()), 200)["status"] == "completed");
  CHECK(body_of(admin.Get(one.c_str()), 404)["error_code"] == "not_found");
}

void check_verified_calls(const app::server& server, const std::string& ca) {
  for (const char* host : {"127.0.0.1", "localhost"}) {
    INFO("connecting to " << host);
    auto admin = verifying_client(host, server.port(), ca);
    auto viewer = verifying_client(host, server.port(), ca,
                                   "viewer@example.com");
    auto anonymous = verifying_client(host, server.port(), ca, "");
    call_every_endpoint(*admin, *viewer, *anonymous);
  }
}

mode_t mode_of(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

/// The certificate in a PEM file.
std::unique_ptr<X509, void (*)(X509*)> load_certificate(const std::string& path) {
  auto text = read_file(path);
  auto* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  REQUIRE(bio != nullptr);
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  REQUIRE(cert != nullptr);
  return {cert, X509_free};
}

/// A TCP connection to 127.0.0.1:`port`.
int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address)
          == 0);
  return fd;
}

/// Whether a TLS handshake with a client limited to `max_version` succeeds
/// (certificate not verified; the protocol is what is tested).
/// Whether a handshake of at most `max_version` succeeds, the client
/// offering only `tls12_ciphers` (OpenSSL's notation) when given.
bool handshake_succeeds(int port, int max_version,
                        const char* tls12_ciphers = nullptr) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx != nullptr);
  // Level 0 lets this client offer the old versions and suites at all.
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(ctx, max_version);
  if (tls12_ciphers != nullptr)
    REQUIRE(SSL_CTX_set_cipher_list(ctx, tls12_ciphers) == 1);
  SSL* ssl = SSL_new(ctx);
  int fd = connect_to(port);
  SSL_set_fd(ssl, fd);
  bool connected = SSL_connect(ssl) == 1;
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  return connected;
}

} // namespace

TEST_CASE("HTTPS with the server's own self-signed certificate") {
  temp_dir dir;
  auto config = https_config(dir);
  const auto cert_file = dir.file("data/server-cert.pem");
  const auto key_file = dir.file("data/server-key.pem");
  std::string first_cert;
  {
    test_server server{config};
    CHECK(server->certificate_file() == cert_file);
    CHECK(server->url() == "https://127.0.0.1:" + std::to_string(server->port()));
    CHECK(mode_of(key_file) == 0600);
    CHECK(mode_of(cert_file) == 0644);
    first_cert = read_file(cert_file);
    check_verified_calls(*server, cert_file);
  }

  SECTION("the certificate names the node, localhost and the loopback "
          "addresses") {
    auto cert = load_certificate(cert_file);
    char host[256] = {};
    REQUIRE(::gethostname(host, sizeof host - 1) == 0);
    for (std::string name : {std::string{host}, std::string{"localhost"}}) {
      INFO(name);
      CHECK(X509_check_host(cert.get(), name.data(), name.size(), 0, nullptr)
            == 1);
    }
    CHECK(X509_check_ip_asc(cert.get(), "127.0.0.1", 0) == 1);
    CHECK(X509_check_ip_asc(cert.get(), "::1", 0) == 1);
    CHECK(X509_check_host(cert.get(), "example.com", 11, 0, nullptr) != 1);
    // Valid now, for two years at least.
    CHECK(X509_cmp_current_time(X509_get0_notBefore(cert.get())) < 0);
    std::time_t in_two_years = std::time(nullptr) + 2 * 365 * 24 * 3600;
    CHECK(X509_cmp_time(X509_get0_notAfter(cert.get()), &in_two_years) > 0);
  }

  SECTION("a later start reuses the pair") {
    test_server server{config};
    CHECK(read_file(cert_file) == first_cert);
    auto admin = verifying_client("127.0.0.1", server->port(), cert_file);
    CHECK(body_of(admin->Get(list_path.c_str()), 200).contains("actions"));
  }

  SECTION("a client that trusts another certificate refuses the server") {
    app::write_self_signed({dir.file("other-cert.pem"),
                            dir.file("other-key.pem")},
                           {{"localhost"}, {"127.0.0.1"}});
    test_server server{config};
    auto client = verifying_client("127.0.0.1", server->port(),
                                   dir.file("other-cert.pem"));
    auto res = client->Get(list_path.c_str());
    CHECK_FALSE(res);
    CHECK(res.error() == httplib::Error::SSLServerVerification);
  }
}

TEST_CASE("HTTPS with a certificate the configuration names") {
  temp_dir dir;
  const app::tls_files given{dir.file("given-cert.pem"),
                             dir.file("given-key.pem")};
  app::write_self_signed(given, {{"localhost"}, {"127.0.0.1"}});
  auto config = https_config(dir);
  config.tls.mode = app::tls_mode::files;
  config.tls.cert_file = given.cert_file;
  config.tls.key_file = given.key_file;
  test_server server{config};
  CHECK(server->certificate_file() == given.cert_file);
  CHECK_FALSE(fs::exists(dir.file("data/server-cert.pem")));
  CHECK_FALSE(fs::exists(dir.file("data/server-key.pem")));
  check_verified_calls(*server, given.cert_file);
}

TEST_CASE("a configured pair that does not fit is refused at start-up") {
  temp_dir dir;
  const app::tls_files mine{dir.file("c.pem"), dir.file("k.pem")};
  const app::tls_files other{dir.file("c2.pem"), dir.file("k2.pem")};
  app::write_self_signed(mine, {{"localhost"}, {}});
  app::write_self_signed(other, {{"localhost"}, {}});
  auto config = https_config(dir);
  config.tls.mode = app::tls_mode::files;
  config.tls.cert_file = mine.cert_file;
  config.tls.key_file = other.key_file;
  CHECK_THROWS_AS(app::server{config}, app::tls_error);
  config.tls.key_file = dir.file("absent.pem");
  CHECK_THROWS_WITH(app::server{config},
                    "tls.key_file: cannot read \"" + dir.file("absent.pem")
                      + "\": No such file or directory");
}

TEST_CASE("plain HTTP is refused off loopback, also when assembled in "
          "code") {
  temp_dir dir;
  auto config = https_config(dir);
  config.tls.mode = app::tls_mode::off;
  config.host = "0.0.0.0";
  CHECK_THROWS_WITH(app::server{config},
                    Catch::StartsWith("plain HTTP (\"tls\": false) is allowed "
                                      "only on a loopback address"));
}

TEST_CASE("the self-signed pair is replaced when it cannot be reused") {
  temp_dir dir;
  const app::tls_files files{dir.file("cert.pem"), dir.file("key.pem")};
  const app::certificate_names names{{"node1", "localhost"}, {"127.0.0.1"}};

  CHECK_THAT(app::ensure_self_signed(files, names),
             Catch::StartsWith("generated a self-signed certificate for "
                               "node1, localhost, 127.0.0.1: "
                               + files.cert_file));
  CHECK(app::ensure_self_signed(files, names).empty());
  auto replaced = [&](const std::string& reason) {
    auto before = read_file(files.cert_file);
    auto note = app::ensure_self_signed(files, names);
    INFO(note);
    CHECK_THAT(note, Catch::Contains("replacing one that was unusable: "
                                     + reason));
    CHECK(read_file(files.cert_file) != before);
    CHECK(app::ensure_self_signed(files, names).empty());
    app::check_tls_files(files, "cert", "key");
  };

  SECTION("it expires soon") {
    app::write_self_signed(files, names, std::chrono::hours{24 * 20});
    replaced("it expires within 30 days");
  }
  SECTION("it lacks a name the server now has") {
    app::write_self_signed(files, {{"node1"}, {"127.0.0.1"}});
    replaced("it does not name localhost");
  }
  SECTION("the key is not the certificate's") {
    app::write_self_signed({files.cert_file, dir.file("other-key.pem")},
                           names);
    replaced("key: \"" + files.key_file
             + "\" is not the private key of the certificate");
  }
  SECTION("one of the files is gone or damaged") {
    fs::remove(files.cert_file);
    replaced("certificate: cannot read \"" + files.cert_file
             + "\": No such file or directory");
    std::ofstream{files.key_file} << "-----BEGIN PRIVATE KEY-----\nx\n";
    replaced("key: \"" + files.key_file
             + "\" holds no unencrypted PEM private key");
  }
  SECTION("a file that cannot be read is an error, not replaced") {
    fs::remove(files.key_file);
    fs::create_directory(files.key_file);
    CHECK_THROWS_WITH(app::ensure_self_signed(files, names),
                      Catch::StartsWith("cannot read \"" + files.key_file
                                        + "\": Is a directory"));
  }
}

TEST_CASE("the key is created owner-only whatever the umask") {
  temp_dir dir;
  const app::tls_files files{dir.file("cert.pem"), dir.file("key.pem")};
  auto previous = ::umask(0);
  app::write_self_signed(files, {{"localhost"}, {}});
  ::umask(previous);
  CHECK(mode_of(files.key_file) == 0600);
  CHECK(mode_of(files.cert_file) == 0644);
  // No temporary file is left beside them.
  CHECK(std::distance(fs::directory_iterator{dir.file("")},
                      fs::directory_iterator{})
        == 2);
}

TEST_CASE("TLS 1.2 is the oldest version served") {
  temp_dir dir;
  const app::tls_files files{dir.file("cert.pem"), dir.file("key.pem")};
  app::write_self_signed(files, {{"localhost"}, {"127.0.0.1"}});
  const app::server_certificate certificate{files, "cert", "key"};
  auto https = app::make_https_server(certificate, {});
  auto* ssl_server = dynamic_cast<httplib::SSLServer*>(https.get());
  REQUIRE(ssl_server != nullptr);
  CHECK(SSL_CTX_get_min_proto_version(ssl_server->ssl_context())
        == TLS1_2_VERSION);

  test_server server{https_config(dir)};
  CHECK(handshake_succeeds(server->port(), TLS1_3_VERSION));
  CHECK(handshake_succeeds(server->port(), TLS1_2_VERSION));
  CHECK_FALSE(handshake_succeeds(server->port(), TLS1_1_VERSION));
  CHECK_FALSE(handshake_succeeds(server->port(), TLS1_VERSION));
}

TEST_CASE("plain HTTP sent to the HTTPS port gets a closed connection") {
  temp_dir dir;
  test_server server{https_config(dir)};
  const auto deadline = 3s;

  SECTION("a raw request is answered by closing") {
    auto started = std::chrono::steady_clock::now();
    int fd = connect_to(server->port());
    const std::string request = "GET " + list_path
                                + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL)
            == static_cast<ssize_t>(request.size()));
    // Read until end of file or reset; no HTTP answer comes.
    std::string received;
    bool closed = false;
    while (!closed) {
      pollfd ready{fd, POLLIN, 0};
      auto left = deadline - (std::chrono::steady_clock::now() - started);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left);
      if (ms.count() <= 0 || ::poll(&ready, 1, static_cast<int>(ms.count())) <= 0)
        break;
      char buffer[512];
      auto got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0)
        closed = true;
      else
        received.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(fd);
    CHECK(closed);
    CHECK(std::chrono::steady_clock::now() - started < deadline);
    CHECK(received.find("HTTP/1.") == std::string::npos);
  }

  SECTION("an HTTP client gets an error, not a hang") {
    httplib::Client client{"127.0.0.1", server->port()};
    client.set_connection_timeout(5s);
    client.set_read_timeout(10s);
    client.set_basic_auth("admin@example.com", password);
    auto started = std::chrono::steady_clock::now();
    auto res = client.Get(list_path.c_str());
    CHECK_FALSE(res);
    CHECK(std::chrono::steady_clock::now() - started < deadline);
  }
}

TEST_CASE("TLS 1.2 offers only AEAD cipher suites; TLS 1.3 is unchanged") {
  temp_dir dir;
  test_server server{https_config(dir)};
  const auto port = server->port();
  for (const char* cbc :
       {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384",
        "ECDHE-RSA-AES128-SHA", "AES128-SHA", "AES256-SHA256"}) {
    INFO(cbc);
    CHECK_FALSE(handshake_succeeds(port, TLS1_2_VERSION, cbc));
  }
  for (const char* aead :
       {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305"}) {
    INFO(aead);
    CHECK(handshake_succeeds(port, TLS1_2_VERSION, aead));
  }
  CHECK(handshake_succeeds(port, TLS1_3_VERSION));
}

TEST_CASE("the self-signed certificate's whole validity is at most 825 days") {
  temp_dir dir;
  const app::tls_files files{dir.file("cert.pem"), dir.file("key.pem")};
  app::write_self_signed(files, {{"localhost"}, {"127.0.0.1"}});
  auto cert = load_certificate(files.cert_file);
  int days = 0;
  int seconds = 0;
  REQUIRE(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert.get()),
                         X509_get0_notAfter(cert.get()))
          == 1);
  CHECK(std::chrono::hours{24} * days + std::chrono::seconds{seconds}
        <= std::chrono::hours{24 * 825});
  // Backdated, so that a client whose clock is a little behind accepts it.
  CHECK(X509_cmp_current_time(X509_get0_notBefore(cert.get())) < 0);
}
