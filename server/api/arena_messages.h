#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

namespace jobq::api {

// Puts a unary method's response on an arena of its own (set with
// SetMessageAllocatorFor_<Method>): a response of thousands of small
// messages (a ListJobs page) is built by bumping a pointer, and freed a
// few blocks at a time when gRPC is done with the call, instead of one
// free per string and message on a gRPC thread. The request, small, stays
// on the heap: a map field on an arena (ListJobsRequest's labels) crashes
// the arena's destructor under ThreadSanitizer (Debian's protobuf 3.21).
// Thread: any (gRPC allocates and releases on its threads).
template <typename Request, typename Response>
class ArenaMessageAllocator final
    : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    return new Holder();
  }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options()) {
      this->set_request(&request_);
      this->set_response(
          google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options() {
      google::protobuf::ArenaOptions o;
      o.start_block_size = 4 << 10;
      o.max_block_size = 64 << 10;  // A page of 1,000 jobs: a few blocks.
      return o;
    }
    Request request_;
    google::protobuf::Arena arena_;
  };
};

}  // namespace jobq::api
