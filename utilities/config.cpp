#include "utilities/config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "utilities/byte_size.h"
#include "utilities/config_file.h"
#include "utilities/json_fields.h"

namespace workers {
namespace {

constexpr ErrorCode kCfg = ErrorCode::kConfigError;

enum class EnvKind { kString, kInteger, kNumber, kList };

struct EnvOverride {
  const char* variable;
  const char* pointer;
  EnvKind kind;
};

// Declarative table: one line per overridable field.
const EnvOverride kOverrides[] = {
    {"SDXL_WORKERS_DEVICE", "/workers/instructors/device/device", EnvKind::kString},
    {"SDXL_WORKERS_DTYPE", "/workers/instructors/device/dtype", EnvKind::kString},
    {"SDXL_WORKERS_THREADS", "/workers/instructors/device/threads", EnvKind::kInteger},
    {"SDXL_WORKERS_MAX_MEMORY", "/workers/instructors/device/max_memory", EnvKind::kString},
    {"SDXL_WORKERS_MAX_CONCURRENT_TASKS", "/workers/main_interface/max_concurrent_tasks", EnvKind::kInteger},
    {"SDXL_WORKERS_TASK_TIMEOUT", "/workers/main_interface/task_timeout", EnvKind::kNumber},
    {"SDXL_WORKERS_QUEUE_CAPACITY", "/workers/main_interface/queue_capacity", EnvKind::kInteger},
    {"SDXL_WORKERS_MAX_LINE_BYTES", "/workers/instructors/communication/max_line_bytes", EnvKind::kInteger},
    {"SDXL_WORKERS_MODEL_ROOTS", "/workers/instructors/model/model_roots", EnvKind::kList},
    {"SDXL_WORKERS_LORA_ROOTS", "/workers/instructors/model/lora_roots", EnvKind::kList},
    {"SDXL_WORKERS_CONTROLNET_ROOTS", "/workers/instructors/model/controlnet_roots", EnvKind::kList},
    {"SDXL_WORKERS_UPSCALER_ROOTS", "/workers/instructors/model/upscaler_roots", EnvKind::kList},
    {"SDXL_WORKERS_IMAGE_ROOTS", "/workers/instructors/conditioning/image_roots", EnvKind::kList},
    {"SDXL_WORKERS_CACHE_BYTES", "/workers/instructors/model/cache_bytes", EnvKind::kInteger},
    {"SDXL_WORKERS_DEFAULT_MODEL", "/workers/instructors/model/default_model", EnvKind::kString},
    {"SDXL_WORKERS_TRUSTED_LINK_TARGETS", "/workers/instructors/model/trusted_link_targets", EnvKind::kList},
    {"SDXL_WORKERS_SHUTDOWN_GRACE_SECONDS", "/workers/main_interface/shutdown_grace_seconds", EnvKind::kNumber},
    {"SDXL_WORKERS_MAX_PENDING_OUTPUT_BYTES", "/workers/instructors/communication/max_pending_output_bytes",
     EnvKind::kInteger},
    {"SDXL_WORKERS_OUTPUT_ROOT", "/workers/instructors/postprocessing/output_root", EnvKind::kString},
    {"SDXL_WORKERS_POSTPROCESSING_STAGES", "/workers/instructors/postprocessing/stages", EnvKind::kList},
    {"SDXL_WORKERS_SAFETY_CHECKER_MODEL", "/workers/instructors/postprocessing/safety_checker/model", EnvKind::kString},
    {"SDXL_WORKERS_SAFETY_CHECKER_MODE", "/workers/instructors/postprocessing/safety_checker/mode", EnvKind::kString},
    {"SDXL_WORKERS_LOG_LEVEL", "/logging/level", EnvKind::kString},
    {"SDXL_WORKERS_LOG_FILE", "/logging/file", EnvKind::kString},
};

nlohmann::json env_value(const EnvOverride& o, const std::string& text) {
  try {
    std::size_t used = 0;
    switch (o.kind) {
      case EnvKind::kString: return text;
      case EnvKind::kInteger: {
        long long v = std::stoll(text, &used);
        if (used != text.size()) break;
        return v;
      }
      case EnvKind::kNumber: {
        double v = std::stod(text, &used);
        if (used != text.size()) break;
        return v;
      }
      case EnvKind::kList: {
        nlohmann::json list = nlohmann::json::array();
        std::stringstream in(text);
        for (std::string item; std::getline(in, item, ':');) {
          if (!item.empty()) list.push_back(item);
        }
        return list;
      }
    }
  } catch (const std::exception&) {
  }
  throw Error(kCfg, std::string(o.variable) + ": cannot parse \"" + text + "\" as a " +
                        (o.kind == EnvKind::kInteger ? "whole number" : "number"),
              o.variable);
}

std::vector<std::string> strings(FieldReader& reader, const std::string& key,
                                 std::vector<std::string> fallback) {
  auto list = reader.string_list(key);
  return list ? *list : fallback;
}

template <typename T>
T bounded_int(FieldReader& reader, const std::string& key, T fallback, long long lo, long long hi) {
  auto v = reader.integer(key);
  if (!v) return fallback;
  if (*v < lo || *v > hi) {
    reader.fail(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                         ", got " + std::to_string(*v));
  }
  return static_cast<T>(*v);
}

std::string one_of(FieldReader& reader, const std::string& key, std::string fallback,
                   const std::vector<std::string>& allowed) {
  auto v = reader.string(key);
  if (!v) return fallback;
  for (const auto& a : allowed) {
    if (*v == a) return *v;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  reader.fail(key, "must be one of " + list + ", got \"" + *v + "\"");
}

void collect_unknown(const FieldReader& reader, std::vector<std::string>& warnings) {
  for (const auto& field : reader.unread()) warnings.push_back("unknown config key ignored: " + field);
}

void parse_limits(FieldReader& r, RequestLimits& l) {
  l.min_size = bounded_int(r, "min_size", l.min_size, 8, 16384);
  l.max_size = bounded_int(r, "max_size", l.max_size, 8, 16384);
  if (l.min_size > l.max_size) r.fail("min_size", "must not exceed max_size");
  l.max_steps = bounded_int(r, "max_steps", l.max_steps, 1, 10000);
  l.max_batch_size = bounded_int(r, "max_batch_size", l.max_batch_size, 1, 256);
  l.max_prompt_chars = bounded_int<std::size_t>(r, "max_prompt_chars", l.max_prompt_chars, 1, 1 << 24);
  if (auto t = r.number("max_timeout_seconds")) {
    if (*t <= 0) r.fail("max_timeout_seconds", "must be greater than 0");
    l.max_timeout_seconds = *t;
  }
}

// Which names exist is the StageRegistry's to say (the manager checks them); here: a non-empty
// list without repeats, since a stage listed twice would run twice (two files per image).
std::vector<std::string> stage_list(FieldReader& r, std::vector<std::string> fallback) {
  auto stages = strings(r, "stages", std::move(fallback));
  if (stages.empty()) {
    r.fail("stages", "must name at least one stage (default: [\"encode\", \"thumbnail\"])");
  }
  for (auto it = stages.begin(); it != stages.end(); ++it) {
    if (it->empty()) r.fail("stages", "must not contain an empty stage name");
    if (std::find(stages.begin(), it, *it) != it) r.fail("stages", "lists \"" + *it + "\" twice");
  }
  return stages;
}

void parse_device(FieldReader& r, DeviceConfig& d) {
  if (auto device = r.string("device")) d.device = *device;  // checked by the device policy
  d.dtype = one_of(r, "dtype", d.dtype, {"auto", "float32", "float16", "bfloat16"});
  d.threads = bounded_int(r, "threads", d.threads, 0, 1024);
  if (const nlohmann::json* v = r.raw("max_memory")) {
    std::optional<std::uint64_t> bytes;
    if (v->is_number_unsigned()) bytes = v->get<std::uint64_t>();
    if (v->is_number_integer() && v->get<std::int64_t>() >= 0) bytes = static_cast<std::uint64_t>(v->get<std::int64_t>());
    if (v->is_string()) bytes = parse_byte_size(v->get<std::string>());
    if (!bytes) {
      throw Error(kCfg, "must be a byte count or a size such as \"8GB\", \"512MiB\" (got " + v->dump() + ")",
                  r.field("max_memory"));
    }
    d.max_memory = *bytes;
  }
}

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value) return std::nullopt;
    return std::string(value);
  };
}

const std::vector<std::pair<std::string, std::string>>& environment_overrides() {
  static const auto table = [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& o : kOverrides) out.emplace_back(o.variable, o.pointer);
    return out;
  }();
  return table;
}

WorkersConfig parse_config(const nlohmann::json& document) {
  WorkersConfig c;
  FieldReader root(document, "", kCfg);
  const nlohmann::json empty = nlohmann::json::object();
  auto section = [&](FieldReader& parent, const std::string& key) {
    const auto* value = parent.object(key);
    return FieldReader(value ? *value : empty, parent.field(key), kCfg);
  };

  FieldReader workers = section(root, "workers");
  FieldReader main = section(workers, "main_interface");
  c.main_interface.max_concurrent_tasks =
      bounded_int(main, "max_concurrent_tasks", c.main_interface.max_concurrent_tasks, 1, 64);
  if (auto t = main.number("task_timeout")) {
    if (*t <= 0) main.fail("task_timeout", "must be greater than 0 seconds");
    c.main_interface.task_timeout = *t;
  }
  c.main_interface.queue_capacity =
      bounded_int<std::size_t>(main, "queue_capacity", c.main_interface.queue_capacity, 1, 100000);
  c.main_interface.max_batch_chunk = bounded_int(main, "max_batch_chunk", c.main_interface.max_batch_chunk, 0, 1024);
  if (auto g = main.number("shutdown_grace_seconds")) {
    if (!(*g >= 0 && *g <= 86400)) main.fail("shutdown_grace_seconds", "must be between 0 and 86400 seconds");
    c.main_interface.shutdown_grace_seconds = *g;
  }
  FieldReader limits = section(main, "limits");
  parse_limits(limits, c.main_interface.limits);

  FieldReader instructors = section(workers, "instructors");
  FieldReader device = section(instructors, "device");
  parse_device(device, c.device);
  FieldReader comm = section(instructors, "communication");
  c.communication.max_line_bytes = bounded_int<std::size_t>(
      comm, "max_line_bytes", c.communication.max_line_bytes, 1024, 1ll << 32);
  if (auto p = comm.boolean("progress_events")) c.communication.progress_events = *p;
  c.communication.max_pending_output_bytes = bounded_int<std::size_t>(
      comm, "max_pending_output_bytes", c.communication.max_pending_output_bytes, 1024, 1ll << 40);
  // Service mode's sections (http, redis, job_types) are parsed by service/service_config.cpp;
  // here they are only checked to be objects, so they are not reported as unknown.
  for (const char* service_section : {"http", "redis", "job_types"}) comm.object(service_section);
  FieldReader model = section(instructors, "model");
  c.model.model_roots = strings(model, "model_roots", c.model.model_roots);
  c.model.lora_roots = strings(model, "lora_roots", c.model.lora_roots);
  c.model.controlnet_roots = strings(model, "controlnet_roots", c.model.controlnet_roots);
  c.model.upscaler_roots = strings(model, "upscaler_roots", c.model.upscaler_roots);
  if (const auto* types = model.object("controlnet_models")) {
    for (auto it = types->begin(); it != types->end(); ++it) {
      if (!it.value().is_string() || it.value().get<std::string>().empty()) {
        model.fail("controlnet_models." + it.key(), "must be a ControlNet model reference (a non-empty string)");
      }
      c.model.controlnet_models[it.key()] = it.value().get<std::string>();
    }
  }
  if (auto b = model.unsigned_integer("cache_bytes")) c.model.cache_bytes = *b;
  c.model.trusted_link_targets = strings(model, "trusted_link_targets", c.model.trusted_link_targets);
  if (auto d = model.string("default_model")) c.model.default_model = *d;
  FieldReader conditioning = section(instructors, "conditioning");
  c.conditioning.image_roots = strings(conditioning, "image_roots", c.conditioning.image_roots);
  FieldReader inference = section(instructors, "inference");
  FieldReader scheduler = section(instructors, "scheduler");
  if (auto s = scheduler.string("default")) c.scheduler.default_scheduler = *s;
  FieldReader post = section(instructors, "postprocessing");
  if (auto o = post.string("output_root")) {
    if (o->empty()) post.fail("output_root", "must not be empty");
    c.postprocessing.output_root = *o;
  }
  c.postprocessing.stages = stage_list(post, c.postprocessing.stages);
  c.postprocessing.upscale_tile = bounded_int(post, "upscale_tile", c.postprocessing.upscale_tile, 0, 4096);
  FieldReader safety = section(post, "safety_checker");
  if (auto m = safety.string("model")) c.postprocessing.safety_checker_model = *m;
  c.postprocessing.safety_checker_mode =
      one_of(safety, "mode", c.postprocessing.safety_checker_mode, {"off", "flag", "black", "blur"});
  FieldReader logging = section(root, "logging");
  c.logging.level = one_of(logging, "level", c.logging.level,
                           {"trace", "debug", "info", "warn", "error", "critical", "off"});
  if (auto f = logging.string("file")) c.logging.file = *f;

  for (const FieldReader* r : {&root, &workers, &main, &limits, &instructors, &device, &comm, &model,
                               &conditioning, &inference, &scheduler, &post, &safety, &logging}) {
    collect_unknown(*r, c.warnings);
  }
  return c;
}

nlohmann::json read_config_file(const std::optional<std::string>& path) {
  nlohmann::json document = nlohmann::json::object();
  if (!path) return document;
  std::ifstream in(*path);
  if (!in) throw Error(kCfg, "cannot open config file " + *path, "config");
  try {
    document = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(kCfg, "config file " + *path + " is not valid JSON: " + e.what(), "config");
  }
  if (!document.is_object()) throw Error(kCfg, "config file " + *path + " must hold a JSON object", "config");
  return document;
}

WorkersConfig load_config(const std::optional<std::string>& path, const EnvLookup& env) {
  nlohmann::json document = read_config_file(path);
  for (const auto& o : kOverrides) {
    if (auto text = env(o.variable)) {
      nlohmann::json::json_pointer pointer(o.pointer);
      try {
        document[pointer] = env_value(o, *text);
      } catch (const nlohmann::json::exception& e) {
        throw Error(kCfg, std::string(o.variable) + ": cannot apply override: " + e.what(), o.variable);
      }
    }
  }
  return parse_config(document);
}

nlohmann::json to_json(const WorkersConfig& c) {
  const auto& l = c.main_interface.limits;
  return {
      {"workers",
       {{"main_interface",
         {{"max_concurrent_tasks", c.main_interface.max_concurrent_tasks},
          {"task_timeout", c.main_interface.task_timeout},
          {"queue_capacity", c.main_interface.queue_capacity},
          {"max_batch_chunk", c.main_interface.max_batch_chunk},
          {"shutdown_grace_seconds", c.main_interface.shutdown_grace_seconds},
          {"limits",
           {{"min_size", l.min_size}, {"max_size", l.max_size}, {"max_steps", l.max_steps},
            {"max_batch_size", l.max_batch_size}, {"max_prompt_chars", l.max_prompt_chars},
            {"max_timeout_seconds", l.max_timeout_seconds}}}}},
        {"instructors",
         {{"device", {{"device", c.device.device}, {"dtype", c.device.dtype}, {"threads", c.device.threads}, {"max_memory", c.device.max_memory}}},
          {"communication",
           {{"max_line_bytes", c.communication.max_line_bytes},
            {"progress_events", c.communication.progress_events},
            {"max_pending_output_bytes", c.communication.max_pending_output_bytes}}},
          {"model",
           {{"model_roots", c.model.model_roots}, {"lora_roots", c.model.lora_roots},
            {"controlnet_roots", c.model.controlnet_roots}, {"upscaler_roots", c.model.upscaler_roots},
            {"controlnet_models", c.model.controlnet_models},
            {"cache_bytes", c.model.cache_bytes}, {"trusted_link_targets", c.model.trusted_link_targets},
            {"default_model", c.model.default_model}}},
          {"conditioning", {{"image_roots", c.conditioning.image_roots}}},
          {"inference", nlohmann::json::object()},
          {"scheduler", {{"default", c.scheduler.default_scheduler}}},
          {"postprocessing",
           {{"output_root", c.postprocessing.output_root},
            {"stages", c.postprocessing.stages},
            {"upscale_tile", c.postprocessing.upscale_tile},
            {"safety_checker",
             {{"model", c.postprocessing.safety_checker_model}, {"mode", c.postprocessing.safety_checker_mode}}}}}}}}},
      {"logging", {{"level", c.logging.level}, {"file", c.logging.file}}}};
}

}  // namespace workers
