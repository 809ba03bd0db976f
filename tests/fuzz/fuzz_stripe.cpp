// libFuzzer target: Stripe webhook input, which arrives from the internet before anything is
// trusted. The input as a Stripe-Signature header (parsed and checked, never crashing, at most
// 32 items), as a body signed and verified again (a round trip always verifies), and as an event
// (domain/stripe_event): a parsed event has only the spec's statuses and cycles and well-formed
// UTC dates with the period's start on or before its end; a refusal names a field and never
// repeats the input.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <string_view>

#include "crypto/stripe_signature.hpp"
#include "domain/stripe_event.hpp"

namespace {

namespace fc = flowtrack::crypto;
namespace stripe = flowtrack::domain::stripe;

constexpr std::string_view k_secret = "whsec_fuzz_secret";
constexpr std::int64_t k_now = 1760000000;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool is_date(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
    if (d[i] < '0' || d[i] > '9') return false;
  int month = (d[5] - '0') * 10 + (d[6] - '0'), day = (d[8] - '0') * 10 + (d[9] - '0');
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // The input as a header.
  auto parts = fc::parse_stripe_signature(in);
  if (parts) check(parts->v1.size() <= 32 && parts->timestamp >= 0);
  auto verdict = fc::verify_stripe_signature(in, "{}", k_secret, k_now);
  if (!parts) check(verdict == fc::stripe_signature_check::malformed);
  if (verdict == fc::stripe_signature_check::ok) check(parts.has_value());

  // The input as a body: signed, it verifies; changed by one byte, it does not.
  std::string header = fc::stripe_signature_header(k_secret, k_now, in);
  check(fc::verify_stripe_signature(header, in, k_secret, k_now) == fc::stripe_signature_check::ok);
  check(fc::verify_stripe_signature(header, in, k_secret, k_now + 301) == fc::stripe_signature_check::stale);
  std::string changed(in);
  changed.push_back('x');
  check(fc::verify_stripe_signature(header, changed, k_secret, k_now) == fc::stripe_signature_check::mismatch);

  // The input as an event.
  auto e = stripe::parse_event(in);
  if (!e) {
    check(!e.err().subject.empty() && !e.err().message.empty() && e.err().message.size() < 200);
    // Refusals are built from fixed text and field paths only: a handful of distinct messages.
    static std::set<std::string> seen;
    seen.insert(e.err().message);
    check(seen.size() <= 200);
    return 0;
  }
  check(!e->id.empty() && e->id.size() <= 255 && !e->type.empty() && e->created >= 1);
  check(e->kind == stripe::kind_of(e->type));
  if (e->subscription) {
    const auto& s = *e->subscription;
    check(s.status == "trial" || s.status == "active" || s.status == "past_due" || s.status == "cancelled" || s.status == "expired");
    check(stripe::spec_status(s.stripe_status).has_value());
    check(s.billing_cycle == "monthly" || s.billing_cycle == "yearly");
    check(is_date(s.period_start) && is_date(s.period_end) && s.period_start <= s.period_end);
    if (s.trial_start) check(is_date(*s.trial_start));
    if (s.trial_end) check(is_date(*s.trial_end));
    check(!s.stripe_subscription_id.empty() && s.stripe_subscription_id.size() <= 255);
    if (s.workspace_id) check(s.workspace_id->size() == 36);
    if (e->kind == stripe::event_kind::subscription_deleted) check(s.status == "cancelled" || s.status == "expired");
  }
  if (e->invoice) check(!e->invoice->stripe_subscription_id.empty());
  return 0;
}
