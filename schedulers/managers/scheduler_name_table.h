// SchedulerNameTable: the declarative table of user-facing sampler names (A1111, ComfyUI) and
// diffusers class names, matched case-insensitively; and the way back, from the scheduler a run
// used to the names A1111 and ComfyUI write for it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "schedulers/managers/scheduler_catalog.h"

namespace workers {

class SchedulerNameTable : public SchedulerCatalog {
 public:
  // A table name, a diffusers class name, or either followed by one of A1111's schedule types
  // (`Euler a Karras`, `Heun Exponential`, `DPM++ 2M SGM Uniform`), as A1111 1.9+ splits them.
  SchedulerChoice resolve(const std::string& name) const override;
  std::vector<std::string> names() const override;
};

// What A1111 (1.9+: `Sampler` + `Schedule type`) and ComfyUI (KSampler's `sampler_name` +
// `scheduler`) call a scheduler. Samplers A1111 lacks keep this engine's A1111-style name;
// ComfyUI's names are always valid choices, the nearest one where ComfyUI has no equivalent.
struct SamplerLabels {
  std::string a1111_sampler;    // "DPM++ 2M"
  std::string a1111_schedule;   // "Karras", "Exponential", "Uniform", "SGM Uniform", "DDIM"
  std::string comfyui_sampler;  // "dpmpp_2m"
  std::string
      comfyui_scheduler;  // "karras", "exponential", "normal", "sgm_uniform", "ddim_uniform"
};

// `config`: the run's effective scheduler config (the model's scheduler_config.json merged with
// the name's overrides and the request's scheduler_options), so the labels say what ran.
SamplerLabels sampler_labels(const std::string& class_name, const nlohmann::json& config);

}  // namespace workers
