// cluster-actions-server: serves cluster actions over HTTPS (or plain HTTP
// on loopback) until SIGINT or SIGTERM, then stops every run and exits;
// SIGHUP reopens the audit log and reloads the certificate.
// `cluster-actions-server hash-password` prints a password hash for the
// configuration instead.
//
// Exit status: 0 after an orderly shutdown, 1 when the server cannot start
// (e.g. the port is in use), 2 for a bad command line or configuration, or
// a data_dir that another server holds or whose status store cannot be used.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <openssl/crypto.h>

#include "actors/command_environment.hpp"
#include "app/config.hpp"
#include "app/config_permissions.hpp"
#include "app/data_dir_lock.hpp"
#include "app/server.hpp"
#include "http/password_hash.hpp"

namespace cluster_actions::app {
namespace {

constexpr const char* usage = R"(usage: cluster-actions-server [--config FILE]
       cluster-actions-server hash-password

Serves the cluster actions REST API until SIGINT or SIGTERM. SIGHUP
reopens data_dir/audit.log and reloads the TLS certificate and key.

  --config FILE  the JSON configuration (listen, data_dir, tls, users,
                 actions); without it: HTTPS on 127.0.0.1:9443 with a
                 self-signed certificate made in data_dir ./data, the
                 built-in action types, and one admin user
                 admin@cluster.local whose password is
                 $CLUSTER_ACTIONS_ADMIN_PASSWORD or, when that is unset,
                 generated and printed at start-up
  --help         this text

hash-password reads a password from stdin (one line) and prints the
password_hash to put in a user of the configuration instead of "password".
)";

const std::string password_variable{admin_password_variable};

/// Sent to the main thread when run() returns; it matters only when nobody
/// asked the server to stop.
constexpr int server_ended_signal = SIGUSR1;

/// 20 letters and digits from /dev/urandom (about 119 bits).
std::string random_password() {
  constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::ifstream random{"/dev/urandom", std::ios::binary};
  std::string password;
  while (password.size() < 20) {
    auto byte = static_cast<unsigned char>(random.get());
    if (!random)
      throw std::runtime_error("cannot read /dev/urandom");
    // Rejecting the top bytes keeps every character equally likely.
    if (byte < 256 / alphabet.size() * alphabet.size())
      password += alphabet[byte % alphabet.size()];
  }
  return password;
}

/// The signals the main thread waits for; every other thread has them
/// blocked, so none of them is interrupted or killed by one.
sigset_t awaited_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, server_ended_signal);
  return set;
}

/// Each connection and each live run holds file descriptors; the usual soft
/// limit of 1024 would refuse connections long before the hard limit does.
void raise_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int serve(server_config cfg, const std::optional<std::string>& password) {
  raise_file_limit();
  // Before any thread exists, so that all of them inherit the mask.
  const auto signals = awaited_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const auto admin = cfg.users.front().email;

  server srv{std::move(cfg)};
  const auto main_thread = pthread_self();
  std::thread serving{[&] {
    try {
      srv.run();
    } catch (const std::exception& e) {
      std::cerr << "cluster-actions-server: " << e.what() << '\n';
    }
    pthread_kill(main_thread, server_ended_signal);
  }};

  if (password)
    std::cout << "admin user: " << admin << ", generated password: "
              << *password << '\n';
  std::cout << "listening on " << srv.url();
  if (!srv.certificate_file().empty())
    std::cout << " (certificate: " << srv.certificate_file() << ")";
  std::cout << std::endl;

  int received = 0;
  while (sigwait(&signals, &received) == 0 && received == SIGHUP)
    srv.reload();
  const bool ended = received == server_ended_signal;
  if (ended)
    std::cerr << "server stopped unexpectedly, shutting down\n";
  else
    std::cerr << (received == SIGINT ? "SIGINT" : "SIGTERM")
              << " received, shutting down\n";
  srv.stop();
  serving.join();
  return ended ? EXIT_FAILURE : EXIT_SUCCESS;
}

/// Turns off the terminal's echo while a password is typed; does nothing
/// when stdin is no terminal.
class hidden_input {
public:
  hidden_input() {
    if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      auto quiet = saved_;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
      if (active_)
        std::cerr << "password: " << std::flush;
    }
  }
  ~hidden_input() {
    if (active_) {
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
      std::cerr << '\n';
    }
  }
  hidden_input(const hidden_input&) = delete;
  hidden_input& operator=(const hidden_input&) = delete;

private:
  termios saved_{};
  bool active_ = false;
};

/// `hash-password`: one line from stdin (without its line end) in, its
/// hash out.
int hash_password() {
  std::string password;
  {
    hidden_input hide;
    std::getline(std::cin, password);
  }
  if (!password.empty() && password.back() == '\r')
    password.pop_back();
  if (password.empty()) {
    std::cerr << "cluster-actions-server: hash-password: no password on "
                 "stdin (expected one line)\n";
    return 2;
  }
  auto hash = cluster_actions::http::password_hash::make(password);
  OPENSSL_cleanse(password.data(), password.size());
  std::cout << hash.to_string() << std::endl;
  return EXIT_SUCCESS;
}

/// What the command line asks for; nothing when it is wrong (the problem
/// has been printed).
struct options {
  bool help = false;
  bool hash_password = false;
  std::optional<std::string> config_path;
};

std::optional<options> parse_options(int argc, char** argv) {
  options result;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    const bool config = arg == "--config" || arg.substr(0, 9) == "--config=";
    std::string problem;
    if (arg == "--help" || arg == "-h")
      result.help = true;
    else if (arg == "hash-password" && i == 1)
      result.hash_password = true;
    else if (result.hash_password)
      problem = "hash-password takes no arguments (it reads the password "
                "from stdin)";
    else if (!config)
      problem = "unexpected argument '" + std::string{arg} + "'";
    else if (result.config_path)
      problem = "--config given twice";
    else if (arg != "--config")
      result.config_path = std::string{arg.substr(9)};
    else if (i + 1 < argc)
      result.config_path = argv[++i];
    else
      problem = "--config needs a FILE";
    if (!problem.empty()) {
      std::cerr << "cluster-actions-server: " << problem << "\n" << usage;
      return std::nullopt;
    }
  }
  return result;
}

/// The file's configuration, or the default one with the admin password from
/// the environment or, failing that, a generated one (returned to be shown).
std::pair<server_config, std::optional<std::string>>
configure(const options& opts) {
  if (opts.config_path) {
    auto cfg = load_config_file(*opts.config_path);
    if (auto warning = config_permissions_warning(*opts.config_path, cfg);
        !warning.empty())
      std::cerr << "cluster-actions-server: " << warning << '\n';
    return {std::move(cfg), std::nullopt};
  }
  if (const char* password = std::getenv(password_variable.c_str())) {
    if (*password == '\0')
      throw config_error(password_variable + " is set but empty");
    return {default_config(password), std::nullopt};
  }
  auto generated = random_password();
  return {default_config(generated), generated};
}

} // namespace
} // namespace cluster_actions::app

int main(int argc, char** argv) {
  using namespace cluster_actions::app;
  auto opts = parse_options(argc, argv);
  if (!opts)
    return 2;
  if (opts->help) {
    std::cout << usage;
    return EXIT_SUCCESS;
  }
  try {
    if (opts->hash_password)
      return hash_password();
    auto [cfg, generated_password] = configure(*opts);
    return serve(std::move(cfg), generated_password);
  } catch (const config_error& e) {
    std::cerr << "cluster-actions-server: " << e.what() << '\n';
    return 2;
  } catch (const data_dir_error& e) {
    std::cerr << "cluster-actions-server: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "cluster-actions-server: " << e.what() << '\n';
    return EXIT_FAILURE;
  }
}
