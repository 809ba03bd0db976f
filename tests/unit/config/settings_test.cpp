// Settings: defaults, file < environment < flags, and errors that name the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/settings.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::config {
namespace {

struct env_block {
  std::vector<std::string> storage;
  std::vector<char*> ptrs;
  explicit env_block(std::vector<std::string> vars) : storage(std::move(vars)) {
    for (auto& s : storage) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  char** get() { return ptrs.data(); }
};

std::string write_file(const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / (test::unique_name("ft-config") + ".ini");
  std::ofstream(path) << text;
  return path.string();
}

TEST(settings, defaults_are_usable) {
  std::vector<std::string> args;
  env_block env({});
  settings s = load(args, env.get());
  EXPECT_EQ(s.http_listen.to_string(), "127.0.0.1:8080");
  EXPECT_EQ(s.smtp_listen.to_string(), "127.0.0.1:2525");
  EXPECT_EQ(s.log_level, "info");
  EXPECT_GT(s.pg_pool_size, 0);
}

TEST(settings, flags_beat_environment_which_beats_the_file) {
  std::string file = write_file(
      "# comment\n[node]\nhttp_listen = 0.0.0.0:1111\nsmtp_listen = 127.0.0.1:2222   # inline\nlog_level = debug\n"
      "redis_url = redis://file:1/0\n");
  std::vector<std::string> args{"--config", file, "--http-listen=127.0.0.1:3333", "positional"};
  env_block env({"FLOWTRACK_HTTP_LISTEN=127.0.0.1:4444", "FLOWTRACK_SMTP_LISTEN=127.0.0.1:5555", "PATH=/bin",
                 "FLOWTRACK_TEST_DATABASE_URL=ignored"});
  settings s = load(args, env.get());
  EXPECT_EQ(s.http_listen.to_string(), "127.0.0.1:3333");  // flag
  EXPECT_EQ(s.smtp_listen.to_string(), "127.0.0.1:5555");  // environment over file
  EXPECT_EQ(s.log_level, "debug");                         // file over default
  EXPECT_EQ(s.redis_url, "redis://file:1/0");
  ASSERT_EQ(args.size(), 1u) << "flags that are settings are consumed; the rest stay";
  EXPECT_EQ(args[0], "positional");
  std::filesystem::remove(file);
}

TEST(settings, config_file_can_come_from_the_environment) {
  std::string file = write_file("form_rate_limit = 0\n");
  std::vector<std::string> args;
  env_block env({"FLOWTRACK_CONFIG=" + file});
  EXPECT_EQ(load(args, env.get()).form_rate_limit, 0);
  std::filesystem::remove(file);
}

TEST(settings, parses_lists_and_ipv6_endpoints) {
  std::vector<std::string> args{"--webhook-allow", "127.0.0.0/8, ::1/128,10.1.2.3", "--http-listen", "[::1]:9000"};
  env_block env({});
  settings s = load(args, env.get());
  ASSERT_EQ(s.webhook_allow.size(), 3u);
  EXPECT_EQ(s.webhook_allow[1], "::1/128");
  EXPECT_EQ(s.http_listen.host, "::1");
  EXPECT_EQ(s.http_listen.port, 9000);
}

TEST(settings, admin_listener_defaults_to_loopback_and_off_disables_it) {
  std::vector<std::string> args;
  env_block none({});
  EXPECT_EQ(load(args, none.get()).admin_listen.value().to_string(), "127.0.0.1:9091");
  env_block off({"FLOWTRACK_ADMIN_LISTEN=off"});
  EXPECT_FALSE(load(args, off.get()).admin_listen.has_value());
  env_block moved({"FLOWTRACK_ADMIN_LISTEN=127.0.0.1:7000"});
  EXPECT_EQ(load(args, moved.get()).admin_listen->port, 7000);
}

TEST(settings, trusted_mail_servers) {
  std::vector<std::string> args{"--mail-trusted-authserv-ids", "mx.example.com, mx2.example.com"};
  env_block env({});
  EXPECT_EQ(load(args, env.get()).mail_trusted_authserv_ids, (std::vector<std::string>{"mx.example.com", "mx2.example.com"}));
  EXPECT_TRUE(settings{}.mail_trusted_authserv_ids.empty()) << "no Authentication-Results believed by default";
  std::vector<std::string> bad{"--mail-trusted-authserv-ids", "mx.example.com; spf=pass"};
  try {
    load(bad, env.get());
    ADD_FAILURE() << "a value that is not a host name was accepted";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), "mail_trusted_authserv_ids");
  }
}

TEST(settings, http_limits_and_trusted_proxies) {
  std::vector<std::string> args{"--trusted-proxies", "10.0.0.0/8, fd00::/8", "--http-max-connections-per-ip", "8",
                                "--http-max-buffered-body-bytes", "4096"};
  env_block env({});
  settings s = load(args, env.get());
  EXPECT_EQ(s.trusted_proxies, (std::vector<std::string>{"10.0.0.0/8", "fd00::/8"}));
  EXPECT_EQ(s.http_max_connections_per_ip, 8);
  EXPECT_EQ(s.http_max_buffered_body_bytes, 4096);
  settings d;
  EXPECT_TRUE(d.trusted_proxies.empty()) << "X-Forwarded-For is believed from nobody by default";
}

TEST(settings, smtp_message_budget_from_the_environment_and_a_flag) {
  EXPECT_EQ(settings{}.smtp_max_buffered_bytes, 256 * 1024 * 1024);
  std::vector<std::string> none;
  env_block env({"FLOWTRACK_SMTP_MAX_BUFFERED_BYTES=1048576"});
  EXPECT_EQ(load(none, env.get()).smtp_max_buffered_bytes, 1048576);
  std::vector<std::string> args{"--smtp-max-buffered-bytes", "4096"};
  EXPECT_EQ(load(args, env.get()).smtp_max_buffered_bytes, 4096) << "a flag beats the environment";
}

TEST(settings, public_url_defaults_to_the_http_listener) {
  std::vector<std::string> args{"--http-listen", "0.0.0.0:8181"};
  env_block env({});
  EXPECT_EQ(load(args, env.get()).public_base_url(), "http://localhost:8181") << "a send never fails for want of it";
  std::vector<std::string> set{"--public-url", "https://leads.example.com/"};
  EXPECT_EQ(load(set, env.get()).public_base_url(), "https://leads.example.com");
  for (std::string bad : {"ftp://x.example", "leads.example.com", "https://x.example/?a=1"}) {
    std::vector<std::string> wrong{"--public-url", bad};
    try {
      load(wrong, env.get());
      ADD_FAILURE() << bad << " was taken";
    } catch (const config_error& e) {
      EXPECT_NE(std::string(e.what()).find("public_url"), std::string::npos) << e.what();
    }
  }
}

TEST(settings, smtp_limits_and_tls_files) {
  settings d;
  EXPECT_EQ(d.smtp_max_message_bytes, 25 * 1024 * 1024);
  EXPECT_EQ(d.smtp_max_recipients, 100);
  EXPECT_EQ(d.smtp_command_timeout_ms, 300000);
  EXPECT_TRUE(d.smtp_tls_cert.empty()) << "STARTTLS is off until a certificate is configured";
  std::string cert = write_file("not checked here\n");
  std::vector<std::string> args{"--smtp-max-message-bytes", "2048", "--smtp-max-recipients", "5", "--smtp-tls-cert", cert,
                                "--smtp-tls-key", cert, "--smtp-hostname", "mx.example.com"};
  env_block env({"FLOWTRACK_SMTP_COMMAND_TIMEOUT_MS=1000", "FLOWTRACK_SMTP_MAX_CONNECTIONS_PER_IP=3"});
  settings s = load(args, env.get());
  EXPECT_EQ(s.smtp_max_message_bytes, 2048);
  EXPECT_EQ(s.smtp_max_recipients, 5);
  EXPECT_EQ(s.smtp_command_timeout_ms, 1000);
  EXPECT_EQ(s.smtp_max_connections_per_ip, 3);
  EXPECT_EQ(s.smtp_tls_cert, cert);
  EXPECT_EQ(s.smtp_hostname, "mx.example.com");
  std::filesystem::remove(cert);
}

struct bad_case {
  std::string var;
  std::string key;
};

class settings_errors : public ::testing::TestWithParam<bad_case> {};

TEST_P(settings_errors, invalid_value_names_the_key) {
  std::vector<std::string> args;
  env_block env({GetParam().var});
  try {
    load(args, env.get());
    FAIL() << GetParam().var << " was accepted";
  } catch (const config_error& e) {
    EXPECT_EQ(e.key(), GetParam().key);
    EXPECT_NE(std::string(e.what()).find(GetParam().key), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    each_key, settings_errors,
    ::testing::Values(bad_case{"FLOWTRACK_DATABASE_URL=mysql://x", "database_url"},
                      bad_case{"FLOWTRACK_REDIS_URL=http://x", "redis_url"},
                      bad_case{"FLOWTRACK_HTTP_LISTEN=8080", "http_listen"},
                      bad_case{"FLOWTRACK_HTTP_LISTEN=127.0.0.1:99999", "http_listen"},
                      bad_case{"FLOWTRACK_SMTP_LISTEN=:25", "smtp_listen"},
                      bad_case{"FLOWTRACK_LOG_LEVEL=loud", "log_level"},
                      bad_case{"FLOWTRACK_LOG_FORMAT=xml", "log_format"},
                      bad_case{"FLOWTRACK_FORM_RATE_LIMIT=-1", "form_rate_limit"},
                      bad_case{"FLOWTRACK_FORM_RATE_LIMIT=ten", "form_rate_limit"},
                      bad_case{"FLOWTRACK_WEBHOOK_ALLOW=10.0.0.0/33", "webhook_allow"},
                      bad_case{"FLOWTRACK_TRUSTED_PROXIES=10.0.0.0/8,proxy.example.com", "trusted_proxies"},
                      bad_case{"FLOWTRACK_ADMIN_LISTEN=on", "admin_listen"},
                      bad_case{"FLOWTRACK_HTTP_MAX_CONNECTIONS_PER_IP=0", "http_max_connections_per_ip"},
                      bad_case{"FLOWTRACK_HTTP_MAX_BUFFERED_BODY_BYTES=10", "http_max_buffered_body_bytes"},
                      bad_case{"FLOWTRACK_MAIL_RELAY=mail.example.com", "mail_relay"},
                      bad_case{"FLOWTRACK_PG_POOL_SIZE=0", "pg_pool_size"},
                      bad_case{"FLOWTRACK_SMTP_MAX_MESSAGE_BYTES=10", "smtp_max_message_bytes"},
                      bad_case{"FLOWTRACK_SMTP_MAX_RECIPIENTS=0", "smtp_max_recipients"},
                      bad_case{"FLOWTRACK_SMTP_MAX_BUFFERED_BYTES=10", "smtp_max_buffered_bytes"},
                      bad_case{"FLOWTRACK_SMTP_COMMAND_TIMEOUT_MS=soon", "smtp_command_timeout_ms"},
                      bad_case{"FLOWTRACK_SMTP_TLS_CERT=/nonexistent/cert.pem", "smtp_tls_cert"},
                      bad_case{"FLOWTRACK_SMTP_HOSTNAME=mx example", "smtp_hostname"},
                      bad_case{"FLOWTRACK_NO_SUCH_THING=1", "no_such_thing"}),
    [](const ::testing::TestParamInfo<bad_case>& info) { return info.param.key + "_" + std::to_string(info.index); });

TEST(settings, unreadable_file_and_bad_lines_are_errors) {
  std::vector<std::string> args{"--config", "/nonexistent/flowtrack.ini"};
  env_block env({});
  EXPECT_THROW(load(args, env.get()), config_error);
  std::string file = write_file("just words\n");
  std::vector<std::string> args2{"--config", file};
  try {
    load(args2, env.get());
    FAIL() << "a line without '=' was accepted";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find(":1:"), std::string::npos) << e.what();
  }
  std::filesystem::remove(file);
}

TEST(settings, example_file_loads_cleanly) {
  std::vector<std::string> args{"--config", std::string(FLOWTRACK_SOURCE_DIR) + "/config/flowtrack.example.ini"};
  env_block env({});
  settings s = load(args, env.get());
  EXPECT_EQ(s.http_listen.port, 8080);
  EXPECT_TRUE(s.webhook_allow.empty());
}

}  // namespace
}  // namespace flowtrack::config
