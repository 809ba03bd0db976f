// Password hashing: round trips, the PHC string's parameters, refusal of malformed and hostile
// stored strings, needs_rehash, the dummy hash, and agreement with the `argon2` CLI (Debian's
// argon2 package, installed by scripts/deps.sh) in both directions. No servers.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "crypto/password.hpp"

extern char** environ;

namespace flowtrack::crypto {
namespace {

// Cheap parameters for most cases (1 MiB, one pass, one lane); one case uses the defaults.
const argon2_params k_low{1024, 1, 1};

/// Runs the `argon2` CLI with `args`, `input` on its standard input; its standard output without
/// the trailing newline, or nullopt when it cannot be started or exits non-zero. The arguments
/// go to execve unquoted, so a salt may hold any byte but NUL.
std::optional<std::string> run_argon2_cli(const std::vector<std::string>& args, std::string_view input) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return std::nullopt;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return std::nullopt;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<std::string> all{"argon2"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "argon2", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  std::string output;
  if (rc == 0) {
    for (std::size_t done = 0; done < input.size();) {
      auto n = write(in[1], input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  }
  close(in[1]);
  char buf[512];
  for (ssize_t n; rc == 0 && (n = read(out[0], buf, sizeof buf)) > 0;) output.append(buf, static_cast<std::size_t>(n));
  close(out[0]);
  if (rc != 0) return std::nullopt;
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

/// The raw bytes of unpadded standard base64 (test input is well-formed).
std::string unbase64(std::string_view s) {
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : s) {
    acc = (acc << 6) | unsigned(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::vector<std::string> split_dollar(const std::string& s) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (auto pos = s.find('$'); pos != std::string::npos; pos = s.find('$', start)) {
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  parts.push_back(s.substr(start));
  return parts;
}

TEST(password, round_trip_verifies_and_a_wrong_password_does_not) {
  auto h = hash_password("correct horse battery staple", k_low);
  EXPECT_TRUE(verify_password(h, "correct horse battery staple"));
  EXPECT_FALSE(verify_password(h, "correct horse battery stapl"));
  EXPECT_FALSE(verify_password(h, "Correct horse battery staple"));
  EXPECT_FALSE(verify_password(h, ""));
}

TEST(password, passwords_with_any_bytes_round_trip) {
  std::string binary("a\0b\xff\xfe\x80 \n\t\"$", 11);
  auto h = hash_password(binary, k_low);
  EXPECT_TRUE(verify_password(h, binary));
  EXPECT_FALSE(verify_password(h, "a"));  // not cut at the NUL
  auto empty = hash_password("", k_low);
  EXPECT_TRUE(verify_password(empty, ""));
  EXPECT_FALSE(verify_password(empty, " "));
  std::string long_password(1024, 'x');
  auto lh = hash_password(long_password, k_low);
  EXPECT_TRUE(verify_password(lh, long_password));
  EXPECT_FALSE(verify_password(lh, std::string(1023, 'x')));
}

TEST(password, default_parameters_are_in_the_phc_string) {
  auto h = hash_password("correct horse battery staple");
  auto parts = split_dollar(h);
  ASSERT_EQ(parts.size(), 6u) << h;
  EXPECT_EQ(parts[0], "");
  EXPECT_EQ(parts[1], "argon2id");
  EXPECT_EQ(parts[2], "v=19");
  EXPECT_EQ(parts[3], "m=65536,t=3,p=4");
  EXPECT_EQ(unbase64(parts[4]).size(), 16u);  // salt
  EXPECT_EQ(unbase64(parts[5]).size(), 32u);  // hash
  EXPECT_EQ(parts[4].size(), 22u);            // unpadded
  EXPECT_EQ(parts[5].size(), 43u);
  EXPECT_TRUE(verify_password(h, "correct horse battery staple"));
  EXPECT_FALSE(verify_password(h, "correct horse battery staplE"));
  EXPECT_FALSE(needs_rehash(h));
}

TEST(password, each_hash_has_its_own_salt) {
  std::set<std::string> salts, hashes;
  for (int i = 0; i < 8; ++i) {
    auto h = hash_password("same password", k_low);
    hashes.insert(h);
    salts.insert(split_dollar(h)[4]);
    EXPECT_TRUE(verify_password(h, "same password"));
  }
  EXPECT_EQ(salts.size(), 8u);
  EXPECT_EQ(hashes.size(), 8u);
}

TEST(password, every_prefix_and_every_one_character_change_is_refused) {
  const std::string pw = "correct horse battery staple";
  auto h = hash_password(pw, k_low);
  ASSERT_TRUE(verify_password(h, pw));
  for (std::size_t n = 0; n < h.size(); ++n) EXPECT_FALSE(verify_password(h.substr(0, n), pw)) << h.substr(0, n);
  for (std::size_t i = 0; i < h.size(); ++i) {
    for (char c : {'$', '0', '9', 'A', 'z', '+', '=', ',', '\0', '\xff'}) {
      if (c == h[i]) continue;
      auto mutated = h;
      mutated[i] = c;
      EXPECT_FALSE(verify_password(mutated, pw)) << "position " << i << ": " << mutated;
    }
  }
  EXPECT_FALSE(verify_password(h + "$", pw));
  EXPECT_FALSE(verify_password(h + "A", pw));
  EXPECT_FALSE(verify_password(h + "=", pw));
  EXPECT_FALSE(verify_password(h + std::string(1, '\0'), pw));
  EXPECT_FALSE(verify_password(" " + h, pw));
}

TEST(password, garbage_is_refused_without_throwing) {
  const std::string salt = "c2FsdHNhbHRzYWx0c2FsdA", hash = "54v2fL0K6dm0FxSEfWl4+62QpOWyVbyEl7Ov4IYIt1I";
  const std::vector<std::string> garbage = {
      "",
      "$",
      "$$$$$",
      "argon2id",
      "$argon2id",
      "$argon2id$",
      "$argon2id$v=19",
      "$argon2id$v=19$m=1024,t=1,p=1",
      "$argon2id$v=19$m=1024,t=1,p=1$" + salt,
      "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$",
      "$argon2id$v=19$m=1024,t=1,p=1$$" + hash,
      "$argon2id$m=1024,t=1,p=1$" + salt + "$" + hash,           // no version
      "$argon2id$v=19$m=1024,t=1$" + salt + "$" + hash,          // no p
      "$argon2id$v=19$t=1,m=1024,p=1$" + salt + "$" + hash,      // out of order
      "$argon2id$v=19$m=1024,t=1,p=1,x=2$" + salt + "$" + hash,  // extra parameter
      "$argon2id$v=19$m=01024,t=1,p=1$" + salt + "$" + hash,     // leading zero
      "$argon2id$v=19$m=-1024,t=1,p=1$" + salt + "$" + hash,
      "$argon2id$v=19$m=+1024,t=1,p=1$" + salt + "$" + hash,
      "$argon2id$v=19$m=,t=1,p=1$" + salt + "$" + hash,
      "$argon2id$v=19$m=99999999999999999999,t=1,p=1$" + salt + "$" + hash,
      "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + hash,  // 2^32
      "$argon2id$v=19$m=1024,t=0,p=1$" + salt + "$" + hash,
      "$argon2id$v=19$m=1024,t=1,p=0$" + salt + "$" + hash,
      "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + hash,           // below libargon2's minimum
      "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "==$" + hash,      // padded
      "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + hash + "=",
      "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$" + hash,                 // 4-byte salt
      "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$AAA",               // 2-byte hash
      "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + hash + "$" + hash,
      "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + hash.substr(0, 41) + "-_",  // base64url
      "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + std::string(10000, 'A'),
      "$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + hash,
      "$argon2d$v=19$m=1024,t=1,p=1$" + salt + "$" + hash,
      "$ARGON2ID$v=19$m=1024,t=1,p=1$" + salt + "$" + hash,
      "$argon2id$v=16$m=1024,t=1,p=1$" + salt + "$" + hash,
      "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  // bcrypt
      "$6$rounds=5000$salt$hash",                                       // crypt(3) SHA-512
      "pbkdf2_sha256$260000$salt$hash",
      std::string(100000, '$'),
      std::string("\0\0\0\0", 4),
  };
  for (const auto& g : garbage) {
    EXPECT_FALSE(verify_password(g, "correct horse battery")) << g.substr(0, 120);
    EXPECT_FALSE(verify_password(g, "")) << g.substr(0, 120);
    EXPECT_TRUE(needs_rehash(g)) << g.substr(0, 120);
  }
  // The same salt and hash, well-formed, do verify: the refusals above are the malformations.
  EXPECT_TRUE(verify_password("$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + hash, "correct horse battery"));
}

TEST(password, hostile_parameters_are_refused_before_the_library_runs) {
  // Well-formed strings whose cost exceeds the bounds (1 GiB, 100 passes, 64 lanes): libargon2
  // would try to allocate up to 4 GiB or run for minutes; they are refused after parsing.
  const std::string tail = "$c2FsdHNhbHRzYWx0c2FsdA$54v2fL0K6dm0FxSEfWl4+62QpOWyVbyEl7Ov4IYIt1I";
  for (std::string params : {"m=4294967295,t=1,p=1", "m=1048577,t=1,p=1", "m=1024,t=101,p=1", "m=1024,t=4294967295,p=1",
                             "m=65536,t=1,p=65", "m=1024,t=1,p=16777215", "m=4294967295,t=4294967295,p=16777215"}) {
    std::string hostile = "$argon2id$v=19$" + params + tail;
    EXPECT_FALSE(verify_password(hostile, "correct horse battery")) << hostile;
    EXPECT_TRUE(needs_rehash(hostile)) << hostile;
  }
}

TEST(password, needs_rehash_compares_type_version_parameters_and_lengths) {
  auto low = hash_password("correct horse battery staple", k_low);
  EXPECT_TRUE(needs_rehash(low));  // against the defaults
  EXPECT_FALSE(needs_rehash(low, k_low));
  EXPECT_TRUE(needs_rehash(low, argon2_params{2048, 1, 1}));
  EXPECT_TRUE(needs_rehash(low, argon2_params{1024, 2, 1}));
  EXPECT_TRUE(needs_rehash(low, argon2_params{1024, 1, 2}));
  EXPECT_FALSE(needs_rehash(hash_password("x", argon2_params{2048, 2, 2}), argon2_params{2048, 2, 2}));

  const std::string salt = "c2FsdHNhbHRzYWx0c2FsdA", hash = "54v2fL0K6dm0FxSEfWl4+62QpOWyVbyEl7Ov4IYIt1I";
  EXPECT_FALSE(needs_rehash("$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + hash, k_low));
  EXPECT_TRUE(needs_rehash("$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + hash, k_low));
  EXPECT_TRUE(needs_rehash("$argon2id$v=16$m=1024,t=1,p=1$" + salt + "$" + hash, k_low));
  EXPECT_TRUE(needs_rehash("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$" + hash, k_low));  // 8-byte salt
  EXPECT_TRUE(needs_rehash("$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + hash.substr(0, 22), k_low));  // 16-byte hash
}

TEST(password, dummy_hash_is_made_once_with_the_defaults_and_matches_nothing_guessable) {
  std::vector<const std::string*> seen(4, nullptr);
  {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < seen.size(); ++i) threads.emplace_back([&seen, i] { seen[i] = &dummy_password_hash(); });
    for (auto& t : threads) t.join();
  }
  for (auto* p : seen) EXPECT_EQ(p, seen[0]);
  const auto& dummy = *seen[0];
  EXPECT_EQ(dummy.rfind("$argon2id$v=19$m=65536,t=3,p=4$", 0), 0u) << dummy;
  EXPECT_FALSE(needs_rehash(dummy));
  EXPECT_FALSE(verify_password(dummy, ""));
  EXPECT_FALSE(verify_password(dummy, "password"));
}

TEST(password, hash_password_throws_on_parameters_the_library_or_the_bounds_refuse) {
  const std::string secret = "do-not-echo-this-secret";
  for (auto p : {argon2_params{4, 1, 1}, argon2_params{1024, 0, 1}, argon2_params{1024, 1, 0},
                 argon2_params{k_max_memory_kib + 1, 1, 1}, argon2_params{1024, k_max_iterations + 1, 1},
                 argon2_params{65536, 1, k_max_parallelism + 1}}) {
    try {
      (void)hash_password(secret, p);
      ADD_FAILURE() << "m=" << p.memory_kib << " t=" << p.iterations << " p=" << p.parallelism << " was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()), "");
    }
  }
}

// Computed once with Debian's argon2 CLI (package argon2 20190702):
//   echo -n 'correct horse battery' | argon2 somesalt16bytes! -id -t 3 -m 16 -p 4 -l 32 -e
// (-m 16 is 2^16 KiB = 64 MiB: our default parameters.)
TEST(password, a_hash_made_by_the_argon2_cli_verifies) {
  const std::string cli =
      "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQxNmJ5dGVzIQ$ozYl8jX7WxDO10A+RLnu8ldUZIpx6PP+YXO5GJaU+SY";
  EXPECT_TRUE(verify_password(cli, "correct horse battery"));
  EXPECT_FALSE(verify_password(cli, "correct horse batterz"));
  EXPECT_FALSE(needs_rehash(cli));
}

TEST(password, hashes_the_argon2_cli_makes_now_verify) {
  for (std::string pw : {"correct horse battery", "x", "p\xc3\xa4ssw\xc3\xb6rd with spaces"}) {
    auto cli = run_argon2_cli({"saltsaltsaltsalt", "-id", "-t", "2", "-k", "1024", "-p", "2", "-l", "32", "-e"}, pw);
    ASSERT_TRUE(cli) << "the argon2 CLI did not run (scripts/deps.sh installs the argon2 package)";
    EXPECT_EQ(cli->rfind("$argon2id$v=19$m=1024,t=2,p=2$", 0), 0u) << *cli;
    EXPECT_TRUE(verify_password(*cli, pw)) << *cli;
    EXPECT_FALSE(verify_password(*cli, pw + "!")) << *cli;
    EXPECT_FALSE(needs_rehash(*cli, argon2_params{1024, 2, 2})) << *cli;
  }
}

TEST(password, hash_password_writes_what_the_argon2_cli_writes_for_the_same_salt) {
  const std::string pw = "correct horse battery staple";
  int compared = 0;
  // The salt goes to the CLI as an argument, so it must hold no NUL byte (~94% of random salts).
  for (int attempt = 0; attempt < 40 && compared < 3; ++attempt) {
    auto ours = hash_password(pw, argon2_params{1024, 2, 2});
    auto salt = unbase64(split_dollar(ours)[4]);
    ASSERT_EQ(salt.size(), 16u);
    if (salt.find('\0') != std::string::npos) continue;
    auto cli = run_argon2_cli({salt, "-id", "-t", "2", "-k", "1024", "-p", "2", "-l", "32", "-e"}, pw);
    ASSERT_TRUE(cli) << "the argon2 CLI did not run (scripts/deps.sh installs the argon2 package)";
    EXPECT_EQ(ours, *cli);
    ++compared;
  }
  EXPECT_EQ(compared, 3);
}

}  // namespace
}  // namespace flowtrack::crypto
