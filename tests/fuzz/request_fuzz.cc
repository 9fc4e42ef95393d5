// Fuzz target: the validation of what clients and workers send. The input
// is decoded as a SubmitBatchRequest, a WorkerMessage and a WatchRequest;
// every job spec, hello, queue name, job id and state list goes through the
// checks jobqd applies before anything reaches the core. Validation must
// never crash, and a spec it accepts must be one the core can hold.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "api/validation.h"
#include "api/worker_service.h"
#include "core/job.h"
#include "jobq/v1/jobq.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int n = static_cast<int>(size);
  jobq::api::ValidationLimits limits;
  limits.max_payload = 4096;

  jobq::v1::SubmitBatchRequest batch;
  if (batch.ParseFromArray(data, n)) {
    for (int i = 0; i < batch.jobs_size(); ++i) {
      jobq::v1::JobSpec spec = batch.jobs(i);
      if (!jobq::api::ValidateSpec(spec, limits, "jobs[0].").ok()) continue;
      // Accepted: it fits the compact record and reads back the same.
      if (!jobq::api::IsValidQueueName(spec.queue()) ||
          !jobq::api::IsValidKindName(spec.kind()) ||
          spec.payload().size() > limits.max_payload) {
        std::abort();
      }
      jobq::core::NameTable names;
      jobq::core::Job job(1);
      job.SetSpec(spec, names);
      jobq::v1::JobSpec back;
      job.SpecToProto(&back);
      if (back.queue() != spec.queue() || back.kind() != spec.kind() ||
          back.payload() != spec.payload() ||
          back.priority() != spec.priority()) {
        std::abort();
      }
    }
  }
  jobq::v1::WorkerMessage message;
  if (message.ParseFromArray(data, n) && message.has_hello()) {
    (void)jobq::api::ValidateHello(message.hello());
  }
  jobq::v1::WatchRequest watch;
  if (watch.ParseFromArray(data, n)) {
    (void)jobq::api::ValidateQueueName(watch.queue(), "queue");
    (void)jobq::api::ValidateStates(watch.states(), "states");
    for (const std::string& id : watch.job_ids()) {
      uint64_t seq = 0;
      if (jobq::core::ParseJobId(id, &seq) &&
          jobq::core::FormatJobId(seq) != id) {
        // Ids are 16 lower-case hex digits: one spelling each.
        std::abort();
      }
    }
  }
  return 0;
}
