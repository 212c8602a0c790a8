// The example's own action type: CRC-32 checksums of the regular files of a
// directory, one file per step, written to a manifest when all are done.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "actors/action_type.hpp"

namespace embed {

/// The CRC-32 (IEEE 802.3) of a file's contents; throws
/// `std::runtime_error` when it cannot be read.
std::uint32_t file_crc32(const std::filesystem::path& file);

/// The regular files directly in `dir`, ordered by name; throws
/// `std::filesystem::filesystem_error` when `dir` cannot be listed.
std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir);

/// The manifest line of one file: "CRC32-HEX SIZE NAME\n".
std::string manifest_line(const std::filesystem::path& file);

/// Where a run's manifest goes.
std::filesystem::path manifest_path(const std::filesystem::path& out_dir,
                                    const std::string& uid);

/// The action type "checksum_dir": parameter `dir` (string, required). Its
/// work reports started once the directory is listed (a directory that
/// cannot be listed aborts the run with `no_such_directory`), progress after
/// each file, and succeeds once the manifest is written to
/// `manifest_path(out_dir, uid)`. It honours a stop between two files.
cluster_actions::action_type checksum_action(std::filesystem::path out_dir);

} // namespace embed
