// The standard services jobqd serves beside its own: health and reflection.
#include <gtest/gtest.h>

#include <set>

#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/integration/jobqd_process.h"

namespace jobq::testing {
namespace {

TEST(ServicesTest, HealthReportsServing) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  auto healthy = jobqd->client().Healthy();
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_TRUE(*healthy);
}

TEST(ServicesTest, ReflectionListsTheJobqServices) {
  auto jobqd = JobqdProcess::Start();
  ASSERT_NE(jobqd, nullptr);
  namespace refl = grpc::reflection::v1alpha;
  auto stub = refl::ServerReflection::NewStub(jobqd->client().channel());
  grpc::ClientContext ctx;
  auto stream = stub->ServerReflectionInfo(&ctx);
  refl::ServerReflectionRequest req;
  req.set_list_services("*");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  refl::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::set<std::string> names;
  for (const auto& s : resp.list_services_response().service()) {
    names.insert(s.name());
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(names.count("jobq.v1.JobService"));
  EXPECT_TRUE(names.count("jobq.v1.AdminService"));
  EXPECT_TRUE(names.count("grpc.health.v1.Health"));
}

}  // namespace
}  // namespace jobq::testing
