// Workspace and member routes. Each is one job on the PostgreSQL pool (the scope check and the
// change on one connection); invitation emails, reserved against the workspace's email caps in
// the invitation's transaction, go out through the API's mailer after the commit.
#include "adapters/http/api/workspaces.hpp"

#include <algorithm>
#include <memory>

#include <spdlog/spdlog.h>

#include "adapters/http/api/scope.hpp"
#include "domain/email_caps.hpp"
#include "domain/workspace_rules.hpp"
#include "metrics/metrics.hpp"
#include "storage/accounts.hpp"
#include "storage/email_sends.hpp"
#include "storage/hash.hpp"
#include "storage/workspace_members.hpp"
#include "storage/workspaces.hpp"

namespace flowtrack::http::api {
namespace json = boost::json;
namespace {

using domain::action;

struct context {
  api_service& api;
  std::string mail_domain;
};
using ctx_ptr = std::shared_ptr<const context>;

void fail(const responder& reply, const api_error& e) { reply(error_response(e)); }

// A storage error of a workspace route: a workspace that vanished (deleted meanwhile) is the
// scope's 404; a missing member names userId; a caller whose account is gone is 401.
void fail(const responder& reply, const error& e) {
  if (e.code == error_code::internal) spdlog::error("workspaces: {}", e.message);
  if (e.code == error_code::not_found && e.subject == "user")
    return fail(reply, api_error::unauthorized("invalid_token", "the account of this token no longer exists"));
  if (e.code == error_code::not_found && e.subject != "userId" && e.subject != "token") return fail(reply, workspace_not_found());
  reply(error_response(from_error(e)));
}

bool finish(body_reader& b, const responder& reply) {
  if (auto p = b.finish()) {
    fail(reply, *p);
    return false;
  }
  return true;
}

bool plausible_email(std::string_view e) {
  auto at = e.find('@');
  if (e.size() > 254 || at == std::string_view::npos || at == 0 || at + 1 >= e.size() || e.find('@', at + 1) != std::string_view::npos)
    return false;
  return std::none_of(e.begin(), e.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == ','; });
}

// A security event: a row (security_events), a log line without secrets, a metric (the same
// family the accounts routes count in).
void audit(pg::connection& c, std::string_view kind, const scoped_call& sc, json::object detail) {
  static auto& events = metrics::global().counters("flowtrack_security_events_total",
                                                   "Security events of the accounts API (logins, refresh reuse, password and TOTP changes).",
                                                   {"kind"});
  events.at({std::string(kind)}).add();
  detail["workspaceId"] = sc.workspace_id;
  spdlog::info("security: {} user={} ip={} request={} {}", kind, sc.user_id(), sc.call.client_ip, sc.call.request_id,
               json::serialize(detail));
  if (auto r = storage::record_security_event(c, sc.user_id(), kind, sc.call.client_ip, sc.call.user_agent, detail); !r)
    spdlog::warn("security: cannot record {}: {}", kind, r.err().message);
}

std::string intake_email(const context& ctx, const storage::workspace_summary& w) {
  return "intake@" + w.intake_email_id + "." + ctx.mail_domain;
}

json::object workspace_json(const context& ctx, const storage::workspace_summary& w) {
  return json::object{{"id", w.id}, {"slug", w.slug}, {"name", w.name}, {"intakeEmail", intake_email(ctx, w)}, {"timezone", w.timezone}};
}

// One workspace as its page shows it: with the caller's role and the settings.
json::object workspace_detail(const context& ctx, const storage::workspace_summary& w, domain::role r) {
  auto o = workspace_json(ctx, w);
  o["role"] = domain::to_string(r);
  boost::system::error_code ec;
  auto settings = json::parse(w.settings, ec);
  o["settings"] = (!ec && settings.is_object()) ? settings : json::value(json::object{});
  return o;
}

json::object member_json(const storage::member_row& m) {
  json::object o{{"userId", m.user_id},
                 {"email", m.email},
                 {"firstName", m.first_name},
                 {"lastName", m.last_name},
                 {"role", domain::to_string(m.role)},
                 {"status", m.pending ? "pending" : "active"}};
  if (m.joined_at_ms) o["joinedAt"] = m.joined_at_ms;
  if (m.invited_at_ms) o["invitedAt"] = m.invited_at_ms;
  if (m.invited_by) o["invitedBy"] = *m.invited_by;
  if (m.pending) o["expiresAt"] = m.expires_at_ms;
  return o;
}

json::object list_of(json::array data) { return json::object{{"data", std::move(data)}, {"nextCursor", nullptr}}; }

template <class T>
using answer = std::variant<T, api_error>;

// ---- workspaces --------------------------------------------------------------------------------

void create(const ctx_ptr& ctx, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto name = b.string("name", true, 400);
  auto slug = b.string("slug", true, 200);
  auto timezone = b.string("timezone", false, 64);
  if (!finish(b, reply)) return;
  if (auto why = domain::check_workspace_name(*name)) return fail(reply, api_error::invalid("name", *why));
  if (auto why = domain::check_slug(*slug)) return fail(reply, api_error::invalid("slug", *why));
  ctx->api.db(
      [user = call.user->user_id, name = *name, slug = *slug, tz = timezone.value_or("UTC")](pg::connection& c) {
        return storage::create_workspace_for_user(c, user, name, slug, tz);
      },
      [ctx, reply](result<storage::workspace_summary> w) {
        if (!w) {
          if (w.err().code == error_code::conflict && w.err().subject == "slug")
            return fail(reply, api_error{bhttp::status::conflict, "slug_taken", "this slug is taken; choose another", "slug", 0});
          return fail(reply, w.err());
        }
        reply(json_reply(bhttp::status::created, workspace_json(*ctx, *w)));
      });
}

void list_mine(const ctx_ptr& ctx, api_call&& call, responder reply) {
  ctx->api.db([user = call.user->user_id](pg::connection& c) { return storage::workspaces_of_user(c, user); },
              [ctx, reply](result<std::vector<storage::user_workspace>> r) {
                if (!r) return fail(reply, r.err());
                json::array data;
                for (const auto& uw : *r) {
                  auto o = workspace_json(*ctx, uw.workspace);
                  o["role"] = domain::to_string(uw.role);
                  data.emplace_back(std::move(o));
                }
                reply(json_reply(bhttp::status::ok, list_of(std::move(data))));
              });
}

void get_one(const ctx_ptr& ctx, api_call&& call, responder reply) {
  in_workspace_db(
      ctx->api, std::move(call), std::move(reply), action::read,
      [](pg::connection& c, const scoped_call& sc) { return storage::workspace_summary_of(c, sc.workspace_id); },
      [ctx](scoped_call&& sc, result<storage::workspace_summary> w, responder reply) {
        if (!w) return fail(reply, w.err());
        reply(json_reply(bhttp::status::ok, workspace_detail(*ctx, *w, sc.role)));
      });
}

void patch_one(const ctx_ptr& ctx, api_call&& call, responder reply) {
  // `settings` is an object (a shallow merge); body_reader reads strings, so it is taken apart.
  std::optional<json::object> settings;
  json::object rest = call.body;
  if (auto* s = rest.if_contains("settings")) {
    if (!s->is_object()) return fail(reply, api_error::invalid("settings", "settings must be a JSON object"));
    settings = s->as_object();
    rest.erase("settings");
  }
  body_reader b(rest);
  auto name = b.string("name", false, 400);
  auto timezone = b.string("timezone", false, 64);
  if (!finish(b, reply)) return;
  if (name)
    if (auto why = domain::check_workspace_name(*name)) return fail(reply, api_error::invalid("name", *why));
  in_workspace_db(
      ctx->api, std::move(call), std::move(reply), action::manage_workspace,
      [name, timezone, settings](pg::connection& c, const scoped_call& sc) {
        return storage::update_workspace(c, sc.workspace_id, name, timezone, settings);
      },
      [ctx](scoped_call&& sc, result<storage::workspace_summary> w, responder reply) {
        if (!w) return fail(reply, w.err());
        reply(json_reply(bhttp::status::ok, workspace_detail(*ctx, *w, sc.role)));
      });
}

void delete_one(const ctx_ptr& ctx, api_call&& call, responder reply) {
  in_workspace_db(
      ctx->api, std::move(call), std::move(reply), action::delete_workspace,
      [](pg::connection& c, const scoped_call& sc) -> result<void> {
        auto r = storage::soft_delete_workspace(c, sc.workspace_id);
        if (r) audit(c, "workspace_deleted", sc, {});
        return r;
      },
      [](scoped_call&&, result<void> r, responder reply) {
        if (!r) return fail(reply, r.err());
        reply(no_content());
      });
}

// ---- members -----------------------------------------------------------------------------------

void list_members(const ctx_ptr& ctx, api_call&& call, responder reply) {
  in_workspace_db(
      ctx->api, std::move(call), std::move(reply), action::read,
      [](pg::connection& c, const scoped_call& sc) { return storage::list_members(c, sc.workspace_id); },
      [](scoped_call&&, result<std::vector<storage::member_row>> r, responder reply) {
        if (!r) return fail(reply, r.err());
        json::array data;
        for (const auto& m : *r) data.emplace_back(member_json(m));
        reply(json_reply(bhttp::status::ok, list_of(std::move(data))));
      });
}

std::optional<domain::role> role_field(body_reader& b, const responder& reply) {
  auto text = b.string("role", true, 32);
  if (!finish(b, reply)) return std::nullopt;
  auto r = domain::parse_role(*text);
  if (!r) fail(reply, api_error::invalid("role", "role must be one of viewer, member, admin (owner only by transfer-ownership)"));
  return r;
}

struct invited {
  storage::invitation inv;
  std::string workspace_name;
  std::string inviter_email;
};

void invite(const ctx_ptr& ctx, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto email = b.string("email", true, 254);
  if (b.problem()) return fail(reply, *b.problem());
  auto role = role_field(b, reply);
  if (!role) return;
  if (!plausible_email(*email)) return fail(reply, api_error::invalid("email", "email is not an email address"));
  auto token = random_token();
  in_workspace_db(
      ctx->api, std::move(call), std::move(reply), action::manage_members,
      [ctx, email = *email, role = *role, hash = storage::sha256_hex(token)](pg::connection& c,
                                                                             const scoped_call& sc) -> result<answer<invited>> {
        // The mail goes to someone outside the workspace, with its name in the subject: it is
        // reserved against the workspace's hourly email cap and email_sends quota like a
        // workflow's email, in the invitation's transaction (refused: no invitation, nothing counted).
        auto ws = storage::find_workspace(c, sc.workspace_id);
        if (!ws) return ws.err();
        auto limits = domain::email_limits_of(*ws);
        if (!limits.ignored_setting.empty()) spdlog::warn("workspace {}: {}", sc.workspace_id, limits.ignored_setting);
        std::optional<domain::email_send_grant> held_back;
        auto reserve = [&](pg::connection& tx, const storage::invitation& made) -> result<void> {
          auto g = storage::reserve_email_send(tx, {sc.workspace_id, "", "invitation:" + made.id, limits});
          if (!g) return g.err();
          if (g->outcome != domain::email_send_grant::verdict::wait) return {};
          held_back = *g;
          return make_error(error_code::quota_exceeded, "the hourly email cap is reached", std::string(domain::k_email_hourly_cap));
        };
        auto done = storage::invite_member(c, sc.workspace_id, sc.user_id(), email, role, hash,
                                           ctx->api.now_ms() + k_invitation_ttl_ms, reserve);
        if (!done && held_back) {
          int wait_s = static_cast<int>(std::max<std::int64_t>(1, (held_back->wait_ms + 999) / 1000));
          return answer<invited>(api_error{bhttp::status::too_many_requests, "email_cap_reached",
                                           "this workspace sent " + std::to_string(held_back->sent_last_hour) +
                                               " emails in the last hour, its email_hourly_cap; invite again in " +
                                               std::to_string(wait_s) + " s",
                                           {}, wait_s});
        }
        if (!done && done.err().code == error_code::quota_exceeded)
          return answer<invited>(api_error{bhttp::status::too_many_requests, "quota_exceeded", done.err().message,
                                           std::string(domain::k_email_sends), 3600});
        if (!done) return done.err();
        if (auto* no = std::get_if<domain::refusal>(&*done)) return answer<invited>(from_refusal(*no, "role"));
        invited out{std::get<storage::invitation>(std::move(*done)), {}, {}};
        if (auto w = storage::workspace_summary_of(c, sc.workspace_id)) out.workspace_name = w->name;
        if (auto u = storage::find_user_by_id(c, sc.user_id()); u && *u) out.inviter_email = (*u)->email;
        audit(c, "member_invited", sc, json::object{{"invitation", out.inv.id}, {"role", domain::to_string(role)}});
        return answer<invited>(std::move(out));
      },
      [ctx, token](scoped_call&&, result<answer<invited>> r, responder reply) {
        if (!r) return fail(reply, r.err());
        if (auto* e = std::get_if<api_error>(&*r)) return fail(reply, *e);
        const auto& i = std::get<invited>(*r);
        actors::email_message m;
        m.idempotency_key = "invitation-" + i.inv.id;
        m.from_name = "FlowTrack";
        m.to = i.inv.email;
        m.subject = "You are invited to " + i.workspace_name + " on FlowTrack";
        m.text_body = (i.inviter_email.empty() ? std::string("A member") : i.inviter_email) + " invited you to the workspace \"" +
                      i.workspace_name + "\" on FlowTrack as " + std::string(domain::to_string(i.inv.role)) +
                      ".\n\nSign in (or sign up with this email address), then open this link within 7 days:\n\n" +
                      ctx->api.options().public_base_url + "/accept-invitation?invitation=" + token +
                      "\n\nIf you did not expect this, ignore this email.\n";
        ctx->api.mail(std::move(m));
        reply(json_reply(bhttp::status::created, json::object{{"userId", i.inv.invitee_user_id},
                                                              {"email", i.inv.email},
                                                              {"role", domain::to_string(i.inv.role)},
                                                              {"status", "pending"},
                                                              {"invitationId", i.inv.id},
                                                              {"expiresAt", i.inv.expires_at_ms}}));
      });
}

void accept(const ctx_ptr& ctx, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto token = b.string("token", true, 256);
  if (!finish(b, reply)) return;
  ctx->api.db(
      [ctx, call = std::move(call), hash = storage::sha256_hex(*token)](pg::connection& c) -> result<answer<json::object>> {
        const auto& user = call.user->user_id;
        auto done = storage::accept_invitation(c, hash, user);
        if (!done) {
          if (done.err().code == error_code::not_found)
            return answer<json::object>(api_error{bhttp::status::bad_request, "invalid_token",
                                                  "this invitation is unknown, used, revoked or expired; ask for a new one", "token", 0});
          return done.err();
        }
        if (std::holds_alternative<domain::refusal>(*done))
          return answer<json::object>(api_error{bhttp::status::forbidden, "forbidden",
                                                "this invitation is for another email address: sign in as its invitee", {}, 0});
        const auto& a = std::get<storage::accepted_invitation>(*done);
        auto w = storage::workspace_summary_of(c, a.workspace_id);
        if (!w) return w.err();
        scoped_call sc{call, a.workspace_id, a.role};
        audit(c, "invitation_accepted", sc, json::object{{"role", domain::to_string(a.role)}});
        auto o = workspace_json(*ctx, *w);
        o["role"] = domain::to_string(a.role);
        return answer<json::object>(std::move(o));
      },
      [reply](result<answer<json::object>> r) {
        if (!r) return fail(reply, r.err());
        if (auto* e = std::get_if<api_error>(&*r)) return fail(reply, *e);
        reply(json_reply(bhttp::status::ok, std::get<json::object>(*r)));
      });
}

// The member row of `user_id` after a change (active members first in list_members).
result<json::object> member_after(pg::connection& c, const std::string& workspace_id, const std::string& user_id) {
  auto all = storage::list_members(c, workspace_id);
  if (!all) return all.err();
  for (const auto& m : *all)
    if (m.user_id == user_id) return member_json(m);
  return make_error(error_code::not_found, "no member has this userId", "userId");
}

void change_role(const ctx_ptr& ctx, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto role = role_field(b, reply);
  if (!role) return;
  in_workspace_db(
      ctx->api, std::move(call), std::move(reply), action::manage_members,
      [role = *role](pg::connection& c, const scoped_call& sc) -> result<answer<json::object>> {
        auto target = sc.param("userId");
        auto done = storage::change_member_role(c, sc.workspace_id, sc.user_id(), target, role);
        if (!done) return done.err();
        if (*done) return answer<json::object>(from_refusal(**done, "role"));
        audit(c, "member_role_changed", sc, json::object{{"member", target}, {"role", domain::to_string(role)}});
        auto m = member_after(c, sc.workspace_id, target);
        if (!m) return m.err();
        return answer<json::object>(std::move(*m));
      },
      [](scoped_call&&, result<answer<json::object>> r, responder reply) {
        if (!r) return fail(reply, r.err());
        if (auto* e = std::get_if<api_error>(&*r)) return fail(reply, *e);
        reply(json_reply(bhttp::status::ok, std::get<json::object>(*r)));
      });
}

void remove(const ctx_ptr& ctx, api_call&& call, responder reply) {
  // Any member may leave: the scope only asks membership (read); check_member_change decides.
  in_workspace_db(
      ctx->api, std::move(call), std::move(reply), action::read,
      [](pg::connection& c, const scoped_call& sc) -> result<std::optional<api_error>> {
        auto target = sc.param("userId");
        auto done = storage::remove_member(c, sc.workspace_id, sc.user_id(), target);
        if (!done) return done.err();
        if (*done) return std::optional<api_error>(from_refusal(**done, "userId"));
        audit(c, "member_removed", sc, json::object{{"member", target}, {"self", target == sc.user_id()}});
        return std::optional<api_error>{};
      },
      [](scoped_call&&, result<std::optional<api_error>> r, responder reply) {
        if (!r) return fail(reply, r.err());
        if (*r) return fail(reply, **r);
        reply(no_content());
      });
}

void transfer(const ctx_ptr& ctx, api_call&& call, responder reply) {
  body_reader b(call.body);
  auto to = b.string("userId", true, 64);
  if (!finish(b, reply)) return;
  in_workspace_db(
      ctx->api, std::move(call), std::move(reply), action::transfer_ownership,
      [to = *to](pg::connection& c, const scoped_call& sc) -> result<answer<json::object>> {
        auto done = storage::transfer_ownership(c, sc.workspace_id, sc.user_id(), to);
        if (!done) return done.err();
        if (*done) return answer<json::object>(from_refusal(**done, "userId"));
        audit(c, "ownership_transferred", sc, json::object{{"to", to}});
        return answer<json::object>(json::object{{"workspaceId", sc.workspace_id},
                                                 {"ownerUserId", to},
                                                 {"previousOwner", json::object{{"userId", sc.user_id()}, {"role", "admin"}}}});
      },
      [](scoped_call&&, result<answer<json::object>> r, responder reply) {
        if (!r) return fail(reply, r.err());
        if (auto* e = std::get_if<api_error>(&*r)) return fail(reply, *e);
        reply(json_reply(bhttp::status::ok, std::get<json::object>(*r)));
      });
}

}  // namespace

void add_workspace_routes(api_service& api, std::string mail_domain) {
  auto ctx = std::make_shared<const context>(context{api, std::move(mail_domain)});
  const route_options signed_body{true, true, false}, signed_plain{false, true, false};
  auto bind = [ctx](void (*f)(const ctx_ptr&, api_call&&, responder)) {
    return [ctx, f](api_call&& call, responder reply) { f(ctx, std::move(call), std::move(reply)); };
  };
  api.add(verb::post, "/workspaces", signed_body, bind(create));
  api.add(verb::get, "/workspaces", signed_plain, bind(list_mine));
  api.add(verb::get, "/workspaces/{id}", signed_plain, bind(get_one));
  api.add(verb::patch, "/workspaces/{id}", signed_body, bind(patch_one));
  api.add(verb::delete_, "/workspaces/{id}", signed_plain, bind(delete_one));
  api.add(verb::get, "/workspaces/{id}/members", signed_plain, bind(list_members));
  api.add(verb::post, "/workspaces/{id}/members", signed_body, bind(invite));
  api.add(verb::patch, "/workspaces/{id}/members/{userId}", signed_body, bind(change_role));
  api.add(verb::delete_, "/workspaces/{id}/members/{userId}", signed_plain, bind(remove));
  api.add(verb::post, "/workspaces/{id}/transfer-ownership", signed_body, bind(transfer));
  api.add(verb::post, "/invitations/accept", signed_body, bind(accept));
}

}  // namespace flowtrack::http::api
