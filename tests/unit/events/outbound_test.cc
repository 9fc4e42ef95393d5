#include "events/outbound.h"

#include <gtest/gtest.h>

#include <vector>

namespace jobq::events {
namespace {

template <typename Response>
struct FakeWriter : StreamWriter<Response> {
  void WriteMessage(const Response* r) override {
    EXPECT_FALSE(finished) << "write after finish";
    EXPECT_FALSE(in_flight) << "two writes in flight";
    in_flight = true;
    written.push_back(*r);
  }
  void FinishStream(const grpc::Status& s) override {
    EXPECT_FALSE(finished) << "finished twice";
    EXPECT_FALSE(in_flight) << "finish with a write in flight";
    finished = true;
    status = s;
  }
  void OnAcksWritten(size_t n) override { acks_written += n; }
  bool in_flight = false;
  bool finished = false;
  grpc::Status status;
  std::vector<Response> written;
  size_t acks_written = 0;
};

v1::JobEvent Event(int i) {
  v1::JobEvent e;
  e.set_job_id(std::to_string(i));
  return e;
}

TEST(OutboundTest, EventsQueuedDuringAWriteGoOutTogetherInTheNext) {
  FakeWriter<v1::WatchResponse> w;
  Outbound<v1::WatchResponse> out(&w, OutboundLimits{});
  ASSERT_TRUE(out.AddEvent(Event(1)));
  out.Flush();
  ASSERT_EQ(w.written.size(), 1u);
  for (int i = 2; i <= 50; ++i) ASSERT_TRUE(out.AddEvent(Event(i)));
  out.Flush();  // A write is in flight: nothing new yet.
  EXPECT_EQ(w.written.size(), 1u);
  w.in_flight = false;
  out.OnWriteDone(true);
  ASSERT_EQ(w.written.size(), 2u);
  EXPECT_EQ(w.written[1].events_size(), 49);
  EXPECT_EQ(w.written[1].events(0).job_id(), "2");
}

TEST(OutboundTest, CloseFinishesAfterQueuedEventsAreWritten) {
  FakeWriter<v1::WatchResponse> w;
  Outbound<v1::WatchResponse> out(&w, OutboundLimits{});
  out.AddEvent(Event(1));
  out.Flush();
  out.AddEvent(Event(2));
  out.Close(grpc::Status::OK);
  EXPECT_FALSE(w.finished);
  w.in_flight = false;
  out.OnWriteDone(true);  // Writes event 2.
  EXPECT_FALSE(w.finished);
  w.in_flight = false;
  out.OnWriteDone(true);
  EXPECT_TRUE(w.finished);
  EXPECT_TRUE(w.status.ok());
  EXPECT_FALSE(out.AddEvent(Event(3)));
}

TEST(OutboundTest, ASlowConsumerIsCutOffWithResourceExhausted) {
  FakeWriter<v1::WatchResponse> w;
  OutboundLimits limits;
  limits.max_items = 10;
  Outbound<v1::WatchResponse> out(&w, limits);
  out.AddEvent(Event(0));
  out.Flush();  // In flight and never completed: the client does not read.
  // The event in flight counts until its write completes.
  for (int i = 1; i <= 9; ++i) ASSERT_TRUE(out.AddEvent(Event(i)));
  EXPECT_FALSE(out.AddEvent(Event(10)));
  EXPECT_FALSE(out.AddEvent(Event(12)));
  EXPECT_FALSE(w.finished);  // Not while the write is in flight.
  w.in_flight = false;
  out.OnWriteDone(true);
  EXPECT_TRUE(w.finished);
  EXPECT_EQ(w.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(w.written.size(), 1u);  // The backlog was dropped, not sent.
}

TEST(OutboundTest, ABrokenStreamFinishesWithoutWritingMore) {
  FakeWriter<v1::WatchResponse> w;
  Outbound<v1::WatchResponse> out(&w, OutboundLimits{});
  out.AddEvent(Event(1));
  out.Flush();
  out.AddEvent(Event(2));
  w.in_flight = false;
  out.OnWriteDone(false);
  EXPECT_TRUE(w.finished);
  EXPECT_EQ(w.written.size(), 1u);
}

TEST(OutboundTest, LargeBacklogsAreSplitIntoBoundedMessages) {
  FakeWriter<v1::WatchResponse> w;
  OutboundLimits limits;
  limits.message_items = 100;
  Outbound<v1::WatchResponse> out(&w, limits);
  out.AddEvent(Event(0));
  out.Flush();
  for (int i = 1; i <= 250; ++i) out.AddEvent(Event(i));
  int total = 0;
  while (w.in_flight) {
    w.in_flight = false;
    out.OnWriteDone(true);
  }
  for (const auto& m : w.written) {
    EXPECT_LE(m.events_size(), 101);
    total += m.events_size();
  }
  EXPECT_EQ(total, 251);
}

TEST(OutboundTest, AcksAndEventsArePackedAndAckCompletionIsReported) {
  FakeWriter<v1::SubmitStreamResponse> w;
  Outbound<v1::SubmitStreamResponse> out(&w, OutboundLimits{});
  v1::SubmitAck ack;
  ack.set_client_ref(7);
  out.AddAck(ack);
  out.AddEvent(Event(1));
  out.AddAck(ack);
  out.Flush();
  ASSERT_EQ(w.written.size(), 1u);
  EXPECT_EQ(w.written[0].acks_size(), 2);
  EXPECT_EQ(w.written[0].events_size(), 1);
  w.in_flight = false;
  out.OnWriteDone(true);
  EXPECT_EQ(w.acks_written, 2u);
}

TEST(OutboundTest, AConsumerIsCutOffByBytesAsWellAsByEvents) {
  FakeWriter<v1::WatchResponse> w;
  OutboundLimits limits;
  limits.max_bytes = 10 * EventBatch::kEventOverhead;  // Under 10 events.
  Outbound<v1::WatchResponse> out(&w, limits);
  int added = 0;
  while (out.AddEvent(Event(added))) ++added;
  EXPECT_GT(added, 0);
  EXPECT_LT(added, 10);
  out.Flush();
  EXPECT_TRUE(w.finished);
  EXPECT_EQ(w.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(OutboundTest, BytesStayChargedToTheBudgetUntilTheirWriteCompletes) {
  StreamBudget budget;
  FakeWriter<v1::WatchResponse> w;
  OutboundLimits limits;
  limits.budget = &budget;
  {
    Outbound<v1::WatchResponse> out(&w, limits);
    out.AddEvent(Event(1));
    size_t one = budget.used();
    EXPECT_GE(one, EventBatch::kEventOverhead);
    EXPECT_EQ(out.unsent_bytes(), one);
    out.Flush();  // Handed to gRPC, not yet written.
    EXPECT_EQ(budget.used(), one);
    out.AddEvent(Event(2));
    EXPECT_GT(budget.used(), one);
    w.in_flight = false;
    out.OnWriteDone(true);  // Event 1 is out; event 2 is being written.
    EXPECT_LT(budget.used(), 2 * one + 8);
    EXPECT_GT(budget.used(), 0u);
  }
  EXPECT_EQ(budget.used(), 0u);  // A stream that goes returns the rest.
}

TEST(OutboundTest, StreamsShareOneBatchAndWriteItsEventsWithoutOwningThem) {
  auto batch = std::make_shared<EventBatch>();
  for (int i = 0; i < 3; ++i) batch->Add(Event(i));
  FakeWriter<v1::WatchResponse> a, b;
  Outbound<v1::WatchResponse> out_a(&a, OutboundLimits{});
  Outbound<v1::WatchResponse> out_b(&b, OutboundLimits{});
  EventSlice slice{batch, 1, 3, kAllStates};
  ASSERT_TRUE(out_a.AddEvents(slice));
  ASSERT_TRUE(out_b.AddEvents(slice));
  out_a.Flush();
  out_b.Flush();
  ASSERT_EQ(a.written.size(), 1u);
  ASSERT_EQ(b.written.size(), 1u);
  EXPECT_EQ(a.written[0].events(0).job_id(), "1");
  EXPECT_EQ(b.written[0].events(1).job_id(), "2");
  a.in_flight = b.in_flight = false;
  out_a.OnWriteDone(true);
  out_b.OnWriteDone(true);
  // The batch's events were lent to the messages, and are still its own.
  EXPECT_EQ(batch->at(1).job_id(), "1");
  EXPECT_EQ(batch.use_count(), 2);  // This test's and `slice`'s.
}

}  // namespace
}  // namespace jobq::events
