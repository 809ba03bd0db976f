#include "domain/csv.hpp"

#include <set>

namespace flowtrack::domain::csv {
namespace {

constexpr std::string_view k_bom = "\xEF\xBB\xBF";

std::string trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

result<void> reader::fail(std::string message) {
  failure_ = make_error(error_code::invalid, std::move(message), "csv");
  return *failure_;
}

result<void> reader::add_char(char ch) {
  if (field_.size() >= limits_.max_field_bytes)
    return fail("row " + std::to_string(row_) + " has a field longer than " + std::to_string(limits_.max_field_bytes) +
                " bytes");
  field_.push_back(ch);
  return {};
}

result<void> reader::end_field() {
  if (fields_.size() >= limits_.max_fields)
    return fail("row " + std::to_string(row_) + " has more than " + std::to_string(limits_.max_fields) + " fields");
  fields_.push_back(std::move(field_));
  field_.clear();
  return {};
}

result<void> reader::end_record() {
  record r{row_, std::move(fields_)};
  fields_.clear();
  record_bytes_ = 0;
  record_started_ = false;
  row_ = next_row_;
  if (has_header_ && !header_) {
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (const auto& f : r.fields) {
      std::string name = trim_spaces(f);
      if (name.empty()) return fail("the header row has an empty column name");
      if (!seen.insert(name).second) return fail("the header row names column '" + name + "' twice");
      names.push_back(std::move(name));
    }
    header_ = std::move(names);
    return {};
  }
  ready_.push_back(std::move(r));
  return {};
}

result<void> reader::push(std::string_view bytes) {
  if (failure_) return *failure_;
  if (finished_) return fail("bytes pushed after the end of the stream");
  if (!bom_done_) {
    // Hold the first bytes until they can no longer be the start of a BOM.
    while (!bytes.empty() && bom_.size() < k_bom.size() && k_bom.substr(0, bom_.size() + 1) == bom_ + bytes.front()) {
      bom_.push_back(bytes.front());
      bytes.remove_prefix(1);
    }
    if (bom_.size() == k_bom.size()) {
      bom_done_ = true;  // dropped
    } else if (!bytes.empty()) {
      bom_done_ = true;
      std::string held = std::move(bom_);
      bom_.clear();
      if (auto r = push(held); !r) return r;
    } else {
      return {};
    }
  }
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char ch = bytes[i];
    if (state_ == state::after_cr) {
      state_ = state::field_start;
      if (ch == '\n') continue;  // CRLF: the CR ended the line
    }
    const bool blank = state_ == state::field_start && !record_started_ && fields_.empty();
    if (!(blank && (ch == '\r' || ch == '\n')) && ++record_bytes_ > limits_.max_record_bytes)
      return fail("row " + std::to_string(row_) + " is longer than " + std::to_string(limits_.max_record_bytes) + " bytes");
    switch (state_) {
      case state::field_start:
      case state::unquoted:
        if (ch == ',') {
          record_started_ = true;
          if (auto r = end_field(); !r) return r;
          state_ = state::field_start;
        } else if (ch == '\r' || ch == '\n') {
          ++next_row_;
          if (blank) {
            row_ = next_row_;
          } else {
            if (auto r = end_field(); !r) return r;
            if (auto r = end_record(); !r) return r;
          }
          state_ = ch == '\r' ? state::after_cr : state::field_start;
        } else if (ch == '"') {
          if (state_ == state::unquoted)
            return fail("row " + std::to_string(row_) + " has a quote inside an unquoted field (quote the whole field and "
                        "double the quote)");
          record_started_ = true;
          state_ = state::quoted;
        } else {
          record_started_ = true;
          if (auto r = add_char(ch); !r) return r;
          state_ = state::unquoted;
        }
        break;
      case state::quoted:
        if (ch == '"') {
          state_ = state::quote_in_quoted;
        } else {
          if (ch == '\n') ++next_row_;
          if (auto r = add_char(ch); !r) return r;
        }
        break;
      case state::quote_in_quoted:
        if (ch == '"') {
          if (auto r = add_char('"'); !r) return r;
          state_ = state::quoted;
        } else if (ch == ',') {
          if (auto r = end_field(); !r) return r;
          state_ = state::field_start;
        } else if (ch == '\r' || ch == '\n') {
          ++next_row_;
          if (auto r = end_field(); !r) return r;
          if (auto r = end_record(); !r) return r;
          state_ = ch == '\r' ? state::after_cr : state::field_start;
        } else {
          return fail("row " + std::to_string(row_) + " has a character after a closing quote (expected a comma or a line "
                      "break)");
        }
        break;
      case state::after_cr:
        break;  // handled above
    }
  }
  return {};
}

result<void> reader::finish() {
  if (failure_) return *failure_;
  if (finished_) return {};
  if (!bom_done_) {
    bom_done_ = true;
    if (bom_.size() < k_bom.size() && !bom_.empty()) {
      std::string held = std::move(bom_);
      bom_.clear();
      if (auto r = push(held); !r) return r;
    }
  }
  finished_ = true;
  switch (state_) {
    case state::quoted:
      return fail("row " + std::to_string(row_) + " has a quoted field that is never closed");
    case state::unquoted:
    case state::quote_in_quoted:
      if (auto r = end_field(); !r) return r;
      return end_record();
    case state::field_start:
      if (record_started_) {
        if (auto r = end_field(); !r) return r;
        return end_record();
      }
      return {};
    case state::after_cr:
      return {};
  }
  return {};
}

std::optional<record> reader::pop() {
  if (ready_.empty()) return std::nullopt;
  record r = std::move(ready_.front());
  ready_.pop_front();
  return r;
}

result<std::map<std::string, std::string>> to_map(const std::vector<std::string>& header, const record& r) {
  if (r.fields.size() != header.size())
    return make_error(error_code::invalid,
                      "row " + std::to_string(r.row) + " has " + std::to_string(r.fields.size()) + " fields, the header has " +
                          std::to_string(header.size()),
                      "row");
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i < header.size(); ++i) out.emplace(header[i], r.fields[i]);
  return out;
}

bool looks_like_formula(std::string_view cell) {
  if (cell.empty()) return false;
  switch (cell.front()) {
    case '=': case '+': case '-': case '@': case '\t': case '\r': return true;
    default: return false;
  }
}

void append_field(std::string& out, std::string_view value, bool guard_formula) {
  const bool guard = guard_formula && looks_like_formula(value);
  // A leading BOM is quoted too: at the start of a file a reader would drop it as the file's.
  const bool quote = value.find_first_of(",\"\r\n") != std::string_view::npos ||
                     (!value.empty() && (value.front() == ' ' || value.back() == ' ')) || value.starts_with(k_bom);
  if (quote) out.push_back('"');
  if (guard) out.push_back('\'');
  for (char ch : value) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  if (quote) out.push_back('"');
}

void append_record(std::string& out, const std::vector<std::string>& fields, bool guard_formula) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_field(out, fields[i], guard_formula);
  }
  // A record of one empty field would read back as a blank line (skipped): quote it.
  if (fields.size() == 1 && fields[0].empty()) out += "\"\"";
  out += "\r\n";
}

std::string_view strip_formula_guard(std::string_view cell) {
  if (cell.size() >= 2 && cell.front() == '\'' && looks_like_formula(cell.substr(1))) return cell.substr(1);
  return cell;
}

}  // namespace flowtrack::domain::csv
