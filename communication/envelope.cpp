#include "communication/envelope.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace workers {
namespace {

nlohmann::json base(const ResponseMeta& meta, bool success) {
  nlohmann::json j;
  j["request_id"] = meta.request_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(meta.request_id);
  j["message_type"] = meta.message_type.empty() ? "error_response" : meta.message_type;
  j["success"] = success;
  j["data"] = nullptr;
  j["error"] = nullptr;
  j["warnings"] = meta.warnings;
  j["execution_time"] = meta.execution_time;
  j["timestamp"] = utc_timestamp();
  return j;
}

}  // namespace

nlohmann::json make_success(const ResponseMeta& meta, nlohmann::json data) {
  auto j = base(meta, true);
  j["data"] = std::move(data);
  return j;
}

nlohmann::json make_failure(const ResponseMeta& meta, const Error& error) {
  auto j = base(meta, false);
  j["error"] = {{"code", std::string(to_string(error.code()))},
                {"message", error.what()},
                {"field", error.field().empty() ? nlohmann::json(nullptr) : nlohmann::json(error.field())}};
  return j;
}

nlohmann::json make_progress(const std::string& request_id, const ProgressUpdate& update, double elapsed) {
  nlohmann::json j = update.extra.is_object() ? update.extra : nlohmann::json::object();
  j["request_id"] = request_id;
  j["event"] = "progress";
  j["stage"] = update.stage;
  j["step"] = update.step;
  j["total"] = update.total;
  j["elapsed"] = elapsed;
  if (j.contains("eta")) {
    // The worker's own estimate (from its step times, without loading) wins.
  } else if (update.step > 0 && update.total >= update.step) {
    j["eta"] = elapsed / update.step * (update.total - update.step);
  } else {
    j["eta"] = nullptr;
  }
  j["timestamp"] = utc_timestamp();
  return j;
}

std::string utc_timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t seconds = system_clock::to_time_t(now);
  auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buffer;
}

}  // namespace workers
