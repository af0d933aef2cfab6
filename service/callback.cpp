// Job callbacks: the allow-list of callback targets, the seeds' enhanced callback body built from
// an engine response, asset URLs, and delivery with retries (network errors and 5xx, backoff).
#include "service/callback.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "communication/envelope.h"
#include "utilities/error.h"

namespace workers {
namespace {

constexpr const char* kHostsField = "workers.instructors.communication.http.callback_hosts";

std::string trim(std::string_view text) {
  std::size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// "8080" → "8080", "08080" → "8080"; "" for anything that is not a port in 1..65535.
std::string normalise_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return {};
  long value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return {};
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 65535) return {};
  return std::to_string(value);
}

// Lower-case, brackets stripped, then an IPv6 literal (anything with ':') bracketed again.
std::string normalise_host(std::string host) {
  host = lower(std::move(host));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return host;
}

bool valid_host(const std::string& host) {
  if (host.empty() || host == "[]") return false;
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == '@' || c == '?' || c == '#' || c == '%')
      return false;
  }
  return true;
}

// "host:port" / "[v6]:port" → normalised, or throws CONFIG_ERROR naming the entry.
std::string normalise_entry(const std::string& raw) {
  const std::string entry = trim(raw);
  const auto bad = [&raw]() {
    return Error(ErrorCode::kConfigError, "callback_hosts: entry \"" + raw + "\" must be host:port",
                 kHostsField);
  };
  std::string host, port;
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string::npos || close + 1 >= entry.size() || entry[close + 1] != ':')
      throw bad();
    host = entry.substr(0, close + 1);
    port = entry.substr(close + 2);
  } else {
    const auto colon = entry.rfind(':');
    if (colon == std::string::npos) throw bad();
    host = entry.substr(0, colon);
    port = entry.substr(colon + 1);
    if (host.find(':') != std::string::npos) throw bad();  // a bare IPv6 literal: bracket it
  }
  host = normalise_host(trim(host));
  const std::string normal_port = normalise_port(trim(port));
  if (!valid_host(host) || normal_port.empty()) throw bad();
  return host + ":" + normal_port;
}

std::string url_host_port(const HttpUrl& url) {
  const std::string port = normalise_port(url.port);
  return normalise_host(url.host) + ":" + (port.empty() ? url.port : port);
}

bool unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

std::string percent_encode(const std::string& text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (unreserved(u) || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0x0f];
    }
  }
  return out;
}

// The value under `key` when `object` is an object holding a non-null one, else null.
nlohmann::json get(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nlohmann::json() : *it;
}

// The first non-null of the two.
nlohmann::json either(nlohmann::json first, nlohmann::json second) {
  return first.is_null() ? std::move(second) : std::move(first);
}

nlohmann::json or_null(const std::string& text) {
  return text.empty() ? nlohmann::json() : nlohmann::json(text);
}

nlohmann::json thumbnail_url(const nlohmann::json& asset) {
  const nlohmann::json thumbnail = get(asset, "thumbnail");
  const nlohmann::json base64 = get(thumbnail, "base64");
  if (!base64.is_string() || base64.get_ref<const std::string&>().empty()) return nullptr;
  const nlohmann::json format = get(thumbnail, "format");
  const std::string mime = format.is_string() && !format.get_ref<const std::string&>().empty()
                               ? lower(format.get<std::string>())
                               : "webp";
  return "data:image/" + mime + ";base64," + base64.get<std::string>();
}

nlohmann::json callback_asset(const nlohmann::json& asset, std::size_t position, std::size_t count,
                              const nlohmann::json& data, const std::string& asset_base_url) {
  const nlohmann::json source_metadata = get(asset, "metadata");
  nlohmann::json metadata =
      source_metadata.is_object() ? source_metadata : nlohmann::json::object();
  const nlohmann::json path = get(asset, "path");
  const nlohmann::json pipeline = get(source_metadata, "pipeline");
  const nlohmann::json negative = get(source_metadata, "negative_prompt");

  metadata["width"] = either(get(asset, "width"), get(source_metadata, "width"));
  metadata["height"] = either(get(asset, "height"), get(source_metadata, "height"));
  metadata["format"] = either(get(asset, "format"), get(source_metadata, "format"));
  metadata["batch_size"] = either(get(source_metadata, "batch_size"), count);
  metadata["steps"] = get(source_metadata, "steps");
  metadata["guidance_scale"] = get(source_metadata, "guidance_scale");
  metadata["seed"] = either(get(source_metadata, "seed"), get(data, "seed"));
  metadata["file_size_bytes"] = get(asset, "bytes");
  metadata["asset_index"] = either(get(source_metadata, "batch_index"), position);
  nlohmann::json strength = get(source_metadata, "strength");
  if (strength.is_null() && pipeline == "text2img") strength = 1.0;
  metadata["denoise_strength"] = strength;
  metadata["pipeline"] = pipeline;
  metadata["negative_prompt_used"] =
      negative.is_string() && !trim(negative.get<std::string>()).empty();
  metadata["path"] = path;

  const nlohmann::json type = get(asset, "type");
  nlohmann::json out;
  out["type"] = type.is_string() ? type : nlohmann::json("image");
  out["url"] = path.is_string() && !path.get_ref<const std::string&>().empty()
                   ? nlohmann::json(asset_url(path.get<std::string>(), asset_base_url))
                   : nlohmann::json();
  out["thumbnail_url"] = thumbnail_url(asset);
  out["metadata"] = std::move(metadata);
  return out;
}

nlohmann::json callback_error(const nlohmann::json& response) {
  const nlohmann::json error = get(response, "error");
  const nlohmann::json code = get(error, "code");
  const nlohmann::json message = get(error, "message");
  return {
      {"code", code.is_string() ? code : nlohmann::json(to_string(ErrorCode::kInternalError))},
      {"message",
       message.is_string() ? message : nlohmann::json("the job failed without an error report")},
      {"field", get(error, "field")}};
}

}  // namespace

CallbackAllowList::CallbackAllowList(std::vector<std::string> host_ports) {
  for (const std::string& raw : host_ports) {
    if (trim(raw).empty()) continue;  // "a:1,,b:2" or a trailing comma
    std::string entry = normalise_entry(raw);
    if (std::find(entries_.begin(), entries_.end(), entry) == entries_.end())
      entries_.push_back(std::move(entry));
  }
}

bool CallbackAllowList::allows(const HttpUrl& url) const {
  const std::string key = url_host_port(url);
  return std::find(entries_.begin(), entries_.end(), key) != entries_.end();
}

HttpUrl CallbackAllowList::check(const std::string& url) const {
  HttpUrl parsed = parse_http_url(url, "callback_url");
  if (allows(parsed)) return parsed;
  const std::string key = url_host_port(parsed);
  if (entries_.empty()) {
    throw Error(ErrorCode::kInvalidRequest,
                "callback_url: host " + key +
                    " is refused: no callback hosts are configured (SDXL_WORKERS_CALLBACK_HOSTS)",
                "callback_url");
  }
  throw Error(ErrorCode::kInvalidRequest,
              "callback_url: host " + key +
                  " is not in the callback allow-list (SDXL_WORKERS_CALLBACK_HOSTS)",
              "callback_url");
}

nlohmann::json completion_callback(const CallbackContext& context, const nlohmann::json& response) {
  const bool succeeded = get(response, "success") == true;
  const nlohmann::json data = get(response, "data");

  nlohmann::json assets = nlohmann::json::array();
  if (succeeded) {
    const nlohmann::json source = get(data, "assets");
    if (source.is_array()) {
      for (std::size_t i = 0; i < source.size(); ++i) {
        assets.push_back(callback_asset(source[i], i, source.size(), data, context.asset_base_url));
      }
    }
  }

  const nlohmann::json warnings = get(response, "warnings");
  nlohmann::json metadata = {
      {"processing_time", context.processing_time},
      {"batch_size", assets.size()},
      {"job_type", or_null(context.job_type)},
      {"attempts", context.attempts},
      {"generation_seconds", get(data, "generation_seconds")},
      {"seed", get(data, "seed")},
      {"warnings", warnings.is_array() ? warnings : nlohmann::json::array()},
      {"execution_time", get(response, "execution_time")},
  };

  return {{"job_id", context.job_id},
          {"worker_id", context.worker_id},
          {"status", succeeded ? "completed" : "failed"},
          {"timestamp", utc_timestamp()},
          {"assets", std::move(assets)},
          {"metadata", std::move(metadata)},
          {"error", succeeded ? nlohmann::json() : callback_error(response)}};
}

nlohmann::json processing_callback(const CallbackContext& context) {
  const std::string now = utc_timestamp();
  return {{"job_id", context.job_id},
          {"worker_id", context.worker_id},
          {"status", "processing"},
          {"timestamp", now},
          {"assets", nlohmann::json::array()},
          {"metadata",
           {{"job_type", or_null(context.job_type)},
            {"attempts", context.attempts},
            {"started_at", now}}},
          {"error", nullptr}};
}

std::string asset_url(const std::string& path, const std::string& asset_base_url) {
  namespace fs = std::filesystem;
  if (asset_base_url.empty()) {
    std::error_code ec;
    fs::path absolute = fs::absolute(fs::path(path), ec);
    if (ec) absolute = fs::path(path);
    return "file://" + percent_encode(absolute.lexically_normal().generic_string(), true);
  }
  std::string base = asset_base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/" + percent_encode(fs::path(path).filename().string(), false);
}

nlohmann::json CallbackOutcome::to_json() const {
  return {{"delivered", delivered},
          {"attempts", attempts},
          {"status", status},
          {"error", error},
          {"url", url}};
}

CallbackOutcome deliver_callback(const std::string& url, const nlohmann::json& body,
                                 const CallbackPolicy& policy) {
  CallbackOutcome outcome;
  outcome.url = url;
  const int max_attempts = std::max(1, policy.attempts);
  const std::string payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "application/json"}};
  double backoff = std::max(0.0, policy.backoff_seconds);

  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    if (attempt > 1) {
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
      backoff *= 2;
    }
    outcome.attempts = attempt;
    bool retry = false;
    try {
      const HttpResult result = http_request("POST", url, payload, policy.timeout_seconds, headers);
      outcome.status = result.status;
      if (result.status >= 200 && result.status < 300) {
        outcome.delivered = true;
        outcome.error.clear();
        return outcome;
      }
      outcome.error = "HTTP " + std::to_string(result.status);
      retry = result.status >= 500;
    } catch (const Error& e) {
      outcome.status = 0;
      outcome.error = e.what();
      retry = e.code() == ErrorCode::kWorkerUnavailable;
    } catch (const std::exception& e) {
      outcome.status = 0;
      outcome.error = e.what();
    }
    if (!retry) break;
  }
  return outcome;
}

}  // namespace workers
