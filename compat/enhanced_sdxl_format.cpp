#include "compat/enhanced_sdxl_format.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

#include "compat/canonical_builder.h"
#include "utilities/error.h"

namespace workers::compat {
namespace {

struct FieldMap {
  const char* section;    // PascalCase section ("" = top level of the payload)
  const char* key;        // PascalCase key inside it
  const char* canonical;  // canonical field (JSON pointer for nested ones)
};

// One line per mapped field; lookups are case-insensitive (System.Text.Json may camelCase them).
const FieldMap kFields[] = {
    {"Model", "Base", "/model/base"},
    {"Model", "Refiner", "/model/refiner"},
    {"Model", "Vae", "/model/vae"},
    {"Scheduler", "Type", "scheduler"},
    {"Scheduler", "Steps", "steps"},
    {"Scheduler", "Options", "scheduler_options"},
    {"Hyperparameters", "GuidanceScale", "guidance_scale"},
    {"Hyperparameters", "GuidanceRescale", "guidance_rescale"},
    {"Hyperparameters", "Seed", "seed"},
    {"Hyperparameters", "Width", "width"},
    {"Hyperparameters", "Height", "height"},
    {"Hyperparameters", "Strength", "strength"},
    {"Hyperparameters", "BatchSize", "batch_size"},
    {"Hyperparameters", "ClipSkip", "clip_skip"},
    {"Hyperparameters", "DenoisingEnd", "denoising_end"},
    {"Hyperparameters", "AestheticScore", "aesthetic_score"},
    {"Hyperparameters", "NegativeAestheticScore", "negative_aesthetic_score"},
    {"Conditioning", "Prompt", "prompt"},
    {"Conditioning", "NegativePrompt", "negative_prompt"},
    {"Conditioning", "Prompt2", "prompt_2"},
    {"Conditioning", "NegativePrompt2", "negative_prompt_2"},
    {"Conditioning", "InitImage", "init_image"},
    {"Conditioning", "MaskImage", "mask_image"},
    {"Output", "Format", "output_format"},
    {"Output", "Width", "width"},
    {"Output", "Height", "height"},
    {"Output", "ReturnBase64", "return_base64"},
    {"", "Priority", "priority"},
    {"", "Timeout", "timeout"},
};

// LoRAs: [{Name|Path|ModelId, Weight, Enabled}] or "name:0.8" strings.
nlohmann::json translate_adapters(const nlohmann::json& list, const std::string& origin,
                                  const std::vector<std::pair<const char*, const char*>>& keys,
                                  CanonicalBuilder& warnings) {
  if (!list.is_array()) throw_invalid(origin, "must be a list");
  nlohmann::json result = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& item = list[i];
    if (item.is_string()) {
      result.push_back(item);
      continue;
    }
    if (!item.is_object()) throw_invalid(origin + "[" + std::to_string(i) + "]", "must be an object or a string");
    nlohmann::json entry = nlohmann::json::object();
    std::vector<std::string> used;
    for (const auto& [pascal, canonical] : keys) {
      std::string spelled;
      if (const auto* v = find_key(item, pascal, &spelled)) {
        entry[canonical] = *v;
        used.push_back(spelled);
      }
    }
    for (auto it = item.begin(); it != item.end(); ++it) {
      if (std::find(used.begin(), used.end(), it.key()) == used.end()) {
        warnings.warn("unknown field ignored: " + origin + "[" + std::to_string(i) + "]." + it.key());
      }
    }
    result.push_back(entry);
  }
  return result;
}

const std::vector<std::pair<const char*, const char*>> kLoraKeys = {
    {"ModelId", "name"}, {"Path", "name"}, {"Name", "name"}, {"Weight", "weight"}, {"Enabled", "enabled"}};
const std::vector<std::pair<const char*, const char*>> kControlNetKeys = {
    {"Type", "type"},   {"Model", "model"}, {"Image", "image"}, {"Preprocess", "preprocess"},
    {"Scale", "scale"}, {"Start", "start"}, {"End", "end"}, {"ThresholdA", "threshold_a"},
    {"ThresholdB", "threshold_b"}};

// The C# host's scheduler enum names -> the sampler each one means (A1111's names). Names the
// scheduler table knows already pass through unchanged.
const std::pair<const char*, const char*> kHostSchedulers[] = {
    {"dpm++", "DPM++ 2M"},          {"dpmpp", "DPM++ 2M"},         {"dpm++karras", "DPM++ 2M Karras"},
    {"dpmppkarras", "DPM++ 2M Karras"}, {"dpm++sde", "DPM++ SDE"}, {"dpmppsde", "DPM++ SDE"},
    {"eulera", "Euler a"},          {"eulerancestral", "Euler a"}, {"kdpm2", "DPM2"},
    {"kdpm2a", "DPM2 a"},           {"kdpm2ancestral", "DPM2 a"},
};

// The sampler a host scheduler name stands for, or "" when it is not one of the host's short names.
std::string host_scheduler(const std::string& name) {
  std::string key;
  for (char c : name) {
    if (c != ' ' && c != '_' && c != '-') key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  for (const auto& [host, sampler] : kHostSchedulers) {
    if (key == host) return sampler;
  }
  return "";
}

// Keys inside each section that are handled outside kFields.
bool handled_elsewhere(const std::string& section, const std::string& key) {
  auto lower = [](std::string t) {
    for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return t;
  };
  return lower(section) == "conditioning" && (lower(key) == "loras" || lower(key) == "controlnets");
}

bool is_mapped(const std::string& section, const std::string& key) {
  auto same = [](const std::string& a, const char* b) {
    if (a.size() != std::strlen(b)) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    }
    return true;
  };
  for (const auto& f : kFields) {
    if (same(section, f.section) && same(key, f.key)) return true;
  }
  if (section.empty()) {
    for (const char* top : {"action", "request_id", "message_type", "data", "Model", "Scheduler", "Hyperparameters",
                            "Conditioning", "Output"}) {
      if (same(key, top)) return true;
    }
  }
  return handled_elsewhere(section, key);
}

}  // namespace

bool EnhancedSdxlFormat::recognizes(const nlohmann::json& m) const {
  if (!m.is_object()) return false;
  // The C# host wraps it as {"message_type": "inference_request", "action": ..., "data": {...}},
  // or puts the PascalCase sections beside message_type; any other message_type is not ours.
  if (auto type = m.find("message_type"); type != m.end() && *type != "inference_request") return false;
  if (const auto* action = find_key(m, "action"); action && *action == "generate_sdxl_enhanced") return true;
  return find_key(m, "Conditioning") || find_key(m, "Hyperparameters") || m.contains("Model");
}

TranslatedMessage EnhancedSdxlFormat::translate(const nlohmann::json& message) const {
  // The payload sits at the top level or under "data"/"Data" next to the action.
  const nlohmann::json* payload = &message;
  std::string prefix;
  std::string spelled;
  if (const auto* data = find_key(message, "data", &spelled); data && data->is_object()) {
    payload = data;
    prefix = spelled + ".";
  }
  CanonicalBuilder out("inference_request");
  std::map<std::string, std::string> set_from;  // canonical -> origin, to report conflicts
  for (const auto& f : kFields) {
    const nlohmann::json* section = payload;
    std::string origin = prefix;
    if (*f.section) {
      section = find_key(*payload, f.section, &spelled);
      if (!section) continue;
      if (!section->is_object()) throw_invalid(prefix + spelled, "must be an object");
      origin += spelled + ".";
    }
    if (const auto* value = find_key(*section, f.key, &spelled)) {
      if (auto it = set_from.find(f.canonical); it != set_from.end()) {
        out.warn(origin + spelled + " overrides " + it->second);
      }
      set_from[f.canonical] = origin + spelled;
      if (f.canonical[0] == '/') {
        out.set_path(f.canonical, *value, origin + spelled);
      } else {
        nlohmann::json v = *value;
        if (std::string(f.canonical) == "scheduler" && v.is_string()) {
          const std::string sampler = host_scheduler(v.get<std::string>());
          if (!sampler.empty() && sampler != v.get<std::string>()) {
            out.warn(origin + spelled + " \"" + v.get<std::string>() + "\" runs as \"" + sampler + "\"");
            v = sampler;
          }
        }
        out.set(f.canonical, std::move(v), origin + spelled);
      }
    }
  }
  if (const auto* cond = find_key(*payload, "Conditioning", &spelled); cond && cond->is_object()) {
    const std::string section = prefix + spelled + ".";
    if (const auto* loras = find_key(*cond, "LoRAs", &spelled)) {
      out.set("loras", translate_adapters(*loras, section + spelled, kLoraKeys, out), section + spelled);
    }
    if (const auto* nets = find_key(*cond, "ControlNets", &spelled)) {
      out.set("controlnets", translate_adapters(*nets, section + spelled, kControlNetKeys, out), section + spelled);
    }
  }
  // Never drop what the host sent without saying so.
  for (auto it = payload->begin(); it != payload->end(); ++it) {
    if (!is_mapped("", it.key())) {
      out.warn("unknown field ignored: " + prefix + it.key());
    } else if (it->is_object()) {
      for (auto inner = it->begin(); inner != it->end(); ++inner) {
        if (!is_mapped(it.key(), inner.key())) out.warn("unknown field ignored: " + prefix + it.key() + "." + inner.key());
      }
    }
  }
  TranslatedMessage result = out.take();
  if (const auto* id = find_key(message, "request_id")) result.message["request_id"] = *id;
  if (const auto* action = find_key(message, "action");
      action && !(action->is_string() && action->get<std::string>() == "generate_sdxl_enhanced")) {
    throw_invalid("action", "unsupported action " + action->dump() + "; expected \"generate_sdxl_enhanced\"");
  }
  return result;
}

}  // namespace workers::compat
