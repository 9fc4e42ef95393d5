#include "client/cluster.h"

#include <cstdio>
#include <cstdlib>

#include "client/failover.h"

namespace jobq::client {
namespace {

// A node index from outside the cluster is a bug of the caller's.
void CheckIndex(size_t index, size_t size) {
  if (index < size) return;
  std::fprintf(stderr, "jobq::client::Cluster: node %zu of %zu\n", index, size);
  std::abort();
}

}  // namespace

Cluster::Cluster(const std::string& addresses, ChannelFactory factory)
    : factory_(std::move(factory)) {
  std::vector<std::string> list = SplitAddresses(addresses);
  if (list.empty()) list.push_back(addresses);
  std::lock_guard lock(mu_);
  for (const auto& a : list) {
    bool known = false;
    for (const auto& n : nodes_) known = known || n->address == a;
    if (!known) AddLocked(a, factory_(a));
  }
}

Cluster::Cluster(std::shared_ptr<grpc::Channel> channel) {
  std::lock_guard lock(mu_);
  AddLocked("", std::move(channel));
}

void Cluster::AddLocked(const std::string& address,
                        std::shared_ptr<grpc::Channel> channel) {
  auto node = std::make_unique<Node>();
  node->address = address;
  node->jobs = v1::JobService::NewStub(channel);
  node->admin = v1::AdminService::NewStub(channel);
  node->schedules = v1::ScheduleService::NewStub(channel);
  node->workers = v1::WorkerService::NewStub(channel);
  node->channel = std::move(channel);
  nodes_.push_back(std::move(node));
}

size_t Cluster::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

const Cluster::Node& Cluster::node(size_t index) const {
  std::lock_guard lock(mu_);
  CheckIndex(index, nodes_.size());
  return *nodes_[index];
}

size_t Cluster::leader() const {
  std::lock_guard lock(mu_);
  return leader_;
}

void Cluster::SetLeader(size_t index) {
  std::lock_guard lock(mu_);
  CheckIndex(index, nodes_.size());
  if (index != leader_) {
    grpc::experimental::ChannelResetConnectionBackoff(
        nodes_[index]->channel.get());
  }
  leader_ = index;
}

void Cluster::DialNow(size_t index) const {
  grpc::experimental::ChannelResetConnectionBackoff(node(index).channel.get());
}

std::optional<size_t> Cluster::FindOrAdd(const std::string& address) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->address == address) return i;
  }
  if (!factory_ || address.empty()) return std::nullopt;
  AddLocked(address, factory_(address));
  return nodes_.size() - 1;
}

}  // namespace jobq::client
