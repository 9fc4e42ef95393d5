#include "client/bench/open_loop.h"

#include <grpcpp/grpcpp.h>
#include <sys/prctl.h>

#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "client/bench/jobs.h"

namespace jobq::bench {

Result OpenLoop(client::Client& c, const Options& o, const OpenLoopPlan& plan) {
  Result r;
  uint64_t n = static_cast<uint64_t>(plan.rate * plan.duration);
  grpc::ClientContext ctx;
  auto stream = c.jobs().SubmitStream(&ctx);
  std::vector<Clock::time_point> due(n);
  std::mutex mu;
  std::unordered_map<std::string, uint64_t> index_of;
  std::thread reader([&] {
    v1::SubmitStreamResponse resp;
    while (stream->Read(&resp)) {
      std::lock_guard lock(mu);
      for (const auto& ack : resp.acks()) {
        r.ack_us.Record(MicrosSince(due[ack.client_ref()]));
        if (ack.result().code() != 0) {
          ++r.errors;
        } else if (!plan.watch) {
          ++r.jobs;
        }
        if (plan.watch) index_of[ack.result().job_id()] = ack.client_ref();
      }
      for (const auto& e : resp.events()) {
        if (e.state() != v1::JOB_STATE_SUCCEEDED) continue;
        auto it = index_of.find(e.job_id());
        if (it == index_of.end()) continue;
        r.done_us.Record(MicrosSince(due[it->second]));
        index_of.erase(it);
        ++r.jobs;
      }
    }
  });
  // Sleeps end within a few microseconds of their time, not the default
  // 50 us of timer slack, which every job's latency would carry.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  auto t0 = Clock::now();
  auto step = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / plan.rate));
  v1::SubmitRequest req;
  if (plan.watch) {
    req.set_watch(true);
    req.add_watch_states(v1::JOB_STATE_SUCCEEDED);
  }
  for (uint64_t i = 0; i < n; ++i) {
    {
      std::lock_guard lock(mu);
      due[i] = t0 + step * static_cast<int64_t>(i);
    }
    std::this_thread::sleep_until(due[i]);
    auto awake = Clock::now();
    r.wake_us.Record(MicrosSince(due[i]));
    *req.mutable_job() = MakeJob(o, i);
    if (!plan.queue.empty()) req.mutable_job()->set_queue(plan.queue);
    req.set_client_ref(i);
    // Behind schedule, the next job is already due: gRPC may hold this one
    // to send both at once, as a real client pipelining would.
    grpc::WriteOptions options;
    if (i + 1 < n && t0 + step * static_cast<int64_t>(i + 1) <= awake) {
      options.set_buffer_hint();
    }
    if (!stream->Write(req, options)) break;
    r.send_us.Record(MicrosSince(awake));
  }
  stream->WritesDone();
  reader.join();
  grpc::Status s = stream->Finish();
  if (!s.ok()) ++r.errors;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace jobq::bench
