#include "http/password_hash.hpp"

#include <charconv>
#include <stdexcept>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "http/base64.hpp"

namespace cluster_actions::http {

namespace {

/// Salts and hashes of other tools are 8 to 64 bytes; anything outside that
/// is a copy-paste accident rather than a hash.
constexpr std::size_t min_part_bytes = 8;
constexpr std::size_t max_part_bytes = 64;

std::string pbkdf2(std::string_view password, const std::string& salt,
                   std::uint32_t iterations, std::size_t length) {
  std::string out(length, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()),
                        static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(length),
                        reinterpret_cast<unsigned char*>(out.data()))
      != 1)
    throw std::runtime_error("PBKDF2 failed in OpenSSL");
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos)
      return parts;
    text.remove_prefix(at + 1);
  }
}

} // namespace

password_hash password_hash::make(std::string_view password,
                                  std::uint32_t iterations) {
  if (iterations < min_iterations || iterations > max_iterations)
    throw std::invalid_argument("iterations must be from "
                                + std::to_string(min_iterations) + " to "
                                + std::to_string(max_iterations));
  password_hash result;
  result.iterations_ = iterations;
  result.salt_.resize(salt_bytes);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(result.salt_.data()),
                 static_cast<int>(salt_bytes))
      != 1)
    throw std::runtime_error("no random bytes from OpenSSL for a salt");
  result.hash_ = pbkdf2(password, result.salt_, iterations, hash_bytes);
  return result;
}

password_hash password_hash::decoy(const password_hash& model) {
  password_hash result;
  result.iterations_ = model.iterations_;
  result.salt_.resize(model.salt_.size());
  result.hash_.resize(model.hash_.size());
  for (auto* part : {&result.salt_, &result.hash_})
    if (RAND_bytes(reinterpret_cast<unsigned char*>(part->data()),
                   static_cast<int>(part->size()))
        != 1)
      throw std::runtime_error("no random bytes from OpenSSL for a decoy");
  return result;
}

std::uint64_t password_hash::cost() const noexcept {
  constexpr std::size_t block_bytes = 32; // SHA-256's output
  return std::uint64_t{iterations_}
         * ((hash_.size() + block_bytes - 1) / block_bytes);
}

std::optional<password_hash> password_hash::parse(std::string_view text,
                                                  std::string* problem) {
  auto fail = [problem](const char* why) -> std::optional<password_hash> {
    if (problem)
      *problem = why;
    return std::nullopt;
  };
  auto parts = split(text, '$');
  if (parts.size() != 4)
    return fail("expected 4 fields separated by '$'");
  if (parts[0] != algorithm)
    return fail("the algorithm is not pbkdf2-sha256");
  password_hash result;
  const auto& count = parts[1];
  auto [end, err] = std::from_chars(count.data(), count.data() + count.size(),
                                    result.iterations_);
  if (err != std::errc{} || end != count.data() + count.size()
      || count.front() == '0' || result.iterations_ < min_iterations
      || result.iterations_ > max_iterations) {
    static const std::string range = "the iteration count must be from "
                                     + std::to_string(min_iterations) + " to "
                                     + std::to_string(max_iterations);
    return fail(range.c_str());
  }
  auto salt = decode_base64(parts[2]);
  if (!salt || salt->size() < min_part_bytes || salt->size() > max_part_bytes)
    return fail("the salt is not 8 to 64 bytes of base64");
  auto hash = decode_base64(parts[3]);
  if (!hash || hash->size() < min_part_bytes || hash->size() > max_part_bytes)
    return fail("the hash is not 8 to 64 bytes of base64");
  result.salt_ = std::move(*salt);
  result.hash_ = std::move(*hash);
  return result;
}

std::string password_hash::to_string() const {
  return std::string{algorithm} + "$" + std::to_string(iterations_) + "$"
         + encode_base64(salt_) + "$" + encode_base64(hash_);
}

bool password_hash::matches(std::string_view password) const {
  auto computed = pbkdf2(password, salt_, iterations_, hash_.size());
  return CRYPTO_memcmp(computed.data(), hash_.data(), hash_.size()) == 0;
}

} // namespace cluster_actions::http
