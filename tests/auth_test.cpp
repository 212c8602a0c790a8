// Credentials and the login throttle, without a server: base64, password
// hashes, the user directory and its cache, failed-login counting.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "http/base64.hpp"
#include "http/basic_auth.hpp"
#include "http/login_throttle.hpp"
#include "http/password_hash.hpp"

using namespace std::chrono_literals;
using namespace cluster_actions::http;

namespace {

/// The Authorization header value for `email` and `password`.
std::string basic(const std::string& email, const std::string& password) {
  return "Basic " + encode_base64(email + ":" + password);
}

/// The message of the std::invalid_argument `make` throws.
template <class F>
std::string invalid_argument_of(F make) {
  try {
    make();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  FAIL("no std::invalid_argument");
  return {};
}

} // namespace

TEST_CASE("base64 round-trips the RFC 4648 test vectors") {
  const std::vector<std::pair<std::string, std::string>> vectors{
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
    {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    CHECK(encode_base64(plain) == encoded);
    CHECK(decode_base64(encoded) == plain);
  }
  const std::string bytes{"\x00\xff\xfe\x80\x7f", 5};
  CHECK(decode_base64(encode_base64(bytes)) == bytes);
  CHECK(decode_base64("Zm9vYg") == "foob"); // padding is optional
  CHECK_FALSE(decode_base64("Zm9v!"));
  CHECK_FALSE(decode_base64("Z"));
}

TEST_CASE("password hashes") {
  auto hash = password_hash::make("correct horse", 10'000);
  auto text = hash.to_string();

  SECTION("the string form says algorithm, iterations, salt and hash") {
    CHECK_THAT(text, Catch::StartsWith("pbkdf2-sha256$10000$"));
    auto salt_at = text.find('$', 14) + 1;
    auto hash_at = text.find('$', salt_at) + 1;
    CHECK(decode_base64(text.substr(salt_at, hash_at - 1 - salt_at))->size()
          == password_hash::salt_bytes);
    CHECK(decode_base64(text.substr(hash_at))->size()
          == password_hash::hash_bytes);
  }

  SECTION("only the password matches") {
    CHECK(hash.matches("correct horse"));
    CHECK_FALSE(hash.matches("correct hors"));
    CHECK_FALSE(hash.matches("correct horse "));
    CHECK_FALSE(hash.matches(""));
    auto reread = password_hash::parse(text);
    REQUIRE(reread);
    CHECK(reread->iterations() == 10'000);
    CHECK(reread->to_string() == text);
    CHECK(reread->matches("correct horse"));
  }

  SECTION("salts are random") {
    CHECK(password_hash::make("correct horse", 10'000).to_string() != text);
  }

  SECTION("a known vector: PBKDF2-HMAC-SHA256(password, salt, 10000)") {
    // Salt "saltsaltsaltsalt"; the hash computed by an independent
    // implementation (Python's hashlib.pbkdf2_hmac).
    auto known = password_hash::parse(
      "pbkdf2-sha256$10000$c2FsdHNhbHRzYWx0c2FsdA==$"
      "/HBtt7Z/7p0CzRvSN1B+KXrKNskvRts1UWw61zKTFUo=");
    REQUIRE(known);
    CHECK(known->matches("password"));
    CHECK_FALSE(known->matches("Password"));
  }

  SECTION("the default cost") {
    CHECK(password_hash::default_iterations >= 600'000);
  }

  SECTION("malformed strings are refused with a reason") {
    std::string problem;
    for (const char* bad :
         {"", "pbkdf2-sha256", "pbkdf2-sha256$10000$c2FsdHNhbHQ=",
          "pbkdf2-sha256$10000$c2FsdHNhbHQ=$aGFzaGhhc2g=$x",
          "bcrypt$10000$c2FsdHNhbHQ=$aGFzaGhhc2g=",
          "pbkdf2-sha256$9999$c2FsdHNhbHQ=$aGFzaGhhc2g=",
          "pbkdf2-sha256$10000001$c2FsdHNhbHQ=$aGFzaGhhc2g=",
          "pbkdf2-sha256$+10000$c2FsdHNhbHQ=$aGFzaGhhc2g=",
          "pbkdf2-sha256$1e5$c2FsdHNhbHQ=$aGFzaGhhc2g=",
          "pbkdf2-sha256$10000$c2FsdA==$aGFzaGhhc2g=",
          "pbkdf2-sha256$10000$c2FsdHNhbHQ=$aGFzaGhhc2gxZ",
          "pbkdf2-sha256$10000$c2FsdHNhbHQ=$aGFz*GhhcSg="}) {
      INFO(bad);
      problem.clear();
      CHECK_FALSE(password_hash::parse(bad, &problem));
      CHECK_FALSE(problem.empty());
    }
    CHECK(invalid_argument_of([] { password_hash::make("x", 9'999); })
          == "iterations must be from 10000 to 10000000");
  }
}

TEST_CASE("the user directory") {
  const auto hash = password_hash::make("hashed secret", 10'000).to_string();
  user_directory users{{
    {"plain@x", "plain secret", role::admin},
    {"hashed@x", "", role::db_viewer, hash},
  }};

  SECTION("plain and hashed passwords authenticate") {
    auto plain = users.authenticate(basic("plain@x", "plain secret"));
    REQUIRE(plain);
    CHECK(plain->email == "plain@x");
    CHECK(plain->role == role::admin);
    // The directory keeps neither password nor hash.
    CHECK(plain->password.empty());
    auto hashed = users.authenticate(basic("hashed@x", "hashed secret"));
    REQUIRE(hashed);
    CHECK(hashed->role == role::db_viewer);
    CHECK(hashed->password_hash.empty());
  }

  SECTION("anything else does not") {
    for (const auto& header :
         {basic("plain@x", "plain secre"), basic("plain@x", "plain secret!"),
          basic("plain@x", ""), basic("hashed@x", "hashed secre"),
          basic("hashed@x", hash), basic("hashed@x", "plain secret"),
          basic("nobody@x", "plain secret"), basic("Plain@x", "plain secret"),
          std::string{"Basic "}, std::string{"Bearer x"}}) {
      INFO(header);
      CHECK(users.authenticate(header) == nullptr);
    }
  }

  SECTION("a verified hashed password is cached, a wrong one is not") {
    using clock = std::chrono::steady_clock;
    // Costly enough (tens of milliseconds) that scheduling noise on a busy
    // machine cannot hide the difference.
    user_directory slow{{{"slow@x", "", role::admin,
                          password_hash::make("slow secret", 300'000)
                            .to_string()}}};
    const auto header = basic("slow@x", "slow secret");
    auto first_at = clock::now();
    REQUIRE(slow.authenticate(header));
    auto first = clock::now() - first_at;
    // Fifty more cost less than the first: PBKDF2 ran once.
    auto more_at = clock::now();
    for (int i = 0; i < 50; ++i)
      REQUIRE(slow.authenticate(header));
    CHECK(clock::now() - more_at < first);
    // The cache does not let another password in, and survives a failure.
    CHECK_FALSE(slow.authenticate(basic("slow@x", "slow secreT")));
    CHECK(slow.authenticate(header));
  }

  SECTION("directories used in turn on one thread keep their own keys") {
    for (int i = 0; i < 3; ++i) {
      user_directory other{{{"plain@x", "other secret", role::admin}}};
      CHECK(other.authenticate(basic("plain@x", "other secret")));
      CHECK(users.authenticate(basic("plain@x", "plain secret")));
      CHECK_FALSE(other.authenticate(basic("plain@x", "plain secret")));
      CHECK_FALSE(users.authenticate(basic("plain@x", "other secret")));
    }
  }

  SECTION("concurrent logins") {
    std::atomic<int> accepted{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&, i] {
        auto pw = i % 2 == 0 ? "hashed secret" : "wrong";
        for (int j = 0; j < 4; ++j)
          if (users.authenticate(basic("hashed@x", pw)))
            ++accepted;
      });
    for (auto& thread : threads)
      thread.join();
    CHECK(accepted == 16);
  }
}

TEST_CASE("the user directory refuses unusable users without quoting "
          "secrets") {
  const auto hash = password_hash::make("pw", 10'000).to_string();
  auto both = invalid_argument_of([&] {
    user_directory{{{"a@x", "pw", role::admin, hash}}};
  });
  CHECK(both == "user a@x needs exactly one of password and password_hash");
  CHECK(invalid_argument_of(
          [&] { user_directory{{{"a@x", "", role::admin}}}; })
        == both);
  // Without its hash field.
  auto broken = hash.substr(0, hash.rfind('$'));
  auto malformed = invalid_argument_of([&] {
    user_directory{{{"a@x", "", role::admin, broken}}};
  });
  CHECK(malformed
        == "user a@x: invalid password_hash: expected 4 fields separated by "
           "'$'");
  CHECK(invalid_argument_of([&] {
          user_directory{{{"a@x", "p1", role::admin},
                          {"a@x", "p2", role::none}}};
        })
        == "user a@x is configured twice");
}

TEST_CASE("the login throttle") {
  using clock = login_throttle::clock;
  login_throttle throttle{{10, 60s, 4}};
  const auto t0 = clock::now();

  SECTION("ten failures within the window close an address until it ends") {
    for (int i = 0; i < 9; ++i) {
      throttle.failed("10.0.0.1", t0 + i * 1s);
      CHECK_FALSE(throttle.refused("10.0.0.1", t0 + i * 1s));
    }
    throttle.failed("10.0.0.1", t0 + 9s);
    CHECK(throttle.refused("10.0.0.1", t0 + 9s) == 51s);
    CHECK(throttle.refused("10.0.0.1", t0 + 58s + 200ms) == 2s);
    CHECK(throttle.refused("10.0.0.1", t0 + 59s + 999ms) == 1s);
    CHECK_FALSE(throttle.refused("10.0.0.1", t0 + 60s));
    // Other addresses are unaffected.
    CHECK_FALSE(throttle.refused("10.0.0.2", t0 + 9s));
    // After the window, a new one with a fresh count.
    throttle.failed("10.0.0.1", t0 + 61s);
    CHECK_FALSE(throttle.refused("10.0.0.1", t0 + 61s));
  }

  SECTION("failures spread wider than the window do not add up") {
    for (int i = 0; i < 30; ++i) {
      throttle.failed("10.0.0.1", t0 + i * 7s);
      CHECK_FALSE(throttle.refused("10.0.0.1", t0 + i * 7s));
    }
  }

  SECTION("memory is bounded: the oldest windows are forgotten first") {
    for (int i = 0; i < 10; ++i)
      throttle.failed("10.0.0.1", t0);
    CHECK(throttle.refused("10.0.0.1", t0 + 1s));
    for (int i = 2; i <= 9; ++i) {
      throttle.failed("10.0.0." + std::to_string(i), t0 + 1s * i);
      CHECK(throttle.size() <= 4);
    }
    CHECK_FALSE(throttle.refused("10.0.0.1", t0 + 10s));
    CHECK(throttle.size() == 4);
    // Ended windows are dropped as time goes by.
    CHECK_FALSE(throttle.refused("10.0.0.9", t0 + 200s));
    CHECK(throttle.size() == 0);
  }

  SECTION("concurrent failures are all counted") {
    login_throttle shared{{1000, 60s, 16}};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&] {
        for (int j = 0; j < 250; ++j)
          shared.failed("10.0.0.1");
      });
    for (auto& thread : threads)
      thread.join();
    CHECK(shared.refused("10.0.0.1"));
  }
}
