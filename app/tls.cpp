#include "app/tls.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>

#include <httplib.h>

#include "http/guarded_server.hpp"
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace cluster_actions::app {

namespace {

template <class T, void (*Free)(T*)>
struct deleter {
  void operator()(T* ptr) const { Free(ptr); }
};

using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;
using bignum_ptr = std::unique_ptr<BIGNUM, deleter<BIGNUM, BN_free>>;
using key_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using cert_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using names_ptr
  = std::unique_ptr<GENERAL_NAMES, deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;
using extension_ptr = std::unique_ptr<X509_EXTENSION,
                                      deleter<X509_EXTENSION,
                                              X509_EXTENSION_free>>;

std::string in_quotes(const std::string& text) {
  return "\"" + text + "\"";
}

/// OpenSSL's queued errors as one line (emptying the queue), e.g.
/// "PEM routines::no start line".
std::string openssl_errors() {
  std::string result;
  while (auto code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    std::string_view line = text;
    // Drop the "error:0480006C:" prefix: the code means nothing to a reader.
    if (auto at = line.find(':', line.find(':') + 1);
        line.rfind("error:", 0) == 0 && at != std::string_view::npos)
      line.remove_prefix(at + 1);
    result += (result.empty() ? "" : "; ") + std::string{line};
  }
  return result.empty() ? "unknown OpenSSL error" : result;
}

[[noreturn]] void fail(const std::string& what) {
  throw tls_error(what);
}

[[noreturn]] void fail_openssl(const std::string& what) {
  fail(what + ": " + openssl_errors());
}

/// The whole file, or nothing with `error` set to errno.
std::optional<std::string> read_whole(const std::string& path, int& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = errno;
    return std::nullopt;
  }
  std::string text;
  char buffer[4096];
  ssize_t got;
  while ((got = ::read(fd, buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(got));
  error = got < 0 ? errno : 0;
  ::close(fd);
  if (got < 0)
    return std::nullopt;
  return text;
}

bio_ptr memory_bio(const std::string& text) {
  bio_ptr bio{BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))};
  if (!bio)
    fail_openssl("cannot allocate a buffer");
  return bio;
}

/// The first certificate of PEM `text`, or null.
cert_ptr parse_certificate(const std::string& text) {
  auto bio = memory_bio(text);
  return cert_ptr{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
}

/// Refuses to decrypt: without it OpenSSL would ask for a passphrase on the
/// terminal.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

/// The private key of PEM `text`, or null (also for an encrypted key).
key_ptr parse_key(const std::string& text) {
  auto bio = memory_bio(text);
  return key_ptr{
    PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)};
}

/// Reads and parses both files of a pair; throws tls_error naming the
/// configuration key and the file.
std::pair<cert_ptr, key_ptr> load_pair(const tls_files& files,
                                       const std::string& cert_key,
                                       const std::string& key_key) {
  auto read = [](const std::string& key, const std::string& path) {
    int error = 0;
    auto text = read_whole(path, error);
    if (!text)
      fail(key + ": cannot read " + in_quotes(path) + ": "
           + std::strerror(error));
    return std::move(*text);
  };
  auto cert = parse_certificate(read(cert_key, files.cert_file));
  if (!cert)
    fail_openssl(cert_key + ": " + in_quotes(files.cert_file)
                 + " holds no PEM certificate");
  auto key_text = read(key_key, files.key_file);
  auto key = parse_key(key_text);
  OPENSSL_cleanse(key_text.data(), key_text.size());
  if (!key)
    fail_openssl(key_key + ": " + in_quotes(files.key_file)
                 + " holds no unencrypted PEM private key");
  ERR_clear_error();
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    fail(key_key + ": " + in_quotes(files.key_file)
         + " is not the private key of the certificate in "
         + in_quotes(files.cert_file));
  }
  return {std::move(cert), std::move(key)};
}

/// Writes `content` to `path` through a temporary file in the same
/// directory, created with mode 0600 (mkostemp) and given `mode` before
/// anything is written, then renamed over `path`.
void write_atomically(const std::string& path, const std::string& content,
                      mode_t mode) {
  std::string temp = path + ".XXXXXX";
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0)
    fail("cannot create a file beside " + in_quotes(path) + ": "
         + std::strerror(errno));
  int error = ::fchmod(fd, mode) == 0 ? 0 : errno;
  for (std::size_t done = 0; error == 0 && done < content.size();) {
    auto wrote = ::write(fd, content.data() + done, content.size() - done);
    if (wrote < 0 && errno != EINTR)
      error = errno;
    else if (wrote > 0)
      done += static_cast<std::size_t>(wrote);
  }
  if (error == 0 && ::fsync(fd) != 0)
    error = errno;
  if (::close(fd) != 0 && error == 0)
    error = errno;
  if (error == 0 && ::rename(temp.c_str(), path.c_str()) != 0)
    error = errno;
  if (error != 0) {
    ::unlink(temp.c_str());
    fail("cannot write " + in_quotes(path) + ": " + std::strerror(error));
  }
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  extension_ptr ext{
    X509V3_EXT_nconf_nid(nullptr, &ctx, nid, const_cast<char*>(value))};
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    fail_openssl(std::string{"cannot add the certificate extension "}
                 + OBJ_nid2sn(nid));
}

void add_alt_names(X509* cert, const certificate_names& names) {
  names_ptr list{sk_GENERAL_NAME_new_null()};
  if (!list)
    fail_openssl("cannot allocate names");
  auto push = [&](int type, ASN1_STRING* value, const std::string& name) {
    GENERAL_NAME* entry = value ? GENERAL_NAME_new() : nullptr;
    if (!entry) {
      ASN1_STRING_free(value);
      fail_openssl("cannot add " + in_quotes(name) + " to the certificate");
    }
    GENERAL_NAME_set0_value(entry, type, value);
    if (sk_GENERAL_NAME_push(list.get(), entry) == 0) {
      GENERAL_NAME_free(entry);
      fail_openssl("cannot allocate names");
    }
  };
  for (const auto& dns : names.dns) {
    ASN1_IA5STRING* value = ASN1_IA5STRING_new();
    if (value
        && ASN1_STRING_set(value, dns.data(), static_cast<int>(dns.size()))
             != 1) {
      ASN1_STRING_free(value);
      value = nullptr;
    }
    push(GEN_DNS, value, dns);
  }
  for (const auto& ip : names.ip)
    push(GEN_IPADD, a2i_IPADDRESS(ip.c_str()), ip);
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, list.get(), 0,
                    X509V3_ADD_DEFAULT)
      != 1)
    fail_openssl("cannot add the subject alternative names");
}

/// `key` and `cert` as PEM; the key's buffer is wiped when freed.
std::string key_pem(EVP_PKEY* key) {
  bio_ptr bio{BIO_new(BIO_s_secmem())};
  if (!bio
      || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                  nullptr)
           != 1)
    fail_openssl("cannot encode the private key");
  char* data = nullptr;
  auto size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string cert_pem(X509* cert) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    fail_openssl("cannot encode the certificate");
  char* data = nullptr;
  auto size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string join(const certificate_names& names) {
  std::string result;
  for (const auto* list : {&names.dns, &names.ip})
    for (const auto& name : *list)
      result += (result.empty() ? "" : ", ") + name;
  return result;
}

/// Why the pair cannot be reused, or "" when it can.
std::string reason_to_replace(const tls_files& files,
                              const certificate_names& names) {
  try {
    auto [cert, key] = load_pair(files, "certificate", "key");
    std::time_t renew_at = std::time(nullptr)
                           + std::chrono::seconds{renew_before}.count();
    if (X509_cmp_time(X509_get0_notAfter(cert.get()), &renew_at) <= 0)
      return "it expires within "
             + std::to_string(renew_before.count() / 24) + " days";
    for (const auto& dns : names.dns)
      if (X509_check_host(cert.get(), dns.data(), dns.size(), 0, nullptr) != 1)
        return "it does not name " + dns;
    for (const auto& ip : names.ip)
      if (X509_check_ip_asc(cert.get(), ip.c_str(), 0) != 1)
        return "it does not name " + ip;
    return "";
  } catch (const tls_error& e) {
    return e.what();
  }
}

} // namespace

tls_files self_signed_files(const std::string& data_dir) {
  namespace fs = std::filesystem;
  return {(fs::path{data_dir} / "server-cert.pem").string(),
          (fs::path{data_dir} / "server-key.pem").string()};
}

void write_self_signed(const tls_files& files, const certificate_names& names,
                       std::chrono::seconds validity) {
  if (names.dns.empty())
    fail("a self-signed certificate needs a DNS name");
  key_ptr key{EVP_EC_gen("P-256")};
  if (!key)
    fail_openssl("cannot generate a key");
  cert_ptr cert{X509_new()};
  if (!cert)
    fail_openssl("cannot allocate a certificate");

  // A random positive 127-bit serial number, as RFC 5280 allows (at most
  // 20 bytes) and browsers expect (unpredictable).
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1)
    fail_openssl("no random bytes for a serial number");
  serial[0] &= 0x7F;
  bignum_ptr number{BN_bin2bn(serial, sizeof serial, nullptr)};
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto& common_name = names.dns.front();
  if (!number
      || !BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert.get()))
      || X509_set_version(cert.get(), X509_VERSION_3) != 1
      // An hour back: clients whose clock is a little behind accept it.
      // The hour counts towards the validity, whose whole span clients
      // limit (825 days at most for a TLS server certificate).
      || !X509_gmtime_adj(X509_getm_notBefore(cert.get()),
                          -certificate_backdating.count())
      || !X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                          (validity - certificate_backdating).count())
      || X509_NAME_add_entry_by_txt(
           subject, "O", MBSTRING_UTF8,
           reinterpret_cast<const unsigned char*>("cluster-actions"), -1, -1,
           0)
           != 1
      || X509_NAME_add_entry_by_txt(
           subject, "CN", MBSTRING_UTF8,
           reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
           -1, 0)
           != 1
      || X509_set_issuer_name(cert.get(), subject) != 1
      || X509_set_pubkey(cert.get(), key.get()) != 1)
    fail_openssl("cannot fill in the certificate");

  // An end-entity certificate that is its own trust anchor: not a CA, and
  // no keyUsage (OpenSSL would not then see it as self-issued unless it
  // also allowed keyCertSign, which a non-CA must not have).
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), NID_subject_key_identifier, "hash");
  add_extension(cert.get(), NID_authority_key_identifier, "keyid:always");
  add_alt_names(cert.get(), names);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0)
    fail_openssl("cannot sign the certificate");

  // The key first: should the certificate not follow, the next start finds
  // a pair that does not match and makes a new one.
  auto pem = key_pem(key.get());
  write_atomically(files.key_file, pem, 0600);
  OPENSSL_cleanse(pem.data(), pem.size());
  write_atomically(files.cert_file, cert_pem(cert.get()), 0644);
}

void check_tls_files(const tls_files& files, const std::string& cert_key,
                     const std::string& key_key) {
  load_pair(files, cert_key, key_key);
}

std::string ensure_self_signed(const tls_files& files,
                               const certificate_names& names) {
  bool present = false;
  for (const auto* path : {&files.cert_file, &files.key_file}) {
    if (::access(path->c_str(), F_OK) != 0)
      continue;
    present = true;
    int error = 0;
    if (!read_whole(*path, error))
      fail("cannot read " + in_quotes(*path) + ": " + std::strerror(error)
           + " (fix its permissions, or remove it to have a new certificate "
             "made)");
  }
  std::string reason;
  if (present) {
    reason = reason_to_replace(files, names);
    if (reason.empty())
      return "";
  }
  write_self_signed(files, names);
  return "generated a self-signed certificate for " + join(names) + ": "
         + files.cert_file
         + (reason.empty() ? "" : " (replacing one that was unusable: "
                                    + reason + ")");
}

server_certificate::server_certificate(tls_files files, std::string cert_key,
                                       std::string key_key)
  : files_(std::move(files)),
    cert_key_(std::move(cert_key)),
    key_key_(std::move(key_key)),
    current_(load()) {
  // nop
}

server_certificate::loaded_pair server_certificate::load() const {
  // First for its errors, which name the key and the file.
  auto [cert, key] = load_pair(files_, cert_key_, key_key_);
  loaded_pair loaded{SSL_CTX_new(TLS_server_method()), &SSL_CTX_free};
  if (!loaded)
    fail_openssl("cannot set up TLS");
  // The file again, for the chain that may follow the certificate; should
  // it have changed since, the key check below fails.
  if (SSL_CTX_use_certificate_chain_file(loaded.get(), files_.cert_file.c_str())
      != 1)
    fail_openssl(cert_key_ + ": cannot use " + in_quotes(files_.cert_file));
  if (SSL_CTX_use_PrivateKey(loaded.get(), key.get()) != 1
      || SSL_CTX_check_private_key(loaded.get()) != 1)
    fail_openssl(key_key_ + ": cannot use " + in_quotes(files_.key_file)
                 + " with " + in_quotes(files_.cert_file));
  return loaded;
}

void server_certificate::reload() {
  auto loaded = load();
  std::lock_guard<std::mutex> guard{mutex_};
  current_ = std::move(loaded);
}

server_certificate::loaded_pair server_certificate::current() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return current_;
}

int server_certificate::present(SSL* ssl, void* self) {
  // Held for the call: a reload meanwhile frees the old pair only once
  // the connection holds its own references to it.
  auto pair = static_cast<const server_certificate*>(self)->current();
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(pair.get(), &chain);
  return SSL_use_cert_and_key(ssl, SSL_CTX_get0_certificate(pair.get()),
                              SSL_CTX_get0_privatekey(pair.get()), chain, 1)
         == 1;
}

void server_certificate::present_on(SSL_CTX& ctx) const {
  // Called for every handshake, before a certificate is chosen.
  SSL_CTX_set_cert_cb(&ctx, &server_certificate::present,
                      const_cast<server_certificate*>(this));
}

std::unique_ptr<httplib::Server>
make_https_server(const server_certificate& certificate,
                  const http::rest_settings& settings) {
  std::string problem;
  auto setup = [&](SSL_CTX& ctx) {
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                                | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1)
      problem = "cannot require TLS 1.2: " + openssl_errors();
    // TLS 1.2 with AEAD suites only: the CBC ones are the source of the
    // padding-oracle attacks (Lucky13 and kin). TLS 1.3's are all AEAD.
    else if (SSL_CTX_set_cipher_list(&ctx, tls12_ciphers) != 1)
      problem = "cannot set the TLS 1.2 cipher suites: " + openssl_errors();
    else
      certificate.present_on(ctx);
    return problem.empty();
  };
  auto server = std::make_unique<http::rest_tls_server>(
    settings, std::function<bool(SSL_CTX&)>{setup});
  if (!server->is_valid())
    fail(problem.empty() ? "cannot set up TLS: " + openssl_errors() : problem);
  return server;
}

} // namespace cluster_actions::app
