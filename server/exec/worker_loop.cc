#include "exec/worker_loop.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/builtin_kinds.h"
#include "exec/parents_dir.h"

namespace jobq::exec {

namespace {
constexpr size_t kStderrTail = 2048;
}

// One job on this loop. Freed when its last handle has closed.
struct WorkerLoop::Running {
  WorkerLoop* loop = nullptr;
  uint64_t seq = 0;
  int32_t attempt = 0;
  bool reported = false;   // A result was produced (or suppressed).
  bool cancelled = false;  // No result is to be reported.
  bool timed_out = false;
  DurationUs timeout = 0;
  int open_handles = 0;
  int64_t started_us = 0;  // HopNowUs(), when timed.

  uv_timer_t timer;  // The sleep, or the timeout of a command.
  bool has_timer = false;

  // Commands only.
  const config::CommandConfig* cmd = nullptr;
  bool spawned = false;
  uv_process_t proc;
  uv_pipe_t in, out, err;
  uv_write_t write_req;
  std::string input;
  std::string stdout_buf;
  std::string stderr_buf;
  bool truncated = false;
  bool exited = false;
  bool out_done = false;
  bool err_done = false;
  int64_t exit_status = 0;
  int term_signal = 0;
  // JOBQ_PARENTS_DIR, removed with the run.
  std::string parents_dir;

  ~Running() {
    if (!parents_dir.empty()) RemoveParentsDir(parents_dir);
  }
};

WorkerLoop::WorkerLoop(int index, const CommandTable* commands, ResultSink sink,
                       SpawnOptions spawn, LatencyHops* hops)
    : index_(index),
      commands_(commands),
      sink_(std::move(sink)),
      spawn_(std::move(spawn)),
      hops_(hops) {
  uv_loop_init(&loop_);
  inbox_ = std::make_unique<Channel<Message>>(
      &loop_, [this](std::vector<Message>& batch) { OnMessages(batch); }, hops_,
      Hop::kDispatch);
  // Results of one iteration are handed over together: prepare runs after
  // timers fire, check after I/O callbacks.
  uv_prepare_init(&loop_, &prepare_);
  uv_check_init(&loop_, &check_);
  prepare_.data = this;
  check_.data = this;
  uv_prepare_start(&prepare_, [](uv_prepare_t* p) {
    static_cast<WorkerLoop*>(p->data)->FlushResults();
  });
  uv_check_start(&check_, [](uv_check_t* c) {
    static_cast<WorkerLoop*>(c->data)->FlushResults();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
  uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
}

WorkerLoop::~WorkerLoop() {
  Stop();
  uv_loop_close(&loop_);
}

void WorkerLoop::Start() {
  thread_ = std::thread([this] {
    std::string name = absl::StrCat("jobq-worker-", index_);
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    uv_run(&loop_, UV_RUN_DEFAULT);
  });
}

void WorkerLoop::Run(std::vector<core::Assignment>&& jobs) {
  std::vector<Message> batch;
  batch.reserve(jobs.size());
  for (auto& j : jobs) batch.push_back(Message{Message::kRun, std::move(j)});
  inbox_->PostMany(std::move(batch));
}

void WorkerLoop::Cancel(uint64_t seq, int32_t attempt) {
  Message m{Message::kCancel, {}};
  m.job.seq = seq;
  m.job.attempt = attempt;
  inbox_->Post(std::move(m));
}

void WorkerLoop::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    inbox_->Post(Message{Message::kStop, {}});
    thread_.join();
  } else {
    // Never started: close the handles here.
    StopAll();
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
}

void WorkerLoop::OnMessages(std::vector<Message>& batch) {
  for (auto& m : batch) {
    switch (m.type) {
      case Message::kRun:
        if (!stopping_) StartJob(std::move(m.job));
        break;
      case Message::kCancel: {
        auto it = running_.find(m.job.seq);
        if (it == running_.end() || it->second->attempt != m.job.attempt) {
          break;
        }
        Running* r = it->second;
        r->cancelled = true;
        r->reported = true;
        if (r->cmd != nullptr && r->spawned) {
          KillGroup(r);  // Closing waits for the exit.
        } else {
          CloseRunning(r);
        }
        break;
      }
      case Message::kStop:
        StopAll();
        break;
    }
  }
  FlushResults();
}

void WorkerLoop::StartJob(core::Assignment&& job) {
  auto* r = new Running;
  r->loop = this;
  r->seq = job.seq;
  r->attempt = job.attempt;
  r->timeout = job.timeout;
  if (hops_ != nullptr) r->started_us = HopNowUs();
  auto [it, inserted] = running_.emplace(job.seq, r);
  if (!inserted) {
    // The core never runs a job twice at once; a stale run is replaced.
    spdlog::error("worker {}: job {} started while running", index_,
                  core::FormatJobId(job.seq));
    delete r;
    return;
  }
  if (job.kind == "noop") {
    Report(r, true, "", 0);
    CloseRunning(r);
    return;
  }
  DurationUs sleep = 0;
  bool is_sleep = job.kind == "sleep";
  if (is_sleep && !core::ParseSleepPayload(job.payload, &sleep)) {
    Report(r, false, "payload: not a duration", 0);
    CloseRunning(r);
    return;
  }
  auto cmd = commands_->find(job.kind);
  if (!is_sleep && cmd == commands_->end()) {
    Report(r, false, absl::StrCat("no handler for kind \"", job.kind, "\""), 0);
    CloseRunning(r);
    return;
  }
  if (!is_sleep && r->timeout == 0) r->timeout = cmd->second.timeout;

  // One timer serves a sleep's end or a command's timeout.
  DurationUs wait = is_sleep ? sleep : r->timeout;
  if (is_sleep && r->timeout > 0 && r->timeout < sleep) {
    wait = r->timeout;
    r->timed_out = true;  // When the timer fires, it is the timeout.
  }
  if (is_sleep || r->timeout > 0) {
    uv_timer_init(&loop_, &r->timer);
    r->timer.data = r;
    r->has_timer = true;
    ++r->open_handles;
    uv_timer_start(&r->timer, &WorkerLoop::OnTimer,
                   static_cast<uint64_t>((wait + 999) / 1000), 0);
  }
  if (!is_sleep) {
    static const std::vector<core::ParentLink> kNone;
    StartCommand(r, cmd->second, job.payload,
                 job.parents != nullptr ? *job.parents : kNone);
  }
}

void WorkerLoop::StartCommand(Running* r, const config::CommandConfig& cmd,
                              const std::string& payload,
                              const std::vector<core::ParentLink>& parents) {
  if (!parents.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    auto dir = WriteParentsDir(parents, tmp != nullptr && *tmp ? tmp : "/tmp",
                               spawn_.uid, spawn_.gid);
    if (!dir.ok()) {
      Report(r, false,
             absl::StrCat("cannot hand over the parents' results: ",
                          dir.status().message()),
             -1);
      CloseRunning(r);
      return;
    }
    r->parents_dir = *std::move(dir);
  }
  r->cmd = &cmd;
  uv_pipe_init(&loop_, &r->in, 0);
  uv_pipe_init(&loop_, &r->out, 0);
  uv_pipe_init(&loop_, &r->err, 0);
  r->in.data = r->out.data = r->err.data = r;
  r->open_handles += 3;

  // With limits, jobqd itself sets them in the child, then executes the
  // program.
  std::vector<std::string> limited;
  if (cmd.limits.any()) {
    limited = LimitedArgv(spawn_.limiter, cmd.limits, cmd.argv);
  }
  const std::vector<std::string>& args = cmd.limits.any() ? limited : cmd.argv;
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = {
      "PATH=/usr/local/bin:/usr/bin:/bin",
      absl::StrCat("JOBQ_JOB_ID=", core::FormatJobId(r->seq)),
      absl::StrCat("JOBQ_ATTEMPT=", r->attempt)};
  if (!r->parents_dir.empty()) {
    env_strings.push_back(absl::StrCat("JOBQ_PARENTS_DIR=", r->parents_dir));
  }
  for (const auto& [k, v] : cmd.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> env;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);

  uv_stdio_container_t stdio[3];
  stdio[0].flags =
      static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = reinterpret_cast<uv_stream_t*>(&r->in);
  stdio[1].flags =
      static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&r->out);
  stdio[2].flags =
      static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&r->err);

  uv_process_options_t opts{};
  opts.file = argv[0];
  opts.args = argv.data();
  opts.env = env.data();
  opts.cwd = cmd.cwd.empty() ? nullptr : cmd.cwd.c_str();
  opts.stdio_count = 3;
  opts.stdio = stdio;
  opts.exit_cb = &WorkerLoop::OnExit;
  // A session of its own makes the child a process-group leader, so that a
  // timeout or cancel can kill everything it started.
  opts.flags = UV_PROCESS_DETACHED;
  if (spawn_.uid) {
    opts.flags |= UV_PROCESS_SETUID;
    opts.uid = *spawn_.uid;
  }
  if (spawn_.gid) {
    opts.flags |= UV_PROCESS_SETGID;
    opts.gid = *spawn_.gid;
  }
  r->proc.data = r;
  int rc = uv_spawn(&loop_, &r->proc, &opts);
  if (rc != 0) {
    Report(r, false,
           absl::StrCat("cannot start ", cmd.argv[0], ": ", uv_strerror(rc)),
           -1);
    // A failed uv_spawn still initialised the handle; it must be closed,
    // as must the pipes.
    ++r->open_handles;
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&r->proc),
                           reinterpret_cast<uv_handle_t*>(&r->in),
                           reinterpret_cast<uv_handle_t*>(&r->out),
                           reinterpret_cast<uv_handle_t*>(&r->err)}) {
      uv_close(h, &OnHandleClosed);
    }
    CloseRunning(r);
    return;
  }
  r->spawned = true;
  ++r->open_handles;

  uv_read_start(reinterpret_cast<uv_stream_t*>(&r->out), &WorkerLoop::OnAlloc,
                &WorkerLoop::OnRead);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&r->err), &WorkerLoop::OnAlloc,
                &WorkerLoop::OnRead);
  if (payload.empty()) {
    uv_close(reinterpret_cast<uv_handle_t*>(&r->in), &OnHandleClosed);
  } else {
    r->input = payload;
    uv_buf_t buf =
        uv_buf_init(r->input.data(), static_cast<unsigned>(r->input.size()));
    r->write_req.data = r;
    uv_write(&r->write_req, reinterpret_cast<uv_stream_t*>(&r->in), &buf, 1,
             &WorkerLoop::OnWritten);
  }
}

void WorkerLoop::OnWritten(uv_write_t* w, int status) {
  // EPIPE when the program does not read its input: not an error of ours.
  auto* r = static_cast<Running*>(w->data);
  uv_close(reinterpret_cast<uv_handle_t*>(&r->in), &OnHandleClosed);
}

void WorkerLoop::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* r = static_cast<Running*>(h->data);
  *buf = uv_buf_init(r->loop->read_buf_, sizeof(r->loop->read_buf_));
}

void WorkerLoop::OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* r = static_cast<Running*>(s->data);
  bool is_out = s == reinterpret_cast<uv_stream_t*>(&r->out);
  if (n > 0) {
    if (is_out) {
      size_t room = r->cmd->max_output -
                    std::min(r->cmd->max_output, r->stdout_buf.size());
      size_t take = std::min(room, static_cast<size_t>(n));
      r->stdout_buf.append(buf->base, take);
      if (take < static_cast<size_t>(n)) r->truncated = true;
    } else {
      r->stderr_buf.append(buf->base, static_cast<size_t>(n));
      if (r->stderr_buf.size() > 2 * kStderrTail) {
        r->stderr_buf.erase(0, r->stderr_buf.size() - kStderrTail);
      }
    }
    return;
  }
  if (n == 0) return;  // EAGAIN.
  // EOF or an error: this pipe is done.
  uv_close(reinterpret_cast<uv_handle_t*>(s), &OnHandleClosed);
  (is_out ? r->out_done : r->err_done) = true;
  r->loop->MaybeFinishCommand(r);
}

void WorkerLoop::OnExit(uv_process_t* p, int64_t status, int signal) {
  auto* r = static_cast<Running*>(p->data);
  r->exited = true;
  r->exit_status = status;
  r->term_signal = signal;
  // Whatever the program left behind in its group goes with it.
  r->loop->KillGroup(r);
  uv_close(reinterpret_cast<uv_handle_t*>(p), &OnHandleClosed);
  r->loop->MaybeFinishCommand(r);
}

void WorkerLoop::OnTimer(uv_timer_t* t) {
  auto* r = static_cast<Running*>(t->data);
  WorkerLoop* self = r->loop;
  if (r->cmd == nullptr) {
    // A sleep: it ended, or its timeout came first.
    if (r->timed_out) {
      self->Report(
          r, false,
          absl::StrCat("timed out after ",
                       absl::FormatDuration(absl::Microseconds(r->timeout))),
          0);
    } else {
      self->Report(r, true, "", 0);
    }
    self->CloseRunning(r);
    return;
  }
  r->timed_out = true;
  self->KillGroup(r);
}

void WorkerLoop::KillGroup(Running* r) {
  if (!r->spawned) return;
  // ESRCH when the group is already gone.
  uv_kill(-r->proc.pid, SIGKILL);
}

void WorkerLoop::MaybeFinishCommand(Running* r) {
  if (!r->exited || !r->out_done || !r->err_done) return;
  // Gone before the result is: nothing of the run outlives it.
  if (!r->parents_dir.empty()) {
    RemoveParentsDir(r->parents_dir);
    r->parents_dir.clear();
  }
  if (!r->reported) {
    if (r->timed_out) {
      Report(r, false,
             absl::StrCat("timed out after ",
                          absl::FormatDuration(absl::Microseconds(r->timeout)),
                          "; process group killed"),
             -1);
    } else if (r->term_signal != 0) {
      Report(r, false, absl::StrCat("killed by signal ", r->term_signal), -1);
    } else if (r->exit_status != 0) {
      std::string tail =
          r->stderr_buf.size() > kStderrTail
              ? r->stderr_buf.substr(r->stderr_buf.size() - kStderrTail)
              : r->stderr_buf;
      while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) {
        tail.pop_back();
      }
      Report(r, false,
             absl::StrCat("exit status ", r->exit_status,
                          tail.empty() ? "" : ": ", tail),
             static_cast<int32_t>(r->exit_status));
    } else {
      Report(r, true, r->truncated ? "output truncated" : "", 0);
    }
  }
  CloseRunning(r);
}

void WorkerLoop::Report(Running* r, bool success, std::string error,
                        int exit_code) {
  if (r->reported) return;
  r->reported = true;
  if (hops_ != nullptr) hops_->Since(Hop::kRun, r->started_us);
  core::RunResult res;
  res.seq = r->seq;
  res.attempt = r->attempt;
  res.success = success;
  res.error = std::move(error);
  res.exit_code = exit_code;
  if (r->cmd != nullptr) res.result = std::move(r->stdout_buf);
  results_.push_back(std::move(res));
}

// Forgets the job and closes what it still holds. Commands close their own
// pipes and process handle as they end; here only the timer is closed.
void WorkerLoop::CloseRunning(Running* r) {
  auto it = running_.find(r->seq);
  if (it != running_.end() && it->second == r) running_.erase(it);
  if (r->has_timer) {
    r->has_timer = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&r->timer), &OnHandleClosed);
    return;
  }
  if (r->open_handles == 0) delete r;
}

void WorkerLoop::OnHandleClosed(uv_handle_t* h) {
  auto* r = static_cast<Running*>(h->data);
  if (--r->open_handles == 0) delete r;
}

void WorkerLoop::FlushResults() {
  if (results_.empty()) return;
  std::vector<core::RunResult> out;
  out.swap(results_);
  sink_(std::move(out));
}

void WorkerLoop::StopAll() {
  stopping_ = true;
  std::vector<Running*> all;
  for (auto& [seq, r] : running_) all.push_back(r);
  for (Running* r : all) {
    r->cancelled = true;
    r->reported = true;
    if (r->cmd != nullptr && r->spawned) {
      KillGroup(r);  // Its exit closes it.
    } else {
      CloseRunning(r);
    }
  }
  inbox_->Close();
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
}

}  // namespace jobq::exec
