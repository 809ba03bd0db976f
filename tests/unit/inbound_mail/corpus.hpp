// Reading the hand-written mail corpus (tests/data/mail/) in the inbound mail tests.
#pragma once

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace flowtrack::domain::mail::test {

inline std::string corpus_path(const std::string& file) { return std::string(FLOWTRACK_MAIL_CORPUS) + "/" + file; }

/// The bytes of a corpus file; empty when it cannot be read (the caller's checks then fail).
inline std::string read_corpus(const std::string& file) {
  std::ifstream in(corpus_path(file), std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace flowtrack::domain::mail::test
