// Credentials and the login throttle, without a server: base64, password
// hashes, the user directory and its cache, failed-login counting, the
// client address behind trusted proxies, and which requests are audited.
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
#include "http/request_audit.hpp"
#include "http/trusted_proxies.hpp"

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

TEST_CASE("the user name a Basic header gives, never its password") {
  CHECK(given_user_name(basic("a@x", "pass:word")) == "a@x");
  CHECK(given_user_name("basic  " + encode_base64("b@x:")) == "b@x");
  // A token without ':' might be a password sent alone.
  CHECK(given_user_name("Basic " + encode_base64("just-a-password")).empty());
  CHECK(given_user_name("Bearer " + encode_base64("a@x:pw")).empty());
  CHECK(given_user_name("Basic !!!").empty());
  CHECK(given_user_name("").empty());
}

TEST_CASE("a decoy hash costs what its model costs and matches nothing") {
  auto model = password_hash::make("model secret", 12'345);
  auto decoy = password_hash::decoy(model);
  CHECK(decoy.iterations() == 12'345);
  CHECK(decoy.cost() == model.cost());
  CHECK(decoy.to_string() != model.to_string());
  CHECK(password_hash::parse(decoy.to_string()));
  for (const char* attempt : {"model secret", "", "x"})
    CHECK_FALSE(decoy.matches(attempt));
  // A longer hash is more PBKDF2 blocks.
  auto longer = password_hash::parse(
    "pbkdf2-sha256$10000$c2FsdHNhbHRzYWx0c2FsdA==$"
    + encode_base64(std::string(48, 'h')));
  REQUIRE(longer);
  CHECK(longer->cost() == 20'000);
  CHECK(password_hash::decoy(*longer).cost() == 20'000);
}

TEST_CASE("trusted proxies name the client from X-Forwarded-For") {
  const trusted_proxies proxies{{"10.0.0.0/8", "192.168.1.1", "fd00::/8"}};

  SECTION("addresses and networks of either family") {
    CHECK(proxies.trusts("10.1.2.3"));
    CHECK(proxies.trusts("::ffff:10.1.2.3"));
    CHECK(proxies.trusts("192.168.1.1"));
    CHECK_FALSE(proxies.trusts("192.168.1.2"));
    CHECK(proxies.trusts("fd12::1"));
    CHECK_FALSE(proxies.trusts("fe80::1"));
    CHECK_FALSE(proxies.trusts("11.0.0.1"));
    CHECK_FALSE(proxies.trusts("not an address"));
    CHECK(trusted_proxies{{"0.0.0.0/0"}}.trusts("203.0.113.9"));
    CHECK_FALSE(trusted_proxies{{"0.0.0.0/0"}}.trusts("2001:db8::1"));
    CHECK(trusted_proxies{{"::/0"}}.trusts("2001:db8::1"));
    CHECK(trusted_proxies{{"10.0.0.1/31"}}.trusts("10.0.0.0"));
    CHECK_FALSE(trusted_proxies{{"10.0.0.1/31"}}.trusts("10.0.0.2"));
  }

  SECTION("the right-most address that is not a trusted proxy") {
    CHECK(proxies.client_address("10.0.0.5", "203.0.113.7") == "203.0.113.7");
    CHECK(proxies.client_address("10.0.0.5", "198.51.100.1, 203.0.113.7")
          == "203.0.113.7");
    CHECK(proxies.client_address("10.0.0.5", "203.0.113.7,10.9.9.9, 192.168.1.1")
          == "203.0.113.7");
    CHECK(proxies.client_address("::ffff:10.0.0.5", " 2001:db8::7 ")
          == "2001:db8::7");
    CHECK(proxies.client_address("fd00::1", "::ffff:203.0.113.7")
          == "203.0.113.7");
  }

  SECTION("only proxies' headers are believed") {
    CHECK(proxies.client_address("203.0.113.7", "198.51.100.1")
          == "203.0.113.7");
    CHECK(proxies.client_address("::ffff:203.0.113.7", "198.51.100.1")
          == "203.0.113.7");
    CHECK(trusted_proxies{}.client_address("127.0.0.1", "198.51.100.1")
          == "127.0.0.1");
  }

  SECTION("without the header, or with all of it trusted, the last proxy "
          "heard of") {
    CHECK(proxies.client_address("10.0.0.5", "") == "10.0.0.5");
    CHECK(proxies.client_address("10.0.0.5", "10.0.0.9, 10.0.0.8")
          == "10.0.0.9");
  }

  SECTION("an entry that is no address: the proxy that passed it on") {
    CHECK(proxies.client_address("10.0.0.5", "203.0.113.7, unknown")
          == "10.0.0.5");
    CHECK(proxies.client_address("10.0.0.5", "bogus, 10.0.0.6") == "10.0.0.6");
    CHECK(proxies.client_address("10.0.0.5", "203.0.113.7:4711") == "10.0.0.5");
    CHECK(proxies.client_address("10.0.0.5", ",") == "10.0.0.5");
  }

  SECTION("entries that are neither address nor CIDR are refused") {
    for (const char* bad : {"", "10.0.0.0/33", "fd00::/129", "10.0.0.0/",
                            "10.0.0.0/x", "10.0.0/8", "host.example",
                            "10.0.0.1 "}) {
      INFO(bad);
      CHECK_FALSE(trusted_proxies::entry_problem(bad).empty());
      CHECK_THROWS_AS(trusted_proxies{{bad}}, std::invalid_argument);
    }
  }
}

TEST_CASE("which requests the audit log records, and as what") {
  const std::string action = "/v1/cluster/actions/reindex";
  const std::string list = "/v1/cluster/actions";
  CHECK(audit_event("POST", action, 200, true) == "start_accepted");
  CHECK(audit_event("POST", action, 409, true) == "start_refused");
  CHECK(audit_event("POST", action, 413, true) == "start_refused");
  CHECK(audit_event("POST", list + "/bad.name", 400, true) == "start_refused");
  CHECK(audit_event("POST", list, 405, true) == "start_refused");
  CHECK(audit_event("DELETE", action, 200, true) == "cancel_accepted");
  CHECK(audit_event("DELETE", action, 404, true) == "cancel_refused");
  CHECK(audit_event("GET", action, 401, true) == "login_failed");
  CHECK(audit_event("POST", action, 401, false) == "credentials_missing");
  CHECK(audit_event("GET", list, 403, true) == "permission_denied");
  CHECK(audit_event("DELETE", action, 429, true) == "login_throttled");
  CHECK(audit_event("POST", "/elsewhere", 404, false) == "request_refused");
  // Reads, and a host's own routes that succeed, are not recorded.
  CHECK(audit_event("GET", action, 200, true).empty());
  CHECK(audit_event("GET", action, 404, true).empty());
  CHECK(audit_event("POST", "/elsewhere", 200, true).empty());
  CHECK(audit_event("PUT", action, 405, true).empty());
}
