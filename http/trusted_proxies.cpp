#include "http/trusted_proxies.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace cluster_actions::http {

namespace {

using address_bytes = std::array<std::uint8_t, 16>;

/// IPv4 addresses take the IPv4-mapped IPv6 form (::ffff:0:0/96), so that
/// one comparison serves both families and a dual-stack socket's
/// "::ffff:10.0.0.1" is the same peer as "10.0.0.1".
constexpr unsigned ipv4_offset = 96;

std::optional<address_bytes> parse_address(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN)
    return std::nullopt;
  const std::string terminated{text};
  address_bytes bytes{};
  in_addr v4{};
  if (::inet_pton(AF_INET, terminated.c_str(), &v4) == 1) {
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(bytes.data() + 12, &v4, 4);
    return bytes;
  }
  if (::inet_pton(AF_INET6, terminated.c_str(), bytes.data()) == 1)
    return bytes;
  return std::nullopt;
}

bool is_ipv4(const address_bytes& bytes) {
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0,
                                              0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes.data(), mapped, sizeof mapped) == 0;
}

std::string to_text(const address_bytes& bytes) {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_ipv4(bytes))
    ::inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
  else
    ::inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  return text;
}

bool in_network(const address_bytes& address, const address_bytes& network,
                unsigned prefix) {
  for (unsigned bit = 0; bit < prefix; bit += 8) {
    const unsigned bits = std::min(8u, prefix - bit);
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((address[bit / 8] & mask) != (network[bit / 8] & mask))
      return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

} // namespace

std::string trusted_proxies::entry_problem(std::string_view entry) {
  auto slash = entry.find('/');
  auto address = parse_address(entry.substr(0, slash));
  if (!address)
    return "not an IPv4 or IPv6 address";
  if (slash == std::string_view::npos)
    return "";
  auto length = entry.substr(slash + 1);
  unsigned prefix = 0;
  auto [end, error] = std::from_chars(length.data(),
                                      length.data() + length.size(), prefix);
  const unsigned max = is_ipv4(*address) ? 32 : 128;
  if (length.empty() || error != std::errc{}
      || end != length.data() + length.size() || prefix > max)
    return "the prefix length after '/' must be 0 to " + std::to_string(max);
  return "";
}

trusted_proxies::trusted_proxies(const std::vector<std::string>& entries) {
  for (const auto& entry : entries) {
    if (auto problem = entry_problem(entry); !problem.empty())
      throw std::invalid_argument("trusted proxy \"" + entry + "\": "
                                  + problem);
    auto slash = entry.find('/');
    auto address = *parse_address(std::string_view{entry}.substr(0, slash));
    unsigned prefix = 128;
    if (slash != std::string::npos) {
      prefix = static_cast<unsigned>(std::stoul(entry.substr(slash + 1)));
      if (is_ipv4(address))
        prefix += ipv4_offset;
    }
    networks_.push_back({address, prefix});
  }
}

bool trusted_proxies::trusts(std::string_view address) const {
  auto bytes = parse_address(address);
  if (!bytes)
    return false;
  for (const auto& net : networks_)
    if (in_network(*bytes, net.address, net.prefix))
      return true;
  return false;
}

std::string trusted_proxies::client_address(
  std::string_view peer, std::string_view forwarded_for) const {
  auto peer_bytes = parse_address(peer);
  if (!peer_bytes)
    return std::string{peer};
  std::string client = to_text(*peer_bytes);
  if (!trusts(peer))
    return client;
  // From the right: each entry was added by the proxy left of the one
  // before, as long as that proxy is trusted.
  while (!forwarded_for.empty()) {
    auto comma = forwarded_for.rfind(',');
    auto entry = trim(comma == std::string_view::npos
                        ? forwarded_for
                        : forwarded_for.substr(comma + 1));
    forwarded_for = comma == std::string_view::npos
                      ? std::string_view{}
                      : forwarded_for.substr(0, comma);
    auto bytes = parse_address(entry);
    if (!bytes)
      return client;
    client = to_text(*bytes);
    if (!trusts(entry))
      return client;
  }
  return client;
}

} // namespace cluster_actions::http
