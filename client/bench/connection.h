#pragma once

// How jobq-bench reaches jobqd: the connection flags resolved into a
// client that has seen jobqd SERVING, and the token and deadline of calls
// made on stubs of the bench's own.

#include <grpcpp/grpcpp.h>

#include <memory>

#include "client/bench/options.h"
#include "client/client.h"

namespace jobq::bench {

// Resolves o->token from the flags, makes a client of o->addr (one
// address, or a cluster's comma-separated) and waits (at most 10 s) for
// jobqd, or one node of the cluster, to report SERVING; o->addr is then
// that node's address, the leader's. Returns 0 with *client set,
// or the exit code of the error it printed on stderr: 2 for bad
// connection flags, 1 for a jobqd that did not become SERVING.
int ConnectAndWait(Options* o, std::unique_ptr<client::Client>* client);

// Gives `ctx` the bearer token (when there is one) and a deadline
// `seconds` from now: a stalled jobqd must not hang the bench.
void PrepareCall(grpc::ClientContext& ctx, const Options& o, int seconds);

}  // namespace jobq::bench
