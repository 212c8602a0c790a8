// Which peers may say who the client is: reverse proxies whose
// X-Forwarded-For header is believed, for the login throttle and the audit
// log. From anyone else the header is ignored, so that a client cannot
// choose the address it is counted under.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cluster_actions::http {

class trusted_proxies {
public:
  /// Trusts no one: the client is always the peer.
  trusted_proxies() = default;

  /// Trusts the addresses and networks of `entries`: IPv4 or IPv6
  /// addresses ("10.0.0.7", "::1") or CIDRs ("10.0.0.0/8", "fd00::/8").
  /// Throws std::invalid_argument naming the first entry that is neither.
  explicit trusted_proxies(const std::vector<std::string>& entries);

  /// Why `entry` is neither an address nor a CIDR, or "" when it is one.
  static std::string entry_problem(std::string_view entry);

  /// Whether the peer at `address` is a trusted proxy.
  bool trusts(std::string_view address) const;

  /// The client's address for a request from `peer` that carries
  /// `forwarded_for`, the values of its X-Forwarded-For headers joined by
  /// ',' in order ("" without one). From a trusted peer, the right-most
  /// address of the header that is not itself trusted (each proxy appends
  /// the address it was connected from, so the addresses right of it were
  /// added by trusted proxies, and only those); if an entry there is not an
  /// address, the trusted proxy that passed it on is the client. From any
  /// other peer, the peer. IPv4 addresses are written dotted, also when
  /// the peer was seen as an IPv4-mapped IPv6 address.
  std::string client_address(std::string_view peer,
                             std::string_view forwarded_for) const;

private:
  /// An address as IPv6 bytes (IPv4 as ::ffff:a.b.c.d) and a prefix length.
  struct network {
    std::array<std::uint8_t, 16> address;
    unsigned prefix;
  };

  std::vector<network> networks_;
};

} // namespace cluster_actions::http
