// Splits a process's output into the lines the process monitor reports.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace cluster_actions::detail {

/// Splits a byte stream into lines, cutting overlong ones.
class line_splitter {
public:
  /// Lines are cut after this many bytes; the rest of the line is dropped.
  static constexpr std::size_t max_line_length = 4096;

  /// Calls `emit` with every line `data` completes, without its '\n'.
  template <class F>
  void feed(std::string_view data, F&& emit) {
    while (!data.empty()) {
      auto end = data.find('\n');
      auto piece = data.substr(0, end);
      if (!cutting_) {
        auto room = max_line_length - partial_.size();
        partial_.append(piece.substr(0, room));
        if (piece.size() > room) {
          emit(std::exchange(partial_, {}));
          cutting_ = true; // drop the rest of the line
        }
      }
      if (end == std::string_view::npos)
        return;
      if (!cutting_)
        emit(std::exchange(partial_, {}));
      cutting_ = false;
      data.remove_prefix(end + 1);
    }
  }

  /// Calls `emit` with an unterminated last line, if any.
  template <class F>
  void finish(F&& emit) {
    if (!partial_.empty())
      emit(std::exchange(partial_, {}));
  }

private:
  std::string partial_;
  bool cutting_ = false;
};

} // namespace cluster_actions::detail
