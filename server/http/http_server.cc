#include "http/http_server.h"

#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/host_port.h"

namespace jobq::http {

namespace {

std::unique_ptr<httplib::Server> MakeServer(const HttpServer::Tls& tls) {
  if (tls.cert.empty()) return std::make_unique<httplib::Server>();
  return std::make_unique<httplib::SSLServer>(
      tls.cert.c_str(), tls.key.c_str(),
      tls.client_ca.empty() ? nullptr : tls.client_ca.c_str());
}

// cpp-httplib listens with a backlog of 5 connections: under a burst of
// connections (scrapes, probes, or an attack) the kernel drops SYNs past
// it, and each dropped client waits a second to retry. listen(2) again on
// the bound socket deepens the backlog.
void DeepenBacklog(int port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    int fd = -1;
    if (!absl::SimpleAtoi(e->d_name, &fd)) continue;
    int listening = 0;
    socklen_t len = sizeof listening;
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        !listening ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) {
      continue;
    }
    int bound = ntohs(addr.ss_family == AF_INET6
                          ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (bound == port) listen(fd, 1024);
  }
  closedir(dir);
}

HttpServer::Request ToRequest(const httplib::Request& req) {
  HttpServer::Request out;
  out.method = req.method;
  out.path = req.path;
  for (const auto& [key, value] : req.params) out.query[key] = value;
  if (req.has_header("Authorization")) {
    out.authorization = req.get_header_value("Authorization");
  }
  out.body = req.body;
  return out;
}

}  // namespace

HttpServer::HttpServer(Handlers handlers, Tls tls)
    : handlers_(std::move(handlers)), server_(MakeServer(tls)) {
  // Scrapes and probes are one request each: a connection that sends
  // garbage, or nothing, must not hold a thread for long.
  server_->set_keep_alive_max_count(1);
  server_->set_read_timeout(std::chrono::seconds(2));
  server_->set_write_timeout(std::chrono::seconds(2));
  server_->Get("/metrics", [this](const httplib::Request& req,
                                  httplib::Response& res) {
    if (handlers_.authorize_metrics) {
      // cpp-httplib compares header names without regard to case.
      std::string value = req.get_header_value("Authorization");
      std::optional<absl::string_view> header;
      if (req.has_header("Authorization")) header = value;
      absl::Status s = handlers_.authorize_metrics(header);
      if (!s.ok()) {
        bool unauthenticated = s.code() == absl::StatusCode::kUnauthenticated;
        res.status = unauthenticated ? 401 : 403;
        if (unauthenticated) res.set_header("WWW-Authenticate", "Bearer");
        res.set_content(std::string(s.message()) + "\n", "text/plain");
        return;
      }
    }
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
  if (handlers_.pages) {
    // Registered last: cpp-httplib tries patterns in order, so the pages
    // never shadow /metrics or the probes.
    auto serve = [this](const httplib::Request& req, httplib::Response& res) {
      Response out;
      handlers_.pages(ToRequest(req), &out);
      res.status = out.status;
      for (auto& [name, value] : out.headers) res.set_header(name, value);
      res.set_content(std::move(out.body), out.content_type);
    };
    server_->Get(".*", serve);
    server_->Post(".*", serve);
  }
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(const std::string& listen) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(listen, "--http-listen", &host, &port);
      !s.ok()) {
    return s;
  }
  if (!server_->is_valid()) {
    return absl::InvalidArgumentError(
        "--http-listen: cannot load the TLS certificate, key or client CA "
        "for HTTPS");
  }
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
  } else if (server_->bind_to_port(host, port)) {
    port_ = port;
  }
  if (port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  DeepenBacklog(port_);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jobq-http");
    server_->listen_after_bind();
    listening_done_.store(true);
  });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  // cpp-httplib's stop() does nothing until its listen loop has begun, and
  // the loop then blocks in accept(2) for good: a Stop right after Start
  // (a start that fails in recovery) must repeat it until the loop is out.
  while (!listening_done_.load()) {
    server_->stop();
    if (listening_done_.load()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  thread_.join();
}

}  // namespace jobq::http
