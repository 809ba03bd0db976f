// PCRE2 regular expressions with limits on pattern size and match work, so a user's pattern
// (a condition's `matches`, a form field's `pattern`) can never stall a thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "runtime/error.hpp"

struct pcre2_real_code_8;
struct pcre2_real_match_context_8;

namespace flowtrack::runtime {

inline constexpr std::size_t k_max_regex_length = 1000;
inline constexpr std::uint32_t k_regex_match_limit = 100000;
inline constexpr std::size_t k_max_regex_subject = 64 * 1024;

/// A compiled pattern (UTF-8, invalid UTF-8 in subjects never matches); immutable and safe to
/// share between threads.
class compiled_regex {
 public:
  /// Compiles `pattern`; `whole` anchors it at both ends (as HTML's `pattern` attribute does).
  /// A bad or over-long pattern is `invalid` with PCRE2's message.
  static result<std::shared_ptr<const compiled_regex>> compile(std::string_view pattern, bool case_sensitive,
                                                               bool whole = false);
  /// Whether the pattern matches; a subject over k_max_regex_subject or a match over the work
  /// limits counts as no match.
  bool matches(std::string_view subject) const;

  compiled_regex(const compiled_regex&) = delete;
  compiled_regex& operator=(const compiled_regex&) = delete;
  ~compiled_regex();

 private:
  compiled_regex() = default;
  pcre2_real_code_8* code_ = nullptr;
  pcre2_real_match_context_8* context_ = nullptr;
};

}  // namespace flowtrack::runtime
