#pragma once

#include <string>

#include "api/rpc_metrics.h"
#include "api/service_context.h"
#include "common/clock.h"
#include "daemon/listener.h"
#include "engine/core_api.h"
#include "store/log.h"

namespace jobq::daemon {

// What the /metrics page reads.
struct MetricsSources {
  engine::CoreApi* core = nullptr;
  store::Log* log = nullptr;  // Null in memory mode.
  const api::RpcMetrics* rpc = nullptr;
  std::string version;
  TimeUs started_at = 0;
  // Refusals by the authorizer and the limits; null: none shown.
  const api::ServiceContext* ctx = nullptr;
  // Connections and their refusals; null: none shown.
  Listener* listener = nullptr;
};

// Renders the Prometheus page: job counters, queue depths and timing
// histograms (read on the core thread), the write-ahead log, RPCs by method
// and code, open streams, and process figures.
// Thread: any but the core thread (it waits for the core).
std::string RenderMetrics(const MetricsSources& sources);

}  // namespace jobq::daemon
