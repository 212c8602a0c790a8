#include "app/server.hpp"

#include <sys/socket.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>

#include <caf/all.hpp>
#include <httplib.h>

#include "actors/command_work.hpp"
#include "actors/supervisor.hpp"
#include "http/rest_api.hpp"
#include "messages/type_ids.hpp"

namespace cluster_actions::app {

namespace {

/// How long live runs get to stop at shutdown before they are killed, and
/// how long the shutdown waits for the supervisor on top of that.
constexpr auto shutdown_grace = std::chrono::seconds(2);
constexpr auto shutdown_margin = std::chrono::seconds(3);

caf::actor_system_config& make_actor_config(caf::actor_system_config& cfg) {
  // Request round trips from HTTP threads are dominated by scheduler
  // wake-ups; the sharing policy wakes workers faster than work stealing.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  add_message_types(cfg);
  return cfg;
}

std::vector<action_type>
make_action_types(const server_config& config,
                  const std::shared_ptr<process_monitor>& monitor) {
  std::vector<action_type> types;
  for (const auto& action : config.actions) {
    action_type type;
    type.name = action.name;
    type.params = action.params;
    type.timeout = action.timeout;
    type.cancel_grace = action.cancel_grace;
    type.work = command_work({action.command, config.data_dir}, monitor);
    types.push_back(std::move(type));
  }
  return types;
}

http::rest_settings make_rest_settings(const server_config& config) {
  http::rest_settings settings;
  settings.max_body_bytes = config.max_body_bytes;
  settings.max_pending_requests = config.max_pending_requests;
  settings.request_timeout = config.request_timeout;
  settings.threads = config.http_threads;
  return settings;
}

} // namespace

struct server::impl {
  server_config config;
  // Declared before the actor system: destroyed after it, once every
  // worker that reports to it has quit.
  std::shared_ptr<process_monitor> monitor;
  caf::actor_system_config actor_config;
  caf::actor_system system;
  supervisor_actor supervisor;
  http::rest_settings settings;
  http::rest_server http;
  int port = 0;

  std::mutex mutex;
  std::condition_variable changed;
  bool stopping = false;
  bool serving = false;
  bool stopped = false;

  explicit impl(server_config cfg)
    : config(std::move(cfg)),
      monitor(std::make_shared<process_monitor>()),
      system(make_actor_config(actor_config)),
      settings(make_rest_settings(config)),
      http(settings) {
    // Orphaned processes of a run become ours, so that the monitor can reap
    // them and see their process group gone.
    become_subreaper();
    std::filesystem::create_directories(config.data_dir);
    config.data_dir = std::filesystem::absolute(config.data_dir).string();
    supervisor = spawn_supervisor(system, make_action_types(config, monitor),
                                  {config.max_running_actions});
    // Debian's httplib sets SO_REUSEPORT, which lets a second server share a
    // port already in use instead of failing to bind.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    http::mount_routes(http, system, supervisor, config.users, settings);
    port = http.bind(config.host, config.port);
    if (port < 0) {
      shutdown_actors();
      throw std::runtime_error("cannot listen on " + config.host + ":"
                               + std::to_string(config.port)
                               + " (address in use or not available here)");
    }
  }

  /// Aborts live runs and waits, bounded, until their work is gone; then
  /// lets the supervisor and its action actors go.
  void shutdown_actors() {
    caf::scoped_actor self{system};
    self
      ->request(supervisor, shutdown_grace + shutdown_margin,
                shutdown_atom::value, caf::timespan{shutdown_grace})
      .receive([](std::size_t) {},
               [&](const caf::error& err) {
                 std::cerr << "shutdown: runs did not stop in time ("
                           << system.render(err) << "); killing them\n";
               });
    self->send_exit(supervisor, caf::exit_reason::user_shutdown);
    supervisor = nullptr;
  }
};

server::server(server_config config)
  : impl_(std::make_unique<impl>(std::move(config))) {
  // nop
}

server::~server() {
  stop();
}

int server::port() const {
  return impl_->port;
}

std::string server::url() const {
  const auto& host = impl_->config.host;
  const bool ipv6 = host.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + host + "]" : host) + ":"
         + std::to_string(impl_->port);
}

void server::run() {
  {
    std::lock_guard<std::mutex> guard{impl_->mutex};
    if (impl_->stopping)
      return;
    impl_->serving = true;
  }
  impl_->http.listen_after_bind();
  std::lock_guard<std::mutex> guard{impl_->mutex};
  impl_->serving = false;
  impl_->changed.notify_all();
}

void server::stop() {
  std::unique_lock<std::mutex> guard{impl_->mutex};
  if (impl_->stopping) {
    impl_->changed.wait(guard, [this] { return impl_->stopped; });
    return;
  }
  impl_->stopping = true;
  // httplib's stop() only takes effect once the server loop is running, so
  // repeat it until run() has returned.
  while (impl_->serving) {
    impl_->http.stop();
    impl_->changed.wait_for(guard, std::chrono::milliseconds(10));
  }
  guard.unlock();
  impl_->shutdown_actors();
  guard.lock();
  impl_->stopped = true;
  impl_->changed.notify_all();
}

} // namespace cluster_actions::app
