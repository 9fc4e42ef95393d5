#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace jobq::api {

// Counts finished RPCs by full method name and status code.
// Thread: safe.
class RpcMetrics {
 public:
  void Record(const std::string& method, int code);
  // (method, code) -> count.
  std::map<std::pair<std::string, int>, uint64_t> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> counts_;
};

// A server interceptor that records each RPC's status in an RpcMetrics,
// for every service the server hosts.
class RpcMetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsInterceptorFactory(RpcMetrics* metrics)
      : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  RpcMetrics* metrics_;
};

}  // namespace jobq::api
