#include "models/io/lora_targets.h"

#include <algorithm>
#include <unordered_set>

#include "models/io/sgm_key_map.h"
#include "utilities/strings.h"

namespace workers {
namespace {

const std::string kWeight = ".weight";

std::string module_path(const std::string& weight) {
  return weight.substr(0, weight.size() - kWeight.size());
}

bool is_weight(const std::string& name) {
  return name.size() > kWeight.size() && ends_with(name, kWeight);
}

std::string underscored(std::string path) {
  std::replace(path.begin(), path.end(), '.', '_');
  return path;
}

// The targets of a component's weights, each with its module's bias when the component has one.
std::vector<LoraTarget> targets(const std::string& component,
                                const std::vector<std::string>& parameters) {
  const std::unordered_set<std::string> names(parameters.begin(), parameters.end());
  std::vector<LoraTarget> out;
  for (const auto& name : parameters) {
    if (!is_weight(name)) continue;
    const auto bias = module_path(name) + ".bias";
    out.push_back({component, name, names.count(bias) ? bias : std::string()});
  }
  return out;
}

}  // namespace

void LoraTargetIndex::add_unet(const std::vector<std::string>& parameters) {
  const UnetKeyMap sgm(unet_layout_of(parameters));
  for (const auto& target : targets("unet", parameters)) {
    const auto path = module_path(target.parameter);
    add("lora_unet_" + underscored(path), target);
    add("lycoris_" + underscored(path), target);
    add("unet." + path, target);
    if (auto original = sgm.to_sgm(target.parameter); original && is_weight(*original)) {
      add("lora_unet_" + underscored(module_path(*original)), target);
      add("diffusion_model." + module_path(*original), target);
    }
  }
}

void LoraTargetIndex::add_text_encoder(const std::string& component,
                                       const std::vector<std::string>& parameters) {
  const bool first = component == "text_encoder";
  const std::string comfy =
      first ? "text_encoders.clip_l.transformer." : "text_encoders.clip_g.transformer.";
  for (const auto& target : targets(component, parameters)) {
    const auto path = module_path(target.parameter);
    add((first ? "lora_te1_" : "lora_te2_") + underscored(path), target);
    if (first) add("lora_te_" + underscored(path), target);
    add(component + "." + path, target);
    add(comfy + path, target);
  }
}

const LoraTarget* LoraTargetIndex::find(const std::string& module_name) const {
  auto it = aliases_.find(module_name);
  return it == aliases_.end() ? nullptr : &it->second;
}

}  // namespace workers
