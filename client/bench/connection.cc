#include "client/bench/connection.h"

#include <chrono>
#include <cstdio>
#include <string>

namespace jobq::bench {

int ConnectAndWait(Options* o, std::unique_ptr<client::Client>* client) {
  auto token = client::ResolveToken(o->token_file);
  if (!token.ok()) {
    std::fprintf(stderr, "jobq-bench: %s\n",
                 std::string(token.status().message()).c_str());
    return 2;
  }
  o->token = *token;
  auto cluster = client::MakeCluster(o->addr, o->tls, o->token);
  if (!cluster.ok()) {
    std::fprintf(stderr, "jobq-bench: %s\n",
                 std::string(cluster.status().message()).c_str());
    return 2;
  }
  *client = std::make_unique<client::Client>(*cluster);
  // Waits (bounded) for SERVING with wait-for-ready rather than failing on
  // the first connection attempt: gRPC 1.51's client can report an attempt
  // still in progress as failed (it reads errno after other calls in
  // tcp_client_posix.cc), which a single health call turns into "failed to
  // connect to all addresses ... No such file or directory".
  if (auto s = (*client)->WaitUntilServing(10'000); !s.ok()) {
    std::fprintf(stderr, "jobq-bench: %s: %s\n", o->addr.c_str(),
                 std::string(s.message()).c_str());
    return 1;
  }
  // The node that serves leads. The scenarios dial o->addr for channels
  // of their own (workers, watchers): from here on it names the leader
  // alone. A failover during the run is not followed: calls fail, and the
  // scenarios count them as errors.
  o->addr = (*client)->address();
  return 0;
}

void PrepareCall(grpc::ClientContext& ctx, const Options& o, int seconds) {
  if (!o.token.empty()) ctx.AddMetadata("authorization", "Bearer " + o.token);
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::seconds(seconds));
}

}  // namespace jobq::bench
