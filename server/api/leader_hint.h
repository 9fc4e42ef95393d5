#pragma once

#include <grpcpp/support/server_interceptor.h>

#include "api/service_context.h"

namespace jobq::api {

// On a standby, adds the leader's address to every UNAVAILABLE answer of
// jobq's services as trailing metadata (`jobq-leader`), so that a client
// given several addresses goes straight to the leader.
class LeaderHintInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit LeaderHintInterceptorFactory(const ServiceContext* ctx)
      : ctx_(ctx) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  const ServiceContext* ctx_;
};

}  // namespace jobq::api
