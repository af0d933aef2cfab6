#include "models/io/lora_targets.h"

#include <algorithm>

#include "models/io/sgm_key_map.h"
#include "utilities/strings.h"

namespace workers {
namespace {

const std::string kWeight = ".weight";

std::string module_path(const std::string& weight) { return weight.substr(0, weight.size() - kWeight.size()); }

bool is_weight(const std::string& name) { return name.size() > kWeight.size() && ends_with(name, kWeight); }

std::string underscored(std::string path) {
  std::replace(path.begin(), path.end(), '.', '_');
  return path;
}

}  // namespace

void LoraTargetIndex::add_unet(const std::vector<std::string>& weights) {
  const UnetKeyMap sgm(unet_layout_of(weights));
  for (const auto& weight : weights) {
    if (!is_weight(weight)) continue;
    const LoraTarget target{"unet", weight};
    const auto path = module_path(weight);
    add("lora_unet_" + underscored(path), target);
    add("unet." + path, target);
    if (auto original = sgm.to_sgm(weight); original && is_weight(*original)) {
      add("lora_unet_" + underscored(module_path(*original)), target);
    }
  }
}

void LoraTargetIndex::add_text_encoder(const std::string& component, const std::vector<std::string>& weights) {
  const std::string kohya = component == "text_encoder" ? "lora_te1_" : "lora_te2_";
  for (const auto& weight : weights) {
    if (!is_weight(weight)) continue;
    const LoraTarget target{component, weight};
    const auto path = module_path(weight);
    add(kohya + underscored(path), target);
    add(component + "." + path, target);
  }
}

const LoraTarget* LoraTargetIndex::find(const std::string& module_name) const {
  auto it = aliases_.find(module_name);
  return it == aliases_.end() ? nullptr : &it->second;
}

}  // namespace workers
