// The rows a run adds beside its execution (steps, lead events, logs) as column arrays for
// unnest(), and the SQL that inserts them: shared by the run writer and by intake, which writes
// settled runs. Internal to storage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/pg/array.hpp"
#include "storage/pg/connection.hpp"
#include "domain/records.hpp"

namespace flowtrack::storage {

/// A JSON array of strings (tag lists).
std::string json_list(const std::vector<std::string>& items);

class run_rows {
 public:
  /// The number of parameters append_to adds.
  static constexpr int k_params = 25;

  /// Adds the record's steps, events and logs under `idx`.
  void add(std::int64_t idx, const domain::run_record& r);
  /// Appends the arrays, numbered as insert_sql numbers them.
  void append_to(pg::params& p);
  /// Data-modifying CTEs `steps`, `events` and `logs`, each preceded by a comma, that insert the
  /// rows of the records in `source`: a CTE or table with columns idx, id (the execution),
  /// lead_id and workspace_id. The arrays are parameters $first to $first + k_params - 1.
  static std::string insert_sql(std::string_view source, int first);

 private:
  pg::array_builder s_idx_, s_id_, s_node_, s_number_, s_status_, s_started_, s_completed_, s_duration_, s_input_,
      s_output_, s_err_, s_details_, s_retry_;
  pg::array_builder e_idx_, e_type_, e_category_, e_description_, e_metadata_;
  pg::array_builder g_idx_, g_level_, g_category_, g_message_, g_details_, g_node_type_, g_step_;
};

}  // namespace flowtrack::storage
