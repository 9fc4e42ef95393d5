// Drives beanstalkd with the workloads jobq-bench runs against jobqd, for
// tests/perf/peers.sh: pipelined puts over several connections, and the
// full cycle (producers put; consumers reserve and delete). Plain POSIX
// sockets and the beanstalkd text protocol; loopback only. Start a fresh
// beanstalkd for each run: the jobs put are left in it.
//
//   beanstalk_bench put   --port P [-n N] [--conns C] [--window W] [--size S]
//   beanstalk_bench cycle --port P [-n N] [--producers P] [--consumers K]
//                         [--window W] [--size S]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

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

std::string PutCommand(size_t size) {
  return "put 0 0 60 " + std::to_string(size) + "\r\n" +
         std::string(size, 'x') + "\r\n";
}

// Sends `n` puts on `c`, at most `window` unanswered; true if all were
// inserted.
bool PutMany(Conn& c, uint64_t n, int window, const std::string& put) {
  uint64_t sent = 0, answered = 0;
  bool ok = true;
  while (answered < n) {
    std::string batch;
    while (sent < n && sent - answered < static_cast<uint64_t>(window)) {
      batch += put;
      ++sent;
    }
    if (!batch.empty()) c.Send(batch);
    ok = c.Line().rfind("INSERTED", 0) == 0 && ok;
    ++answered;
  }
  return ok;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

void Report(const char* scenario, uint64_t jobs, double seconds, bool ok) {
  std::printf(
      "{\"scenario\":\"%s\",\"jobs\":%llu,\"seconds\":%.3f,"
      "\"jobs_per_second\":%.0f,\"errors\":%d}\n",
      scenario, static_cast<unsigned long long>(jobs), seconds,
      static_cast<double>(jobs) / seconds, ok ? 0 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"beanstalk_bench: beanstalkd under jobq-bench's workloads"};
  app.require_subcommand(1);
  int port = 11300, conns = 8, producers = 4, consumers = 4, window = 256;
  uint64_t count = 200'000;
  size_t size = 64;
  app.add_option("--port", port);
  app.add_option("-n,--count", count);
  app.add_option("--size", size);
  app.add_option("--window", window);
  auto* put = app.add_subcommand("put", "pipelined puts");
  put->add_option("--conns", conns);
  auto* cycle = app.add_subcommand("cycle", "put, reserve, delete");
  cycle->add_option("--producers", producers);
  cycle->add_option("--consumers", consumers);
  CLI11_PARSE(app, argc, argv);
  const std::string command = PutCommand(size);

  if (put->parsed()) {
    std::atomic<bool> ok{true};
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < conns; ++i) {
      threads.emplace_back([&] {
        Conn c(port);
        if (!PutMany(c, count / static_cast<uint64_t>(conns), window, command))
          ok = false;
      });
    }
    for (auto& t : threads) t.join();
    Report("put",
           count / static_cast<uint64_t>(conns) * static_cast<uint64_t>(conns),
           Seconds(t0), ok);
    return ok ? 0 : 1;
  }

  // cycle: producers put `count` jobs while consumers reserve and delete.
  std::atomic<uint64_t> consumed{0};
  std::atomic<double> seconds{0};  // Set by the last delete.
  std::atomic<bool> ok{true};
  uint64_t per = count / static_cast<uint64_t>(producers);
  uint64_t total = per * static_cast<uint64_t>(producers);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < producers; ++i) {
    threads.emplace_back([&] {
      Conn c(port);
      if (!PutMany(c, per, window, command)) ok = false;
    });
  }
  for (int i = 0; i < consumers; ++i) {
    threads.emplace_back([&] {
      Conn c(port);
      c.Send("reserve-with-timeout 1\r\n");
      while (true) {
        std::string line = c.Line();
        if (line.rfind("DELETED", 0) == 0) {
          if (consumed.fetch_add(1) + 1 == total) seconds = Seconds(t0);
          continue;
        }
        if (line.rfind("RESERVED", 0) != 0) {
          // TIMED_OUT: done when everything has been consumed.
          if (consumed.load() >= total) return;
          c.Send("reserve-with-timeout 1\r\n");
          continue;
        }
        size_t sp = line.find(' ', 9);
        uint64_t id = std::stoull(line.substr(9, sp - 9));
        c.Skip(std::stoull(line.substr(sp + 1)));
        // The delete and the next reserve go out together.
        c.Send("delete " + std::to_string(id) +
               "\r\nreserve-with-timeout 1\r\n");
      }
    });
  }
  for (auto& t : threads) t.join();
  Report("cycle", total, seconds.load(), ok);
  return ok ? 0 : 1;
}
