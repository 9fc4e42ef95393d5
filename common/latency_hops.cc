#include "common/latency_hops.h"

namespace jobq {

const HopInfo& InfoOf(Hop hop) {
  static const HopInfo kInfo[] = {
      {"receive", "a gRPC reaction's post until the core runs it"},
      {"log", "a committed batch until the core learns it is durable"},
      {"dispatch", "jobs handed to a worker loop until it takes them"},
      {"run", "a built-in or command run on its worker loop"},
      {"result",
       "results handed back by a worker loop until the core has "
       "them"},
      {"flush", "streams handed to the flush thread until it writes them"},
      {"queued", "an ack or event queued on a stream until its write starts"},
      {"write", "a stream message given to gRPC until it is written"},
      {"turn", "one turn of the core loop"},
  };
  static_assert(std::size(kInfo) == static_cast<size_t>(Hop::kCount));
  return kInfo[static_cast<int>(hop)];
}

}  // namespace jobq
