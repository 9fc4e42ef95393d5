#pragma once

#include <grpcpp/support/status.h>

#include "jobq/v1/jobq.pb.h"

namespace jobq::events {

// The core's view of one client stream that receives job events.
// Thread: core loop (implementations are thread-safe).
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues an event. False when the stream is ending or has just overflowed
  // its buffer (it then ends itself with RESOURCE_EXHAUSTED): the caller
  // drops its subscription.
  virtual bool AddEvent(const v1::JobEvent& event) = 0;
  // Starts writing what is queued, unless a write is in flight (its
  // completion continues with the rest).
  virtual void Flush() = 0;
  // Ends the stream with `status` once what is queued has been written.
  virtual void Close(const grpc::Status& status) = 0;
};

}  // namespace jobq::events
