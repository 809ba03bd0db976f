// Maps libpq failures (SQLSTATE, lost connections) to FlowTrack error values.
// Knows libpq's result codes, nothing of callers.
#pragma once

#include <libpq-fe.h>

#include "runtime/error.hpp"

namespace flowtrack::pg {

/// The FlowTrack code for a SQLSTATE (e.g. "23505" -> conflict).
error_code code_for_sqlstate(std::string_view sqlstate);

/// Our words for a value the database refused (SQLSTATE classes 22 and 23), naming the column or
/// constraint when PostgreSQL says which, never the value or PostgreSQL's own text.
std::string refused_value_message(std::string_view sqlstate, const char* constraint, const char* column);

/// An error from a failed result, carrying the constraint name (or SQLSTATE) as its subject.
error error_from_result(const PGresult* res, PGconn* conn);

/// An error for a connection that failed or went away.
error connection_error(PGconn* conn, std::string_view during);

}  // namespace flowtrack::pg
