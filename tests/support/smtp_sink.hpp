// A real SMTP server for tests: tests/support/smtp_sink.py (aiosmtpd) on a free port, storing
// each message it accepts, and the messages as the tests read them.
#pragma once

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/support/process.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::test {

namespace sink_detail {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string lf(std::string s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!(s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) out += s[i];
  return out;
}

}  // namespace sink_detail

namespace fs = std::filesystem;
using sink_detail::read_file;
using sink_detail::lf;

/// One message as the sink stored it.
struct received {
  std::string raw;
  boost::json::object parsed;
  std::string header(const std::string& name) const {
    auto* h = parsed.at("headers").as_object().if_contains(name);
    return h ? std::string(h->as_string()) : std::string();
  }
  const boost::json::array& parts() const { return parsed.at("parts").as_array(); }
  std::string part_content(std::size_t i) const { return lf(std::string(parts().at(i).at("content").as_string())); }
  std::string raw_header(const std::string& name) const {
    auto end = raw.find("\r\n\r\n");
    std::istringstream in(raw.substr(0, end));
    std::string line, value;
    bool in_it = false;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
        if (in_it) value += "\r\n" + line;
        continue;
      }
      if (in_it) break;
      if (line.compare(0, name.size() + 1, name + ":") == 0) {
        in_it = true;
        value = line.substr(name.size() + 1);
      }
    }
    return value;
  }
};

/// A running smtp_sink.py on a free port, its messages in a folder of its own.
class smtp_sink {
 public:
  explicit smtp_sink(int port = free_port(), std::string host = "127.0.0.1")
      : dir_(fs::temp_directory_path() / unique_name("ft-smtp")),
        host_(std::move(host)),
        port_(port),
        process_({"/usr/bin/python3", FLOWTRACK_SMTP_SINK, "--host", host_, "--port", std::to_string(port_), "--dir", dir_.string()}, {}) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!fs::exists(dir_ / "ready") && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(fs::exists(dir_ / "ready")) << "smtp sink did not start:\n" << process_.log();
  }
  ~smtp_sink() {
    process_.signal(SIGTERM);
    process_.wait(std::chrono::seconds(5));
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  int port() const { return port_; }
  std::string relay() const { return "smtp://" + host_ + ":" + std::to_string(port_); }

  /// Waits until `n` messages have arrived (or the timeout passed) and returns them in order.
  std::vector<received> await(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(15)) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto got = messages();
      if (got.size() >= n || std::chrono::steady_clock::now() > deadline) return got;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::vector<received> messages() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<received> out;
    for (const auto& f : files) {
      received r;
      r.parsed = boost::json::parse(read_file(f)).as_object();
      auto eml = f;
      r.raw = read_file(eml.replace_extension(".eml"));
      out.push_back(std::move(r));
    }
    return out;
  }

 private:
  fs::path dir_;
  std::string host_;
  int port_;
  child_process process_;
};

}  // namespace flowtrack::test
