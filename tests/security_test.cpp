// Who did what, and what a client can learn or fake: the audit log (its
// writer, and what the server records in it), the client address behind
// trusted proxies, login timing that does not tell which emails exist, and
// certificates replaced while the server runs.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <numeric>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "app/server.hpp"
#include "app/tls.hpp"
#include "http/audit_log.hpp"
#include "http/password_hash.hpp"
#include "running_server.hpp"
#include "response_log.hpp"
#include "test_support.hpp"
#include "tls_probe.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
namespace app = cluster_actions::app;
namespace http = cluster_actions::http;
namespace fs = std::filesystem;
using cluster_actions::testing::file_serial;
using cluster_actions::testing::presented_serial;
using cluster_actions::testing::tls_connection;

namespace {

struct temp_dir : cluster_actions::testing::temp_dir {
  temp_dir() : cluster_actions::testing::temp_dir("security-test-") {}
};

using test_server = cluster_actions::testing::running_server;
using steady = std::chrono::steady_clock;

const std::string list_path = "/v1/cluster/actions";
const std::string admin = "admin@example.com";
const std::string viewer = "viewer@example.com";
const std::string admin_password = "admin pass:1";
const std::string viewer_password = "viewer pass:2";

/// Polls `done` every few milliseconds until it holds; false after `within`.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds within = 10s) {
  const auto deadline = steady::now() + within;
  while (!done()) {
    if (steady::now() > deadline)
      return false;
    std::this_thread::sleep_for(5ms); // poll interval
  }
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

/// The lines of an audit log, parsed.
std::vector<json> audit_lines(const std::string& path) {
  std::vector<json> lines;
  std::ifstream in{path};
  for (std::string line; std::getline(in, line);)
    lines.push_back(json::parse(line));
  return lines;
}

std::vector<std::string> events_of(const std::vector<json>& lines) {
  std::vector<std::string> events;
  for (const auto& line : lines)
    events.push_back(line.at("event"));
  return events;
}

/// `line` without its time, which must be UTC with milliseconds.
json without_time(json line) {
  static const std::regex utc{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"};
  INFO(line.dump());
  REQUIRE(line.contains("time"));
  CHECK(std::regex_match(line["time"].get<std::string>(), utc));
  line.erase("time");
  return line;
}

mode_t mode_of(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

/// Plain HTTP on loopback, an admin and a viewer, and a type that runs
/// until cancelled.
app::server_config plain_config(const temp_dir& dir) {
  app::server_config config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.tls.mode = app::tls_mode::off;
  config.data_dir = dir.file("data");
  config.users.push_back({admin, admin_password, http::role::admin});
  config.users.push_back({viewer, viewer_password, http::role::cluster_viewer});
  app::command_action hold;
  hold.name = "hold";
  hold.command = {"/bin/sh", "-c", "exec sleep 30"};
  hold.cancel_grace = 1s;
  config.actions.push_back(hold);
  return config;
}

/// A client of 127.0.0.1:`port` connecting from `from` (any 127.x.y.z is
/// loopback), with credentials unless `user` is empty.
httplib::Client client_of(int port, const std::string& user = "",
                          const std::string& password = "",
                          const std::string& from = "127.0.0.1") {
  httplib::Client client{"127.0.0.1", port};
  client.set_connection_timeout(5s);
  client.set_read_timeout(10s);
  client.set_interface(from.c_str());
  cluster_actions::testing::record_responses(client);
  if (!user.empty())
    client.set_basic_auth(user.c_str(), password.c_str());
  return client;
}

int status_of(const httplib::Result& res) {
  REQUIRE(res);
  return res->status;
}

} // namespace

TEST_CASE("the audit log writes one JSON line per record, owner-only") {
  temp_dir dir;
  const auto path = dir.file("audit.log");
  http::audit_log log{path};
  CHECK(mode_of(path) == 0600);
  log.record({"start_accepted", admin, "10.0.0.7", "POST",
              list_path + "/hold", 200, "uid-1", "queued"});
  log.record({"server_started"});
  // Bytes that are not UTF-8 are replaced, long fields cut.
  log.record({"login_failed", std::string(5000, 'u'), "10.0.0.8", "GET",
              "/v1/\xff\xfe", 401});
  REQUIRE(eventually([&] { return audit_lines(path).size() == 3; }));
  auto lines = audit_lines(path);
  CHECK(without_time(lines[0])
        == json{{"event", "start_accepted"}, {"user", admin},
                {"client", "10.0.0.7"}, {"method", "POST"},
                {"path", list_path + "/hold"}, {"status", 200},
                {"action_uid", "uid-1"}, {"action_status", "queued"}});
  // The fields in that order, time first.
  CHECK(read_file(path).rfind(R"({"time":")", 0) == 0);
  CHECK(read_file(path).find(R"(","event":"start_accepted","user":")")
        != std::string::npos);
  CHECK(without_time(lines[1]) == json{{"event", "server_started"}});
  CHECK(lines[2]["user"] == std::string(1024, 'u'));
  CHECK(lines[2]["path"] == "/v1/\xEF\xBF\xBD\xEF\xBF\xBD");

  SECTION("reopen() starts a new file once the old one has been moved") {
    fs::rename(path, path + ".1");
    log.reopen();
    log.record({"server_stopped"});
    REQUIRE(eventually([&] { return audit_lines(path).size() == 1; }));
    CHECK(audit_lines(path)[0]["event"] == "server_stopped");
    CHECK(mode_of(path) == 0600);
    CHECK(audit_lines(path + ".1").size() == 3);
  }
  SECTION("a file that was there is made owner-only and appended to") {
    const auto other = dir.file("existing.log");
    std::ofstream{other} << R"({"event":"earlier"})" << '\n';
    fs::permissions(other, fs::perms::owner_read | fs::perms::owner_write
                             | fs::perms::group_read | fs::perms::others_read);
    {
      http::audit_log again{other};
      CHECK(mode_of(other) == 0600);
      again.record({"server_started"});
    } // the destructor writes what is queued
    CHECK(events_of(audit_lines(other))
          == std::vector<std::string>{"earlier", "server_started"});
  }
  SECTION("a log that cannot be opened is an error") {
    CHECK_THROWS_AS(http::audit_log{dir.file("absent/audit.log")},
                    std::system_error);
  }
}

TEST_CASE("a full audit queue drops lines and counts them, without waiting") {
  // A pipe that nobody reads until the records are in: the writer blocks
  // on it, as it would on a stalled disk.
  temp_dir dir;
  const auto path = dir.file("audit.fifo");
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  const int reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(reader >= 0);
  auto log = std::make_unique<http::audit_log>(path, 8);

  constexpr int total = 4000; // ~1.2 MB: far more than a pipe holds
  const std::string padding(200, 'p');
  auto recorded = std::async(std::launch::async, [&] {
    for (int i = 0; i < total; ++i)
      log->record({"start_refused", std::to_string(i) + padding, "10.0.0.1",
                   "POST", list_path + "/x", 409});
  });
  // record() must come back although the writer is stuck.
  const bool returned = recorded.wait_for(10s) == std::future_status::ready;
  CHECK(returned);

  // Stopping the log writes the rest (and the count of lines dropped at
  // the end); meanwhile the pipe is read to its end.
  std::thread stopping{[&] {
    recorded.wait();
    log.reset();
  }};
  std::string text;
  for (;;) {
    pollfd ready{reader, POLLIN, 0};
    if (::poll(&ready, 1, 10000) <= 0)
      break;
    char buffer[65536];
    auto got = ::read(reader, buffer, sizeof buffer);
    if (got <= 0)
      break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  stopping.join();
  ::close(reader);

  // Every record is either a line or counted in the marker that stands
  // where it would have been; lines keep their order.
  std::istringstream lines{text};
  int next = 0;
  int dropped = 0;
  int markers = 0;
  for (std::string line; std::getline(lines, line);) {
    auto entry = json::parse(line);
    if (entry["event"] == "audit_lines_dropped") {
      ++markers;
      dropped += entry["dropped"].get<int>();
      next += entry["dropped"].get<int>();
      continue;
    }
    auto user = entry["user"].get<std::string>();
    INFO(line);
    REQUIRE(std::stoi(user) == next);
    ++next;
  }
  CHECK(next == total);
  CHECK(markers > 0);
  CHECK(dropped > 0);
  CHECK(dropped < total);
}

TEST_CASE("the server records starts, cancels, refusals and failed logins") {
  temp_dir dir;
  const auto path = dir.file("data/audit.log");
  std::string uid;
  {
    test_server server{plain_config(dir)};
    CHECK(mode_of(path) == 0600);
    auto admin_client = client_of(server.port(), admin, admin_password);
    auto started = admin_client.Post((list_path + "/hold").c_str());
    REQUIRE(status_of(started) == 200);
    uid = json::parse(started->body)["action_uid"];
    // Cancelled once running, so that the answer says "cancelling".
    REQUIRE(eventually([&] {
      auto res = admin_client.Get((list_path + "/hold").c_str());
      return status_of(res) == 200
             && json::parse(res->body)["status"] == "running";
    }));
    CHECK(status_of(admin_client.Delete((list_path + "/hold").c_str())) == 200);
    CHECK(status_of(client_of(server.port(), admin, "wrong password")
                      .Get(list_path.c_str()))
          == 401);
    CHECK(status_of(client_of(server.port(), "nobody@example.com", "guess")
                      .Get(list_path.c_str()))
          == 401);
    auto viewer_client = client_of(server.port(), viewer, viewer_password);
    CHECK(status_of(viewer_client.Post((list_path + "/hold").c_str())) == 403);
    // Reads are not recorded.
    CHECK(status_of(viewer_client.Get(list_path.c_str())) == 200);
    CHECK(status_of(client_of(server.port()).Get(list_path.c_str())) == 401);
    CHECK(status_of(admin_client.Post((list_path + "/nope").c_str())) == 400);
    CHECK(status_of(admin_client.Delete((list_path + "/nope").c_str()))
          == 404);
  }
  const auto lines = audit_lines(path);
  REQUIRE(events_of(lines)
          == std::vector<std::string>{
            "server_started", "start_accepted", "cancel_accepted",
            "login_failed", "login_failed", "permission_denied",
            "credentials_missing", "start_refused", "cancel_refused",
            "server_stopped"});
  auto request = [](const std::string& event, const std::string& user,
                    const std::string& method, const std::string& name,
                    int status) {
    json line{{"event", event}};
    if (!user.empty())
      line["user"] = user;
    line["client"] = "127.0.0.1";
    line["method"] = method;
    line["path"] = list_path + (name.empty() ? "" : "/" + name);
    line["status"] = status;
    return line;
  };
  auto with_action = [&](json line, const std::string& status) {
    line["action_uid"] = uid;
    line["action_status"] = status;
    return line;
  };
  CHECK(without_time(lines[0]) == json{{"event", "server_started"}});
  CHECK(without_time(lines[1])
        == with_action(request("start_accepted", admin, "POST", "hold", 200),
                       "queued"));
  CHECK(without_time(lines[2])
        == with_action(request("cancel_accepted", admin, "DELETE", "hold", 200),
                       "cancelling"));
  CHECK(without_time(lines[3])
        == request("login_failed", admin, "GET", "", 401));
  CHECK(without_time(lines[4])
        == request("login_failed", "nobody@example.com", "GET", "", 401));
  CHECK(without_time(lines[5])
        == request("permission_denied", viewer, "POST", "hold", 403));
  CHECK(without_time(lines[6])
        == request("credentials_missing", "", "GET", "", 401));
  CHECK(without_time(lines[7])
        == request("start_refused", admin, "POST", "nope", 400));
  CHECK(without_time(lines[8])
        == request("cancel_refused", admin, "DELETE", "nope", 404));
  CHECK(without_time(lines[9]) == json{{"event", "server_stopped"}});
  // No password, right or wrong, is ever written.
  const auto text = read_file(path);
  for (const auto& secret :
       {admin_password, viewer_password, std::string{"wrong password"},
        std::string{"guess"}})
    CHECK(text.find(secret) == std::string::npos);
}

TEST_CASE("behind trusted proxies, X-Forwarded-For names the client") {
  temp_dir dir;
  auto config = plain_config(dir);
  config.trusted_proxies = {"127.0.0.2", "10.0.0.0/8"};
  const auto path = dir.file("data/audit.log");
  test_server server{config};
  auto from = [&](const std::string& peer, const std::string& forwarded,
                  const std::string& password) {
    auto client = client_of(server.port(), admin, password, peer);
    httplib::Headers headers;
    if (!forwarded.empty())
      headers.emplace("X-Forwarded-For", forwarded);
    return status_of(client.Get(list_path.c_str(), headers));
  };
  // The audit log names the client the throttle counted: the clients of
  // the ten failed logins and of the throttled one, once all are written.
  auto audited_clients = [&] {
    std::vector<std::string> clients;
    REQUIRE(eventually([&] {
      clients.clear();
      for (const auto& line : audit_lines(path))
        if (line["event"] == "login_failed"
            || line["event"] == "login_throttled")
          clients.push_back(line["client"]);
      return clients.size() == 11;
    }));
    CHECK(audit_lines(path).back()["event"] == "login_throttled");
    CHECK(audit_lines(path).back()["user"] == admin);
    return clients;
  };

  SECTION("from a trusted proxy, the throttle counts the forwarded client") {
    for (int i = 0; i < 10; ++i)
      REQUIRE(from("127.0.0.2", "203.0.113.7, 10.1.1.1", "wrong") == 401);
    CHECK(from("127.0.0.2", "203.0.113.7", admin_password) == 429);
    CHECK(audited_clients() == std::vector<std::string>(11, "203.0.113.7"));
    // Another client behind the same proxy, and the proxy itself.
    CHECK(from("127.0.0.2", "203.0.113.8", admin_password) == 200);
    CHECK(from("127.0.0.2", "", admin_password) == 200);
  }
  SECTION("from anyone else, the header is ignored") {
    for (int i = 0; i < 10; ++i)
      REQUIRE(from("127.0.0.3", "203.0.113." + std::to_string(i), "wrong")
              == 401);
    CHECK(from("127.0.0.3", "198.51.100.1", admin_password) == 429);
    CHECK(audited_clients() == std::vector<std::string>(11, "127.0.0.3"));
    CHECK(from("127.0.0.2", "203.0.113.9", admin_password) == 200);
  }
}

TEST_CASE("an unknown email takes as long to refuse as a wrong password",
          "[timing]") {
  temp_dir dir;
  auto config = plain_config(dir);
  // A hash of the same cost for every hashed user, as hash-password makes
  // them; fewer iterations than its default keep the test short, and
  // still make a check cost milliseconds, far above the noise of a
  // request.
  const std::string secret = "hashed secret";
  config.users.push_back(
    {"hashed@example.com", "", http::role::admin,
     http::password_hash::make(secret, 20'000).to_string()});
  test_server server{config};

  // The throttle closes an address after ten failures: each round comes
  // from an address of its own.
  using attempt = std::function<int(const std::string& from)>;
  auto login = [&](const std::string& user, const std::string& password) {
    return attempt{[&server, user, password](const std::string& from) {
      return status_of(client_of(server.port(), user, password, from)
                         .Get(list_path.c_str()));
    }};
  };
  const std::vector<std::pair<std::string, attempt>> kinds{
    {"unknown email", login("nobody@example.com", secret)},
    {"known email, wrong password", login("hashed@example.com", "wrong")},
    {"known plain-password user, wrong password", login(admin, "wrong")},
    {"right password (cached)", login("hashed@example.com", secret)},
  };
  REQUIRE(kinds[3].second("127.0.100.1") == 200); // fills the cache

  constexpr int rounds = 80;
  std::vector<std::vector<double>> took(kinds.size());
  std::vector<std::size_t> order(kinds.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 shuffled{16}; // the same orders in every run
  for (int round = 0; round < rounds; ++round) {
    const auto from = "127.0.101." + std::to_string(round + 1);
    // Interleaved, in a new order each round, so that a busy moment of the
    // machine, or what the attempt before leaves behind, falls on every
    // kind alike.
    std::shuffle(order.begin(), order.end(), shuffled);
    for (auto kind : order) {
      const auto started = steady::now();
      const int status = kinds[kind].second(from);
      const std::chrono::duration<double, std::milli> elapsed
        = steady::now() - started;
      INFO(kinds[kind].first);
      REQUIRE(status == (kind == 3 ? 200 : 401));
      took[kind].push_back(elapsed.count());
    }
  }
  std::vector<double> medians;
  for (auto& times : took) {
    std::sort(times.begin(), times.end());
    medians.push_back(times[times.size() / 2]);
  }
  INFO("medians (ms): unknown email " << medians[0] << ", wrong password "
                                      << medians[1] << ", wrong plain password "
                                      << medians[2] << ", cached login "
                                      << medians[3]);
  auto close = [](double a, double b) {
    return std::abs(a - b) <= 0.2 * std::min(a, b);
  };
  CHECK(close(medians[0], medians[1]));
  CHECK(close(medians[0], medians[2]));
  // The measurement sees a hash being checked: a refusal that skipped it
  // would look like the cached login.
  CHECK(medians[0] > 3 * medians[3]);
  WARN("login timing medians (ms): unknown email "
       << medians[0] << ", wrong password " << medians[1]
       << ", wrong plain password " << medians[2] << ", cached login "
       << medians[3]);
}

namespace {

/// The names the server's own certificate has for a listen host of
/// 127.0.0.1 (see own_certificate_names in app/server.cpp).
app::certificate_names own_names() {
  char host[256] = {};
  REQUIRE(::gethostname(host, sizeof host - 1) == 0);
  app::certificate_names names;
  if (host[0] != '\0')
    names.dns.push_back(host);
  names.dns.push_back("localhost");
  names.ip = {"127.0.0.1", "::1"};
  return names;
}

/// Checks `done` every 100 ms until it holds (false after `within`), with a
/// request on `open` each time, so that it stays in use: an idle keep-alive
/// connection is closed after 5 s.
bool eventually_while_using(tls_connection& open,
                            const std::function<bool()>& done,
                            std::chrono::milliseconds within = 20s) {
  const auto deadline = steady::now() + within;
  for (;;) {
    REQUIRE(open.get(list_path) == "HTTP/1.1 401 Unauthorized");
    if (done())
      return true;
    if (steady::now() > deadline)
      return false;
    std::this_thread::sleep_for(100ms); // poll interval
  }
}

} // namespace

TEST_CASE("the running server renews its own certificate before it expires") {
  temp_dir dir;
  auto config = plain_config(dir);
  config.tls.mode = app::tls_mode::self_signed;
  config.certificate_check_interval = 100ms;
  const auto files = app::self_signed_files(config.data_dir);
  fs::create_directories(config.data_dir);
  // Good for start-up, which wants more than 30 days left, for a few
  // seconds only (the validity counts from the backdated start).
  app::write_self_signed(files, own_names(),
                         std::chrono::hours{24 * 30}
                           + app::certificate_backdating
                           + std::chrono::seconds{5});
  const auto short_lived = file_serial(files.cert_file);

  test_server server{config};
  tls_connection open{server.port()};
  CHECK(open.serial() == short_lived);
  REQUIRE(eventually_while_using(
    open, [&] { return presented_serial(server.port()) != short_lived; }));

  // The new pair is in the files, valid for long, and what new clients get.
  const auto renewed = file_serial(files.cert_file);
  CHECK(renewed != short_lived);
  CHECK(presented_serial(server.port()) == renewed);
  std::unique_ptr<BIO, void (*)(BIO*)> bio{
    BIO_new_file(files.cert_file.c_str(), "r"), BIO_free_all};
  std::unique_ptr<X509, void (*)(X509*)> cert{
    PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free};
  REQUIRE(cert);
  std::time_t in_two_years = std::time(nullptr) + 2 * 365 * 24 * 3600;
  CHECK(X509_cmp_time(X509_get0_notAfter(cert.get()), &in_two_years) > 0);
  // The connection opened before goes on with the certificate it began with.
  CHECK(open.get(list_path) == "HTTP/1.1 401 Unauthorized");
  CHECK(open.serial() == short_lived);
}

TEST_CASE("reload() presents an operator's new pair to new connections") {
  temp_dir dir;
  auto config = plain_config(dir);
  const app::tls_files files{dir.file("operator-cert.pem"),
                             dir.file("operator-key.pem")};
  const app::certificate_names names{{"localhost"}, {"127.0.0.1"}};
  app::write_self_signed(files, names);
  const auto first = file_serial(files.cert_file);
  config.tls = {app::tls_mode::files, files.cert_file, files.key_file};
  test_server server{config};
  tls_connection open{server.port()};
  CHECK(open.serial() == first);

  app::write_self_signed(files, names);
  const auto second = file_serial(files.cert_file);
  REQUIRE(second != first);
  CHECK(presented_serial(server.port()) == first); // until asked
  server->reload();
  CHECK(presented_serial(server.port()) == second);
  CHECK(open.get(list_path) == "HTTP/1.1 401 Unauthorized");
  CHECK(open.serial() == first);

  SECTION("a pair that does not load is refused, and the last one stays") {
    std::ofstream{files.cert_file} << "-----BEGIN CERTIFICATE-----\nx\n";
    server->reload();
    CHECK(presented_serial(server.port()) == second);
    // A certificate whose key is not the one in key_file.
    app::write_self_signed({files.cert_file, dir.file("other-key.pem")},
                           names);
    server->reload();
    CHECK(presented_serial(server.port()) == second);
    fs::remove(files.key_file);
    server->reload();
    CHECK(presented_serial(server.port()) == second);
    CHECK(open.get(list_path) == "HTTP/1.1 401 Unauthorized");
  }
}
