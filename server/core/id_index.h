#pragma once

#include <cstdint>
#include <map>

#include "roaring/roaring.hh"

namespace jobq::core {

// A set of job ids, walked in increasing order: a compressed bitmap
// (CRoaring) per 2^32 ids. Adding or removing an id costs about the same
// wherever it lies among millions (a search over at most 2^16 containers,
// then a bit or a short array), where a balanced tree pays a cache miss a
// level; and dense ids take about a bit each.
// Thread: whatever owns it (the core).
class IdIndex {
  using Parts = std::map<uint32_t, Roaring>;  // By the ids' high 32 bits.

 public:
  void Add(uint64_t id) { parts_[High(id)].add(Low(id)); }
  void Remove(uint64_t id);
  bool empty() const { return parts_.empty(); }
  friend bool operator==(const IdIndex& a, const IdIndex& b) {
    return a.parts_ == b.parts_;
  }

  // Walks the ids greater than a given one, in order. Valid until the
  // index changes.
  class Cursor {
   public:
    bool done() const { return part_ == end_; }
    uint64_t id() const {
      return static_cast<uint64_t>(part_->first) << 32 | it_.current_value;
    }
    void Next();

   private:
    friend class IdIndex;
    // Moves to the next part while this one has no id left.
    void SkipExhausted();
    Parts::const_iterator part_;
    Parts::const_iterator end_;
    roaring_uint32_iterator_t it_{};
  };
  Cursor After(uint64_t after) const;

 private:
  static uint32_t High(uint64_t id) { return static_cast<uint32_t>(id >> 32); }
  static uint32_t Low(uint64_t id) { return static_cast<uint32_t>(id); }
  Parts parts_;
};

}  // namespace jobq::core
