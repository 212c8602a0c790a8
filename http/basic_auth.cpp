#include "http/basic_auth.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "http/base64.hpp"

namespace cluster_actions::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if ((a[i] | 0x20) != (b[i] | 0x20))
      return false;
  return true;
}

/// Each directory gets a serial number, so that a thread's MAC context can
/// tell whose key it holds even when a new directory takes a freed one's
/// address.
std::atomic<std::uint64_t> directory_serials{0};

/// One HMAC context per thread, copied from a directory's keyed context on
/// first use and reset for every MAC after that: no allocation per request.
struct thread_mac_context {
  std::uint64_t owner = 0;
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx{
    nullptr, &EVP_MAC_CTX_free};
};

/// The "user-id:password" of a Basic Authorization header value, or
/// nothing when it is none. The caller wipes it.
std::optional<std::string> basic_credentials(std::string_view authorization) {
  // "Basic" (any case), one or more spaces, then the token.
  constexpr std::string_view scheme = "basic";
  if (authorization.size() <= scheme.size()
      || !iequals(authorization.substr(0, scheme.size()), scheme)
      || authorization[scheme.size()] != ' ')
    return std::nullopt;
  auto token = authorization.substr(scheme.size());
  token.remove_prefix(std::min(token.find_first_not_of(' '), token.size()));
  return decode_base64(token);
}

} // namespace

std::string given_user_name(std::string_view authorization) {
  auto credentials = basic_credentials(authorization);
  if (!credentials)
    return "";
  // Without a ':' the whole token might be a password sent alone.
  auto colon = credentials->find(':');
  auto name = colon == std::string::npos ? std::string{}
                                         : credentials->substr(0, colon);
  OPENSSL_cleanse(credentials->data(), credentials->size());
  return name;
}

// Passwords are never compared as strings. A plain password is kept only
// as its HMAC under a random per-process key, and a presented password is
// compared by its HMAC with CRYPTO_memcmp: the time taken depends on
// neither the password nor how much of it is right, nor on its length.
//
// A hashed password costs a PBKDF2 computation (hundreds of milliseconds at
// password_hash::default_iterations) to verify. Paying that on every
// request would cap a user at a few requests per second per core, so the
// HMAC of the last password that matched is cached per user: a later
// request with the same password costs one HMAC. The cache holds no
// password and nothing a password can be guessed against without the key,
// which lives only in this process's memory; one entry per configured user
// bounds it. Wrong passwords still pay the full PBKDF2 every time, and the
// login throttle limits how often one address may try.
//
// Failed logins cost the same whether the email names a user or not, so
// that timing does not tell which emails exist: an unknown email, and a
// wrong plain password, are checked against a decoy hash as costly as the
// costliest configured one (with no hashes configured, every check is one
// HMAC). Only users whose hashes are cheaper than the costliest fail
// faster; give every hash the same cost.
user_directory::user_directory(std::vector<user> users)
  : serial_(++directory_serials) {
  if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1)
    throw std::runtime_error("no random bytes from OpenSSL for a key");
  hmac_.reset(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (hmac_)
    keyed_.reset(EVP_MAC_CTX_new(hmac_.get()));
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
  if (!keyed_ || EVP_MAC_init(keyed_.get(), key_.data(), key_.size(), params) != 1)
    throw std::runtime_error("HMAC-SHA256 is not available in OpenSSL");
  for (auto& u : users) {
    const bool has_password = !u.password.empty();
    const bool has_hash = !u.password_hash.empty();
    if (has_password == has_hash)
      throw std::invalid_argument("user " + u.email
                                  + " needs exactly one of password and "
                                    "password_hash");
    account acc;
    if (has_hash) {
      std::string problem;
      acc.hash = password_hash::parse(u.password_hash, &problem);
      if (!acc.hash)
        throw std::invalid_argument("user " + u.email
                                    + ": invalid password_hash: " + problem);
    } else {
      acc.password_mac = mac_of(u.password);
    }
    // Neither is needed any more; keep them out of the directory's memory.
    OPENSSL_cleanse(u.password.data(), u.password.size());
    u.password.clear();
    u.password_hash.clear();
    const auto email = u.email;
    acc.who = std::move(u);
    if (!by_email_.emplace(email, std::move(acc)).second)
      throw std::invalid_argument("user " + email + " is configured twice");
  }
  const password_hash* costliest = nullptr;
  for (const auto& [email, acc] : by_email_)
    if (acc.hash && (!costliest || acc.hash->cost() > costliest->cost()))
      costliest = &*acc.hash;
  if (costliest)
    decoy_ = password_hash::decoy(*costliest);
}

void user_directory::pay_for_failure(std::string_view password) const {
  if (decoy_)
    decoy_->matches(password);
}

user_directory::mac user_directory::mac_of(std::string_view password) const {
  thread_local thread_mac_context local;
  if (local.owner != serial_ || !local.ctx) {
    local.ctx.reset(EVP_MAC_CTX_dup(keyed_.get()));
    local.owner = serial_;
  }
  mac result{};
  std::size_t length = 0;
  // Initialising without a key starts a new MAC under the one already set.
  if (!local.ctx || EVP_MAC_init(local.ctx.get(), nullptr, 0, nullptr) != 1
      || EVP_MAC_update(local.ctx.get(),
                        reinterpret_cast<const unsigned char*>(password.data()),
                        password.size())
           != 1
      || EVP_MAC_final(local.ctx.get(), result.data(), &length, result.size())
           != 1
      || length != result.size()) {
    local.ctx.reset();
    throw std::runtime_error("HMAC failed in OpenSSL");
  }
  return result;
}

bool user_directory::verify(const account& acc,
                            std::string_view password) const {
  const auto presented = mac_of(password);
  auto same = [&presented](const mac& other) {
    return CRYPTO_memcmp(presented.data(), other.data(), presented.size())
           == 0;
  };
  if (!acc.hash) {
    const bool matched = same(acc.password_mac);
    if (!matched)
      pay_for_failure(password);
    return matched;
  }
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (acc.verified && same(*acc.verified))
      return true;
  }
  if (!acc.hash->matches(password))
    return false;
  std::lock_guard<std::mutex> guard{mutex_};
  acc.verified = presented;
  return true;
}

const user* user_directory::authenticate(std::string_view authorization) const {
  auto credentials = basic_credentials(authorization);
  if (!credentials)
    return nullptr;
  auto colon = credentials->find(':');
  const user* result = nullptr;
  if (colon != std::string::npos) {
    auto found = by_email_.find(credentials->substr(0, colon));
    std::string_view password{*credentials};
    password.remove_prefix(colon + 1);
    if (found == by_email_.end()) {
      // What a known user's wrong password costs: its MAC, then a hash.
      mac_of(password);
      pay_for_failure(password);
    } else if (verify(found->second, password)) {
      result = &found->second.who;
    }
  }
  OPENSSL_cleanse(credentials->data(), credentials->size());
  return result;
}

} // namespace cluster_actions::http
