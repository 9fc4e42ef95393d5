#pragma once

// How jobqctl reports: errors on stderr, each with its exit code, and
// jobqd's answers on stdout as tables, blocks of fields, or one line of
// JSON for scripts. Thread: jobqctl's main thread (stdio).

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "jobq/v1/jobq.pb.h"

namespace jobq::ctl {

// Prints "jobqctl: CODE: message" on stderr; returns 1, the exit code of
// a failure.
int Fail(const absl::Status& s);
// Prints "jobqctl: message" on stderr; returns 2, the exit code of a
// usage error.
int Usage(const std::string& message);

// `m` as one line of JSON, with the proto's field names and every field.
std::string Json(const google::protobuf::Message& m);
// "2026-01-02T03:04:05.678Z" in UTC; "-" for the zero timestamp.
std::string FormatTime(const google::protobuf::Timestamp& t);
// "1.5ms", truncated to the microsecond.
std::string FormatDuration(const google::protobuf::Duration& d);

// Prints `m` as one line of JSON when `json`, else as `print` lays it out.
template <typename Message>
void Show(const Message& m, bool json, void (*print)(const Message&)) {
  if (json) {
    std::printf("%s\n", Json(m).c_str());
  } else {
    print(m);
  }
}

// One event a line (JSON, or time, id, state, attempt and what else it
// carries) on `out`, flushed so that a pipe sees it at once.
void PrintEvent(const v1::JobEvent& e, bool json, FILE* out);
// A job as "name: value" lines.
void PrintJob(const v1::Job& j);
// A page of jobs as a table, then the token of the next page if any.
void PrintJobPage(const v1::ListJobsResponse& r);
// Queues as a table, one a row.
void PrintQueueTable(
    const google::protobuf::RepeatedPtrField<v1::QueueStats>& qs);
// A single queue as that table.
void PrintQueue(const v1::QueueStats& q);
void PrintQueues(const v1::ListQueuesResponse& r);
// The server, its log, its queues and its remote kinds.
void PrintStats(const v1::GetStatsResponse& s);
void PrintWorkers(const v1::ListWorkersResponse& r);

}  // namespace jobq::ctl
