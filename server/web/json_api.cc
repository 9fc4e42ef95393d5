#include "web/json_api.h"

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/requests.h"
#include "web/json_text.h"

namespace jobq::web {
namespace {

using Request = http::HttpServer::Request;
using Response = http::HttpServer::Response;

// How long an HTTP thread waits for the core's answer.
constexpr std::chrono::seconds kCoreDeadline(5);

// Calls a CoreApi method and waits for its answer on this HTTP thread.
template <typename T, typename Call>
absl::StatusOr<T> Await(Call call) {
  auto answer = std::make_shared<std::promise<absl::StatusOr<T>>>();
  std::future<absl::StatusOr<T>> future = answer->get_future();
  call([answer](absl::StatusOr<T> r) { answer->set_value(std::move(r)); });
  if (future.wait_for(kCoreDeadline) != std::future_status::ready) {
    return absl::DeadlineExceededError("jobqd's core did not answer in time");
  }
  return future.get();
}

void Reply(const absl::Status& s, Response* res) {
  res->status = HttpStatus(s.code());
  res->content_type = "application/json";
  res->body = ErrorJson(s);
  if (s.code() == absl::StatusCode::kUnauthenticated) {
    res->headers.emplace_back("WWW-Authenticate", "Bearer");
  }
}

void Reply(const google::protobuf::Message& m, Response* res) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  std::string out;
  if (auto s = google::protobuf::util::MessageToJsonString(m, &out, opts);
      !s.ok()) {
    Reply(absl::InternalError(std::string(s.message())), res);
    return;
  }
  res->status = 200;
  res->content_type = "application/json";
  res->body = std::move(out);
}

template <typename T>
void Reply(const absl::StatusOr<T>& r, Response* res) {
  if (r.ok()) {
    Reply(*r, res);
  } else {
    Reply(r.status(), res);
  }
}

// The request as the handlers see it: the caller and the path's parts
// after /api/v1/.
struct Call {
  const Request& req;
  std::vector<std::string> parts;
};

}  // namespace

int HttpStatus(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string ErrorJson(const absl::Status& status) {
  std::string out = "{\"error\":{\"code\":";
  AppendJsonString(absl::StatusCodeToString(status.code()), &out);
  out.append(",\"message\":");
  AppendJsonString(status.message(), &out);
  // jobq's errors start with the field they are about: "queue: ...".
  absl::string_view message = status.message();
  size_t colon = message.find(": ");
  if (colon != absl::string_view::npos && colon > 0) {
    absl::string_view field = message.substr(0, colon);
    bool is_field = true;
    for (char c : field) {
      if (!(absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '[' ||
            c == ']')) {
        is_field = false;
      }
    }
    if (is_field) {
      out.append(",\"field\":");
      AppendJsonString(field, &out);
    }
  }
  out.append("}}");
  return out;
}

void JsonApi::Serve(const Request& req, Response* res) const {
  std::vector<std::string> parts = absl::StrSplit(
      absl::string_view(req.path).substr(sizeof("/api/v1/") - 1), '/');
  auth::Authorizer& auth = *deps_.auth;
  std::optional<absl::string_view> header;
  if (req.authorization) header = *req.authorization;
  const bool get = req.method == "GET";
  const size_t n = parts.size();
  auto is = [&](size_t i, absl::string_view s) { return i < n && parts[i] == s; };

  if (get && n == 1 && is(0, "whoami")) {
    // Tells the page what to show: the token form, action buttons.
    std::string out = "{\"auth_required\":";
    absl::StrAppend(&out, auth.enabled() ? "true" : "false");
    auto caller = auth.AuthenticateHeader(
        header, auth::kRead | auth::kAdmin | auth::kSubmit | auth::kWorker);
    if (!auth.enabled()) {
      out.append(",\"authenticated\":true,\"name\":\"anonymous\","
                 "\"read\":true,\"admin\":true,\"submit\":true");
    } else if (!caller.ok()) {
      out.append(",\"authenticated\":false,\"message\":");
      AppendJsonString(header ? caller.status().message() : "no token", &out);
    } else {
      const auth::Token& t = *caller->token;
      out.append(",\"authenticated\":true,\"name\":");
      AppendJsonString(t.name, &out);
      absl::StrAppend(&out, ",\"read\":", t.Has(auth::kRead) || t.Has(auth::kAdmin) ? "true" : "false",
                      ",\"admin\":", t.Has(auth::kAdmin) ? "true" : "false",
                      ",\"submit\":", t.Has(auth::kSubmit) ? "true" : "false");
    }
    out.append("}");
    res->content_type = "application/json";
    res->body = std::move(out);
    return;
  }

  // Every other route: who asks, then whether the core takes requests.
  uint8_t roles = auth::kRead | auth::kAdmin;
  if (!get) {
    roles = is(0, "jobs") ? auth::kSubmit | auth::kAdmin : auth::kAdmin;
  }
  auto caller = auth.AuthenticateHeader(header, roles);
  if (!caller.ok()) return Reply(caller.status(), res);
  if (absl::Status s = api::RefusalStatus(*deps_.ctx); !s.ok()) {
    return Reply(s, res);
  }
  engine::CoreApi* core = deps_.core;
  auto visible = [&caller](const std::string& q) {
    return caller->MayUseQueue(q);
  };

  if (get && n == 1 && is(0, "stats")) {
    auto stats = Await<v1::GetStatsResponse>(
        [core](auto done) { core->GetStats(std::move(done)); });
    if (!stats.ok()) return Reply(stats.status(), res);
    v1::GetStatsResponse& s = *stats;
    s.set_version(deps_.ctx->version);
    s.set_workers(deps_.ctx->workers);
    s.set_auth_required(auth.enabled());
    if (caller->token == nullptr || caller->token->Has(auth::kAdmin)) {
      for (const std::string& w : deps_.ctx->warnings) s.add_warnings(w);
    }
    if (!caller->AllQueues()) {
      auto* queues = s.mutable_queues();
      queues->erase(std::remove_if(queues->begin(), queues->end(),
                                   [&](const v1::QueueStats& q) {
                                     return !visible(q.name());
                                   }),
                    queues->end());
    }
    return Reply(s, res);
  }
  if (get && n == 1 && is(0, "queues")) {
    auto list = Await<v1::ListQueuesResponse>(
        [core](auto done) { core->ListQueues(std::move(done)); });
    if (list.ok() && !caller->AllQueues()) {
      auto* queues = list->mutable_queues();
      queues->erase(std::remove_if(queues->begin(), queues->end(),
                                   [&](const v1::QueueStats& q) {
                                     return !visible(q.name());
                                   }),
                    queues->end());
    }
    return Reply(list, res);
  }
  if (get && n == 1 && is(0, "samples")) {
    res->content_type = "application/json";
    res->body = deps_.samples->Json(visible);
    return;
  }
  if (get && n == 1 && is(0, "workers")) {
    if (absl::Status s = auth.CheckAllQueues(*caller, "workers"); !s.ok()) {
      return Reply(s, res);
    }
    return Reply(Await<v1::ListWorkersResponse>([core](auto done) {
                   core->ListWorkers(std::move(done));
                 }),
                 res);
  }
  if (get && n == 3 && is(0, "queues") && is(2, "jobs")) {
    v1::ListJobsRequest request;
    request.set_queue(parts[1]);
    auto param = [&req](const char* name) -> const std::string* {
      auto it = req.query.find(name);
      return it == req.query.end() || it->second.empty() ? nullptr
                                                         : &it->second;
    };
    if (const std::string* state = param("state")) {
      v1::JobState parsed;
      // "READY" or the enum's own name, "JOB_STATE_READY".
      if (!v1::JobState_Parse(*state, &parsed) &&
          !v1::JobState_Parse(absl::StrCat("JOB_STATE_", *state), &parsed)) {
        return Reply(absl::InvalidArgumentError(absl::StrCat(
                         "state: ", api::Quoted(*state),
                         " is not a JobState (READY, RUNNING, DEAD, ...)")),
                     res);
      }
      request.set_state(parsed);
    }
    if (const std::string* label = param("label")) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(*label, absl::MaxSplits('=', 1));
      (*request.mutable_labels())[kv.first] = kv.second;
    }
    if (const std::string* token = param("page_token")) {
      request.set_page_token(*token);
    }
    if (const std::string* size = param("page_size")) {
      int page_size = 0;
      if (!absl::SimpleAtoi(*size, &page_size)) {
        return Reply(absl::InvalidArgumentError(absl::StrCat(
                         "page_size: ", api::Quoted(*size), " is not a number")),
                     res);
      }
      request.set_page_size(page_size);
    }
    auto query = api::MakeListQuery(auth, *caller, request);
    if (!query.ok()) return Reply(query.status(), res);
    return Reply(Await<v1::ListJobsResponse>(
                     [core, q = *std::move(query)](auto done) mutable {
                       core->ListJobs(std::move(q), std::move(done));
                     }),
                 res);
  }
  if (n >= 2 && is(0, "jobs") && (get ? n == 2 : n == 3)) {
    auto seq = api::ParseJobIdField(parts[1], "job_id");
    if (!seq.ok()) return Reply(seq.status(), res);
    engine::QueueCheck check = api::JobCheck(&auth, *caller);
    if (get) {
      return Reply(Await<v1::Job>([&](auto done) {
                     core->GetJob(*seq, check, std::move(done));
                   }),
                   res);
    }
    if (is(2, "cancel")) {
      return Reply(Await<v1::Job>([&](auto done) {
                     core->CancelJob(*seq, check, std::move(done));
                   }),
                   res);
    }
    // POST /api/v1/jobs/{id}/retry belongs here once JobService.RetryJob
    // has its core command (CoreApi::RetryJob): the same check, then that
    // command. Until then it is 404, and the page shows no retry button.
  }
  if (!get && n == 3 && is(0, "queues")) {
    const std::string& queue = parts[1];
    if (absl::Status s = api::CheckQueueCommand(auth, *caller, queue);
        !s.ok()) {
      return Reply(s, res);
    }
    if (is(2, "pause") || is(2, "resume")) {
      bool paused = is(2, "pause");
      return Reply(Await<v1::QueueStats>([&](auto done) {
                     core->PauseQueue(queue, paused, std::move(done));
                   }),
                   res);
    }
    if (is(2, "limits")) {
      v1::SetQueueLimitsRequest request;
      google::protobuf::util::JsonParseOptions opts;
      if (auto s = google::protobuf::util::JsonStringToMessage(
              req.body.empty() ? "{}" : req.body, &request, opts);
          !s.ok()) {
        return Reply(absl::InvalidArgumentError(absl::StrCat(
                         "body: not SetQueueLimits' JSON: ", s.message().ToString())),
                     res);
      }
      request.set_queue(queue);
      if (absl::Status s = api::CheckQueueLimits(request); !s.ok()) {
        return Reply(s, res);
      }
      std::optional<int64_t> queued;
      if (request.has_max_queued()) queued = request.max_queued();
      return Reply(Await<v1::QueueStats>([&](auto done) {
                     core->SetQueueLimits(queue, request.max_concurrency(),
                                          queued, std::move(done));
                   }),
                   res);
    }
    // POST /api/v1/queues/{q}/retry-dead and /purge belong here once
    // AdminService's RetryDead and PurgeQueue have their core commands.
  }
  Reply(absl::NotFoundError(absl::StrCat("path: no ", req.method, " ",
                                         api::Quoted(req.path))),
        res);
}

}  // namespace jobq::web
