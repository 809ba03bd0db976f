#include "storage/migrate.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "storage/hash.hpp"

namespace flowtrack::storage {
namespace {

bool well_named(const std::string& name) {
  return name.size() > 8 && std::isdigit(static_cast<unsigned char>(name[0])) &&
         std::isdigit(static_cast<unsigned char>(name[1])) && std::isdigit(static_cast<unsigned char>(name[2])) &&
         name[3] == '_' && name.ends_with(".sql");
}

constexpr std::int64_t k_advisory_lock = 0x466c6f77547261LL;  // "FlowTra"

}  // namespace

migration migration::from_file(std::string name, std::string sql) {
  migration m;
  m.version = name.substr(0, 3);
  m.checksum = sha256_hex(sql);
  m.name = std::move(name);
  m.sql = std::move(sql);
  return m;
}

result<std::vector<migration>> load_migrations(const std::string& dir) {
  std::error_code ec;
  std::vector<migration> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!name.ends_with(".sql")) continue;
    if (!well_named(name))
      return make_error(error_code::invalid, "migration file '" + name + "' is not named NNN_name.sql", name);
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) return make_error(error_code::invalid, "cannot read migration file '" + entry.path().string() + "'", name);
    out.push_back(migration::from_file(name, ss.str()));
  }
  if (ec) return make_error(error_code::not_found, "cannot read migrations folder '" + dir + "': " + ec.message(), dir);
  std::sort(out.begin(), out.end(), [](const migration& a, const migration& b) { return a.name < b.name; });
  return out;
}

result<migrate_report> migrate(pg::connection& c, const std::vector<migration>& migrations) {
  for (std::size_t i = 1; i < migrations.size(); ++i)
    if (migrations[i].version == migrations[i - 1].version)
      return make_error(error_code::invalid,
                        "two migrations share version " + migrations[i].version + ": " + migrations[i - 1].name +
                            " and " + migrations[i].name,
                        migrations[i].name);

  if (auto r = c.exec_script(
          "SET client_min_messages = warning;"
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "  version varchar(20) PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
          "  applied_at timestamptz NOT NULL DEFAULT now())");
      !r)
    return r.err();
  if (auto r = c.exec("SELECT pg_advisory_lock($1)", pg::params{}.add(k_advisory_lock)); !r) return r.err();
  struct unlock_guard {
    pg::connection& c;
    ~unlock_guard() { (void)c.exec("SELECT pg_advisory_unlock($1)", pg::params{}.add(k_advisory_lock)); }
  } guard{c};

  auto done = c.exec("SELECT version, name, checksum FROM schema_migrations");
  if (!done) return done.err();
  std::map<std::string, std::pair<std::string, std::string>> applied;
  for (int i = 0; i < done->size(); ++i)
    applied[std::string(done->get(i, 0))] = {std::string(done->get(i, 1)), std::string(done->get(i, 2))};

  migrate_report report;
  for (const auto& m : migrations) {
    if (auto it = applied.find(m.version); it != applied.end()) {
      if (it->second.second != m.checksum)
        return make_error(error_code::invalid,
                          "migration " + m.name + " changed after it was applied; add a new migration instead",
                          m.name);
      ++report.already_applied;
      continue;
    }
    auto r = pg::transact(c, [&](pg::connection& tx) -> result<void> {
      if (auto s = tx.exec_script(m.sql); !s) return s.err();
      auto ins = tx.exec("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                         pg::params{}.add(m.version).add(m.name).add(m.checksum));
      if (!ins) return ins.err();
      return {};
    });
    if (!r) {
      error e = r.err();
      e.message = "migration " + m.name + " failed and was rolled back: " + e.message;
      e.subject = m.name;
      return e;
    }
    report.applied.push_back(m.name);
  }

  // Monthly log partitions: the current and the next month, on every run.
  auto has_fn = c.exec("SELECT to_regproc('ensure_execution_log_partitions') IS NOT NULL");
  if (!has_fn) return has_fn.err();
  if (has_fn->get_bool(0, 0)) {
    auto p = c.exec("SELECT ensure_execution_log_partitions(1)");
    if (!p) return p.err();
    report.partitions_created = static_cast<int>(p->get_int(0, 0));
  }
  return report;
}

}  // namespace flowtrack::storage
