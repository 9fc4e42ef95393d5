#include "web/dashboard.h"

#include <pthread.h>

#include <future>
#include <memory>

#include "absl/strings/match.h"
#include "web/static_files.h"

namespace jobq::web {
namespace {

JsonApi::Deps WithSamples(JsonApi::Deps deps, const SampleRing* ring) {
  deps.samples = ring;
  return deps;
}

// Scripts, styles, images and requests from jobqd only: no inline script,
// no framing, no form posts elsewhere. Inline style attributes are allowed
// for the chart library, which positions its legend with them (a style
// attribute runs no code).
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

}  // namespace

Dashboard::Dashboard(JsonApi::Deps deps, const Clock* clock, Options options)
    : options_(options),
      clock_(clock),
      core_(deps.core),
      samples_(options.samples, options.max_queues),
      api_(WithSamples(deps, &samples_)) {}

Dashboard::~Dashboard() { Stop(); }

void Dashboard::Start() {
  sampler_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jobq-samples");
    SampleLoop();
  });
}

void Dashboard::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
}

void Dashboard::SampleLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    auto figures =
        std::make_shared<std::promise<absl::StatusOr<engine::CoreFigures>>>();
    auto future = figures->get_future();
    core_->Figures([figures](absl::StatusOr<engine::CoreFigures> f) {
      figures->set_value(std::move(f));
    });
    // The core answers within a turn; a stopped core answers at once.
    if (future.wait_for(std::chrono::seconds(5)) == std::future_status::ready) {
      absl::StatusOr<engine::CoreFigures> f = future.get();
      if (f.ok()) samples_.Add(clock_->Now(), *f);
    }
    lock.lock();
    cv_.wait_for(lock, options_.sample_every, [this] { return stop_; });
  }
}

void Dashboard::Serve(const http::HttpServer::Request& req,
                      http::HttpServer::Response* res) const {
  res->headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  res->headers.emplace_back("X-Content-Type-Options", "nosniff");
  res->headers.emplace_back("Referrer-Policy", "no-referrer");
  if (absl::StartsWith(req.path, "/api/v1/")) {
    res->headers.emplace_back("Cache-Control", "no-store");
    api_.Serve(req, res);
    return;
  }
  const StaticFile* file =
      req.method == "GET"
          ? FindStaticFile(req.path == "/" ? "/index.html" : req.path)
          : nullptr;
  if (file == nullptr) {
    res->status = 404;
    res->content_type = "text/plain";
    res->body = "not found\n";
    return;
  }
  // The files change with jobqd's version: revalidate each time, which
  // costs little on the few files of one page.
  res->headers.emplace_back("Cache-Control", "no-cache");
  res->content_type = file->content_type;
  res->body.assign(reinterpret_cast<const char*>(file->data), file->size);
}

}  // namespace jobq::web
