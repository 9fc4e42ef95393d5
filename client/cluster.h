#pragma once

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "jobq/v1/jobq.grpc.pb.h"

namespace jobq::client {

// Makes the channel to one jobqd address (host:port), with the TLS and
// token settings every address of a cluster shares.
using ChannelFactory =
    std::function<std::shared_ptr<grpc::Channel>(const std::string& address)>;

// The jobqd nodes a client may talk to, as it sees them: an address each,
// with one channel and its stubs made once (calls reuse them; a channel
// connects on first use), and the node it last found leading. Nodes are
// added, never removed: a standby may name a leader not in the list given.
//
// Thread: safe to share between threads. A Node reference stays valid for
// the Cluster's lifetime.
class Cluster {
 public:
  struct Node {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::JobService::Stub> jobs;
    std::unique_ptr<v1::AdminService::Stub> admin;
    std::unique_ptr<v1::ScheduleService::Stub> schedules;
    std::unique_ptr<v1::WorkerService::Stub> workers;
  };

  // The nodes at `addresses`, comma-separated ("a:7070,b:7070"), each over
  // a channel from `factory`, as is any leader learned later. The first is
  // taken for the leader until a call learns otherwise. An empty list
  // yields one node at "" (whose calls fail, as a bad address does).
  Cluster(const std::string& addresses, ChannelFactory factory);
  // One node over a channel of the caller's. It follows no leader: the
  // credentials to dial another address are the caller's, not known here.
  explicit Cluster(std::shared_ptr<grpc::Channel> channel);

  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  size_t size() const;
  const Node& node(size_t index) const;
  // The node believed to lead, and the node of the next call's first try.
  size_t leader() const;
  // Dials the node at once when it becomes the leader (DialNow).
  void SetLeader(size_t index);
  // Dials node `index` now if it is not connected, rather than when its
  // channel's reconnect backoff runs out: that grows to minutes while a
  // node is down, and a node that is tried again may well be back.
  void DialNow(size_t index) const;
  // The node at `address`, added when unknown; nullopt when it cannot be
  // dialed (a cluster over a caller's channel).
  std::optional<size_t> FindOrAdd(const std::string& address);

 private:
  void AddLocked(const std::string& address,
                 std::shared_ptr<grpc::Channel> channel);

  const ChannelFactory factory_;  // Empty for a caller's channel.
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Node>> nodes_;  // Guarded by mu_; never shrinks.
  size_t leader_ = 0;                         // Guarded by mu_.
};

}  // namespace jobq::client
