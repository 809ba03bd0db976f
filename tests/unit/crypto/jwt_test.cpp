// JSON Web Tokens: HS256 against Python's hmac, RS256 against keys and signatures made by the
// openssl CLI (PEM and a JWKS built from the key's n/e), the pinned algorithms (none, the
// RS256/HS256 key confusion), time claims, kid selection and malformed input. No servers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include <boost/json.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto/jwt.hpp"
#include "tests/support/test_env.hpp"

namespace flowtrack::crypto {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using test::run_command;
using test::shell_quote;

const std::string k_key = "a-32-byte-or-longer-hs256-key-for-tests!";
constexpr std::int64_t k_now = 1'800'000'000;

json::object claims_until(std::int64_t exp) { return json::object{{"sub", "user_1"}, {"exp", exp}}; }

/// A token with the given header and payload text, signed (HS256) with `key` by Python.
std::string python_hs256(const std::string& header, const std::string& payload, const std::string& key) {
  std::string cmd =
      "/usr/bin/python3 -c 'import base64,hashlib,hmac,os,sys\n"
      "a=[os.fsencode(x) for x in sys.argv[1:]]\n"
      "b=lambda x: base64.urlsafe_b64encode(x).rstrip(b\"=\").decode()\n"
      "s=b(a[0])+\".\"+b(a[1])\n"
      "print(s+\".\"+b(hmac.new(a[2],s.encode(),hashlib.sha256).digest()))' " +
      shell_quote(header) + " " + shell_quote(payload) + " " + shell_quote(key);
  auto r = run_command(cmd);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

std::string payload_of(const std::string& token) {
  auto a = token.find('.'), b = token.rfind('.');
  return token.substr(a + 1, b - a - 1);
}

std::string signature_of(const std::string& token) { return token.substr(token.rfind('.') + 1); }

/// A directory of its own under the temp directory, removed at the end of the test.
struct scratch_dir {
  fs::path path = fs::temp_directory_path() / test::unique_name("ft-jwt");
  scratch_dir() { fs::create_directories(path); }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

/// An RSA key pair made by the openssl CLI, with its public PEM and its n and e (base64url).
struct rsa_key {
  std::string private_pem_path;
  std::string public_pem;
  std::string n, e;
};

rsa_key make_rsa_key(const scratch_dir& dir, const std::string& name, int bits = 2048) {
  rsa_key k;
  k.private_pem_path = dir.file(name + ".pem");
  std::string pub = dir.file(name + ".pub.pem");
  auto r = run_command("openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:" + std::to_string(bits) + " -out " +
                       shell_quote(k.private_pem_path) + " && openssl pkey -in " + shell_quote(k.private_pem_path) +
                       " -pubout -out " + shell_quote(pub));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  k.public_pem = read_file(pub);
  // n and e through OpenSSL's API, independently of the code under test.
  std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_mem_buf(k.public_pem.data(), static_cast<int>(k.public_pem.size())),
                                          BIO_free);
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
                                                      EVP_PKEY_free);
  EXPECT_TRUE(pkey);
  if (!pkey) return k;
  auto big_endian = [&](const char* param) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(pkey.get(), param, &bn), 1);
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return base64url_encode(bytes);
  };
  k.n = big_endian(OSSL_PKEY_PARAM_RSA_N);
  k.e = big_endian(OSSL_PKEY_PARAM_RSA_E);
  return k;
}

/// base64url by the coreutils base64 tool.
std::string cli_base64url(const scratch_dir& dir, const std::string& bytes) {
  std::string in = dir.file(test::unique_name("b64"));
  write_file(in, bytes);
  auto r = run_command("base64 -w0 " + shell_quote(in) + " | tr '+/' '-_' | tr -d '='");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

/// header.payload signed with RS256 by `openssl dgst -sha256 -sign`.
std::string openssl_rs256(const scratch_dir& dir, const rsa_key& key, const std::string& header,
                          const std::string& payload) {
  std::string input = cli_base64url(dir, header) + "." + cli_base64url(dir, payload);
  std::string in = dir.file(test::unique_name("input"));
  write_file(in, input);
  auto r = run_command("openssl dgst -sha256 -sign " + shell_quote(key.private_pem_path) + " " + shell_quote(in) +
                       " | base64 -w0 | tr '+/' '-_' | tr -d '='");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return input + "." + r.out;
}

std::string jwks(std::initializer_list<std::pair<std::string, const rsa_key*>> keys) {
  json::array arr;
  for (const auto& [kid, k] : keys)
    arr.push_back(json::object{{"kty", "RSA"}, {"use", "sig"}, {"alg", "RS256"}, {"kid", kid}, {"n", k->n}, {"e", k->e}});
  return json::serialize(json::object{{"keys", arr}});
}

const std::string k_payload = R"({"sub":"user_2abc","sid":"sess_1","iat":1799999990,"nbf":1799999990,"exp":1800000060})";

// ---- base64url ----

TEST(jwt, base64url_matches_rfc4648_vectors_and_decodes_strictly) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},          {"f", "Zg"},         {"fo", "Zm8"},
                                                         {"foo", "Zm9v"},   {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64url_encode(plain), encoded);
    EXPECT_EQ(base64url_decode(encoded), plain);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(base64url_decode("-_-_"), std::string("\xfb\xff\xbf"));
  for (const char* bad : {"Zg==", "Zg=", "Z", "Zh", "Zm9+", "Zm9/", "Zm 9v", "Zm9v\n", "Zm8=", "Zm9vY"})
    EXPECT_FALSE(base64url_decode(bad)) << bad;
}

// ---- HS256 ----

TEST(jwt, hs256_round_trips_the_claims_with_the_fixed_header) {
  auto claims = claims_until(k_now + 60);
  claims["name"] = "Zoë";
  std::string token = jwt_sign_hs256(claims, k_key);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(token.substr(0, token.find('.')), base64url_encode(R"({"alg":"HS256","typ":"JWT"})"));
  EXPECT_EQ(token.find('='), std::string::npos);
  auto r = jwt_verify_hs256(token, k_key, k_now);
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(*r, claims);
}

TEST(jwt, hs256_agrees_with_python_hmac_both_ways) {
  std::string payload = R"({"sub":"user_1","exp":1800000060})";
  std::string theirs = python_hs256(R"({"alg":"HS256","typ":"JWT"})", payload, k_key);
  auto r = jwt_verify_hs256(theirs, k_key, k_now);
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(r->at("sub").as_string(), "user_1");
  EXPECT_EQ(jwt_sign_hs256(json::parse(payload).as_object(), k_key), theirs);
  // Another header spelling (kid, key order) is fine as long as alg is HS256.
  auto other = python_hs256(R"({"typ":"JWT","kid":"k1","alg":"HS256"})", payload, k_key);
  EXPECT_TRUE(jwt_verify_hs256(other, k_key, k_now));
}

TEST(jwt, hs256_refuses_a_tampered_payload_signature_or_key) {
  std::string token = jwt_sign_hs256(claims_until(k_now + 60), k_key);
  std::string forged_payload = base64url_encode(R"({"sub":"admin","exp":1800000060})");
  std::string tampered = token.substr(0, token.find('.') + 1) + forged_payload + "." + signature_of(token);
  auto r = jwt_verify_hs256(tampered, k_key, k_now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, jwt_errc::bad_signature);

  std::string sig = *base64url_decode(signature_of(token));
  sig[31] = static_cast<char>(sig[31] ^ 1);
  std::string flipped = token.substr(0, token.rfind('.') + 1) + base64url_encode(sig);
  EXPECT_EQ(jwt_verify_hs256(flipped, k_key, k_now).err().code, jwt_errc::bad_signature);

  std::string truncated = token.substr(0, token.rfind('.') + 1) + base64url_encode(sig.substr(0, 16));
  EXPECT_EQ(jwt_verify_hs256(truncated, k_key, k_now).err().code, jwt_errc::bad_signature);

  EXPECT_EQ(jwt_verify_hs256(token, k_key + "x", k_now).err().code, jwt_errc::bad_signature);
  EXPECT_EQ(jwt_verify_hs256(python_hs256(R"({"alg":"HS256"})", R"({"exp":1800000060})", k_key + "x"), k_key, k_now)
                .err()
                .code,
            jwt_errc::bad_signature);
}

TEST(jwt, hs256_refuses_alg_none_and_any_other_algorithm_spelling) {
  std::string payload = base64url_encode(R"({"sub":"admin","exp":1800000060})");
  for (const char* header : {R"({"alg":"none","typ":"JWT"})", R"({"alg":"None"})", R"({"alg":"hs256"})",
                             R"({"alg":"HS256 "})", R"({"alg":"HS512"})", R"({"typ":"JWT"})", R"({"alg":null})",
                             R"({"alg":["HS256"]})"}) {
    std::string unsigned_token = base64url_encode(header) + "." + payload + ".";
    auto r = jwt_verify_hs256(unsigned_token, k_key, k_now);
    ASSERT_FALSE(r) << header;
    EXPECT_EQ(r.err().code, jwt_errc::bad_algorithm) << header;
    // Even correctly MACed, the header's algorithm decides.
    auto macd = jwt_verify_hs256(python_hs256(header, R"({"exp":1800000060})", k_key), k_key, k_now);
    ASSERT_FALSE(macd) << header;
    EXPECT_EQ(macd.err().code, jwt_errc::bad_algorithm) << header;
  }
}

TEST(jwt, hs256_refuses_an_rs256_token_whatever_its_signature) {
  // The key-confusion attack the other way round: an RS256 header on a token MACed with the key.
  auto r = jwt_verify_hs256(python_hs256(R"({"alg":"RS256","typ":"JWT"})", R"({"exp":1800000060})", k_key), k_key, k_now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, jwt_errc::bad_algorithm);
}

TEST(jwt, hs256_checks_exp_with_leeway) {
  EXPECT_TRUE(jwt_verify_hs256(jwt_sign_hs256(claims_until(k_now + 1), k_key), k_key, k_now));
  auto at_exp = jwt_verify_hs256(jwt_sign_hs256(claims_until(k_now), k_key), k_key, k_now);
  ASSERT_FALSE(at_exp);
  EXPECT_EQ(at_exp.err().code, jwt_errc::expired);
  std::string old = jwt_sign_hs256(claims_until(k_now - 5), k_key);
  EXPECT_EQ(jwt_verify_hs256(old, k_key, k_now, 5).err().code, jwt_errc::expired);
  EXPECT_TRUE(jwt_verify_hs256(old, k_key, k_now, 6));
  EXPECT_EQ(jwt_verify_hs256(old, k_key, k_now, -100).err().code, jwt_errc::expired);
  // Fractional and huge NumericDates.
  EXPECT_TRUE(jwt_verify_hs256(jwt_sign_hs256(json::object{{"exp", double(k_now) + 1.5}}, k_key), k_key, k_now));
  EXPECT_EQ(jwt_verify_hs256(jwt_sign_hs256(json::object{{"exp", double(k_now) + 0.5}}, k_key), k_key, k_now).err().code,
            jwt_errc::expired);
  EXPECT_TRUE(jwt_verify_hs256(jwt_sign_hs256(json::object{{"exp", std::uint64_t(1) << 63}}, k_key), k_key, k_now));
  auto max_exp = jwt_sign_hs256(json::object{{"exp", std::numeric_limits<std::int64_t>::max()}}, k_key);
  EXPECT_TRUE(jwt_verify_hs256(max_exp, k_key, k_now, std::numeric_limits<std::int64_t>::max()));
  EXPECT_EQ(jwt_verify_hs256(jwt_sign_hs256(json::object{{"exp", -1e300}}, k_key), k_key, k_now).err().code,
            jwt_errc::malformed);
}

TEST(jwt, hs256_refuses_nbf_or_iat_in_the_future_beyond_leeway) {
  auto with = [](const char* name, std::int64_t t) {
    auto c = claims_until(k_now + 600);
    c[name] = t;
    return jwt_sign_hs256(c, k_key);
  };
  for (const char* name : {"nbf", "iat"}) {
    auto r = jwt_verify_hs256(with(name, k_now + 10), k_key, k_now);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.err().code, jwt_errc::not_yet_valid) << name;
    EXPECT_EQ(jwt_verify_hs256(with(name, k_now + 10), k_key, k_now, 9).err().code, jwt_errc::not_yet_valid);
    EXPECT_TRUE(jwt_verify_hs256(with(name, k_now + 10), k_key, k_now, 10)) << name;
    EXPECT_TRUE(jwt_verify_hs256(with(name, k_now), k_key, k_now)) << name;
    EXPECT_TRUE(jwt_verify_hs256(with(name, k_now - 1000), k_key, k_now)) << name;
    auto c = claims_until(k_now + 600);
    c[name] = "soon";
    EXPECT_EQ(jwt_verify_hs256(jwt_sign_hs256(c, k_key), k_key, k_now).err().code, jwt_errc::malformed) << name;
  }
}

TEST(jwt, hs256_requires_a_numeric_exp) {
  auto missing = jwt_verify_hs256(jwt_sign_hs256(json::object{{"sub", "u"}}, k_key), k_key, k_now);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.err().code, jwt_errc::malformed);
  for (json::value exp : {json::value("1900000000"), json::value(nullptr), json::value(true), json::value(json::array{1})})
    EXPECT_EQ(jwt_verify_hs256(jwt_sign_hs256(json::object{{"exp", exp}}, k_key), k_key, k_now).err().code,
              jwt_errc::malformed)
        << exp;
}

TEST(jwt, hs256_refuses_malformed_tokens_as_malformed) {
  std::string good = jwt_sign_hs256(claims_until(k_now + 60), k_key);
  std::string h = good.substr(0, good.find('.')), p = payload_of(good), s = signature_of(good);
  auto signed_parts = [](const std::string& header, const std::string& payload) {
    return python_hs256(header, payload, k_key);
  };
  const std::string cases[] = {
      "",
      ".",
      "..",
      h + "." + p,
      h + "." + p + "." + s + ".",
      h + "." + p + "." + s + "." + s,
      h + "=." + p + "." + s,
      h + "." + p + "." + s + "=",
      h + "." + p.substr(0, p.size() - 1) + "+." + s,
      h + "." + p + "." + s.substr(0, s.size() - 1) + "/",
      h + " ." + p + "." + s,
      "." + p + "." + s,
      h + ".." + s,
      base64url_encode("[1]") + "." + p + "." + s,
      base64url_encode("not json") + "." + p + "." + s,
      base64url_encode(R"({"alg":"HS256")") + "." + p + "." + s,
      signed_parts(R"({"alg":"HS256"})", "[1]"),
      signed_parts(R"({"alg":"HS256"})", R"("exp")"),
      signed_parts(R"({"alg":"HS256"})", "{\"exp\":1800000060,\"s\":\"\xff\"}"),
      signed_parts(R"({"alg":"HS256","crit":["b64"],"b64":false})", R"({"exp":1800000060})"),
      h + "." + std::string(k_jwt_max_size, 'A') + "." + s,
  };
  for (const auto& token : cases) {
    auto r = jwt_verify_hs256(token, k_key, k_now);
    ASSERT_FALSE(r) << token.substr(0, 200);
    EXPECT_EQ(r.err().code, jwt_errc::malformed) << token.substr(0, 200) << ": " << r.err().message;
  }
  EXPECT_TRUE(jwt_verify_hs256(good, k_key, k_now));
}

TEST(jwt, hs256_refuses_keys_shorter_than_32_bytes) {
  std::string short_key(31, 'k');
  EXPECT_EQ(jwt_sign_hs256(claims_until(k_now + 60), short_key), "");
  std::string token = python_hs256(R"({"alg":"HS256"})", R"({"exp":1800000060})", short_key);
  auto r = jwt_verify_hs256(token, short_key, k_now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.err().code, jwt_errc::bad_key);
  EXPECT_TRUE(jwt_verify_hs256(jwt_sign_hs256(claims_until(k_now + 60), short_key + "k"), short_key + "k", k_now));
}

TEST(jwt, error_messages_never_hold_the_token_or_the_key) {
  std::string good = jwt_sign_hs256(claims_until(k_now + 60), k_key);
  std::vector<std::pair<std::string, std::string>> cases = {
      {good, k_key + "-other"},
      {good.substr(0, good.rfind('.')), k_key},
      {jwt_sign_hs256(claims_until(k_now - 1), k_key), k_key},
      {python_hs256(R"({"alg":"none"})", R"({"exp":1800000060})", k_key), k_key},
  };
  for (const auto& [token, key] : cases) {
    auto r = jwt_verify_hs256(token, key, k_now);
    ASSERT_FALSE(r);
    EXPECT_FALSE(r.err().message.empty());
    EXPECT_EQ(r.err().message.find(key), std::string::npos);
    EXPECT_EQ(r.err().message.find(token.substr(0, 10)), std::string::npos) << r.err().message;
    EXPECT_EQ(r.err().message.find(signature_of(token).substr(0, 8)), std::string::npos) << r.err().message;
  }
}

// ---- RS256 ----

TEST(jwt, rs256_verifies_an_openssl_signed_token_via_pem_and_via_jwks) {
  scratch_dir dir;
  auto a = make_rsa_key(dir, "a"), b = make_rsa_key(dir, "b");
  auto pem = rsa_keyset::from_pem(a.public_pem);
  ASSERT_TRUE(pem);
  EXPECT_FALSE(pem->has_kids());
  EXPECT_EQ(pem->size(), 1u);
  std::string token = openssl_rs256(dir, a, R"({"alg":"RS256","kid":"ins_a","typ":"JWT"})", k_payload);
  auto r = jwt_verify_rs256(token, *pem, k_now);
  ASSERT_TRUE(r) << r.err().message;
  EXPECT_EQ(*r, json::parse(k_payload).as_object());

  auto set = rsa_keyset::from_jwks(jwks({{"ins_b", &b}, {"ins_a", &a}}));
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->has_kids());
  EXPECT_EQ(set->kids(), (std::vector<std::string>{"ins_b", "ins_a"}));
  auto via_jwks = jwt_verify_rs256(token, *set, k_now);
  ASSERT_TRUE(via_jwks) << via_jwks.err().message;
  EXPECT_EQ(via_jwks->at("sub").as_string(), "user_2abc");
  // The other key of the set, picked by its kid.
  auto by_b = jwt_verify_rs256(openssl_rs256(dir, b, R"({"alg":"RS256","kid":"ins_b"})", k_payload), *set, k_now);
  EXPECT_TRUE(by_b) << by_b.err().message;

  auto copy = *set;  // copies share the keys
  EXPECT_TRUE(jwt_verify_rs256(token, copy, k_now));
}

TEST(jwt, rs256_refuses_a_wrong_key_a_tampered_payload_and_an_unknown_kid) {
  scratch_dir dir;
  auto a = make_rsa_key(dir, "a"), b = make_rsa_key(dir, "b");
  std::string token = openssl_rs256(dir, a, R"({"alg":"RS256","kid":"ins_a"})", k_payload);

  auto wrong_pem = jwt_verify_rs256(token, *rsa_keyset::from_pem(b.public_pem), k_now);
  ASSERT_FALSE(wrong_pem);
  EXPECT_EQ(wrong_pem.err().code, jwt_errc::bad_signature);
  // The kid names a key whose n/e are another key's.
  auto lying = jwt_verify_rs256(token, *rsa_keyset::from_jwks(jwks({{"ins_a", &b}})), k_now);
  ASSERT_FALSE(lying);
  EXPECT_EQ(lying.err().code, jwt_errc::bad_signature);

  std::string tampered = token.substr(0, token.find('.') + 1) +
                         base64url_encode(R"({"sub":"user_admin","exp":1800000060})") + "." + signature_of(token);
  EXPECT_EQ(jwt_verify_rs256(tampered, *rsa_keyset::from_pem(a.public_pem), k_now).err().code, jwt_errc::bad_signature);

  auto set = rsa_keyset::from_jwks(jwks({{"ins_b", &b}}));
  ASSERT_TRUE(set);
  auto unknown = jwt_verify_rs256(token, *set, k_now);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.err().code, jwt_errc::unknown_key);
  auto no_kid = jwt_verify_rs256(openssl_rs256(dir, b, R"({"alg":"RS256"})", k_payload), *set, k_now);
  ASSERT_FALSE(no_kid);
  EXPECT_EQ(no_kid.err().code, jwt_errc::unknown_key);
  // A PEM set has one key and no kids: the token's kid does not matter.
  EXPECT_TRUE(jwt_verify_rs256(openssl_rs256(dir, b, R"({"alg":"RS256"})", k_payload),
                               *rsa_keyset::from_pem(b.public_pem), k_now));
}

TEST(jwt, rs256_refuses_an_hs256_token_macd_with_the_public_key_text) {
  scratch_dir dir;
  auto a = make_rsa_key(dir, "a");
  auto pem = rsa_keyset::from_pem(a.public_pem);
  auto set = rsa_keyset::from_jwks(jwks({{"ins_a", &a}}));
  ASSERT_TRUE(pem && set);
  for (const char* header : {R"({"alg":"HS256","typ":"JWT"})", R"({"alg":"HS256","kid":"ins_a"})"}) {
    std::string forged = python_hs256(header, k_payload, a.public_pem);
    for (const auto* keys : {&*pem, &*set}) {
      auto r = jwt_verify_rs256(forged, *keys, k_now);
      ASSERT_FALSE(r);
      EXPECT_EQ(r.err().code, jwt_errc::bad_algorithm);
    }
  }
  std::string none = base64url_encode(R"({"alg":"none","kid":"ins_a"})") + "." + base64url_encode(k_payload) + ".";
  EXPECT_EQ(jwt_verify_rs256(none, *set, k_now).err().code, jwt_errc::bad_algorithm);
  std::string ps256 = openssl_rs256(dir, a, R"({"alg":"PS256","kid":"ins_a"})", k_payload);
  EXPECT_EQ(jwt_verify_rs256(ps256, *set, k_now).err().code, jwt_errc::bad_algorithm);
}

TEST(jwt, rs256_applies_the_time_claims_with_five_seconds_of_leeway_by_default) {
  scratch_dir dir;
  auto a = make_rsa_key(dir, "a");
  auto keys = *rsa_keyset::from_pem(a.public_pem);
  std::string token = openssl_rs256(dir, a, R"({"alg":"RS256"})", k_payload);  // nbf/iat now-10, exp now+60
  EXPECT_TRUE(jwt_verify_rs256(token, keys, 1800000064));
  EXPECT_EQ(jwt_verify_rs256(token, keys, 1800000065).err().code, jwt_errc::expired);
  EXPECT_TRUE(jwt_verify_rs256(token, keys, 1799999985));
  EXPECT_EQ(jwt_verify_rs256(token, keys, 1799999984).err().code, jwt_errc::not_yet_valid);
  EXPECT_EQ(jwt_verify_rs256(token, keys, 1799999985, 0).err().code, jwt_errc::not_yet_valid);
  std::string no_exp = openssl_rs256(dir, a, R"({"alg":"RS256"})", R"({"sub":"user_2abc"})");
  EXPECT_EQ(jwt_verify_rs256(no_exp, keys, k_now).err().code, jwt_errc::malformed);
}

TEST(jwt, rsa_keyset_from_pem_takes_one_rsa_public_key_of_2048_bits_or_more) {
  scratch_dir dir;
  auto a = make_rsa_key(dir, "a");
  EXPECT_TRUE(rsa_keyset::from_pem(a.public_pem));
  EXPECT_TRUE(rsa_keyset::from_pem("\n" + a.public_pem + "\n"));
  EXPECT_FALSE(rsa_keyset::from_pem(a.public_pem + a.public_pem));
  EXPECT_FALSE(rsa_keyset::from_pem(read_file(a.private_pem_path)));
  EXPECT_FALSE(rsa_keyset::from_pem(""));
  EXPECT_FALSE(rsa_keyset::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
  auto small = make_rsa_key(dir, "small", 1024);
  EXPECT_FALSE(rsa_keyset::from_pem(small.public_pem));
  auto r = run_command("openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | openssl pkey -pubout");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(r.out.find("BEGIN PUBLIC KEY"), std::string::npos);
  EXPECT_FALSE(rsa_keyset::from_pem(r.out));
}

TEST(jwt, rsa_keyset_from_jwks_skips_other_keys_and_refuses_broken_ones) {
  scratch_dir dir;
  auto a = make_rsa_key(dir, "a");
  auto small = make_rsa_key(dir, "small", 1024);
  auto doc = [&](json::array extra) {
    json::array keys = std::move(extra);
    keys.push_back(json::object{{"kty", "RSA"}, {"kid", "ins_a"}, {"n", a.n}, {"e", a.e}});
    return json::serialize(json::object{{"keys", keys}});
  };
  // Keys for something else are skipped; what remains is used.
  auto mixed = rsa_keyset::from_jwks(doc({
      json::object{{"kty", "EC"}, {"kid", "ec"}, {"crv", "P-256"}, {"x", "AA"}, {"y", "AA"}},
      json::object{{"kty", "RSA"}, {"kid", "enc"}, {"use", "enc"}, {"n", "AA"}, {"e", "AQAB"}},
      json::object{{"kty", "RSA"}, {"kid", "ps"}, {"alg", "PS256"}, {"n", "AA"}, {"e", "AQAB"}},
  }));
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->kids(), std::vector<std::string>{"ins_a"});
  EXPECT_TRUE(jwt_verify_rs256(openssl_rs256(dir, a, R"({"alg":"RS256","kid":"ins_a"})", k_payload), *mixed, k_now));

  const std::string refused[] = {
      "",
      "[]",
      "{}",
      R"({"keys":{}})",
      R"({"keys":[]})",
      R"({"keys":[1]})",
      doc({}) + "x",
      doc({json::object{{"kty", "RSA"}, {"kid", "ins_a"}, {"n", a.n}, {"e", a.e}}}),         // duplicate kid
      doc({json::object{{"kty", "RSA"}, {"n", a.n}, {"e", a.e}}}),                           // no kid
      doc({json::object{{"kty", "RSA"}, {"kid", 7}, {"n", a.n}, {"e", a.e}}}),               // kid not a string
      doc({json::object{{"kty", "RSA"}, {"kid", "x"}, {"n", a.n + "="}, {"e", a.e}}}),       // padding
      doc({json::object{{"kty", "RSA"}, {"kid", "x"}, {"n", "+" + a.n}, {"e", a.e}}}),       // not base64url
      doc({json::object{{"kty", "RSA"}, {"kid", "x"}, {"n", small.n}, {"e", small.e}}}),     // 1024 bits
      doc({json::object{{"kty", "RSA"}, {"kid", "x"}, {"n", a.n}, {"e", "Ag"}}}),            // e = 2
      doc({json::object{{"kty", "RSA"}, {"kid", "x"}, {"n", a.n}, {"e", "AQ"}}}),            // e = 1
      doc({json::object{{"kty", "RSA"}, {"kid", "x"}, {"n", a.n}}}),                         // no e
      doc({json::object{{"kty", "RSA"}, {"kid", "x"}, {"n", a.n}, {"e", "AQABAQABAQAB"}}}),  // e of 9 bytes
  };
  for (const auto& text : refused) EXPECT_FALSE(rsa_keyset::from_jwks(text)) << text.substr(0, 120);
  EXPECT_FALSE(rsa_keyset::from_jwks(
      json::serialize(json::object{{"keys", json::array{json::object{{"kty", "EC"}, {"kid", "ec"}}}}})));
}

}  // namespace
}  // namespace flowtrack::crypto
