// CSV as RFC 4180 writes it, read incrementally (push bytes as they arrive, pop complete records)
// and written with the OWASP formula-injection guard. Pure: no I/O, no SQL; lead import and
// export (storage/leads) and the HTTP routes share it.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.hpp"

namespace flowtrack::domain::csv {

/// What the reader holds at most; input beyond a limit fails the stream (never a silent cut).
struct limits {
  std::size_t max_field_bytes = 64 * 1024;
  std::size_t max_record_bytes = 1024 * 1024;
  std::size_t max_fields = 512;
};

/// One record: its fields and its row number (1-based, counting the header and blank lines, so it
/// is the row a spreadsheet shows unless a quoted field spans lines).
struct record {
  std::size_t row = 0;
  std::vector<std::string> fields;
};

/// An incremental RFC 4180 reader: fields separated by commas, records by CRLF or LF (a lone CR
/// too); a field may be quoted, with "" for a quote inside and line breaks allowed inside. A UTF-8
/// BOM at the very start is dropped. Lines with no bytes at all are skipped. Strict about quotes:
/// a quote inside an unquoted field, or anything but a comma or a line break after a closing
/// quote, is an error. Once an error is returned the reader stays failed (the stream cannot be
/// resynchronised safely); records completed before it can still be popped. Bytes are not checked
/// for UTF-8: the caller decides.
class reader {
 public:
  explicit reader(limits l = {}, bool has_header = true) : limits_(l), has_header_(has_header) {}

  /// Feeds the next bytes of the stream; complete records become available to pop().
  result<void> push(std::string_view bytes);
  /// Ends the stream: a last record without a line break is completed; an open quote is an error.
  result<void> finish();
  /// The next complete data record (never the header), oldest first.
  std::optional<record> pop();
  /// How many records are waiting.
  std::size_t available() const { return ready_.size(); }
  /// The header's names once its record is complete (with has_header). Names are trimmed of
  /// spaces; an empty or repeated name is an error when the header completes.
  const std::optional<std::vector<std::string>>& header() const { return header_; }
  /// The error the reader failed with, if any.
  const std::optional<error>& failure() const { return failure_; }

 private:
  enum class state { field_start, unquoted, quoted, quote_in_quoted, after_cr };
  result<void> fail(std::string message);
  result<void> add_char(char ch);
  result<void> end_field();
  result<void> end_record();

  limits limits_;
  bool has_header_;
  state state_ = state::field_start;
  std::string bom_;  ///< the first bytes while they may still be a BOM
  bool bom_done_ = false;
  std::string field_;
  std::vector<std::string> fields_;
  std::size_t record_bytes_ = 0;
  std::size_t row_ = 1;          ///< the row the current record started on
  std::size_t next_row_ = 1;     ///< the row the next line starts
  bool record_started_ = false;  ///< a byte of the current record was seen
  std::deque<record> ready_;
  std::optional<std::vector<std::string>> header_;
  std::optional<error> failure_;
  bool finished_ = false;
};

/// The record as header name -> value; `invalid` naming "row" when the field count differs from
/// the header's.
result<std::map<std::string, std::string>> to_map(const std::vector<std::string>& header, const record& r);

/// Whether a cell would start a formula in a spreadsheet (first character = + - @, tab or CR).
bool looks_like_formula(std::string_view cell);

/// Appends one field, quoted when it holds a comma, quote, CR or LF (or starts or ends with a
/// space, or starts with a UTF-8 BOM); with `guard_formula`, a cell that looks like a formula is prefixed with a single quote
/// (OWASP CSV injection).
void append_field(std::string& out, std::string_view value, bool guard_formula = true);

/// Appends a record: the fields separated by commas, ended by CRLF.
void append_record(std::string& out, const std::vector<std::string>& fields, bool guard_formula = true);

/// Undoes the export's guard on import: a leading single quote followed by a formula character is
/// dropped; anything else is returned as it is.
std::string_view strip_formula_guard(std::string_view cell);

}  // namespace flowtrack::domain::csv
