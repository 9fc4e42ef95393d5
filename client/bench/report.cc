#include "client/bench/report.h"

#include <cstdio>

namespace jobq::bench {

void Print(const Result& r, bool json) {
  double rate = r.seconds > 0 ? r.jobs / r.seconds : 0;
  auto q = [&](double p) { return r.ack_us.Quantile(p) / 1000.0; };
  auto d = [&](double p) { return r.done_us.Quantile(p) / 1000.0; };
  if (json) {
    std::printf(
        "{\"scenario\":\"%s\",\"jobs\":%llu,\"errors\":%llu,\"seconds\":%.3f,"
        "\"jobs_per_second\":%.0f,\"ack_ms\":{\"p50\":%.3f,\"p90\":%.3f,"
        "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},\"done_ms\":{\"p50\":%.3f,"
        "\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}%s}\n",
        r.name.c_str(), static_cast<unsigned long long>(r.jobs),
        static_cast<unsigned long long>(r.errors), r.seconds, rate, q(0.5),
        q(0.9), q(0.99), q(0.999), r.ack_us.Max() / 1000.0, d(0.5), d(0.9),
        d(0.99), d(0.999), r.done_us.Max() / 1000.0, r.json_extra.c_str());
    return;
  }
  std::printf("%-48s %9.0f jobs/s  %8llu jobs in %6.2f s", r.name.c_str(), rate,
              static_cast<unsigned long long>(r.jobs), r.seconds);
  if (r.ack_us.Count() > 0) {
    std::printf("  ack ms p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f",
                q(0.5), q(0.9), q(0.99), q(0.999), r.ack_us.Max() / 1000.0);
  }
  if (r.done_us.Count() > 0) {
    std::printf("  done ms p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f",
                d(0.5), d(0.9), d(0.99), d(0.999), r.done_us.Max() / 1000.0);
  }
  std::printf("%s", r.text_extra.c_str());
  if (r.errors > 0) {
    std::printf("  ERRORS %llu", static_cast<unsigned long long>(r.errors));
  }
  std::printf("\n");
}

int Report(const Result& r, bool json) {
  Print(r, json);
  std::fflush(stdout);
  return r.errors > 0 ? 1 : 0;
}

}  // namespace jobq::bench
