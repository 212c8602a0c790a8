#include "http/metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace cluster_actions::http {

namespace {

/// Upper bounds of run durations, in seconds: actions take seconds to
/// hours.
const std::vector<double> run_duration_bounds
  = {1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200};

/// Upper bounds of request latencies, in seconds.
const std::vector<double> request_latency_bounds
  = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
     0.5,    1,     2.5,    5,     10,   30,    60};

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.15g", value);
  return text;
}

/// A label value as the text format writes it: \, " and newline escaped.
std::string escaped(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void header(std::string& out, std::string_view name, std::string_view type,
            std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels,
            double value) {
  out.append(name);
  if (!labels.empty())
    out.append("{").append(labels).append("}");
  out.append(" ").append(number(value)).append("\n");
}

/// A metric of one sample without labels.
void unlabelled(std::string& out, std::string_view name, std::string_view type,
                std::string_view help, double value) {
  header(out, name, type, help);
  sample(out, name, "", value);
}

std::string label(std::string_view key, std::string_view value) {
  return std::string{key} + "=\"" + escaped(value) + "\"";
}

/// A "Key:   N kB"-style field of /proc/self/status, or -1.
double proc_status_field(std::string_view key) {
  std::ifstream status{"/proc/self/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.compare(0, key.size(), key) == 0 && line.size() > key.size()
        && line[key.size()] == ':')
      return std::strtod(line.c_str() + key.size() + 1, nullptr);
  return -1;
}

double open_fds() {
  auto* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr)
    return -1;
  double count = 0;
  while (auto* entry = ::readdir(dir))
    if (entry->d_name[0] != '.')
      ++count;
  ::closedir(dir);
  return count - 1; // the directory stream's own descriptor
}

} // namespace

histogram::histogram(std::vector<double> bounds)
  : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  // nop
}

void histogram::observe(double value) {
  auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value)
                - bounds_.begin();
  ++counts_[static_cast<std::size_t>(bucket)];
  sum_ += value;
  ++count_;
}

void histogram::render(std::string& out, std::string_view name,
                       std::string_view labels) const {
  const std::string prefix = labels.empty() ? "" : std::string{labels} + ",";
  const std::string bucket = std::string{name} + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    sample(out, bucket, prefix + label("le", number(bounds_[i])),
           static_cast<double>(cumulative));
  }
  sample(out, bucket, prefix + label("le", "+Inf"), static_cast<double>(count_));
  sample(out, std::string{name} + "_sum", labels, sum_);
  sample(out, std::string{name} + "_count", labels,
         static_cast<double>(count_));
}

metrics::metrics() : request_latency_(request_latency_bounds) {
  // nop
}

void metrics::run_changed(const action_status& status,
                          clock::time_point now) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto live = live_runs_.find(status.name);
  const bool known = live != live_runs_.end()
                     && live->second.action_uid == status.action_uid;
  if (is_live(status.state)) {
    if (known) {
      live->second.state = status.state;
      return;
    }
    ++runs_started_[status.name];
    live_runs_[status.name] = {status.action_uid, status.state, now};
    return;
  }
  // A run seen ending; one that ended before the feed began is no news.
  if (!known)
    return;
  auto took = std::chrono::duration<double>(now - live->second.admitted);
  live_runs_.erase(live);
  ++runs_ended_[{status.name, std::string{to_string(status.state)}}];
  run_durations_.try_emplace(status.name, run_duration_bounds)
    .first->second.observe(took.count());
  if (status.error_code == "spawn_failed")
    ++spawn_failures_;
}

void metrics::request_answered(std::string_view method,
                               std::string_view route, int status,
                               clock::duration latency) {
  std::lock_guard<std::mutex> guard{mutex_};
  ++requests_[{std::string{method}, std::string{route}, status}];
  request_latency_.observe(std::chrono::duration<double>(latency).count());
}

void metrics::reply_timed_out() {
  std::lock_guard<std::mutex> guard{mutex_};
  ++reply_timeouts_;
}

void metrics::login_failed() {
  std::lock_guard<std::mutex> guard{mutex_};
  ++failed_logins_;
}

std::string metrics::render(std::size_t waiting_requests) const {
  std::string out;
  std::lock_guard<std::mutex> guard{mutex_};

  header(out, "cluster_actions_runs_started_total", "counter",
         "Runs admitted, per action type.");
  for (const auto& [action, count] : runs_started_)
    sample(out, "cluster_actions_runs_started_total", label("action", action),
           static_cast<double>(count));

  header(out, "cluster_actions_runs_ended_total", "counter",
         "Runs that reached a final status, per action type and status.");
  for (const auto& [key, count] : runs_ended_)
    sample(out, "cluster_actions_runs_ended_total",
           label("action", key.first) + "," + label("status", key.second),
           static_cast<double>(count));

  header(out, "cluster_actions_run_duration_seconds", "histogram",
         "Time from admission to the final status, per action type.");
  for (const auto& [action, durations] : run_durations_)
    durations.render(out, "cluster_actions_run_duration_seconds",
                     label("action", action));

  header(out, "cluster_actions_live_runs", "gauge",
         "Runs not yet ended, per status.");
  std::size_t queued = 0;
  for (auto state : {action_state::queued, action_state::starting,
                     action_state::running, action_state::cancelling}) {
    auto count = std::count_if(live_runs_.begin(), live_runs_.end(),
                               [state](const auto& entry) {
                                 return entry.second.state == state;
                               });
    if (state == action_state::queued)
      queued = static_cast<std::size_t>(count);
    sample(out, "cluster_actions_live_runs", label("status", to_string(state)),
           static_cast<double>(count));
  }

  unlabelled(out, "cluster_actions_queue_length", "gauge",
             "Runs waiting, queued, for a slot under max_running_actions.",
             static_cast<double>(queued));

  header(out, "cluster_actions_http_requests_total", "counter",
         "HTTP requests answered, per method, route template and status code.");
  for (const auto& [key, count] : requests_) {
    const auto& [method, route, code] = key;
    sample(out, "cluster_actions_http_requests_total",
           label("method", method) + "," + label("route", route) + ","
             + label("code", std::to_string(code)),
           static_cast<double>(count));
  }

  unlabelled(out, "cluster_actions_waiting_requests", "gauge",
             "GET requests held until what they show changes (Prefer: wait).",
             static_cast<double>(waiting_requests));

  header(out, "cluster_actions_http_request_duration_seconds", "histogram",
         "Time from a request's head being read to its answer being ready.");
  request_latency_.render(out, "cluster_actions_http_request_duration_seconds",
                          "");

  unlabelled(out, "cluster_actions_actor_reply_timeouts_total", "counter",
             "Requests answered 503 because the supervisor did not answer "
             "in time.",
             static_cast<double>(reply_timeouts_));
  unlabelled(out, "cluster_actions_failed_logins_total", "counter",
             "Requests with wrong or malformed credentials.",
             static_cast<double>(failed_logins_));
  unlabelled(out, "cluster_actions_command_spawn_failures_total", "counter",
             "Runs aborted because their command could not be started.",
             static_cast<double>(spawn_failures_));
  unlabelled(out, "process_resident_memory_bytes", "gauge",
             "Resident memory size in bytes.",
             proc_status_field("VmRSS") * 1024);
  unlabelled(out, "process_open_fds", "gauge", "Open file descriptors.",
             open_fds());
  unlabelled(out, "process_threads", "gauge", "Threads of the process.",
             proc_status_field("Threads"));
  return out;
}

} // namespace cluster_actions::http
