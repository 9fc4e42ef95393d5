#include "client/bench/breakdown.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace jobq::bench {

bool ReadHops(client::Client& c, HopReading* out, std::string* error) {
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::GetStatsResponse stats;
  grpc::Status s = c.admin().GetStats(&ctx, v1::GetStatsRequest(), &stats);
  if (!s.ok()) {
    *error = absl::StrCat("GetStats: ", s.error_message());
    return false;
  }
  if (stats.hops().empty()) {
    *error = "this jobqd does not time its hops (GetStatsResponse.hops)";
    return false;
  }
  out->clear();
  for (const v1::LatencyHop& hop : stats.hops()) {
    Histogram h;
    for (const v1::HistogramBucket& b : hop.buckets()) {
      h.Record(b.upper_bound_us(), b.count());
    }
    out->emplace_back(hop.name(), std::move(h));
  }
  return true;
}

namespace {

// Hops that a job of the latency scenario passes once each, on its way
// from submit to its SUCCEEDED event (the others, turn and queued among
// them, are shared by many jobs or passed more than once).
bool OncePerJob(const std::string& name) {
  return name == "receive" || name == "log" || name == "dispatch" ||
         name == "run" || name == "result" || name == "queued" ||
         name == "write";
}

}  // namespace

void AddBreakdown(const HopReading& before, const HopReading& after,
                  Result* r) {
  std::string text =
      absl::StrFormat("\n  %-10s %9s %9s %9s %9s %9s  (microseconds)", "hop",
                      "count", "p50", "p90", "p99", "p99.9");
  std::string json = ",\"hops\":{";
  auto row = [&](const std::string& name, const Histogram& h) {
    text += absl::StrFormat("\n  %-10s %9u %9d %9d %9d %9d", name, h.Count(),
                            h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99),
                            h.Quantile(0.999));
    absl::StrAppendFormat(
        &json,
        "%s\"%s\":{\"count\":%u,\"p50\":%d,\"p90\":%d,\"p99\":%d,"
        "\"p999\":%d}",
        json.back() == '{' ? "" : ",", name, h.Count(), h.Quantile(0.5),
        h.Quantile(0.9), h.Quantile(0.99), h.Quantile(0.999));
  };
  row("wake", r->wake_us);
  row("send", r->send_us);
  int64_t inside = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    const auto& [name, h] = after[i];
    Histogram run = h;
    for (const auto& [earlier_name, earlier] : before) {
      if (earlier_name == name) run = h.Since(earlier);
    }
    if (run.Count() == 0) continue;
    row(name, run);
    if (OncePerJob(name)) inside += run.Quantile(0.5);
  }
  // To the job's end when the scenario watched it; else to its ack.
  const Histogram& whole = r->done_us.Count() > 0 ? r->done_us : r->ack_us;
  row(r->done_us.Count() > 0 ? "whole way" : "to the ack", whole);
  int64_t rest = whole.Quantile(0.5) - inside - r->wake_us.Quantile(0.5) -
                 r->send_us.Quantile(0.5);
  text += absl::StrFormat(
      "\n  rest: wire, gRPC, the client and the core's own work (whole way "
      "p50, less wake, send and the hops a job passes once): %d",
      rest);
  absl::StrAppendFormat(&json, ",\"rest_p50\":%d}", rest);
  r->text_extra += text;
  r->json_extra += json;
}

}  // namespace jobq::bench
