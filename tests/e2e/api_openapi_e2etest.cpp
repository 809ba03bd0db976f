// GET /api/v1/openapi.json from a running node (a database of this suite's own): anyone may read
// it, it is the OpenAPI 3.1 document as JSON with an ETag, and the node's start-up check found
// no route of serve's registration missing from it and none in it that the node does not serve.
#include <gtest/gtest.h>

#include <string>

#include <boost/json.hpp>

#include "tests/support/api_session.hpp"

namespace flowtrack::test {
namespace {
namespace json = boost::json;

scratch_database& database() {
  static scratch_database db("ft_api_openapi");
  return db;
}

class api_openapi : public api_session {
 protected:
  void SetUp() override {
    ASSERT_TRUE(use_database(database()));
    // No jwt_key: the document needs none, and the node's warning about it shows that its
    // warnings reach the log the test reads.
    start_node({});
  }
};

TEST_F(api_openapi, a_running_node_serves_the_document_to_anyone_and_it_matches_the_routes) {
  auto r = call("GET", "/openapi.json");
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.header("content-type"), "application/json");
  ASSERT_TRUE(r.body.is_object()) << "not JSON: " << r.text.substr(0, 200);
  EXPECT_TRUE(r.body.at("openapi").as_string().starts_with("3.1.")) << r.body.at("openapi");
  EXPECT_TRUE(r.body.at("paths").as_object().contains("/openapi.json"));
  EXPECT_TRUE(r.body.at("paths").as_object().contains("/workspaces/{id}/leads"));
  EXPECT_FALSE(r.header("etag").empty());

  auto again = call("GET", "/openapi.json");
  EXPECT_EQ(again.header("etag"), r.header("etag")) << "the same document, the same tag";

  auto log = node->process->log();
  ASSERT_NE(log.find("no jwt_key"), std::string::npos) << "the node's warnings are not in the log read here:\n" << log;
  EXPECT_EQ(log.find("openapi.json does not match the router"), std::string::npos) << log;
}

}  // namespace
}  // namespace flowtrack::test
