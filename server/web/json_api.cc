#include "web/json_api.h"

#include <google/protobuf/struct.pb.h>
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

// A JobState by its name: "READY" or the enum's own, "JOB_STATE_READY".
bool ParseStateName(const std::string& name, v1::JobState* state) {
  return v1::JobState_Parse(name, state) ||
         v1::JobState_Parse(absl::StrCat("JOB_STATE_", name), state);
}

// The request's JSON body (empty: {}) into `message`, or 400 naming the
// body and whose JSON (`whose`) it should have been.
bool ParseBody(const Request& req, google::protobuf::Message* message,
               absl::string_view whose, Response* res) {
  auto s = google::protobuf::util::JsonStringToMessage(
      req.body.empty() ? "{}" : req.body, message);
  if (s.ok()) return true;
  Reply(absl::InvalidArgumentError(absl::StrCat(
            "body: not ", whose, " JSON: ", s.message().ToString())),
        res);
  return false;
}

void NotFound(const Request& req, Response* res) {
  Reply(absl::NotFoundError(
            absl::StrCat("path: no ", req.method, " ", api::Quoted(req.path))),
        res);
}

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

namespace {

// One request past authentication: its path's parts after /api/v1/, and
// who asks.
struct Route {
  const Request& req;
  const std::vector<std::string>& parts;
  const JsonApi::Deps& deps;
  const auth::Caller& caller;
  Response* res;

  bool is(size_t i, absl::string_view s) const {
    return i < parts.size() && parts[i] == s;
  }
  bool visible(const std::string& queue) const {
    return caller.MayUseQueue(queue);
  }
};

// Tells the page what to show: the token form, the action buttons.
void WhoAmI(const JsonApi::Deps& deps, std::optional<absl::string_view> header,
            Response* res) {
  auth::Authorizer& auth = *deps.auth;
  std::string out = "{\"auth_required\":";
  absl::StrAppend(&out, auth.enabled() ? "true" : "false");
  if (!auth.enabled()) {
    out.append(
        ",\"authenticated\":true,\"name\":\"anonymous\","
        "\"read\":true,\"admin\":true,\"submit\":true");
  } else if (!header) {
    out.append(",\"authenticated\":false,\"message\":\"no token\"");
  } else {
    auto caller = auth.AuthenticateHeader(
        header, auth::kRead | auth::kAdmin | auth::kSubmit | auth::kWorker);
    if (!caller.ok()) {
      out.append(",\"authenticated\":false,\"message\":");
      AppendJsonString(caller.status().message(), &out);
    } else {
      const auth::Token& t = *caller->token;
      auto flag = [](bool b) { return b ? "true" : "false"; };
      out.append(",\"authenticated\":true,\"name\":");
      AppendJsonString(t.name, &out);
      absl::StrAppend(
          &out, ",\"read\":", flag(t.Has(auth::kRead) || t.Has(auth::kAdmin)),
          ",\"admin\":", flag(t.Has(auth::kAdmin)),
          ",\"submit\":", flag(t.Has(auth::kSubmit)));
    }
  }
  out.append("}");
  res->content_type = "application/json";
  res->body = std::move(out);
}

// Keeps the queues `r` may see.
void KeepVisible(const Route& r,
                 google::protobuf::RepeatedPtrField<v1::QueueStats>* queues) {
  if (r.caller.AllQueues()) return;
  queues->erase(std::remove_if(queues->begin(), queues->end(),
                               [&](const v1::QueueStats& q) {
                                 return !r.visible(q.name());
                               }),
                queues->end());
}

// GET stats: GetStats, as AdminService answers it. A token limited to some
// queues gets those queues, totals over them only, and no kinds.
void Stats(const Route& r) {
  engine::CoreApi* core = r.deps.core;
  auto stats = Await<v1::GetStatsResponse>(
      [core](auto done) { core->GetStats(std::move(done)); });
  if (!stats.ok()) return Reply(stats.status(), r.res);
  v1::GetStatsResponse& s = *stats;
  s.set_version(r.deps.ctx->version);
  s.set_workers(r.deps.ctx->workers);
  s.set_auth_required(r.deps.auth->enabled());
  if (r.caller.token == nullptr || r.caller.token->Has(auth::kAdmin)) {
    for (const std::string& w : r.deps.ctx->warnings) s.add_warnings(w);
  }
  if (!r.caller.AllQueues()) {
    KeepVisible(r, s.mutable_queues());
    s.clear_kinds();
    v1::QueueStats* t = s.mutable_total();
    t->Clear();
    for (const v1::QueueStats& q : s.queues()) {
      t->set_waiting(t->waiting() + q.waiting());
      t->set_scheduled(t->scheduled() + q.scheduled());
      t->set_ready(t->ready() + q.ready());
      t->set_running(t->running() + q.running());
      t->set_succeeded(t->succeeded() + q.succeeded());
      t->set_dead(t->dead() + q.dead());
      t->set_cancelled(t->cancelled() + q.cancelled());
      t->set_submitted_total(t->submitted_total() + q.submitted_total());
      t->set_completed_total(t->completed_total() + q.completed_total());
      t->set_submit_rate(t->submit_rate() + q.submit_rate());
      t->set_complete_rate(t->complete_rate() + q.complete_rate());
    }
  }
  Reply(s, r.res);
}

// GET queues/{q}/jobs?state=&label=k=v&page_token=&page_size=: ListJobs.
void ListJobs(const Route& r) {
  v1::ListJobsRequest request;
  request.set_queue(r.parts[1]);
  auto param = [&r](const char* name) -> const std::string* {
    auto it = r.req.query.find(name);
    return it == r.req.query.end() || it->second.empty() ? nullptr
                                                         : &it->second;
  };
  if (const std::string* state = param("state")) {
    v1::JobState parsed;
    if (!ParseStateName(*state, &parsed)) {
      return Reply(absl::InvalidArgumentError(absl::StrCat(
                       "state: ", api::Quoted(*state),
                       " is not a JobState (READY, RUNNING, DEAD, ...)")),
                   r.res);
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
                   r.res);
    }
    request.set_page_size(page_size);
  }
  auto query = api::MakeListQuery(*r.deps.auth, r.caller, request);
  if (!query.ok()) return Reply(query.status(), r.res);
  engine::CoreApi* core = r.deps.core;
  absl::StatusOr<core::ListedJobs> page =
      Await<core::ListedJobs>([core, q = *std::move(query)](auto done) mutable {
        core->ListJobs(std::move(q), std::move(done));
      });
  if (!page.ok()) return Reply(page.status(), r.res);
  v1::ListJobsResponse out;
  page->ToProto(&out);
  Reply(out, r.res);
}

// GET jobs/{id}: GetJob. POST jobs/{id}/cancel, /retry, /delete:
// CancelJob, RetryJob, DeleteJob, checked as JobService checks them.
void Job(const Route& r, bool get) {
  auto seq = api::ParseJobIdField(r.parts[1], "job_id");
  if (!seq.ok()) return Reply(seq.status(), r.res);
  engine::QueueCheck check = api::JobCheck(r.deps.auth, r.caller);
  engine::CoreApi* core = r.deps.core;
  if (get) {
    return Reply(Await<v1::Job>([&](auto done) {
                   core->GetJob(*seq, check, std::move(done));
                 }),
                 r.res);
  }
  if (r.is(2, "cancel")) {
    return Reply(Await<v1::Job>([&](auto done) {
                   core->CancelJob(*seq, check, std::move(done));
                 }),
                 r.res);
  }
  if (r.is(2, "retry")) {
    return Reply(Await<v1::Job>([&](auto done) {
                   core->RetryJob(*seq, check, std::move(done));
                 }),
                 r.res);
  }
  if (r.is(2, "delete")) {
    return Reply(Await<v1::DeleteJobResponse>([&](auto done) {
                   core->DeleteJob(*seq, check, std::move(done));
                 }),
                 r.res);
  }
  NotFound(r.req, r.res);
}

// PurgeQueue's body, {"states": ["DEAD", ...]}: each state by its name
// (short or the enum's) or number, then api::MakePurgeStates' checks.
absl::StatusOr<uint32_t> PurgeStates(const std::string& body) {
  google::protobuf::Struct parsed;
  if (auto s = google::protobuf::util::JsonStringToMessage(
          body.empty() ? "{}" : body, &parsed);
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("body: not PurgeQueue's JSON: ", s.message().ToString()));
  }
  google::protobuf::RepeatedField<int> states;
  auto it = parsed.fields().find("states");
  if (it != parsed.fields().end()) {
    if (it->second.kind_case() != google::protobuf::Value::kListValue) {
      return absl::InvalidArgumentError("states: must be a list of states");
    }
    for (const google::protobuf::Value& v : it->second.list_value().values()) {
      v1::JobState state;
      const auto kind = v.kind_case();
      if (kind == google::protobuf::Value::kStringValue &&
          ParseStateName(v.string_value(), &state)) {
        states.Add(state);
      } else if (kind == google::protobuf::Value::kNumberValue) {
        // A number that is no small integer stays invalid (-1).
        double d = v.number_value();
        bool small = d >= 0 && d < 64 && d == static_cast<int>(d);
        states.Add(small ? static_cast<int>(d) : -1);
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("states: ", api::Quoted(v.string_value()),
                         " is not a JobState (READY, RUNNING, DEAD, ...)"));
      }
    }
  }
  return api::MakePurgeStates(states);
}

// POST queues/{q}/pause, /resume, /limits, /retry-dead, /purge: the
// AdminService commands (PauseQueue, ResumeQueue, SetQueueLimits,
// RetryDead, PurgeQueue).
void QueueCommand(const Route& r) {
  const std::string& queue = r.parts[1];
  if (absl::Status s = api::CheckQueueCommand(*r.deps.auth, r.caller, queue);
      !s.ok()) {
    return Reply(s, r.res);
  }
  engine::CoreApi* core = r.deps.core;
  if (r.is(2, "pause") || r.is(2, "resume")) {
    bool paused = r.is(2, "pause");
    return Reply(Await<v1::QueueStats>([&](auto done) {
                   core->PauseQueue(queue, paused, std::move(done));
                 }),
                 r.res);
  }
  if (r.is(2, "limits")) {
    v1::SetQueueLimitsRequest request;
    if (!ParseBody(r.req, &request, "SetQueueLimits'", r.res)) return;
    request.set_queue(queue);
    auto limits = api::MakeQueueLimits(request);
    if (!limits.ok()) return Reply(limits.status(), r.res);
    return Reply(Await<v1::QueueStats>([&](auto done) {
                   core->SetQueueLimits(queue, *limits, std::move(done));
                 }),
                 r.res);
  }
  if (r.is(2, "retry-dead")) {
    v1::RetryDeadRequest request;
    if (!ParseBody(r.req, &request, "RetryDead's", r.res)) return;
    auto limit = api::CheckRetryDeadLimit(request.limit());
    if (!limit.ok()) return Reply(limit.status(), r.res);
    auto count = Await<uint64_t>(
        [&](auto done) { core->RetryDead(queue, *limit, std::move(done)); });
    if (!count.ok()) return Reply(count.status(), r.res);
    v1::RetryDeadResponse out;
    out.set_count(*count);
    return Reply(out, r.res);
  }
  if (r.is(2, "purge")) {
    auto states = PurgeStates(r.req.body);
    if (!states.ok()) return Reply(states.status(), r.res);
    auto count = Await<uint64_t>(
        [&](auto done) { core->PurgeQueue(queue, *states, std::move(done)); });
    if (!count.ok()) return Reply(count.status(), r.res);
    v1::PurgeQueueResponse out;
    out.set_count(*count);
    return Reply(out, r.res);
  }
  NotFound(r.req, r.res);
}

// GET schedules: ListSchedules. POST schedules/{name}/pause, /resume,
// /trigger: as ScheduleService checks and runs them.
void Schedules(const Route& r, bool get) {
  engine::CoreApi* core = r.deps.core;
  if (get) {
    return Reply(Await<v1::ListSchedulesResponse>(
                     [core, check = api::ScheduleListCheck(r.caller)](
                         auto done) mutable {
                       core->ListSchedules(std::move(check), std::move(done));
                     }),
                 r.res);
  }
  const std::string& name = r.parts[1];
  if (absl::Status s = api::CheckScheduleName(name, "name"); !s.ok()) {
    return Reply(s, r.res);
  }
  engine::QueueCheck check = api::JobCheck(r.deps.auth, r.caller);
  if (r.is(2, "pause") || r.is(2, "resume")) {
    bool paused = r.is(2, "pause");
    return Reply(Await<v1::Schedule>([&](auto done) {
                   core->PauseSchedule(name, paused, check, std::move(done));
                 }),
                 r.res);
  }
  if (r.is(2, "trigger")) {
    return Reply(Await<v1::TriggerScheduleResponse>([&](auto done) {
                   core->TriggerSchedule(name, check, std::move(done));
                 }),
                 r.res);
  }
  NotFound(r.req, r.res);
}

}  // namespace

void JsonApi::Serve(const Request& req, Response* res) const {
  std::vector<std::string> parts = absl::StrSplit(
      absl::string_view(req.path).substr(sizeof("/api/v1/") - 1), '/');
  std::optional<absl::string_view> header;
  if (req.authorization) header = *req.authorization;
  const bool get = req.method == "GET";
  const size_t n = parts.size();
  if (get && n == 1 && parts[0] == "whoami") return WhoAmI(deps_, header, res);

  // Every other route: who asks, then whether the core takes requests.
  // Reading takes the read or the admin role; acting, the role gRPC asks.
  uint8_t roles = auth::kRead | auth::kAdmin;
  if (!get) {
    roles = parts[0] == "jobs" ? auth::kSubmit | auth::kAdmin : auth::kAdmin;
  }
  auto caller = deps_.auth->AuthenticateHeader(header, roles);
  if (!caller.ok()) return Reply(caller.status(), res);
  if (absl::Status s = api::RefusalStatus(*deps_.ctx); !s.ok()) {
    return Reply(s, res);
  }
  Route r{req, parts, deps_, *caller, res};
  engine::CoreApi* core = deps_.core;
  if (get && n == 1 && r.is(0, "stats")) return Stats(r);
  if (get && n == 1 && r.is(0, "queues")) {
    auto list = Await<v1::ListQueuesResponse>(
        [core](auto done) { core->ListQueues(std::move(done)); });
    if (list.ok()) KeepVisible(r, list->mutable_queues());
    return Reply(list, res);
  }
  if (get && n == 1 && r.is(0, "samples")) {
    res->content_type = "application/json";
    res->body = deps_.samples->Json(
        [&r](const std::string& q) { return r.visible(q); });
    return;
  }
  if (get && n == 1 && r.is(0, "workers")) {
    if (absl::Status s = deps_.auth->CheckAllQueues(*caller, "workers");
        !s.ok()) {
      return Reply(s, res);
    }
    return Reply(Await<v1::ListWorkersResponse>(
                     [core](auto done) { core->ListWorkers(std::move(done)); }),
                 res);
  }
  if (get && n == 3 && r.is(0, "queues") && r.is(2, "jobs")) {
    return ListJobs(r);
  }
  if (r.is(0, "jobs") && (get ? n == 2 : n == 3)) return Job(r, get);
  if (r.is(0, "schedules") && (get ? n == 1 : n == 3)) {
    return Schedules(r, get);
  }
  if (!get && n == 3 && r.is(0, "queues")) return QueueCommand(r);
  NotFound(req, res);
}

}  // namespace jobq::web
