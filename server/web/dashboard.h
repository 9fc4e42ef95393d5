#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "http/http_server.h"
#include "web/json_api.h"
#include "web/sample_ring.h"

namespace jobq::web {

// The web dashboard on jobqd's HTTP listener: the embedded static files
// (the page, its script modules and style, the chart library) at `/`, and
// the JSON API (JsonApi) under /api/v1/. Every answer carries a
// Content-Security-Policy that allows scripts and styles from jobqd only
// (no inline script), and the API's answers are never cached.
//
// It samples the core's figures every `sample_every` on its own thread
// (jobq-samples) into a SampleRing, for the charts.
// Thread: Serve from HTTP threads; Start and Stop from the owner.
class Dashboard {
 public:
  struct Options {
    std::chrono::milliseconds sample_every{5000};
    size_t samples = 180;  // With 5 s: 15 minutes.
    size_t max_queues = 256;
  };

  // `deps.samples` is ignored: the dashboard's own ring serves.
  // `clock` must outlive the dashboard.
  Dashboard(JsonApi::Deps deps, const Clock* clock, Options options);
  ~Dashboard();

  void Start();
  void Stop();

  void Serve(const http::HttpServer::Request& req,
             http::HttpServer::Response* res) const;

  const SampleRing& samples() const { return samples_; }

 private:
  void SampleLoop();

  const Options options_;
  const Clock* clock_;
  engine::CoreApi* core_;
  SampleRing samples_;
  JsonApi api_;
  std::thread sampler_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // Guarded by mu_.
};

}  // namespace jobq::web
