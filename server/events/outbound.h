#pragma once

#include <grpcpp/support/status.h>

#include <cstddef>
#include <deque>
#include <mutex>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "events/event_stream.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::events {

// What an Outbound drives: a gRPC reactor's write side.
template <typename Response>
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Exactly the reactor's StartWrite / Finish; never called concurrently,
  // never while a write is in flight, and nothing after FinishStream.
  virtual void WriteMessage(const Response* response) = 0;
  virtual void FinishStream(const grpc::Status& status) = 0;
  // A write that carried `acks` acknowledgements completed.
  virtual void OnAcksWritten(size_t acks) {}
};

struct OutboundLimits {
  // Events and acks queued but not yet handed to gRPC. Past either bound
  // the consumer is too slow: the stream ends with RESOURCE_EXHAUSTED.
  size_t max_items = 10'000;
  size_t max_bytes = 16 << 20;
  // Packing: a message holds at most this many items or bytes.
  size_t message_items = 4096;
  size_t message_bytes = 1 << 20;
};

// The bounded outbound buffer of one stream: the core thread adds events
// (and, for SubmitStream, acks); one write at a time goes to gRPC carrying
// everything queued since the last, so a busy stream costs few messages.
//
// Invariants: at most one WriteMessage in flight; FinishStream is called once,
// only with no write in flight, and the writer is never touched after it, so
// the reactor may delete itself in OnDone.
// Thread: Add*/Flush/Close from the core; OnWriteDone from gRPC.
template <typename Response>
class Outbound final : public EventStream {
 public:
  Outbound(StreamWriter<Response>* writer, OutboundLimits limits)
      : writer_(writer), limits_(limits) {}

  bool AddEvent(const v1::JobEvent& event) override {
    if constexpr (requires(Response r) { r.add_events(); }) {
      return Add(event.ByteSizeLong(),
                 [&event](Response& r) { *r.add_events() = event; });
    } else {
      return false;  // This stream carries no job events.
    }
  }

  // SubmitStream only.
  bool AddAck(const v1::SubmitAck& ack) {
    return Add(ack.ByteSizeLong(),
               [&ack](Response& r) { *r.add_acks() = ack; });
  }

  // Queues one item of about `bytes`: `fill(message)` adds it to the
  // message being packed. False as AddEvent.
  template <typename Fill>
  bool Add(size_t bytes, Fill&& fill) {
    std::lock_guard lock(mu_);
    if (!Admit(bytes)) return false;
    fill(Tail());
    ++pending_.back().items;
    return true;
  }

  // Makes sure a message goes out even if no event is queued: the first
  // message of a watch tells the client that the watch is in place.
  void AddOpening() {
    std::lock_guard lock(mu_);
    if (pending_.empty() && !finishing_) pending_.emplace_back();
  }

  // Like AddOpening, with the first message's content: `fill(message)`.
  template <typename Fill>
  void AddOpening(Fill&& fill) {
    std::lock_guard lock(mu_);
    if (finishing_) return;
    if (pending_.empty()) pending_.emplace_back();
    fill(pending_.front().message);
  }

  void Flush() override { StartNext(); }

  void Close(const grpc::Status& status) override {
    {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      finishing_ = true;
      status_ = status;
    }
    StartNext();
  }

  // From the reactor's OnWriteDone.
  void OnWriteDone(bool ok) {
    size_t acks = 0;
    {
      std::lock_guard lock(mu_);
      in_flight_ = false;
      if constexpr (requires(Response r) { r.acks_size(); }) {
        acks = static_cast<size_t>(writing_.acks_size());
      }
      if (!ok) {
        // The client is gone; nothing more can be written.
        broken_ = true;
        Discard();
        if (!finishing_) {
          finishing_ = true;
          status_ = grpc::Status(grpc::StatusCode::CANCELLED, "stream broken");
        }
      }
    }
    if (acks > 0) writer_->OnAcksWritten(acks);
    StartNext();
  }

  bool finishing() const {
    std::lock_guard lock(mu_);
    return finishing_;
  }

 private:
  // Called with mu_ held. Accounts for an item of `bytes`.
  bool Admit(size_t bytes) {
    if (finishing_) return false;
    if (items_ + 1 > limits_.max_items || bytes_ + bytes > limits_.max_bytes) {
      Discard();
      finishing_ = true;
      status_ = grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("stream consumer too slow: more than ",
                       limits_.max_items, " events or ", limits_.max_bytes,
                       " bytes waiting; reconnect and read faster"));
      return false;
    }
    ++items_;
    bytes_ += bytes;
    tail_items_ += 1;
    tail_bytes_ += bytes;
    return true;
  }

  Response& Tail() {
    if (pending_.empty() || tail_items_ > limits_.message_items ||
        tail_bytes_ > limits_.message_bytes) {
      pending_.emplace_back();
      tail_items_ = 1;
      tail_bytes_ = 0;
    }
    return pending_.back().message;
  }

  void Discard() {
    pending_.clear();
    items_ = bytes_ = tail_items_ = tail_bytes_ = 0;
  }

  void StartNext() {
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      if (in_flight_ || finished_) return;
      if (!pending_.empty() && !broken_) {
        writing_ = std::move(pending_.front().message);
        size_t n = pending_.front().items;
        pending_.pop_front();
        size_t b = writing_.ByteSizeLong();
        items_ -= std::min(items_, n);
        bytes_ -= std::min(bytes_, b);
        if (pending_.empty()) tail_items_ = tail_bytes_ = 0;
        in_flight_ = true;
      } else if (finishing_) {
        finished_ = true;
        finish = true;
      } else {
        return;
      }
    }
    if (finish) {
      writer_->FinishStream(status_);
    } else {
      writer_->WriteMessage(&writing_);
    }
  }

  StreamWriter<Response>* const writer_;
  const OutboundLimits limits_;
  mutable std::mutex mu_;
  struct Pending {
    Response message;
    size_t items = 0;
  };
  std::deque<Pending> pending_;   // Guarded by mu_.
  Response writing_;              // Owned by gRPC while in_flight_.
  size_t items_ = 0, bytes_ = 0;  // Queued in pending_.
  size_t tail_items_ = 0, tail_bytes_ = 0;
  bool in_flight_ = false;
  bool finishing_ = false;  // Close requested (or overflow, or broken).
  bool finished_ = false;   // FinishStream called.
  bool broken_ = false;
  grpc::Status status_;
};

}  // namespace jobq::events
