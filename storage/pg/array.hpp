// Builds PostgreSQL array literals ({"a","b",NULL}) for unnest()-based batch statements,
// so one parameter carries a whole column of a batch.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowtrack::pg {

/// Appends elements to a text-format array literal, quoting and escaping each.
class array_builder {
 public:
  array_builder() { out_.push_back('{'); }

  array_builder& add(std::string_view v) {
    sep();
    out_.reserve(out_.size() + v.size() + 2);
    out_.push_back('"');
    // Runs without a quote or backslash are copied whole (a JSON payload is mostly one run).
    std::size_t run = 0;
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i] == '"' || v[i] == '\\') {
        out_.append(v.data() + run, i - run);
        out_.push_back('\\');
        run = i;
      }
    out_.append(v.data() + run, v.size() - run);
    out_.push_back('"');
    return *this;
  }
  array_builder& add(std::int64_t v) {
    sep();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, end);
    return *this;
  }
  array_builder& add_optional(const std::optional<std::string>& v) {
    if (!v) return add_null();
    return add(std::string_view(*v));
  }
  array_builder& add_null() {
    sep();
    out_ += "NULL";
    return *this;
  }
  /// The literal; the builder is spent afterwards.
  std::string finish() {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void sep() {
    if (out_.size() > 1) out_.push_back(',');
  }
  std::string out_;
};

/// The array literal of integers `values` ({1,2,3}).
template <class Ints>
std::string int_array(const Ints& values) {
  array_builder b;
  for (auto v : values) b.add(static_cast<std::int64_t>(v));
  return b.finish();
}

}  // namespace flowtrack::pg
