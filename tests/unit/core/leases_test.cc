#include "core/leases.h"

#include <gtest/gtest.h>

#include <string>

namespace jobq::core {
namespace {

constexpr TimeUs kT0 = 1'700'000'000 * kSecond;

wal::v1::Lease Terms(TimeUs until, DurationUs length, TimeUs deadline = 0) {
  wal::v1::Lease lease;
  lease.set_until_us(until);
  lease.set_length_us(length);
  lease.set_deadline_us(deadline);
  return lease;
}

// When each worker was last heard from; absent: gone.
struct Heard {
  TimeUs operator()(const std::string& worker, uint64_t) const {
    if (worker == "w1") return w1;
    if (worker == "w2") return w2;
    return 0;
  }
  TimeUs w1 = 0;
  TimeUs w2 = 0;
};

TEST(LeaseTableTest, NothingIsDueBeforeTheFirstLeaseEnds) {
  LeaseTable leases;
  EXPECT_EQ(leases.next(), 0);
  leases.Start(1, "w1", 1, Terms(kT0 + 30 * kSecond, 30 * kSecond));
  leases.Start(2, "w2", 1, Terms(kT0 + 10 * kSecond, 10 * kSecond));
  EXPECT_EQ(leases.next(), kT0 + 10 * kSecond);
  EXPECT_FALSE(leases.Check(kT0 + 10 * kSecond - 1, Heard{}).has_value());
  auto due = leases.Check(kT0 + 10 * kSecond, Heard{});
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->seq, 2u);
}

TEST(LeaseTableTest, AWorkerHeardFromIsRenewedFromItsLastWordUpToTheDeadline) {
  LeaseTable leases;
  leases.Start(1, "w1", 2, Terms(kT0 + 10 * kSecond, 10 * kSecond));
  leases.Start(2, "w2", 1,
               Terms(kT0 + 10 * kSecond, 10 * kSecond, kT0 + 15 * kSecond));
  Heard heard{kT0 + 8 * kSecond, kT0 + 9 * kSecond};
  auto due = leases.Check(kT0 + 10 * kSecond, heard);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->seq, 1u);
  EXPECT_TRUE(due->renewed());
  EXPECT_EQ(due->renew_until, kT0 + 18 * kSecond);
  ASSERT_TRUE(leases.Renew(1, 2, due->renew_until));
  due = leases.Check(kT0 + 10 * kSecond, heard);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->seq, 2u);
  EXPECT_EQ(due->renew_until, kT0 + 15 * kSecond);  // The deadline caps it.
  ASSERT_TRUE(leases.Renew(2, 1, due->renew_until));
  EXPECT_FALSE(leases.Check(kT0 + 10 * kSecond, heard).has_value());
  EXPECT_EQ(leases.next(), kT0 + 15 * kSecond);
}

TEST(LeaseTableTest, ADueLeaseIsLostAsTimedOutGoneOrSilent) {
  LeaseTable leases;
  leases.Start(1, "w1", 1,
               Terms(kT0 + 10 * kSecond, 10 * kSecond, kT0 + 10 * kSecond));
  leases.Start(2, "w2", 1, Terms(kT0 + 11 * kSecond, 10 * kSecond));
  leases.Start(3, "w3", 1, Terms(kT0 + 12 * kSecond, 10 * kSecond));
  TimeUs now = kT0 + 12 * kSecond;
  // w1 talks, but its run is past its deadline; w2 last spoke at kT0; w3
  // is gone.
  Heard heard{now, kT0};
  auto due = leases.Check(now, heard);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->verdict, DueLease::Verdict::kTimedOut);
  EXPECT_EQ(due->Reason(now, 10 * kSecond), "timed out after 10s");
  leases.End(1);
  due = leases.Check(now, heard);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->verdict, DueLease::Verdict::kWorkerSilent);
  EXPECT_EQ(due->Reason(now, 0),
            "lease expired: worker w2 not heard from for 12s");
  leases.End(2);
  due = leases.Check(now, heard);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->verdict, DueLease::Verdict::kWorkerGone);
  EXPECT_EQ(due->Reason(now, 0), "worker w3 is gone");
  leases.End(3);
  EXPECT_FALSE(leases.Check(now, heard).has_value());
  EXPECT_EQ(leases.size(), 0u);
  EXPECT_EQ(leases.next(), 0);
}

TEST(LeaseTableTest, OnlyTheAttemptThatHoldsTheLeaseRenewsItOrReportsProgress) {
  LeaseTable leases;
  leases.Start(1, "w1", 3, Terms(kT0 + 10 * kSecond, 10 * kSecond));
  v1::Progress progress;
  progress.set_fraction(0.5);
  EXPECT_FALSE(leases.Renew(1, 2, kT0 + 99 * kSecond));
  EXPECT_FALSE(leases.SetProgress(1, 2, progress));
  EXPECT_FALSE(leases.Renew(7, 3, kT0 + 99 * kSecond));
  EXPECT_EQ(leases.Find(1)->until, kT0 + 10 * kSecond);
  EXPECT_TRUE(leases.SetProgress(1, 3, progress));
  EXPECT_EQ(leases.Find(1)->progress.fraction(), 0.5);
  EXPECT_EQ(leases.Find(7), nullptr);
}

TEST(LeaseTableTest, StartingAgainReplacesTheRunAndItsLease) {
  LeaseTable leases;
  leases.Start(1, "w1", 1, Terms(kT0 + 10 * kSecond, 10 * kSecond));
  leases.Start(1, "w2", 2, Terms(kT0 + 20 * kSecond, 10 * kSecond));
  EXPECT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases.Find(1)->worker, "w2");
  // The first lease is gone: nothing is due at its end.
  EXPECT_EQ(leases.next(), kT0 + 20 * kSecond);
  EXPECT_FALSE(leases.Check(kT0 + 15 * kSecond, Heard{}).has_value());
  leases.End(1);
  leases.End(1);  // Ending twice is harmless.
  EXPECT_EQ(leases.next(), 0);
}

}  // namespace
}  // namespace jobq::core
