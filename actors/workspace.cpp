#include "actors/workspace.hpp"

#include <boost/json.hpp>
#include <openssl/crypto.h>
#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/reply.hpp"
#include "actors/run_steps.hpp"
#include "runtime/graph.hpp"
#include "storage/executions.hpp"
#include "storage/redis/counter.hpp"
#include "storage/redis/delay_queue.hpp"
#include "storage/runs.hpp"
#include "storage/workflows.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::actors {
namespace json = boost::json;
namespace {

using self_ptr = caf::stateful_actor<workspace_state>*;
using version_atom = caf::atom_constant<caf::atom("version")>;

caf::actor writer_of(caf::local_actor* self) { return self->system().registry().get<caf::actor>(k_writer_name); }

std::optional<runtime::node_type> trigger_type_for(trigger_kind k) {
  switch (k) {
    case trigger_kind::form: return runtime::node_type::trigger_form;
    case trigger_kind::email: return runtime::node_type::trigger_email;
    case trigger_kind::webhook: return runtime::node_type::trigger_webhook;
    case trigger_kind::manual: return runtime::node_type::trigger_manual;
    case trigger_kind::schedule: return runtime::node_type::trigger_schedule;
  }
  return std::nullopt;
}

// Runs on a pool thread: the workspace, its zone and its compiled workflows.
result<workspace_load> load_workspace(pg::connection& c, const node_services* node, const std::string& id) {
  auto ws = storage::find_workspace(c, id);
  if (!ws) return ws.err();
  auto snapshot = std::make_shared<workspace_snapshot>();
  snapshot->info = std::move(*ws);
  if (node->zones) {
    auto zone = node->zones->get(snapshot->info.timezone);
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

void start_load(self_ptr self, node_services* node) {
  if (self->state.loading) return;
  self->state.loading = true;
  auto me = caf::actor_cast<caf::actor>(self);
  std::string id = self->state.workspace_id;
  node->postgres->submit([node, id](pg::connection& c) { return load_workspace(c, node, id); },
                         [me](result<workspace_load> r) { caf::anon_send(me, loaded_atom::value, std::move(r)); },
                         /*retry_safe=*/true);
}

// Runs `work` now when loaded, else after the load; a failed load hands it the error instead.
void when_loaded(self_ptr self, node_services* node, std::function<void(const error*)> work) {
  if (self->state.loaded) return work(nullptr);
  self->state.waiting.push_back(std::move(work));
  start_load(self, node);
}

void spawn_run(self_ptr self, node_services* node, run_start start) {
  ++self->state.runs_spawned;
  // Tracked, not linked: with thousands of runs in flight, CAF's per-link bookkeeping (a linear
  // list per actor) made every run's exit O(runs). A run says when it ends; a shutdown of the
  // workspace ends the runs it still tracks. A crashed run's lock expires and the scheduler
  // adopts it from its last checkpoint.
  auto run = self->spawn(run_actor, node, std::move(start), caf::actor_cast<caf::actor>(self));
  self->state.runs.emplace(run.id(), std::move(run));
}

using ingest_done = std::function<void(ingest_reply)>;

// Counts what became of a trigger: accepted, or rejected with the error's code as the reason.
void count_trigger(trigger_kind k, const ingest_reply& r) {
  if (r.ok()) count_trigger_accepted(k);
  else count_trigger_rejected(k, to_string(r.err().code));
}

void handle_trigger(self_ptr self, node_services* node, trigger_request req, ingest_done done, bool reloaded = false) {
  auto& st = self->state;
  auto it = st.current.find(req.workflow_id);
  if (it == st.current.end()) {
    if (!reloaded) {
      // A workflow made since this actor loaded: look again once.
      st.loaded = false;
      return when_loaded(self, node, [=, req = std::move(req)](const error* failed) mutable {
        if (failed) return done(ingest_reply(*failed));
        handle_trigger(self, node, std::move(req), done, true);
      });
    }
    return done(ingest_reply(make_error(error_code::not_found, "no workflow " + req.workflow_id + " in this workspace", "workflow")));
  }
  auto wf = it->second;
  if (req.intake.kind == trigger_kind::webhook) {
    // Compared in constant time over the hashes, so timing says nothing about the token.
    const auto& want = wf->record.webhook_token_hash;
    std::string got = req.token ? storage::token_hash(*req.token) : std::string();
    if (!want || !req.token || want->size() != got.size() || CRYPTO_memcmp(want->data(), got.data(), got.size()) != 0)
      return done(ingest_reply(make_error(error_code::unauthorized,
                                                "missing or wrong X-FlowTrack-Token for this workflow", "X-FlowTrack-Token")));
  }
  if (wf->status != "active")
    return done(ingest_reply(make_error(
        error_code::invalid, "workflow '" + wf->name + "' is " + wf->status + " and takes no new triggers", "status")));
  auto type = trigger_type_for(req.intake.kind);
  auto trigger = wf->graph->find_trigger(type);
  if (!trigger && req.intake.kind == trigger_kind::manual) trigger = wf->graph->find_trigger();
  if (!trigger)
    return done(ingest_reply(make_error(error_code::invalid,
                                              "workflow '" + wf->name + "' has no " + std::string(runtime::to_string(*type)) +
                                                  " trigger",
                                              "trigger")));
  std::string trigger_id = wf->graph->at(*trigger).id;
  std::optional<std::string> trigger_uuid;
  if (auto n = wf->node_ids.find(trigger_id); n != wf->node_ids.end()) trigger_uuid = n->second;
  auto record = make_trigger(st.workspace->info, wf->record, *wf->form, req.intake, trigger_uuid);
  if (!record) return done(ingest_reply(record.err()));

  // The run as it starts when the submission creates the lead. When it needs no I/O it is taken
  // to its end now and written with the trigger, in the same transaction.
  run_start s;
  s.execution_id = record->execution_id;
  s.workflow = wf;
  s.workspace = st.workspace;
  s.lead_id = record->lead_id;
  if (auto l = runtime::lead_from_json(req.intake.lead); l) s.lead = std::move(*l);
  s.lead.id = record->lead_id;
  s.trigger_data = req.intake.trigger_data.is_null() ? req.intake.lead : req.intake.trigger_data;
  s.execution_status = "queued";
  s.trigger_node = trigger_id;
  s.created_at_ms = node->now_ms();
  if (node->options.settle_at_intake) record->settled = settle(s, node->now_ms);
  std::string settled_status = record->settled ? record->settled->status : std::string();
  self->request(writer_of(self), node->options.request_timeout, ingest_atom::value, std::move(*record))
      .then(
          [=, s = std::move(s)](ingest_reply& r) mutable {
            if (r.ok() && r->settled) {
              count_execution(settled_status);
            } else if (r.ok() && r->execution_id && !r->duplicate) {
              if (r->lead_created) {
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
void refresh_if_stale(self_ptr self, node_services* node) {
  auto& st = self->state;
  if (st.loaded && std::chrono::steady_clock::now() - st.loaded_at > node->options.workflow_refresh) st.loaded = false;
}

// The workspace's active form workflows that `name` (a form slug or workflow id; empty: all)
// picks, by title.
std::vector<form_ref> find_forms(self_ptr self, const std::string& name) {
  std::vector<form_ref> out;
  for (const auto& [id, wf] : self->state.current) {
    if (wf->status != "active" || !wf->form || !wf->graph->find_trigger(runtime::node_type::trigger_form)) continue;
    if (name.empty() || name == id || name == wf->form->slug) out.push_back({self->state.workspace, wf});
  }
  std::sort(out.begin(), out.end(), [](const form_ref& a, const form_ref& b) { return a.workflow->form->title < b.workflow->form->title; });
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
  std::string client = rate_limit_client(ip, node->options.form_rate_limit_ipv6_prefix);
  bool queued = node->redis->try_submit([me, id, workflow_id, client, per_ip, per_form](redis::connection& c) {
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
                 count_trigger_rejected(trigger_kind::form, "rate_limited");
                 reply.retry_after = *wait;
                 return done(std::move(reply));
               }
               auto check = check_submission(*form.workflow->form, *req.submission);
               if (!check.errors.empty()) {
                 count_trigger_rejected(trigger_kind::form, "invalid");
                 reply.errors = std::move(check.errors);
                 return done(std::move(reply));
               }
               trigger_request tr;
               tr.workspace_id = self->state.workspace_id;
               tr.workflow_id = form.workflow->id;
               tr.intake.kind = trigger_kind::form;
               tr.intake.lead = std::move(check.lead);
               tr.intake.fields_checked = true;
               json::object meta{{"ip", req.client_ip}};
               if (!req.user_agent.empty()) meta["userAgent"] = req.user_agent;
               tr.intake.source_metadata = std::move(meta);
               handle_trigger(self, node, std::move(tr), [done, reply = std::move(reply)](ingest_reply r) mutable {
                 count_trigger(trigger_kind::form, r);
                 if (r.ok()) reply.accepted = std::move(*r);
                 else if (r.err().code == error_code::invalid && !r.err().subject.empty())
                   reply.errors.push_back({r.err().subject, r.err().message});  // e.g. a name too long for its column
                 else return done(r.err());
                 done(std::move(reply));
               });
             },
             [done] { done(make_error(error_code::unavailable, "the node is busy; try again shortly")); });
}

void spawn_resumed(self_ptr self, node_services* node, storage::execution_state e, std::shared_ptr<const workflow_snapshot> wf,
                   std::optional<redis::claimed> claim) {
  run_start s;
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
  s.execution_status = e.status;
  if (e.output_data) {
    auto out = json::parse(*e.output_data, ec);
    if (!ec && out.is_object())
      if (auto* f = out.as_object().if_contains("failedNode"); f && f->is_string()) s.failed_node = std::string(f->as_string());
  }
  if (e.trigger_node_id)
    for (const auto& [rf, uuid] : s.workflow->node_ids)
      if (uuid == *e.trigger_node_id) s.trigger_node = rf;
  s.created_at_ms = e.created_at_ms;
  s.claim = std::move(claim);
  spawn_run(self, node, std::move(s));
}

}  // namespace

result<std::shared_ptr<const workflow_snapshot>> make_snapshot(storage::workflow_record record) {
  auto graph = runtime::import_react_flow(std::string_view(record.graph));
  if (!graph) return graph.err();
  auto compiled = runtime::compile(*graph);
  if (!compiled.ok()) return make_error(error_code::invalid, "the stored graph does not compile", "graph");
  auto s = std::make_shared<workflow_snapshot>();
  s->id = record.id;
  s->name = record.name;
  s->version = record.version;
  s->status = record.status;
  s->settings = record.settings;
  s->graph = compiled.graph;
  s->node_ids = record.node_ids;
  for (const auto& f : record.fields) s->field_ids[f.field_key] = f.id;
  s->form = make_form_spec(record);
  for (const auto& p : s->form->problems) spdlog::warn("workflow {}: form rule ignored: {}", record.id, p);
  s->record = std::move(record);
  return std::shared_ptr<const workflow_snapshot>(std::move(s));
}

caf::behavior workspace_actor(self_ptr self, node_services* node, std::string workspace_id, caf::actor_addr parent) {
  self->state.workspace_id = std::move(workspace_id);
  auto me = caf::actor_cast<caf::actor>(self);
  self->set_exit_handler([=](caf::exit_msg& m) {
    if (m.source != parent) return;
    for (auto& [id, run] : self->state.runs) self->send_exit(run, m.reason);
    self->state.runs.clear();
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
      [=](rated_atom, std::uint64_t id, std::int64_t wait_ms) {
        auto it = self->state.rate_checks.find(id);
        if (it == self->state.rate_checks.end()) return;
        auto next = std::move(it->second);
        self->state.rate_checks.erase(it);
        next(wait_ms < 0 ? std::nullopt : std::optional<std::chrono::milliseconds>(wait_ms));
      },
      [=](resume_atom, resume_request& req) {
        when_loaded(self, node, [=, req = std::move(req)](const error* failed) mutable {
          if (failed) return;  // the queue entry comes back after its visibility timeout
          std::string id = req.execution_id;
          auto claim = req.claim;
          node->postgres->submit([id](pg::connection& c) { return storage::load_execution(c, id); },
                                 [me, claim](result<storage::execution_state> r) {
                                   caf::anon_send(me, loaded_atom::value, std::move(r), claim);
                                 },
                                 true);
        });
      },
      [=](loaded_atom, result<storage::execution_state>& r, std::optional<redis::claimed>& claim) {
        spdlog::debug("workspace {}: execution loaded: {}", self->state.workspace_id, r.ok() ? r->id + " " + r->status : r.err().message);
        if (!r.ok()) {
          spdlog::warn("workspace {}: cannot resume: {}", self->state.workspace_id, r.err().message);
          if (r.err().code == error_code::not_found && claim)  // nothing to resume: drop the entry
            node->redis->submit([c = *claim](redis::connection& conn) { (void)redis::delay_queue(conn, storage::k_execution_queue).ack(c); });
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
        node->postgres->submit(
            [ws, wf, version](pg::connection& c) -> result<std::shared_ptr<const workflow_snapshot>> {
              auto rec = storage::load_workflow(c, ws, wf, version == 0 ? std::nullopt : std::optional<int>(version));
              if (!rec) return rec.err();
              return make_snapshot(std::move(*rec));
            },
            [me, e = std::move(e), claim](result<std::shared_ptr<const workflow_snapshot>> s) mutable {
              caf::anon_send(me, version_atom::value, std::move(s), std::move(e), std::move(claim));
            },
            true);
      },
      [=](version_atom, result<std::shared_ptr<const workflow_snapshot>>& s, storage::execution_state& e,
          std::optional<redis::claimed>& claim) {
        if (!s.ok()) {
          if (s.err().transient()) return;  // the queue entry comes back after its visibility timeout
          // The version is gone or no longer compiles: the execution cannot run; say why, once.
          spdlog::error("execution {}: its workflow version cannot be loaded: {}", e.id, s.err().message);
          std::string id = e.id, reason = "the workflow version cannot be loaded: " + s.err().message;
          node->postgres->submit([id, reason](pg::connection& c) { return storage::fail_execution(c, id, reason); },
                                 [node, claim](result<bool>) {
                                   if (claim)
                                     node->redis->submit([c = *claim](redis::connection& r) {
                                       (void)redis::delay_queue(r, storage::k_execution_queue).ack(c);
                                     });
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
        for (const auto& [id, s] : st.current) st.versions[{id, s->version}] = s;
        st.loaded = true;
        st.loaded_at = std::chrono::steady_clock::now();
        auto waiting = std::move(st.waiting);
        st.waiting.clear();
        for (auto& w : waiting) w(nullptr);
      },
      [=](reload_atom) {
        self->state.loaded = false;
        start_load(self, node);
      },
      [=](done_atom, caf::actor_id run) { self->state.runs.erase(run); },
      caf::after(node->options.workspace_idle) >> [=] { self->quit(); },
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
  // Finds which workspace `key` ("workflow:<id>", "slug:<slug>") belongs to, once for all who ask
  // meanwhile; found ones are remembered (a workflow or slug never moves to another workspace).
  auto resolve = [=](const std::string& key, std::function<result<std::string>(pg::connection&)> lookup,
                     std::function<void(result<std::string>)> then) {
    if (auto it = self->state.known_workspaces.find(key); it != self->state.known_workspaces.end()) return then(it->second);
    auto& waiting = self->state.resolving[key];
    waiting.push_back(std::move(then));
    if (waiting.size() > 1) return;
    node->postgres->submit(std::move(lookup),
                           [me, key](result<std::string> ws) { caf::anon_send(me, loaded_atom::value, key, std::move(ws)); },
                           true);
  };
  auto lookup_slug = [](std::string slug) {
    return [slug](pg::connection& c) -> result<std::string> {
      auto ws = storage::find_workspace(c, slug);
      if (!ws) return ws.err();
      if (!ws->is_active) return make_error(error_code::not_found, "workspace " + slug + " is not active", "slug");
      return ws->id;
    };
  };
  return {
      [=](trigger_atom, trigger_request& req) -> caf::result<ingest_reply> {
        if (req.workspace_id.empty())
          if (auto it = self->state.known_workspaces.find("workflow:" + req.workflow_id); it != self->state.known_workspaces.end())
            req.workspace_id = it->second;
        if (!req.workspace_id.empty()) {
          self->delegate(get(req.workspace_id), trigger_atom::value, std::move(req));
          return caf::delegated<ingest_reply>{};
        }
        // Only the workflow is known (a webhook): find its workspace, remember it, forward.
        auto rp = self->make_response_promise<ingest_reply>();
        std::string wf = req.workflow_id;
        resolve("workflow:" + wf, [wf](pg::connection& c) { return storage::workspace_of_workflow(c, wf); },
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
        resolve("slug:" + slug, lookup_slug(slug),
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
        if (req.workspace_id.empty())
          if (auto it = self->state.known_workspaces.find("workflow:" + req.workflow_id); it != self->state.known_workspaces.end())
            req.workspace_id = it->second;
        if (!req.workspace_id.empty()) return self->send(get(req.workspace_id), trigger_atom::value, std::move(req), std::move(to));
        std::string wf = req.workflow_id;
        resolve("workflow:" + wf, [wf](pg::connection& c) { return storage::workspace_of_workflow(c, wf); },
                [=, req = std::move(req)](result<std::string> ws) mutable {
                  if (!ws.ok()) return to->deliver(ingest_reply(ws.err()));
                  req.workspace_id = *ws;
                  self->send(get(req.workspace_id), trigger_atom::value, std::move(req), to);
                });
      },
      [=](form_atom, form_request& req, form_reply_to& to) {
        std::string slug = req.slug;
        resolve("slug:" + slug, lookup_slug(slug), [=, req = std::move(req)](result<std::string> ws) mutable {
          if (!ws.ok()) return to->deliver(form_result(ws.err()));
          self->send(get(*ws), form_atom::value, std::move(req), to);
        });
      },
      [=](loaded_atom, const std::string& key, result<std::string>& ws) {
        auto waiting = std::move(self->state.resolving[key]);
        self->state.resolving.erase(key);
        if (ws.ok()) self->state.known_workspaces[key] = *ws;
        for (auto& w : waiting) w(ws);
      },
      [=](resume_atom, resume_request& req) {
        if (!req.workspace_id.empty()) return self->send(get(req.workspace_id), resume_atom::value, std::move(req));
        std::string id = req.execution_id;
        node->postgres->submit(
            [id](pg::connection& c) { return storage::workspace_of_execution(c, id); },
            [me, req = std::move(req)](result<std::string> ws) mutable {
              if (!ws.ok()) {
                if (ws.err().code == error_code::not_found) spdlog::warn("queue names unknown execution {}", req.execution_id);
                return;
              }
              req.workspace_id = *ws;
              caf::anon_send(me, resume_atom::value, std::move(req));
            },
            true);
      },
      [=](reload_atom, const std::string& workspace_id) {
        if (auto it = self->state.workspaces.find(workspace_id); it != self->state.workspaces.end())
          self->send(it->second, reload_atom::value);
      },
  };
}

}  // namespace flowtrack::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowtrack::result<std::string>)
