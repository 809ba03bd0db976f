#include "storage/pg/error_map.hpp"

#include <string>

namespace flowtrack::pg {
namespace {

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

std::string refused_value_message(std::string_view sqlstate, const char* constraint, const char* column) {
  std::string what = column ? std::string(column) : "a value";
  std::string rule = constraint ? " (" + std::string(constraint) + ")" : "";
  if (sqlstate == "22001") return what + " is too long";
  if (sqlstate == "22003") return what + " is a number out of range";
  if (sqlstate == "22007" || sqlstate == "22008") return what + " is not a valid date or time";
  if (sqlstate == "22P02") return what + " has the wrong format";
  if (sqlstate == "22021") return what + " is not valid UTF-8";
  if (sqlstate == "23502") return what + " is required";
  if (sqlstate == "23505") return "this already exists" + rule;
  if (sqlstate == "23503") return "this refers to something that does not exist" + rule;
  if (sqlstate == "23514") return "a value breaks a rule" + rule;
  return "the database refused a value (SQLSTATE " + std::string(sqlstate) + ")" + rule;
}

error_code code_for_sqlstate(std::string_view s) {
  if (s.size() != 5) return error_code::internal;
  if (s == "23505") return error_code::conflict;
  if (s == "23503") return error_code::not_found;
  if (s == "23514" || s == "23502" || s == "23P01" || s == "23000" || s == "23001") return error_code::invalid;
  if (s.substr(0, 2) == "22") return error_code::invalid;  // data exception: bad value
  if (s == "57014") return error_code::timeout;             // query_canceled (statement timeout)
  // Serialization failures and deadlocks succeed when run again.
  if (s == "40001" || s == "40P01") return error_code::unavailable;
  if (s.substr(0, 2) == "08" || s.substr(0, 2) == "53" || s == "57P01" || s == "57P02" || s == "57P03")
    return error_code::unavailable;
  return error_code::internal;
}

error error_from_result(const PGresult* res, PGconn* conn) {
  if (res == nullptr) return connection_error(conn, "query");
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  if (state == nullptr) {
    // No SQLSTATE: libpq itself failed, almost always because the connection broke.
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) return connection_error(conn, "query");
    return error{error_code::internal, trimmed(PQresultErrorMessage(res)), {}};
  }
  const char* constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
  const char* column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
  std::string_view sqlstate(state);
  std::string subject = constraint ? constraint : column ? column : std::string(state);
  if (sqlstate.substr(0, 2) == "22" || sqlstate.substr(0, 2) == "23") {
    // A value the database refused: PostgreSQL's text quotes the value and reads as PostgreSQL's;
    // callers, and clients after them, get our words with the column, constraint and SQLSTATE.
    return error{code_for_sqlstate(state), refused_value_message(sqlstate, constraint, column), std::move(subject)};
  }
  const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  std::string message = trimmed(primary ? primary : PQresultErrorMessage(res));
  if (const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) message += " (" + trimmed(detail) + ")";
  return error{code_for_sqlstate(state), std::move(message), std::move(subject)};
}

error connection_error(PGconn* conn, std::string_view during) {
  std::string why = conn ? trimmed(PQerrorMessage(conn)) : "no connection";
  if (why.empty()) why = "connection lost";
  return error{error_code::unavailable, "PostgreSQL unavailable during " + std::string(during) + ": " + why, "postgresql"};
}

}  // namespace flowtrack::pg
