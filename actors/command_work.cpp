#include "actors/command_work.hpp"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <optional>
#include <string_view>

#include <caf/all.hpp>

namespace cluster_actions {

namespace {

/// The worker's own interface adds the monitor's events to `worker_actor`.
using command_worker_actor = worker_actor::extend_with<process_listener>;

struct command_worker_state {
  action_actor owner;
  std::shared_ptr<process_monitor> monitor;
  process_monitor::run_id run = 0;
  /// Set when the monitor reported that no process of the run is left.
  bool ended = false;
  double progress = 0;
  std::string last_stderr_line;
  /// The text of the last "result: TEXT" line.
  std::string result;

  /// Leaves nothing running behind, however the worker goes down.
  ~command_worker_state() {
    if (monitor && !ended)
      monitor->signal(run, SIGKILL);
  }

  static inline const char* name = "cluster_actions.command_worker";
};

using self_pointer =
  command_worker_actor::stateful_pointer<command_worker_state>;

std::string_view trim(std::string_view text) {
  auto space = [](char c) {
    return std::isspace(static_cast<unsigned char>(c));
  };
  while (!text.empty() && space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && space(text.back()))
    text.remove_suffix(1);
  return text;
}

/// The percentage of a "progress: N" line, if `line` is one.
std::optional<double> parse_progress(std::string_view line) {
  constexpr std::string_view prefix = "progress:";
  if (line.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  auto number = trim(line.substr(prefix.size()));
  double value = 0;
  auto end = number.data() + number.size();
  auto [last, error] = std::from_chars(number.data(), end, value);
  if (error != std::errc{} || last != end || !std::isfinite(value))
    return std::nullopt;
  return std::clamp(value, 0.0, 100.0);
}

/// The longest prefix of `text` of at most `max_bytes` that does not end
/// inside a UTF-8 sequence (the text may also arrive cut inside one).
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) {
  auto end = std::min(text.size(), max_bytes);
  // The lead byte of the last character that starts before `end`.
  auto lead = end;
  while (lead > 0 && (static_cast<unsigned char>(text[lead - 1]) & 0xC0) == 0x80)
    --lead;
  if (lead == 0)
    return text.substr(0, end);
  auto byte = static_cast<unsigned char>(text[lead - 1]);
  std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
  return text.substr(0, lead - 1 + length <= end ? end : lead - 1);
}

/// The text of a "result: TEXT" line, if `line` is one: trimmed, and at
/// most `max_result_bytes` long, cut on a character boundary.
std::optional<std::string> parse_result(std::string_view line) {
  constexpr std::string_view prefix = "result:";
  constexpr std::size_t max_result_bytes = 4096;
  if (line.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  return std::string{
    utf8_prefix(trim(line.substr(prefix.size())), max_result_bytes)};
}

std::string signal_name(int sig) {
  auto abbreviation = sigabbrev_np(sig);
  auto number = "signal " + std::to_string(sig);
  return abbreviation ? number + " (SIG" + abbreviation + ")" : number;
}

work_outcome outcome_of(const process_exit& exit,
                        const std::string& last_stderr_line) {
  if (exit.signal == 0 && exit.code == 0)
    return work_outcome::success();
  auto detail = last_stderr_line.empty() ? "" : ": " + last_stderr_line;
  if (exit.signal != 0)
    return work_outcome::failure("command_killed",
                                 "command was killed by "
                                   + signal_name(exit.signal) + detail);
  return work_outcome::failure("command_failed",
                               "command exited with status "
                                 + std::to_string(exit.code) + detail);
}

void finish(self_pointer self, work_outcome outcome) {
  self->state.ended = true;
  self->send(self->state.owner, finished_atom::value, std::move(outcome));
  self->quit();
}

command_worker_actor::behavior_type
command_worker(self_pointer self, action_actor owner,
               std::shared_ptr<process_monitor> monitor, process_spec spec) {
  auto& st = self->state;
  st.owner = std::move(owner);
  st.monitor = std::move(monitor);
  // A stop or kill that comes before the process runs is queued behind its
  // start by the monitor, so every signal can be passed on at once.
  st.run = st.monitor->start(std::move(spec),
                             caf::actor_cast<process_listener>(self));
  self->monitor(st.owner);
  self->set_down_handler([=](const caf::down_msg& msg) {
    if (msg.source == self->state.owner.address())
      self->quit(); // no one to report to: the state's destructor kills
  });
  return {
    [=](stop_atom) {
      self->state.monitor->signal(self->state.run, SIGTERM);
    },
    [=](kill_atom) {
      self->state.monitor->signal(self->state.run, SIGKILL);
    },
    [=](proc_spawned_atom, pid_t) {
      self->send(self->state.owner, started_atom::value);
    },
    [=](proc_failed_atom, std::string message) {
      finish(self, work_outcome::failure("spawn_failed", std::move(message)));
    },
    [=](proc_stdout_atom, const std::string& line) {
      auto& st = self->state;
      if (auto result = parse_result(line)) {
        st.result = std::move(*result);
        return;
      }
      auto percent = parse_progress(line);
      if (percent && *percent > st.progress) {
        st.progress = *percent;
        self->send(st.owner, progress_atom::value, st.progress);
      }
    },
    [=](proc_stderr_atom, const std::string& line) {
      if (!trim(line).empty())
        self->state.last_stderr_line = line;
    },
    [=](proc_exited_atom, const process_exit& exit) {
      auto outcome = outcome_of(exit, self->state.last_stderr_line);
      outcome.result = self->state.result;
      finish(self, std::move(outcome));
    },
  };
}

} // namespace

work_factory command_work(command_spec spec,
                          std::shared_ptr<process_monitor> monitor) {
  namespace fs = std::filesystem;
  auto home = spec.working_dir.empty()
                ? fs::current_path()
                : fs::absolute(spec.working_dir).lexically_normal();
  auto environment = std::make_shared<const command_environment>(
    home.string(), spec.environment, environ);
  return [spec = std::move(spec), monitor = std::move(monitor),
          environment = std::move(environment)](
           caf::local_actor* spawner, action_actor owner,
           const run_request& run) -> worker_actor {
    process_spec process{spec.argv, environment->for_run(run),
                         spec.working_dir};
    return spawner->spawn(command_worker, std::move(owner), monitor,
                          std::move(process));
  };
}

} // namespace cluster_actions
