// Drives gearmand (Debian's gearman-job-server) for tests/perf/peers.sh:
// the latency of a job from the client to a worker and back, as jobq-bench's
// latency scenario times a job from submit to its SUCCEEDED at the
// producer. Speaks gearman's binary protocol over plain sockets (as
// beanstalk_bench speaks beanstalkd's), loopback only:
//   - a client connection sends SUBMIT_JOB at a fixed rate, open loop, and
//     reads JOB_CREATED and WORK_COMPLETE;
//   - a worker connection (CAN_DO, GRAB_JOB) completes each job at once,
//     echoing its data, which carries the job's index.
//
//   gearman_bench latency --port P [--rate R] [--duration S] [--size S]
#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

#include "tests/perf/peer_conn.h"

namespace {

using jobq::perf::Conn;

enum Type : uint32_t {
  kCanDo = 1,
  kPreSleep = 4,
  kNoop = 6,
  kSubmitJob = 7,
  kJobCreated = 8,
  kGrabJob = 9,
  kNoJob = 10,
  kJobAssign = 11,
  kWorkComplete = 13,
};

std::string Packet(uint32_t type, const std::string& data = "") {
  std::string p("\0REQ", 4);
  uint32_t header[2] = {htonl(type), htonl(static_cast<uint32_t>(data.size()))};
  p.append(reinterpret_cast<const char*>(header), sizeof header);
  return p + data;
}

struct Reply {
  uint32_t type;
  std::string data;
};

Reply Read(Conn& c) {
  std::string header = c.Bytes(12);
  uint32_t type, size;
  std::memcpy(&type, header.data() + 4, 4);
  std::memcpy(&size, header.data() + 8, 4);
  return {ntohl(type), c.Bytes(ntohl(size))};
}

// Completes every job it is given, echoing its data.
void Work(int port) {
  Conn c(port);
  c.Send(Packet(kCanDo, "bench") + Packet(kGrabJob));
  while (true) {
    Reply r = Read(c);
    if (r.type == kJobAssign) {
      // handle \0 function \0 data
      size_t a = r.data.find('\0');
      size_t b = r.data.find('\0', a + 1);
      std::string handle = r.data.substr(0, a);
      c.Send(Packet(kWorkComplete,
                    handle + std::string(1, '\0') + r.data.substr(b + 1)) +
             Packet(kGrabJob));
    } else if (r.type == kNoJob) {
      c.Send(Packet(kPreSleep));
    } else if (r.type == kNoop) {
      c.Send(Packet(kGrabJob));  // Woken: there is work.
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gearman_bench: gearmand under jobq-bench's latency scenario"};
  app.require_subcommand(1);
  int port = 4730;
  double rate = 5000, duration = 5;
  size_t size = 64;
  app.add_option("--port", port);
  auto* latency = app.add_subcommand(
      "latency",
      "open loop at a fixed rate: each job timed from its due time to its "
      "WORK_COMPLETE at the client");
  latency->add_option("--rate", rate);
  latency->add_option("--duration", duration);
  latency->add_option("--size", size);
  CLI11_PARSE(app, argc, argv);

  jobq::perf::OpenLoop loop(rate, duration);
  std::thread([port] { Work(port); }).detach();
  // A job that never comes back ends the run as an error, not a hang.
  std::thread([&loop, rate, duration] {
    std::this_thread::sleep_for(std::chrono::duration<double>(duration + 30));
    loop.Report("latency", rate, 1);
    std::_Exit(1);
  }).detach();
  Conn client(port);
  std::atomic<int> errors{0};
  std::thread reader([&] {
    while (true) {
      Reply r = Read(client);
      if (r.type == kJobCreated) continue;
      if (r.type != kWorkComplete) {
        ++errors;
        continue;
      }
      size_t a = r.data.find('\0');
      if (loop.Done(std::stoull(r.data.substr(a + 1)))) return;
    }
  });
  loop.Run([&](uint64_t i) {
    std::string data = std::to_string(i);
    data.resize(std::max(size, data.size()), 'x');
    // function \0 unique (empty: no coalescing) \0 data
    client.Send(Packet(kSubmitJob, std::string("bench\0\0", 7) + data));
  });
  reader.join();
  loop.Report("latency", rate, errors.load());
  std::_Exit(errors.load() == 0 ? 0 : 1);
}
