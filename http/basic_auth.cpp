#include "http/basic_auth.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace cluster_actions::http {

namespace {

constexpr unsigned char invalid = 0xFF;

constexpr std::array<unsigned char, 256> make_base64_table() {
  std::array<unsigned char, 256> table{};
  for (auto& entry : table)
    entry = invalid;
  constexpr std::string_view alphabet
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i)
    table[static_cast<unsigned char>(alphabet[i])]
      = static_cast<unsigned char>(i);
  return table;
}

constexpr auto base64_table = make_base64_table();

/// Standard base64 (padding optional), or nothing when malformed.
std::optional<std::string> decode_base64(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned bits = 0;
  int pending = 0;
  for (char c : text) {
    auto sextet = base64_table[static_cast<unsigned char>(c)];
    if (sextet == invalid)
      return std::nullopt;
    bits = (bits << 6) | sextet;
    pending += 6;
    if (pending >= 8) {
      pending -= 8;
      out += static_cast<char>((bits >> pending) & 0xFF);
    }
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if ((a[i] | 0x20) != (b[i] | 0x20))
      return false;
  return true;
}

/// Equality in time that depends only on the length of `given`, so that a
/// caller cannot learn a password a character at a time.
bool equal_constant_time(std::string_view given, std::string_view expected) {
  unsigned diff = given.size() != expected.size();
  if (expected.empty())
    return diff == 0 && given.empty();
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i])
            ^ static_cast<unsigned char>(expected[i % expected.size()]);
  return diff == 0;
}

} // namespace

user_directory::user_directory(std::vector<user> users) {
  for (auto& u : users) {
    auto email = u.email;
    by_email_.emplace(std::move(email), std::move(u));
  }
}

const user* user_directory::authenticate(std::string_view authorization) const {
  // "Basic" (any case), one or more spaces, then the token.
  constexpr std::string_view scheme = "basic";
  if (authorization.size() <= scheme.size()
      || !iequals(authorization.substr(0, scheme.size()), scheme)
      || authorization[scheme.size()] != ' ')
    return nullptr;
  auto token = authorization.substr(scheme.size());
  token.remove_prefix(std::min(token.find_first_not_of(' '), token.size()));
  auto credentials = decode_base64(token);
  if (!credentials)
    return nullptr;
  auto colon = credentials->find(':');
  if (colon == std::string::npos)
    return nullptr;
  auto found = by_email_.find(credentials->substr(0, colon));
  if (found == by_email_.end())
    return nullptr;
  std::string_view password{*credentials};
  password.remove_prefix(colon + 1);
  return equal_constant_time(password, found->second.password) ? &found->second
                                                               : nullptr;
}

} // namespace cluster_actions::http
