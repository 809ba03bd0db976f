// The urlencoded decoder and encoder, as browsers send form bodies.
#include <gtest/gtest.h>

#include "adapters/http/urlencoded.hpp"

namespace flowtrack {
namespace {

TEST(urlencoded, bodies_decode_like_browsers_send_them) {
  auto r = http::parse_urlencoded("email=ann%40example.com&name=Ann+O%27Neil&empty=&flag&&notes=a%0D%0Ab&x=%E2%82%AC");
  ASSERT_TRUE(r.ok());
  std::vector<std::pair<std::string, std::string>> want{{"email", "ann@example.com"}, {"name", "Ann O'Neil"}, {"empty", ""},
                                                        {"flag", ""}, {"notes", "a\r\nb"}, {"x", "€"}};
  EXPECT_EQ(*r, want);
  EXPECT_EQ(http::parse_urlencoded("a=%FF")->front().second, "\xff") << "bytes are kept; UTF-8 is checked by the field";
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "%g1=x"}) {
    auto e = http::parse_urlencoded(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.err().subject, "body");
  }
  EXPECT_TRUE(http::parse_urlencoded("")->empty());
  EXPECT_EQ(http::url_encode("a b/ü"), "a%20b%2F%C3%BC");
}

}  // namespace
}  // namespace flowtrack
