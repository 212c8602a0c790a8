#include "app/server.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <tuple>

#include <caf/all.hpp>
#include <httplib.h>

#include "actors/command_work.hpp"
#include "actors/sqlite_store.hpp"
#include "actors/supervisor.hpp"
#include "app/certificate_reload.hpp"
#include "app/data_dir_lock.hpp"
#include "app/tls.hpp"
#include "http/audit_log.hpp"
#include "http/guarded_server.hpp"
#include "http/rest_api.hpp"
#include "messages/type_ids.hpp"

namespace cluster_actions::app {

namespace {

/// How long live runs get to stop at shutdown before they are killed, and
/// how long the shutdown waits for the supervisor on top of that.
constexpr auto shutdown_grace = std::chrono::seconds(2);
constexpr auto shutdown_margin = std::chrono::seconds(3);
/// How long start-up waits for the supervisor to load the stored statuses.
constexpr auto load_deadline = std::chrono::seconds(60);

/// `config` with its data_dir created and made absolute.
server_config with_data_dir(server_config config) {
  std::filesystem::create_directories(config.data_dir);
  config.data_dir
    = std::filesystem::absolute(config.data_dir).lexically_normal().string();
  return config;
}

/// The status store the configuration asks for; none for memory only.
std::shared_ptr<sqlite_store> open_store(const server_config& config) {
  if (config.store == store_kind::memory)
    return nullptr;
  try {
    return std::make_shared<sqlite_store>(config.data_dir + "/state.db");
  } catch (const store_error& e) {
    throw data_dir_error(e.what());
  }
}

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
    type.work = command_work(
      {action.command, config.data_dir, action.environment}, monitor);
    types.push_back(std::move(type));
  }
  return types;
}

/// Letters, digits, '-' and '.', as a host name is written; anything else
/// (an empty or odd gethostname) is left out of the certificate.
bool is_dns_name(const std::string& name) {
  return !name.empty() && name.size() <= 253 && name.front() != '.'
         && name.front() != '-' && name.find("..") == std::string::npos
         && std::all_of(name.begin(), name.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '-'
                     || c == '.';
            });
}

bool is_ip_address(const std::string& text) {
  unsigned char buffer[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, text.c_str(), buffer) == 1
         || ::inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

/// What the server's own certificate names: the node's host name,
/// localhost, 127.0.0.1 and ::1, and the listen host when it is a
/// particular one (not 0.0.0.0 or ::).
certificate_names own_certificate_names(const std::string& listen_host) {
  certificate_names names;
  auto add = [](std::vector<std::string>& list, const std::string& name) {
    if (std::find(list.begin(), list.end(), name) == list.end())
      list.push_back(name);
  };
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0 && is_dns_name(host))
    add(names.dns, host);
  add(names.dns, "localhost");
  add(names.ip, "127.0.0.1");
  add(names.ip, "::1");
  if (is_ip_address(listen_host)) {
    if (listen_host != "0.0.0.0" && listen_host != "::")
      add(names.ip, listen_host);
  } else if (is_dns_name(listen_host)) {
    add(names.dns, listen_host);
  }
  return names;
}

http::rest_settings make_rest_settings(const server_config& config) {
  http::rest_settings settings;
  settings.max_body_bytes = config.max_body_bytes;
  settings.max_pending_requests = config.max_pending_requests;
  settings.request_timeout = config.request_timeout;
  settings.threads = config.http_threads;
  settings.proxies = http::trusted_proxies{config.trusted_proxies};
  return settings;
}

/// The certificate `config` has the server present: an operator's pair, or
/// the server's own (made in data_dir first when none is there to reuse);
/// none for plain HTTP.
std::unique_ptr<server_certificate>
make_certificate(const server_config& config) {
  switch (config.tls.mode) {
    case tls_mode::off: {
      auto problem = plain_http_problem(config);
      if (!problem.empty())
        throw std::invalid_argument(problem);
      return nullptr;
    }
    case tls_mode::files: {
      auto absolute = [](const std::string& path) {
        return std::filesystem::absolute(path).lexically_normal().string();
      };
      return std::make_unique<server_certificate>(
        tls_files{absolute(config.tls.cert_file),
                  absolute(config.tls.key_file)},
        "tls.cert_file", "tls.key_file");
    }
    case tls_mode::self_signed:
      break;
  }
  auto files = self_signed_files(config.data_dir);
  auto note = ensure_self_signed(files, own_certificate_names(config.host));
  if (!note.empty())
    std::cerr << note << std::endl;
  return std::make_unique<server_certificate>(files, "certificate", "key");
}

} // namespace

struct server::impl {
  server_config config;
  // Taken before anything else touches the data_dir: a second server on it
  // stops here.
  data_dir_lock lock;
  // Declared before the actor system: destroyed after it, once every
  // worker that reports to it has quit.
  std::shared_ptr<process_monitor> monitor;
  // Likewise: the file is closed after the store's actor is gone. None
  // when statuses live in memory only.
  std::shared_ptr<sqlite_store> store;
  caf::actor_system_config actor_config;
  caf::actor_system system;
  store_actor store_server;
  supervisor_actor supervisor;
  std::shared_ptr<http::audit_log> audit;
  /// What the HTTPS server presents; none when TLS is off. Declared before
  /// the server, which refers to it.
  std::unique_ptr<server_certificate> certificate;
  /// An httplib::SSLServer unless the configuration turns TLS off.
  std::unique_ptr<httplib::Server> http;
  std::optional<http::mounted_routes> routes;
  std::string certificate_file;
  /// For the server's own certificate only.
  std::unique_ptr<self_signed_renewal> renewal;
  int port = 0;

  std::mutex mutex;
  std::condition_variable changed;
  bool stopping = false;
  bool serving = false;
  bool stopped = false;

  explicit impl(server_config cfg)
    : config(with_data_dir(std::move(cfg))),
      lock(config.data_dir),
      monitor(std::make_shared<process_monitor>()),
      store(open_store(config)),
      system(make_actor_config(actor_config)) {
    // Orphaned processes of a run become ours, so that the monitor can reap
    // them and see their process group gone.
    become_subreaper();
    // Before any actor exists, so that a failure here has nothing to stop.
    auto settings = make_rest_settings(config);
    audit = std::make_shared<http::audit_log>(
      (std::filesystem::path{config.data_dir} / "audit.log").string());
    settings.audit = audit;
    certificate = make_certificate(config);
    if (certificate) {
      http = make_https_server(*certificate, settings);
      certificate_file = certificate->files().cert_file;
    } else {
      http = std::make_unique<http::rest_server>(settings);
    }
    if (store)
      store_server = spawn_sqlite_store(system, store);
    supervisor = spawn_supervisor(system, make_action_types(config, monitor),
                                  {config.max_running_actions, store_server});
    await_loaded();
    try {
      routes = http::mount_routes(*http, system, supervisor, config.users,
                                  settings);
    } catch (...) {
      shutdown_actors();
      throw;
    }
    port = http::bind_server(*http, config.host, config.port);
    if (port < 0) {
      shutdown_actors();
      throw std::runtime_error("cannot listen on " + config.host + ":"
                               + std::to_string(config.port)
                               + " (address in use or not available here)");
    }
    if (config.tls.mode == tls_mode::self_signed)
      renewal = std::make_unique<self_signed_renewal>(
        *certificate, own_certificate_names(config.host),
        config.certificate_check_interval);
    audit->record({"server_started"});
  }

  /// Waits until the supervisor has loaded the stored statuses (it answers
  /// nothing before); throws, with the actors stopped, when it could not.
  void await_loaded() {
    caf::scoped_actor self{system};
    self->monitor(supervisor);
    caf::error failure;
    self->request(supervisor, load_deadline, list_atom::value)
      .receive([](const std::vector<action_status>&) {},
               [&](caf::error& err) { failure = std::move(err); });
    if (!failure)
      return;
    // The supervisor's exit reason says more than "receiver down".
    self->receive([&](caf::down_msg& down) {
                    if (down.reason)
                      failure = std::move(down.reason);
                  },
                  caf::after(std::chrono::seconds(1)) >> [] {});
    self->send_exit(supervisor, caf::exit_reason::user_shutdown);
    stop_store_server(self);
    throw std::runtime_error("cannot load the stored statuses: "
                             + system.render(failure));
  }

  void stop_store_server(caf::scoped_actor& self) {
    if (store_server)
      self->send_exit(store_server, caf::exit_reason::user_shutdown);
    store_server = nullptr;
  }

  /// Aborts live runs and waits, bounded, until their work is gone (and
  /// their statuses are stored); then lets the supervisor, its action
  /// actors and the store's actor go.
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
    stop_store_server(self);
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
  return (impl_->certificate_file.empty() ? "http://" : "https://")
         + (ipv6 ? "[" + host + "]" : host) + ":"
         + std::to_string(impl_->port);
}

const std::string& server::certificate_file() const {
  return impl_->certificate_file;
}

void server::reload() {
  impl_->audit->reopen();
  if (impl_->renewal)
    impl_->renewal->check_now();
  else if (impl_->certificate)
    reload_certificate(*impl_->certificate);
}

void server::run() {
  {
    std::lock_guard<std::mutex> guard{impl_->mutex};
    if (impl_->stopping)
      return;
    impl_->serving = true;
  }
  impl_->http->listen_after_bind();
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
  if (impl_->routes)
    impl_->routes->stop_waiting();
  // httplib's stop() only takes effect once the server loop is running, so
  // repeat it until run() has returned.
  while (impl_->serving) {
    impl_->http->stop();
    impl_->changed.wait_for(guard, std::chrono::milliseconds(10));
  }
  guard.unlock();
  impl_->shutdown_actors();
  impl_->audit->record({"server_stopped"});
  guard.lock();
  impl_->stopped = true;
  impl_->changed.notify_all();
}

} // namespace cluster_actions::app
