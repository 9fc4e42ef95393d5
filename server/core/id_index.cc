#include "core/id_index.h"

#include <limits>

namespace jobq::core {

void IdIndex::Remove(uint64_t id) {
  auto it = parts_.find(High(id));
  if (it == parts_.end()) return;
  it->second.remove(Low(id));
  if (it->second.isEmpty()) parts_.erase(it);
}

void IdIndex::Cursor::Next() {
  roaring_advance_uint32_iterator(&it_);
  SkipExhausted();
}

void IdIndex::Cursor::SkipExhausted() {
  while (part_ != end_ && !it_.has_value) {
    if (++part_ == end_) return;
    roaring_init_iterator(&part_->second.roaring, &it_);
  }
}

IdIndex::Cursor IdIndex::After(uint64_t after) const {
  Cursor c;
  c.end_ = parts_.end();
  c.part_ = c.end_;
  if (after == std::numeric_limits<uint64_t>::max()) return c;
  uint64_t first = after + 1;
  c.part_ = parts_.lower_bound(High(first));
  if (c.part_ == c.end_) return c;
  roaring_init_iterator(&c.part_->second.roaring, &c.it_);
  if (c.part_->first == High(first)) {
    // False when no id of this part is as large: has_value is then false
    // and SkipExhausted moves on.
    roaring_move_uint32_iterator_equalorlarger(&c.it_, Low(first));
  }
  c.SkipExhausted();
  return c;
}

}  // namespace jobq::core
