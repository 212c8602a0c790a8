// Mutations under load against a running cluster actions server, with
// cpp-httplib client threads.
//
//   load-driver config  --types N [--prefix P] [--command PATH] [--max-running M]
//                       [--storm-types N] [--password PW] [--data-dir D]
//                       [--store sqlite|memory] > cfg.json
//   load-driver cycles  --url U --password PW --types N [--prefix P] [--seconds S]
//   load-driver storm   --url U --password PW --types N --clients K [--rounds R]
//                       [--prefix P (default storm_)]
//   load-driver populate --url U --password PW --types N [--prefix P] [--threads T]
//
// `cycles`: one client thread per action type, each looping
// start -> poll until terminal -> delete; reports cycles/s and the latency
// of the starts (POST), p50 and p99.
// `storm`: per round, K clients per type start the same type at the same
// moment; exactly one start per type must win (200) and every other one
// must be a 409 conflict. The storm types' command runs until cancelled
// (`config --storm-types` makes them: storm_0, ... running /bin/sleep), so
// the winner's run is live for the whole round and any second 200 is a
// double start. Then the run is cancelled, polled to its end and deleted.
// `populate`: starts one run of each type and waits until all have ended
// (finished runs for the list to show).
// Every mode checks each answer and exits 1 on any violation.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* user = "bench@cluster.local";
constexpr const char* actions_path = "/v1/cluster/actions/";

struct options {
  std::string mode;
  std::string url = "http://127.0.0.1:9443";
  std::string password = "bench-password";
  std::string prefix = "bench_";
  std::string command = "/bin/true";
  std::string data_dir = "./data";
  std::string store = "sqlite";
  int types = 1;
  int clients = 8;
  int rounds = 100;
  int threads = 16;
  int max_running = 64;
  int storm_types = 0;
  bool prefix_given = false;
  double seconds = 5;
  int poll_us = 500;
};

options parse(int argc, char** argv) {
  options opt;
  if (argc < 2)
    throw std::runtime_error("missing mode (config, cycles, storm, populate)");
  opt.mode = argv[1];
  for (int i = 2; i < argc; i += 2) {
    std::string key = argv[i];
    if (i + 1 >= argc)
      throw std::runtime_error("missing value for " + key);
    std::string value = argv[i + 1];
    if (key == "--url") opt.url = value;
    else if (key == "--password") opt.password = value;
    else if (key == "--prefix") { opt.prefix = value; opt.prefix_given = true; }
    else if (key == "--storm-types") opt.storm_types = std::stoi(value);
    else if (key == "--command") opt.command = value;
    else if (key == "--data-dir") opt.data_dir = value;
    else if (key == "--store") opt.store = value;
    else if (key == "--types") opt.types = std::stoi(value);
    else if (key == "--clients") opt.clients = std::stoi(value);
    else if (key == "--rounds") opt.rounds = std::stoi(value);
    else if (key == "--threads") opt.threads = std::stoi(value);
    else if (key == "--max-running") opt.max_running = std::stoi(value);
    else if (key == "--seconds") opt.seconds = std::stod(value);
    else if (key == "--poll-us") opt.poll_us = std::stoi(value);
    else throw std::runtime_error("unknown option " + key);
  }
  return opt;
}

std::string type_name(const options& opt, int i) {
  std::ostringstream out;
  out << opt.prefix << i;
  return out.str();
}

/// A violation of what the API promises: counted, printed, fails the run.
std::atomic<long> violations{0};

void violation(const std::string& what) {
  if (violations.fetch_add(1) < 20)
    std::cerr << "VIOLATION: " << what << "\n";
}

bool is_terminal(const std::string& state) {
  return state == "completed" || state == "failed" || state == "cancelled"
         || state == "aborted";
}

/// One keep-alive connection to the server.
class client {
public:
  explicit client(const options& opt) : opt_(opt), http_(opt.url) {
    http_.set_basic_auth(user, opt.password.c_str());
    http_.set_keep_alive(true);
    http_.set_tcp_nodelay(true);
    http_.set_connection_timeout(10);
    http_.set_read_timeout(30);
  }

  /// POSTs a start: the status code and, on 200, the new run's uid. Its
  /// latency goes to `latencies_us`.
  std::pair<int, std::string> start(const std::string& type) {
    auto begin = clock_type::now();
    auto res = http_.Post((actions_path + type).c_str());
    latencies_us.push_back(std::chrono::duration<double, std::micro>(
                             clock_type::now() - begin)
                             .count());
    if (!res) {
      violation("POST " + type + ": " + httplib::to_string(res.error()));
      return {0, {}};
    }
    if (res->status != 200)
      return {res->status, {}};
    auto doc = nlohmann::json::parse(res->body);
    if (doc.at("name") != type || doc.at("status") != "queued")
      violation("POST " + type + " answered " + res->body);
    return {200, doc.at("action_uid").get<std::string>()};
  }

  /// Polls until the run `uid` of `type` is terminal; returns its state.
  std::string await_end(const std::string& type, const std::string& uid) {
    auto deadline = clock_type::now() + std::chrono::seconds(60);
    while (clock_type::now() < deadline) {
      auto res = http_.Get((actions_path + type).c_str());
      if (!res || res->status != 200) {
        violation("GET " + type + " failed while run " + uid + " is current");
        return {};
      }
      auto doc = nlohmann::json::parse(res->body);
      if (doc.at("action_uid") != uid) {
        violation("GET " + type + " shows run " + doc.at("action_uid").dump()
                  + " instead of the winner " + uid);
        return {};
      }
      auto state = doc.at("status").get<std::string>();
      if (is_terminal(state))
        return state;
      std::this_thread::sleep_for(std::chrono::microseconds(opt_.poll_us));
    }
    violation("run " + uid + " of " + type + " did not end within 60 s");
    return {};
  }

  /// DELETEs the run `uid`: cancels it when live, removes it when finished.
  void remove(const std::string& type, const std::string& uid) {
    auto res = http_.Delete((actions_path + type).c_str());
    if (!res || res->status != 200) {
      violation("DELETE " + type + " of run " + uid + " did not answer 200");
      return;
    }
    auto doc = nlohmann::json::parse(res->body);
    if (doc.at("action_uid") != uid)
      violation("DELETE " + type + " removed another run: " + res->body);
  }

  std::vector<double> latencies_us;

private:
  const options& opt_;
  httplib::Client http_;
};

/// The `q` quantile (0..1) of `values`, in place; 0 for none.
double quantile(std::vector<double>& values, double q) {
  if (values.empty())
    return 0;
  auto k = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<long>(k),
                   values.end());
  return values[k];
}

/// A reusable barrier for a fixed number of threads (C++17 has none).
class barrier {
public:
  explicit barrier(int count) : count_(count) {}

  void arrive_and_wait() {
    std::unique_lock<std::mutex> guard{mutex_};
    auto generation = generation_;
    if (++arrived_ == count_) {
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
      return;
    }
    changed_.wait(guard, [&] { return generation_ != generation; });
  }

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int count_;
  int arrived_ = 0;
  long generation_ = 0;
};

int make_config(const options& opt) {
  std::ostringstream out;
  // Plain HTTP on loopback, like the baseline it is compared with.
  out << "{\n  \"listen\": \"127.0.0.1:0\",\n  \"tls\": false,\n"
      << "  \"data_dir\": " << nlohmann::json(opt.data_dir).dump() << ",\n"
      << "  \"max_running_actions\": " << opt.max_running << ",\n"
      << "  \"store\": " << nlohmann::json(opt.store).dump() << ",\n"
      << "  \"users\": [{\"email\": \"" << user << "\", \"password\": "
      << nlohmann::json(opt.password).dump() << ", \"role\": \"admin\"}],\n"
      << "  \"actions\": {";
  for (int i = 0; i < opt.types; ++i)
    out << (i ? ",\n" : "\n") << "    \"" << type_name(opt, i)
        << "\": {\"command\": [" << nlohmann::json(opt.command).dump() << "]}";
  for (int i = 0; i < opt.storm_types; ++i)
    out << (opt.types + i ? ",\n" : "\n") << "    \"storm_" << i
        << "\": {\"command\": [\"/bin/sleep\", \"3600\"], \"cancel_grace_s\": 2}";
  out << "\n  }\n}\n";
  std::cout << out.str();
  return 0;
}

/// One type's cycles, until `stop` or a violation.
void cycle(client& c, const std::string& type, const std::atomic<bool>& stop,
           std::atomic<long>& done) {
  while (!stop) {
    auto [status, uid] = c.start(type);
    if (status != 200) {
      violation("POST " + type + " by its only client answered "
                + std::to_string(status));
      return;
    }
    auto state = c.await_end(type, uid);
    if (state.empty())
      return;
    if (state != "completed")
      violation("run " + uid + " of " + type + " ended " + state);
    c.remove(type, uid);
    ++done;
  }
}

int cycles(const options& opt) {
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::mutex latencies_mutex;
  std::vector<double> latencies_us;
  auto begin = clock_type::now();
  for (int i = 0; i < opt.types; ++i)
    threads.emplace_back([&, i] {
      client c{opt};
      cycle(c, type_name(opt, i), stop, done);
      std::lock_guard<std::mutex> guard{latencies_mutex};
      latencies_us.insert(latencies_us.end(), c.latencies_us.begin(),
                          c.latencies_us.end());
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(opt.seconds));
  stop = true;
  for (auto& t : threads)
    t.join();
  std::chrono::duration<double> elapsed = clock_type::now() - begin;
  const auto posts = latencies_us.size();
  const auto p50 = quantile(latencies_us, 0.5);
  const auto p99 = quantile(latencies_us, 0.99);
  std::cout << "{\"mode\":\"cycles\",\"types\":" << opt.types
            << ",\"cycles\":" << done << ",\"seconds\":" << elapsed.count()
            << ",\"cycles_per_s\":" << done / elapsed.count()
            << ",\"posts\":" << posts << ",\"post_p50_ms\":" << p50 / 1000
            << ",\"post_p99_ms\":" << p99 / 1000
            << ",\"violations\":" << violations << "}" << std::endl;
  return violations == 0 && done > 0 ? 0 : 1;
}

int storm(options opt) {
  if (!opt.prefix_given)
    opt.prefix = "storm_";
  const int total = opt.types * opt.clients;
  barrier sync{total};
  // Per round and type: the start answers.
  std::vector<std::vector<int>> codes(opt.types,
                                      std::vector<int>(opt.clients));
  std::vector<std::vector<std::string>> uids(
    opt.types, std::vector<std::string>(opt.clients));
  std::atomic<long> double_starts{0};
  std::atomic<long> no_winner{0};
  std::atomic<long> attempts{0};
  std::vector<std::thread> threads;
  auto begin = clock_type::now();
  for (int t = 0; t < opt.types; ++t)
    for (int k = 0; k < opt.clients; ++k)
      threads.emplace_back([&, t, k] {
        client c{opt};
        auto type = type_name(opt, t);
        for (int round = 0; round < opt.rounds; ++round) {
          sync.arrive_and_wait(); // everybody starts at once
          auto [status, uid] = c.start(type);
          ++attempts;
          codes[t][k] = status;
          uids[t][k] = uid;
          sync.arrive_and_wait(); // every answer is in
          if (k != 0)
            continue;
          int wins = 0;
          std::string winner;
          for (int j = 0; j < opt.clients; ++j) {
            if (codes[t][j] == 200) {
              ++wins;
              winner = uids[t][j];
            } else if (codes[t][j] != 409) {
              violation("POST " + type + " answered "
                        + std::to_string(codes[t][j]) + " in a storm");
            }
          }
          if (wins > 1) {
            ++double_starts;
            violation(std::to_string(wins) + " starts of " + type
                      + " won in one round");
          } else if (wins == 0) {
            ++no_winner;
            violation("no start of " + type + " won in a round");
          }
          if (!winner.empty()) {
            c.remove(type, winner); // cancels the live run
            auto state = c.await_end(type, winner);
            if (!state.empty() && state != "cancelled")
              violation("run " + winner + " of " + type + " ended " + state
                        + " instead of cancelled");
            c.remove(type, winner); // removes its status
          }
        }
      });
  for (auto& t : threads)
    t.join();
  std::chrono::duration<double> elapsed = clock_type::now() - begin;
  long cycles = static_cast<long>(opt.types) * opt.rounds;
  std::cout << "{\"mode\":\"storm\",\"types\":" << opt.types
            << ",\"clients_per_type\":" << opt.clients
            << ",\"rounds\":" << opt.rounds << ",\"starts\":" << attempts
            << ",\"cycles\":" << cycles << ",\"seconds\":" << elapsed.count()
            << ",\"cycles_per_s\":" << cycles / elapsed.count()
            << ",\"double_starts\":" << double_starts
            << ",\"rounds_without_winner\":" << no_winner
            << ",\"violations\":" << violations << "}" << std::endl;
  return violations == 0 ? 0 : 1;
}

int populate(const options& opt) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < std::min(opt.threads, opt.types); ++n)
    threads.emplace_back([&] {
      client c{opt};
      for (int i = next++; i < opt.types; i = next++) {
        auto type = type_name(opt, i);
        auto [status, uid] = c.start(type);
        if (status != 200) {
          violation("POST " + type + " answered " + std::to_string(status));
          continue;
        }
        c.await_end(type, uid);
      }
    });
  for (auto& t : threads)
    t.join();
  return violations == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  try {
    auto opt = parse(argc, argv);
    if (opt.mode == "config")
      return make_config(opt);
    if (opt.mode == "cycles")
      return cycles(opt);
    if (opt.mode == "storm")
      return storm(opt);
    if (opt.mode == "populate")
      return populate(opt);
    throw std::runtime_error("unknown mode " + opt.mode);
  } catch (const std::exception& e) {
    std::cerr << "load-driver: " << e.what() << "\n";
    return 2;
  }
}
