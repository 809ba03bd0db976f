#include "runtime/regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>

namespace flowtrack::runtime {

result<std::shared_ptr<const compiled_regex>> compiled_regex::compile(std::string_view pattern, bool case_sensitive,
                                                                      bool whole) {
  if (pattern.size() > k_max_regex_length)
    return make_error(error_code::invalid,
                      "regular expression is longer than " + std::to_string(k_max_regex_length) + " characters");
  int code = 0;
  PCRE2_SIZE offset = 0;
  std::uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (case_sensitive ? 0u : PCRE2_CASELESS);
  if (whole) options |= PCRE2_ANCHORED | PCRE2_ENDANCHORED;
  pcre2_code* re =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &code, &offset, nullptr);
  if (!re) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(code, buf, sizeof buf);
    return make_error(error_code::invalid, "bad regular expression at offset " + std::to_string(offset) + ": " +
                                               reinterpret_cast<const char*>(buf));
  }
  auto r = std::shared_ptr<compiled_regex>(new compiled_regex());
  r->code_ = re;
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when unavailable
  r->context_ = pcre2_match_context_create(nullptr);
  pcre2_set_match_limit(r->context_, k_regex_match_limit);
  pcre2_set_depth_limit(r->context_, 10000);
  pcre2_set_heap_limit(r->context_, 2048);  // KiB
  return std::shared_ptr<const compiled_regex>(std::move(r));
}

bool compiled_regex::matches(std::string_view subject) const {
  if (subject.size() > k_max_regex_subject) return false;
  struct data_deleter {
    void operator()(pcre2_match_data* d) const { pcre2_match_data_free(d); }
  };
  // One match block per thread: a one-pair ovector is enough to learn whether it matched.
  thread_local std::unique_ptr<pcre2_match_data, data_deleter> data(pcre2_match_data_create(1, nullptr));
  const int rc =
      pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, data.get(), context_);
  return rc >= 0;
}

compiled_regex::~compiled_regex() {
  pcre2_match_context_free(context_);
  pcre2_code_free(code_);
}

}  // namespace flowtrack::runtime
