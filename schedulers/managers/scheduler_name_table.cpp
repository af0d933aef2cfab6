#include "schedulers/managers/scheduler_name_table.h"

#include <algorithm>
#include <cctype>

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
    {"DPM++ SDE Karras", "DPMSolverSDEScheduler", R"({"use_karras_sigmas":true})"},
    {"DPM++ SDE", "DPMSolverSDEScheduler", "{}"},
    {"DPM++ 2S", "DPMSolverSinglestepScheduler", "{}"},
    {"DPM++ 2S Karras", "DPMSolverSinglestepScheduler", R"({"use_karras_sigmas":true})"},
    {"Euler a", "EulerAncestralDiscreteScheduler", "{}"},
    {"Euler", "EulerDiscreteScheduler", "{}"},
    {"Euler Karras", "EulerDiscreteScheduler", R"({"use_karras_sigmas":true})"},
    {"DDIM", "DDIMScheduler", "{}"},
    {"DDPM", "DDPMScheduler", "{}"},
    {"Heun", "HeunDiscreteScheduler", "{}"},
    {"Heun Karras", "HeunDiscreteScheduler", R"({"use_karras_sigmas":true})"},
    {"LMS", "LMSDiscreteScheduler", "{}"},
    {"LMS Karras", "LMSDiscreteScheduler", R"({"use_karras_sigmas":true})"},
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
    "DDIMScheduler", "DDPMScheduler", "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler", "DPMSolverSinglestepScheduler", "DPMSolverSDEScheduler",
    "HeunDiscreteScheduler", "LMSDiscreteScheduler", "PNDMScheduler", "UniPCMultistepScheduler",
    "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "DEISMultistepScheduler",
};

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

}  // namespace

SchedulerChoice SchedulerNameTable::resolve(const std::string& name) const {
  const std::string key = normalise(name);
  for (const auto& e : kEntries) {
    if (normalise(e.name) == key) return {e.class_name, nlohmann::json::parse(e.overrides)};
  }
  for (const char* c : kClasses) {
    if (normalise(c) == key) return {c, nlohmann::json::object()};
  }
  std::string list;
  for (const auto& n : names()) list += (list.empty() ? "" : ", ") + n;
  throw_invalid("scheduler", "unknown scheduler \"" + name + "\"; valid names: " + list);
}

std::vector<std::string> SchedulerNameTable::names() const {
  std::vector<std::string> out;
  for (const auto& e : kEntries) out.push_back(e.name);
  for (const char* c : kClasses) out.push_back(c);
  return out;
}

}  // namespace workers
