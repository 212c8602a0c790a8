#include "cli/client.hpp"

#include <nlohmann/json.hpp>

namespace cluster_actions::cli {

namespace {

/// How long a reply may take beyond the wait the request asked for.
constexpr std::chrono::seconds reply_margin{15};

std::string failure_text(httplib::Error error, const std::string& url) {
  switch (error) {
    case httplib::Error::Connection:
      return "cannot connect to " + url;
    case httplib::Error::SSLConnection:
      return "TLS handshake with " + url + " failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the trusted certificates (--cacert)";
    case httplib::Error::SSLServerVerification:
      return "TLS: the certificate of " + url
             + " is not trusted (give the server's certificate with "
               "--cacert or CLUSTER_ACTIONS_CACERT)";
    default:
      return "connection to " + url + " failed: " + httplib::to_string(error);
  }
}

/// The description of a JSON error body, or the body itself.
std::string description_of(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("description"))
    return parsed["description"].get<std::string>();
  return body;
}

} // namespace

api_client::api_client(const connection& server) : url_(server.url) {
  if (url_.rfind("https://", 0) != 0 && url_.rfind("http://", 0) != 0)
    throw unreachable("the URL " + url_ + " is neither https:// nor http://");
  client_ = std::make_unique<httplib::Client>(url_);
  if (!client_->is_valid())
    throw unreachable("cannot use the URL " + url_);
  client_->set_basic_auth(server.user.c_str(), server.password.c_str());
  client_->set_connection_timeout(std::chrono::seconds(10));
  if (!server.cacert.empty())
    client_->set_ca_cert_path(server.cacert.c_str());
  client_->enable_server_certificate_verification(true);
  client_->set_keep_alive(true);
}

reply api_client::call(const std::string& method, const std::string& path,
                       const std::string& body, const std::string& etag,
                       std::chrono::seconds wait) {
  httplib::Headers headers;
  if (!etag.empty()) {
    headers.emplace("If-None-Match", etag);
    if (wait.count() > 0)
      headers.emplace("Prefer", "wait=" + std::to_string(wait.count()));
  }
  client_->set_read_timeout(wait + reply_margin);
  httplib::Request request;
  request.method = method;
  request.path = path;
  request.headers = std::move(headers);
  if (!body.empty()) {
    request.body = body;
    request.set_header("Content-Type", "application/json");
  }
  auto result = client_->send(request);
  if (!result)
    throw unreachable(failure_text(result.error(), url_));
  if (result->status == 401)
    throw unreachable("authentication failed: "
                      + description_of(result->body));
  if (result->status == 403)
    throw unreachable("not allowed: " + description_of(result->body));
  return {result->status, result->body, result->get_header_value("ETag")};
}

} // namespace cluster_actions::cli
