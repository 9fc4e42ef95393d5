#pragma once

#include <grpcpp/support/status.h>

#include <cstddef>

#include "events/event_batch.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::events {

// The core's view of one client stream that receives job events.
// Thread: core loop (implementations are thread-safe).
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues the events of `slice` (shared, not copied). False when the
  // stream is ending or has just overflowed its buffer (it then ends itself
  // with RESOURCE_EXHAUSTED): the caller drops its subscription.
  virtual bool AddEvents(const EventSlice& slice) = 0;
  // Queues one event: a slice of its own.
  bool AddEvent(const v1::JobEvent& event) {
    return AddEvents(SingleEvent(event));
  }
  // Makes sure a message goes out even if no event is queued: the first
  // message of a queue watch tells the client that the watch is in place.
  virtual void AddOpening() {}
  // Starts writing what is queued, unless a write is in flight (its
  // completion continues with the rest).
  virtual void Flush() = 0;
  // Ends the stream with `status` once what is queued has been written.
  virtual void Close(const grpc::Status& status) = 0;
  // Bytes charged for what is queued or being written.
  virtual size_t unsent_bytes() const { return 0; }
  // Drops what is queued and ends the stream with `status` (RESOURCE_
  // EXHAUSTED) once the write in flight, if any, completes.
  virtual void CutOff(const grpc::Status& status) { Close(status); }
};

}  // namespace jobq::events
