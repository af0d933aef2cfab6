// WorkersConfig: the typed form of workers_config.json, with defaults for every field, loaded from
// an optional file plus SDXL_WORKERS_* environment overrides and validated with field-named errors.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/generation_request.h"

namespace workers {

struct LoggingConfig {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  std::string file;            // empty: stderr only
};

struct DeviceConfig {
  std::string device = "auto";  // auto, cpu, cuda, cuda:N (directml and mps are rejected clearly)
  std::string dtype = "auto";   // auto, float32, float16, bfloat16
  int threads = 0;              // libtorch intra-op threads; 0: one per physical core
  // The memory budget of this worker on its device (models, caches and activations together):
  // bytes, or a string such as "8GB" in the file. 0: what the device has minus a margin.
  std::uint64_t max_memory = 0;
};

struct CommunicationConfig {
  std::size_t max_line_bytes = 16u << 20;  // longer protocol lines are rejected, not buffered
  bool progress_events = true;
  // While more than this many response bytes wait for the host to read them, stdin is not read:
  // a host that never reads cannot grow the worker's memory without bound.
  std::size_t max_pending_output_bytes = 16u << 20;
};

struct ModelConfig {
  std::vector<std::string> model_roots;
  std::vector<std::string> lora_roots;
  std::vector<std::string> controlnet_roots;
  // ESRGAN-family upscaler models (.pth / .safetensors), named by file name or stem.
  std::vector<std::string> upscaler_roots;
  // ControlNet type -> model reference under a ControlNet root, for "canny:0.8" style requests.
  std::map<std::string, std::string> controlnet_models;
  std::uint64_t cache_bytes = 0;  // model cache budget; 0: chosen from device memory
  // Folders outside the roots that links inside a model, LoRA or ControlNet root may lead into
  // (e.g. a shared blob store). Empty: every file read must resolve inside a root of its kind.
  std::vector<std::string> trusted_link_targets;
  // The model of a request that names none (legacy hosts send no model id).
  std::string default_model;
};

struct ConditioningConfig {
  // Where init images and masks named in requests may be read from (paths resolve inside them).
  std::vector<std::string> image_roots;
};

struct SchedulerConfig {
  std::string default_scheduler;  // empty: the model's own scheduler_config.json
};

struct PostprocessingConfig {
  std::string output_root = "outputs";
  // The postprocessing stages every job runs, in order (names from the StageRegistry; checked
  // when the manager is built, since the registry is not known here).
  // Each stage runs only for a job that asks for it (postprocess.*), except encode and thumbnail.
  std::vector<std::string> stages = {"safety_check", "upscale", "enhance", "encode", "thumbnail"};
  // Neural upscalers run on tiles of this many input pixels a side (with overlap), so memory stays
  // bounded whatever the image size; 0: the whole image at once. A request's upscale.tile wins.
  int upscale_tile = 256;
  // diffusers' StableDiffusionSafetyChecker: a diffusers model folder (with safety_checker/ and
  // feature_extractor/) or its safety_checker folder. Empty: none; a job asking for one fails.
  std::string safety_checker_model;
  // The mode of jobs that name none: off, flag, black or blur.
  std::string safety_checker_mode = "off";
};

struct MainInterfaceConfig {
  int max_concurrent_tasks = 1;
  double task_timeout = 600.0;     // seconds; a request's own `timeout` overrides it
  std::size_t queue_capacity = 64; // queued jobs beyond this are refused with QUEUE_FULL
  // Images per denoising run: a larger batch runs in chunks of this many, with exactly the images
  // one run would give (the batch manager's split). 0: the whole batch in one run.
  int max_batch_chunk = 0;
  // After SIGTERM/SIGINT, how long queued and running jobs may still finish; then (or on a second
  // signal) every unfinished job is answered WORKER_UNAVAILABLE and the process exits.
  double shutdown_grace_seconds = 30.0;
  RequestLimits limits;
};

struct WorkersConfig {
  MainInterfaceConfig main_interface;
  DeviceConfig device;
  CommunicationConfig communication;
  ModelConfig model;
  ConditioningConfig conditioning;
  SchedulerConfig scheduler;
  PostprocessingConfig postprocessing;
  LoggingConfig logging;
  std::vector<std::string> warnings;  // unknown keys and other non-fatal findings
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (std::getenv).
EnvLookup process_environment();

// Parses a config document (already merged with environment overrides).
// Throws Error(CONFIG_ERROR) naming the field, e.g. "workers.main_interface.max_concurrent_tasks".
WorkersConfig parse_config(const nlohmann::json& document);

// Reads `path` (if given), applies the SDXL_WORKERS_* overrides from `env`, parses and validates.
WorkersConfig load_config(const std::optional<std::string>& path, const EnvLookup& env);

// The effective configuration, for status responses and `sdxl-workers config`.
nlohmann::json to_json(const WorkersConfig& config);

// The environment variables that override config fields: (variable, JSON pointer).
const std::vector<std::pair<std::string, std::string>>& environment_overrides();

}  // namespace workers
