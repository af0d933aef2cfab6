// The synchronous HTTP client: its URL checks, and its network failures against a closed port and
// a server that never answers.
#include "service/http_client.h"

#include <string>

#include <gtest/gtest.h>

#include "service/loopback_sockets.h"
#include "utilities/error.h"

namespace workers {
namespace {
using testing_support::Clock;
using testing_support::seconds_since;
using testing_support::SilentListener;

TEST(HttpClient, ClosedPortIsWorkerUnavailable) {
  SilentListener listener;
  unsigned short port = listener.port;
  listener.close();
  const std::string target = "http://127.0.0.1:" + std::to_string(port) + "/callback";
  try {
    http_request("POST", target, "{}", 2);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kWorkerUnavailable);
    EXPECT_EQ(std::string(e.what()).rfind("http POST " + target + ": ", 0), 0u) << e.what();
  }
}

TEST(HttpClient, SilentServerTimesOut) {
  SilentListener listener;
  auto begin = Clock::now();
  try {
    http_request("GET", "http://127.0.0.1:" + std::to_string(listener.port) + "/", "", 0.3);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kWorkerUnavailable);
  }
  EXPECT_GE(seconds_since(begin), 0.25);
  EXPECT_LT(seconds_since(begin), 1.5);
}

TEST(HttpClient, ParsesHttpUrls) {
  auto plain = parse_http_url("http://example.com");
  EXPECT_EQ(plain.host, "example.com");
  EXPECT_EQ(plain.port, "80");
  EXPECT_EQ(plain.target, "/");

  auto full = parse_http_url("http://127.0.0.1:8080/hooks/done?job=1&x");
  EXPECT_EQ(full.host, "127.0.0.1");
  EXPECT_EQ(full.port, "8080");
  EXPECT_EQ(full.target, "/hooks/done?job=1&x");

  auto v6 = parse_http_url("http://[::1]:9000/a");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, "9000");
  EXPECT_EQ(v6.target, "/a");

  EXPECT_EQ(parse_http_url("HTTP://host/p#fragment").target, "/p");
  EXPECT_EQ(parse_http_url("http://host?x=1").target, "/?x=1");
  EXPECT_EQ(parse_http_url("http://my-host.local:65535").port, "65535");

  for (const char* bad :
       {"", "example.com", "https://example.com/", "ftp://example.com/", "http://user:pw@example.com/",
        "http://user@example.com/", "http:///path", "http://:80/", "http://host:0/", "http://host:65536/",
        "http://host:/", "http://host:8o/", "http://ho st/", "http://host/a b", "http://host/\n",
        "http://host/\x7f", "http://[::1/", "http://[zz]/", "http://[::1]x/", "http://ho%73t/"}) {
    try {
      parse_http_url(bad, "webhook");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidRequest) << bad;
      EXPECT_EQ(e.field(), "webhook") << bad;
      EXPECT_EQ(std::string(e.what()).rfind("webhook: ", 0), 0u) << e.what();
    }
  }
}

}  // namespace
}  // namespace workers
