// Subscriptions that follow Stripe: a parsed webhook event (domain/stripe_event) applied to the
// `subscriptions` row of its Stripe subscription, once per event id and in Stripe's order, and
// the workspace's usage_quotas rows kept to the plan in force. Also the one SQL rule for "the
// subscription in force" that the engine's workspace look-up and ingestion share. Knows SQL,
// nothing of HTTP or signatures.
//
// Model: a workspace has its own subscription row (stripe_subscription_id NULL; the free plan from
// creation, storage::create_workspace) and one row per Stripe subscription it ever had. The row
// in force is the newest (created_at) whose status is trial, active or past_due. When the row in
// force stops being a Stripe one (cancelled, expired), the workspace goes back to its own plan
// (free unless an operator chose another) with a new monthly period starting that day.
#pragma once

#include <string>
#include <string_view>

#include "domain/stripe_event.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// What applying an event did.
enum class stripe_outcome {
  applied,    ///< the subscription row changed (and the quotas with it)
  stale,      ///< the row had seen a newer event of this subscription: nothing changed
  ignored,    ///< nothing to apply (an invoice of a subscription never seen, a payment that changes no status)
  duplicate,  ///< this event id was processed before: nothing changed
};

/// "applied", "stale", "ignored", "duplicate".
std::string_view to_string(stripe_outcome o);

/// The answer of apply_stripe_event.
struct stripe_applied {
  stripe_outcome outcome = stripe_outcome::ignored;
  std::string workspace_id;  ///< empty when no workspace was concerned
  std::string status;        ///< the Stripe subscription row's status after the event (when there is one)
};

/// Applies one event of a handled kind, in one transaction: the event id recorded
/// (stripe_events; a replay is `duplicate` and changes nothing), the subscription row upserted
/// by stripe_subscription_id unless it has applied a newer event (`stale`; a subscription
/// event of the same second as the last one applied wins, an invoice event must be newer),
/// the workspace's fallback to its own plan when the row in force stopped being a Stripe one,
/// and the usage_quotas rows of the period in force (sync_quotas). past_due records when new
/// triggers start being refused: the first failed payment's time plus `grace_days`.
///
/// Subscription events: the workspace is the row's (a subscription never moves), else
/// metadata.workspace_id; the plan is the one whose slug is the price's lookup_key (kept from
/// the row when the event has none). `invalid` naming the event field when neither names a
/// workspace that exists, or no plan has that slug: nothing is recorded, so Stripe's retry can
/// succeed once the plan exists. Invoice events change an existing row only: payment_failed
/// turns trial or active into past_due, payment_succeeded turns past_due into active.
result<stripe_applied> apply_stripe_event(pg::connection& c, const domain::stripe::event& e, int grace_days);

/// Upserts the usage_quotas rows of the workspace's period in force, at once: for every quota
/// its plan limits (workflows, leads, executions = the plan's executions_per_month, email_sends)
/// the plan's limit, keeping quota_used (a new `workflows` row counts the live workflows). A
/// limit below what was used already is raised to the least that keeps the 120% rule true (the
/// workspace is over its quota either way). Rows of quotas the plan does not limit are removed
/// from that period; rows of other periods overlapping it are closed the day before it starts.
/// Runs in the caller's transaction, if one is open.
result<void> sync_quotas(pg::connection& c, std::string_view workspace_id);

namespace detail {
/// A subquery (without parentheses) selecting the subscriptions row in force for the workspace
/// whose id is the SQL expression `workspace`: the newest by created_at (then id) whose status is
/// trial, active or past_due; no row when there is none.
std::string subscription_in_force_sql(std::string_view workspace);
}  // namespace detail

}  // namespace flowtrack::storage
