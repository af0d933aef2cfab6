#include "schedulers/managers/scheduler_name_table.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "utilities/error.h"

namespace workers {
namespace {

struct Entry {
  const char* name;
  const char* class_name;
  const char* overrides;  // JSON
};

// A1111 names first (what users type), then ComfyUI sampler names, then diffusers class names.
const Entry kEntries[] = {
    {"DPM++ 2M Karras", "DPMSolverMultistepScheduler", R"({"use_karras_sigmas":true})"},
    {"DPM++ 2M", "DPMSolverMultistepScheduler", "{}"},
    {"DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler",
     R"({"algorithm_type":"sde-dpmsolver++","use_karras_sigmas":true})"},
    {"DPM++ 2M SDE", "DPMSolverMultistepScheduler", R"({"algorithm_type":"sde-dpmsolver++"})"},
    {"DPM++ 3M", "DPMSolverMultistepScheduler", R"({"solver_order":3})"},
    {"DPM++ SDE Karras", "DPMSolverSDEScheduler", R"({"use_karras_sigmas":true})"},
    {"DPM++ SDE", "DPMSolverSDEScheduler", "{}"},
    {"DPM++ 2S", "DPMSolverSinglestepScheduler", "{}"},
    {"DPM++ 2S Karras", "DPMSolverSinglestepScheduler", R"({"use_karras_sigmas":true})"},
    {"Euler a", "EulerAncestralDiscreteScheduler", "{}"},
    {"Euler a Karras", "EulerAncestralDiscreteScheduler", R"({"use_karras_sigmas":true})"},
    {"Euler", "EulerDiscreteScheduler", "{}"},
    {"Euler Karras", "EulerDiscreteScheduler", R"({"use_karras_sigmas":true})"},
    {"DDIM", "DDIMScheduler", "{}"},
    {"DDPM", "DDPMScheduler", "{}"},
    {"Heun", "HeunDiscreteScheduler", "{}"},
    {"Heun Karras", "HeunDiscreteScheduler", R"({"use_karras_sigmas":true})"},
    {"LMS", "LMSDiscreteScheduler", "{}"},
    {"LMS Karras", "LMSDiscreteScheduler", R"({"use_karras_sigmas":true})"},
    {"PLMS", "PNDMScheduler", R"({"skip_prk_steps":true})"},
    {"PNDM", "PNDMScheduler", "{}"},
    {"UniPC", "UniPCMultistepScheduler", "{}"},
    {"DPM2", "KDPM2DiscreteScheduler", "{}"},
    {"DPM2 Karras", "KDPM2DiscreteScheduler", R"({"use_karras_sigmas":true})"},
    {"DPM2 a", "KDPM2AncestralDiscreteScheduler", "{}"},
    {"DPM2 a Karras", "KDPM2AncestralDiscreteScheduler", R"({"use_karras_sigmas":true})"},
    {"DEIS", "DEISMultistepScheduler", "{}"},
    {"euler_ancestral", "EulerAncestralDiscreteScheduler", "{}"},
    {"dpm_2", "KDPM2DiscreteScheduler", "{}"},
    {"dpm_2_ancestral", "KDPM2AncestralDiscreteScheduler", "{}"},
    {"dpmpp_2m", "DPMSolverMultistepScheduler", "{}"},
    {"dpmpp_2m_sde", "DPMSolverMultistepScheduler", R"({"algorithm_type":"sde-dpmsolver++"})"},
    {"dpmpp_sde", "DPMSolverSDEScheduler", "{}"},
    {"uni_pc", "UniPCMultistepScheduler", "{}"},
};

const char* kClasses[] = {
    "DDIMScheduler",
    "DDPMScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler",
    "DPMSolverSDEScheduler",
    "HeunDiscreteScheduler",
    "LMSDiscreteScheduler",
    "PNDMScheduler",
    "UniPCMultistepScheduler",
    "KDPM2DiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler",
    "DEISMultistepScheduler",
};

// The k-diffusion style classes (SigmaBase): the ones that read use_exponential_sigmas.
const char* kSigmaClasses[] = {
    "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler",
    "LMSDiscreteScheduler",   "KDPM2DiscreteScheduler",          "KDPM2AncestralDiscreteScheduler",
    "DPMSolverSDEScheduler",
};
// The DDPM-style classes: no sigma ramps, "leading" spacing by default.
const char* kAlphaClasses[] = {"DDIMScheduler", "DDPMScheduler", "PNDMScheduler"};

// A1111 1.9+ schedule types with the diffusers settings that give their sigma spacing. A ramp
// replaces the spacing; a spacing turns off a ramp the model's config may have set.
struct ScheduleType {
  const char* label;
  const char* comfyui;
  const char* overrides;
};
const ScheduleType kScheduleTypes[] = {
    {"Karras", "karras", R"({"use_karras_sigmas":true,"use_exponential_sigmas":false})"},
    {"Exponential", "exponential", R"({"use_exponential_sigmas":true,"use_karras_sigmas":false})"},
    {"SGM Uniform", "sgm_uniform",
     R"({"timestep_spacing":"trailing","use_karras_sigmas":false,"use_exponential_sigmas":false})"},
    {"Uniform", "normal",
     R"({"timestep_spacing":"linspace","use_karras_sigmas":false,"use_exponential_sigmas":false})"},
    {"DDIM", "ddim_uniform",
     R"({"timestep_spacing":"leading","steps_offset":1,"use_karras_sigmas":false,)"
     R"("use_exponential_sigmas":false})"},
};

template <std::size_t N>
bool listed(const char* (&list)[N], const std::string& class_name) {
  return std::any_of(std::begin(list), std::end(list),
                     [&](const char* c) { return class_name == c; });
}

// Lower case with runs of whitespace collapsed, so "dpm++  2m karras" matches.
std::string normalise(const std::string& text) {
  std::string out;
  bool space = false;
  for (unsigned char c : text) {
    if (std::isspace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(std::tolower(c)));
  }
  return out;
}

bool exact(const std::string& key, SchedulerChoice* choice) {
  for (const auto& e : kEntries) {
    if (normalise(e.name) == key) {
      *choice = {e.class_name, nlohmann::json::parse(e.overrides)};
      return true;
    }
  }
  for (const char* c : kClasses) {
    if (normalise(c) == key) {
      *choice = {c, nlohmann::json::object()};
      return true;
    }
  }
  return false;
}

// "<sampler> <schedule type>": only over a sampler that sets no ramp itself, and only where the
// class computes that schedule (an unknown key would be ignored, not refused).
bool with_schedule(const std::string& key, SchedulerChoice* choice) {
  for (const auto& type : kScheduleTypes) {
    const std::string suffix = " " + normalise(type.label);
    if (key.size() <= suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix)) {
      continue;
    }
    SchedulerChoice base;
    if (!exact(key.substr(0, key.size() - suffix.size()), &base)) continue;
    if (base.overrides.contains("use_karras_sigmas")) continue;
    const std::string label = type.label;
    if (label == "Karras" && listed(kAlphaClasses, base.class_name)) continue;
    if (label == "Exponential" && !listed(kSigmaClasses, base.class_name)) continue;
    base.overrides.update(nlohmann::json::parse(type.overrides));
    *choice = std::move(base);
    return true;
  }
  return false;
}

bool flag(const nlohmann::json& config, const char* key) {
  return config.contains(key) && config[key].is_boolean() && config[key].get<bool>();
}

std::string text(const nlohmann::json& config, const char* key, const std::string& fallback) {
  return config.contains(key) && config[key].is_string() ? config[key].get<std::string>()
                                                         : fallback;
}

int integer(const nlohmann::json& config, const char* key, int fallback) {
  return config.contains(key) && config[key].is_number_integer() ? config[key].get<int>()
                                                                 : fallback;
}

struct SamplerName {
  const char* class_name;
  const char* a1111;
  const char* comfyui;
};
// ComfyUI has no deterministic single-step DPM-Solver nor PNDM: the nearest deterministic solvers
// of the same kind stand in (they approach the same ODE solution).
const SamplerName kSamplerNames[] = {
    {"EulerDiscreteScheduler", "Euler", "euler"},
    {"EulerAncestralDiscreteScheduler", "Euler a", "euler_ancestral"},
    {"HeunDiscreteScheduler", "Heun", "heun"},
    {"LMSDiscreteScheduler", "LMS", "lms"},
    {"KDPM2DiscreteScheduler", "DPM2", "dpm_2"},
    {"KDPM2AncestralDiscreteScheduler", "DPM2 a", "dpm_2_ancestral"},
    {"DPMSolverSDEScheduler", "DPM++ SDE", "dpmpp_sde"},
    {"DDIMScheduler", "DDIM", "ddim"},
    {"DDPMScheduler", "DDPM", "ddpm"},
    {"UniPCMultistepScheduler", "UniPC", "uni_pc"},
    {"DEISMultistepScheduler", "DEIS", "deis"},
};

}  // namespace

SchedulerChoice SchedulerNameTable::resolve(const std::string& name) const {
  const std::string key = normalise(name);
  SchedulerChoice choice;
  if (exact(key, &choice) || with_schedule(key, &choice)) return choice;
  std::string list;
  for (const auto& n : names()) list += (list.empty() ? "" : ", ") + n;
  throw_invalid("scheduler",
                "unknown scheduler \"" + name + "\"; valid names: " + list +
                    "; a sampler name may end with a schedule type (Karras, Exponential, "
                    "Uniform, SGM Uniform, DDIM) where the sampler computes it");
}

std::vector<std::string> SchedulerNameTable::names() const {
  std::vector<std::string> out;
  for (const auto& e : kEntries) out.push_back(e.name);
  for (const char* c : kClasses) out.push_back(c);
  return out;
}

SamplerLabels sampler_labels(const std::string& class_name, const nlohmann::json& config) {
  SamplerLabels out{class_name, "", "euler", ""};
  for (const auto& s : kSamplerNames) {
    if (class_name == s.class_name) out = {s.a1111, "", s.comfyui, ""};
  }
  if (class_name == "DPMSolverMultistepScheduler") {
    const std::string algorithm = text(config, "algorithm_type", "dpmsolver++");
    const bool sde = algorithm.rfind("sde", 0) == 0;
    const bool plus = algorithm.find("++") != std::string::npos;
    out.a1111_sampler = std::string(plus ? "DPM++ " : "DPM ") +
                        std::to_string(integer(config, "solver_order", 2)) + "M" +
                        (sde ? " SDE" : "");
    out.comfyui_sampler = sde ? "dpmpp_2m_sde" : "dpmpp_2m";
  } else if (class_name == "DPMSolverSinglestepScheduler") {
    out.a1111_sampler = "DPM++ " + std::to_string(integer(config, "solver_order", 2)) + "S";
    out.comfyui_sampler = "dpmpp_2m";
  } else if (class_name == "PNDMScheduler") {
    out.a1111_sampler = flag(config, "skip_prk_steps") ? "PLMS" : "PNDM";
    out.comfyui_sampler = "lms";
  }
  const ScheduleType* type = nullptr;
  auto find = [&](const char* label) {
    for (const auto& t : kScheduleTypes) {
      if (std::strcmp(t.label, label) == 0) type = &t;
    }
  };
  if (flag(config, "use_karras_sigmas") && !listed(kAlphaClasses, class_name)) {
    find("Karras");
  } else if (flag(config, "use_exponential_sigmas") && listed(kSigmaClasses, class_name)) {
    find("Exponential");
  } else {
    const std::string spacing = text(config, "timestep_spacing",
                                     listed(kAlphaClasses, class_name) ? "leading" : "linspace");
    find(spacing == "trailing" ? "SGM Uniform" : spacing == "leading" ? "DDIM" : "Uniform");
  }
  out.a1111_schedule = type->label;
  out.comfyui_scheduler = type->comfyui;
  return out;
}

}  // namespace workers
