#pragma once

#include <grpcpp/server_builder.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"

namespace jobq::daemon {

// jobqd's own TCP listener for gRPC, which hands each accepted connection
// to the gRPC server (an external connection acceptor) unless
// `max_connections` are open already; then it closes the new one at once
// and counts it. gRPC owns a connection's socket once handed over, so the
// listener tells the ones still open by their file descriptor and socket
// inode (fstat), looked at again only when the limit is reached.
// Thread: Bind and Start from the owner; an accept thread of its own.
class Listener {
 public:
  explicit Listener(size_t max_connections);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds `address` (host:port, [v6]:port; port 0 picks one) and listens.
  // INVALID_ARGUMENT for an address that is not host:port; UNAVAILABLE
  // when it cannot be bound.
  [[nodiscard]] absl::Status Bind(const std::string& address);
  int port() const { return port_; }

  // Accepts into `acceptor` from now on (the server must have started).
  void Start(
      std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor);
  // Stops accepting and closes the listening socket; connections already
  // handed over stay the server's.
  void Stop();

  // Connections handed to the server and still open.
  size_t open_connections();
  uint64_t refused_total() const { return refused_.load(); }

 private:
  void AcceptLoop();
  // Drops the connections gRPC has closed; the number still open.
  size_t Sweep();

  const size_t max_connections_;
  int fd_ = -1;
  int wake_[2] = {-1, -1};  // A pipe that ends the accept loop.
  int port_ = 0;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::thread thread_;
  std::mutex mu_;
  // fd -> socket inode of each connection handed over. Guarded by mu_.
  absl::flat_hash_map<int, uint64_t> open_;
  std::atomic<uint64_t> refused_{0};
};

}  // namespace jobq::daemon
