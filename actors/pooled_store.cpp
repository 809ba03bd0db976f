#include "actors/pooled_store.hpp"

#include <spdlog/spdlog.h>

#include "actors/workspace.hpp"
#include "storage/email_sends.hpp"
#include "storage/executions.hpp"
#include "storage/ingest.hpp"
#include "storage/redis/counter.hpp"
#include "storage/redis/delay_queue.hpp"
#include "storage/redis/lock.hpp"
#include "storage/runs.hpp"
#include "storage/workflows.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::actors {
namespace {

// Present while Redis holds the queue built from PostgreSQL; gone when Redis lost its data.
constexpr std::string_view k_built_key = "ft:sched:built";

// Runs on a pool thread: the workspace, its zone and its compiled workflows.
result<workspace_load> read_workspace(pg::connection& c, const runtime::time_zone_db* zones, const std::string& id) {
  auto ws = storage::find_workspace(c, id);
  if (!ws) return ws.err();
  auto snapshot = std::make_shared<domain::workspace_snapshot>();
  snapshot->info = std::move(*ws);
  if (zones) {
    auto zone = zones->get(snapshot->info.timezone);
    if (zone) snapshot->zone = *zone;
    else spdlog::warn("workspace {}: unknown time zone '{}', using UTC", id, snapshot->info.timezone);
  }
  auto flows = storage::load_workflows(c, id);
  if (!flows) return flows.err();
  workspace_load out;
  out.workspace = std::move(snapshot);
  for (auto& w : *flows) {
    std::string wid = w.id;
    auto s = make_snapshot(std::move(w));
    if (!s) {
      spdlog::warn("workspace {}: workflow {} does not compile: {}", id, wid, s.err().message);
      continue;
    }
    out.workflows.emplace(wid, std::move(*s));
  }
  return out;
}

// Paused executions to schedule, and the largest fencing token PostgreSQL holds (first entry,
// id empty) so Redis' counter can be restored above it.
paused_list paused_execution_list(pg::connection& c) {
  std::vector<std::pair<std::string, std::int64_t>> all;
  auto top = storage::max_lock_token(c);
  if (!top) return top.err();
  all.emplace_back(std::string(), static_cast<std::int64_t>(*top));
  std::string after;
  for (;;) {
    auto page = storage::paused_executions(c, 5000, after);
    if (!page) return page.err();
    all.insert(all.end(), page->begin(), page->end());
    if (page->size() < 5000) return all;
    after = page->back().first;
  }
}

}  // namespace

void pooled_store::load_workspace(std::string workspace_id, answer<workspace_load> done) {
  postgres_.submit([zones = zones_, id = std::move(workspace_id)](pg::connection& c) { return read_workspace(c, zones, id); },
                   std::move(done), /*retry_safe=*/true);
}

void pooled_store::load_workflow_version(std::string workspace_id, std::string workflow_id, std::optional<int> version,
                                         answer<std::shared_ptr<const domain::workflow_snapshot>> done) {
  postgres_.submit(
      [ws = std::move(workspace_id), wf = std::move(workflow_id), version](pg::connection& c)
          -> result<std::shared_ptr<const domain::workflow_snapshot>> {
        auto rec = storage::load_workflow(c, ws, wf, version);
        if (!rec) return rec.err();
        return make_snapshot(std::move(*rec));
      },
      std::move(done), true);
}

void pooled_store::find_tenants(std::vector<std::string> slugs, std::vector<std::string> workflows,
                                std::vector<std::string> intakes, answer<storage::tenant_lookup> done) {
  postgres_.try_submit([slugs = std::move(slugs), workflows = std::move(workflows), intakes = std::move(intakes)](
                           pg::connection& c) { return storage::find_tenants(c, slugs, workflows, intakes); },
                       std::move(done), true);
}

void pooled_store::poll_tenant_changes(std::string since, answer<storage::tenant_changes> done) {
  postgres_.try_submit([since = std::move(since)](pg::connection& c) { return storage::poll_tenant_changes(c, since); },
                       std::move(done), true);
}

void pooled_store::ingest(std::vector<domain::trigger_record> batch, answer<ingest_results> done) {
  postgres_.submit([batch = std::move(batch)](pg::connection& c) { return result<ingest_results>(storage::ingest_batch(c, batch)); },
                   std::move(done));
}

void pooled_store::write_runs(std::vector<domain::run_record> batch, storage::run_fences fences, answer<record_results> done) {
  postgres_.submit([batch = std::move(batch), fences = std::move(fences)](pg::connection& c) {
    return result<record_results>(storage::write_runs(c, batch, fences));
  }, std::move(done));
}

void pooled_store::load_execution(std::string execution_id, answer<storage::execution_state> done) {
  postgres_.submit([id = std::move(execution_id)](pg::connection& c) { return storage::load_execution(c, id); }, std::move(done),
                   true);
}

void pooled_store::workspace_of_execution(std::string execution_id, answer<std::string> done) {
  postgres_.submit([id = std::move(execution_id)](pg::connection& c) { return storage::workspace_of_execution(c, id); },
                   std::move(done), true);
}

void pooled_store::fail_execution(std::string execution_id, std::string reason, answer<bool> done) {
  postgres_.submit([id = std::move(execution_id), reason = std::move(reason)](pg::connection& c) {
    return storage::fail_execution(c, id, reason);
  }, std::move(done));
}

void pooled_store::paused_executions(std::function<void(paused_list)> done) {
  postgres_.submit([](pg::connection& c) { return paused_execution_list(c); }, std::move(done), true);
}

void pooled_store::stale_executions(std::int64_t stale_ms, std::size_t limit, answer<std::vector<std::string>> done) {
  postgres_.submit([stale_ms, limit](pg::connection& c) { return storage::stale_executions(c, stale_ms, limit); }, std::move(done),
                   true);
}

void pooled_store::adopt_shards(std::vector<int> shards, std::size_t limit,
                                answer<std::vector<storage::adoptable_execution>> done) {
  postgres_.submit(
      [shards = std::move(shards), limit](pg::connection& c) -> result<std::vector<storage::adoptable_execution>> {
        auto freed = storage::free_webhook_claims_of_shards(c, shards);
        if (!freed) return freed.err();
        if (*freed > 0) spdlog::info("cluster: {} webhook delivery claim(s) of the shards begun freed", *freed);
        return storage::executions_to_adopt(c, shards, limit);
      },
      std::move(done), true);
}

void pooled_store::fold_stat_deltas(answer<std::size_t> done) {
  postgres_.submit([](pg::connection& c) { return storage::fold_stat_deltas(c); }, std::move(done), true);
}

void pooled_store::keep_unparsed_mail(std::string workspace_id, domain::unparsed_mail mail, answer<storage::kept_mail> done) {
  postgres_.submit([ws = std::move(workspace_id), mail = std::move(mail)](pg::connection& c) {
    return storage::keep_unparsed_mail(c, ws, mail);
  }, std::move(done));
}

void pooled_store::mark_unparsed_mail_notified(std::string workspace_id, std::string id) {
  postgres_.submit([ws = std::move(workspace_id), id = std::move(id)](pg::connection& c) {
    return storage::mark_unparsed_mail_notified(c, ws, id);
  }, [](result<void> r) {
    if (!r) spdlog::warn("unparsed mail: cannot record the owner's notification: {}", r.err().message);
  }, true);
}

void pooled_store::purge_unparsed_mail(answer<std::size_t> done) {
  postgres_.submit([](pg::connection& c) { return storage::purge_unparsed_mail(c); }, std::move(done), true);
}

void pooled_store::reserve_email_send(domain::email_send_request request, answer<domain::email_send_grant> done) {
  postgres_.submit([request = std::move(request)](pg::connection& c) { return storage::reserve_email_send(c, request); },
                   std::move(done), true);
}

void pooled_store::enqueue_webhook(storage::webhook_enqueue message, answer<std::string> done) {
  postgres_.submit([m = std::move(message)](pg::connection& c) { return storage::enqueue_webhook(c, m); }, std::move(done), true);
}

void pooled_store::claim_webhook_deliveries(std::size_t limit, std::chrono::milliseconds lease,
                                            std::optional<std::vector<int>> shards, answer<std::vector<storage::due_delivery>> done) {
  postgres_.submit([limit, lease, shards = std::move(shards)](pg::connection& c) { return storage::claim_webhook_deliveries(c, limit, lease, shards); },
                   std::move(done), true);
}

void pooled_store::load_webhook_endpoint(std::string workspace_id, std::string endpoint_id,
                                         answer<storage::webhook_endpoint_config> done) {
  postgres_.submit([ws = std::move(workspace_id), id = std::move(endpoint_id)](pg::connection& c) {
    return storage::load_webhook_endpoint(c, ws, id);
  }, std::move(done), true);
}

void pooled_store::record_webhook_attempts(std::vector<storage::webhook_attempt_record> batch, answer<void> done) {
  postgres_.submit([b = std::move(batch)](pg::connection& c) { return storage::record_webhook_attempts(c, b); }, std::move(done), true);
}

void pooled_store::release_webhook_claims(std::vector<std::string> delivery_ids, std::optional<std::int64_t> not_before_ms) {
  postgres_.submit([ids = std::move(delivery_ids), not_before_ms](pg::connection& c) {
    return storage::release_webhook_claims(c, ids, not_before_ms);
  },
                   [](result<void> r) {
                     if (!r) spdlog::warn("webhooks: cannot release claimed deliveries: {}", r.err().message);
                   }, true);
}

bool pooled_store::count_form_submission(std::string workflow_id, std::string client, int per_ip, int per_form,
                                         std::function<void(std::optional<std::chrono::milliseconds>)> done) {
  return redis_.try_submit([workflow_id = std::move(workflow_id), client = std::move(client), per_ip, per_form,
                            done = std::move(done)](redis::connection& c) {
    redis::rate_counter counter(c);
    const auto window = std::chrono::minutes(1);
    std::optional<std::chrono::milliseconds> wait;
    auto by_ip = counter.hit("form:" + workflow_id + ":ip:" + client, window);
    if (by_ip && by_ip->count > per_ip) wait = by_ip->reset_in;
    if (!wait && per_form > 0) {
      auto by_form = counter.hit("form:" + workflow_id, window);
      if (by_form && by_form->count > per_form) wait = by_form->reset_in;
      if (!by_form) spdlog::warn("form rate limit not checked: {}", by_form.err().message);
    }
    if (!by_ip) spdlog::warn("form rate limit not checked: {}", by_ip.err().message);
    done(wait);
  });
}

void pooled_store::acquire_lock(std::string name, std::string owner, std::chrono::milliseconds ttl,
                                answer<std::optional<redis::lease>> done) {
  redis_.submit([name = std::move(name), owner = std::move(owner), ttl, done = std::move(done)](redis::connection& c) {
    done(redis::lock_service(c).acquire(name, owner, ttl));
  });
}

void pooled_store::renew_lock(redis::lease lease, std::chrono::milliseconds ttl, answer<bool> done) {
  redis_.submit([lease = std::move(lease), ttl, done = std::move(done)](redis::connection& c) {
    done(redis::lock_service(c).renew(lease, ttl));
  });
}

void pooled_store::release_run(std::optional<redis::lease> lease, std::optional<redis::claimed> claim) {
  if (!lease && !claim) return;
  redis_.submit([lease = std::move(lease), claim = std::move(claim)](redis::connection& c) {
    if (lease) (void)redis::lock_service(c).release(*lease);
    if (claim) (void)redis::delay_queue(c, storage::k_execution_queue).ack(*claim);
  });
}

void pooled_store::schedule_resume(std::string execution_id, std::int64_t at_ms) {
  redis_.submit([id = std::move(execution_id), at_ms](redis::connection& c) {
    if (auto r = redis::delay_queue(c, storage::k_execution_queue).schedule(id, at_ms); !r)
      spdlog::warn("run {}: could not schedule its resume in Redis: {}", id, r.err().message);
  });
}

void pooled_store::schedule_now(std::vector<std::string> execution_ids, std::int64_t now_ms) {
  redis_.submit([ids = std::move(execution_ids), now_ms](redis::connection& r) {
    redis::delay_queue q(r, storage::k_execution_queue);
    for (const auto& id : ids) (void)q.schedule(id, now_ms);
  });
}

void pooled_store::claim_due(std::int64_t now_ms, std::size_t max, std::chrono::milliseconds visibility,
                             answer<std::vector<redis::claimed>> done) {
  redis_.submit([now_ms, max, visibility, done = std::move(done)](redis::connection& c) {
    done(redis::delay_queue(c, storage::k_execution_queue).claim(now_ms, max, visibility));
  });
}

void pooled_store::check_queue(std::function<void(bool lost, std::optional<std::size_t> depth)> done) {
  redis_.submit([done = std::move(done)](redis::connection& r) {
    // Cheap check first: the marker disappears with the rest of Redis' data.
    auto exists = r.command({"EXISTS", k_built_key});
    std::optional<std::size_t> depth;
    if (auto n = redis::delay_queue(r, storage::k_execution_queue).size(); n) depth = *n;
    done(exists.ok() && exists->integer == 0, depth);
  });
}

void pooled_store::rebuild_queue(std::vector<std::pair<std::string, std::int64_t>> paused) {
  redis_.submit([list = std::move(paused)](redis::connection& r) {
    // Fencing tokens must keep growing across the loss, or every write of a resumed run would be
    // fenced out by the token it stored before.
    if (auto f = redis::lock_service(r).raise_fencing_floor(static_cast<std::uint64_t>(list.front().second) + 1); !f)
      return spdlog::warn("scheduler: rebuild failed: {}", f.err().message);
    redis::delay_queue q(r, storage::k_execution_queue);
    for (std::size_t i = 1; i < list.size(); ++i)
      if (auto s = q.schedule(list[i].first, list[i].second); !s) return spdlog::warn("scheduler: rebuild failed: {}", s.err().message);
    if (auto s = r.command({"SET", k_built_key, "1"}); s.ok())
      spdlog::info("scheduler: rebuilt the delay queue from PostgreSQL ({} paused executions)", list.size() - 1);
  });
}

}  // namespace flowtrack::actors
