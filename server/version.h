#pragma once

namespace jobq {
inline constexpr const char* kVersion = "0.1.0";
}
