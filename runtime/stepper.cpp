// The execution state machine.
#include "runtime/stepper.hpp"

#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "runtime/text.hpp"

namespace flowtrack::runtime {

namespace json = boost::json;

std::string_view to_string(run_status s) {
  switch (s) {
    case run_status::running: return "running";
    case run_status::completed: return "completed";
    case run_status::failed: return "failed";
  }
  return "running";
}

namespace {

bool test_bit(const std::vector<std::uint64_t>& bits, node_index i) { return (bits[i >> 6] >> (i & 63)) & 1u; }
void set_bit(std::vector<std::uint64_t>& bits, node_index i) { bits[i >> 6] |= std::uint64_t{1} << (i & 63); }

// Follows the outgoing edges of `from` (all handles when handle < 0) whose conditions hold.
std::uint32_t follow(const compiled_graph& g, checkpoint& cp, const eval_context& ctx, node_index from, int handle,
                     std::int64_t ready_at) {
  std::uint32_t n = 0;
  for (const auto& e : g.out_edges(from)) {
    if (handle >= 0 && e.handle != handle) continue;
    if (e.condition && !e.condition->evaluate(ctx)) continue;
    if (test_bit(cp.visited, e.target)) continue;
    set_bit(cp.visited, e.target);
    cp.frontier.push_back(pending_node{e.target, ready_at, 1});
    ++n;
  }
  return n;
}

void render(const text_template& t, std::string& out, const eval_context& ctx, escape_mode mode,
            action_request& req) {
  out.clear();
  t.render_to(out, ctx, mode, &req.unknown_variables);
}

void render_action(const compiled_graph::node& n, const eval_context& ctx, action_request& req) {
  req.to.clear();
  req.subject.clear();
  req.text_body.clear();
  req.html_body.clear();
  req.from_name.clear();
  req.reply_to.clear();
  req.key.clear();
  req.value.clear();
  req.payload.clear();
  req.delta = 0;
  req.unknown_variables.clear();
  switch (n.type) {
    case node_type::action_send_email:
    case node_type::action_notify_owner: {
      const auto& c = std::get<email_config>(n.config);
      if (n.type == node_type::action_notify_owner) req.to = ctx.env.owner_email;
      else if (c.to.empty()) req.to = ctx.subject.email;
      else render(c.to, req.to, ctx, escape_mode::none, req);
      render(c.subject, req.subject, ctx, escape_mode::none, req);
      render(c.text_body, req.text_body, ctx, escape_mode::none, req);
      render(c.html_body, req.html_body, ctx, escape_mode::html, req);
      render(c.from_name, req.from_name, ctx, escape_mode::none, req);
      render(c.reply_to, req.reply_to, ctx, escape_mode::none, req);
      break;
    }
    case node_type::action_update_status:
    case node_type::action_add_tag:
    case node_type::action_remove_tag:
    case node_type::action_assign:
    case node_type::action_set_field: {
      const auto& c = std::get<value_config>(n.config);
      req.key = c.key;
      render(c.value, req.value, ctx, escape_mode::none, req);
      std::string_view v = trim(req.value);
      if (v.size() != req.value.size()) req.value = std::string(v);
      break;
    }
    case node_type::action_update_score: req.delta = std::get<score_config>(n.config).delta; break;
    case node_type::action_send_webhook: {
      const auto& c = std::get<webhook_config>(n.config);
      req.value = c.endpoint_id;
      if (c.payload) {
        render(*c.payload, req.payload, ctx, escape_mode::json, req);
      } else {
        json::object body{{"event", "workflow.step"},
                          {"executionId", ctx.env.execution_id},
                          {"workflowId", ctx.env.workflow_id},
                          {"nodeId", n.id},
                          {"lead", lead_to_json(ctx.subject)}};
        req.payload = json::serialize(body);
      }
      break;
    }
    default: break;
  }
}

constexpr bool is_branching(node_type t) {
  return t == node_type::logic_condition || t == node_type::logic_split || t == node_type::logic_end;
}

}  // namespace

std::optional<lead_patch> action_request::patch() const {
  switch (type) {
    case node_type::action_update_status: return lead_patch{lead_patch::kind::set_status, {}, value, 0};
    case node_type::action_add_tag: return lead_patch{lead_patch::kind::add_tag, {}, value, 0};
    case node_type::action_remove_tag: return lead_patch{lead_patch::kind::remove_tag, {}, value, 0};
    case node_type::action_set_field: return lead_patch{lead_patch::kind::set_field, key, value, 0};
    case node_type::action_update_score: return lead_patch{lead_patch::kind::add_score, {}, {}, delta};
    case node_type::action_assign: return lead_patch{lead_patch::kind::assign, {}, value, 0};
    default: return std::nullopt;
  }
}

json::object action_request::to_json() const {
  json::object o;
  switch (type) {
    case node_type::action_send_email:
    case node_type::action_notify_owner:
      o["to"] = to;
      o["subject"] = subject;
      if (!text_body.empty()) o["text"] = text_body;
      if (!html_body.empty()) o["html"] = html_body;
      if (!from_name.empty()) o["fromName"] = from_name;
      if (!reply_to.empty()) o["replyTo"] = reply_to;
      break;
    case node_type::action_update_status: o["status"] = value; break;
    case node_type::action_add_tag:
    case node_type::action_remove_tag: o["tag"] = value; break;
    case node_type::action_set_field: o["fieldKey"] = key; o["value"] = value; break;
    case node_type::action_update_score: o["delta"] = delta; break;
    case node_type::action_assign: o["userId"] = value; break;
    case node_type::action_send_webhook: {
      o["endpointId"] = value;
      boost::system::error_code ec;
      json::value body = json::parse(payload, ec);
      if (ec) {
        o["payload"] = payload;
        o["payloadError"] = "the rendered payload is not valid JSON: " + ec.message();
      } else {
        o["payload"] = std::move(body);
      }
      break;
    }
    default: break;
  }
  o["idempotencyKey"] = idempotency_key;
  if (!unknown_variables.empty()) {
    json::array u;
    for (const auto& v : unknown_variables) u.emplace_back(v);
    o["unknownVariables"] = std::move(u);
  }
  return o;
}

json::object step_output(const compiled_graph& g, const decision& d) {
  json::object o;
  if (d.node == k_no_node) return o;
  const auto& n = g.at(d.node);
  if (d.status == step_status::skipped) {
    o["skipped"] = d.skip_reason != nullptr ? d.skip_reason : "node is disabled";
    return o;
  }
  switch (n.type) {
    case node_type::logic_condition:
      o["result"] = d.condition_result;
      o["handle"] = n.handles[static_cast<std::size_t>(d.branch)];
      break;
    case node_type::logic_split: o["handle"] = n.handles[static_cast<std::size_t>(d.branch)]; break;
    case node_type::logic_delay:
    case node_type::logic_wait_until: o["resumeAt"] = format_iso8601_utc(d.resume_at_ms); break;
    default: break;
  }
  o["followed"] = d.followed;
  return o;
}

std::int64_t delay_until(const delay_config& c, std::int64_t now_ms, const time_zone& zone) {
  std::int64_t t = now_ms;
  if (c.days > 0) {
    const std::int64_t s = now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000;
    const std::int64_t ms = now_ms - s * 1000;
    const zone_offset before = zone.offset_at(s);
    civil_time local = zone.to_local(s);
    const civil_time date = civil_from_days(days_from_civil(local.year, local.month, local.day) + c.days);
    local.year = date.year;
    local.month = date.month;
    local.day = date.day;
    // In a repeated hour keep the side of the change the run started on.
    const std::int64_t first = zone.from_local(local, false);
    const std::int64_t second = zone.from_local(local, true);
    const std::int64_t chosen = first != second && zone.offset_at(second).is_dst == before.is_dst ? second : first;
    t = chosen * 1000 + ms;
  }
  return t + c.hours * 3600000 + c.minutes * 60000;
}

std::int64_t wait_until(const wait_config& c, std::int64_t now_ms, const time_zone& zone) {
  if (!c.until.empty()) {
    std::int64_t at = now_ms;
    if (c.until_utc_ms) at = *c.until_utc_ms;
    else if (auto parsed = parse_iso8601(c.until, &zone)) at = *parsed;
    return std::max(at, now_ms);
  }
  if (c.weekdays == 0) return now_ms;
  const std::int64_t now_s = now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000;
  const civil_time local = zone.to_local(now_s);
  const std::int64_t today = days_from_civil(local.year, local.month, local.day);
  for (std::int64_t d = 0; d <= 8; ++d) {
    const std::int64_t day = today + d;
    if (!((c.weekdays >> weekday_from_days(day)) & 1u)) continue;
    civil_time start = civil_from_days(day);
    start.hour = c.start_hour;
    civil_time end = civil_from_days(c.end_hour == 24 ? day + 1 : day);
    end.hour = c.end_hour == 24 ? 0 : c.end_hour;
    const std::int64_t start_ms = zone.from_local(start) * 1000;
    const std::int64_t end_ms = zone.from_local(end) * 1000;
    if (now_ms < start_ms) return start_ms;
    if (now_ms < end_ms) return now_ms;
  }
  return now_ms;  // unreachable with a non-empty weekday set
}

std::optional<std::int64_t> next_fire_ms(const compiled_graph& g, node_index trigger, std::int64_t after_ms,
                                         const time_zone& workspace_zone) {
  if (trigger >= g.size()) return std::nullopt;
  const auto* c = std::get_if<schedule_config>(&g.at(trigger).config);
  if (!c) return std::nullopt;
  const std::int64_t after_s = after_ms >= 0 ? after_ms / 1000 : (after_ms - 999) / 1000;
  const auto next = c->cron.next_after(after_s, c->zone ? *c->zone : workspace_zone);
  if (!next) return std::nullopt;
  return *next * 1000;
}

std::size_t split_branch(const split_config& c, const lead& subject, std::string_view node_id) {
  if (c.cumulative.empty()) return 0;
  std::uint64_t h = stable_hash(node_id);
  h = stable_hash("\x1f", h);
  h = stable_hash(subject.identity(), h);
  const auto bucket = static_cast<std::uint32_t>(mix64(h) % 100);
  for (std::size_t i = 0; i < c.cumulative.size(); ++i) {
    if (bucket < c.cumulative[i]) return i;
  }
  return c.cumulative.size() - 1;
}

checkpoint start(const compiled_graph& g, node_index trigger, lead subject, json::value trigger_data,
                 std::uint64_t seed, std::int64_t now_ms) {
  checkpoint cp;
  cp.visited.assign((g.size() + 63) / 64, 0);
  cp.seed = seed;
  cp.subject = std::move(subject);
  cp.trigger = std::move(trigger_data);
  if (trigger < g.size()) {
    set_bit(cp.visited, trigger);
    cp.frontier.push_back(pending_node{trigger, now_ms, 1});
  }
  return cp;
}

decision next(const compiled_graph& g, checkpoint& cp, const run_env& env, std::int64_t now_ms,
              action_request& request) {
  decision d;
  if (cp.status == run_status::completed) return d;
  if (cp.status == run_status::failed) {
    d.kind = decision_kind::fail;
    return d;
  }
  const eval_context ctx{cp.subject, cp.trigger, env, now_ms};
  auto execute = [&](node_index idx, std::uint32_t attempt) {
    const auto& n = g.at(idx);
    request.node = idx;
    request.type = n.type;
    request.node_id = n.id;
    request.idempotency_key = idempotency_key(env.execution_id, n.id);
    request.attempt = attempt;
    request.timeout_ms = n.timeout_ms;
    render_action(n, ctx, request);
    cp.in_flight = idx;
    cp.in_flight_attempt = attempt;
    cp.in_flight_patch = request.patch();
    d.kind = decision_kind::execute;
    d.node = idx;
    return d;
  };
  if (cp.in_flight != k_no_node) return execute(cp.in_flight, cp.in_flight_attempt);

  if (cp.frontier.empty()) {
    cp.status = run_status::completed;
    return d;
  }
  std::size_t pick = 0;
  for (std::size_t i = 1; i < cp.frontier.size(); ++i) {
    if (cp.frontier[i].ready_at_ms < cp.frontier[pick].ready_at_ms) pick = i;
  }
  if (cp.frontier[pick].ready_at_ms > now_ms) {
    d.kind = decision_kind::park;
    d.resume_at_ms = cp.frontier[pick].ready_at_ms;
    return d;
  }
  const pending_node p = cp.frontier[pick];
  cp.frontier.erase(cp.frontier.begin() + static_cast<std::ptrdiff_t>(pick));
  if (++cp.steps > k_max_steps) {
    cp.status = run_status::failed;
    cp.failure = "the execution exceeded " + std::to_string(k_max_steps) + " steps";
    cp.frontier.clear();
    d.kind = decision_kind::fail;
    return d;
  }
  const auto& n = g.at(p.node);
  d.kind = decision_kind::evaluated;
  d.node = p.node;
  if (!n.enabled) {
    d.status = step_status::skipped;
    if (!is_branching(n.type)) d.followed = follow(g, cp, ctx, p.node, -1, now_ms);
    return d;
  }
  switch (category_of(n.type)) {
    case node_category::trigger: d.followed = follow(g, cp, ctx, p.node, -1, now_ms); return d;
    case node_category::action:
      // An unsubscribed lead gets no further email from the workspace; the path goes on.
      if (n.type == node_type::action_send_email && cp.subject.unsubscribed) {
        d.status = step_status::skipped;
        d.skip_reason = "the lead unsubscribed from emails";
        d.followed = follow(g, cp, ctx, p.node, -1, now_ms);
        return d;
      }
      return execute(p.node, p.attempt);
    case node_category::logic: break;
  }
  const time_zone& zone = env.zone ? *env.zone : *time_zone::utc();
  switch (n.type) {
    case node_type::logic_delay:
      d.resume_at_ms = delay_until(std::get<delay_config>(n.config), now_ms, zone);
      d.followed = follow(g, cp, ctx, p.node, -1, d.resume_at_ms);
      break;
    case node_type::logic_wait_until:
      d.resume_at_ms = wait_until(std::get<wait_config>(n.config), now_ms, zone);
      d.followed = follow(g, cp, ctx, p.node, -1, d.resume_at_ms);
      break;
    case node_type::logic_condition: {
      const auto& c = std::get<condition_config>(n.config);
      d.condition_result = c.test.evaluate(ctx);
      d.branch = d.condition_result ? 0 : 1;
      d.followed = follow(g, cp, ctx, p.node, d.branch, now_ms);
      break;
    }
    case node_type::logic_split:
      d.branch = static_cast<int>(split_branch(std::get<split_config>(n.config), cp.subject, n.id));
      d.followed = follow(g, cp, ctx, p.node, d.branch, now_ms);
      break;
    default: break;  // LOGIC_END: this path stops
  }
  return d;
}

report_outcome report(const compiled_graph& g, checkpoint& cp, const run_env& env, const action_result& result,
                      std::int64_t now_ms) {
  if (cp.in_flight == k_no_node || cp.status != run_status::running) return report_outcome::nothing_in_flight;
  const node_index idx = cp.in_flight;
  const std::uint32_t attempt = cp.in_flight_attempt;
  cp.in_flight = k_no_node;
  cp.in_flight_attempt = 0;
  if (result.ok) {
    if (cp.in_flight_patch) apply(cp.subject, *cp.in_flight_patch);
    cp.in_flight_patch.reset();
    const eval_context ctx{cp.subject, cp.trigger, env, now_ms};
    follow(g, cp, ctx, idx, -1, now_ms);
    return report_outcome::completed;
  }
  cp.in_flight_patch.reset();
  const auto& n = g.at(idx);
  if (result.retryable() && attempt < n.retry.max_attempts) {
    const std::int64_t wait = n.retry.backoff_ms(attempt + 1, cp.seed ^ stable_hash(n.id));
    cp.frontier.push_back(pending_node{idx, now_ms + wait, attempt + 1});
    return report_outcome::retry_scheduled;
  }
  cp.status = run_status::failed;
  cp.failure = "node '" + n.id + "' (" + std::string(to_string(n.type)) + ") failed after " + std::to_string(attempt) +
               (attempt == 1 ? " attempt: " : " attempts: ") + result.failure.message;
  cp.frontier.clear();
  return report_outcome::failed;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint JSON

json::object checkpoint::to_json(const compiled_graph& g) const {
  json::object o;
  o["version"] = 1;
  o["status"] = runtime::to_string(status);
  json::array f;
  for (const auto& p : frontier) {
    f.emplace_back(json::object{{"node", g.at(p.node).id}, {"readyAt", p.ready_at_ms}, {"attempt", p.attempt}});
  }
  o["frontier"] = std::move(f);
  json::array v;
  for (node_index i = 0; i < g.size(); ++i) {
    if (i / 64 < visited.size() && test_bit(visited, i)) v.emplace_back(g.at(i).id);
  }
  o["visited"] = std::move(v);
  o["steps"] = steps;
  if (in_flight != k_no_node) {
    o["inFlight"] = json::object{{"node", g.at(in_flight).id}, {"attempt", in_flight_attempt}};
  }
  o["seed"] = std::to_string(seed);  // as text: JSON numbers lose 64-bit precision in many readers
  if (!failure.empty()) o["failure"] = failure;
  o["lead"] = lead_to_json(subject);
  o["trigger"] = trigger;
  return o;
}

result<checkpoint> checkpoint::from_json(const json::value& v, const compiled_graph& g) {
  auto bad = [](const std::string& what) { return make_error(error_code::invalid, "bad checkpoint: " + what, "checkpoint"); };
  const json::object* o = v.if_object();
  if (!o) return bad("not an object");
  checkpoint cp;
  cp.visited.assign((g.size() + 63) / 64, 0);
  auto node_of = [&](const json::value* id) -> std::optional<node_index> {
    if (!id || !id->is_string()) return std::nullopt;
    return g.find(id->get_string());
  };
  auto integer = [](const json::value* x) -> std::optional<std::int64_t> {
    if (!x) return std::nullopt;
    if (x->is_int64()) return x->get_int64();
    if (x->is_uint64()) return static_cast<std::int64_t>(x->get_uint64());
    return std::nullopt;
  };
  const json::value* st = o->if_contains("status");
  if (!st || !st->is_string()) return bad("missing status");
  if (st->get_string() == "running") cp.status = run_status::running;
  else if (st->get_string() == "completed") cp.status = run_status::completed;
  else if (st->get_string() == "failed") cp.status = run_status::failed;
  else return bad("unknown status");
  if (const json::value* f = o->if_contains("frontier"); f && f->is_array()) {
    for (const auto& e : f->get_array()) {
      const json::object* eo = e.if_object();
      if (!eo) return bad("frontier entry is not an object");
      const auto n = node_of(eo->if_contains("node"));
      const auto at = integer(eo->if_contains("readyAt"));
      const auto attempt = integer(eo->if_contains("attempt"));
      if (!n || !at || !attempt || *attempt < 1) return bad("frontier entry names an unknown node or lacks readyAt");
      cp.frontier.push_back(pending_node{*n, *at, static_cast<std::uint32_t>(*attempt)});
    }
  }
  if (const json::value* vs = o->if_contains("visited"); vs && vs->is_array()) {
    for (const auto& e : vs->get_array()) {
      const auto n = node_of(&e);
      if (!n) return bad("visited names an unknown node");
      set_bit(cp.visited, *n);
    }
  }
  cp.steps = static_cast<std::uint32_t>(integer(o->if_contains("steps")).value_or(0));
  if (const json::value* f = o->if_contains("inFlight"); f && f->is_object()) {
    const auto n = node_of(f->get_object().if_contains("node"));
    if (!n) return bad("inFlight names an unknown node");
    cp.in_flight = *n;
    cp.in_flight_attempt = static_cast<std::uint32_t>(integer(f->get_object().if_contains("attempt")).value_or(1));
  }
  if (const json::value* s = o->if_contains("seed"); s && s->is_string()) {
    cp.seed = std::strtoull(std::string(s->get_string()).c_str(), nullptr, 10);
  }
  if (const json::value* f = o->if_contains("failure"); f && f->is_string()) cp.failure = std::string(f->get_string());
  const json::value* l = o->if_contains("lead");
  if (!l) return bad("missing lead");
  auto ld = lead_from_json(*l);
  if (!ld) return bad(ld.err().message);
  cp.subject = std::move(*ld);
  if (const json::value* t = o->if_contains("trigger")) cp.trigger = *t;
  return cp;
}

}  // namespace flowtrack::runtime
