#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "jobq/v1/jobq.grpc.pb.h"

namespace jobq::client {

// The ScheduleService calls, over a Client's nodes, following its leader,
// and with its deadlines. Blocking; errors as absl::Status.
// Thread: safe to share between threads. "*client" must outlive it.
class ScheduleClient {
 public:
  explicit ScheduleClient(Client* client) : client_(client) {}

  absl::StatusOr<v1::Schedule> Create(const v1::Schedule& schedule);
  absl::StatusOr<v1::Schedule> Get(const std::string& name);
  absl::StatusOr<v1::ListSchedulesResponse> List();
  absl::Status Delete(const std::string& name);
  absl::StatusOr<v1::Schedule> Pause(const std::string& name);
  absl::StatusOr<v1::Schedule> Resume(const std::string& name);
  absl::StatusOr<v1::TriggerScheduleResponse> Trigger(const std::string& name);

 private:
  Client* const client_;
};

}  // namespace jobq::client
