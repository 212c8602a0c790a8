// A trusted proxy entry and an X-Forwarded-For header -> the client's
// address. The input is the entry, a newline, then the header. Invariants:
// an entry is accepted exactly when it is reported without a problem, and
// the address handed on is always an address (the peer's or one of the
// header's), never other text a client wrote.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "http/trusted_proxies.hpp"

using namespace cluster_actions::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto newline = input.find('\n');
  std::string entry{input.substr(0, newline)};
  auto forwarded_for = newline == std::string_view::npos
                         ? std::string_view{}
                         : input.substr(newline + 1);
  const bool acceptable = trusted_proxies::entry_problem(entry).empty();
  try {
    trusted_proxies{{entry}};
    if (!acceptable)
      __builtin_trap();
  } catch (const std::invalid_argument&) {
    if (acceptable)
      __builtin_trap();
  }
  const trusted_proxies proxies{{"10.0.0.0/8", "fd00::/8", "127.0.0.1"}};
  for (std::string_view peer : {"10.0.0.1", "::ffff:127.0.0.1", "fd00::1"}) {
    auto client = proxies.client_address(peer, forwarded_for);
    if (!trusted_proxies::entry_problem(client).empty()
        || client.find('/') != std::string::npos)
      __builtin_trap();
  }
  return 0;
}
