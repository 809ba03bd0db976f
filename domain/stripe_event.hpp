// Stripe webhook events as the subscriptions table takes them: `customer.subscription.created|
// updated|deleted` (the subscription object: status, plan by the price's lookup_key, workspace by
// metadata.workspace_id, billing cycle, periods, trial, cancellation) and
// `invoice.payment_succeeded|failed` (which subscription was paid, or not). Pure: parses a body
// already authenticated (crypto/stripe_signature), no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/error.hpp"

namespace flowtrack::domain::stripe {

/// The events that change a subscription; anything else is `other` (answered, not applied).
enum class event_kind { subscription_created, subscription_updated, subscription_deleted, payment_succeeded, payment_failed, other };

/// The event_kind a Stripe event type names (`other` for types not handled).
event_kind kind_of(std::string_view type);

/// A Stripe subscription as a `subscriptions` row holds it.
struct subscription_state {
  std::string stripe_subscription_id;        ///< sub_...
  std::optional<std::string> customer_id;    ///< cus_...
  std::optional<std::string> workspace_id;   ///< metadata.workspace_id (a UUID), when set
  std::optional<std::string> plan_slug;      ///< the first item's price.lookup_key, when set
  std::string status;         ///< the spec's: trial, active, past_due, cancelled or expired
  std::string stripe_status;  ///< as Stripe said (trialing, canceled, unpaid, ...)
  std::string billing_cycle;  ///< monthly or yearly (price.recurring.interval month or year)
  std::string period_start;   ///< 'YYYY-MM-DD' (UTC) of current_period_start
  std::string period_end;     ///< 'YYYY-MM-DD' (UTC), inclusive: the day before current_period_end's midnight
  std::optional<std::string> trial_start, trial_end;  ///< dates as the period's
  bool cancel_at_period_end = false;
  std::optional<std::int64_t> cancelled_at;  ///< canceled_at, unix seconds
};

/// An invoice's payment, for the subscription it bills.
struct invoice_payment {
  std::string stripe_subscription_id;  ///< the invoice's `subscription`, or parent.subscription_details.subscription
  bool succeeded = false;              ///< invoice.payment_succeeded; false: invoice.payment_failed
};

/// One event, parsed.
struct event {
  std::string id;    ///< evt_...
  std::string type;  ///< e.g. customer.subscription.updated
  std::int64_t created = 0;  ///< unix seconds; orders a subscription's events
  event_kind kind = event_kind::other;
  std::optional<subscription_state> subscription;  ///< subscription events
  /// Invoice events; nullopt for an invoice that bills no subscription (nothing to apply).
  std::optional<invoice_payment> invoice;
};

/// Parses an event body. `invalid` naming the JSON path at fault (e.g.
/// "data.object.items.data[0].price.recurring.interval") when the body is not a JSON object, when
/// `id`, `type` or `created` is missing or wrong, or when a handled event lacks what its row needs:
/// the subscription's id, a known status, periods (on the subscription or, in newer API
/// versions, on its first item), a monthly or yearly price. Types not handled need only id, type
/// and created. Ids longer than 255 characters, and times outside years 1970 to 9999, are invalid.
result<event> parse_event(std::string_view body);

/// The spec's status for a Stripe subscription status: trialing -> trial; active -> active;
/// past_due and unpaid -> past_due (payment owed: service goes on for the grace period, then new
/// triggers are refused); canceled -> cancelled; incomplete, incomplete_expired and paused ->
/// expired (never paid, or stopped: the workspace keeps, or falls back to, the free plan).
/// Nullopt for a status Stripe does not define.
std::optional<std::string> spec_status(std::string_view stripe_status);

/// 'YYYY-MM-DD' of a unix time, in UTC.
std::string utc_date(std::int64_t unix_seconds);

/// The last day a period ending at `unix_seconds` (exclusive) covers: utc_date(unix_seconds - 1).
std::string inclusive_end_date(std::int64_t unix_seconds);

}  // namespace flowtrack::domain::stripe
