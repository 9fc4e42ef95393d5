#pragma once

#include <string>

#include "absl/status/status.h"
#include "api/service_context.h"
#include "auth/authorizer.h"
#include "engine/core_api.h"
#include "http/http_server.h"
#include "web/sample_ring.h"

namespace jobq::web {

// The dashboard's JSON API under /api/v1/, on the HTTP listener. Each
// route authenticates the bearer token with the same auth::Authorizer as
// gRPC, checks its request with the same functions (api/requests.h,
// api/validation.h) and calls the same engine::CoreApi command; answers
// are the protos as JSON (proto3 JSON mapping). Routes:
//
//   GET  /api/v1/whoami                  roles of the token; never 401
//   GET  /api/v1/stats                   GetStats (read)
//   GET  /api/v1/queues                  ListQueues (read)
//   GET  /api/v1/queues/{q}/jobs         ListJobs (read); ?state=READY
//                                        &label=k=v&page_token=&page_size=
//   GET  /api/v1/jobs/{id}               GetJob (read)
//   GET  /api/v1/workers                 ListWorkers (read, every queue)
//   GET  /api/v1/samples                 the charts' points (SampleRing)
//   POST /api/v1/queues/{q}/pause        PauseQueue (admin)
//   POST /api/v1/queues/{q}/resume       ResumeQueue (admin)
//   POST /api/v1/queues/{q}/limits       SetQueueLimits (admin); body
//                                        {"max_concurrency":N,"max_queued":M,
//                                        "rate":R,"burst":B}, each optional
//   POST /api/v1/queues/{q}/retry-dead   RetryDead (admin); body
//                                        {"limit":N} or none (every one)
//   POST /api/v1/queues/{q}/purge        PurgeQueue (admin); body
//                                        {"states":["DEAD","CANCELLED"]}
//   POST /api/v1/jobs/{id}/cancel        CancelJob (submit or admin)
//   POST /api/v1/jobs/{id}/retry         RetryJob (submit or admin)
//   POST /api/v1/jobs/{id}/delete        DeleteJob (submit or admin)
//   GET  /api/v1/schedules               ListSchedules (read; the token's
//                                        queues only)
//   POST /api/v1/schedules/{n}/pause     PauseSchedule (admin)
//   POST /api/v1/schedules/{n}/resume    ResumeSchedule (admin)
//   POST /api/v1/schedules/{n}/trigger   TriggerSchedule (admin); answers
//                                        {"job_id":...}
//
// Reading takes the read or the admin role; a token limited to some queues
// sees only those. Errors are {"error":{"code","message","field"}} with the
// HTTP status of api::HttpStatus.
// Thread: Serve runs on HTTP threads and blocks on the core's answer (at
// most kCoreDeadline).
class JsonApi {
 public:
  struct Deps {
    engine::CoreApi* core = nullptr;
    auth::Authorizer* auth = nullptr;
    const api::ServiceContext* ctx = nullptr;  // Refusals, version.
    const SampleRing* samples = nullptr;
  };

  explicit JsonApi(Deps deps) : deps_(deps) {}

  // Serves a request whose path starts with /api/v1/.
  void Serve(const http::HttpServer::Request& req,
             http::HttpServer::Response* res) const;

 private:
  Deps deps_;
};

// The HTTP status for an absl status code: 400 INVALID_ARGUMENT and
// OUT_OF_RANGE, 401, 403, 404, 409 FAILED_PRECONDITION, ALREADY_EXISTS and
// ABORTED, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED,
// 500 otherwise.
int HttpStatus(absl::StatusCode code);

// {"error":{"code":"INVALID_ARGUMENT","message":...,"field":...}}: the
// field is the message's leading "name: " when there is one (jobq's
// errors name their field that way), else absent.
std::string ErrorJson(const absl::Status& status);

}  // namespace jobq::web
