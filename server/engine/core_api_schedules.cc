// The facade's recurring-schedule commands. Each change follows the core's
// sequence: Writable(), the scheduler's command (its transition logged),
// then the answer once durable (AfterDurable).
#include "absl/strings/str_cat.h"
#include "core/job.h"
#include "core/schedules.h"
#include "engine/core_api.h"
#include "engine/core_api_post.h"
#include "engine/core_loop.h"

namespace jobq::engine {
namespace {

v1::Schedule View(const core::ScheduleEntry& e) {
  v1::Schedule out;
  core::ScheduleTable::ToProto(e, &out);
  return out;
}

// The schedule `name`, if the caller may use its queue.
absl::StatusOr<const core::ScheduleEntry*> Lookup(const core::Scheduler& s,
                                                  const std::string& name,
                                                  const QueueCheck& check) {
  const core::ScheduleEntry* e = s.schedules().Find(name);
  if (e == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("schedule \"", name, "\" not found"));
  }
  if (check) {
    if (absl::Status st =
            check(e->def.job().queue(), absl::StrCat("schedule ", name));
        !st.ok()) {
      return st;
    }
  }
  return e;
}

}  // namespace

void CoreApi::CreateSchedule(v1::Schedule def, Done<v1::Schedule> done) {
  // Parsed here, on the caller's thread: the core only re-reads it.
  if (absl::Status s = core::ScheduleTable::Check(def); !s.ok()) {
    return done(s);
  }
  Call(loop_, std::move(done),
       [def = std::move(def)](CoreContext& core,
                              Done<v1::Schedule>& done) mutable {
         if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
           return done(s);
         }
         auto e = core.scheduler.CreateSchedule(std::move(def), core.now);
         if (!e.ok()) return done(e.status());
         AnswerWhenDurable(core.loop, View(**e), std::move(done));
       });
}

void CoreApi::GetSchedule(std::string name, QueueCheck check,
                          Done<v1::Schedule> done) {
  Call(loop_, std::move(done),
       [name = std::move(name), check = std::move(check)](
           CoreContext& core, Done<v1::Schedule>& done) {
         auto e = Lookup(core.scheduler, name, check);
         if (!e.ok()) return done(e.status());
         done(View(**e));
       });
}

void CoreApi::ListSchedules(QueueCheck check,
                            Done<v1::ListSchedulesResponse> done) {
  Call(loop_, std::move(done),
       [check = std::move(check)](CoreContext& core,
                                  Done<v1::ListSchedulesResponse>& done) {
         v1::ListSchedulesResponse out;
         for (const auto& [name, e] : core.scheduler.schedules().entries()) {
           if (check && !check(e.def.job().queue(), name).ok()) continue;
           core::ScheduleTable::ToProto(e, out.add_schedules());
         }
         done(std::move(out));
       });
}

void CoreApi::DeleteSchedule(std::string name, QueueCheck check,
                             Done<v1::DeleteScheduleResponse> done) {
  Call(loop_, std::move(done),
       [name = std::move(name), check = std::move(check)](
           CoreContext& core, Done<v1::DeleteScheduleResponse>& done) {
         if (auto e = Lookup(core.scheduler, name, check); !e.ok()) {
           return done(e.status());
         }
         if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
           return done(s);
         }
         if (absl::Status s = core.scheduler.DeleteSchedule(name); !s.ok()) {
           return done(s);
         }
         AnswerWhenDurable(core.loop, v1::DeleteScheduleResponse(),
                           std::move(done));
       });
}

void CoreApi::PauseSchedule(std::string name, bool paused, QueueCheck check,
                            Done<v1::Schedule> done) {
  Call(loop_, std::move(done),
       [name = std::move(name), paused, check = std::move(check)](
           CoreContext& core, Done<v1::Schedule>& done) {
         if (auto e = Lookup(core.scheduler, name, check); !e.ok()) {
           return done(e.status());
         }
         if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
           return done(s);
         }
         auto e = core.scheduler.PauseSchedule(name, paused, core.now);
         if (!e.ok()) return done(e.status());
         AnswerWhenDurable(core.loop, View(**e), std::move(done));
       });
}

void CoreApi::TriggerSchedule(std::string name, QueueCheck check,
                              Done<v1::TriggerScheduleResponse> done) {
  Call(loop_, std::move(done),
       [name = std::move(name), check = std::move(check)](
           CoreContext& core, Done<v1::TriggerScheduleResponse>& done) {
         if (auto e = Lookup(core.scheduler, name, check); !e.ok()) {
           return done(e.status());
         }
         if (const absl::Status& s = core.loop.Writable(); !s.ok()) {
           return done(s);
         }
         wal::v1::Transition fire;
         auto seq = core.scheduler.PrepareTrigger(name, core.now, &fire);
         if (!seq.ok()) return done(seq.status());
         core.loop.acks().AppendPrepared(std::move(fire));
         // Registered after the firing: its job is applied before this
         // answer runs, so the schedule shows it.
         core.loop.AfterDurable(
             [seq = *seq, name, done = std::move(done),
              loop = &core.loop](const absl::Status& s) mutable {
               if (!s.ok()) return done(s);
               CoreContext ctx = loop->Context();
               if (ctx.scheduler.Find(seq) == nullptr) {
                 // Withdrawn while the log could not write.
                 return done(absl::UnavailableError(
                     "the log could not store the firing; retry"));
               }
               v1::TriggerScheduleResponse out;
               out.set_job_id(core::FormatJobId(seq));
               if (const auto* e = ctx.scheduler.schedules().Find(name)) {
                 *out.mutable_schedule() = View(*e);
               }
               done(std::move(out));
             });
       });
}

}  // namespace jobq::engine
