// The migrated schema held against the table specification as the project writes it down
// (expected_schema.tsv): every table, column, type, NOT NULL, default, index, constraint and
// foreign key, read from pg_catalog, each difference named.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "storage/pg/connection.hpp"
#include "tests/support/scratch_database.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack {
namespace {

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(line);
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

// A partial index's predicate as the spec writes it (status IN ('a', 'b')) and as pg_get_expr
// prints it (((status)::text = ANY ((ARRAY['a'::character varying, ...])::text[]))), compared
// without casts, brackets, blanks or case.
std::string normalised_predicate(std::string p) {
  static const std::regex casts("::(character varying|text|integer|boolean|uuid)(\\[\\])?");
  p = std::regex_replace(p, casts, "");
  std::transform(p.begin(), p.end(), p.begin(), ::tolower);
  p = std::regex_replace(p, std::regex(" in "), " = any ");
  p = std::regex_replace(p, std::regex("array"), "");
  std::string out;
  for (char c : p)
    if (!std::strchr("()[] ", c)) out += c;
  return out;
}

// A default as written in the spec and as pg_get_expr prints it, compared without trailing
// casts ('x'::character varying, '{}'::jsonb) and, outside literals, without case.
std::string normalised_default(std::string d) {
  for (;;) {
    auto cast = d.rfind("::");
    if (cast == std::string::npos || d.find('\'', cast) != std::string::npos) break;
    d.erase(cast);
  }
  if (!d.empty() && d.front() != '\'') std::transform(d.begin(), d.end(), d.begin(), ::tolower);
  return d;
}

// What the live database has, read once.
struct live_schema {
  struct column {
    std::string type;
    bool not_null = false;
    std::string default_expr;
  };
  std::set<std::string> extensions, tables, partitioned, update_triggers;
  std::map<std::pair<std::string, std::string>, column> columns;
  struct index {
    std::string table, columns, method, predicate;
  };
  std::map<std::string, index> indexes;
  std::set<std::pair<std::string, std::string>> unique_column_sets;   // (table, cols)
  std::map<std::pair<std::string, std::string>, std::pair<char, std::string>> constraints;  // (table, name) -> (type, cols)
  std::map<std::pair<std::string, std::string>, std::string> foreign_keys;  // (table, col) -> "ref.refcol:action"

  static live_schema read(pg::connection& c) {
    live_schema s;
    auto q = [&c](const char* sql) {
      auto r = c.exec(sql);
      EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.err().message);
      return r.ok() ? std::move(*r) : pg::rows{};
    };
    auto r = q("SELECT extname FROM pg_extension");
    for (int i = 0; i < r.size(); ++i) s.extensions.emplace(r.get(i, 0));
    r = q("SELECT c.relname, c.relkind = 'p' FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
          "AND c.relkind IN ('r', 'p') AND NOT c.relispartition");
    for (int i = 0; i < r.size(); ++i) {
      s.tables.emplace(r.get(i, 0));
      if (r.get_bool(i, 1)) s.partitioned.emplace(r.get(i, 0));
    }
    r = q("SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
          "coalesce(pg_get_expr(d.adbin, d.adrelid), '') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
          "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
          "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
          "AND NOT a.attisdropped");
    for (int i = 0; i < r.size(); ++i)
      s.columns[{std::string(r.get(i, 0)), std::string(r.get(i, 1))}] =
          column{std::string(r.get(i, 2)), r.get_bool(i, 3), std::string(r.get(i, 4))};
    // Key columns of each index in order, " desc" marking a descending one ('?' for an
    // expression, which no spec index uses); its access method and partial predicate.
    r = q("SELECT ic.relname, t.relname, x.indisunique AND x.indpred IS NULL, "
          "(SELECT string_agg(coalesce(a.attname, '?') || CASE WHEN (x.indoption::int2[])[k.ord - 1] & 1 = 1 "
          "   THEN ' desc' ELSE '' END, ',' ORDER BY k.ord) FROM unnest(x.indkey::int2[]) "
          "   WITH ORDINALITY k(attnum, ord) LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
          "   WHERE k.ord <= x.indnkeyatts), "
          "am.amname, coalesce(pg_get_expr(x.indpred, x.indrelid), '-') "
          "FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
          "JOIN pg_am am ON am.oid = ic.relam WHERE t.relnamespace = 'public'::regnamespace");
    for (int i = 0; i < r.size(); ++i) {
      s.indexes[std::string(r.get(i, 0))] = {std::string(r.get(i, 1)), std::string(r.get(i, 3)), std::string(r.get(i, 4)),
                                             std::string(r.get(i, 5))};
      if (r.get_bool(i, 2)) s.unique_column_sets.emplace(std::string(r.get(i, 1)), std::string(r.get(i, 3)));
    }
    r = q("SELECT t.relname, k.conname, k.contype, "
          "coalesce((SELECT string_agg(a.attname, ',' ORDER BY u.ord) FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord) "
          "  JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum), ''), "
          "coalesce(f.relname, ''), coalesce((SELECT a.attname FROM pg_attribute a WHERE a.attrelid = k.confrelid "
          "  AND a.attnum = k.confkey[1]), ''), k.confdeltype "
          "FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid LEFT JOIN pg_class f ON f.oid = k.confrelid "
          "WHERE k.connamespace = 'public'::regnamespace AND NOT EXISTS "
          "(SELECT 1 FROM pg_inherits h WHERE h.inhrelid = k.conrelid)");
    for (int i = 0; i < r.size(); ++i) {
      std::string table(r.get(i, 0)), cols(r.get(i, 3));
      char type = r.get(i, 2).front();
      s.constraints[{table, std::string(r.get(i, 1))}] = {type, cols};
      if (type == 'f' && cols.find(',') == std::string::npos)
        s.foreign_keys[{table, cols}] =
            std::string(r.get(i, 4)) + "." + std::string(r.get(i, 5)) + ":" + std::string(r.get(i, 6));
    }
    r = q("SELECT DISTINCT t.relname FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid "
          "WHERE NOT g.tgisinternal AND g.tgtype & 16 = 16 AND t.relnamespace = 'public'::regnamespace");
    for (int i = 0; i < r.size(); ++i) s.update_triggers.emplace(r.get(i, 0));
    return s;
  }
};

std::string expected_path() { return std::string(FLOWTRACK_SOURCE_DIR) + "/tests/integration/pg/expected_schema.tsv"; }

// Every way the live schema falls short of the expected one, one line each, naming the object.
std::vector<std::string> schema_differences(const live_schema& live, const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  if (!in) return {"cannot read " + path};
  static const std::map<std::string, char> actions{{"cascade", 'c'}, {"restrict", 'r'}, {"set_null", 'n'}};
  static const std::map<std::string, std::size_t> fields_of{
      {"extension", 2}, {"table", 2}, {"column", 6}, {"unique", 3}, {"index", 6}, {"check", 3},
      {"constraint_unique", 4}, {"fk", 6}, {"updated_at_trigger", 2}};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    auto f = split(line, '\t');
    auto shape = fields_of.find(f[0]);
    if (shape == fields_of.end() || f.size() < shape->second || (f[0] == "fk" && !actions.count(f[5]))) {
      out.push_back("expected_schema.tsv: cannot read '" + line + "'");
      continue;
    }
    const auto& kind = f[0];
    if (kind == "extension") {
      if (!live.extensions.count(f[1])) out.push_back("extension " + f[1] + ": missing");
    } else if (kind == "table") {
      if (!live.tables.count(f[1])) out.push_back(f[1] + ": table missing");
      else if (f.size() > 2 && f[2] == "partitioned" && !live.partitioned.count(f[1]))
        out.push_back(f[1] + ": not partitioned");
    } else if (kind == "column") {
      auto it = live.columns.find({f[1], f[2]});
      std::string name = f[1] + "." + f[2];
      if (it == live.columns.end()) {
        out.push_back(name + ": column missing");
        continue;
      }
      const auto& c = it->second;
      std::string type = f[3] == "timestamp" ? "timestamp without time zone" : f[3];
      if (c.type != type) out.push_back(name + ": type " + c.type + ", expected " + type);
      if (f[4] == "not_null" && !c.not_null) out.push_back(name + ": should be NOT NULL");
      if (f[4] == "nullable" && c.not_null && f[2] != "id") out.push_back(name + ": should be nullable");
      if (f[5] != "-" && normalised_default(c.default_expr) != normalised_default(f[5]))
        out.push_back(name + ": default '" + c.default_expr + "', expected " + f[5]);
    } else if (kind == "unique") {
      if (!live.unique_column_sets.count({f[1], f[2]})) out.push_back(f[1] + "." + f[2] + ": not UNIQUE");
    } else if (kind == "index") {
      auto it = live.indexes.find(f[2]);
      if (it == live.indexes.end()) {
        out.push_back(f[1] + ": index " + f[2] + " missing");
        continue;
      }
      const auto& x = it->second;
      if (x.table != f[1] || x.columns != f[3])
        out.push_back(f[1] + ": index " + f[2] + " is on " + x.table + "(" + x.columns + "), expected " + f[1] + "(" + f[3] + ")");
      if (x.method != f[4]) out.push_back(f[1] + ": index " + f[2] + " uses " + x.method + ", expected " + f[4]);
      if (normalised_predicate(x.predicate) != normalised_predicate(f[5]))
        out.push_back(f[1] + ": index " + f[2] + " covers rows WHERE " + x.predicate + ", expected " + f[5]);
    } else if (kind == "check" || kind == "constraint_unique") {
      char want = kind == "check" ? 'c' : 'u';
      auto it = live.constraints.find({f[1], f[2]});
      if (it == live.constraints.end() || it->second.first != want)
        out.push_back(f[1] + ": constraint " + f[2] + " missing");
      else if (want == 'u' && it->second.second != f[3])
        out.push_back(f[1] + ": constraint " + f[2] + " is on (" + it->second.second + "), expected (" + f[3] + ")");
    } else if (kind == "fk") {
      auto it = live.foreign_keys.find({f[1], f[2]});
      std::string want = f[3] + "." + f[4] + ":" + actions.at(f[5]);
      if (it == live.foreign_keys.end()) out.push_back(f[1] + "." + f[2] + " -> " + f[3] + ": foreign key missing");
      else if (it->second != want)
        out.push_back(f[1] + "." + f[2] + " -> " + f[3] + ": foreign key is " + it->second + ", expected " + want);
    } else if (kind == "updated_at_trigger") {
      if (!live.update_triggers.count(f[1])) out.push_back(f[1] + ": no UPDATE trigger keeps updated_at current");
    }
  }
  return out;
}

std::unique_ptr<pg::connection> connect(const std::string& url) {
  auto c = pg::connection::open(pg::connect_options{url});
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.err().message);
  return c.ok() ? std::move(*c) : nullptr;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// A freshly migrated database of its own, dropped afterwards, so a test may damage it.
class migrated_database : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(scratch_.ok());
    db_ = connect(scratch_.url());
    ASSERT_TRUE(db_);
  }
  test::scratch_database scratch_{"ft_schema"};
  std::unique_ptr<pg::connection> db_;
};

TEST(expected_schema, covers_the_24_tables_of_the_specification) {
  std::ifstream in(expected_path());
  ASSERT_TRUE(in) << expected_path();
  std::string line;
  int tables = 0, columns = 0, indexes = 0, foreign_keys = 0;
  while (std::getline(in, line)) {
    tables += line.rfind("table\t", 0) == 0;
    columns += line.rfind("column\t", 0) == 0;
    indexes += line.rfind("index\t", 0) == 0;
    foreign_keys += line.rfind("fk\t", 0) == 0;
  }
  EXPECT_EQ(tables, 24);
  EXPECT_EQ(columns, 315);
  EXPECT_EQ(indexes, 75);
  EXPECT_EQ(foreign_keys, 29);
}

TEST_F(migrated_database, matches_the_specification) {
  auto diff = schema_differences(live_schema::read(*db_), expected_path());
  EXPECT_TRUE(diff.empty()) << joined(diff);
}

// The check itself can fail, and says what differs by name.
TEST_F(migrated_database, names_each_difference) {
  ASSERT_TRUE(db_->exec_script("DROP INDEX idx_leads_tags;"
                               "ALTER TABLE leads ALTER COLUMN phone DROP NOT NULL;"  // may already be nullable
                               "ALTER TABLE leads ALTER COLUMN score SET DEFAULT 7;"
                               "ALTER TABLE leads ALTER COLUMN email TYPE text;"
                               "ALTER TABLE workspace_members DROP CONSTRAINT workspace_members_valid_role;"
                               "ALTER TABLE lead_events DROP CONSTRAINT lead_events_lead_id_fkey;"
                               "ALTER TABLE workspaces ALTER COLUMN name DROP NOT NULL;"
                               "DROP INDEX idx_leads_created; CREATE INDEX idx_leads_created ON leads(created_at);"
                               "DROP INDEX idx_workflow_nodes_config; CREATE INDEX idx_workflow_nodes_config ON workflow_nodes(id);"
                               "DROP INDEX idx_users_clerk_id; CREATE INDEX idx_users_clerk_id ON users(clerk_user_id);"
                               "ALTER TABLE users ALTER COLUMN created_at TYPE timestamptz;")
                  .ok());
  auto diff = joined(schema_differences(live_schema::read(*db_), expected_path()));
  EXPECT_NE(diff.find("leads: index idx_leads_tags missing"), std::string::npos) << diff;
  EXPECT_NE(diff.find("leads.score: default '7', expected 0"), std::string::npos) << diff;
  EXPECT_NE(diff.find("leads.email: type text, expected citext"), std::string::npos) << diff;
  EXPECT_NE(diff.find("workspace_members: constraint workspace_members_valid_role missing"), std::string::npos) << diff;
  EXPECT_NE(diff.find("lead_events.lead_id -> leads: foreign key missing"), std::string::npos) << diff;
  EXPECT_NE(diff.find("workspaces.name: should be NOT NULL"), std::string::npos) << diff;
  EXPECT_NE(diff.find("leads: index idx_leads_created is on leads(created_at), expected leads(created_at desc)"), std::string::npos) << diff;
  EXPECT_NE(diff.find("workflow_nodes: index idx_workflow_nodes_config uses btree, expected gin"), std::string::npos) << diff;
  EXPECT_NE(diff.find("users: index idx_users_clerk_id covers rows WHERE -, expected deleted_at IS NULL"), std::string::npos) << diff;
  EXPECT_NE(diff.find("users.created_at: type timestamp with time zone, expected timestamp without time zone"), std::string::npos) << diff;
}

}  // namespace
}  // namespace flowtrack
