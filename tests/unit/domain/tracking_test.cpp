// Tracking references and the rewriting of an email's HTML: links go through the click URL, the
// pixel lands before </body>, nothing else changes.
#include <gtest/gtest.h>

#include "domain/tracking.hpp"

namespace flowtrack::domain {
namespace {

const std::string k_ws = "11111111-1111-4111-8111-111111111111";
const std::string k_lead = "22222222-2222-4222-8222-222222222222";

TEST(tracking, references_round_trip_and_malformed_ones_are_refused) {
  track_ref click{track_kind::click, k_ws, k_lead, "", "https://example.com/a?b=1&c=2"};
  auto back = decode_track_ref(encode_track_ref(click));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, track_kind::click);
  EXPECT_EQ(back->workspace_id, k_ws);
  EXPECT_EQ(back->lead_id, k_lead);
  EXPECT_EQ(back->url, click.url);
  EXPECT_TRUE(decode_track_ref(encode_track_ref({track_kind::open, k_ws, k_lead, k_lead, ""})));

  EXPECT_FALSE(decode_track_ref(encode_track_ref({track_kind::open, "not-a-uuid", k_lead, "", ""})));
  EXPECT_FALSE(decode_track_ref(encode_track_ref({track_kind::open, k_ws, k_lead, "", "https://x.example"})))
      << "only a click carries a URL";
  EXPECT_FALSE(decode_track_ref(encode_track_ref({track_kind::click, k_ws, k_lead, "", "javascript:alert(1)"})));
  EXPECT_FALSE(decode_track_ref(encode_track_ref({track_kind::click, k_ws, k_lead, "", ""})));
  EXPECT_FALSE(decode_track_ref("x"));
  EXPECT_FALSE(decode_track_ref(""));
  EXPECT_FALSE(decode_track_ref("z\n" + k_ws + "\n" + k_lead + "\n\n"));
}

TEST(tracking, links_are_rewritten_and_the_pixel_lands_before_the_body_end) {
  std::string html = R"(<html><body><p>Hi <abbr title="x">A</abbr></p>)"
                     R"(<a href="https://example.com/offer?a=1&amp;b=2">offer</a> )"
                     R"(<A class="btn" HREF = 'http://example.org/'>site</A> )"
                     R"(<a href="mailto:me@example.com">mail</a> <a href="#top">top</a> <a name="x">anchor</a></body></html>)";
  std::vector<std::string> seen;
  auto out = track_html(html, [&](std::string_view url) {
    seen.emplace_back(url);
    return "https://t.example/t/c/TOKEN" + std::to_string(seen.size()) + "?x=1&y=2";
  }, "https://t.example/t/o/P.gif");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "https://example.com/offer?a=1&b=2") << "entities decoded, as the browser follows it";
  EXPECT_EQ(seen[1], "http://example.org/");
  EXPECT_NE(out.find(R"(<a href="https://t.example/t/c/TOKEN1?x=1&amp;y=2">offer</a>)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"(<A class="btn" HREF = "https://t.example/t/c/TOKEN2?x=1&amp;y=2">site</A>)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"(<a href="mailto:me@example.com">)"), std::string::npos);
  EXPECT_NE(out.find(R"(<a href="#top">)"), std::string::npos);
  EXPECT_NE(out.find(R"(<abbr title="x">)"), std::string::npos);
  EXPECT_NE(out.find(R"(<img src="https://t.example/t/o/P.gif" width="1" height="1" alt="" style="display:none"></body>)"),
            std::string::npos) << out;
}

TEST(tracking, html_without_a_body_gets_the_pixel_at_the_end_and_broken_tags_survive) {
  auto out = track_html("<p>x</p><a href=\"https://e.example", [](std::string_view) { return std::string("Z"); }, "P");
  EXPECT_EQ(out.rfind("<p>x</p><a href=\"https://e.example", 0), 0u) << out;
  EXPECT_TRUE(out.ends_with("<img src=\"P\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">")) << out;
}

}  // namespace
}  // namespace flowtrack::domain
