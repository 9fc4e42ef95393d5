#pragma once

// What the peers' load generators (tests/perf/*_bench.cc) share: a
// blocking loopback connection with a read buffer, and the open-loop
// latency run, timed and reported as jobq-bench's latency scenario is.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/histogram.h"

namespace jobq::perf {

// One connection with a read buffer for line-framed replies.
class Conn {
 public:
  explicit Conn(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::perror("connect");
      std::exit(1);
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Conn() { close(fd_); }

  void Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = write(fd_, data.data() + off, data.size() - off);
      if (n <= 0) Die("write");
      off += static_cast<size_t>(n);
    }
  }
  // The next line, without its CRLF.
  std::string Line() {
    while (true) {
      size_t end = buf_.find("\r\n", pos_);
      if (end != std::string::npos) {
        std::string line = buf_.substr(pos_, end - pos_);
        pos_ = end + 2;
        return line;
      }
      Fill();
    }
  }
  // Skips `n` bytes of body and its CRLF.
  void Skip(size_t n) {
    while (buf_.size() - pos_ < n + 2) Fill();
    pos_ += n + 2;
  }
  // The next `n` bytes.
  std::string Bytes(size_t n) {
    while (buf_.size() - pos_ < n) Fill();
    std::string out = buf_.substr(pos_, n);
    pos_ += n;
    return out;
  }

 private:
  void Fill() {
    if (pos_ > 0) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    char chunk[65536];
    ssize_t n = read(fd_, chunk, sizeof chunk);
    if (n <= 0) Die("read");
    buf_.append(chunk, static_cast<size_t>(n));
  }
  [[noreturn]] static void Die(const char* what) {
    std::perror(what);
    std::exit(1);
  }
  int fd_;
  std::string buf_;
  size_t pos_ = 0;
};

using PerfClock = std::chrono::steady_clock;

// An open-loop latency run: `send(i)` is called for jobs 0..n-1 at `rate`
// per second, each at its due time whatever the answers do; the other side
// calls Done(i) when job i has made its whole way. Latency counts from the
// due time (no coordinated omission), as jobq-bench's does.
class OpenLoop {
 public:
  OpenLoop(double rate, double seconds)
      : n_(static_cast<uint64_t>(rate * seconds)),
        step_(static_cast<int64_t>(1e9 / rate)),
        due_(n_) {}

  uint64_t size() const { return n_; }

  // Runs the sends on this thread; returns once all are sent.
  template <typename Send>
  void Run(Send&& send) {
    // Sleeps end within microseconds of their time, not 50 us later.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    auto t0 = PerfClock::now();
    for (uint64_t i = 0; i < n_; ++i) {
      auto due = t0 + std::chrono::nanoseconds(step_ * static_cast<int64_t>(i));
      {
        std::lock_guard lock(mu_);
        due_[i] = due;
      }
      std::this_thread::sleep_until(due);
      send(i);
    }
  }

  // Job `i` has made its way; true once every job has.
  bool Done(uint64_t i) {
    std::lock_guard lock(mu_);
    if (i >= n_) return false;
    done_us_.Record(std::chrono::duration_cast<std::chrono::microseconds>(
                        PerfClock::now() - due_[i])
                        .count());
    return done_us_.Count() == n_;
  }

  // One JSON line, in jobq-bench's latency shape.
  void Report(const char* scenario, double rate, int errors) const {
    std::lock_guard lock(mu_);
    auto ms = [&](double q) { return done_us_.Quantile(q) / 1000.0; };
    std::printf(
        "{\"scenario\":\"%s\",\"jobs\":%llu,\"errors\":%d,"
        "\"jobs_per_second\":%.0f,\"done_ms\":{\"p50\":%.3f,\"p90\":%.3f,"
        "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}}\n",
        scenario, static_cast<unsigned long long>(done_us_.Count()), errors,
        rate, ms(0.5), ms(0.9), ms(0.99), ms(0.999), done_us_.Max() / 1000.0);
    std::fflush(stdout);
  }

 private:
  const uint64_t n_;
  const int64_t step_;
  mutable std::mutex mu_;
  std::vector<PerfClock::time_point> due_;  // Guarded by mu_.
  Histogram done_us_;                       // Guarded by mu_.
};

}  // namespace jobq::perf
