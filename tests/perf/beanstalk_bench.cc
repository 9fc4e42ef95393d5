// Drives beanstalkd with the workloads jobq-bench runs against jobqd, for
// tests/perf/peers.sh: pipelined puts over several connections, and the
// full cycle (producers put; consumers reserve and delete). Plain POSIX
// sockets and the beanstalkd text protocol; loopback only. Start a fresh
// beanstalkd for each run: the jobs put are left in it.
//
//   beanstalk_bench put   --port P [-n N] [--conns C] [--window W] [--size S]
//   beanstalk_bench cycle --port P [-n N] [--producers P] [--consumers K]
//                         [--window W] [--size S]
//   beanstalk_bench latency --port P [--rate R] [--duration S] [--size S]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/perf/peer_conn.h"

namespace {

using jobq::perf::Conn;

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

// The job's index leads its body, padded to `size`.
int Latency(int port, double rate, double duration, size_t size) {
  jobq::perf::OpenLoop loop(rate, duration);
  std::atomic<int> errors{0};
  std::thread consumer([&] {
    Conn c(port);
    c.Send("reserve-with-timeout 5\r\n");
    uint64_t current = 0;
    while (true) {
      std::string line = c.Line();
      if (line.rfind("RESERVED", 0) == 0) {
        size_t sp = line.find(' ', 9);
        std::string id = line.substr(9, sp - 9);
        std::string body = c.Bytes(std::stoull(line.substr(sp + 1)) + 2);
        current = std::stoull(body);
        // The next reserve goes out with the delete.
        c.Send("delete " + id + "\r\nreserve-with-timeout 5\r\n");
      } else if (line.rfind("DELETED", 0) == 0) {
        if (loop.Done(current)) return;
      } else {
        ++errors;  // TIMED_OUT: a job never came.
        return;
      }
    }
  });
  Conn producer(port);
  std::thread inserted([&] {
    for (uint64_t i = 0; i < loop.size(); ++i) {
      if (producer.Line().rfind("INSERTED", 0) != 0) ++errors;
    }
  });
  loop.Run([&](uint64_t i) {
    std::string body = std::to_string(i);
    body.resize(std::max(size, body.size()), 'x');
    producer.Send("put 0 0 60 " + std::to_string(body.size()) + "\r\n" + body +
                  "\r\n");
  });
  inserted.join();
  consumer.join();
  loop.Report("latency", rate, errors.load());
  return errors.load() == 0 ? 0 : 1;
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
  auto* latency = app.add_subcommand(
      "latency",
      "open loop at a fixed rate: puts on one connection, reserve and delete "
      "on another; each job timed from its due time to its delete answered");
  double rate = 5000, duration = 5;
  latency->add_option("--rate", rate);
  latency->add_option("--duration", duration);
  CLI11_PARSE(app, argc, argv);
  const std::string command = PutCommand(size);
  if (latency->parsed()) return Latency(port, rate, duration, size);

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
