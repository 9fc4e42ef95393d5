#include "api/rpc_metrics.h"

namespace jobq::api {

void RpcMetrics::Record(const std::string& method, int code) {
  std::lock_guard lock(mu_);
  ++counts_[{method, code}];
}

std::map<std::pair<std::string, int>, uint64_t> RpcMetrics::Snapshot() const {
  std::lock_guard lock(mu_);
  return counts_;
}

namespace {

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(grpc::experimental::ServerRpcInfo* info,
                        RpcMetrics* metrics)
      : method_(info->method()), metrics_(metrics) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Record(method_, methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  RpcMetrics* metrics_;
};

}  // namespace

grpc::experimental::Interceptor*
RpcMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcMetricsInterceptor(info, metrics_);
}

}  // namespace jobq::api
