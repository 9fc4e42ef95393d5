// list-load: a queue holding N jobs that stay queued (it is paused),
// paged through with ListJobs over and over, while an open-loop submitter
// sends jobs at a fixed rate to another queue. It shows how listing a
// huge queue delays everyone else's acks: the listing runs on jobqd's
// core thread, which also admits every submit. The lister is another
// client: a connection of its own, as a dashboard or a script would be.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/bench/breakdown.h"
#include "client/bench/jobs.h"
#include "client/bench/open_loop.h"
#include "client/bench/report.h"
#include "client/bench/scenario.h"
#include "common/histogram.h"
#include "common/process.h"

namespace jobq::bench {
namespace {

// What the lister got. Written by the lister's thread alone until it is
// joined.
struct ListFigures {
  uint64_t pages = 0, jobs = 0, errors = 0;
  double seconds = 0;
  Histogram page_us;  // The time of each ListJobs call.
};

// Pages through `queue` with ListJobs over `channel`, o.page_size jobs a
// page, starting over after the last page, until `stop`. Each page is
// parsed into an arena, as a client reading many large pages should.
void ListUntilStopped(const std::shared_ptr<grpc::Channel>& channel,
                      const Options& o, const std::string& queue,
                      const std::atomic<bool>& stop, ListFigures* out) {
  if (o.lister_nice != 0) RaiseThreadNice(o.lister_nice);
  auto stub = v1::JobService::NewStub(channel);
  auto t0 = Clock::now();
  v1::ListJobsRequest req;
  req.set_queue(queue);
  req.set_page_size(o.page_size);
  google::protobuf::Arena arena;
  while (!stop.load()) {
    auto* page =
        google::protobuf::Arena::CreateMessage<v1::ListJobsResponse>(&arena);
    grpc::ClientContext ctx;
    // A fresh channel may report its first connection attempt as failed
    // (gRPC 1.51; see connection.cc): wait for it instead.
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    auto p0 = Clock::now();
    grpc::Status status = stub->ListJobs(&ctx, req, page);
    out->page_us.Record(MicrosSince(p0));
    if (!status.ok()) {
      ++out->errors;
      req.clear_page_token();
    } else {
      ++out->pages;
      out->jobs += static_cast<uint64_t>(page->jobs_size());
      req.set_page_token(page->next_page_token());
    }
    arena.Reset();
  }
  out->seconds = std::chrono::duration<double>(Clock::now() - t0).count();
}

// Pauses a fresh queue and fills it with o.listed_jobs jobs. Returns its
// name, or empty after printing why it could not.
std::string FillPausedQueue(client::Client& c, const Options& o) {
  std::string queue = FreshQueue("listed-");
  auto t0 = Clock::now();
  absl::Status s = c.PauseQueue(queue).status();
  v1::JobSpec spec = MakeJob(o, 0);
  spec.set_queue(queue);
  if (s.ok()) s = SubmitCopies(c, spec, o.listed_jobs);
  if (!s.ok()) {
    std::fprintf(stderr, "list-load: %s\n", std::string(s.message()).c_str());
    return "";
  }
  std::fprintf(stderr, "list-load: %llu jobs queued in %s in %.1f s\n",
               static_cast<unsigned long long>(o.listed_jobs), queue.c_str(),
               std::chrono::duration<double>(Clock::now() - t0).count());
  return queue;
}

// The lister's figures after the submitter's.
void AddListFigures(const ListFigures& l, Result* r) {
  double per_second = l.seconds > 0 ? l.pages / l.seconds : 0;
  auto q = [&](double p) { return l.page_us.Quantile(p) / 1000.0; };
  r->text_extra = absl::StrFormat(
      "  list %.1f pages/s (%d pages, %d jobs)  page ms p50 %.3f  p99 %.3f  "
      "max %.3f",
      per_second, l.pages, l.jobs, q(0.5), q(0.99), l.page_us.Max() / 1000.0);
  r->json_extra = absl::StrFormat(
      ",\"list\":{\"pages\":%d,\"pages_per_second\":%.1f,\"jobs\":%d,"
      "\"errors\":%d,\"page_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}}",
      l.pages, per_second, l.jobs, l.errors, q(0.5), q(0.99),
      l.page_us.Max() / 1000.0);
  r->errors += l.errors;
}

int ListLoad(client::Client& c, const Options& o) {
  if (o.rate <= 0 || o.list_duration <= 0 || o.page_size < 1) {
    std::fprintf(stderr,
                 "jobq-bench: --rate, --duration and --page-size must be "
                 "positive\n");
    return 2;
  }
  std::string listed = FillPausedQueue(c, o);
  if (listed.empty()) return 1;
  HopReading before, after;
  std::string error;
  if (o.breakdown && !ReadHops(c, &before, &error)) {
    std::fprintf(stderr, "jobq-bench: --breakdown: %s\n", error.c_str());
    return 1;
  }
  std::atomic<bool> stop{false};
  ListFigures figures;
  auto channel = client::MakeChannel(o.addr, o.tls, o.token);
  if (!channel.ok()) {
    std::fprintf(stderr, "jobq-bench: %s\n",
                 std::string(channel.status().message()).c_str());
    return 2;
  }
  std::thread lister(
      [&] { ListUntilStopped(*channel, o, listed, stop, &figures); });
  Result r = OpenLoop(c, o,
                      {.rate = o.rate,
                       .duration = o.list_duration,
                       .watch = false,
                       .queue = FreshQueue("submitted-")});
  stop = true;
  lister.join();
  r.name = absl::StrCat("list-load (", o.rate, " jobs/s open loop, ",
                        o.listed_jobs, " listed, pages of ", o.page_size, ")");
  AddListFigures(figures, &r);
  if (o.breakdown) {
    if (!ReadHops(c, &after, &error)) {
      std::fprintf(stderr, "jobq-bench: --breakdown: %s\n", error.c_str());
      return 1;
    }
    AddBreakdown(before, after, &r);
  }
  return Report(r, o.json);
}

}  // namespace

void AddListLoad(CLI::App& app, Options& o, ScenarioTable& scenarios) {
  auto* cmd = app.add_subcommand(
      "list-load",
      "ListJobs pages through N queued jobs while another queue gets jobs "
      "at a fixed rate: their ack latency, and the pages listed");
  cmd->add_option("--jobs", o.listed_jobs, "jobs held in the listed queue")
      ->capture_default_str();
  cmd->add_option("--page-size", o.page_size, "jobs per ListJobs page")
      ->capture_default_str();
  cmd->add_option("--rate", o.rate, "jobs per second to the other queue")
      ->capture_default_str();
  cmd->add_option("--duration", o.list_duration, "seconds of load")
      ->capture_default_str();
  cmd->add_option("--payload", o.payload, "payload bytes")
      ->capture_default_str();
  cmd->add_option("--lister-nice", o.lister_nice,
                  "raise the lister thread's nice value by this much")
      ->capture_default_str()
      ->check(CLI::Range(0, 19));
  cmd->add_flag("--breakdown", o.breakdown,
                "also report where the time went, hop by hop");
  scenarios.Add(cmd, [&o](client::Client& c) { return ListLoad(c, o); });
}

}  // namespace jobq::bench
