// Every message of tests/data/mail/ against its manifest (expected.tsv): the lead's address, name,
// phone, company, the detected format and the header block's language.
#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "corpus.hpp"
#include "domain/mail/lead.hpp"
#include "domain/mail/message.hpp"

namespace {

using namespace flowtrack::domain::mail;
using flowtrack::domain::mail::test::read_corpus;

struct expectation {
  std::string file, email, name, phone, company, format, language;
};

std::string dash(const std::string& s) { return s == "-" ? std::string() : s; }

std::vector<expectation> manifest() {
  std::vector<expectation> out;
  std::istringstream in(read_corpus("expected.tsv"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::size_t start = 0;
    while (true) {
      const std::size_t tab = line.find('\t', start);
      cols.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (cols.size() != 7) {
      ADD_FAILURE() << "manifest line with " << cols.size() << " columns: " << line;
      continue;
    }
    out.push_back({cols[0], dash(cols[1]), dash(cols[2]), dash(cols[3]), dash(cols[4]), cols[5], dash(cols[6])});
  }
  return out;
}

TEST(inbound_mail_corpus, extracts_the_expected_lead_from_every_message) {
  const auto cases = manifest();
  ASSERT_GE(cases.size(), 50u);
  std::size_t exact = 0, forwarded = 0, email_right = 0;
  std::vector<std::string> forward_misses;
  for (const auto& c : cases) {
    const std::string raw = read_corpus(c.file);
    ASSERT_FALSE(raw.empty()) << c.file;
    auto m = parse(raw);
    ASSERT_TRUE(m.ok()) << c.file << ": " << m.err().message;
    const lead_extraction lead = extract_lead(*m);
    std::string format(to_string(lead.format));
    if (lead.from_html) format += "/html";
    const bool is_forward = c.format.rfind("direct", 0) != 0;
    forwarded += is_forward ? 1 : 0;
    std::ostringstream diff;
    auto check = [&](const char* what, const std::string& want, const std::string& got) {
      if (want != got) diff << "  " << what << ": want \"" << want << "\", got \"" << got << "\"\n";
    };
    check("email", c.email, lead.email);
    check("name", c.name, lead.name);
    check("phone", c.phone, lead.phone);
    check("company", c.company, lead.company_name);
    check("format", c.format, format);
    check("language", c.language, lead.language);
    if (lead.email == c.email) ++email_right;
    if (diff.str().empty()) {
      ++exact;
    } else {
      std::printf("MISS %s\n%s", c.file.c_str(), diff.str().c_str());
      if (is_forward) forward_misses.push_back(c.file);
    }
    EXPECT_EQ(is_forward, lead.forwarded) << c.file;
  }
  const double rate = 100.0 * static_cast<double>(exact) / static_cast<double>(cases.size());
  std::printf("extraction: %zu/%zu exact (%.1f%%), lead address right in %zu/%zu, %zu forwarded messages\n", exact,
              cases.size(), rate, email_right, cases.size(), forwarded);
  EXPECT_GE(forwarded, 40u);
  EXPECT_GE(rate, 98.0);
  EXPECT_TRUE(forward_misses.empty()) << "misses among forwarded messages: " << forward_misses.size();
}

}  // namespace
