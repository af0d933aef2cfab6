#include "service/job_request.h"

#include <random>

#include "compat/request_translator.h"
#include "service/callback.h"
#include "utilities/error.h"

namespace workers {
namespace {

constexpr ErrorCode kInvalid = ErrorCode::kInvalidRequest;

std::string id_text(const nlohmann::json& value, const std::string& field) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return value.dump();
  throw Error(kInvalid, field + ": must be a string or an integer, got " + std::string(value.type_name()), field);
}

// The format the engine will read the body as: "canonical" or a legacy translator's name.
std::string body_format(const nlohmann::json& body) {
  for (const auto& translator : compat::default_translators()) {
    if (!translator->recognizes(body)) continue;
    // The flat seed format takes any object with a prompt; one without its own spellings is a
    // canonical request whose message_type was left out (POST /generate implies it).
    if (translator->format() == "flat_seed") {
      bool flat = false;
      for (const char* key : {"model_id", "num_inference_steps", "num_images_per_prompt", "lora"}) {
        flat = flat || body.contains(key);
      }
      if (!flat) return "canonical";
    }
    return std::string(translator->format());
  }
  return "canonical";
}

}  // namespace

bool is_final_state(const std::string& state) {
  return state == "completed" || state == "failed" || state == "cancelled";
}

std::string final_state_of(const nlohmann::json& response) {
  if (response.value("success", false)) return "completed";
  const auto& error = response["error"];
  if (error.is_object() && error.value("code", "") == "CANCELLED") return "cancelled";
  return "failed";
}

nlohmann::json progress_of(const nlohmann::json& event) {
  return {{"step", event.value("step", 0)},
          {"total", event.value("total", 0)},
          {"stage", event.value("stage", "")},
          {"elapsed", event.value("elapsed", nlohmann::json(nullptr))},
          {"eta", event.value("eta", nlohmann::json(nullptr))}};
}

bool valid_job_id(const std::string& id) {
  if (id.empty() || id.size() > 100 || id[0] == '.') return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string new_job_id() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  static const char* const kHex = "0123456789abcdef";
  std::string id = "job-";
  std::uint64_t bits = random();
  for (int i = 0; i < 16; ++i, bits >>= 4) id += kHex[bits & 15];
  return id;
}

ServiceJob prepare_job(const nlohmann::json& body, const ServiceConfig& config, const CallbackAllowList& allow) {
  if (!body.is_object()) {
    throw Error(kInvalid, "body: must be a JSON object (an inference_request), got " + std::string(body.type_name()),
                "body");
  }
  ServiceJob job;
  job.request = body;
  if (body.contains("job_id") && !body["job_id"].is_null()) {
    job.job_id = id_text(body["job_id"], "job_id");
  } else if (body.contains("request_id") && !body["request_id"].is_null()) {
    job.job_id = id_text(body["request_id"], "request_id");
  } else {
    job.job_id = new_job_id();
  }
  if (!valid_job_id(job.job_id)) {
    throw Error(kInvalid,
                "job_id: must be 1-100 letters, digits, '.', '_' or '-' (not starting with '.'), got \"" +
                    job.job_id.substr(0, 120) + "\"",
                "job_id");
  }
  if (body.contains("callback_url") && !body["callback_url"].is_null()) {
    if (!body["callback_url"].is_string()) throw Error(kInvalid, "callback_url: must be a string", "callback_url");
    job.callback_url = body["callback_url"].get<std::string>();
    allow.check(job.callback_url);
  }
  const std::string format = body_format(body);
  if (body.contains("job_type") && !body["job_type"].is_null()) {
    if (!body["job_type"].is_string()) throw Error(kInvalid, "job_type: must be a string", "job_type");
    job.job_type = body["job_type"].get<std::string>();
    auto preset = config.job_types.find(job.job_type);
    if (preset == config.job_types.end()) {
      std::string known;
      for (const auto& [name, unused] : config.job_types) known += (known.empty() ? "" : ", ") + name;
      throw Error(kInvalid, "job_type: unknown job type \"" + job.job_type + "\" (known: " + known + ")", "job_type");
    }
    if (format != "canonical" && format != "flat_seed") {
      throw Error(kInvalid,
                  "job_type: job type presets apply to canonical requests; this body is in the " + format +
                      " format (send its fields instead)",
                  "job_type");
    }
    for (auto it = preset->second.defaults.begin(); it != preset->second.defaults.end(); ++it) {
      if (!job.request.contains(it.key()) || job.request[it.key()].is_null()) job.request[it.key()] = it.value();
    }
    const char* batch_field = job.request.contains("num_images_per_prompt") ? "num_images_per_prompt" : "batch_size";
    const auto& sizes = preset->second.batch_sizes;
    if (!sizes.empty()) {
      const nlohmann::json batch = job.request.value(batch_field, nlohmann::json(1));
      bool allowed = false;
      for (int n : sizes) allowed = allowed || (batch.is_number_integer() && batch.get<long long>() == n);
      if (!allowed) {
        std::string list;
        for (int n : sizes) list += (list.empty() ? "" : ", ") + std::to_string(n);
        throw Error(kInvalid,
                    std::string(batch_field) + ": job type " + job.job_type + " allows batch sizes " + list +
                        ", got " + batch.dump(),
                    batch_field);
      }
    }
  }
  for (const char* service_field : {"job_id", "job_type", "callback_url"}) job.request.erase(service_field);
  job.request["request_id"] = job.job_id;
  if (format == "canonical" && !job.request.contains("message_type")) job.request["message_type"] = "inference_request";
  return job;
}

}  // namespace workers
