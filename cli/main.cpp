// cluster-actions: the operator's command-line client of the REST API.

#include <fcntl.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/client.hpp"
#include "cli/exit_codes.hpp"
#include "cli/options.hpp"
#include "cli/render.hpp"

namespace {

using namespace cluster_actions::cli;
using nlohmann::json;
using clock_type = std::chrono::steady_clock;

const std::string list_path = "/v1/cluster/actions";

/// Reads the password from the terminal without echo; "" without one.
std::string prompt_password(const std::string& user) {
  int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (tty < 0)
    return {};
  auto prompt = "Password for " + user + ": ";
  (void) !::write(tty, prompt.data(), prompt.size());
  termios saved{};
  bool restore = ::tcgetattr(tty, &saved) == 0;
  if (restore) {
    auto quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  std::string password;
  char c;
  while (::read(tty, &c, 1) == 1 && c != '\n')
    password += c;
  if (restore)
    ::tcsetattr(tty, TCSAFLUSH, &saved);
  (void) !::write(tty, "\n", 1);
  ::close(tty);
  return password;
}

/// Stops the program on Ctrl-C while it waits: the run itself goes on.
/// SIGINT is blocked in every thread and taken here by sigwait, so that a
/// wait in the middle of a request ends at once.
void stop_waiting_on_interrupt(bool terminal) {
  sigset_t interrupt;
  sigemptyset(&interrupt);
  sigaddset(&interrupt, SIGINT);
  pthread_sigmask(SIG_BLOCK, &interrupt, nullptr);
  std::thread{[interrupt, terminal] {
    int received = 0;
    sigwait(&interrupt, &received);
    std::string note = std::string{terminal ? "\n" : ""}
                       + "cluster-actions: stopped waiting; the run goes on\n";
    (void) !::write(STDERR_FILENO, note.data(), note.size());
    std::_Exit(exit_interrupted);
  }}.detach();
}

/// Prints an error reply and returns its exit code.
int refused(const reply& answer) {
  auto body = json::parse(answer.body, nullptr, false);
  std::string code = body.is_object() ? body.value("error_code", "") : "";
  std::string description
    = body.is_object() ? body.value("description", answer.body) : answer.body;
  std::cerr << "cluster-actions: " << description << " (HTTP " << answer.status
            << (code.empty() ? "" : ", " + code) << ")\n";
  if (code == "unknown_action" || code == "invalid_action_name"
      || code == "invalid_params" || code == "invalid_body")
    return exit_usage;
  return exit_failed;
}

/// The progress shown while waiting: a bar redrawn in place every second
/// on a terminal, one line per change otherwise.
class progress_view {
public:
  progress_view(bool terminal, bool quiet)
    : terminal_(terminal), quiet_(quiet), started_(clock_type::now()) {
    if (terminal_ && !quiet_)
      ticker_ = std::thread{[this] { tick(); }};
  }
  ~progress_view() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      done_ = true;
    }
    changed_.notify_all();
    if (ticker_.joinable())
      ticker_.join();
  }

  void show(const json& action) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (quiet_)
      return;
    if (terminal_) {
      last_ = action;
      draw();
    } else if (action != last_) {
      last_ = action;
      std::cout << change_line(action, elapsed()) << std::endl;
    }
  }

  /// Ends the bar's line.
  void finish() {
    std::lock_guard<std::mutex> guard{mutex_};
    done_ = true;
    if (terminal_ && !quiet_ && !last_.is_null())
      std::cout << "\n" << std::flush;
  }

private:
  std::chrono::seconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_type::now()
                                                            - started_);
  }

  void draw() {
    if (!last_.is_null() && !done_)
      std::cout << "\r\x1b[2K" << progress_bar(last_, elapsed())
                << std::flush;
  }

  void tick() {
    std::unique_lock<std::mutex> guard{mutex_};
    while (!changed_.wait_for(guard, std::chrono::seconds(1),
                              [this] { return done_; }))
      draw();
  }

  const bool terminal_;
  const bool quiet_;
  const clock_type::time_point started_;
  std::mutex mutex_;
  std::condition_variable changed_;
  json last_;
  bool done_ = false;
  std::thread ticker_;
};

/// Waits until the run of `name` ends, asking the server to hold each
/// request until the run changes (Prefer: wait) rather than polling.
int wait_for_end(api_client& client, const command& cmd) {
  const auto path = list_path + "/" + cmd.name;
  const auto deadline = clock_type::now() + cmd.timeout;
  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  progress_view view{terminal, cmd.json};
  std::string etag;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(
      deadline - clock_type::now());
    if (left.count() <= 0) {
      view.finish();
      std::cerr << "cluster-actions: " << cmd.name << " did not end within "
                << cmd.timeout.count() << " s\n";
      return exit_timed_out;
    }
    auto answer = client.call("GET", path, {}, etag,
                              std::min(left, std::chrono::seconds(60)));
    if (answer.status == 304)
      continue;
    if (answer.status == 503) {
      // Overloaded or restarting: ask again shortly, within the deadline.
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (answer.status != 200) {
      view.finish();
      return refused(answer);
    }
    etag = answer.etag;
    auto action = json::parse(answer.body);
    view.show(action);
    auto status = action.value("status", "");
    if (is_final(status)) {
      view.finish();
      if (cmd.json)
        std::cout << answer.body << "\n";
      return exit_code_of(status);
    }
  }
}

int run(const command& cmd) {
  api_client client{cmd.server};
  auto print = [&](const reply& answer, auto human) {
    std::cout << (cmd.json ? answer.body + "\n"
                           : human(json::parse(answer.body)));
  };
  switch (cmd.what) {
    case verb::list: {
      auto answer = client.call("GET", list_path);
      if (answer.status != 200)
        return refused(answer);
      print(answer, list_table);
      return exit_completed;
    }
    case verb::nodes: {
      auto answer = client.call("GET", "/v1/nodes");
      if (answer.status == 404) {
        std::cerr << "cluster-actions: this server has no /v1/nodes\n";
        return exit_usage;
      }
      if (answer.status != 200)
        return refused(answer);
      std::cout << answer.body << "\n";
      return exit_completed;
    }
    case verb::get: {
      auto answer = client.call("GET", list_path + "/" + cmd.name);
      if (answer.status != 200)
        return refused(answer);
      print(answer, action_details);
      return exit_completed;
    }
    case verb::wait:
      return wait_for_end(client, cmd);
    case verb::start:
    case verb::cancel:
      break;
  }
  auto answer = cmd.what == verb::start
                  ? client.call("POST", list_path + "/" + cmd.name,
                                cmd.params_json)
                  : client.call("DELETE", list_path + "/" + cmd.name);
  if (answer.status != 200)
    return refused(answer);
  if (!cmd.wait) {
    print(answer, action_details);
    return exit_completed;
  }
  return wait_for_end(client, cmd);
}

} // namespace

int main(int argc, char** argv) {
  auto parsed = parse_command(std::vector<std::string>(argv + 1, argv + argc),
                              [](const char* name) -> const char* {
                                return std::getenv(name);
                              });
  if (!parsed.parsed) {
    (parsed.exit_code == 0 ? std::cout : std::cerr) << parsed.message;
    return parsed.exit_code;
  }
  auto& cmd = *parsed.parsed;
  if (cmd.server.password.empty())
    cmd.server.password = prompt_password(cmd.server.user);
  if (cmd.server.password.empty()) {
    std::cerr << "cluster-actions: no password: set CLUSTER_ACTIONS_PASSWORD "
                 "or run on a terminal\n";
    return exit_usage;
  }
  if (cmd.wait)
    stop_waiting_on_interrupt(::isatty(STDOUT_FILENO) == 1);
  try {
    return run(cmd);
  } catch (const unreachable& error) {
    std::cerr << "cluster-actions: " << error.what() << "\n";
    return exit_unreachable;
  } catch (const nlohmann::json::exception&) {
    std::cerr << "cluster-actions: the server's answer is not the JSON "
                 "expected\n";
    return exit_failed;
  }
}
