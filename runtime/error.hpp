// FlowTrack's error values: a code every layer shares, a message for people, and the name of the
// rule that was broken (a constraint, a config key, a field). Knows nothing of I/O.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace flowtrack {

/// What went wrong, as a caller can act on it.
enum class error_code {
  invalid,         ///< the input breaks a rule (check violation, bad value)
  not_found,       ///< a referenced thing does not exist (foreign-key violation, unknown id)
  conflict,        ///< a unique rule was hit (unique violation, lock held by someone else)
  quota_exceeded,  ///< the workspace's plan does not allow more
  unauthorized,    ///< missing or wrong credentials
  unavailable,     ///< a server could not be reached or went away; may succeed later
  timeout,         ///< no answer in time
  internal,        ///< a bug or an unexpected answer
};

/// The stable lower-case name of a code, as used in JSON errors and logs.
constexpr std::string_view to_string(error_code c) {
  switch (c) {
    case error_code::invalid: return "invalid";
    case error_code::not_found: return "not_found";
    case error_code::conflict: return "conflict";
    case error_code::quota_exceeded: return "quota_exceeded";
    case error_code::unauthorized: return "unauthorized";
    case error_code::unavailable: return "unavailable";
    case error_code::timeout: return "timeout";
    case error_code::internal: return "internal";
  }
  return "internal";
}

/// An error as a value.
struct error {
  error_code code = error_code::internal;
  std::string message;
  std::string subject;  ///< constraint, key or field the error is about; may be empty

  /// Whether trying the same thing again later may succeed.
  bool transient() const { return code == error_code::unavailable || code == error_code::timeout; }
};

/// Either a value or an error (std::expected arrives with C++23).
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(error e) : v_(std::move(e)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const error& err() const { assert(!ok()); return std::get<1>(v_); }
  error& err() { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, error> v_;
};

/// A result with no value: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : e_(std::move(e)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const error& err() const { assert(!ok_); return e_; }
  error& err() { assert(!ok_); return e_; }

 private:
  error e_;
  bool ok_ = true;
};

inline error make_error(error_code code, std::string message, std::string subject = {}) {
  return error{code, std::move(message), std::move(subject)};
}

}  // namespace flowtrack
