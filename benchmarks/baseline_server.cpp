// The ceiling of the HTTP stack: the cluster actions server's own plain
// HTTP server (http::rest_server: cpp-httplib with the same pool size,
// TCP_NODELAY, keep-alive, timeouts, connection loop with its request
// limits, and socket options), answering
// GET /v1/cluster/actions and GET /v1/cluster/actions/{name} with fixed
// bodies of given sizes. No actors, no authentication.
//
// usage: baseline-server PORT LIST_BODY_BYTES ONE_BODY_BYTES (port 0: any)
// Prints "listening on http://127.0.0.1:PORT" once bound; stops on SIGINT
// or SIGTERM.
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>

#include "http/guarded_server.hpp"
#include "http/rest_api.hpp"

namespace {

/// A JSON-looking body of exactly `size` bytes.
std::string make_body(std::size_t size) {
  std::string body = "{\"actions\":[\"";
  if (size < body.size() + 3)
    return std::string(size, ' ');
  body.append(size - body.size() - 3, 'x');
  body += "\"]}";
  return body;
}

void serve_fixed(httplib::Response& res,
                 const std::shared_ptr<const std::string>& body) {
  // The same response path as the server: a sized content provider.
  res.status = 200;
  res.set_content_provider(
    body->size(), "application/json",
    [body](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
      return sink.write(body->data() + offset, length);
    });
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: baseline-server PORT LIST_BODY_BYTES ONE_BODY_BYTES\n";
    return 2;
  }
  auto port = std::atoi(argv[1]);
  auto list_body = std::make_shared<const std::string>(
    make_body(std::strtoul(argv[2], nullptr, 10)));
  auto one_body = std::make_shared<const std::string>(
    make_body(std::strtoul(argv[3], nullptr, 10)));

  // Signals are taken by a dedicated thread, as in the real server.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  cluster_actions::http::rest_settings settings;
  cluster_actions::http::rest_server server{settings};
  server.Get("/v1/cluster/actions",
             [list_body](const httplib::Request&, httplib::Response& res) {
               serve_fixed(res, list_body);
             });
  server.Get("/v1/cluster/actions/([^/]+)",
             [one_body](const httplib::Request&, httplib::Response& res) {
               serve_fixed(res, one_body);
             });
  // The same socket options and listen backlog as the server.
  port = cluster_actions::http::bind_server(server, "127.0.0.1", port);
  if (port < 0) {
    std::cerr << "cannot listen on 127.0.0.1:" << port << "\n";
    return 1;
  }
  std::thread waiter{[&] {
    int signal = 0;
    sigwait(&signals, &signal);
    server.stop();
  }};
  std::cout << "listening on http://127.0.0.1:" << port << std::endl;
  server.listen_after_bind();
  waiter.join();
}
