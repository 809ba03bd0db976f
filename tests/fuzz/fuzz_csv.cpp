// libFuzzer target: domain/csv's incremental reader and its writer. The input is read whole and in
// chunks whose sizes the input's first byte picks: both must give the same records, header and
// failure. Records read without error are written back (with and without the formula guard) and
// read again: the same fields (the guard's quote stripped), in the same order.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/csv.hpp"

namespace {

namespace csv = flowtrack::domain::csv;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct outcome {
  std::vector<csv::record> records;
  std::optional<std::vector<std::string>> header;
  bool failed = false;
};

outcome read(std::string_view text, std::size_t chunk, bool has_header, const csv::limits& l) {
  csv::reader r(l, has_header);
  outcome out;
  for (std::size_t i = 0; i < text.size() && !out.failed; i += chunk) {
    out.failed = !r.push(text.substr(i, chunk)).ok();
    while (auto rec = r.pop()) out.records.push_back(std::move(*rec));
  }
  if (!out.failed) out.failed = !r.finish().ok();
  while (auto rec = r.pop()) out.records.push_back(std::move(*rec));
  out.header = r.header();
  check(out.failed == r.failure().has_value());
  if (out.failed) check(!r.failure()->message.empty());
  return out;
}

bool same(const outcome& a, const outcome& b) {
  if (a.failed != b.failed || a.header != b.header || a.records.size() != b.records.size()) return false;
  for (std::size_t i = 0; i < a.records.size(); ++i)
    if (a.records[i].fields != b.records[i].fields || a.records[i].row != b.records[i].row) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 13;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  csv::limits l;
  l.max_field_bytes = 64;
  l.max_record_bytes = 512;
  l.max_fields = 16;

  for (bool has_header : {true, false}) {
    const outcome whole = read(text, text.size() + 1, has_header, l);
    const outcome chunked = read(text, chunk, has_header, l);
    check(same(whole, chunked));
    for (std::size_t i = 0; i < whole.records.size(); ++i) {
      check(!whole.records[i].fields.empty());
      check(whole.records[i].fields.size() <= l.max_fields);
      if (i > 0) check(whole.records[i].row > whole.records[i - 1].row);
      if (whole.header) (void)csv::to_map(*whole.header, whole.records[i]);
    }
    if (has_header || whole.failed) continue;

    // Round trips, without limits (a written field may grow by its quotes).
    for (bool guard : {false, true}) {
      std::string written;
      for (const auto& r : whole.records) csv::append_record(written, r.fields, guard);
      const outcome again = read(written, chunk, false, csv::limits{1 << 20, 1 << 22, 1 << 12});
      check(!again.failed);
      check(again.records.size() == whole.records.size());
      for (std::size_t i = 0; i < again.records.size() && i < whole.records.size(); ++i) {
        const auto& want = whole.records[i].fields;
        const auto& got = again.records[i].fields;
        check(got.size() == want.size());
        for (std::size_t k = 0; k < got.size() && k < want.size(); ++k) {
          if (guard && csv::looks_like_formula(want[k])) {
            check(got[k] == "'" + want[k]);
            check(csv::strip_formula_guard(got[k]) == want[k]);
          } else {
            check(got[k] == want[k]);
          }
          if (guard) check(!csv::looks_like_formula(got[k]));
        }
      }
    }
  }
  return 0;
}
