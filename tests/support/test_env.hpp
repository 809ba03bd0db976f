// What the test script hands the suites: where the throwaway servers listen.
#pragma once

#include <string>

namespace flowtrack::test {

/// The value of an environment variable the test script sets; fails the test when it is missing.
std::string require_env(const char* name);

/// libpq URI of the migrated test database (FLOWTRACK_TEST_DATABASE_URL).
std::string database_url();

/// redis://host:port/db of the test Redis (FLOWTRACK_TEST_REDIS_URL).
std::string redis_url();

/// A name unique to this process and call, for rows and keys that must not collide between tests.
std::string unique_name(const std::string& prefix);

}  // namespace flowtrack::test
