#include "web/json_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "jobq/v1/jobq.pb.h"
#include "web/sample_ring.h"

namespace jobq::web {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

engine::QueueFigures Queue(const std::string& name, uint64_t submitted,
                           uint64_t succeeded, int64_t wait_us) {
  engine::QueueFigures q;
  q.name = name;
  q.submitted_total = submitted;
  q.succeeded_total = succeeded;
  q.by_state[v1::JOB_STATE_READY] = submitted - succeeded;
  for (uint64_t i = 0; i < succeeded; ++i) q.queue_wait.Record(wait_us);
  return q;
}

engine::CoreFigures Figures(std::vector<engine::QueueFigures> queues) {
  engine::CoreFigures f;
  f.queues = std::move(queues);
  return f;
}

TEST(SampleRingTest, PointsAreRatesAndMeansOverEachInterval) {
  SampleRing ring(10, 10);
  ring.Add(1'000'000, Figures({Queue("a", 0, 0, 0)}));
  // In 2 s: 10 submitted, 4 finished after a wait of 3 ms each.
  ring.Add(3'000'000, Figures({Queue("a", 10, 4, 3000)}));
  std::string json = ring.Json([](const std::string&) { return true; });
  EXPECT_THAT(json,
              HasSubstr("\"a\":[{\"t\":3000,\"in\":5.000,\"out\":2.000,"));
  EXPECT_THAT(json,
              HasSubstr("\"waiting\":6,\"wait_ms\":3.000,\"run_ms\":null"));
}

TEST(SampleRingTest, KeepsAtMostItsCapacityPerQueueAndItsQueueLimit) {
  SampleRing ring(3, 2);
  for (int i = 0; i < 10; ++i) {
    ring.Add(i * 1'000'000, Figures({Queue("a", i, 0, 0), Queue("b", i, 0, 0),
                                     Queue("c", i, 0, 0)}));
  }
  EXPECT_EQ(ring.size("a"), 3u);
  EXPECT_EQ(ring.size("b"), 3u);
  EXPECT_EQ(ring.size("c"), 0u);
  std::string json = ring.Json([](const std::string&) { return true; });
  EXPECT_THAT(json, HasSubstr("\"queues_dropped\":1"));
}

TEST(SampleRingTest, AQueueGoneFromTheFiguresIsDropped) {
  SampleRing ring;
  ring.Add(1, Figures({Queue("a", 1, 0, 0), Queue("b", 1, 0, 0)}));
  ring.Add(2, Figures({Queue("b", 1, 0, 0)}));
  EXPECT_EQ(ring.size("a"), 0u);
  EXPECT_EQ(ring.size("b"), 2u);
}

TEST(SampleRingTest, OnlyVisibleQueuesAreServed) {
  SampleRing ring;
  ring.Add(1, Figures({Queue("billing", 1, 0, 0), Queue("emails", 1, 0, 0)}));
  std::string json =
      ring.Json([](const std::string& q) { return q == "billing"; });
  EXPECT_THAT(json, HasSubstr("\"billing\""));
  EXPECT_THAT(json, Not(HasSubstr("emails")));
}

TEST(JsonApiTest, StatusCodesMapToHttpStatuses) {
  EXPECT_EQ(HttpStatus(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatus(absl::StatusCode::kInternal), 500);
}

TEST(JsonApiTest, AnErrorNamesTheFieldItsMessageStartsWith) {
  EXPECT_EQ(ErrorJson(absl::InvalidArgumentError("jobs[3].queue: bad \"x\"")),
            "{\"error\":{\"code\":\"INVALID_ARGUMENT\",\"message\":"
            "\"jobs[3].queue: bad \\\"x\\\"\",\"field\":\"jobs[3].queue\"}}");
  EXPECT_THAT(ErrorJson(absl::UnavailableError("jobqd is shutting down")),
              Not(HasSubstr("field")));
}

}  // namespace
}  // namespace jobq::web
