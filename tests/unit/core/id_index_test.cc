#include "core/id_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <vector>

namespace jobq::core {
namespace {

std::vector<uint64_t> Walk(const IdIndex& index, uint64_t after) {
  std::vector<uint64_t> out;
  for (auto c = index.After(after); !c.done(); c.Next()) out.push_back(c.id());
  return out;
}

std::vector<uint64_t> Expected(const std::set<uint64_t>& ids,
                               uint64_t after) {
  return {ids.upper_bound(after), ids.end()};
}

TEST(IdIndexTest, WalksTheIdsAfterAnyIdAcrossTheirHighBits) {
  constexpr uint64_t k32 = uint64_t{1} << 32;
  IdIndex index;
  std::set<uint64_t> want;
  std::mt19937_64 rng(5);
  // Ids around the 2^32 boundaries of the parts, dense and sparse.
  for (uint64_t base : {uint64_t{1}, k32 - 100, 3 * k32 - 50, 7 * k32}) {
    for (int i = 0; i < 300; ++i) {
      uint64_t id = base + rng() % 400;
      index.Add(id);
      want.insert(id);
    }
  }
  // Remove every id of one part (the part between 3*2^32 and 4*2^32
  // starts empty afterwards) and some others.
  for (auto it = want.begin(); it != want.end();) {
    bool whole_part = *it >> 32 == 3;
    if (whole_part || rng() % 4 == 0) {
      index.Remove(*it);
      it = want.erase(it);
    } else {
      ++it;
    }
  }
  index.Remove(12345 * k32);  // Never there: a no-op.
  EXPECT_EQ(Walk(index, 0), Expected(want, 0));
  for (uint64_t after : {uint64_t{0}, k32 - 1, k32, 3 * k32, 3 * k32 + 400,
                         4 * k32 - 1, 7 * k32 + 399,
                         std::numeric_limits<uint64_t>::max()}) {
    EXPECT_EQ(Walk(index, after), Expected(want, after)) << after;
  }
  for (uint64_t id : want) {
    EXPECT_EQ(Walk(index, id), Expected(want, id)) << id;
  }
}

TEST(IdIndexTest, EmptiesAndRefills) {
  IdIndex index;
  EXPECT_TRUE(index.empty());
  EXPECT_TRUE(index.After(0).done());
  index.Add(42);
  index.Add(42);  // A set: once.
  EXPECT_FALSE(index.empty());
  EXPECT_EQ(Walk(index, 0), std::vector<uint64_t>{42});
  EXPECT_TRUE(index.After(42).done());
  index.Remove(42);
  EXPECT_TRUE(index.empty());
  EXPECT_TRUE(index.After(0).done());
  index.Add(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(Walk(index, 0),
            std::vector<uint64_t>{std::numeric_limits<uint64_t>::max()});
}

}  // namespace
}  // namespace jobq::core
