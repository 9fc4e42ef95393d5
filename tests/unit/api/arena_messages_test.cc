#include "api/arena_messages.h"

#include <gtest/gtest.h>

#include "jobq/v1/jobq.pb.h"

namespace jobq::api {
namespace {

using ListMessages =
    ArenaMessageAllocator<v1::ListJobsRequest, v1::ListJobsResponse>;

TEST(ArenaMessageAllocatorTest, EachCallsResponseIsOnAnArenaOfItsOwn) {
  ListMessages allocator;
  auto* a = allocator.AllocateMessages();
  auto* b = allocator.AllocateMessages();
  google::protobuf::Arena* arena = a->response()->GetArena();
  ASSERT_NE(arena, nullptr);
  EXPECT_NE(b->response()->GetArena(), arena);
  // The request, with its labels map, is on the heap.
  EXPECT_EQ(a->request()->GetArena(), nullptr);
  (*a->request()->mutable_labels())["team"] = "a";
  // A page built into the response lives on the call's arena.
  for (int i = 0; i < 1000; ++i) {
    v1::Job* job = a->response()->add_jobs();
    job->set_id("0000000000000001");
    job->mutable_spec()->set_payload(std::string(64, 'p'));
    job->mutable_created_at()->set_seconds(i);
  }
  EXPECT_EQ(a->response()->jobs(999).GetArena(), arena);
  EXPECT_EQ(a->response()->jobs(999).spec().GetArena(), arena);
  EXPECT_GT(arena->SpaceUsed(), 1000u * 64);
  a->Release();  // Frees it all at once (leak-checked under ASan).
  b->Release();
}

}  // namespace
}  // namespace jobq::api
