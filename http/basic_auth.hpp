// HTTP Basic authentication (RFC 7617) against the configured users.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <openssl/evp.h>

#include "http/access.hpp"
#include "http/password_hash.hpp"

namespace cluster_actions::http {

/// The user name (the email) an Authorization header value gives for HTTP
/// Basic auth, whether or not such a user exists; "" when the value is no
/// Basic credentials. The password is never part of it.
std::string given_user_name(std::string_view authorization);

/// The users of the REST front, by email. Thread-safe.
class user_directory {
public:
  /// Throws std::invalid_argument for a user with both or neither of
  /// password and password_hash, or with a malformed hash (the message
  /// names the user, never the password or the hash).
  explicit user_directory(std::vector<user> users);

  /// The user whose credentials an Authorization header value carries, or
  /// nullptr when it is empty, malformed, names no user or has the wrong
  /// password. The returned user has email and role only. A wrong password
  /// takes as long whether the email names a user or not (see the .cpp).
  const user* authenticate(std::string_view authorization) const;

private:
  /// HMAC-SHA256 under the directory's key.
  using mac = std::array<unsigned char, 32>;

  struct account {
    user who;
    /// For a plain password: the MAC of the password.
    mac password_mac{};
    /// For a hashed one: the hash, and the MAC of the last password that
    /// matched it.
    std::optional<password_hash> hash;
    mutable std::optional<mac> verified;
  };

  mac mac_of(std::string_view password) const;
  bool verify(const account& acc, std::string_view password) const;
  /// Spends on `password` what checking it against the costliest
  /// configured hash would: a failed login that has not paid that yet.
  void pay_for_failure(std::string_view password) const;

  /// Random per directory, never stored or shown.
  std::array<unsigned char, 32> key_{};
  /// Tells this directory's key from another's in a thread's MAC context.
  std::uint64_t serial_;
  /// HMAC-SHA256 fetched and keyed once; each thread MACs on its own copy.
  /// OpenSSL 3's one-shot HMAC() fetches the algorithm on every call,
  /// through process-wide locks that the handler threads then contend for.
  std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> hmac_{nullptr,
                                                          &EVP_MAC_free};
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> keyed_{
    nullptr, &EVP_MAC_CTX_free};
  std::unordered_map<std::string, account> by_email_;
  /// Matches no password; as costly to check as the costliest user's hash.
  /// None when no user has a hash.
  std::optional<password_hash> decoy_;
  /// Guards account::verified.
  mutable std::mutex mutex_;
};

} // namespace cluster_actions::http
