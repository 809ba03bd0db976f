// Stripe event bodies to subscription changes. Reads only what the rows need; every refusal names
// the JSON path, never the body's values.
#include "domain/stripe_event.hpp"

#include <cstdio>

#include <boost/json.hpp>

#include "runtime/text.hpp"

namespace flowtrack::domain::stripe {
namespace json = boost::json;
namespace {

constexpr std::size_t k_max_id = 255;
// 1970-01-01T00:00:01Z .. 9999-12-31T23:59:59Z: every such time prints as a 4-digit year.
constexpr std::int64_t k_min_time = 1;
constexpr std::int64_t k_max_time = 253402300799;

error bad(std::string path, std::string what) {
  return make_error(error_code::invalid, path + " " + what, path);
}

const json::value* member(const json::value* v, std::string_view key) {
  if (v == nullptr || !v->is_object()) return nullptr;
  return v->as_object().if_contains(key);
}

bool present(const json::value* v) { return v != nullptr && !v->is_null(); }

// A whole number of seconds in range, or nullopt (absent or null). A value of another kind is
// an error.
result<std::optional<std::int64_t>> time_at(const json::value* v, const std::string& path) {
  if (!present(v)) return std::optional<std::int64_t>{};
  std::int64_t t = 0;
  if (v->is_int64()) t = v->as_int64();
  else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(k_max_time)) t = static_cast<std::int64_t>(v->as_uint64());
  else return bad(path, "must be a unix time in seconds");
  if (t < k_min_time || t > k_max_time) return bad(path, "is not a time between 1970 and 9999");
  return std::optional<std::int64_t>(t);
}

// A string id of at most 255 characters with no control characters, or nullopt when absent or
// null; an expanded object counts by its own `id`.
result<std::optional<std::string>> id_at(const json::value* v, const std::string& path) {
  if (present(v) && v->is_object()) return id_at(member(v, "id"), path + ".id");
  if (!present(v)) return std::optional<std::string>{};
  if (!v->is_string()) return bad(path, "must be a string");
  std::string s(v->as_string());
  if (s.empty() || s.size() > k_max_id) return bad(path, "must be 1 to 255 characters");
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return bad(path, "must not hold control characters");
  return std::optional<std::string>(std::move(s));
}

// Howard Hinnant's civil_from_days: days since 1970-01-01 to a proleptic Gregorian date.
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

result<subscription_state> read_subscription(const json::value& obj, event_kind kind) {
  const std::string at = "data.object";
  subscription_state s;
  auto id = id_at(member(&obj, "id"), at + ".id");
  if (!id) return id.err();
  if (!*id) return bad(at + ".id", "is required");
  s.stripe_subscription_id = std::move(**id);

  auto customer = id_at(member(&obj, "customer"), at + ".customer");
  if (!customer) return customer.err();
  s.customer_id = std::move(*customer);

  const json::value* status = member(&obj, "status");
  if (!present(status) || !status->is_string()) return bad(at + ".status", "must be a string");
  s.stripe_status = std::string(status->as_string());
  auto mapped = spec_status(s.stripe_status);
  if (!mapped) return bad(at + ".status", "is not a Stripe subscription status");
  s.status = std::move(*mapped);
  // A deleted subscription has ended, whatever status the object carries.
  if (kind == event_kind::subscription_deleted && (s.status == "trial" || s.status == "active" || s.status == "past_due"))
    s.status = "cancelled";

  if (const json::value* ws = member(member(&obj, "metadata"), "workspace_id"); present(ws)) {
    if (!ws->is_string() || !runtime::is_uuid(ws->as_string())) return bad(at + ".metadata.workspace_id", "must be a workspace id (UUID)");
    std::string w(ws->as_string());
    runtime::to_lower_ascii(w);
    s.workspace_id = std::move(w);
  }

  const json::value* items = member(member(&obj, "items"), "data");
  if (!present(items) || !items->is_array() || items->as_array().empty())
    return bad(at + ".items.data", "must list the subscription's items");
  const json::value& item = items->as_array().front();
  const std::string item_at = at + ".items.data[0]";
  const json::value* price = member(&item, "price");
  const json::value* legacy_plan = member(&item, "plan");
  if (const json::value* key = member(price, "lookup_key"); present(key)) {
    if (!key->is_string()) return bad(item_at + ".price.lookup_key", "must be a string");
    if (!key->as_string().empty()) s.plan_slug = std::string(key->as_string());
  }
  // The cycle from the price (or, in old API versions, the item's plan).
  const json::value* interval = member(member(price, "recurring"), "interval");
  std::string interval_at = item_at + ".price.recurring.interval";
  if (!present(interval)) {
    interval = member(legacy_plan, "interval");
    if (present(interval)) interval_at = item_at + ".plan.interval";
  }
  if (!present(interval) || !interval->is_string()) return bad(interval_at, "is required (a recurring price)");
  if (interval->as_string() == "month") s.billing_cycle = "monthly";
  else if (interval->as_string() == "year") s.billing_cycle = "yearly";
  else return bad(interval_at, "must be month or year");

  // Periods: on the subscription (API versions before 2025-03-31) or on its first item.
  auto start = time_at(member(&obj, "current_period_start"), at + ".current_period_start");
  if (!start) return start.err();
  auto end = time_at(member(&obj, "current_period_end"), at + ".current_period_end");
  if (!end) return end.err();
  if (!*start || !*end) {
    start = time_at(member(&item, "current_period_start"), item_at + ".current_period_start");
    if (!start) return start.err();
    end = time_at(member(&item, "current_period_end"), item_at + ".current_period_end");
    if (!end) return end.err();
  }
  if (!*start) return bad(at + ".current_period_start", "is required (on the subscription or its first item)");
  if (!*end) return bad(at + ".current_period_end", "is required (on the subscription or its first item)");
  if (**end < **start) return bad(at + ".current_period_end", "must not be before current_period_start");
  s.period_start = utc_date(**start);
  s.period_end = **end > **start ? inclusive_end_date(**end) : s.period_start;

  auto trial_start = time_at(member(&obj, "trial_start"), at + ".trial_start");
  if (!trial_start) return trial_start.err();
  auto trial_end = time_at(member(&obj, "trial_end"), at + ".trial_end");
  if (!trial_end) return trial_end.err();
  if (*trial_start) s.trial_start = utc_date(**trial_start);
  if (*trial_end) s.trial_end = *trial_start && **trial_end <= **trial_start ? utc_date(**trial_end) : inclusive_end_date(**trial_end);

  if (const json::value* c = member(&obj, "cancel_at_period_end"); present(c)) {
    if (!c->is_bool()) return bad(at + ".cancel_at_period_end", "must be true or false");
    s.cancel_at_period_end = c->as_bool();
  }
  auto cancelled = time_at(member(&obj, "canceled_at"), at + ".canceled_at");
  if (!cancelled) return cancelled.err();
  s.cancelled_at = *cancelled;
  return s;
}

result<std::optional<invoice_payment>> read_invoice(const json::value& obj, event_kind kind) {
  const std::string at = "data.object";
  auto sub = id_at(member(&obj, "subscription"), at + ".subscription");
  if (!sub) return sub.err();
  if (!*sub) {
    // API versions from 2025-03-31 name it under parent.subscription_details.
    sub = id_at(member(member(member(&obj, "parent"), "subscription_details"), "subscription"),
                at + ".parent.subscription_details.subscription");
    if (!sub) return sub.err();
  }
  if (!*sub) return std::optional<invoice_payment>{};
  return std::optional<invoice_payment>(invoice_payment{std::move(**sub), kind == event_kind::payment_succeeded});
}

}  // namespace

event_kind kind_of(std::string_view type) {
  if (type == "customer.subscription.created") return event_kind::subscription_created;
  if (type == "customer.subscription.updated") return event_kind::subscription_updated;
  if (type == "customer.subscription.deleted") return event_kind::subscription_deleted;
  if (type == "invoice.payment_succeeded") return event_kind::payment_succeeded;
  if (type == "invoice.payment_failed") return event_kind::payment_failed;
  return event_kind::other;
}

std::optional<std::string> spec_status(std::string_view s) {
  if (s == "trialing") return "trial";
  if (s == "active") return "active";
  if (s == "past_due" || s == "unpaid") return "past_due";
  if (s == "canceled") return "cancelled";
  if (s == "incomplete" || s == "incomplete_expired" || s == "paused") return "expired";
  return std::nullopt;
}

std::string utc_date(std::int64_t unix_seconds) {
  std::int64_t days = unix_seconds >= 0 ? unix_seconds / 86400 : -((-unix_seconds + 86399) / 86400);
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

std::string inclusive_end_date(std::int64_t unix_seconds) { return utc_date(unix_seconds - 1); }

result<event> parse_event(std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec) return make_error(error_code::invalid, "the body is not valid JSON", "body");
  if (!doc.is_object()) return bad("body", "must be a JSON object (a Stripe event)");
  event e;
  auto id = id_at(member(&doc, "id"), "id");
  if (!id) return id.err();
  if (!*id) return bad("id", "is required");
  e.id = std::move(**id);
  const json::value* type = member(&doc, "type");
  if (!present(type) || !type->is_string() || type->as_string().empty() || type->as_string().size() > 100)
    return bad("type", "must be a string of 1 to 100 characters");
  e.type = std::string(type->as_string());
  auto created = time_at(member(&doc, "created"), "created");
  if (!created) return created.err();
  if (!*created) return bad("created", "is required");
  e.created = **created;
  e.kind = kind_of(e.type);
  if (e.kind == event_kind::other) return e;

  const json::value* obj = member(member(&doc, "data"), "object");
  if (!present(obj) || !obj->is_object()) return bad("data.object", "must be an object");
  if (e.kind == event_kind::payment_succeeded || e.kind == event_kind::payment_failed) {
    auto inv = read_invoice(*obj, e.kind);
    if (!inv) return inv.err();
    e.invoice = std::move(*inv);
    return e;
  }
  auto sub = read_subscription(*obj, e.kind);
  if (!sub) return sub.err();
  e.subscription = std::move(*sub);
  return e;
}

}  // namespace flowtrack::domain::stripe
