// Salted PBKDF2-HMAC-SHA256 password hashes in a self-describing string:
//
//   pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>
//
// `cluster-actions-server hash-password` prints one; a configuration's
// `password_hash` holds one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cluster_actions::http {

class password_hash {
public:
  static constexpr std::string_view algorithm = "pbkdf2-sha256";

  /// What hash-password uses: OWASP's 2023 recommendation for
  /// PBKDF2-HMAC-SHA256. A verification then costs 0.15 s of CPU on the
  /// project's small machine, more under load; user_directory caches
  /// successful ones, so a client pays it once, not per request.
  static constexpr std::uint32_t default_iterations = 600'000;
  /// Accepted when reading a hash: fewer is too cheap to guess against,
  /// more makes every uncached login take many seconds.
  static constexpr std::uint32_t min_iterations = 10'000;
  static constexpr std::uint32_t max_iterations = 10'000'000;

  static constexpr std::size_t salt_bytes = 16;
  static constexpr std::size_t hash_bytes = 32;

  /// A hash of `password` with a fresh random salt. Throws
  /// std::invalid_argument for iterations out of range, std::runtime_error
  /// when OpenSSL fails.
  static password_hash make(std::string_view password,
                            std::uint32_t iterations = default_iterations);

  /// A hash no password matches (its hash part is random) that costs as
  /// much to check as `model`: for checks whose time must not tell that
  /// there was nothing to check against.
  static password_hash decoy(const password_hash& model);

  /// Reads the string form; nothing when it is malformed, and then
  /// `problem` (if given) says why without quoting any of `text`.
  static std::optional<password_hash> parse(std::string_view text,
                                            std::string* problem = nullptr);

  /// The string form.
  std::string to_string() const;

  /// Whether `password` hashes to this hash; constant time in the
  /// comparison.
  bool matches(std::string_view password) const;

  std::uint32_t iterations() const noexcept { return iterations_; }

  /// What a check costs, in PBKDF2 block computations (each one
  /// `iterations` HMACs per 32 bytes of hash).
  std::uint64_t cost() const noexcept;

private:
  password_hash() = default;

  std::uint32_t iterations_ = 0;
  std::string salt_;
  std::string hash_;
};

} // namespace cluster_actions::http
