#include "http/base64.hpp"

#include <array>

namespace cluster_actions::http {

namespace {

constexpr std::string_view alphabet
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr unsigned char invalid = 0xFF;

constexpr std::array<unsigned char, 256> make_decode_table() {
  std::array<unsigned char, 256> table{};
  for (auto& entry : table)
    entry = invalid;
  for (std::size_t i = 0; i < alphabet.size(); ++i)
    table[static_cast<unsigned char>(alphabet[i])]
      = static_cast<unsigned char>(i);
  return table;
}

constexpr auto decode_table = make_decode_table();

} // namespace

std::string encode_base64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  unsigned bits = 0;
  int pending = 0;
  for (char c : bytes) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    pending += 8;
    while (pending >= 6) {
      pending -= 6;
      out += alphabet[(bits >> pending) & 0x3F];
    }
  }
  if (pending > 0)
    out += alphabet[(bits << (6 - pending)) & 0x3F];
  while (out.size() % 4 != 0)
    out += '=';
  return out;
}

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
    auto sextet = decode_table[static_cast<unsigned char>(c)];
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

} // namespace cluster_actions::http
