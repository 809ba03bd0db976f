// Array literals for unnest() batches: quoting, escaping, NULLs.
#include <gtest/gtest.h>

#include "storage/pg/array.hpp"

namespace flowtrack::pg {
namespace {

TEST(array_builder, empty_array) { EXPECT_EQ(array_builder().finish(), "{}"); }

TEST(array_builder, quotes_escapes_and_nulls) {
  array_builder b;
  b.add(std::string_view("plain")).add(std::string_view(R"(say "hi")")).add(std::string_view(R"(back\slash)"));
  b.add_null().add(std::int64_t{-42}).add_optional(std::nullopt).add_optional(std::string("NULL"));
  EXPECT_EQ(b.finish(), R"({"plain","say \"hi\"","back\\slash",NULL,-42,NULL,"NULL"})");
}

TEST(array_builder, keeps_commas_braces_and_unicode_inside_quotes) {
  array_builder b;
  b.add(std::string_view(R"({"a":[1,2]})")).add(std::string_view("Özil, ünïcode"));
  EXPECT_EQ(b.finish(), R"({"{\"a\":[1,2]}","Özil, ünïcode"})");
}

}  // namespace
}  // namespace flowtrack::pg
