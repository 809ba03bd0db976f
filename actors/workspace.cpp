#include "actors/workspace.hpp"

#include <set>

#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <caf/actor_clock.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster.hpp"
#include "actors/counters.hpp"
#include "actors/reply.hpp"
#include "actors/webhooks.hpp"
#include "domain/run_steps.hpp"
#include "domain/shard_ring.hpp"
#include "runtime/graph.hpp"
#include "runtime/text.hpp"
#include "storage/runs.hpp"
#include "storage/workflows.hpp"
#include "storage/workspaces.hpp"
#include "metrics/metrics.hpp"

namespace flowtrack::actors {
namespace json = boost::json;
namespace {

using self_ptr = caf::stateful_actor<workspace_state>*;
using version_atom = caf::atom_constant<caf::atom("version")>;

using lookup_atom = caf::atom_constant<caf::atom("lookup")>;
using polled_atom = caf::atom_constant<caf::atom("polled")>;

/// Compiled workflow versions a workspace actor keeps (current ones and those runs resumed).
constexpr std::size_t k_max_versions = 256;

/// Look-up batches are at least this far apart.
constexpr auto k_lookup_spacing = std::chrono::milliseconds(2);

caf::actor writer_of(caf::local_actor* self) { return self->system().registry().get<caf::actor>(k_writer_name); }

// Workflow ids are compared in their canonical (lower-case) form.
std::string canonical_id(std::string id) {
  for (auto& c : id)
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  return id;
}

void start_load(self_ptr self, node_services* node) {
  static auto& loads = metrics::global().counters("flowtrack_workspace_loads_total",
                                                  "Loads of a workspace with its workflows by its workspace actor.");
  if (self->state.loading) return;
  self->state.loading = true;
  loads.at({}).add();
  auto me = caf::actor_cast<caf::actor>(self);
  node->store->load_workspace(self->state.workspace_id,
                              [me](result<workspace_load> r) { caf::anon_send(me, loaded_atom::value, std::move(r)); });
}

// Runs `work` now when loaded, else after the load; a failed load hands it the error instead.
void when_loaded(self_ptr self, node_services* node, std::function<void(const error*)> work) {
  if (self->state.loaded) return work(nullptr);
  self->state.waiting.push_back(std::move(work));
  start_load(self, node);
}

// Executions run on the node holding their workspace's shard (always, for a single node).
bool owns(const node_services* node, const std::string& workspace_id) {
  return !node->ownership || node->ownership->working_epoch_of(domain::shard_of(workspace_id)) != 0;
}

// Answers the hand-offs waiting once nothing of the workspace is in flight any more.
void maybe_handed_off(self_ptr self) {
  auto& st = self->state;
  if (st.handoffs.empty() || !st.runs.empty() || st.endpoints_handing > 0) return;
  for (auto& rp : st.handoffs) rp.deliver(true);
  st.handoffs.clear();
}

// Hands an execution to the owner of its shard through this node's member actor. When no owner
// can be reached it is not lost: the execution is durable, and the owner adopts it when its
// epoch begins (or recovery finds it stale); a claim left unacked comes back by itself.
void hand_to_owner(caf::local_actor* self, resume_request req) {
  static auto& handed = metrics::global().counters("flowtrack_cluster_resumes_handed_total",
                                                   "Executions this node handed to the owner of their shard.");
  auto member = self->system().registry().get<caf::actor>(k_member_name);
  if (!member) {
    spdlog::debug("execution {}: not this node's shard and no member to hand it to", req.execution_id);
    return;
  }
  handed.at({}).add();
  caf::anon_send(member, resume_atom::value, std::move(req));  // anonymous: the member's answer is for peers
}

void spawn_run(self_ptr self, node_services* node, domain::run_start start,
               std::optional<redis::claimed> claim = std::nullopt) {
  ++self->state.runs_spawned;
  // Tracked, not linked: with thousands of runs in flight, CAF's per-link bookkeeping (a linear
  // list per actor) made every run's exit O(runs). A run says when it ends; a shutdown of the
  // workspace ends the runs it still tracks. A crashed run's lock expires and the scheduler
  // adopts it from its last checkpoint.
  auto run = self->spawn(run_actor, node, std::move(start), std::move(claim), caf::actor_cast<caf::actor>(self));
  self->state.runs.emplace(run.id(), std::move(run));
}

using ingest_done = std::function<void(ingest_reply)>;

// Counts what became of a trigger: accepted, or rejected with the error's code as the reason.
void count_trigger(domain::trigger_kind k, const ingest_reply& r) {
  if (r.ok()) count_trigger_accepted(k);
  else count_trigger_rejected(k, to_string(r.err().code));
}

void handle_trigger(self_ptr self, node_services* node, trigger_request req, ingest_done done) {
  auto& st = self->state;
  // No reload for an id this actor does not know: new workflows arrive through the tenant poll
  // (or the registry's hint after it found the id in the database), so random ids cost nothing.
  auto it = st.current.find(req.workflow_id);
  if (it == st.current.end())
    return done(ingest_reply(make_error(error_code::not_found, "no workflow with this id", "workflow")));
  auto wf = it->second;
  if (req.intake.kind == domain::trigger_kind::webhook) {
    // Compared in constant time over the hashes, so timing says nothing about the token.
    const auto& want = wf->record.webhook_token_hash;
    std::string got = req.token ? storage::token_hash(*req.token) : std::string();
    if (!want || !req.token || want->size() != got.size() || CRYPTO_memcmp(want->data(), got.data(), got.size()) != 0)
      return done(ingest_reply(make_error(error_code::unauthorized,
                                                "missing or wrong X-FlowTrack-Token for this workflow", "X-FlowTrack-Token")));
  }
  // Only now, past the token, is the body parsed.
  if (auto parsed = domain::parse_raw_lead(req.intake); !parsed) return done(ingest_reply(parsed.err()));
  auto admitted = domain::admit_trigger(st.workspace->info, wf->record, *wf->graph, *wf->form, req.intake);
  if (!admitted) return done(ingest_reply(admitted.err()));
  std::string trigger_id = admitted->trigger_node;
  auto record = std::optional<domain::trigger_record>(std::move(admitted->record));

  // The run as it starts when the submission creates the lead. When it needs no I/O it is taken
  // to its end now and written with the trigger, in the same transaction.
  domain::run_start s;
  s.execution_id = record->execution_id;
  s.workflow = wf;
  s.workspace = st.workspace;
  s.lead_id = record->lead_id;
  if (auto l = runtime::lead_from_json(req.intake.lead); l) s.lead = std::move(*l);
  s.lead.id = record->lead_id;
  s.trigger_data = req.intake.trigger_data.is_null() ? req.intake.lead : req.intake.trigger_data;
  s.trigger_node = trigger_id;
  s.created_at_ms = node->clock->wall_ms();
  if (node->options.settle_at_intake) record->settled = domain::settle(s, *node->clock, observe_step);
  auto settled_status = record->settled ? record->settled->status : domain::execution_status::queued;
  if (!record->settled && !owns(node, st.workspace->info.id)) {
    // Another node works the shard: the trigger goes to it (its writer commits it in its group
    // commit, its engine runs it), or, when it cannot take it, is committed here and the
    // execution handed over (the member actor decides). A run settled above needs no owner.
    if (auto member = self->system().registry().get<caf::actor>(k_member_name)) {
      self->request(member, node->options.request_timeout, forward_atom::value, std::move(*record))
          .then([=](ingest_reply& r) mutable { done(std::move(r)); },
                [=](caf::error& e) mutable {
                  done(ingest_reply(make_error(error_code::unavailable, "the cluster member did not answer: " + to_string(e))));
                });
      return;
    }
  }
  self->request(writer_of(self), node->options.request_timeout, ingest_atom::value, std::move(*record))
      .then(
          [=, s = std::move(s)](ingest_reply& r) mutable {
            if (r.ok() && r->settled) {
              count_execution(settled_status);
            } else if (r.ok() && r->execution_id && !r->duplicate) {
              if (!owns(node, s.workspace->info.id)) {
                // Taken here (insert-only); run by the shard's owner.
                hand_to_owner(self, resume_request{s.workspace->info.id, *r->execution_id, std::nullopt});
              } else if (r->lead_created) {
                spawn_run(self, node, std::move(s));
              } else {
                // The lead existed: its stored state (status, tags, score) is what the run reads.
                self->send(self, resume_atom::value, resume_request{s.workspace->info.id, *r->execution_id, std::nullopt});
              }
            }
            done(std::move(r));
          },
          [=](caf::error& e) mutable {
            done(ingest_reply(make_error(error_code::unavailable, "the storage writer did not answer: " + to_string(e))));
          });
}

// Workflows change outside this node (paused, new versions): read them again when stale.
// Keeps a mail that cannot become a lead and tells the owner (once per message); the sender gets
// 250 once it is kept. Answers from an I/O thread.
void keep_unparsed(self_ptr self, node_services* node, domain::unparsed_mail mail, mail_reply reply,
                   std::function<void(mail_result)> answer) {
  auto ws = self->state.workspace;
  std::string reason = mail.reason, sender = mail.envelope_from, channel = mail.channel;
  std::size_t size = mail.raw.size();
  node->store->keep_unparsed_mail(ws->info.id, std::move(mail), [=](result<storage::kept_mail> r) {
    if (!r) return answer(mail_result(r.err()));
    answer(mail_result(std::move(reply)));
    spdlog::info("workspace {}: kept unreadable mail {} ({} bytes): {}", ws->info.id, r->id, size, reason);
    if (r->owner_notified) return;
    if (node->mailer == nullptr || ws->info.owner_email.empty()) {
      spdlog::warn("workspace {}: no mailer to tell the owner about unreadable mail {}", ws->info.id, r->id);
      return;
    }
    email_message m;
    m.idempotency_key = "unparsed:" + r->id;  // a resend of the notice is recognisable as one
    m.workspace_id = ws->info.id;
    m.from_name = "FlowTrack";
    m.to = ws->info.owner_email;
    m.subject = "A message to your intake address could not be read";
    m.text_body = "A message sent to the intake address of your workspace \"" + ws->info.name +
                  "\" could not be turned into a lead:\n\n  " + reason + "\n\nSender (envelope): " +
                  (sender.empty() ? "(none given)" : sender) + "\nReceived over: " + channel +
                  "\nSize: " + std::to_string(size) + " bytes\n\nThe sender was told it was received. The message is kept, " +
                  "as it arrived, for 30 days under the id " + r->id +
                  " (flowtrackd mail unparsed " + ws->info.slug + " lists it; flowtrackd mail raw " + ws->info.slug + " " +
                  r->id + " prints it).\n";
    auto id = r->id;
    node->mailer->send(std::move(m), [node, ws_id = ws->info.id, id](result<std::string> sent) {
      if (!sent) return spdlog::warn("workspace {}: cannot tell the owner about unreadable mail {}: {}", ws_id, id, sent.err().message);
      node->store->mark_unparsed_mail_notified(ws_id, id);
    });
  });
}

void refresh_if_stale(self_ptr self, node_services* node) {
  auto& st = self->state;
  if (st.loaded && self->system().clock().now() - st.loaded_at > node->options.workflow_refresh) st.loaded = false;
}

// The workspace's active form workflows that `name` (a form slug or workflow id; empty: all)
// picks, by title.
std::vector<form_ref> find_forms(self_ptr self, const std::string& form_name) {
  std::vector<form_ref> out;
  const std::string name = runtime::is_uuid(form_name) ? canonical_id(form_name) : form_name;
  for (const auto& [id, wf] : self->state.current) {
    if (wf->record.status != domain::workflow_status::active || !wf->form ||
        !wf->graph->find_trigger(runtime::node_type::trigger_form))
      continue;
    if (name.empty() || name == id || name == wf->form->slug) out.push_back({self->state.workspace, wf});
  }
  std::sort(out.begin(), out.end(), [](const form_ref& a, const form_ref& b) { return a.workflow->form->title < b.workflow->form->title; });
  return out;
}

// The workspace's active email workflows that `tag` (a workflow id or form slug; empty: all)
// picks, in id order.
std::vector<std::string> find_email_workflows(self_ptr self, const std::string& tag) {
  std::vector<std::string> out;
  const auto& st = self->state;
  if (!st.workspace || !st.workspace->info.is_active) return out;
  const std::string name = canonical_id(tag);
  for (const auto& [id, wf] : st.current) {
    if (wf->record.status != domain::workflow_status::active || !wf->graph->find_trigger(runtime::node_type::trigger_email))
      continue;
    if (name.empty() || name == id || (wf->form && runtime::iequals(wf->form->slug, tag))) out.push_back(id);
  }
  return out;
}

using form_done = std::function<void(form_result)>;

// Counts a form submission against the per-IP and per-form windows in Redis, then calls `next`
// with how long to wait (nullopt: go ahead). When Redis cannot answer, the submission goes ahead:
// losing a lead is worse than a minute without a rate limit. When too many checks wait for
// Redis already, `refused` is called at once instead (the node is overloaded: 503).
void check_rate(self_ptr self, node_services* node, const std::string& workflow_id, const std::string& ip,
                std::function<void(std::optional<std::chrono::milliseconds>)> next, std::function<void()> refused) {
  const int per_ip = node->options.form_rate_limit, per_form = node->options.form_rate_limit_per_form;
  if (per_ip <= 0) return next(std::nullopt);
  std::uint64_t id = ++self->state.rate_check_seq;
  self->state.rate_checks.emplace(id, std::move(next));
  auto me = caf::actor_cast<caf::actor>(self);
  std::string client = domain::rate_limit_client(ip, node->options.form_rate_limit_ipv6_prefix);
  bool queued = node->store->count_form_submission(
      workflow_id, client, per_ip, per_form, [me, id](std::optional<std::chrono::milliseconds> wait) {
        caf::anon_send(me, rated_atom::value, id, static_cast<std::int64_t>(wait ? wait->count() : -1));
      });
  if (!queued) {
    self->state.rate_checks.erase(id);
    refused();
  }
}

// A public form: shown, or a submission checked (rate, fields) and handed to the trigger path.
void handle_form(self_ptr self, node_services* node, form_request req, form_done done) {
  form_reply reply;
  if (!self->state.workspace->info.is_active)
    return done(make_error(error_code::not_found, "this workspace takes no submissions", "workspace"));
  reply.forms = find_forms(self, req.form);
  if (reply.forms.empty())
    return done(make_error(error_code::not_found,
                           req.form.empty() ? "this workspace has no active form" : "no active form '" + req.form + "'", "form"));
  if (!req.submission) return done(std::move(reply));
  if (reply.forms.size() > 1)
    return done(make_error(error_code::not_found, "this workspace has several forms: submit to /p/" + req.slug + "/{form}", "form"));
  auto form = reply.forms.front();
  std::string ip = req.client_ip;  // not req.client_ip: the lambda below takes req first
  check_rate(self, node, form.workflow->id, ip,
             [=, req = std::move(req), reply = std::move(reply)](std::optional<std::chrono::milliseconds> wait) mutable {
               if (wait) {
                 count_trigger_rejected(domain::trigger_kind::form, "rate_limited");
                 reply.retry_after = *wait;
                 return done(std::move(reply));
               }
               auto check = domain::check_submission(*form.workflow->form, *req.submission);
               if (!check.errors.empty()) {
                 count_trigger_rejected(domain::trigger_kind::form, "invalid");
                 reply.errors = std::move(check.errors);
                 return done(std::move(reply));
               }
               trigger_request tr;
               tr.workspace_id = self->state.workspace_id;
               tr.workflow_id = form.workflow->id;
               tr.intake.kind = domain::trigger_kind::form;
               tr.intake.lead = std::move(check.lead);
               tr.intake.fields_checked = true;
               json::object meta{{"ip", req.client_ip}};
               if (!req.user_agent.empty()) meta["userAgent"] = req.user_agent;
               tr.intake.source_metadata = std::move(meta);
               handle_trigger(self, node, std::move(tr), [done, reply = std::move(reply)](ingest_reply r) mutable {
                 count_trigger(domain::trigger_kind::form, r);
                 if (r.ok()) reply.accepted = std::move(*r);
                 else if (r.err().code == error_code::invalid && !r.err().subject.empty())
                   reply.errors.push_back({r.err().subject, r.err().message});  // e.g. a name too long for its column
                 else return done(r.err());
                 done(std::move(reply));
               });
             },
             [done] { done(make_error(error_code::unavailable, "the node is busy; try again shortly")); });
}

void spawn_resumed(self_ptr self, node_services* node, storage::execution_state e, std::shared_ptr<const domain::workflow_snapshot> wf,
                   std::optional<redis::claimed> claim) {
  domain::run_start s;
  s.execution_id = e.id;
  s.workflow = std::move(wf);
  s.workspace = self->state.workspace;
  s.lead_id = e.lead_id;
  boost::system::error_code ec;
  auto lead_json = json::parse(e.lead_json, ec);
  if (!ec)
    if (auto l = runtime::lead_from_json(lead_json); l) s.lead = std::move(*l);
  if (e.trigger_data) s.trigger_data = json::parse(*e.trigger_data, ec);
  s.checkpoint = e.checkpoint;
  s.status = e.status;
  if (e.output_data) {
    auto out = json::parse(*e.output_data, ec);
    if (!ec && out.is_object())
      if (auto* f = out.as_object().if_contains("failedNode"); f && f->is_string()) s.failed_node = std::string(f->as_string());
  }
  if (e.trigger_node_id)
    for (const auto& [rf, uuid] : s.workflow->node_ids)
      if (uuid == *e.trigger_node_id) s.trigger_node = rf;
  s.created_at_ms = e.created_at_ms;
  spawn_run(self, node, std::move(s), std::move(claim));
}

}  // namespace

result<std::shared_ptr<const domain::workflow_snapshot>> make_snapshot(domain::workflow_record record) {
  auto graph = runtime::import_react_flow(std::string_view(record.graph));
  if (!graph) return graph.err();
  auto compiled = runtime::compile(*graph);
  if (!compiled.ok()) return make_error(error_code::invalid, "the stored graph does not compile", "graph");
  auto s = std::make_shared<domain::workflow_snapshot>();
  s->id = record.id;
  s->name = record.name;
  s->version = record.version;
  s->settings = record.settings;
  s->graph = compiled.graph;
  s->node_ids = record.node_ids;
  for (const auto& f : record.fields) s->field_ids[f.field_key] = f.id;
  s->form = domain::make_form_spec(record);
  for (const auto& p : s->form->problems) spdlog::warn("workflow {}: form rule ignored: {}", record.id, p);
  s->record = std::move(record);
  return std::shared_ptr<const domain::workflow_snapshot>(std::move(s));
}

caf::behavior workspace_actor(self_ptr self, node_services* node, std::string workspace_id, caf::actor_addr parent) {
  self->state.workspace_id = std::move(workspace_id);
  auto me = caf::actor_cast<caf::actor>(self);
  self->set_exit_handler([=](caf::exit_msg& m) {
    if (m.source != parent) return;
    for (auto& [id, run] : self->state.runs) self->send_exit(run, m.reason);
    self->state.runs.clear();
    for (auto& [id, endpoint] : self->state.endpoints) self->send_exit(endpoint, m.reason);
    self->state.endpoints.clear();
    self->quit(m.reason);
  });
  // A trigger or form request answered through `answer` (a response promise or an ingress
  // reply slot).
  auto take_trigger = [=](trigger_request req, std::function<void(ingest_reply)> answer) {
    refresh_if_stale(self, node);
    auto kind = req.intake.kind;
    ingest_done done = [answer = std::move(answer), kind](ingest_reply r) {
      count_trigger(kind, r);
      answer(std::move(r));
    };
    when_loaded(self, node, [=, req = std::move(req)](const error* failed) mutable {
      if (failed) return done(ingest_reply(*failed));
      handle_trigger(self, node, std::move(req), done);
    });
  };
  // A mail to the intake address: which email workflows it reaches, and with a mail, one trigger
  // for each of them, answered once all committed (or the first failure that is worth a retry).
  auto take_mail = [=](mail_request req, std::function<void(mail_result)> answer) {
    refresh_if_stale(self, node);
    when_loaded(self, node, [=, req = std::move(req)](const error* failed) mutable {
      if (failed) return answer(mail_result(*failed));
      mail_reply reply;
      const auto& ws = self->state.workspace;
      if (ws && ws->info.is_active && !domain::forwarder_allowed(ws->info, req.sender))
        return answer(mail_result(make_error(error_code::unauthorized, "this sender may not forward mail here", "sender")));
      reply.workflows = find_email_workflows(self, req.tag);
      if (reply.workflows.empty())
        return answer(mail_result(make_error(error_code::not_found,
                                             req.tag.empty() ? "this address takes no mail" : "no email workflow '" + req.tag + "' here",
                                             "recipient")));
      if (req.unparsed) return keep_unparsed(self, node, std::move(*req.unparsed), std::move(reply), std::move(answer));
      if (!req.intake) return answer(mail_result(std::move(reply)));
      struct join {
        mail_reply reply;
        std::size_t waiting = 0;
        std::optional<error> retry, refused;
        std::function<void(mail_result)> answer;
      };
      auto j = std::make_shared<join>();
      j->waiting = reply.workflows.size();
      j->answer = std::move(answer);
      j->reply.workflows = reply.workflows;
      for (const auto& wf : reply.workflows) {
        trigger_request t;
        t.workspace_id = self->state.workspace_id;
        t.workflow_id = wf;
        t.intake = *req.intake;
        take_trigger(std::move(t), [j](ingest_reply r) {
          if (r.ok()) j->reply.accepted.push_back(std::move(*r));
          else if (r.err().code == error_code::not_found || r.err().code == error_code::invalid ||
                   r.err().code == error_code::unauthorized)
            j->refused = r.err();
          else j->retry = r.err();
          if (--j->waiting > 0) return;
          // Accepted somewhere and nothing to retry: kept. A failure worth a retry wins, since the
          // workflows that took the mail see the resend as a duplicate of the same Message-ID.
          if (j->retry) return j->answer(mail_result(*j->retry));
          if (j->reply.accepted.empty() && j->refused) return j->answer(mail_result(*j->refused));
          j->answer(mail_result(std::move(j->reply)));
        });
      }
    });
  };
  auto take_form = [=](form_request req, std::function<void(form_result)> answer) {
    refresh_if_stale(self, node);
    when_loaded(self, node, [=, req = std::move(req)](const error* failed) mutable {
      if (failed) return answer(form_result(*failed));
      handle_form(self, node, std::move(req), answer);
    });
  };
  return {
      [=](trigger_atom, trigger_request& req) {
        auto rp = self->make_response_promise();
        take_trigger(std::move(req), [rp](ingest_reply r) mutable { rp.deliver(std::move(r)); });
      },
      [=](trigger_atom, trigger_request& req, ingest_reply_to& to) {
        take_trigger(std::move(req), [to](ingest_reply r) { to->deliver(std::move(r)); });
      },
      [=](form_atom, form_request& req) {
        auto rp = self->make_response_promise();
        take_form(std::move(req), [rp](form_result r) mutable { rp.deliver(std::move(r)); });
      },
      [=](form_atom, form_request& req, form_reply_to& to) {
        take_form(std::move(req), [to](form_result r) { to->deliver(std::move(r)); });
      },
      [=](mail_atom, mail_request& req, mail_reply_to& to) {
        take_mail(std::move(req), [to](mail_result r) { to->deliver(std::move(r)); });
      },
      [=](rated_atom, std::uint64_t id, std::int64_t wait_ms) {
        auto it = self->state.rate_checks.find(id);
        if (it == self->state.rate_checks.end()) return;
        auto next = std::move(it->second);
        self->state.rate_checks.erase(it);
        next(wait_ms < 0 ? std::nullopt : std::optional<std::chrono::milliseconds>(wait_ms));
      },
      [=](resume_atom, resume_request& req) {
        if (!owns(node, self->state.workspace_id)) {
          req.workspace_id = self->state.workspace_id;
          return hand_to_owner(self, std::move(req));
        }
        when_loaded(self, node, [=, req = std::move(req)](const error* failed) mutable {
          if (failed) return;  // the queue entry comes back after its visibility timeout
          std::string id = req.execution_id;
          auto claim = req.claim;
          node->store->load_execution(id, [me, claim](result<storage::execution_state> r) {
            caf::anon_send(me, loaded_atom::value, std::move(r), claim);
          });
        });
      },
      [=](loaded_atom, result<storage::execution_state>& r, std::optional<redis::claimed>& claim) {
        spdlog::debug("workspace {}: execution loaded: {}", self->state.workspace_id, r.ok() ? r->id + " " + std::string(to_string(r->status)) : r.err().message);
        if (!r.ok()) {
          spdlog::warn("workspace {}: cannot resume: {}", self->state.workspace_id, r.err().message);
          if (r.err().code == error_code::not_found && claim)  // nothing to resume: drop the entry
            node->store->release_run(std::nullopt, claim);
          return;
        }
        auto e = std::move(*r);
        int version = e.workflow_version.value_or(0);
        auto cur = self->state.current.find(e.workflow_id);
        if (cur != self->state.current.end() && (version == 0 || cur->second->version == version))
          return spawn_resumed(self, node, std::move(e), cur->second, std::move(claim));
        auto v = self->state.versions.find({e.workflow_id, version});
        if (v != self->state.versions.end()) return spawn_resumed(self, node, std::move(e), v->second, std::move(claim));
        // An older version (or a workflow this actor has not seen): load and compile it.
        std::string ws = self->state.workspace_id;
        std::string wf = e.workflow_id;
        node->store->load_workflow_version(
            ws, wf, version == 0 ? std::nullopt : std::optional<int>(version),
            [me, e = std::move(e), claim](result<std::shared_ptr<const domain::workflow_snapshot>> s) mutable {
              caf::anon_send(me, version_atom::value, std::move(s), std::move(e), std::move(claim));
            });
      },
      [=](version_atom, result<std::shared_ptr<const domain::workflow_snapshot>>& s, storage::execution_state& e,
          std::optional<redis::claimed>& claim) {
        if (!s.ok()) {
          if (s.err().transient()) return;  // the queue entry comes back after its visibility timeout
          // The version is gone or no longer compiles: the execution cannot run; say why, once.
          spdlog::error("execution {}: its workflow version cannot be loaded: {}", e.id, s.err().message);
          std::string id = e.id, reason = "the workflow version cannot be loaded: " + s.err().message;
          node->store->fail_execution(id, reason, [node, claim](result<bool>) {
            if (claim) node->store->release_run(std::nullopt, claim);
          });
          return;
        }
        self->state.versions[{(*s)->id, (*s)->version}] = *s;
        spawn_resumed(self, node, std::move(e), *s, std::move(claim));
      },
      [=](loaded_atom, result<workspace_load>& r) {
        auto& st = self->state;
        st.loading = false;
        if (!r.ok()) {
          spdlog::warn("workspace {}: cannot load: {}", st.workspace_id, r.err().message);
          auto err = r.err();
          auto waiting = std::move(st.waiting);
          st.waiting.clear();
          for (auto& w : waiting) w(&err);
          return self->quit();  // the next message for this workspace spawns a fresh actor
        }
        st.workspace = r->workspace;
        st.current = std::move(r->workflows);
        if (st.versions.size() > k_max_versions) st.versions.clear();  // bounded: older versions load again when needed
        for (const auto& [id, s] : st.current) st.versions[{id, s->version}] = s;
        st.loaded = true;
        st.loaded_at = self->system().clock().now();
        auto waiting = std::move(st.waiting);
        st.waiting.clear();
        for (auto& w : waiting) w(nullptr);
        // A new change arrived while this was read: what was read may predate it. The work that
        // waited went on with this state (younger than the change's report); read again for
        // what comes next.
        if (st.reload_after_load) {
          st.reload_after_load = false;
          st.loaded = false;
          start_load(self, node);
        }
      },
      [=](reload_atom) {
        self->state.loaded = false;
        start_load(self, node);
      },
      [=](tenant_atom, storage::tenant_change& ch) {
        auto& st = self->state;
        if (!st.loaded && !st.loading) return;  // the next load reads the change anyway
        auto key = (ch.what == storage::tenant_change::kind::workspace ? "w" : "f") + ch.id;
        auto seen = ch.fingerprint + (ch.usable ? "+" : "-");
        if (auto it = st.acted_on.find(key); it != st.acted_on.end() && it->second == seen) return;  // reported again
        if (st.acted_on.size() > 4096) st.acted_on.clear();  // bounded; at worst one extra load
        st.acted_on[key] = seen;
        bool stale = false;
        if (ch.what == storage::tenant_change::kind::workspace) {
          stale = !st.workspace || st.workspace->info.fingerprint != ch.fingerprint;
        } else if (auto it = st.current.find(ch.id); it == st.current.end()) {
          stale = ch.usable;  // a workflow this actor has not seen
        } else {
          stale = !ch.usable || (!ch.fingerprint.empty() && it->second->record.fingerprint != ch.fingerprint);
        }
        if (!stale) return;
        spdlog::debug("workspace {}: {} {} changed; reloading", st.workspace_id,
                      ch.what == storage::tenant_change::kind::workspace ? "workspace" : "workflow", ch.id);
        if (st.loading) {
          st.reload_after_load = true;
          return;
        }
        st.loaded = false;  // triggers wait for the new state
        start_load(self, node);
      },
      [=](done_atom, caf::actor_id run) {
        self->state.runs.erase(run);
        maybe_handed_off(self);
      },
      // The shard goes to another node: no run starts here any more (owns() says no); those in
      // flight stop at their next durable point, the endpoint actors finish their deliveries.
      [=](handoff_atom) -> caf::response_promise {
        auto& st = self->state;
        auto rp = self->make_response_promise();
        st.handoffs.push_back(rp);
        for (auto& [id, run] : st.runs) self->send(run, handoff_atom::value);
        for (auto& [id, endpoint] : st.endpoints) {
          ++st.endpoints_handing;
          self->request(endpoint, node->options.request_timeout, handoff_atom::value)
              .then(
                  [=](bool) {
                    --self->state.endpoints_handing;
                    maybe_handed_off(self);
                  },
                  [=](caf::error&) {
                    --self->state.endpoints_handing;
                    maybe_handed_off(self);
                  });
        }
        maybe_handed_off(self);
        return rp;
      },
      [=](webhook_atom, std::vector<storage::due_delivery>& batch) {
        when_loaded(self, node, [=, batch = std::move(batch)](const error* failed) mutable {
          // Without the workspace (gone, or PostgreSQL away) the claims lapse and come back.
          if (failed || !self->state.workspace) return;
          route_webhooks(self, node, self->state.endpoints, self->state.workspace_id, self->state.workspace->info.owner_email,
                         std::move(batch));
        });
      },
      [=](done_atom, const std::string& endpoint) { self->state.endpoints.erase(endpoint); },
      caf::after(node->options.workspace_idle) >> [=] {
        if (self->state.endpoints.empty()) self->quit();  // endpoint actors still at work keep it
      },
  };
}

caf::behavior workspace_registry(caf::stateful_actor<workspace_registry_state>* self, node_services* node) {
  // Workspace actors are linked: a shutdown reaches them; one that stopped or crashed is
  // forgotten, and the next message for its workspace starts a fresh one.
  self->set_exit_handler([=](caf::exit_msg& m) {
    auto& ws = self->state.workspaces;
    for (auto it = ws.begin(); it != ws.end(); ++it)
      if (it->second.address() == m.source) {
        if (m.reason && m.reason != caf::exit_reason::normal)
          spdlog::error("workspace actor {} crashed: {}", it->first, to_string(m.reason));
        ws.erase(it);
        return;
      }
    self->quit(m.reason);
  });
  auto get = [=](const std::string& id) {
    auto& ws = self->state.workspaces;
    auto it = ws.find(id);
    if (it != ws.end()) return it->second;
    auto a = self->spawn<caf::linked>(workspace_actor, node, id, self->address());
    ws.emplace(id, a);
    return a;
  };
  auto me = caf::actor_cast<caf::actor>(self);
  auto& st0 = self->state;
  st0.known_workspaces.emplace(node->options.tenant_cache_size, node->options.tenant_cache_ttl);
  st0.unknown_keys.emplace(node->options.tenant_cache_size, node->options.tenant_cache_ttl);
  static auto& queries = metrics::global().counters(
      "flowtrack_tenant_queries_total", "Statements the workspace registry ran: batched look-ups and tenant polls.", {"kind"});
  (void)queries.at({"lookup"});  // shown from the start, at 0
  (void)queries.at({"poll"});
  // Looks the pending keys up in one statement; one batch in flight, batches at least
  // k_lookup_spacing apart, so a flood of unknown ids costs a bounded number of statements.
  auto unknown_key = [](const std::string& key) {
    if (key.starts_with("slug:")) return make_error(error_code::not_found, "no active workspace with this slug", "slug");
    if (key.starts_with("intake:")) return make_error(error_code::not_found, "no active workspace with this intake address", "recipient");
    return make_error(error_code::not_found, "no workflow with this id", "workflow");
  };
  auto flush = [=] {
    auto& st = self->state;
    if (st.lookup_in_flight || st.pending_keys.empty()) return;
    auto now = self->system().clock().now();
    if (now - st.last_lookup < k_lookup_spacing) {
      if (!st.lookup_scheduled) {
        st.lookup_scheduled = true;
        self->delayed_send(self, k_lookup_spacing, lookup_atom::value);
      }
      return;
    }
    st.lookup_in_flight = true;
    st.last_lookup = now;
    std::vector<std::string> slugs, workflows, keys = std::move(st.pending_keys);
    st.pending_keys.clear();
    std::vector<std::string> intakes;
    for (const auto& k : keys) {
      auto value = k.substr(k.find(':') + 1);
      if (k.starts_with("slug:")) slugs.push_back(std::move(value));
      else if (k.starts_with("intake:")) intakes.push_back(std::move(value));
      else workflows.push_back(std::move(value));
    }
    queries.at({"lookup"}).add();
    node->store->find_tenants(std::move(slugs), std::move(workflows), std::move(intakes),
                              [me, keys](result<storage::tenant_lookup> r) {
                                caf::anon_send(me, loaded_atom::value, std::move(keys), std::move(r));
                              });
  };
  // Finds which workspace `key` ("workflow:<id>" with a canonical id, "slug:<slug>",
  // "intake:<intake_email_id>") belongs to:
  // from the caches, else in the next batch, once for all who ask meanwhile.
  auto resolve = [=](const std::string& key, std::function<void(result<std::string>)> then) {
    auto& st = self->state;
    auto now = self->system().clock().now();
    if (auto* ws = st.known_workspaces->find(key, now)) return then(*ws);
    if (st.unknown_keys->find(key, now)) return then(unknown_key(key));
    auto& waiting = st.resolving[key];
    waiting.push_back(std::move(then));
    if (waiting.size() > 1) return;
    st.pending_keys.push_back(key);
    flush();
  };
  self->send(self, tick_atom::value);  // the first tenant poll
  return {
      [=](trigger_atom, trigger_request& req) -> caf::result<ingest_reply> {
        req.workflow_id = canonical_id(std::move(req.workflow_id));
        if (!req.workspace_id.empty()) {
          self->delegate(get(req.workspace_id), trigger_atom::value, std::move(req));
          return caf::delegated<ingest_reply>{};
        }
        // Only the workflow is known (a webhook): find its workspace, remember it, forward.
        auto rp = self->make_response_promise<ingest_reply>();
        std::string wf = req.workflow_id;
        resolve("workflow:" + wf,
                [=, req = std::move(req)](result<std::string> ws) mutable {
                  if (!ws.ok()) {
                    rp.deliver(ingest_reply(ws.err()));
                    return;
                  }
                  req.workspace_id = *ws;
                  self->request(get(req.workspace_id), node->options.request_timeout, trigger_atom::value, std::move(req))
                      .then([rp](ingest_reply& r) mutable { rp.deliver(std::move(r)); },
                            [rp](caf::error& e) mutable { rp.deliver(ingest_reply(make_error(error_code::unavailable, to_string(e)))); });
                });
        return rp;
      },
      [=](form_atom, form_request& req) -> caf::result<form_result> {
        auto rp = self->make_response_promise<form_result>();
        std::string slug = req.slug;
        resolve("slug:" + slug,
                [=, req = std::move(req)](result<std::string> ws) mutable {
                  if (!ws.ok()) {
                    rp.deliver(form_result(ws.err()));
                    return;
                  }
                  self->request(get(*ws), node->options.request_timeout, form_atom::value, std::move(req))
                      .then([rp](form_result& r) mutable { rp.deliver(std::move(r)); },
                            [rp](caf::error& e) mutable { rp.deliver(form_result(make_error(error_code::unavailable, to_string(e)))); });
                });
        return rp;
      },
      // From ingress, with a reply slot: forwarded, and the workspace actor answers the slot.
      [=](trigger_atom, trigger_request& req, ingest_reply_to& to) {
        req.workflow_id = canonical_id(std::move(req.workflow_id));
        if (!req.workspace_id.empty()) return self->send(get(req.workspace_id), trigger_atom::value, std::move(req), std::move(to));
        std::string wf = req.workflow_id;
        resolve("workflow:" + wf,
                [=, req = std::move(req)](result<std::string> ws) mutable {
                  if (!ws.ok()) return to->deliver(ingest_reply(ws.err()));
                  req.workspace_id = *ws;
                  self->send(get(req.workspace_id), trigger_atom::value, std::move(req), to);
                });
      },
      [=](form_atom, form_request& req, form_reply_to& to) {
        std::string slug = req.slug;
        resolve("slug:" + slug, [=, req = std::move(req)](result<std::string> ws) mutable {
          if (!ws.ok()) return to->deliver(form_result(ws.err()));
          self->send(get(*ws), form_atom::value, std::move(req), to);
        });
      },
      [=](mail_atom, mail_request& req, mail_reply_to& to) {
        std::string id = req.intake_id;
        resolve("intake:" + id, [=, req = std::move(req)](result<std::string> ws) mutable {
          if (!ws.ok()) return to->deliver(mail_result(ws.err()));
          self->send(get(*ws), mail_atom::value, std::move(req), to);
        });
      },
      [=](loaded_atom, std::vector<std::string>& keys, result<storage::tenant_lookup>& r) {
        auto& st = self->state;
        st.lookup_in_flight = false;
        auto now = self->system().clock().now();
        for (const auto& key : keys) {
          result<std::string> ws = make_error(error_code::internal, "not looked up");
          if (!r.ok()) {
            ws = r.err();  // not remembered: the next request asks again
          } else if (key.starts_with("slug:") || key.starts_with("intake:")) {
            const auto& found = key.starts_with("slug:") ? r->slugs : r->intakes;
            auto it = found.find(key.substr(key.find(':') + 1));
            if (it != found.end() && it->second.second) {
              ws = it->second.first;
              st.known_workspaces->put(key, it->second.first, now);
            } else {
              ws = unknown_key(key);
              st.unknown_keys->put(key, true, now);
            }
          } else {
            auto it = r->workflows.find(key.substr(9));
            if (it != r->workflows.end()) {
              ws = it->second;
              st.known_workspaces->put(key, it->second, now);
              // The workflow exists: its workspace actor, if it runs, may have loaded before it
              // was made; the hint (sent before the trigger) makes it look again.
              if (auto a = st.workspaces.find(it->second); a != st.workspaces.end()) {
                storage::tenant_change hint;
                hint.what = storage::tenant_change::kind::workflow;
                hint.id = key.substr(9);
                hint.workspace_id = it->second;
                hint.usable = true;
                self->send(a->second, tenant_atom::value, std::move(hint));
              }
            } else {
              ws = unknown_key(key);
              st.unknown_keys->put(key, true, now);
            }
          }
          auto waiting = std::move(st.resolving[key]);
          st.resolving.erase(key);
          for (auto& w : waiting) w(ws);
        }
        flush();
      },
      [=](lookup_atom) {
        self->state.lookup_scheduled = false;
        flush();
      },
      [=](tick_atom) {
        self->delayed_send(self, node->options.tenant_poll_interval, tick_atom::value);
        auto& st = self->state;
        if (st.polling) return;
        st.polling = true;
        queries.at({"poll"}).add();
        std::string since = st.poll_since;
        node->store->poll_tenant_changes(std::move(since),
                                         [me](result<storage::tenant_changes> r) { caf::anon_send(me, polled_atom::value, std::move(r)); });
      },
      [=](polled_atom, result<storage::tenant_changes>& r) {
        auto& st = self->state;
        st.polling = false;
        if (!r.ok()) {
          spdlog::debug("tenant poll failed: {}", r.err().message);
          return;  // the next tick asks again from the same point
        }
        st.poll_since = r->next_since;
        for (auto& ch : r->changes) {
          if (ch.what == storage::tenant_change::kind::workspace) {
            // Forget what the slug (old or new) resolved to; the next request looks again.
            st.known_workspaces->erase_values_if([&](const std::string& ws) { return ws == ch.id; });
            st.unknown_keys->erase("slug:" + ch.slug);
            st.unknown_keys->erase("intake:" + ch.intake_id);
          } else if (ch.usable) {
            st.unknown_keys->erase("workflow:" + ch.id);
          } else {
            st.known_workspaces->erase("workflow:" + ch.id);
          }
          if (auto a = st.workspaces.find(ch.workspace_id); a != st.workspaces.end())
            self->send(a->second, tenant_atom::value, std::move(ch));
        }
      },
      [=](webhook_atom, std::string& workspace_id, std::vector<storage::due_delivery>& batch) {
        self->send(get(workspace_id), webhook_atom::value, std::move(batch));
      },
      [=](resume_atom, resume_request& req) {
        if (!req.workspace_id.empty() && !owns(node, req.workspace_id)) return hand_to_owner(self, std::move(req));
        if (!req.workspace_id.empty()) return self->send(get(req.workspace_id), resume_atom::value, std::move(req));
        std::string id = req.execution_id;
        node->store->workspace_of_execution(
            id, [me, req = std::move(req)](result<std::string> ws) mutable {
              if (!ws.ok()) {
                if (ws.err().code == error_code::not_found) spdlog::warn("queue names unknown execution {}", req.execution_id);
                return;
              }
              req.workspace_id = *ws;
              caf::anon_send(me, resume_atom::value, std::move(req));
            });
      },
      [=](reload_atom, const std::string& workspace_id) {
        if (auto it = self->state.workspaces.find(workspace_id); it != self->state.workspaces.end())
          self->send(it->second, reload_atom::value);
      },
      // This node began holding `shards` (the member actor, at a new epoch): their executions
      // that were queued or running (whoever ran them is fenced out now) or paused and due are
      // resumed here at once, rather than after the old holder's locks and claims run out.
      [=](adopt_atom, std::vector<std::int32_t>& shards) {
        std::vector<int> wanted(shards.begin(), shards.end());
        node->store->adopt_shards(std::move(wanted), 10000, [me](result<std::vector<storage::adoptable_execution>> r) {
          if (!r) return spdlog::warn("cluster: cannot read the executions of the shards begun: {}", r.err().message);
          if (!r->empty()) spdlog::info("cluster: adopting {} execution(s) of the shards begun", r->size());
          for (auto& e : *r) caf::anon_send(me, resume_atom::value, resume_request{std::move(e.workspace_id), std::move(e.id), std::nullopt});
        });
      },
      // This node hands `shards` to another (the member actor, before it releases their leases):
      // answered once the workspaces of those shards finished what they had in flight and the
      // webhook pump wrote the attempts made meanwhile.
      [=](handoff_atom, std::vector<std::int32_t>& shards) -> caf::response_promise {
        auto rp = self->make_response_promise();
        std::set<int> wanted(shards.begin(), shards.end());
        auto waiting = std::make_shared<std::size_t>(1);  // one for the loop below
        auto one_done = [=]() mutable {
          if (--*waiting > 0) return;
          auto pump = self->system().registry().get<caf::actor>(k_webhook_pump_name);
          if (!pump) return rp.deliver(true);
          self->request(pump, node->options.request_timeout, handoff_atom::value)
              .then([=](bool) mutable { rp.deliver(true); }, [=](caf::error&) mutable { rp.deliver(true); });
        };
        for (auto& [id, ws] : self->state.workspaces)
          if (wanted.count(domain::shard_of(id))) {
            ++*waiting;
            self->request(ws, node->options.request_timeout, handoff_atom::value)
                .then([=](bool) mutable { one_done(); }, [=](caf::error&) mutable { one_done(); });
          }
        one_done();
        return rp;
      },
  };
}

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<std::string>)
