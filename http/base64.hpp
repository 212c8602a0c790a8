// Standard base64 (RFC 4648, section 4), as Basic auth and password hashes
// carry it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cluster_actions::http {

/// `bytes` in base64 with '=' padding.
std::string encode_base64(std::string_view bytes);

/// The bytes of base64 `text` (padding optional), or nothing when `text`
/// holds a character outside the alphabet or has an impossible length.
std::optional<std::string> decode_base64(std::string_view text);

} // namespace cluster_actions::http
