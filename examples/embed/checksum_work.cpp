#include "checksum_work.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include <caf/all.hpp>

#include "actors/actor_work.hpp"

namespace embed {

namespace {

using step_atom = caf::atom_constant<caf::atom("ex_step")>;

std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < table.size(); ++i) {
    auto c = i;
    for (int bit = 0; bit < 8; ++bit)
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

/// The state of one run's work.
struct checksum_state {
  std::vector<std::filesystem::path> files;
  std::size_t next = 0;
  std::string manifest;
  static inline const char* name = "embed.checksum";
};

/// Writes `text` to `path` through a temporary file, so that a manifest is
/// either complete or absent.
void write_file(const std::filesystem::path& path, const std::string& text) {
  auto temporary = path;
  temporary += ".part";
  {
    std::ofstream out{temporary, std::ios::binary | std::ios::trunc};
    out << text;
    out.close();
    if (!out)
      throw std::runtime_error("cannot write " + temporary.string());
  }
  std::filesystem::rename(temporary, path);
}

} // namespace

std::uint32_t file_crc32(const std::filesystem::path& file) {
  static const auto table = make_crc_table();
  std::ifstream in{file, std::ios::binary};
  if (!in)
    throw std::runtime_error("cannot open " + file.string());
  std::uint32_t crc = 0xFFFFFFFFu;
  std::array<char, 64 * 1024> buffer;
  while (in) {
    in.read(buffer.data(), buffer.size());
    for (std::streamsize i = 0; i < in.gcount(); ++i)
      crc = table[(crc ^ static_cast<unsigned char>(buffer[i])) & 0xFFu]
            ^ (crc >> 8);
  }
  if (in.bad())
    throw std::runtime_error("cannot read " + file.string());
  return crc ^ 0xFFFFFFFFu;
}

std::vector<std::filesystem::path> files_in(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator{dir})
    if (entry.is_regular_file())
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string manifest_line(const std::filesystem::path& file) {
  char crc[9];
  std::snprintf(crc, sizeof(crc), "%08x", file_crc32(file));
  return std::string{crc} + " "
         + std::to_string(std::filesystem::file_size(file)) + " "
         + file.filename().string() + "\n";
}

std::filesystem::path manifest_path(const std::filesystem::path& out_dir,
                                    const std::string& uid) {
  return out_dir / ("checksums-" + uid + ".txt");
}

cluster_actions::action_type checksum_action(std::filesystem::path out_dir) {
  using namespace cluster_actions;
  action_type type;
  type.name = "checksum_dir";
  type.params = {{"dir", {param_type::string, true}}};
  type.timeout = std::chrono::minutes(5);
  type.cancel_grace = std::chrono::seconds(2);
  type.work = actor_work([out_dir](caf::stateful_actor<checksum_state>* self,
                                   work_context ctx) -> caf::behavior {
    try {
      self->state.files = files_in(ctx.param("dir"));
    } catch (const std::exception& e) {
      ctx.fail("no_such_directory", e.what());
      return {};
    }
    ctx.started();
    // One message per file: the actor never blocks for long, and a stop
    // (a message like any other) is seen between two files.
    self->send(self, step_atom::value);
    return {
      [self, ctx, out_dir](step_atom) {
        auto& st = self->state;
        if (ctx.stop_requested())
          return ctx.fail("stopped", "stopped after "
                                       + std::to_string(st.next) + " of "
                                       + std::to_string(st.files.size())
                                       + " files");
        try {
          if (st.next < st.files.size()) {
            st.manifest += manifest_line(st.files[st.next]);
            ++st.next;
            ctx.progress(100.0 * st.next / st.files.size());
          }
          if (st.next < st.files.size())
            return self->send(self, step_atom::value);
          write_file(manifest_path(out_dir, ctx.uid()), st.manifest);
          ctx.succeed();
        } catch (const std::exception& e) {
          ctx.fail("checksum_failed", e.what());
        }
      },
    };
  });
  return type;
}

} // namespace embed
