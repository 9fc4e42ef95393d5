// The client's leader-following rules (client/failover.h), without a
// network: which node each attempt of a call goes to.
#include "client/failover.h"

#include <gtest/gtest.h>

#include <random>

namespace jobq::client {
namespace {

const absl::Status kRefused =
    absl::UnavailableError("jobqd is a standby; the leader is 127.0.0.1:7071");
const absl::Status kNoLeaderYet =
    absl::UnavailableError("jobqd is a standby; no leader yet");
const absl::Status kRefusedConnection = absl::UnavailableError(
    "failed to connect to all addresses; last error: UNKNOWN: "
    "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused");
const absl::Status kSocketClosed = absl::UnavailableError("Socket closed");

TEST(SplitAddressesTest, CommasSeparateAndSpacesAndEmptyEntriesGo) {
  EXPECT_EQ(SplitAddresses("a:1, b:2,,c:3 ,"),
            (std::vector<std::string>{"a:1", "b:2", "c:3"}));
  EXPECT_EQ(SplitAddresses("127.0.0.1:7070"),
            (std::vector<std::string>{"127.0.0.1:7070"}));
  EXPECT_TRUE(SplitAddresses(" , ").empty());
}

TEST(ClassifyFailureTest, OnlyUnavailableIsEverTriedElsewhere) {
  EXPECT_EQ(ClassifyFailure(absl::NotFoundError("job 1 not found"), false),
            AttemptFailure::kAnswered);
  EXPECT_EQ(ClassifyFailure(absl::DeadlineExceededError("late"), false),
            AttemptFailure::kAnswered);
  EXPECT_EQ(ClassifyFailure(absl::OkStatus(), false),
            AttemptFailure::kAnswered);
}

TEST(ClassifyFailureTest, AStandbyIsKnownByItsMetadataOrItsMessage) {
  EXPECT_EQ(ClassifyFailure(kRefused, true), AttemptFailure::kRefusedByStandby);
  EXPECT_EQ(ClassifyFailure(kNoLeaderYet, false),
            AttemptFailure::kRefusedByStandby);
  // The metadata alone is enough, whatever the message says.
  EXPECT_EQ(ClassifyFailure(absl::UnavailableError("other words"), true),
            AttemptFailure::kRefusedByStandby);
}

TEST(ClassifyFailureTest, AConnectFailureIsToldFromABrokenCall) {
  EXPECT_EQ(ClassifyFailure(kRefusedConnection, false),
            AttemptFailure::kNotConnected);
  EXPECT_EQ(
      ClassifyFailure(
          absl::UnavailableError("DNS resolution failed for nosuch:1"), false),
      AttemptFailure::kNotConnected);
  EXPECT_EQ(ClassifyFailure(kSocketClosed, false),
            AttemptFailure::kMaybeDelivered);
}

TEST(FailoverWalkTest, AReadTriesEveryNodeOnceInOrderThenGivesUp) {
  FailoverWalk walk(3, 1, RetryPolicy::kAlways);
  EXPECT_EQ(walk.current(), 1u);
  EXPECT_EQ(walk.Next(AttemptFailure::kMaybeDelivered, std::nullopt, 3), 2u);
  EXPECT_EQ(walk.Next(AttemptFailure::kNotConnected, std::nullopt, 3), 0u);
  EXPECT_EQ(walk.Next(AttemptFailure::kMaybeDelivered, std::nullopt, 3),
            std::nullopt);
  EXPECT_EQ(walk.attempts(), 3u);
}

TEST(FailoverWalkTest, AnAnswerEndsTheCall) {
  FailoverWalk walk(3, 0, RetryPolicy::kAlways);
  EXPECT_EQ(walk.Next(AttemptFailure::kAnswered, std::nullopt, 3),
            std::nullopt);
}

TEST(FailoverWalkTest, AWriteThatMayHaveBeenDeliveredIsNotSentAgain) {
  FailoverWalk walk(3, 0, RetryPolicy::kIfNotDelivered);
  EXPECT_EQ(walk.Next(AttemptFailure::kMaybeDelivered, std::nullopt, 3),
            std::nullopt);
  EXPECT_EQ(walk.attempts(), 1u);
}

TEST(FailoverWalkTest, AWriteGoesOnAfterARefusalOrAFailedConnect) {
  FailoverWalk walk(3, 0, RetryPolicy::kIfNotDelivered);
  EXPECT_EQ(walk.Next(AttemptFailure::kNotConnected, std::nullopt, 3), 1u);
  EXPECT_EQ(walk.Next(AttemptFailure::kRefusedByStandby, std::nullopt, 3), 2u);
  // The third was reached, and may have done it.
  EXPECT_EQ(walk.Next(AttemptFailure::kMaybeDelivered, std::nullopt, 3),
            std::nullopt);
}

TEST(FailoverWalkTest, ARefusalThatNamesTheLeaderGoesThereFirst) {
  FailoverWalk walk(3, 0, RetryPolicy::kIfNotDelivered);
  EXPECT_EQ(walk.Next(AttemptFailure::kRefusedByStandby, 2, 3), 2u);
  // The named leader was down: the one left is still tried.
  EXPECT_EQ(walk.Next(AttemptFailure::kNotConnected, std::nullopt, 3), 1u);
}

TEST(FailoverWalkTest, ALeaderAddedByTheRefusalIsTried) {
  // The standby named an address not in the list: the caller added it as
  // node 2.
  FailoverWalk walk(2, 0, RetryPolicy::kIfNotDelivered);
  EXPECT_EQ(walk.Next(AttemptFailure::kRefusedByStandby, 2, 3), 2u);
  EXPECT_EQ(walk.Next(AttemptFailure::kNotConnected, std::nullopt, 3), 1u);
  EXPECT_EQ(walk.Next(AttemptFailure::kNotConnected, std::nullopt, 3),
            std::nullopt);
}

TEST(FailoverWalkTest, ANamedLeaderAlreadyTriedGetsOneMoreAttemptOnly) {
  // Node 0 did not connect; node 1, a standby, says 0 leads (it may just
  // have taken over): 0 once more, and no further.
  FailoverWalk walk(2, 0, RetryPolicy::kIfNotDelivered);
  EXPECT_EQ(walk.Next(AttemptFailure::kNotConnected, std::nullopt, 2), 1u);
  EXPECT_EQ(walk.Next(AttemptFailure::kRefusedByStandby, 0, 2), 0u);
  EXPECT_EQ(walk.Next(AttemptFailure::kNotConnected, std::nullopt, 2),
            std::nullopt);
  // Two standbys naming each other end too.
  FailoverWalk loop(2, 0, RetryPolicy::kAlways);
  EXPECT_EQ(loop.Next(AttemptFailure::kRefusedByStandby, 1, 2), 1u);
  EXPECT_EQ(loop.Next(AttemptFailure::kRefusedByStandby, 0, 2), 0u);
  EXPECT_EQ(loop.Next(AttemptFailure::kRefusedByStandby, 1, 2), std::nullopt);
}

TEST(FailoverWalkTest, NoCallMakesMoreAttemptsThanNodesPlusOne) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    size_t nodes = 1 + rng() % 4;
    FailoverWalk walk(
        nodes, rng() % nodes,
        rng() % 2 ? RetryPolicy::kAlways : RetryPolicy::kIfNotDelivered);
    while (true) {
      // Now and then a refusal names a node, known or new.
      std::optional<size_t> named;
      if (rng() % 2 == 0) {
        if (rng() % 4 == 0) ++nodes;
        named = rng() % nodes;
      }
      auto failure = named ? AttemptFailure::kRefusedByStandby
                           : static_cast<AttemptFailure>(1 + rng() % 3);
      auto next = walk.Next(failure, named, nodes);
      if (!next) break;
      ASSERT_LT(*next, nodes);
      ASSERT_LE(walk.attempts(), nodes + 1);
    }
  }
}

TEST(NodeAfterStreamEndTest, FollowsANamedLeaderElseMovesOnAfterUnavailable) {
  EXPECT_EQ(NodeAfterStreamEnd(AttemptFailure::kRefusedByStandby, 0, 2, 3), 2u);
  EXPECT_EQ(
      NodeAfterStreamEnd(AttemptFailure::kRefusedByStandby, 2, std::nullopt, 3),
      0u);
  EXPECT_EQ(
      NodeAfterStreamEnd(AttemptFailure::kMaybeDelivered, 1, std::nullopt, 3),
      2u);
  // A stream that ended another way (a drain, a twin id) stays put.
  EXPECT_EQ(NodeAfterStreamEnd(AttemptFailure::kAnswered, 1, std::nullopt, 3),
            1u);
  EXPECT_EQ(
      NodeAfterStreamEnd(AttemptFailure::kNotConnected, 0, std::nullopt, 1),
      0u);
}

}  // namespace
}  // namespace jobq::client
