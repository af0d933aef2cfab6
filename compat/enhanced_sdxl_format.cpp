#include "compat/enhanced_sdxl_format.h"

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
                                  const std::vector<std::pair<const char*, const char*>>& keys) {
  if (!list.is_array()) throw_invalid(origin, "must be a list");
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& item = list[i];
    if (item.is_string()) {
      out.push_back(item);
      continue;
    }
    if (!item.is_object()) throw_invalid(origin + "[" + std::to_string(i) + "]", "must be an object or a string");
    nlohmann::json entry = nlohmann::json::object();
    for (const auto& [pascal, canonical] : keys) {
      if (const auto* v = find_key(item, pascal)) entry[canonical] = *v;
    }
    out.push_back(entry);
  }
  return out;
}

const std::vector<std::pair<const char*, const char*>> kLoraKeys = {
    {"ModelId", "name"}, {"Path", "name"}, {"Name", "name"}, {"Weight", "weight"}, {"Enabled", "enabled"}};
const std::vector<std::pair<const char*, const char*>> kControlNetKeys = {
    {"Type", "type"},   {"Model", "model"}, {"Image", "image"}, {"Preprocess", "preprocess"},
    {"Scale", "scale"}, {"Start", "start"}, {"End", "end"}};

}  // namespace

bool EnhancedSdxlFormat::recognizes(const nlohmann::json& m) const {
  if (!m.is_object() || m.contains("message_type")) return false;
  if (auto it = m.find("action"); it != m.end() && *it == "generate_sdxl_enhanced") return true;
  return m.contains("Model") || m.contains("Conditioning") || m.contains("Hyperparameters");
}

TranslatedMessage EnhancedSdxlFormat::translate(const nlohmann::json& message) const {
  // The payload sits at the top level or under "data"/"Data" next to the action.
  const nlohmann::json* payload = &message;
  std::string prefix;
  if (const auto* data = find_key(message, "data"); data && data->is_object()) {
    payload = data;
    prefix = "data.";
  }
  CanonicalBuilder out("inference_request");
  for (const auto& f : kFields) {
    const nlohmann::json* section = payload;
    std::string origin = prefix;
    if (*f.section) {
      section = find_key(*payload, f.section);
      if (!section) continue;
      if (!section->is_object()) throw_invalid(prefix + f.section, "must be an object");
      origin += std::string(f.section) + ".";
    }
    if (const auto* value = find_key(*section, f.key)) out.set(f.canonical, *value, origin + f.key);
  }
  if (const auto* cond = find_key(*payload, "Conditioning"); cond && cond->is_object()) {
    if (const auto* loras = find_key(*cond, "LoRAs")) {
      out.set("loras", translate_adapters(*loras, prefix + "Conditioning.LoRAs", kLoraKeys),
              prefix + "Conditioning.LoRAs");
    }
    if (const auto* nets = find_key(*cond, "ControlNets")) {
      out.set("controlnets", translate_adapters(*nets, prefix + "Conditioning.ControlNets", kControlNetKeys),
              prefix + "Conditioning.ControlNets");
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
