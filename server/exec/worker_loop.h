#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/channel.h"
#include "config/config.h"
#include "core/scheduler.h"
#include "exec/spawn.h"

namespace jobq::exec {

// Receives finished runs, in batches. Called on a worker loop thread; must
// be thread-safe and must not block (it posts to the core).
using ResultSink = std::function<void(std::vector<core::RunResult>&&)>;

// The commands the operator configured, by kind. Immutable once the daemon
// starts, so every thread may read it.
using CommandTable = std::map<std::string, config::CommandConfig>;

// One libuv event loop on its own thread that runs jobs: `noop` completes at
// once, `sleep` waits on a uv timer, a command kind runs its program with
// uv_spawn in a process group of its own (payload on stdin, stdout as the
// result, exit 0 for success), with a clean environment, under its
// resource limits, and as an unprivileged user when jobqd runs as root. A
// timeout or a cancel kills the process group. Thousands of jobs run at once
// without a thread each.
//
// Results are gathered during a loop iteration and handed to the sink once
// per iteration.
// Thread: the public methods may be called from any thread; everything
// else runs on the loop's own thread.
class WorkerLoop {
 public:
  // `hops`, when given, times the hand-over of jobs to this loop and each
  // run (Hop::kDispatch, Hop::kRun).
  WorkerLoop(int index, const CommandTable* commands, ResultSink sink,
             SpawnOptions spawn = {}, LatencyHops* hops = nullptr);
  ~WorkerLoop();
  WorkerLoop(const WorkerLoop&) = delete;
  WorkerLoop& operator=(const WorkerLoop&) = delete;

  void Start();
  void Run(std::vector<core::Assignment>&& jobs);
  // Stops the run of (seq, attempt) if it is still going; no result is
  // reported for it.
  void Cancel(uint64_t seq, int32_t attempt);
  // Kills what still runs (without reporting), closes every handle and
  // joins the thread.
  void Stop();

 private:
  struct Running;
  struct Message {
    enum Type { kRun, kCancel, kStop } type = kRun;
    core::Assignment job;
  };

  void OnMessages(std::vector<Message>& batch);
  void StartJob(core::Assignment&& job);
  void StartCommand(Running* r, const config::CommandConfig& cmd,
                    const std::string& payload,
                    const std::vector<core::ParentLink>& parents);
  void Report(Running* r, bool success, std::string error, int exit_code);
  void MaybeFinishCommand(Running* r);
  void CloseRunning(Running* r);
  void KillGroup(Running* r);
  void FlushResults();
  void StopAll();

  static void OnTimer(uv_timer_t* t);
  static void OnExit(uv_process_t* p, int64_t status, int signal);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void OnWritten(uv_write_t* w, int status);
  static void OnHandleClosed(uv_handle_t* h);

  const int index_;
  const CommandTable* const commands_;
  ResultSink sink_;
  const SpawnOptions spawn_;
  LatencyHops* const hops_;
  uv_loop_t loop_;
  std::unique_ptr<Channel<Message>> inbox_;
  uv_prepare_t prepare_;
  uv_check_t check_;
  std::thread thread_;
  bool stopping_ = false;  // Loop thread.
  bool stopped_ = false;   // Caller of Stop().
  absl::flat_hash_map<uint64_t, Running*> running_;
  std::vector<core::RunResult> results_;
  char read_buf_[64 * 1024];
};

}  // namespace jobq::exec
