// A plain HTTP peer for e2e tests that need somewhere to send webhooks: a blocking receiver on
// 127.0.0.1 (one connection at a time) that answers 200 and keeps each request it saw.
#pragma once

#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace flowtrack::test {

/// One request as the receiver saw it.
struct seen_request {
  std::string method, target, body;
  std::map<std::string, std::string> headers;  ///< lower-case names
};

/// Answers 200 "ok" to every request and closes the connection; `requests()` lists them in order.
class http_receiver {
 public:
  http_receiver() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~http_receiver() {
    stop_ = true;
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)}, ec);
    thread_.join();
  }
  http_receiver(const http_receiver&) = delete;
  http_receiver& operator=(const http_receiver&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/in"; }
  std::vector<seen_request> requests() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  void serve() {
    namespace http = boost::beast::http;
    while (!stop_) {
      boost::asio::ip::tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) continue;
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(socket, buf, req, ec);
      if (ec) continue;
      seen_request r{std::string(req.method_string()), std::string(req.target()), req.body(), {}};
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[name] = std::string(f.value());
      }
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(std::move(r));
      }
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.keep_alive(false);
      res.body() = "ok";
      res.prepare_payload();
      http::write(socket, res, ec);
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<seen_request> seen_;
  std::thread thread_;
};

}  // namespace flowtrack::test
