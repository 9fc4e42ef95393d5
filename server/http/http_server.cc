#include "http/http_server.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace jobq::http {

namespace {

std::unique_ptr<httplib::Server> MakeServer(const HttpServer::Tls& tls) {
  if (tls.cert.empty()) return std::make_unique<httplib::Server>();
  return std::make_unique<httplib::SSLServer>(
      tls.cert.c_str(), tls.key.c_str(),
      tls.client_ca.empty() ? nullptr : tls.client_ca.c_str());
}

}  // namespace

HttpServer::HttpServer(Handlers handlers, Tls tls)
    : handlers_(std::move(handlers)), server_(MakeServer(tls)) {
  server_->Get(
      "/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(handlers_.metrics(), "text/plain; version=0.0.4");
      });
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server_->Get("/readyz",
               [this](const httplib::Request&, httplib::Response& res) {
                 std::string why = handlers_.not_ready();
                 if (why.empty()) {
                   res.set_content("ready\n", "text/plain");
                 } else {
                   res.status = 503;
                   res.set_content(why + "\n", "text/plain");
                 }
               });
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(const std::string& listen) {
  auto colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http-listen: \"", listen, "\" is not host:port"));
  }
  if (!server_->is_valid()) {
    return absl::InvalidArgumentError(
        "--http-listen: cannot load the TLS certificate, key or client CA "
        "for HTTPS");
  }
  std::string host = listen.substr(0, colon);
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
  } else if (server_->bind_to_port(host, port)) {
    port_ = port;
  }
  if (port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jobq-http");
    server_->listen_after_bind();
  });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace jobq::http
