#pragma once

#include <grpcpp/support/status.h>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/latency_hops.h"
#include "events/event_stream.h"
#include "events/stream_budget.h"
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
  // Events and acks queued or being written, and the bytes charged for
  // them (EventBatch: encoded size plus an estimate of the memory each
  // takes). Past either bound the consumer is too slow: the stream ends with
  // RESOURCE_EXHAUSTED.
  size_t max_items = 10'000;
  size_t max_bytes = 4 << 20;
  // Packing: a message holds at most this many items or charged bytes (a
  // larger single item goes alone). Small enough that a message stuck in
  // gRPC's buffers behind a client that does not read costs little.
  size_t message_items = 4096;
  size_t message_bytes = 256 << 10;
  // All streams' buffers together; null: not counted.
  StreamBudget* budget = nullptr;
  // Times each message's wait for its write and the write (Hop::kQueued,
  // Hop::kWrite); null: not timed.
  LatencyHops* hops = nullptr;
};

// The bounded outbound buffer of one stream: the core thread adds events
// (and, for SubmitStream, acks); one write at a time goes to gRPC carrying
// everything queued since the last, so a busy stream costs few messages.
// Events are held as slices of shared EventBatches: adding one costs the
// same whatever the event, and the message built for a write points at the
// batch's events instead of copying them (they go back out of the message,
// unfreed, once the write completes). Bytes stay charged until then.
//
// Invariants: at most one WriteMessage in flight; FinishStream is called once,
// only with no write in flight, and the writer is never touched after it, so
// the reactor may delete itself in OnDone.
// Thread: Add*/Flush/Close/CutOff from the core or its flusher; OnWriteDone
// from gRPC.
template <typename Response>
class Outbound final : public EventStream {
 public:
  Outbound(StreamWriter<Response>* writer, OutboundLimits limits)
      : writer_(writer), limits_(limits) {}

  ~Outbound() override {
    ReleaseBorrowed();
    Uncharge(bytes_);
  }

  bool AddEvents(const EventSlice& slice) override {
    if constexpr (kCarriesEvents) {
      std::lock_guard lock(mu_);
      // Long slices are cut into parts of at most message_items events, so
      // that messages stay bounded.
      for (size_t b = slice.begin; b < slice.end;) {
        size_t e = std::min(slice.end, b + limits_.message_items);
        auto [items, bytes] = slice.batch->Measure(b, e, slice.mask);
        if (items > 0) {
          if (!Admit(items, bytes)) return false;
          Tail(items, bytes)
              .events.push_back(EventSlice{slice.batch, b, e, slice.mask});
        }
        b = e;
      }
      return !finishing_;
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
  // message being packed. False as AddEvents.
  template <typename Fill>
  bool Add(size_t bytes, Fill&& fill) {
    std::lock_guard lock(mu_);
    if (!Admit(1, bytes)) return false;
    fill(Tail(1, bytes).message);
    return true;
  }

  // Makes sure a message goes out even if no event is queued: the first
  // message of a watch tells the client that the watch is in place.
  void AddOpening() override {
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

  void CutOff(const grpc::Status& status) override {
    {
      std::lock_guard lock(mu_);
      if (finishing_) return;
      Discard();
      finishing_ = true;
      status_ = status;
    }
    StartNext();
  }

  size_t unsent_bytes() const override {
    std::lock_guard lock(mu_);
    return bytes_;
  }

  // From the reactor's OnWriteDone.
  void OnWriteDone(bool ok) {
    size_t acks = 0;
    {
      std::lock_guard lock(mu_);
      in_flight_ = false;
      if (limits_.hops != nullptr) {
        limits_.hops->Since(Hop::kWrite, write_started_us_);
      }
      ReleaseBorrowed();
      if constexpr (requires(Response r) { r.acks_size(); }) {
        acks = static_cast<size_t>(writing_.acks_size());
      }
      writing_.Clear();
      items_ -= std::min(items_, writing_items_);
      Uncharge(writing_bytes_);
      writing_items_ = writing_bytes_ = 0;
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
  static constexpr bool kCarriesEvents = requires(Response r) {
    r.mutable_events();
  };

  struct Pending {
    Response message;                // Acks and the like, filled at Add.
    std::vector<EventSlice> events;  // Added to the message when written.
    size_t items = 0;
    size_t bytes = 0;
    int64_t queued_us = 0;  // HopNowUs() when created, if timed.
  };

  // Called with mu_ held. Accounts for `items` items of `bytes`.
  bool Admit(size_t items, size_t bytes) {
    if (finishing_) return false;
    if (items_ + items > limits_.max_items ||
        bytes_ + bytes > limits_.max_bytes) {
      Discard();
      finishing_ = true;
      if (limits_.budget != nullptr) limits_.budget->cut_slow.fetch_add(1);
      status_ = grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("stream consumer too slow: more than ",
                       limits_.max_items, " events or ", limits_.max_bytes,
                       " bytes waiting; reconnect and read faster"));
      return false;
    }
    items_ += items;
    bytes_ += bytes;
    if (limits_.budget != nullptr) limits_.budget->Charge(bytes);
    return true;
  }

  void Uncharge(size_t bytes) {
    bytes_ -= std::min(bytes_, bytes);
    if (limits_.budget != nullptr && bytes > 0) limits_.budget->Release(bytes);
  }

  // The message being packed, with room for `items` of `bytes`.
  Pending& Tail(size_t items, size_t bytes) {
    if (pending_.empty() ||
        (pending_.back().items > 0 &&
         (pending_.back().items + items > limits_.message_items ||
          pending_.back().bytes + bytes > limits_.message_bytes))) {
      pending_.emplace_back();
      if (limits_.hops != nullptr) pending_.back().queued_us = HopNowUs();
    }
    Pending& tail = pending_.back();
    tail.items += items;
    tail.bytes += bytes;
    return tail;
  }

  // Drops what is queued (not what is being written).
  void Discard() {
    size_t queued = bytes_ - std::min(bytes_, writing_bytes_);
    pending_.clear();
    items_ = writing_items_;
    Uncharge(queued);
  }

  // Takes the events the message in flight points at back out of it,
  // without freeing them: they belong to their batches.
  void ReleaseBorrowed() {
    if constexpr (kCarriesEvents) {
      if (borrowed_ > 0) {
        auto* events = writing_.mutable_events();
        int n = static_cast<int>(borrowed_);
        released_.resize(borrowed_);
        events->UnsafeArenaExtractSubrange(events->size() - n, n,
                                           released_.data());
        borrowed_ = 0;
      }
      writing_slices_.clear();
    }
  }

  void StartNext() {
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      if (in_flight_ || finished_) return;
      if (!pending_.empty() && !broken_) {
        Pending& next = pending_.front();
        writing_ = std::move(next.message);
        writing_items_ = next.items;
        writing_bytes_ = next.bytes;
        if constexpr (kCarriesEvents) {
          writing_slices_ = std::move(next.events);
          auto* events = writing_.mutable_events();
          for (const EventSlice& s : writing_slices_) {
            for (size_t i = s.begin; i < s.end; ++i) {
              const v1::JobEvent& e = s.batch->at(i);
              if (!MaskHas(s.mask, e.state())) continue;
              // Shared and never written through: only serialised.
              events->UnsafeArenaAddAllocated(const_cast<v1::JobEvent*>(&e));
              ++borrowed_;
            }
          }
        }
        if (limits_.hops != nullptr) {
          write_started_us_ = HopNowUs();
          if (next.queued_us != 0) {
            limits_.hops->Record(Hop::kQueued,
                                 write_started_us_ - next.queued_us);
          }
        }
        pending_.pop_front();
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
  std::deque<Pending> pending_;  // Guarded by mu_.
  Response writing_;             // Owned by gRPC while in_flight_.
  // What writing_ points at, and how many of its events are borrowed.
  std::vector<EventSlice> writing_slices_;
  size_t borrowed_ = 0;
  std::vector<v1::JobEvent*> released_;  // Scratch for ReleaseBorrowed.
  // Queued in pending_ or being written; and of these, being written.
  size_t items_ = 0, bytes_ = 0;
  size_t writing_items_ = 0, writing_bytes_ = 0;
  int64_t write_started_us_ = 0;  // Guarded by mu_; with limits_.hops.
  bool in_flight_ = false;
  bool finishing_ = false;  // Close requested (or overflow, or broken).
  bool finished_ = false;   // FinishStream called.
  bool broken_ = false;
  grpc::Status status_;
};

}  // namespace jobq::events
