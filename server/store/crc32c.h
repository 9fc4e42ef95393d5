#pragma once

#include <boost/crc.hpp>
#include <cstddef>
#include <cstdint>

namespace jobq::store::crc32c {

using Crc32c =
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

// CRC-32C (Castagnoli), as LevelDB and iSCSI use it, from Boost.CRC.
// Extend(Value(a), b) == Value(a + b).
inline uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  // Boost keeps the running remainder unreflected: undo the final XOR and
  // the output reflection of `crc` to resume from it.
  uint32_t rem = crc ^ 0xFFFFFFFFu;
  uint32_t unreflected = 0;
  for (int i = 0; i < 32; ++i) {
    unreflected = (unreflected << 1) | (rem & 1);
    rem >>= 1;
  }
  Crc32c c(unreflected);
  c.process_bytes(data, n);
  return c.checksum();
}

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }

// A CRC stored beside the data it covers is masked, so that the CRC of a
// string that itself contains CRCs is not degenerate (LevelDB's rule).
inline constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t Mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return ((rot >> 17) | (rot << 15));
}

}  // namespace jobq::store::crc32c
