#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "api/rpc_metrics.h"
#include "api/service_context.h"
#include "common/clock.h"
#include "daemon/listener.h"
#include "engine/core_api.h"
#include "store/log.h"
#include "store/pg_leader.h"
#include "store/pg_log.h"

namespace jobq::daemon {

// A node of a cluster on PostgreSQL, for /metrics.
// Thread: written by the daemon, read from any.
struct ClusterFigures {
  std::atomic<bool> leader{false};
  std::atomic<int64_t> epoch{0};
  std::atomic<uint64_t> failovers{0};  // Leaderships taken over.
  // The node's leadership, once StartCluster has made it.
  std::atomic<const store::PgLeader*> pg_leader{nullptr};
};

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
  // The node's part in a cluster on PostgreSQL; null: none shown.
  const ClusterFigures* cluster = nullptr;
  // Records the leader committed that this standby has not applied.
  const store::PgLog* pg_log = nullptr;
};

// Renders the Prometheus page: job counters, queue depths and timing
// histograms (read on the core thread), the write-ahead log, RPCs by method
// and code, open streams, and process figures.
// Thread: any but the core thread (it waits for the core).
std::string RenderMetrics(const MetricsSources& sources);

}  // namespace jobq::daemon
