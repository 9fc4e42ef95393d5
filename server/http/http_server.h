#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace httplib {
class Server;
}

namespace jobq::http {

// The HTTP side of jobqd, for Prometheus and orchestrators:
//   /metrics  the Prometheus text page; when `authorize_metrics` is set,
//             only for a request it admits: 401 (with WWW-Authenticate:
//             Bearer) for UNAUTHENTICATED, 403 for PERMISSION_DENIED
//   /healthz  200 while the process serves HTTP at all (liveness)
//   /readyz   200 when jobqd takes work; 503 with the reason otherwise
// /healthz and /readyz stay open to probes without a token, and say
// nothing about queues or jobs. Every other GET and POST goes to the
// `pages` handler when one is given (the dashboard and its JSON API, in
// web/), and is 404 otherwise.
// Served by cpp-httplib on its own threads, over TLS when given.
// Thread: Start/Stop by the owner; the callbacks run on HTTP threads.
class HttpServer {
 public:
  // A request as the `pages` handler sees it, without cpp-httplib's types.
  struct Request {
    std::string method;  // "GET", "POST"
    std::string path;    // Without the query string; percent-decoded.
    std::map<std::string, std::string> query;  // Decoded; the last wins.
    // The "authorization" header; nullopt when none was sent.
    std::optional<std::string> authorization;
    std::string body;
  };
  struct Response {
    int status = 200;
    std::string content_type = "text/plain";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
  };

  struct Handlers {
    std::function<std::string()> metrics;
    // Empty when ready; otherwise why not.
    std::function<std::string()> not_ready;
    // Decides from the request's "authorization" header (nullopt: none)
    // whether /metrics may be served. Null: always.
    std::function<absl::Status(std::optional<absl::string_view>)>
        authorize_metrics;
    // Serves any other path; null: 404.
    std::function<void(const Request&, Response*)> pages;
  };

  // PEM files for HTTPS: certificate chain and key, and, for mutual TLS, the
  // CA of client certificates. Empty: plain HTTP.
  struct Tls {
    std::string cert;
    std::string key;
    std::string client_ca;
  };

  explicit HttpServer(Handlers handlers, Tls tls = {});
  ~HttpServer();

  // Binds `listen` (host:port; port 0 picks one) and starts serving.
  [[nodiscard]] absl::Status Start(const std::string& listen);
  int port() const { return port_; }
  void Stop();

 private:
  Handlers handlers_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listening_done_{false};  // listen_after_bind returned.
  int port_ = 0;
};

}  // namespace jobq::http
