// The server binary as an operator runs it: hash-password, start-up errors,
// and the `listening on https://...` line naming the certificate.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "http/password_hash.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
using cluster_actions::http::password_hash;

namespace {

using cluster_actions::testing::temp_dir;

const std::string binary = CLUSTER_ACTIONS_SERVER;

/// The binary running with `args`, `input` on its stdin, its stdout and
/// stderr read through pipes; killed if still running when destroyed.
class process {
public:
  process(const std::vector<std::string>& args, const std::string& input,
          const std::string& cwd) {
    int in[2], out[2], err[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& arg : args)
      argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      if (::dup2(in[0], 0) < 0 || ::dup2(out[1], 1) < 0
          || ::dup2(err[1], 2) < 0 || ::chdir(cwd.c_str()) != 0)
        ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
    // Small enough for the pipe's buffer: no deadlock with the child.
    REQUIRE(::write(in[1], input.data(), input.size())
            == static_cast<ssize_t>(input.size()));
    ::close(in[1]);
  }

  ~process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
    ::close(err_);
  }

  process(const process&) = delete;
  process& operator=(const process&) = delete;

  /// The next line of stdout, waiting up to `within`; "" at its end.
  std::string stdout_line(std::chrono::milliseconds within = 20s) {
    auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
      if (auto end = out_text_.find('\n'); end != std::string::npos) {
        auto line = out_text_.substr(0, end);
        out_text_.erase(0, end + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      pollfd ready{out_, POLLIN, 0};
      if (left.count() <= 0
          || ::poll(&ready, 1, static_cast<int>(left.count())) <= 0)
        FAIL("no line on stdout in time; so far: " << out_text_);
      char buffer[4096];
      auto got = ::read(out_, buffer, sizeof buffer);
      if (got <= 0)
        return std::exchange(out_text_, "");
      out_text_.append(buffer, static_cast<std::size_t>(got));
    }
  }

  /// Waits (bounded) for the exit; returns the exit status, reading the
  /// rest of stdout and stderr.
  int wait(std::chrono::milliseconds within = 20s) {
    auto deadline = std::chrono::steady_clock::now() + within;
    int status = 0;
    pid_t done;
    while ((done = ::waitpid(pid_, &status, WNOHANG)) == 0) {
      if (std::chrono::steady_clock::now() > deadline)
        FAIL("the server did not exit in time");
      std::this_thread::sleep_for(10ms); // poll interval
    }
    REQUIRE(done == pid_);
    pid_ = -1;
    out_text_ += drain(out_);
    err_text_ += drain(err_);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
  }

  void signal(int sig) { REQUIRE(::kill(pid_, sig) == 0); }

  const std::string& rest_of_stdout() const { return out_text_; }
  const std::string& err() const { return err_text_; }

private:
  static std::string drain(int fd) {
    std::string text;
    char buffer[4096];
    ssize_t got;
    while ((got = ::read(fd, buffer, sizeof buffer)) > 0)
      text.append(buffer, static_cast<std::size_t>(got));
    return text;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  std::string out_text_;
  std::string err_text_;
};

/// Runs `hash-password` with `input`; returns its exit status and output.
std::pair<int, std::string> hash_password(const std::string& input,
                                          std::string* err = nullptr) {
  process proc{{"hash-password"}, input, "/"};
  auto status = proc.wait();
  if (err)
    *err = proc.err();
  return {status, proc.rest_of_stdout()};
}

/// A configuration file in `dir` with one action type.
std::string write_config(const temp_dir& dir, json users,
                         json extra = json::object()) {
  json config = {{"listen", "127.0.0.1:0"},
                 {"data_dir", dir.file("data")},
                 {"users", std::move(users)},
                 {"actions", {{"quick", {{"command", {"/bin/true"}}}}}}};
  if (extra.is_object())
    config.update(extra);
  auto path = dir.file("cfg.json");
  std::ofstream{path} << config.dump(2);
  return path;
}

} // namespace

TEST_CASE("hash-password prints a hash of the line on stdin") {
  auto [status, out] = hash_password("correct horse battery\n");
  REQUIRE(status == 0);
  REQUIRE(out.size() > 1);
  CHECK(out.back() == '\n');
  out.pop_back();
  CHECK(out.find('\n') == std::string::npos);
  CHECK(out.find("correct") == std::string::npos);
  CHECK_THAT(out, Catch::StartsWith("pbkdf2-sha256$600000$"));
  auto hash = password_hash::parse(out);
  REQUIRE(hash);
  CHECK(hash->matches("correct horse battery"));
  CHECK_FALSE(hash->matches("correct horse battery\n"));

  // A CRLF line end is not part of the password, nor is a second line.
  auto crlf = hash_password("p4ss\r\nsecond line\n");
  REQUIRE(crlf.first == 0);
  crlf.second.pop_back();
  CHECK(password_hash::parse(crlf.second)->matches("p4ss"));
  // No line end at all.
  auto bare = hash_password("bare");
  REQUIRE(bare.first == 0);
  bare.second.pop_back();
  CHECK(password_hash::parse(bare.second)->matches("bare"));

  std::string err;
  CHECK(hash_password("", &err).first == 2);
  CHECK_THAT(err, Catch::Contains("no password on stdin"));
  CHECK(hash_password("\n").first == 2);
}

TEST_CASE("a hash from hash-password logs in over HTTPS") {
  temp_dir dir;
  const std::string secret = "it's: a \"secret\"";
  auto [status, out] = hash_password(secret + "\n");
  REQUIRE(status == 0);
  out.pop_back();
  auto config = write_config(
    dir, {{{"email", "ops@example.com"}, {"password_hash", out},
           {"role", "admin"}}});

  process server{{"--config", config}, "", dir.file("")};
  auto line = server.stdout_line();
  std::smatch match;
  REQUIRE(std::regex_match(
    line, match,
    std::regex{R"(listening on https://127\.0\.0\.1:(\d+) \(certificate: (.+)\))"}));
  const int port = std::stoi(match[1]);
  const std::string cert = match[2];
  CHECK(cert == dir.file("data/server-cert.pem"));

  httplib::SSLClient client{"127.0.0.1", port};
  client.set_ca_cert_path(cert.c_str());
  client.enable_server_certificate_verification(true);
  client.set_basic_auth("ops@example.com", secret.c_str());
  auto res = client.Get("/v1/cluster/actions");
  REQUIRE(res);
  CHECK(res->status == 200);
  client.set_basic_auth("ops@example.com", "not it");
  res = client.Get("/v1/cluster/actions");
  REQUIRE(res);
  CHECK(res->status == 401);
  CHECK(res->body.find("not it") == std::string::npos);

  server.signal(SIGTERM);
  CHECK(server.wait() == 0);
  // Neither the password nor its hash went to the log.
  for (const auto* text : {&server.err(), &server.rest_of_stdout()}) {
    CHECK(text->find("secret") == std::string::npos);
    CHECK(text->find(out) == std::string::npos);
  }
  CHECK_THAT(server.err(), Catch::Contains("generated a self-signed "
                                           "certificate"));
}

TEST_CASE("start-up errors name the key and exit 2 without listening") {
  temp_dir dir;
  const std::string secret = "Pa55-w0rd";
  const auto hash = password_hash::make(secret, 10'000).to_string();
  const json admin = {{"email", "a@x"}, {"password", secret},
                      {"role", "admin"}};
  struct bad_config {
    std::string label;
    json users;
    json extra;
    std::string message;
  };
  auto with = [&](json user, std::string key, json value) {
    user[key] = std::move(value);
    return user;
  };
  auto hashed = with(admin, "password_hash", hash);
  hashed.erase("password");
  auto neither = admin;
  neither.erase("password");
  const std::vector<bad_config> cases{
    {"plain HTTP off loopback", {admin},
     {{"tls", false}, {"listen", "0.0.0.0:0"}},
     "tls: plain HTTP (\"tls\": false) is allowed only on a loopback "
     "address"},
    {"both password and hash", {with(admin, "password_hash", hash)}, {},
     "users[0].password_hash: give either \"password\" or "
     "\"password_hash\", not both"},
    {"neither", {neither}, {}, "users[0].password: missing"},
    {"malformed hash", {with(hashed, "password_hash", hash + "x")}, {},
     "users[0].password_hash: not a hash from"},
    {"unknown role", {with(admin, "role", "root")}, {},
     "users[0].role: unknown role \"root\""},
    {"duplicate email", {admin, with(hashed, "email", "A@x")}, {},
     "users[1].email: duplicate user \"A@x\""},
    {"missing certificate", {admin},
     {{"tls", {{"cert_file", dir.file("none.pem")},
               {"key_file", dir.file("none-key.pem")}}}},
     "tls.cert_file: cannot read \"" + dir.file("none.pem") + "\""},
  };
  for (const auto& c : cases) {
    INFO(c.label);
    auto config = write_config(dir, c.users, c.extra);
    process server{{"--config", config}, "", dir.file("")};
    CHECK(server.wait() == 2);
    CHECK(server.rest_of_stdout().empty()); // no "listening on"
    CHECK_THAT(server.err(),
               Catch::StartsWith("cluster-actions-server: " + config + ": "
                                 + c.message));
    CHECK(server.err().find(secret) == std::string::npos);
    CHECK(server.err().find(hash.substr(25)) == std::string::npos);
  }
}
