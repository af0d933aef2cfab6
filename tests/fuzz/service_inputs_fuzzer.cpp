// libFuzzer target: the text a service client or operator controls. Any bytes as an HTTP request
// target, a Redis URL, a callback URL, a callback allow-list (split at ',') checked against the
// input, and a POST /generate body (when it parses as a protocol line) through prepare_job with
// the default ServiceConfig. Each gives a value or a workers::Error; any other exception escaping
// is a bug (libFuzzer reports it), as is a broken invariant (__builtin_trap).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "communication/json_guard.h"
#include "service/callback.h"
#include "service/http_client.h"
#include "service/http_target.h"
#include "service/job_request.h"
#include "service/redis_client.h"
#include "service/service_config.h"
#include "utilities/error.h"

namespace {

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  while (true) {
    std::size_t comma = text.find(',', begin);
    parts.push_back(
        text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin));
    if (comma == std::string::npos) return parts;
    begin = comma + 1;
  }
}

template <typename F>
void expect_value_or_error(F f) {
  try {
    f();
  } catch (const workers::Error&) {
  }
}

const workers::ServiceConfig& default_config() {
  static const workers::ServiceConfig config = workers::parse_service_config(
      nlohmann::json::object(),
      [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
  return config;
}

void fuzz_allow_list(const std::string& text) {
  expect_value_or_error([&] {
    const workers::CallbackAllowList allow(split_commas(text));
    expect_value_or_error([&] { allow.check(text); });
    // Every entry allows a URL naming exactly it (when that is a URL parse_http_url accepts).
    for (const std::string& entry : allow.entries()) {
      std::optional<workers::HttpUrl> url;
      try {
        url = workers::parse_http_url("http://" + entry + "/");
      } catch (const workers::Error&) {
        continue;
      }
      if (!allow.allows(*url)) __builtin_trap();
    }
  });
}

void fuzz_job(const std::string& text) {
  static const workers::CallbackAllowList allow(
      {"127.0.0.1:8080", "callbacks.example:9000", "[::1]:80"});
  nlohmann::json body;
  try {
    body = workers::parse_protocol_line(text);
  } catch (const workers::Error&) {
    return;
  }
  std::optional<workers::ServiceJob> job;
  try {
    job = workers::prepare_job(body, default_config(), allow);
  } catch (const workers::Error&) {
    return;
  }
  if (!workers::valid_job_id(job->job_id) || !job->request.is_object()) __builtin_trap();
  const auto id = job->request.find("request_id");
  if (id == job->request.end() || *id != job->job_id) __builtin_trap();
  if (job->request.contains("job_id") || job->request.contains("callback_url")) __builtin_trap();
  if (!job->callback_url.empty() && !allow.allows(workers::parse_http_url(job->callback_url)))
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  expect_value_or_error([&] { workers::parse_http_target(text); });
  expect_value_or_error([&] { workers::parse_redis_url(text); });
  expect_value_or_error([&] {
    const workers::HttpUrl url = workers::parse_http_url(text);
    if (url.host.empty() || url.target.empty() || url.target[0] != '/') __builtin_trap();
  });
  fuzz_allow_list(text);
  fuzz_job(text);
  return 0;
}
