// A small synchronous HTTP/1.1 client (Boost.Beast) with a deadline, for callbacks and tests.
// Plain http:// only.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace workers {

struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string target = "/";  // path + query
};

// http://host[:port][/path][?query]. Throws Error(INVALID_REQUEST, field) naming what is wrong
// (another scheme, user info, an empty host, a port out of range, spaces or control characters).
HttpUrl parse_http_url(const std::string& url, const std::string& field = "callback_url");

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// Sends one request and reads the whole response within `timeout_seconds` (connect included).
// Throws Error(WORKER_UNAVAILABLE) on a network error or timeout, naming the URL and the reason.
HttpResult http_request(const std::string& method, const std::string& url, const std::string& body,
                        double timeout_seconds,
                        const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace workers
