// ingest: noop jobs submitted as fast as possible, on each submit path:
// unary Submit, SubmitBatch, SubmitStream.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/bench/jobs.h"
#include "client/bench/report.h"
#include "client/bench/scenario.h"
#include "client/bench/submit_stream.h"

namespace jobq::bench {
namespace {

// Keeps `concurrency` unary calls in flight until `calls` have completed.
// `start(i, done)` issues call i and must call `done(ok)` when it ends.
void RunInFlight(
    uint64_t calls, int concurrency,
    const std::function<void(uint64_t, std::function<void(bool)>)>& start,
    Result* r, uint64_t jobs_per_call) {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t issued = 0, completed = 0;
  std::function<void(uint64_t)> issue = [&](uint64_t i) {
    auto t0 = Clock::now();
    start(i, [&, t0](bool ok) {
      int64_t us = MicrosSince(t0);
      uint64_t next = 0;
      bool more = false;
      {
        std::lock_guard lock(mu);
        r->ack_us.Record(us);
        if (!ok) ++r->errors;
        ++completed;
        if (issued < calls) {
          next = issued++;
          more = true;
        }
        if (completed == calls) cv.notify_all();
      }
      if (more) issue(next);
    });
  };
  auto t0 = Clock::now();
  uint64_t first =
      std::min<uint64_t>(calls, static_cast<uint64_t>(concurrency));
  {
    std::lock_guard lock(mu);
    issued = first;
  }
  for (uint64_t i = 0; i < first; ++i) issue(i);
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return completed == calls; });
  r->seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r->jobs = calls * jobs_per_call;
}

Result IngestSubmit(client::Client& c, const Options& o) {
  Result r;
  r.name = absl::StrCat("ingest/submit (", o.concurrency, " in flight)");
  struct Call {
    grpc::ClientContext ctx;
    v1::SubmitRequest req;
    v1::SubmitResponse resp;
  };
  RunInFlight(
      o.count, o.concurrency,
      [&](uint64_t i, std::function<void(bool)> done) {
        auto* call = new Call;
        *call->req.mutable_job() = MakeJob(o, i);
        c.jobs().async()->Submit(&call->ctx, &call->req, &call->resp,
                                 [call, done](grpc::Status s) {
                                   delete call;
                                   done(s.ok());
                                 });
      },
      &r, 1);
  return r;
}

Result IngestBatch(client::Client& c, const Options& o) {
  Result r;
  r.name = absl::StrCat("ingest/batch (", o.batch, " per call, ", o.concurrency,
                        " in flight)");
  struct Call {
    grpc::ClientContext ctx;
    v1::SubmitBatchRequest req;
    v1::SubmitBatchResponse resp;
  };
  // One request, built once, sent many times.
  v1::SubmitBatchRequest proto;
  for (int k = 0; k < o.batch; ++k)
    *proto.add_jobs() = MakeJob(o, static_cast<uint64_t>(k));
  uint64_t calls =
      std::max<uint64_t>(1, o.count / static_cast<uint64_t>(o.batch));
  RunInFlight(
      calls, o.concurrency,
      [&](uint64_t, std::function<void(bool)> done) {
        auto* call = new Call;
        call->req = proto;
        c.jobs().async()->SubmitBatch(
            &call->ctx, &call->req, &call->resp, [call, done](grpc::Status s) {
              bool ok = s.ok();
              for (const auto& res : call->resp.results())
                ok = ok && res.code() == 0;
              delete call;
              done(ok);
            });
      },
      &r, static_cast<uint64_t>(o.batch));
  return r;
}

}  // namespace

void AddIngest(CLI::App& app, Options& o, ScenarioTable& scenarios) {
  auto* cmd =
      app.add_subcommand("ingest", "submit noop jobs as fast as possible");
  auto path = std::make_shared<std::string>("all");
  cmd->add_option("--path", *path, "submit, batch, stream or all")
      ->capture_default_str();
  cmd->add_option("--count,-n", o.count, "jobs per path")
      ->capture_default_str();
  cmd->add_option("--concurrency,-c", o.concurrency, "calls in flight")
      ->capture_default_str();
  cmd->add_option("--batch,-b", o.batch, "jobs per SubmitBatch")
      ->capture_default_str();
  AddStreamFlags(*cmd, o);
  cmd->add_option("--queues", o.queues, "queues to spread jobs over")
      ->capture_default_str();
  cmd->add_option("--priorities", o.priorities, "distinct priorities")
      ->capture_default_str();
  scenarios.Add(cmd, [&o, path](client::Client& c) {
    int failed = 0;
    if (*path == "submit" || *path == "all") {
      failed |= Report(IngestSubmit(c, o), o.json);
    }
    if (*path == "batch" || *path == "all") {
      failed |= Report(IngestBatch(c, o), o.json);
    }
    if (*path == "stream" || *path == "all") {
      failed |= Report(Stream(c, o), o.json);
    }
    return failed;
  });
}

}  // namespace jobq::bench
