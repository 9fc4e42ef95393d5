#include "api/leader_hint.h"

#include "absl/strings/match.h"

namespace jobq::api {
namespace {

class LeaderHintInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit LeaderHintInterceptor(const ServiceContext* ctx) : ctx_(ctx) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS) &&
        methods->GetSendStatus().error_code() == grpc::UNAVAILABLE &&
        ctx_->standby.load()) {
      std::string leader = ctx_->leader.address();
      if (!leader.empty()) {
        methods->GetSendTrailingMetadata()->emplace(kLeaderMetadata, leader);
      }
    }
    methods->Proceed();
  }

 private:
  const ServiceContext* ctx_;
};

}  // namespace

grpc::experimental::Interceptor*
LeaderHintInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  // jobq's own services only (not health or reflection).
  if (!absl::StartsWith(info->method(), "/jobq.")) return nullptr;
  return new LeaderHintInterceptor(ctx_);
}

}  // namespace jobq::api
