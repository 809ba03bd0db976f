// Native sign-in over the management API (issue #13 item 1): sign-up and email verification,
// login with the attempt limiter and TOTP, refresh-token rotation with reuse detection, logout,
// the profile (/me), password change and reset, TOTP setup; security events as rows, log lines
// and metrics. SQL lives in storage/accounts; this file decides and answers.
#pragma once

#include "adapters/http/api/api.hpp"

namespace flowtrack::http::api {

/// The refresh grace window: a rotated token presented again this soon, while the token that
/// replaced it is live, answers the pair that rotation made (concurrent tabs) instead of counting
/// as reuse.
inline constexpr std::int64_t k_refresh_grace_ms = 10'000;

/// Failed login attempts per window (by email and by IP, each apart) before 429.
inline constexpr std::int64_t k_login_max_failures = 5;
inline constexpr std::int64_t k_login_window_ms = 15 * 60 * 1000;

/// Adds POST /auth/signup, /auth/verify-email, /auth/login, /auth/refresh, /auth/logout,
/// /auth/logout-all, /auth/change-password, /auth/forgot-password, /auth/reset-password,
/// /auth/totp/setup, /auth/totp/enable, /auth/totp/disable, and GET|PATCH /me.
void add_account_routes(api_service& api);

}  // namespace flowtrack::http::api
