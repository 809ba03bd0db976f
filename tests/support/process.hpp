// Test helpers for whole nodes: start flowtrackd as a child process, talk HTTP to it.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace flowtrack::test {

/// A child process with its stdout+stderr in a log file; killed (SIGKILL) if still running at
/// destruction.
class child_process {
 public:
  child_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  /// Waits for exit; the exit code (128+signal when killed), or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /// What it printed so far.
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  bool exited_ = false;
};

/// A free TCP port on 127.0.0.1 (bound and released).
int free_port();

/// The result of one HTTP exchange.
struct http_reply {
  int status = 0;  ///< 0 when no answer came
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
};

/// One HTTP/1.1 request on a new connection to `host` (an IP address); status 0 when no whole
/// answer came within `timeout`.
http_reply http_request(const std::string& host, int port, const std::string& method, const std::string& target,
                        const std::string& body = "", const std::map<std::string, std::string>& headers = {},
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));
/// The same to 127.0.0.1.
http_reply http_request(int port, const std::string& method, const std::string& target, const std::string& body = "",
                        const std::map<std::string, std::string>& headers = {},
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Polls GET target until it answers `status`, up to the timeout; true when it did.
bool await_http_status(const std::string& host, int port, const std::string& target, int status, std::chrono::milliseconds timeout);
bool await_http_status(int port, const std::string& target, int status, std::chrono::milliseconds timeout);

}  // namespace flowtrack::test
