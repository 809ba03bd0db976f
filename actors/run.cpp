#include "actors/run.hpp"

#include <boost/json.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster.hpp"
#include "actors/counters.hpp"
#include "domain/email_caps.hpp"
#include "domain/run_steps.hpp"
#include "domain/shard_ring.hpp"
#include "runtime/text.hpp"
#include "runtime/tz.hpp"

// Travels only from a pool thread to this run, never between nodes.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<flowtrack::domain::email_send_grant>)

namespace flowtrack::actors {
namespace json = boost::json;
namespace {

using self_ptr = caf::stateful_actor<run_state>*;
using renew_atom = caf::atom_constant<caf::atom("renew")>;
using continue_atom = caf::atom_constant<caf::atom("continue")>;  ///< step on (after a yield)
using retry_atom = caf::atom_constant<caf::atom("retry")>;        ///< send the held record again
using grant_atom = caf::atom_constant<caf::atom("mailgrant")>;   ///< an email reservation answered

constexpr std::uint32_t k_steps_per_message = 64;  // then yield

// In a cluster the lock is the epoch's: a new owner of the shard does not wait for the lock a
// fenced-out holder left behind (the epoch keeps that one from writing), and the fencing token,
// one counter for every lock, still outranks the old holder's.
std::string lock_name(const std::string& execution_id, std::int64_t epoch) {
  return epoch == 0 ? "exec:" + execution_id : "exec:" + execution_id + "/e" + std::to_string(epoch);
}

void advance(self_ptr self, node_services* node);

// Ends the actor: releases the lock, acks the queue entry that woke it, quits.
void finish(self_ptr self, node_services* node, bool ack) {
  auto& st = self->state;
  if (st.finished) return;
  st.finished = true;
  auto claim = ack ? st.claim : std::nullopt;
  if (st.lease || claim) node->store->release_run(st.lease, claim);
  if (st.owner) self->send(st.owner, done_atom::value, self->id());
  self->quit();
}

// Sends a record to the writer (looked up each time: a restarted writer is a new actor);
// `then` runs once it is committed and applied. A writer that is down is asked again briefly.
template <class Then>
void send_record(self_ptr self, node_services* node, domain::run_record record, Then then, int attempt) {
  auto writer = self->system().registry().get<caf::actor>(k_writer_name);
  auto retry = [=](std::string why) mutable {
    if (attempt < 5 && !self->state.finished) {
      self->delayed_send(self, std::chrono::milliseconds(20 * attempt), retry_atom::value);
      self->state.retry_record = [=]() mutable { send_record(self, node, std::move(record), then, attempt + 1); };
      return;
    }
    spdlog::warn("run {}: writer did not answer: {}", self->state.start.execution_id, why);
    finish(self, node, false);
  };
  if (!writer) return retry("no writer");
  self->request(writer, node->options.request_timeout, record_atom::value, record, self->state.epoch)
      .then(
          [=](record_reply& r) {
            if (!r.ok()) {
              // Nothing was written; the lock expires and recovery adopts the run from its
              // last durable checkpoint.
              spdlog::warn("run {}: could not record progress: {}", self->state.start.execution_id, r.err().message);
              return finish(self, node, false);
            }
            if (!*r) {
              spdlog::info("run {}: stopped (cancelled, finished or taken over)", self->state.start.execution_id);
              return finish(self, node, true);
            }
            then();
          },
          [=](caf::error& e) mutable { retry(to_string(e)); });
}

// Sends what accumulated to the writer; `then` runs once it is committed and applied.
template <class Then>
void flush(self_ptr self, node_services* node, Then then) {
  auto& st = self->state;
  auto& p = st.pending;
  p.execution_id = st.start.execution_id;
  p.workspace_id = st.start.workspace->info.id;
  p.workflow_id = st.start.workflow->id;
  p.lead_id = st.start.lead_id;
  p.lock_token = st.lease ? st.lease->fencing_token : 0;
  p.seq = ++st.records_sent;
  auto cp = st.cp.to_json(*st.start.workflow->graph);
  // The row of a side effect in flight, so a run resumed after a crash completes that row
  // instead of leaving it `running` beside a new one.
  if (st.cp.in_flight != runtime::k_no_node && !st.in_flight_step_id.empty()) cp["inFlightStep"] = st.in_flight_step_id;
  p.checkpoint = json::serialize(cp);
  // Steps without a stored node (a graph edited under a paused run) cannot be recorded.
  std::erase_if(p.steps, [](const domain::step_write& s) { return s.workflow_node_id.empty(); });
  domain::run_record record = std::move(p);
  p = domain::run_record{};
  send_record(self, node, std::move(record), std::function<void()>(then), 1);
}

// Hands the in-flight email to the mailer; the answer comes back as (action_atom, result).
void send_email(self_ptr self, node_services* node) {
  auto& st = self->state;
  const auto& req = st.request;
  auto me = caf::actor_cast<caf::actor>(self);
  auto reply = [me](result<json::value> r) { caf::anon_send(me, action_atom::value, std::move(r)); };
  if (node->mailer == nullptr) return reply(make_error(error_code::unavailable, "no mailer is configured"));
  email_message m;
  m.idempotency_key = req.idempotency_key;
  m.workspace_id = st.start.workspace->info.id;
  m.execution_id = st.start.execution_id;
  m.from_name = req.from_name;
  m.to = req.to;
  m.reply_to = req.reply_to;
  m.subject = req.subject;
  m.text_body = req.text_body;
  m.html_body = req.html_body;
  if (req.type == runtime::node_type::action_send_email && st.start.lead_id && runtime::iequals(req.to, st.cp.subject.email))
    m.lead_id = *st.start.lead_id;
  node->mailer->send(std::move(m), [reply](result<std::string> r) {
    if (!r) return reply(r.err());
    reply(json::value(json::object{{"messageId", *r}}));
  });
}

// Hands a side effect to its port; the answer comes back as (action_atom, result).
//
// An email to anyone but the owner (ACTION_SEND_EMAIL) is first reserved against the
// workspace's hourly cap and email_sends quota, so a public form that emails whoever submits it
// cannot be made to spam; the answer comes back as (grant_atom, result). The owner's
// notifications (ACTION_NOTIFY_OWNER) go to the workspace's own address only and are exempt:
// they cannot reach strangers, and holding them back would hide the very leads a flood brings.
void perform(self_ptr self, node_services* node) {
  auto& st = self->state;
  const auto& req = st.request;
  auto me = caf::actor_cast<caf::actor>(self);
  auto reply = [me](result<json::value> r) { caf::anon_send(me, action_atom::value, std::move(r)); };
  using runtime::node_type;
  if (req.type == node_type::action_notify_owner) return send_email(self, node);
  if (req.type == node_type::action_send_email) {
    if (node->mailer == nullptr) return reply(make_error(error_code::unavailable, "no mailer is configured"));
    domain::email_send_request r;
    r.workspace_id = st.start.workspace->info.id;
    r.execution_id = st.start.execution_id;
    r.idempotency_key = req.idempotency_key;
    r.limits = domain::email_limits_of(st.start.workspace->info);
    if (!r.limits.ignored_setting.empty())
      spdlog::warn("workspace {}: {}", r.workspace_id, r.limits.ignored_setting);
    node->store->reserve_email_send(std::move(r), [me](result<domain::email_send_grant> g) {
      caf::anon_send(me, grant_atom::value, std::move(g));
    });
    return;
  }
  if (req.type == node_type::action_send_webhook) {
    // Into the outbox under the step's key (a retried step finds the same message, so never a
    // duplicate under a new id); the endpoint's actor delivers it and retries on its schedule.
    storage::webhook_enqueue m;
    m.workspace_id = st.start.workspace->info.id;
    m.endpoint_id = req.value;
    m.idempotency_key = req.idempotency_key;
    m.event_type = "workflow.webhook";
    m.data_json = req.payload;
    node->store->enqueue_webhook(std::move(m), [reply](result<std::string> id) {
      if (!id) return reply(id.err());
      reply(json::value(json::object{{"webhookId", *id}, {"status", "queued"}}));
    });
    return;
  }
  reply(make_error(error_code::internal, "no port performs " + std::string(runtime::to_string(req.type))));
}

void end_run(self_ptr self, node_services* node, bool failed) {
  auto& st = self->state;
  auto& p = st.pending;
  domain::end_record(p, *st.start.workflow, st.cp, failed, st.request.node, node->clock->wall_ms(), st.start.created_at_ms);
  p.lock_released_at = p.completed_at;
  flush(self, node, [=] {
    count_execution(failed ? domain::execution_status::failed : domain::execution_status::completed);
    finish(self, node, true);
  });
}

void park(self_ptr self, node_services* node, std::int64_t resume_at_ms) {
  auto& st = self->state;
  auto& p = st.pending;
  p.status = domain::execution_status::paused;
  p.resume_at = domain::sql_timestamp(resume_at_ms);
  p.lock_released_at = domain::sql_timestamp(node->clock->wall_ms());
  std::string id = st.start.execution_id;
  flush(self, node, [=] {
    // Durable first, then indexed: if this schedule is lost (Redis lost its data, or the node died
    // just now), the rebuild or recovery finds the run in PostgreSQL.
    count_execution(domain::execution_status::paused);
    node->store->schedule_resume(id, resume_at_ms);
    finish(self, node, true);
  });
}

void advance(self_ptr self, node_services* node) {
  auto& st = self->state;
  auto r = domain::step_locally(*st.start.workflow, st.cp, st.env, st.request, st.pending, *node->clock, k_steps_per_message, observe_step);
  switch (r.stop) {
    case domain::step_stop::side_effect: {
      // A side effect: its `running` step is durable before it starts. During a hand-off of the
      // shard it does not start here: the run stops at that durable point, as if this node had
      // died just before the effect, and the new owner performs it once (same step, same key).
      auto now = node->clock->wall_ms();
      auto& s = domain::add_step(st.pending, *st.start.workflow, st.cp, r.decision.node, domain::step_status::running, now);
      if (st.resumed_step_id) {  // the action a crashed run left in flight: its row goes on
        s.id = std::move(*st.resumed_step_id);
        st.resumed_step_id.reset();
      }
      s.input_data = json::serialize(st.request.to_json());
      s.retry_count = static_cast<int>(st.request.attempt) - 1;
      st.in_flight_step_id = s.id;
      st.in_flight_started_ms = now;
      st.pending.status = domain::execution_status::running;
      if (st.handing_off) {
        flush(self, node, [=] { finish(self, node, true); });
        return;
      }
      flush(self, node, [=] { perform(self, node); });
      return;
    }
    case domain::step_stop::park:
      return park(self, node, r.decision.resume_at_ms);
    case domain::step_stop::complete:
      return end_run(self, node, false);
    case domain::step_stop::fail:
      return end_run(self, node, true);
    case domain::step_stop::yield:
      self->send(self, continue_atom::value);  // so one long run cannot hog a thread
      return;
  }
}

void on_action_result(self_ptr self, node_services* node, result<json::value>& r) {
  auto& st = self->state;
  const auto& g = *st.start.workflow->graph;
  auto now = node->clock->wall_ms();
  runtime::action_result ar;
  ar.ok = r.ok();
  if (r.ok()) ar.output = std::move(*r);
  else ar.failure = r.err();
  domain::step_write s;
  s.id = st.in_flight_step_id;
  s.workflow_node_id = st.start.workflow->node_ids.count(st.request.node_id) ? st.start.workflow->node_ids.at(st.request.node_id) : "";
  s.step_number = static_cast<int>(st.cp.steps);
  s.started_at = domain::sql_timestamp(st.in_flight_started_ms);
  s.completed_at = domain::sql_timestamp(now);
  s.duration_ms = static_cast<int>(now - st.in_flight_started_ms);
  s.retry_count = static_cast<int>(st.request.attempt) - 1;
  s.input_data = json::serialize(st.request.to_json());
  auto type = st.request.type;
  observe_step(type, static_cast<double>(now - st.in_flight_started_ms) / 1e3);
  auto outcome = runtime::report(g, st.cp, st.env, ar, now);
  if (ar.ok) {
    s.status = domain::step_status::completed;
    s.output_data = json::serialize(ar.output);
    if (type == runtime::node_type::action_send_email) {
      st.pending.lead.email_sent = true;
      st.pending.emails_sent++;
      st.pending.events.push_back({"EMAIL_SENT", "communication", "Email sent: " + st.request.subject,
                                   json::serialize(json::object{{"to", st.request.to}, {"subject", st.request.subject}, {"output", ar.output}})});
    } else if (type == runtime::node_type::action_send_webhook) {
      st.pending.events.push_back({"WEBHOOK_QUEUED", "automation", "Webhook queued for delivery", json::serialize(ar.output)});
    }
  } else {
    s.status = domain::step_status::failed;
    s.error_message = ar.failure.message;
    s.error_details = json::serialize(json::object{{"code", to_string(ar.failure.code)},
                                                   {"retryScheduled", outcome == runtime::report_outcome::retry_scheduled}});
    st.pending.logs.push_back({outcome == runtime::report_outcome::retry_scheduled ? "WARN" : "ERROR", "step",
                               std::string(runtime::to_string(type)) + " failed: " + ar.failure.message, std::nullopt,
                               std::string(runtime::to_string(type)), s.id});
  }
  st.pending.steps.push_back(std::move(s));
  advance(self, node);
}

// The hourly cap is reached: the email did not start, so its step waits without using up an
// attempt. The running row is closed as `pending` saying why and until when, the action goes back
// on the frontier for that time, and the run steps on (other paths may go first) and parks.
void wait_for_cap(self_ptr self, node_services* node, const domain::email_send_grant& g) {
  auto& st = self->state;
  auto now = node->clock->wall_ms();
  auto until = now + g.wait_ms;
  auto cap = domain::email_limits_of(st.start.workspace->info).hourly_cap;
  std::string send_at = runtime::format_iso8601_utc(until);
  domain::step_write s;
  s.id = st.in_flight_step_id;
  s.workflow_node_id = st.start.workflow->node_ids.count(st.request.node_id) ? st.start.workflow->node_ids.at(st.request.node_id) : "";
  s.step_number = static_cast<int>(st.cp.steps);
  s.status = domain::step_status::pending;
  s.started_at = domain::sql_timestamp(st.in_flight_started_ms);
  s.retry_count = static_cast<int>(st.request.attempt) - 1;
  s.input_data = json::serialize(st.request.to_json());
  json::object why{{"waitingFor", "email_hourly_cap"}, {"sentLastHour", g.sent_last_hour}, {"sendAt", send_at}};
  if (cap) why["hourlyCap"] = *cap;
  s.output_data = json::serialize(why);
  std::string message = !cap        ? "the workspace's hourly email cap is reached; sending at " + send_at
                        : *cap == 0 ? "sending is paused for the workspace (email_hourly_cap 0); asking again at " + send_at
                                    : "the workspace's hourly email cap (" + std::to_string(*cap) +
                                          " per hour) is reached; sending at " + send_at;
  st.pending.logs.push_back({"INFO", "step", std::string(runtime::to_string(st.request.type)) + " waits: " + message, std::nullopt,
                             std::string(runtime::to_string(st.request.type)), s.id});
  st.pending.steps.push_back(std::move(s));
  spdlog::debug("run {}: email waits for the hourly cap until {}", st.start.execution_id, send_at);
  domain::defer_in_flight(st.cp, until);
  st.in_flight_step_id.clear();
  advance(self, node);
}

void on_email_grant(self_ptr self, node_services* node, result<domain::email_send_grant>& g) {
  if (self->state.finished) return;
  if (!g.ok()) {
    // quota_exceeded is not retried (error::transient); an unavailable database is, with back-off.
    result<json::value> failed(std::move(g.err()));
    return on_action_result(self, node, failed);
  }
  if (g->outcome == domain::email_send_grant::verdict::wait) return wait_for_cap(self, node, *g);
  send_email(self, node);
}

// Builds the checkpoint: a fresh start, a resume, or a retry of the failed node.
result<void> prepare(self_ptr self, node_services* node) {
  auto& st = self->state;
  const auto& g = *st.start.workflow->graph;
  st.env = domain::make_env(st.start);
  std::uint64_t seed = runtime::stable_hash(st.start.execution_id);
  auto now = node->clock->wall_ms();
  if (st.start.checkpoint) {
    boost::system::error_code ec;
    auto v = json::parse(*st.start.checkpoint, ec);
    if (ec) return make_error(error_code::invalid, "checkpoint is not JSON");
    auto cp = runtime::checkpoint::from_json(v, g);
    if (!cp) return cp.err();
    st.cp = std::move(*cp);
    if (st.cp.in_flight != runtime::k_no_node && v.is_object())
      if (auto* step = v.as_object().if_contains("inFlightStep"); step && step->is_string())
        st.resumed_step_id = std::string(step->as_string());
    if (st.start.failed_node && st.cp.status == runtime::run_status::failed) {
      auto idx = g.find(*st.start.failed_node);
      if (!idx) return make_error(error_code::invalid, "the failed node is no longer in the graph");
      st.cp.status = runtime::run_status::running;
      st.cp.failure.clear();
      st.cp.frontier = {runtime::pending_node{*idx, now, 1}};
    }
    return {};
  }
  std::optional<runtime::node_index> trigger;
  if (st.start.trigger_node) trigger = g.find(*st.start.trigger_node);
  if (!trigger) trigger = g.find_trigger();
  if (!trigger) return make_error(error_code::invalid, "the workflow has no enabled trigger");
  st.cp = runtime::start(g, *trigger, st.start.lead, st.start.trigger_data, seed, now);
  return {};
}

caf::behavior run_behavior(self_ptr self, node_services* node, std::chrono::milliseconds ttl);

}  // namespace

caf::behavior run_actor(self_ptr self, node_services* node, domain::run_start start, std::optional<redis::claimed> claim,
                        caf::actor owner) {
  self->state.start = std::move(start);
  self->state.claim = std::move(claim);
  self->state.owner = std::move(owner);
  auto me = caf::actor_cast<caf::actor>(self);
  auto ttl = node->options.lock_ttl;
  if (node->ownership) {
    // Only the shard's owner runs it, under the epoch it holds now.
    self->state.epoch = node->ownership->working_epoch_of(domain::shard_of(self->state.start.workspace->info.id));
    if (self->state.epoch == 0) {
      spdlog::debug("run {}: this node does not hold its shard", self->state.start.execution_id);
      self->send(self, lock_atom::value, result<std::optional<redis::lease>>(std::nullopt));
      return run_behavior(self, node, ttl);
    }
  }
  node->store->acquire_lock(lock_name(self->state.start.execution_id, self->state.epoch),
                            node->node_id + ":" + std::to_string(self->id()), ttl,
                            [me](result<std::optional<redis::lease>> r) { caf::anon_send(me, lock_atom::value, std::move(r)); });
  return run_behavior(self, node, ttl);
}

namespace {

caf::behavior run_behavior(self_ptr self, node_services* node, std::chrono::milliseconds ttl) {
  auto me = caf::actor_cast<caf::actor>(self);
  return {
      [=](lock_atom, result<std::optional<redis::lease>>& r) {
        auto& st = self->state;
        spdlog::debug("run {}: lock {}", st.start.execution_id, r.ok() ? (*r ? "taken" : "held elsewhere") : r.err().message);
        if (!r.ok() || !*r) {
          // Held by another run (or Redis is away): leave the claim for a later attempt.
          if (!r.ok()) spdlog::warn("run {}: lock unavailable: {}", st.start.execution_id, r.err().message);
          return finish(self, node, false);
        }
        st.lease = **r;
        if (st.handing_off) return finish(self, node, true);  // not started: the shard's new owner adopts it
        self->delayed_send(self, ttl / 3, renew_atom::value);
        using es = domain::execution_status;
        if (st.start.status != es::queued && st.start.status != es::running && st.start.status != es::paused)
          return finish(self, node, true);  // already finished or cancelled
        if (auto p = prepare(self, node); !p) {
          spdlog::error("run {}: cannot continue: {}", st.start.execution_id, p.err().message);
          st.cp.status = runtime::run_status::failed;
          st.cp.failure = p.err().message;
          return end_run(self, node, true);
        }
        auto now = node->clock->wall_ms();
        st.pending.started_at = domain::sql_timestamp(now);
        st.pending.lock_acquired_at = st.pending.started_at;
        st.pending.status = domain::execution_status::running;
        advance(self, node);
      },
      [=](continue_atom) { advance(self, node); },
      [=](handoff_atom) { self->state.handing_off = true; },
      [=](retry_atom) {
        auto retry = std::move(self->state.retry_record);
        self->state.retry_record = nullptr;
        if (retry) retry();
      },
      [=](action_atom, result<json::value>& r) { on_action_result(self, node, r); },
      [=](grant_atom, result<domain::email_send_grant>& g) { on_email_grant(self, node, g); },
      [=](renew_atom) {
        auto& st = self->state;
        if (st.finished || !st.lease) return;
        node->store->renew_lock(*st.lease, ttl, [me](result<bool> r) { caf::anon_send(me, renew_atom::value, r.ok() && *r); });
        self->delayed_send(self, ttl / 3, renew_atom::value);
      },
      [=](renew_atom, bool still_held) {
        if (!still_held && !self->state.finished) {
          // Another node took the execution over; its fencing token outranks ours.
          spdlog::warn("run {}: lost its lock; stopping", self->state.start.execution_id);
          self->state.lease.reset();
          finish(self, node, false);
        }
      },
  };
}

}  // namespace

}  // namespace flowtrack::actors
