// Schema migrations: the SQL files of storage/migrations, applied in order, each once, each in
// its own transaction, recorded in schema_migrations. Knows SQL, nothing of actors.
#pragma once

#include <string>
#include <vector>

#include "runtime/error.hpp"
#include "storage/pg/connection.hpp"

namespace flowtrack::storage {

/// One migration file.
struct migration {
  std::string version;  ///< the NNN prefix, e.g. "003"
  std::string name;     ///< the file name, e.g. "003_workflows.sql"
  std::string sql;
  std::string checksum;  ///< SHA-256 of sql, hex

  static migration from_file(std::string name, std::string sql);
};

/// The migrations compiled into this binary.
std::vector<migration> embedded_migrations();

/// Reads NNN_name.sql files from a folder, in order; a file not named so is an error.
result<std::vector<migration>> load_migrations(const std::string& dir);

/// What a migrate run did.
struct migrate_report {
  std::vector<std::string> applied;  ///< file names applied by this run
  std::size_t already_applied = 0;
  int partitions_created = 0;
};

/// Applies what is not yet applied. Runs under an advisory lock so two nodes starting together
/// do not race. A failing migration is rolled back whole and named in the error; a migration
/// whose file changed after it was applied is refused.
result<migrate_report> migrate(pg::connection& c, const std::vector<migration>& migrations);

}  // namespace flowtrack::storage
